//! Account info, properties and property groups, schemas (custom objects), owners.

use crate::auth::Caller;
use crate::crm::{resolve, Params};
use crate::error::{ApiError, ApiResult, Json};
use crate::model::{GroupDef, ObjectType, PType, PropDef, Store};
use crate::state::AppState;
use crate::util::iso_ms;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn account_details(State(st): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "portalId": st.cfg.portal_id,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": ["EUR", "GBP"],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18_000_000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }))
}

pub async fn api_usage(State(st): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let now = st.clock.now_ms();
    let used = st.limiter.lock().map(|l| l.daily_used()).unwrap_or(0);
    let reset = (now.div_euclid(86_400_000) + 1) * 86_400_000;
    Ok(Json(json!({ "results": [{
        "name": "private-apps-api-calls-daily",
        "usageLimit": st.cfg.tier.daily(),
        "currentUsage": used,
        "collectedAt": iso_ms(now),
        "fetchStatus": "SUCCESS",
        "resetsAt": iso_ms(reset),
    }]})))
}

fn schema_write_scopes(t: &ObjectType) -> Vec<&'static str> {
    match t.name.as_str() {
        "contacts" => vec!["crm.schemas.contacts.write"],
        "companies" => vec!["crm.schemas.companies.write"],
        "deals" => vec!["crm.schemas.deals.write"],
        "tickets" => vec!["tickets"],
        "notes" | "calls" => vec!["crm.objects.contacts.write"],
        _ => vec!["crm.schemas.custom.write"],
    }
}

pub fn render_prop(p: &PropDef) -> Value {
    let mut v = json!({
        "name": p.name,
        "label": p.label,
        "type": p.ptype.as_str(),
        "fieldType": p.field_type,
        "description": p.description,
        "groupName": p.group,
        "options": p.options.iter().map(|o| json!({ "label": o.label, "value": o.value, "displayOrder": o.display_order, "hidden": o.hidden, "description": o.description })).collect::<Vec<_>>(),
        "displayOrder": p.display_order,
        "calculated": p.calculated,
        "externalOptions": false,
        "hasUniqueValue": p.unique,
        "hidden": false,
        "hubspotDefined": p.hubspot_defined,
        "formField": !p.read_only,
        "dataSensitivity": "non_sensitive",
        "modificationMetadata": { "archivable": !p.hubspot_defined, "readOnlyDefinition": p.hubspot_defined, "readOnlyValue": p.read_only },
        "createdAt": iso_ms(p.created_ms),
        "updatedAt": iso_ms(p.updated_ms),
        "archived": p.archived,
    });
    if let Some(h) = p.number_hint {
        v["numberDisplayHint"] = json!(h);
        if h == "currency" {
            v["showCurrencySymbol"] = json!(true);
        }
    }
    if p.calculated {
        v["calculationFormula"] = json!("");
    }
    v
}

pub async fn properties_list(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    let p = Params::parse(q);
    let store = st.read()?;
    let ti = resolve(&store, &object_type)?;
    let t = &store.types[ti];
    caller.require(&t.schema_read_scopes)?;
    let archived = p.flag("archived");
    let results: Vec<Value> = t.props.iter().filter(|x| x.archived == archived).map(render_prop).collect();
    Ok(Json(json!({ "results": results })))
}

fn prop_not_found(name: &str, t: &ObjectType) -> ApiError {
    ApiError::not_found(format!("Unable to find property {name} for object type {}", t.type_id))
}

pub async fn property_get(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, name)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let store = st.read()?;
    let ti = resolve(&store, &object_type)?;
    let t = &store.types[ti];
    caller.require(&t.schema_read_scopes)?;
    let (_, p) = t.prop(&name).ok_or_else(|| prop_not_found(&name, t))?;
    Ok(Json(render_prop(p)))
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct OptionIn {
    pub label: String,
    pub value: String,
    #[serde(default)]
    pub display_order: Option<i32>,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PropertyCreate {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub ptype: String,
    pub field_type: String,
    #[serde(default)]
    pub group_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub options: Vec<OptionIn>,
    #[serde(default)]
    pub display_order: Option<i32>,
    #[serde(default)]
    pub has_unique_value: bool,
}

/// HubSpot allows about 1,000 custom properties per object; records index properties by `u16`.
const MAX_PROPERTIES: usize = 2_000;

const FIELD_TYPES: &[(&str, &[&str])] = &[
    ("string", &["text", "textarea", "html", "phonenumber", "file"]),
    ("number", &["number", "calculation_equation"]),
    ("date", &["date"]),
    ("datetime", &["date"]),
    ("enumeration", &["select", "radio", "checkbox", "booleancheckbox"]),
    ("bool", &["booleancheckbox"]),
    ("phone_number", &["phonenumber"]),
];

fn build_prop(t: &ObjectType, c: &PropertyCreate, now: i64, default_group: &str) -> ApiResult<PropDef> {
    let valid_name = !c.name.is_empty() && c.name.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_') && c.name.chars().next().is_some_and(|ch| ch.is_ascii_lowercase());
    if !valid_name {
        return Err(ApiError::validation(format!("Property name {:?} is invalid: use lowercase letters, digits and underscores, starting with a letter.", c.name)));
    }
    if c.name.starts_with("hs_") {
        return Err(ApiError::validation("Property names starting with hs_ are reserved for HubSpot."));
    }
    if t.props.len() >= MAX_PROPERTIES {
        return Err(ApiError::validation(format!("{} already has the maximum of {MAX_PROPERTIES} properties.", t.name)));
    }
    if t.prop(&c.name).is_some() {
        return Err(ApiError::conflict(format!("A property named '{}' already exists.", c.name)).with("category", json!("OBJECT_ALREADY_EXISTS")));
    }
    let ptype = PType::parse(&c.ptype).ok_or_else(|| ApiError::validation(format!("{} is not a valid property type", c.ptype)))?;
    let ok_fields = FIELD_TYPES.iter().find(|(k, _)| *k == c.ptype).map(|(_, v)| *v).unwrap_or(&[]);
    if !ok_fields.contains(&c.field_type.as_str()) {
        return Err(ApiError::validation(format!("fieldType {} is not valid for type {}; expected one of {}", c.field_type, c.ptype, ok_fields.join(", "))));
    }
    let group = c.group_name.clone().unwrap_or_else(|| default_group.to_string());
    if !t.groups.iter().any(|g| g.name == group) {
        return Err(ApiError::validation(format!("Property group {group} does not exist.")));
    }
    if ptype == PType::Enumeration && c.options.is_empty() && c.field_type != "booleancheckbox" {
        return Err(ApiError::validation("Enumeration properties need at least one option."));
    }
    let mut p = PropDef::new(&c.name, &c.label, ptype, &group).custom().field(&c.field_type);
    p.description = c.description.clone().unwrap_or_default();
    p.unique = c.has_unique_value;
    p.display_order = c.display_order.unwrap_or(-1);
    p.options = c.options.iter().enumerate().map(|(i, o)| crate::model::OptionDef {
        label: o.label.clone(),
        value: o.value.clone(),
        display_order: o.display_order.unwrap_or(i as i32),
        hidden: o.hidden,
        description: o.description.clone().unwrap_or_default(),
    }).collect();
    if ptype == PType::Bool && p.options.is_empty() {
        p.options = PropDef::new("x", "x", PType::Bool, "x").options(&[("true", "Yes"), ("false", "No")]).options;
    }
    p.created_ms = now;
    p.updated_ms = now;
    Ok(p)
}

pub async fn property_create(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>, Json(c): Json<PropertyCreate>) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let mut store = st.write()?;
    let ti = resolve(&store, &object_type)?;
    caller.require(&schema_write_scopes(&store.types[ti]))?;
    let t = &mut store.types[ti];
    let default_group = t.groups.first().map(|g| g.name.clone()).unwrap_or_default();
    let p = build_prop(t, &c, now, &default_group)?;
    let k = t.add_prop(p);
    Ok((StatusCode::CREATED, axum::Json(render_prop(&t.props[k as usize]))).into_response())
}

pub async fn properties_batch_create(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>, Json(body): Json<Value>) -> ApiResult<Response> {
    let started = st.clock.now_ms();
    let inputs: Vec<PropertyCreate> = serde_json::from_value(body.get("inputs").cloned().unwrap_or(Value::Null)).map_err(|e| ApiError::bad_json(e.to_string()))?;
    let mut store = st.write()?;
    let ti = resolve(&store, &object_type)?;
    caller.require(&schema_write_scopes(&store.types[ti]))?;
    let t = &mut store.types[ti];
    let default_group = t.groups.first().map(|g| g.name.clone()).unwrap_or_default();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for c in &inputs {
        match build_prop(t, c, started, &default_group) {
            Ok(p) => {
                let k = t.add_prop(p);
                results.push(render_prop(&t.props[k as usize]));
            }
            Err(e) => errors.push(json!({ "status": "error", "category": e.body.get("category").cloned().unwrap_or(json!("VALIDATION_ERROR")), "message": e.body.get("message").cloned().unwrap_or_default(), "context": { "name": [c.name] }, "errors": [], "links": {} })),
        }
    }
    let mut out = json!({ "status": "COMPLETE", "results": results, "startedAt": iso_ms(started), "completedAt": iso_ms(st.clock.now_ms()) });
    if errors.is_empty() {
        return Ok((StatusCode::CREATED, axum::Json(out)).into_response());
    }
    out["numErrors"] = json!(errors.len());
    out["errors"] = Value::Array(errors);
    Ok((StatusCode::MULTI_STATUS, axum::Json(out)).into_response())
}

pub async fn property_update(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, name)): Path<(String, String)>, Json(body): Json<Value>) -> ApiResult<Json<Value>> {
    let now = st.clock.now_ms();
    let mut store = st.write()?;
    let ti = resolve(&store, &object_type)?;
    caller.require(&schema_write_scopes(&store.types[ti]))?;
    let t = &mut store.types[ti];
    let (k, p) = t.prop(&name).ok_or_else(|| prop_not_found(&name, t))?;
    if p.hubspot_defined {
        return Err(ApiError::validation(format!("{name} is a HubSpot-defined property; its definition is read-only.")));
    }
    let p = &mut t.props[k as usize];
    if let Some(l) = body.get("label").and_then(Value::as_str) {
        p.label = l.to_string();
    }
    if let Some(d) = body.get("description").and_then(Value::as_str) {
        p.description = d.to_string();
    }
    if let Some(opts) = body.get("options") {
        let opts: Vec<OptionIn> = serde_json::from_value(opts.clone()).map_err(|e| ApiError::bad_json(e.to_string()))?;
        p.options = opts.into_iter().enumerate().map(|(i, o)| crate::model::OptionDef { label: o.label, value: o.value, display_order: o.display_order.unwrap_or(i as i32), hidden: o.hidden, description: o.description.unwrap_or_default() }).collect();
    }
    p.updated_ms = now;
    Ok(Json(render_prop(p)))
}

pub async fn property_archive(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, name)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let mut store = st.write()?;
    let ti = resolve(&store, &object_type)?;
    caller.require(&schema_write_scopes(&store.types[ti]))?;
    let t = &mut store.types[ti];
    let (k, p) = t.prop(&name).ok_or_else(|| prop_not_found(&name, t))?;
    if p.hubspot_defined {
        return Err(ApiError::validation(format!("{name} is a HubSpot-defined property and can't be archived.")));
    }
    t.props[k as usize].archived = true;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn properties_batch_read(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>, Json(body): Json<Value>) -> ApiResult<Response> {
    let started = st.clock.now_ms();
    let store = st.read()?;
    let ti = resolve(&store, &object_type)?;
    let t = &store.types[ti];
    caller.require(&t.schema_read_scopes)?;
    let names: Vec<String> = body.get("inputs").and_then(Value::as_array).map(|a| a.iter().filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_string)).collect()).unwrap_or_default();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for n in names {
        match t.prop(&n) {
            Some((_, p)) => results.push(render_prop(p)),
            None => missing.push(n),
        }
    }
    let mut out = json!({ "status": "COMPLETE", "results": results, "startedAt": iso_ms(started), "completedAt": iso_ms(st.clock.now_ms()) });
    if missing.is_empty() {
        return Ok(axum::Json(out).into_response());
    }
    out["numErrors"] = json!(1);
    out["errors"] = json!([{ "status": "error", "category": "OBJECT_NOT_FOUND", "message": "Some properties could not be found.", "context": { "names": missing }, "errors": [], "links": {} }]);
    Ok((StatusCode::MULTI_STATUS, axum::Json(out)).into_response())
}

fn render_group(g: &GroupDef) -> Value {
    json!({ "name": g.name, "label": g.label, "displayOrder": g.display_order, "archived": g.archived })
}

pub async fn groups_list(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>) -> ApiResult<Json<Value>> {
    let store = st.read()?;
    let ti = resolve(&store, &object_type)?;
    caller.require(&store.types[ti].schema_read_scopes)?;
    Ok(Json(json!({ "results": store.types[ti].groups.iter().map(render_group).collect::<Vec<_>>() })))
}

pub async fn group_get(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, group)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let store = st.read()?;
    let ti = resolve(&store, &object_type)?;
    caller.require(&store.types[ti].schema_read_scopes)?;
    store.types[ti].groups.iter().find(|g| g.name == group).map(|g| Json(render_group(g))).ok_or_else(|| ApiError::not_found(format!("Unable to find property group {group}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCreate {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub display_order: Option<i32>,
}

pub async fn group_create(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>, Json(g): Json<GroupCreate>) -> ApiResult<Response> {
    let mut store = st.write()?;
    let ti = resolve(&store, &object_type)?;
    caller.require(&schema_write_scopes(&store.types[ti]))?;
    let t = &mut store.types[ti];
    if t.groups.iter().any(|x| x.name == g.name) {
        return Err(ApiError::conflict(format!("A property group named '{}' already exists.", g.name)));
    }
    let def = GroupDef { name: g.name, label: g.label, display_order: g.display_order.unwrap_or(t.groups.len() as i32), archived: false };
    let v = render_group(&def);
    t.groups.push(def);
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

fn render_schema(store: &Store, ti: usize) -> Value {
    let t = &store.types[ti];
    let mut assocs = Vec::new();
    for l in store.assoc.labels.iter().filter(|l| l.from == ti && l.label.is_none()) {
        assocs.push(json!({
            "id": l.type_id.to_string(),
            "fromObjectTypeId": t.type_id,
            "toObjectTypeId": store.types[l.to].type_id,
            "name": l.name.to_uppercase(),
            "createdAt": iso_ms(t.created_ms),
            "updatedAt": iso_ms(t.updated_ms),
        }));
    }
    json!({
        "id": t.type_id.trim_start_matches("2-"),
        "objectTypeId": t.type_id,
        "name": t.name,
        "fullyQualifiedName": t.fqn,
        "description": t.description,
        "labels": { "singular": t.singular, "plural": t.plural },
        "primaryDisplayProperty": t.primary_display,
        "secondaryDisplayProperties": t.secondary_display,
        "searchableProperties": t.searchable,
        "requiredProperties": t.required,
        "properties": t.props.iter().filter(|p| !p.archived).map(render_prop).collect::<Vec<_>>(),
        "associations": assocs,
        "allowsSensitiveProperties": false,
        "archived": false,
        "createdAt": iso_ms(t.created_ms),
        "updatedAt": iso_ms(t.updated_ms),
        "createdByUserId": st_user(),
        "updatedByUserId": st_user(),
    })
}

fn st_user() -> u64 {
    5_400_000
}

pub async fn schemas_list(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    caller.require(&["crm.schemas.custom.read"])?;
    let store = st.read()?;
    let results: Vec<Value> = (0..store.types.len()).filter(|&i| store.types[i].custom).map(|i| render_schema(&store, i)).collect();
    Ok(Json(json!({ "results": results })))
}

pub async fn schema_get(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>) -> ApiResult<Json<Value>> {
    let store = st.read()?;
    let ti = store.resolve(&object_type).ok_or_else(|| ApiError::not_found(format!("Unable to find object type {object_type}")))?;
    if store.types[ti].custom {
        caller.require(&["crm.schemas.custom.read"])?;
    } else {
        caller.require(&store.types[ti].schema_read_scopes)?;
    }
    Ok(Json(render_schema(&store, ti)))
}

pub async fn schema_archive(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>) -> ApiResult<StatusCode> {
    caller.require(&["crm.schemas.custom.write"])?;
    let store = st.read()?;
    let ti = store.resolve(&object_type).ok_or_else(|| ApiError::not_found(format!("Unable to find object type {object_type}")))?;
    if !store.types[ti].custom {
        return Err(ApiError::validation("Only custom object schemas can be deleted."));
    }
    if !store.types[ti].records.is_empty() {
        return Err(ApiError::conflict(format!("Object type {} still has records; delete them before deleting the schema.", store.types[ti].fqn)));
    }
    Err(ApiError::conflict("Schema deletion is not supported by the demo portal while records or associations exist."))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaEgg {
    pub name: String,
    pub labels: Labels,
    #[serde(default)]
    pub description: Option<String>,
    pub primary_display_property: Option<String>,
    #[serde(default)]
    pub required_properties: Vec<String>,
    #[serde(default)]
    pub searchable_properties: Vec<String>,
    #[serde(default)]
    pub secondary_display_properties: Vec<String>,
    #[serde(default)]
    pub properties: Vec<PropertyCreate>,
    #[serde(default)]
    pub associated_objects: Vec<String>,
}

#[derive(Deserialize)]
pub struct Labels {
    pub singular: String,
    pub plural: String,
}

pub async fn schema_create(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Json(egg): Json<SchemaEgg>) -> ApiResult<Response> {
    caller.require(&["crm.schemas.custom.write"])?;
    let now = st.clock.now_ms();
    let mut store = st.write()?;
    let name = egg.name.to_lowercase();
    if store.resolve(&name).is_some() {
        return Err(ApiError::conflict(format!("An object type named {name} already exists.")).with("category", json!("OBJECT_ALREADY_EXISTS")));
    }
    if store.types.len() >= 250 {
        return Err(ApiError::validation("This portal has reached its custom object limit."));
    }
    let primary = egg.primary_display_property.clone().or_else(|| egg.properties.first().map(|p| p.name.clone())).ok_or_else(|| ApiError::validation("A custom object needs at least one property."))?;
    let type_id = format!("2-{}", 3_508_482 + store.types.len() as u64 * 7919);
    let mut t = crate::seed::new_custom_type(&type_id, &name, &egg.labels.singular, &egg.labels.plural, store.portal_id, &primary, now);
    t.description = egg.description.clone().unwrap_or_default();
    let group = t.groups.first().map(|g| g.name.clone()).unwrap_or_default();
    for pc in &egg.properties {
        let p = build_prop(&t, pc, now, &group)?;
        t.add_prop(p);
    }
    for r in egg.required_properties.iter().chain(egg.searchable_properties.iter()).chain(egg.secondary_display_properties.iter()).chain(std::iter::once(&primary)) {
        if t.prop(r).is_none() {
            return Err(ApiError::validation(format!("Property {r} is referenced but not defined in properties.")));
        }
    }
    t.required = if egg.required_properties.is_empty() { vec![primary.clone()] } else { egg.required_properties.clone() };
    t.searchable = egg.searchable_properties.clone();
    t.secondary_display = egg.secondary_display_properties.clone();
    store.types.push(t);
    let ti = store.types.len() - 1;
    for other in &egg.associated_objects {
        let Some(to) = store.resolve(other) else {
            return Err(ApiError::validation(format!("Unknown associated object {other}")));
        };
        let fwd = store.assoc.next_label_id;
        store.assoc.next_label_id += 2;
        let n = format!("{}_to_{}", name, store.types[to].singular.to_lowercase());
        store.assoc.define(ti, to, fwd, fwd + 1, None, "USER_DEFINED", &n);
    }
    Ok((StatusCode::CREATED, axum::Json(render_schema(&store, ti))).into_response())
}

fn render_owner(o: &crate::model::Owner) -> Value {
    let mut v = json!({
        "id": o.id.to_string(),
        "email": o.email,
        "type": "PERSON",
        "firstName": o.first,
        "lastName": o.last,
        "userIdIncludingInactive": o.user_id,
        "createdAt": iso_ms(o.created),
        "updatedAt": iso_ms(o.updated),
        "archived": o.archived,
        "teams": o.team.as_ref().map(|(id, name)| vec![json!({ "id": id.to_string(), "name": name, "primary": true })]).unwrap_or_default(),
    });
    // Deactivated users keep only `userIdIncludingInactive`.
    if !o.archived {
        v["userId"] = json!(o.user_id);
    }
    v
}

pub async fn owners_list(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    caller.require(&["crm.objects.owners.read"])?;
    let p = Params::parse(q);
    let limit: usize = p.one("limit").map(|l| l.parse().map_err(|_| ApiError::validation("limit must be an integer"))).transpose()?.unwrap_or(100);
    if limit == 0 || limit > 500 {
        return Err(ApiError::validation("limit must be between 1 and 500"));
    }
    let after: usize = p.one("after").filter(|a| !a.is_empty()).map(|a| a.parse().map_err(|_| ApiError::validation("invalid after"))).transpose()?.unwrap_or(0);
    let archived = p.flag("archived");
    let email = p.one("email").map(str::to_lowercase);
    let store = st.read()?;
    let all: Vec<&crate::model::Owner> = store.owners.iter().filter(|o| o.archived == archived && email.as_ref().is_none_or(|e| o.email.to_lowercase() == *e)).collect();
    let page: Vec<Value> = all.iter().skip(after).take(limit).map(|o| render_owner(o)).collect();
    let mut body = json!({ "results": page });
    if after + limit < all.len() {
        body["paging"] = json!({ "next": { "after": (after + limit).to_string() } });
    }
    Ok(Json(body))
}

pub async fn owner_get(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(owner_id): Path<String>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    caller.require(&["crm.objects.owners.read"])?;
    let p = Params::parse(q);
    let by_user = p.one("idProperty") == Some("userId");
    let id: u64 = owner_id.parse().map_err(|_| ApiError::not_found(format!("Owner {owner_id} not found")))?;
    let store = st.read()?;
    store
        .owners
        .iter()
        .find(|o| if by_user { o.user_id == id } else { o.id == id })
        .map(|o| Json(render_owner(o)))
        .ok_or_else(|| ApiError::not_found(format!("Owner {owner_id} not found")))
}
