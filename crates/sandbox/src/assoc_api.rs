//! Associations v4: per-object read/create/delete, batch read/create/archive, labels.
//! Association changes never bump `lastmodifieddate` (as on HubSpot).

use crate::auth::Caller;
use crate::crm::{parse_id, resolve, Params};
use crate::error::{ApiError, ApiResult, Json};
use crate::model::Store;
use crate::state::AppState;
use crate::util::iso_ms;
use crate::webhooks::Change;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

fn spec_json(store: &Store, from: usize, to: usize, type_id: u32) -> Value {
    let l = store.assoc.label(from, to, type_id);
    let mut v = json!({ "category": l.map(|l| l.category).unwrap_or("HUBSPOT_DEFINED"), "typeId": type_id });
    // The spec types `label` as a non-nullable string: unlabeled types omit it.
    if let Some(label) = l.and_then(|l| l.label.clone()) {
        v["label"] = json!(label);
    }
    v
}

fn pair(store: &Store, from: &str, to: &str, caller: &Caller) -> ApiResult<(usize, usize)> {
    let f = resolve(store, from)?;
    let t = resolve(store, to)?;
    caller.require(&store.types[f].read_scopes)?;
    caller.require(&store.types[t].read_scopes)?;
    Ok((f, t))
}

fn live(store: &Store, ti: usize, id: &str) -> ApiResult<u64> {
    let n = parse_id(id).ok_or_else(|| ApiError::not_found(format!("{} {id} does not exist", store.types[ti].singular)))?;
    let n = store.types[ti].resolve_id(n);
    if store.types[ti].records.contains_key(&n) {
        Ok(n)
    } else {
        Err(ApiError::not_found(format!("{} {id} does not exist", store.types[ti].singular)).with("context", json!({ "id": [id] })))
    }
}

fn labels_between(store: &Store, from: usize, from_id: u64, to: usize, to_id: u64) -> Value {
    let types: Vec<u32> = store.assoc.of(from, from_id, to).into_iter().find(|(id, _)| *id == to_id).map(|(_, t)| t).unwrap_or_default();
    let labels: Vec<String> = types.iter().filter_map(|t| store.assoc.label(from, to, *t).and_then(|l| l.label.clone())).collect();
    json!({
        "fromObjectTypeId": store.types[from].type_id,
        "fromObjectId": from_id.to_string(),
        "toObjectTypeId": store.types[to].type_id,
        "toObjectId": to_id.to_string(),
        "labels": labels,
    })
}

pub async fn list(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, id, to_type)): Path<(String, String, String)>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    let p = Params::parse(q);
    let limit: usize = p.one("limit").map(|l| l.parse().map_err(|_| ApiError::validation("limit must be an integer"))).transpose()?.unwrap_or(500);
    if limit == 0 || limit > 500 {
        return Err(ApiError::validation("limit must be between 1 and 500"));
    }
    let after: u64 = p.one("after").filter(|a| !a.is_empty()).map(|a| a.parse().map_err(|_| ApiError::validation("invalid after"))).transpose()?.unwrap_or(0);
    let store = st.read()?;
    let (f, t) = pair(&store, &object_type, &to_type, &caller)?;
    let from_id = live(&store, f, &id)?;
    let all = store.assoc.of(f, from_id, t);
    let mut results = Vec::new();
    let mut next = None;
    for (to_id, types) in all.into_iter().filter(|(to_id, _)| *to_id >= after) {
        if results.len() == limit {
            next = Some(to_id);
            break;
        }
        results.push(json!({ "toObjectId": to_id.to_string(), "associationTypes": types.iter().map(|ty| spec_json(&store, f, t, *ty)).collect::<Vec<_>>() }));
    }
    let mut body = json!({ "results": results });
    if let Some(n) = next {
        body["paging"] = json!({ "next": { "after": n.to_string() } });
    }
    Ok(Json(body))
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub association_category: Option<String>,
    pub association_type_id: u32,
}

fn check_types(store: &Store, f: usize, t: usize, specs: &[Spec]) -> ApiResult<Vec<u32>> {
    specs
        .iter()
        .map(|s| {
            let l = store.assoc.label(f, t, s.association_type_id).ok_or_else(|| {
                ApiError::validation(format!("{} is not a valid association type between {} and {}", s.association_type_id, store.types[f].name, store.types[t].name))
            })?;
            match s.association_category.as_deref() {
                Some(c) if c != l.category => Err(ApiError::validation(format!("associationTypeId {} has category {}, not {c}", s.association_type_id, l.category))),
                _ => Ok(s.association_type_id),
            }
        })
        .collect()
}

fn write_scopes(store: &Store, f: usize, t: usize, caller: &Caller) -> ApiResult<()> {
    caller.require(&store.types[f].write_scopes)?;
    caller.require(&store.types[t].write_scopes)
}

pub async fn put_labels(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, id, to_type, to_id)): Path<(String, String, String, String)>, Json(specs): Json<Vec<Spec>>) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let body = {
        let mut store = st.write()?;
        let (f, t) = pair(&store, &object_type, &to_type, &caller)?;
        write_scopes(&store, f, t, &caller)?;
        let a = live(&store, f, &id)?;
        let b = live(&store, t, &to_id)?;
        let types = check_types(&store, f, t, &specs)?;
        for ty in types {
            store.assoc.link(f, a, t, b, ty);
        }
        labels_between(&store, f, a, t, b)
    };
    st.webhooks.emit(&st, vec![Change::Association { from: object_type, from_id: id, to: to_type, to_id, removed: false, at: now }]);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub async fn delete(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, id, to_type, to_id)): Path<(String, String, String, String)>) -> ApiResult<StatusCode> {
    let now = st.clock.now_ms();
    {
        let mut store = st.write()?;
        let (f, t) = pair(&store, &object_type, &to_type, &caller)?;
        write_scopes(&store, f, t, &caller)?;
        let a = live(&store, f, &id)?;
        let b = live(&store, t, &to_id)?;
        store.assoc.unlink(f, a, t, b, None);
    }
    st.webhooks.emit(&st, vec![Change::Association { from: object_type, from_id: id, to: to_type, to_id, removed: true, at: now }]);
    Ok(StatusCode::NO_CONTENT)
}

fn default_result(a: u64, b: u64, ty: u32) -> Value {
    json!({ "from": { "id": a.to_string() }, "to": { "id": b.to_string() }, "associationSpec": { "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": ty } })
}

pub async fn put_default(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((object_type, id, to_type, to_id)): Path<(String, String, String, String)>) -> ApiResult<Json<Value>> {
    let started = st.clock.now_ms();
    let result = {
        let mut store = st.write()?;
        let (f, t) = pair(&store, &object_type, &to_type, &caller)?;
        write_scopes(&store, f, t, &caller)?;
        let a = live(&store, f, &id)?;
        let b = live(&store, t, &to_id)?;
        let ty = store.assoc.default_type(f, t).ok_or_else(|| ApiError::validation(format!("No default association between {} and {}", store.types[f].name, store.types[t].name)))?;
        store.assoc.link(f, a, t, b, ty);
        default_result(a, b, ty)
    };
    st.webhooks.emit(&st, vec![Change::Association { from: object_type, from_id: id, to: to_type, to_id, removed: false, at: started }]);
    Ok(Json(json!({ "status": "COMPLETE", "results": [result], "startedAt": iso_ms(started), "completedAt": iso_ms(st.clock.now_ms()) })))
}

fn inputs(body: &Value) -> ApiResult<Vec<Value>> {
    let v = body.get("inputs").and_then(Value::as_array).cloned().ok_or_else(|| ApiError::bad_json("missing required field inputs"))?;
    if v.len() > 1000 {
        return Err(ApiError::validation(format!("Batch input is limited to 1000 inputs; got {}.", v.len())));
    }
    Ok(v)
}

fn id_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(|x| x.get("id")).map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).unwrap_or_default()
}

fn envelope(results: Vec<Value>, errors: Vec<Value>, started: i64, now: i64, ok: StatusCode) -> Response {
    let mut body = json!({ "status": "COMPLETE", "results": results, "startedAt": iso_ms(started), "completedAt": iso_ms(now) });
    if errors.is_empty() {
        return (ok, axum::Json(body)).into_response();
    }
    body["numErrors"] = json!(errors.len());
    body["errors"] = Value::Array(errors);
    (StatusCode::MULTI_STATUS, axum::Json(body)).into_response()
}

fn err(category: &str, message: String, ids: Vec<String>) -> Value {
    json!({ "status": "error", "category": category, "message": message, "context": { "ids": ids }, "errors": [], "links": {} })
}

pub async fn batch_read(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((from, to)): Path<(String, String)>, Json(body): Json<Value>) -> ApiResult<Response> {
    let started = st.clock.now_ms();
    let ins = inputs(&body)?;
    let store = st.read()?;
    let (f, t) = pair(&store, &from, &to, &caller)?;
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for i in &ins {
        let id = i.get("id").map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).unwrap_or_default();
        let Ok(a) = live(&store, f, &id) else {
            missing.push(id);
            continue;
        };
        let list = store.assoc.of(f, a, t);
        if list.is_empty() {
            missing.push(id);
            continue;
        }
        let to_list: Vec<Value> = list.iter().map(|(to_id, types)| json!({ "toObjectId": to_id.to_string(), "associationTypes": types.iter().map(|ty| spec_json(&store, f, t, *ty)).collect::<Vec<_>>() })).collect();
        results.push(json!({ "from": { "id": a.to_string() }, "to": to_list }));
    }
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        vec![err("OBJECT_NOT_FOUND", format!("No {} is associated with {} {}.", store.types[t].name, store.types[f].singular.to_lowercase(), missing.join(", ")), missing)]
    };
    Ok(envelope(results, errors, started, st.clock.now_ms(), StatusCode::OK))
}

pub async fn batch_create(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((from, to)): Path<(String, String)>, Json(body): Json<Value>) -> ApiResult<Response> {
    let started = st.clock.now_ms();
    let ins = inputs(&body)?;
    let mut changes = Vec::new();
    let resp = {
        let mut store = st.write()?;
        let (f, t) = pair(&store, &from, &to, &caller)?;
        write_scopes(&store, f, t, &caller)?;
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for i in &ins {
            let (a_s, b_s) = (id_of(i, "from"), id_of(i, "to"));
            let specs: Vec<Spec> = serde_json::from_value(i.get("types").cloned().unwrap_or(json!([]))).map_err(|e| ApiError::bad_json(e.to_string()))?;
            let (a, b) = match (live(&store, f, &a_s), live(&store, t, &b_s)) {
                (Ok(a), Ok(b)) => (a, b),
                _ => {
                    errors.push(err("OBJECT_NOT_FOUND", format!("One of {a_s} or {b_s} does not exist."), vec![a_s, b_s]));
                    continue;
                }
            };
            let types = match check_types(&store, f, t, &specs) {
                Ok(ts) if !ts.is_empty() => ts,
                Ok(_) => vec![store.assoc.default_type(f, t).unwrap_or(0)],
                Err(e) => {
                    errors.push(err("VALIDATION_ERROR", e.body.get("message").and_then(Value::as_str).unwrap_or("").to_string(), vec![a_s, b_s]));
                    continue;
                }
            };
            for ty in types {
                store.assoc.link(f, a, t, b, ty);
            }
            changes.push(Change::Association { from: from.clone(), from_id: a.to_string(), to: to.clone(), to_id: b.to_string(), removed: false, at: started });
            results.push(labels_between(&store, f, a, t, b));
        }
        envelope(results, errors, started, st.clock.now_ms(), StatusCode::CREATED)
    };
    st.webhooks.emit(&st, changes);
    Ok(resp)
}

pub async fn batch_default(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((from, to)): Path<(String, String)>, Json(body): Json<Value>) -> ApiResult<Response> {
    let started = st.clock.now_ms();
    let ins = inputs(&body)?;
    let mut changes = Vec::new();
    let resp = {
        let mut store = st.write()?;
        let (f, t) = pair(&store, &from, &to, &caller)?;
        write_scopes(&store, f, t, &caller)?;
        let ty = store.assoc.default_type(f, t).ok_or_else(|| ApiError::validation("No default association type for this pair"))?;
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for i in &ins {
            let (a_s, b_s) = (id_of(i, "from"), id_of(i, "to"));
            match (live(&store, f, &a_s), live(&store, t, &b_s)) {
                (Ok(a), Ok(b)) => {
                    store.assoc.link(f, a, t, b, ty);
                    changes.push(Change::Association { from: from.clone(), from_id: a.to_string(), to: to.clone(), to_id: b.to_string(), removed: false, at: started });
                    results.push(default_result(a, b, ty));
                }
                _ => errors.push(err("OBJECT_NOT_FOUND", format!("One of {a_s} or {b_s} does not exist."), vec![a_s, b_s])),
            }
        }
        let mut body = json!({ "status": "COMPLETE", "results": results, "startedAt": iso_ms(started), "completedAt": iso_ms(st.clock.now_ms()) });
        if !errors.is_empty() {
            body["numErrors"] = json!(errors.len());
            body["errors"] = Value::Array(errors);
        }
        axum::Json(body).into_response()
    };
    st.webhooks.emit(&st, changes);
    Ok(resp)
}

pub async fn batch_archive(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((from, to)): Path<(String, String)>, Json(body): Json<Value>) -> ApiResult<StatusCode> {
    let started = st.clock.now_ms();
    let ins = inputs(&body)?;
    let mut changes = Vec::new();
    {
        let mut store = st.write()?;
        let (f, t) = pair(&store, &from, &to, &caller)?;
        write_scopes(&store, f, t, &caller)?;
        for i in &ins {
            let a_s = id_of(i, "from");
            let Some(a) = parse_id(&a_s) else { continue };
            for target in i.get("to").and_then(Value::as_array).cloned().unwrap_or_default() {
                let b_s = target.get("id").map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).unwrap_or_default();
                if let Some(b) = parse_id(&b_s) {
                    if store.assoc.unlink(f, a, t, b, None) > 0 {
                        changes.push(Change::Association { from: from.clone(), from_id: a_s.clone(), to: to.clone(), to_id: b_s, removed: true, at: started });
                    }
                }
            }
        }
    }
    st.webhooks.emit(&st, changes);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn batch_labels_archive(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((from, to)): Path<(String, String)>, Json(body): Json<Value>) -> ApiResult<StatusCode> {
    let ins = inputs(&body)?;
    let mut store = st.write()?;
    let (f, t) = pair(&store, &from, &to, &caller)?;
    write_scopes(&store, f, t, &caller)?;
    for i in &ins {
        let (Some(a), Some(b)) = (parse_id(&id_of(i, "from")), parse_id(&id_of(i, "to"))) else { continue };
        let specs: Vec<Spec> = serde_json::from_value(i.get("types").cloned().unwrap_or(json!([]))).map_err(|e| ApiError::bad_json(e.to_string()))?;
        let types: Vec<u32> = specs.iter().map(|s| s.association_type_id).collect();
        store.assoc.unlink(f, a, t, b, Some(&types));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn labels_list(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((from, to)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let store = st.read()?;
    let (f, t) = pair(&store, &from, &to, &caller)?;
    let results: Vec<Value> = store.assoc.labels_between(f, t).map(|l| spec_json(&store, f, t, l.type_id)).collect();
    Ok(Json(json!({ "results": results })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelCreate {
    pub label: String,
    pub name: String,
    #[serde(default)]
    pub inverse_label: Option<String>,
}

pub async fn labels_create(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((from, to)): Path<(String, String)>, Json(body): Json<LabelCreate>) -> ApiResult<Json<Value>> {
    let mut store = st.write()?;
    let (f, t) = pair(&store, &from, &to, &caller)?;
    write_scopes(&store, f, t, &caller)?;
    if store.assoc.labels_between(f, t).any(|l| l.name == body.name) {
        return Err(ApiError::conflict(format!("An association label named {} already exists.", body.name)));
    }
    let fwd = store.assoc.next_label_id;
    store.assoc.next_label_id += 2;
    store.assoc.define(f, t, fwd, fwd + 1, Some(&body.label), "USER_DEFINED", &body.name);
    if let Some(inv) = &body.inverse_label {
        for l in store.assoc.labels.iter_mut().filter(|l| l.type_id == fwd + 1 && l.from == t && l.to == f) {
            l.label = Some(inv.clone());
        }
    }
    let results: Vec<Value> = store.assoc.labels.iter().filter(|l| (l.type_id == fwd && l.from == f) || (l.type_id == fwd + 1 && l.from == t)).map(|l| spec_json(&store, l.from, l.to, l.type_id)).collect();
    Ok(Json(json!({ "results": results })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelUpdate {
    pub association_type_id: u32,
    pub label: String,
}

pub async fn labels_update(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((from, to)): Path<(String, String)>, Json(body): Json<LabelUpdate>) -> ApiResult<StatusCode> {
    let mut store = st.write()?;
    let (f, t) = pair(&store, &from, &to, &caller)?;
    write_scopes(&store, f, t, &caller)?;
    match store.assoc.labels.iter_mut().find(|l| l.from == f && l.to == t && l.type_id == body.association_type_id) {
        Some(l) if l.category == "USER_DEFINED" => {
            l.label = Some(body.label);
            Ok(StatusCode::NO_CONTENT)
        }
        Some(_) => Err(ApiError::validation("HubSpot-defined association labels can't be changed.")),
        None => Err(ApiError::not_found(format!("Association type {} not found", body.association_type_id))),
    }
}

pub async fn labels_delete(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((from, to, type_id)): Path<(String, String, u32)>) -> ApiResult<StatusCode> {
    let mut store = st.write()?;
    let (f, t) = pair(&store, &from, &to, &caller)?;
    write_scopes(&store, f, t, &caller)?;
    let Some(l) = store.assoc.label(f, t, type_id).cloned() else {
        return Err(ApiError::not_found(format!("Association type {type_id} not found")));
    };
    if l.category != "USER_DEFINED" {
        return Err(ApiError::validation("HubSpot-defined association labels can't be deleted."));
    }
    store.assoc.labels.retain(|x| !((x.from == f && x.to == t && x.type_id == type_id) || (x.from == t && x.to == f && x.type_id == l.inverse)));
    for m in store.assoc.edges.values_mut() {
        for v in m.values_mut() {
            v.retain(|(_, ty)| *ty != type_id && *ty != l.inverse);
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
