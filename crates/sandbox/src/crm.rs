//! CRM v3 objects: list, get, create, update, archive, merge, GDPR delete and batch operations,
//! for every type (standard and custom, by name or `2-…` id).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json};
use crate::model::{Derived, PType, Record, Source, Store};
use crate::state::AppState;
use crate::util::{iso_date, iso_ms, parse_time_ms};
use crate::webhooks::Change;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

pub const BATCH_LIMIT: usize = 100;

/// Query parameters, accepting both `properties=a,b` and repeated `properties=a&properties=b`.
#[derive(Default, Debug)]
pub struct Params(HashMap<String, Vec<String>>);

impl Params {
    pub fn parse(q: Option<String>) -> Self {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(q) = q {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                m.entry(k.into_owned()).or_default().push(v.into_owned());
            }
        }
        Params(m)
    }
    pub fn one(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(|v| v.first()).map(String::as_str)
    }
    pub fn list(&self, k: &str) -> Option<Vec<String>> {
        self.0.get(k).map(|vs| vs.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
    }
    pub fn flag(&self, k: &str) -> bool {
        self.one(k).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

pub fn resolve(store: &Store, name: &str) -> ApiResult<usize> {
    store.resolve(name).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "OBJECT_NOT_FOUND", format!("Unable to infer object type from: {name}"))
    })
}

pub fn parse_id(s: &str) -> Option<u64> {
    s.trim().parse::<u64>().ok()
}

/// Renders a record as `SimplePublicObject`.
pub fn render(store: &Store, ti: usize, r: &Record, props: Option<&[String]>, history: Option<&[String]>) -> Value {
    let t = &store.types[ti];
    let mut p = Map::new();
    let names: Vec<&str> = match props {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => t.default_props.iter().map(String::as_str).collect(),
    };
    for n in names {
        if let Some((k, _)) = t.prop(n) {
            p.insert(n.to_string(), t.value(r, k).map(|v| Value::String(v.into_owned())).unwrap_or(Value::Null));
        }
    }
    let mut o = json!({
        "id": r.id.to_string(),
        "properties": p,
        "createdAt": iso_ms(r.created),
        "updatedAt": iso_ms(r.updated),
        "archived": r.archived_at != 0,
    });
    if r.archived_at != 0 {
        o["archivedAt"] = json!(iso_ms(r.archived_at));
    }
    if let Some(h) = history {
        o["propertiesWithHistory"] = history_json(t, r, h);
    }
    o
}

fn history_json(t: &crate::model::ObjectType, r: &Record, names: &[String]) -> Value {
    let mut hm = Map::new();
    for n in names {
        if let Some((k, _)) = t.prop(n) {
            let entries: Vec<Value> = t
                .history_for(r, k)
                .into_iter()
                .map(|e| json!({ "value": e.value, "timestamp": iso_ms(e.ts), "sourceType": e.source, "sourceId": "userId:5400000" }))
                .collect();
            hm.insert(n.clone(), Value::Array(entries));
        }
    }
    Value::Object(hm)
}

/// A record rendered as `SimplePublicObject` straight into the response, without building an
/// intermediate JSON tree (the hot path of list, get and search).
pub struct View<'a> {
    pub t: &'a crate::model::ObjectType,
    pub r: &'a Record,
    pub props: Option<&'a [String]>,
    pub history: Option<Value>,
    pub associations: Option<Value>,
}

impl<'a> View<'a> {
    pub fn new(store: &'a Store, ti: usize, r: &'a Record, props: Option<&'a [String]>, history: Option<&[String]>) -> Self {
        let t = &store.types[ti];
        View { t, r, props, history: history.map(|h| history_json(t, r, h)), associations: None }
    }
}

struct PropsView<'a>(&'a View<'a>);

impl serde::Serialize for PropsView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let v = self.0;
        let names: &[String] = v.props.unwrap_or(&v.t.default_props);
        let mut m = s.serialize_map(None)?;
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                continue;
            }
            if let Some((k, _)) = v.t.prop(n) {
                m.serialize_entry(n, &v.t.value(v.r, k).as_deref())?;
            }
        }
        m.end()
    }
}

impl serde::Serialize for View<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &self.r.id.to_string())?;
        m.serialize_entry("properties", &PropsView(self))?;
        m.serialize_entry("createdAt", &iso_ms(self.r.created))?;
        m.serialize_entry("updatedAt", &iso_ms(self.r.updated))?;
        m.serialize_entry("archived", &(self.r.archived_at != 0))?;
        if self.r.archived_at != 0 {
            m.serialize_entry("archivedAt", &iso_ms(self.r.archived_at))?;
        }
        if let Some(h) = &self.history {
            m.serialize_entry("propertiesWithHistory", h)?;
        }
        if let Some(a) = &self.associations {
            m.serialize_entry("associations", a)?;
        }
        m.end()
    }
}

/// A page of records: `{"results":[…],"paging":…,"total"?}`.
#[derive(serde::Serialize)]
pub struct Page<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
    pub results: Vec<View<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging: Option<Value>,
}

/// v3 `associations` block for `associations=companies,deals`.
fn render_assoc(store: &Store, ti: usize, id: u64, to_types: &[String]) -> Option<Value> {
    let mut m = Map::new();
    for name in to_types {
        let Some(to) = store.resolve(name) else { continue };
        let list = store.assoc.of(ti, id, to);
        if list.is_empty() {
            continue;
        }
        let mut results = Vec::new();
        for (to_id, types) in list {
            for ty in types {
                let label = store.assoc.label(ti, to, ty).map(|l| l.name.clone()).unwrap_or_else(|| ty.to_string());
                results.push(json!({ "id": to_id.to_string(), "type": label }));
            }
        }
        m.insert(store.types[to].name.clone(), json!({ "results": results }));
    }
    (!m.is_empty()).then_some(Value::Object(m))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("Object not found.  objectId are usually numeric.").with("context", json!({ "id": [id] }))
}

/// Finds a live record by id or by a unique property (`idProperty`), following merges.
pub fn find(store: &Store, ti: usize, id: &str, id_property: Option<&str>) -> ApiResult<u64> {
    let t = &store.types[ti];
    match id_property {
        None | Some("hs_object_id") => {
            let n = parse_id(id).ok_or_else(|| not_found(id))?;
            let n = t.resolve_id(n);
            if t.records.contains_key(&n) {
                Ok(n)
            } else {
                Err(not_found(id))
            }
        }
        Some(p) => {
            let (k, def) = t.prop(p).ok_or_else(|| ApiError::validation(format!("Property \"{p}\" does not exist")))?;
            if !t.unique.contains_key(&k) {
                return Err(ApiError::validation(format!("{} is not a unique property; idProperty must have unique values", def.name)));
            }
            t.find_unique(k, id).ok_or_else(|| not_found(id))
        }
    }
}

fn prop_error(name: &str, code: &str, message: String, portal: u64) -> Value {
    json!({ "isValid": false, "message": message, "error": code, "name": name, "localizedErrorMessage": message, "portalId": portal })
}

/// Validates and normalises property values like HubSpot; returns per-property errors.
pub fn validate(store: &Store, ti: usize, props: &Map<String, Value>) -> Result<Vec<(u16, String)>, Vec<Value>> {
    let t = &store.types[ti];
    let portal = store.portal_id;
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for (name, v) in props {
        let Some((k, def)) = t.prop(name) else {
            errs.push(prop_error(name, "PROPERTY_DOESNT_EXIST", format!("Property \"{name}\" does not exist"), portal));
            continue;
        };
        if def.read_only || def.calculated || def.derived != Derived::Stored {
            errs.push(prop_error(name, "READ_ONLY_VALUE", format!("\"{name}\" is a read only property; its value cannot be set."), portal));
            continue;
        }
        let raw = match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                errs.push(prop_error(name, "INVALID_VALUE", format!("{v} is not a valid value for {name}"), portal));
                continue;
            }
        };
        if raw.len() > 65_535 {
            errs.push(prop_error(name, "INVALID_LENGTH", format!("Value for {name} is longer than 65,535 characters"), portal));
            continue;
        }
        if raw.trim().is_empty() {
            out.push((k, String::new()));
            continue;
        }
        let norm = match def.ptype {
            PType::Number => match raw.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(raw.trim().to_string()),
                _ => Err(("INVALID_DECIMAL", format!("{raw} was not a valid number."))),
            },
            PType::Bool => match raw.to_ascii_lowercase().as_str() {
                "true" | "false" => Ok(raw.to_ascii_lowercase()),
                _ => Err(("INVALID_OPTION", format!("{raw} was not one of the allowed options: [true, false]"))),
            },
            PType::Enumeration if def.name != "hubspot_owner_id" || !def.options.is_empty() => {
                let bad: Vec<&str> = raw.split(';').filter(|p| !def.options.iter().any(|o| o.value == *p)).collect();
                if bad.is_empty() {
                    Ok(raw.clone())
                } else {
                    let allowed: Vec<&str> = def.options.iter().map(|o| o.value.as_str()).collect();
                    Err(("INVALID_OPTION", format!("{} was not one of the allowed options: [{}]", bad.join(";"), allowed.join(", "))))
                }
            }
            PType::Date => match parse_time_ms(&raw) {
                Some(ms) if ms.rem_euclid(86_400_000) == 0 => Ok(iso_date(ms)),
                Some(ms) => {
                    let iso = iso_ms(ms);
                    Err(("INVALID_DATE", format!("{raw} is at {} UTC, not midnight!", &iso[11..23])))
                }
                None => Err(("INVALID_DATE", format!("{raw} is not a valid date"))),
            },
            PType::DateTime => match parse_time_ms(&raw) {
                Some(ms) => Ok(iso_ms(ms)),
                None => Err(("INVALID_DATETIME", format!("{raw} is not a valid datetime"))),
            },
            _ => {
                if t.name == "contacts" && def.name == "email" && !valid_email(&raw) {
                    Err(("INVALID_EMAIL", format!("Email address {raw} is invalid")))
                } else {
                    Ok(raw.clone())
                }
            }
        };
        match norm {
            Ok(v) => out.push((k, v)),
            Err((code, msg)) => errs.push(prop_error(name, code, msg, portal)),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

fn valid_email(s: &str) -> bool {
    let s = s.trim();
    match s.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !s.contains(' '),
        None => false,
    }
}

pub fn validation_error(errs: Vec<Value>) -> ApiError {
    let msg = format!("Property values were not valid: {}", Value::Array(errs.clone()));
    ApiError::validation(msg).with("errors", Value::Array(errs.iter().map(|e| json!({ "message": e["message"], "code": e["error"], "context": { "propertyName": [e["name"]] } })).collect()))
}

fn conflict_existing(t_upper: &str, existing: u64) -> ApiError {
    let singular = match t_upper {
        "CONTACT" => "Contact".to_string(),
        other => {
            let mut c = other.to_lowercase();
            if let Some(f) = c.get_mut(0..1) {
                f.make_ascii_uppercase();
            }
            c
        }
    };
    ApiError::conflict(format!("{singular} already exists. Existing ID: {existing}"))
}

/// Checks unique values against the index (excluding `self_id`).
fn check_unique(store: &Store, ti: usize, changes: &[(u16, String)], self_id: Option<u64>) -> ApiResult<()> {
    let t = &store.types[ti];
    for (k, v) in changes {
        if v.is_empty() || !t.unique.contains_key(k) {
            continue;
        }
        if let Some(existing) = t.find_unique(*k, v) {
            if Some(existing) != self_id {
                return Err(conflict_existing(&t.upper, existing));
            }
        }
    }
    Ok(())
}

pub struct Writes<'a> {
    pub st: &'a AppState,
    pub changes: Vec<Change>,
    /// Some webhook subscription is active (property changes become events).
    listening: bool,
}

impl<'a> Writes<'a> {
    pub fn new(st: &'a AppState) -> Self {
        Writes { st, changes: Vec::new(), listening: st.webhooks.listening() }
    }

    pub fn create(&mut self, store: &mut Store, ti: usize, values: Vec<(u16, String)>, now: i64) -> ApiResult<u64> {
        check_unique(store, ti, &values, None)?;
        let id = store.alloc_id();
        let pairs: Vec<(u16, &str)> = values.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, v.as_str())).collect();
        let r = Record::new(id, now, now, &pairs);
        let t = &mut store.types[ti];
        t.record_created(id, &pairs, now, Source::Api);
        t.insert_live(r);
        t.index_record(id);
        self.st.note_write(ti, id, None);
        self.changes.push(Change::Created { ti, id, at: now });
        Ok(id)
    }

    pub fn update(&mut self, store: &mut Store, ti: usize, id: u64, values: &[(u16, String)], now: i64, source: Source) -> ApiResult<usize> {
        check_unique(store, ti, values, Some(id))?;
        let t = &mut store.types[ti];
        t.unindex_record(id);
        let Some(r) = t.records.get_mut(&id) else { return Err(ApiError::not_found("Object not found.")) };
        let before = r.clone();
        let changed = r.apply(values);
        let new_ts = if changed.is_empty() { r.updated } else { now.max(r.updated) };
        t.set_updated(id, new_ts);
        let Some(after) = t.records.get(&id).cloned() else { return Err(ApiError::not_found("Object not found.")) };
        let created = after.created;
        t.record_history(id, created, &changed, &after, now, source);
        t.index_record(id);
        if !changed.is_empty() {
            self.st.note_write(ti, id, Some(before));
            // Events only while a webhook subscription is active (a bulk update of a million
            // records would otherwise hold an event per changed value until it ends).
            if self.listening {
                for (k, _) in &changed {
                    let name = t.props[*k as usize].name.clone();
                    let value = after.get(*k).unwrap_or("").to_string();
                    self.changes.push(Change::Property { ti, id, name, value, at: now });
                }
            }
        }
        Ok(changed.len())
    }

    pub fn archive(&mut self, store: &mut Store, ti: usize, id: u64, now: i64) -> bool {
        let t = &mut store.types[ti];
        t.unindex_record(id);
        let Some(mut r) = t.remove_live(id) else { return false };
        self.st.note_write(ti, id, Some(r.clone()));
        r.archived_at = now;
        t.archived.insert(id, r);
        store.assoc.remove_record(ti, id);
        self.changes.push(Change::Deleted { ti, id, at: now });
        true
    }

    /// GDPR / hard delete: gone from live and archived lists, no recycle bin.
    pub fn hard_delete(&mut self, store: &mut Store, ti: usize, id: u64, now: i64) -> bool {
        let t = &mut store.types[ti];
        t.unindex_record(id);
        let live = t.remove_live(id);
        let arch = t.archived.remove(&id);
        t.history.remove(&id);
        t.merged_into.retain(|from, to| *from != id && *to != id);
        let existed = live.is_some() || arch.is_some();
        if let Some(r) = live {
            self.st.note_write(ti, id, Some(r));
            store.assoc.remove_record(ti, id);
        }
        if existed {
            self.changes.push(Change::Deleted { ti, id, at: now });
        }
        existed
    }

    pub fn merge(&mut self, store: &mut Store, ti: usize, primary: u64, loser: u64, now: i64) -> ApiResult<u64> {
        let kmerged = store.types[ti].prop_idx.get("hs_merged_object_ids").copied();
        let (Some(p), Some(l)) = (store.types[ti].records.get(&primary).cloned(), store.types[ti].records.get(&loser).cloned()) else {
            return Err(ApiError::validation("Unable to merge: one of the objects does not exist or was merged already."));
        };
        // The survivor keeps its values and gains the loser's where it has none.
        let mut fill: Vec<(u16, String)> = l.iter().filter(|(k, v)| p.get(*k).is_none_or(str::is_empty) && !v.is_empty() && Some(*k) != kmerged && !store.types[ti].unique.contains_key(k)).map(|(k, v)| (k, v.to_string())).collect();
        if let Some(km) = kmerged {
            let mut ids: BTreeSet<u64> = p.get(km).unwrap_or("").split(';').filter_map(parse_id).collect();
            ids.extend(l.get(km).unwrap_or("").split(';').filter_map(parse_id));
            ids.insert(loser);
            fill.push((km, ids.iter().map(u64::to_string).collect::<Vec<_>>().join(";")));
        }
        let moved = store.assoc.remove_record(ti, loser);
        {
            let t = &mut store.types[ti];
            t.unindex_record(loser);
            t.remove_live(loser);
            t.merged_into.insert(loser, primary);
        }
        self.st.note_write(ti, loser, Some(l));
        for (to, to_id, type_id) in moved {
            store.assoc.link(ti, primary, to, to_id, type_id);
        }
        self.update(store, ti, primary, &fill, now, Source::CrmUi)?;
        self.changes.push(Change::Merged { ti, primary, loser, at: now });
        Ok(primary)
    }

    pub fn flush(self) {
        self.st.webhooks.emit(self.st, self.changes);
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AssocInput {
    pub to: IdOnly,
    #[serde(default)]
    pub types: Vec<AssocSpec>,
}

#[derive(Deserialize, Default, Clone)]
pub struct IdOnly {
    pub id: String,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct AssocSpec {
    #[serde(default)]
    pub association_category: Option<String>,
    pub association_type_id: u32,
}

#[derive(Deserialize)]
pub struct CreateInput {
    #[serde(default)]
    pub properties: Map<String, Value>,
    #[serde(default)]
    pub associations: Vec<AssocInput>,
    /// Echoed on the input's result, as HubSpot does, so a client can match results to inputs.
    #[serde(default, rename = "objectWriteTraceId")]
    pub object_write_trace_id: Option<String>,
}

/// Resolves create-time associations: (to type, to id, type id).
fn plan_assocs(store: &Store, ti: usize, inputs: &[AssocInput]) -> ApiResult<Vec<(usize, u64, u32)>> {
    let mut out = Vec::new();
    for a in inputs {
        let to_id = parse_id(&a.to.id).ok_or_else(|| ApiError::validation(format!("Invalid association target id {}", a.to.id)))?;
        for spec in &a.types {
            let Some(label) = store.assoc.labels.iter().find(|l| l.from == ti && l.type_id == spec.association_type_id) else {
                return Err(ApiError::validation(format!("{} is not a valid association type id for {}", spec.association_type_id, store.types[ti].name)));
            };
            if let Some(c) = spec.association_category.as_deref() {
                if c != label.category {
                    return Err(ApiError::validation(format!("associationTypeId {} has category {}, not {c}", spec.association_type_id, label.category)));
                }
            }
            if !store.types[label.to].records.contains_key(&to_id) {
                return Err(ApiError::validation(format!("The {} with id {to_id} does not exist, so it can't be associated.", store.types[label.to].singular.to_lowercase())));
            }
            out.push((label.to, to_id, spec.association_type_id));
        }
    }
    Ok(out)
}

pub async fn list(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = Params::parse(q);
    let store = st.read()?;
    let ti = resolve(&store, &object_type)?;
    caller.require(&store.types[ti].read_scopes)?;
    let mut limit: usize = match p.one("limit") {
        None => 10,
        Some(l) => l.parse().map_err(|_| ApiError::validation(format!("limit must be an integer, got {l}")))?,
    };
    if limit == 0 || limit > 100 {
        return Err(ApiError::validation(format!("limit must be between 1 and 100, got {limit}")));
    }
    let history = p.list("propertiesWithHistory");
    if history.is_some() {
        limit = limit.min(50);
    }
    let after: u64 = match p.one("after") {
        None | Some("") => 0,
        Some(a) => a.parse().map_err(|_| ApiError::validation(format!("after must be a paging cursor returned by a previous page, got {a}")))?,
    };
    let props = p.list("properties");
    let assoc = p.list("associations");
    let t = &store.types[ti];
    let src = if p.flag("archived") { &t.archived } else { &t.records };
    let mut results = Vec::with_capacity(limit);
    let mut next = None;
    for (id, r) in src.range(after..) {
        if results.len() == limit {
            next = Some(*id);
            break;
        }
        let mut v = View::new(&store, ti, r, props.as_deref(), history.as_deref());
        if let Some(a) = assoc.as_deref() {
            v.associations = render_assoc(&store, ti, r.id, a);
        }
        results.push(v);
    }
    let paging = next.map(|n| json!({ "next": { "after": n.to_string(), "link": format!("{}/crm/v3/objects/{}?after={n}", st.base_url, t.name) } }));
    Ok(axum::Json(Page { total: None, results, paging }).into_response())
}

pub async fn get(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, id)): Path<(String, String)>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = Params::parse(q);
    let store = st.read()?;
    let ti = resolve(&store, &object_type)?;
    caller.require(&store.types[ti].read_scopes)?;
    let t = &store.types[ti];
    let props = p.list("properties");
    let history = p.list("propertiesWithHistory");
    let r = if p.flag("archived") {
        let n = parse_id(&id).ok_or_else(|| not_found(&id))?;
        t.archived.get(&n).ok_or_else(|| not_found(&id))?
    } else {
        let n = find(&store, ti, &id, p.one("idProperty"))?;
        t.records.get(&n).ok_or_else(|| not_found(&id))?
    };
    let mut v = View::new(&store, ti, r, props.as_deref(), history.as_deref());
    if let Some(a) = p.list("associations") {
        v.associations = render_assoc(&store, ti, r.id, &a);
    }
    Ok(axum::Json(v).into_response())
}

pub async fn create(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>, Json(input): Json<CreateInput>) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let mut w = Writes::new(&st);
    let out = {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        caller.require(&store.types[ti].write_scopes)?;
        let values = validate(&store, ti, &input.properties).map_err(validation_error)?;
        let assocs = plan_assocs(&store, ti, &input.associations)?;
        let id = w.create(&mut store, ti, values, now)?;
        for (to, to_id, type_id) in assocs {
            store.assoc.link(ti, id, to, to_id, type_id);
        }
        let names: Vec<String> = store.types[ti].default_props.iter().cloned().chain(input.properties.keys().cloned()).collect();
        let r = store.types[ti].records.get(&id).ok_or_else(|| ApiError::internal("record vanished"))?;
        render(&store, ti, r, Some(&names), None)
    };
    w.flush();
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

#[derive(Deserialize)]
pub struct UpdateInput {
    #[serde(default)]
    pub properties: Map<String, Value>,
}

pub async fn update(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, id)): Path<(String, String)>, RawQuery(q): RawQuery, Json(input): Json<UpdateInput>) -> ApiResult<Response> {
    let p = Params::parse(q);
    let now = st.clock.now_ms();
    let mut w = Writes::new(&st);
    let out = {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        caller.require(&store.types[ti].write_scopes)?;
        let n = find(&store, ti, &id, p.one("idProperty"))?;
        let values = validate(&store, ti, &input.properties).map_err(validation_error)?;
        w.update(&mut store, ti, n, &values, now, Source::Integration)?;
        let names: Vec<String> = store.types[ti].default_props.iter().cloned().chain(input.properties.keys().cloned()).collect();
        let r = store.types[ti].records.get(&n).ok_or_else(|| ApiError::internal("record vanished"))?;
        render(&store, ti, r, Some(&names), None)
    };
    w.flush();
    Ok(axum::Json(out).into_response())
}

pub async fn archive(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, id)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let now = st.clock.now_ms();
    let mut w = Writes::new(&st);
    {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        caller.require(&store.types[ti].write_scopes)?;
        if let Some(n) = parse_id(&id) {
            let n = store.types[ti].resolve_id(n);
            w.archive(&mut store, ti, n, now);
        }
    }
    w.flush();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeInput {
    pub primary_object_id: String,
    pub object_id_to_merge: String,
}

pub async fn merge(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>, Json(input): Json<MergeInput>) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let mut w = Writes::new(&st);
    let out = {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        caller.require(&store.types[ti].write_scopes)?;
        if matches!(store.types[ti].name.as_str(), "notes" | "calls") {
            return Err(ApiError::validation(format!("Merging is not supported for {} objects", store.types[ti].upper)));
        }
        let (Some(a), Some(b)) = (parse_id(&input.primary_object_id), parse_id(&input.object_id_to_merge)) else {
            return Err(ApiError::validation("primaryObjectId and objectIdToMerge must be numeric ids"));
        };
        let (a, b) = (store.types[ti].resolve_id(a), store.types[ti].resolve_id(b));
        if a == b {
            return Err(ApiError::validation("Cannot merge an object with itself."));
        }
        let id = w.merge(&mut store, ti, a, b, now)?;
        let r = store.types[ti].records.get(&id).ok_or_else(|| ApiError::internal("record vanished"))?;
        render(&store, ti, r, None, None)
    };
    w.flush();
    Ok(axum::Json(out).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GdprInput {
    pub object_id: String,
    #[serde(default)]
    pub id_property: Option<String>,
}

pub async fn gdpr_delete(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(object_type): Path<String>, Json(input): Json<GdprInput>) -> ApiResult<StatusCode> {
    let now = st.clock.now_ms();
    let mut w = Writes::new(&st);
    {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        if store.types[ti].name != "contacts" {
            return Err(ApiError::not_found("GDPR delete is only available for contacts."));
        }
        caller.require(&store.types[ti].write_scopes)?;
        let id = find(&store, ti, &input.object_id, input.id_property.as_deref())?;
        w.hard_delete(&mut store, ti, id, now);
    }
    w.flush();
    Ok(StatusCode::NO_CONTENT)
}

fn batch_envelope(results: Vec<Value>, errors: Vec<Value>, started: i64, now: i64) -> Response {
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso_ms(started),
        "completedAt": iso_ms(now),
    });
    if errors.is_empty() {
        (StatusCode::OK, axum::Json(body)).into_response()
    } else {
        body["numErrors"] = json!(errors.len());
        body["errors"] = Value::Array(errors);
        (StatusCode::MULTI_STATUS, axum::Json(body)).into_response()
    }
}

/// HubSpot echoes an input's `objectWriteTraceId` on its result.
fn with_trace(mut o: Value, trace: Option<String>) -> Value {
    if let Some(t) = trace {
        o["objectWriteTraceId"] = json!(t);
    }
    o
}

/// The `batchShuffle` fault: results in any order, as HubSpot may answer them.
fn shuffle_batch(st: &AppState, results: &mut [Value]) {
    if st.faults_snapshot().batch_shuffle {
        use rand::seq::SliceRandom;
        results.shuffle(&mut rand::rng());
    }
}

fn batch_error(category: &str, message: String, context: Value) -> Value {
    json!({ "status": "error", "category": category, "message": message, "context": context, "errors": [], "links": {} })
}

pub async fn batch(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, op)): Path<(String, String)>, Json(body): Json<Value>) -> ApiResult<Response> {
    let started = st.clock.now_ms();
    let inputs = body.get("inputs").and_then(Value::as_array).cloned().ok_or_else(|| ApiError::bad_json("missing required field inputs"))?;
    if inputs.len() > BATCH_LIMIT {
        return Err(ApiError::validation(format!("Batch input is limited to {BATCH_LIMIT} inputs; got {}.", inputs.len())));
    }
    let mut w = Writes::new(&st);
    let resp = {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        let now = st.clock.now_ms();
        match op.as_str() {
            "read" => {
                caller.require(&store.types[ti].read_scopes)?;
                let props: Option<Vec<String>> = body.get("properties").and_then(|v| serde_json::from_value(v.clone()).ok()).filter(|v: &Vec<String>| !v.is_empty());
                let hist: Option<Vec<String>> = body.get("propertiesWithHistory").and_then(|v| serde_json::from_value(v.clone()).ok()).filter(|v: &Vec<String>| !v.is_empty());
                let id_prop = body.get("idProperty").and_then(Value::as_str);
                let archived = body.get("archived").and_then(Value::as_bool).unwrap_or(false);
                let mut results = Vec::new();
                let mut missing = Vec::new();
                let mut seen = BTreeSet::new();
                for i in &inputs {
                    let id = i.get("id").map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).unwrap_or_default();
                    let found = if archived {
                        parse_id(&id).filter(|n| store.types[ti].archived.contains_key(n)).ok_or(())
                    } else {
                        find(&store, ti, &id, id_prop).map_err(|_| ())
                    };
                    match found {
                        Ok(n) if seen.insert(n) => {
                            if let Some(r) = store.types[ti].live_or_archived(n, archived) {
                                results.push(render(&store, ti, r, props.as_deref(), hist.as_deref()));
                            }
                        }
                        Ok(_) => {}
                        Err(()) => missing.push(id),
                    }
                }
                let errors = if missing.is_empty() {
                    Vec::new()
                } else {
                    vec![batch_error("OBJECT_NOT_FOUND", format!("Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.", store.types[ti].upper), json!({ "ids": missing }))]
                };
                batch_envelope(results, errors, started, now)
            }
            "create" => {
                caller.require(&store.types[ti].write_scopes)?;
                let parsed: Vec<CreateInput> = inputs.iter().map(|v| serde_json::from_value(v.clone())).collect::<Result<_, _>>().map_err(|e| ApiError::bad_json(e.to_string()))?;
                // Conflicts fail the whole batch, like HubSpot's 409 on duplicate emails.
                let mut batch_unique: HashMap<(u16, String), usize> = HashMap::new();
                let mut planned = Vec::new();
                let mut errors = Vec::new();
                for (i, input) in parsed.iter().enumerate() {
                    match validate(&store, ti, &input.properties) {
                        Ok(values) => {
                            check_unique(&store, ti, &values, None)?;
                            for (k, v) in &values {
                                if store.types[ti].unique.contains_key(k) && !v.is_empty() && batch_unique.insert((*k, v.to_lowercase()), i).is_some() {
                                    return Err(ApiError::conflict(format!("Duplicate {} found in batch input: {v}", store.types[ti].props[*k as usize].name)));
                                }
                            }
                            let assocs = plan_assocs(&store, ti, &input.associations)?;
                            planned.push((values, assocs, input.properties.keys().cloned().collect::<Vec<_>>(), input.object_write_trace_id.clone()));
                        }
                        Err(errs) => errors.push(batch_error("VALIDATION_ERROR", format!("Property values were not valid: {}", Value::Array(errs.clone())), json!({ "inputIndex": [i.to_string()] }))),
                    }
                }
                let mut results = Vec::new();
                for (values, assocs, names, trace) in planned {
                    let id = w.create(&mut store, ti, values, now)?;
                    for (to, to_id, type_id) in assocs {
                        store.assoc.link(ti, id, to, to_id, type_id);
                    }
                    let names: Vec<String> = store.types[ti].default_props.iter().cloned().chain(names).collect();
                    if let Some(r) = store.types[ti].records.get(&id) {
                        results.push(with_trace(render(&store, ti, r, Some(&names), None), trace));
                    }
                }
                shuffle_batch(&st, &mut results);
                let mut resp = batch_envelope(results, errors, started, now);
                if resp.status() == StatusCode::OK {
                    *resp.status_mut() = StatusCode::CREATED;
                }
                resp
            }
            "update" | "upsert" => {
                caller.require(&store.types[ti].write_scopes)?;
                let upsert = op == "upsert";
                let mut results = Vec::new();
                let mut errors = Vec::new();
                let mut seen_ids = BTreeSet::new();
                for input in &inputs {
                    let id = input.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                    let id_prop = input.get("idProperty").and_then(Value::as_str);
                    if !seen_ids.insert((id.clone(), id_prop.map(str::to_string))) {
                        return Err(ApiError::validation(format!("Duplicate IDs found in batch input: [{id}]. IDs must be unique")));
                    }
                    let props: Map<String, Value> = input.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
                    let values = match validate(&store, ti, &props) {
                        Ok(v) => v,
                        Err(errs) => {
                            errors.push(batch_error("VALIDATION_ERROR", format!("Property values were not valid: {}", Value::Array(errs)), json!({ "ids": [id] })));
                            continue;
                        }
                    };
                    let names: Vec<String> = store.types[ti].default_props.iter().cloned().chain(props.keys().cloned()).collect();
                    let (target, is_new) = match find(&store, ti, &id, id_prop) {
                        Ok(n) => (n, false),
                        Err(_) if upsert => {
                            let Some(idp) = id_prop else {
                                return Err(ApiError::validation("idProperty is required for upsert and must be a unique property"));
                            };
                            let (k, _) = store.types[ti].prop(idp).ok_or_else(|| ApiError::validation(format!("Property \"{idp}\" does not exist")))?;
                            if !store.types[ti].unique.contains_key(&k) {
                                return Err(ApiError::validation(format!("{idp} is not a unique property; idProperty must have unique values")));
                            }
                            let mut v = values.clone();
                            v.retain(|(kk, _)| *kk != k);
                            v.push((k, id.clone()));
                            (w.create(&mut store, ti, v, now)?, true)
                        }
                        Err(_) => {
                            errors.push(batch_error("OBJECT_NOT_FOUND", format!("Could not update some {} objects, they may be deleted or not exist. Check that ids are valid.", store.types[ti].upper), json!({ "ids": [id] })));
                            continue;
                        }
                    };
                    if !is_new {
                        if let Err(e) = w.update(&mut store, ti, target, &values, now, Source::Integration) {
                            if e.status == StatusCode::CONFLICT {
                                return Err(e);
                            }
                            errors.push(batch_error("VALIDATION_ERROR", e.body.get("message").and_then(Value::as_str).unwrap_or("invalid").to_string(), json!({ "ids": [id] })));
                            continue;
                        }
                    }
                    if let Some(r) = store.types[ti].records.get(&target) {
                        let mut o = render(&store, ti, r, Some(&names), None);
                        if upsert {
                            o["new"] = json!(is_new);
                        }
                        let trace = input.get("objectWriteTraceId").and_then(Value::as_str).map(str::to_string);
                        results.push(with_trace(o, trace));
                    }
                }
                shuffle_batch(&st, &mut results);
                batch_envelope(results, errors, started, now)
            }
            "archive" => {
                caller.require(&store.types[ti].write_scopes)?;
                for i in &inputs {
                    if let Some(n) = i.get("id").and_then(Value::as_str).and_then(parse_id) {
                        let n = store.types[ti].resolve_id(n);
                        w.archive(&mut store, ti, n, now);
                    }
                }
                StatusCode::NO_CONTENT.into_response()
            }
            other => return Err(ApiError::not_found(format!("Unknown batch operation {other}"))),
        }
    };
    w.flush();
    Ok(resp)
}
