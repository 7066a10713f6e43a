//! Webhooks v3: app settings (target URL), subscriptions, and batched deliveries signed with
//! `X-HubSpot-Signature-v3` (base64 HMAC-SHA256 over `POST` + URL + body + timestamp, keyed
//! by the app's client secret) and `X-HubSpot-Request-Timestamp`, retried with backoff.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json};
use crate::state::AppState;
use crate::util::iso_ms;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A change in the portal that may produce webhook events.
#[derive(Debug, Clone)]
pub enum Change {
    Created { ti: usize, id: u64, at: i64 },
    Property { ti: usize, id: u64, name: String, value: String, at: i64 },
    Deleted { ti: usize, id: u64, at: i64 },
    Merged { ti: usize, primary: u64, loser: u64, at: i64 },
    Association { from: String, from_id: String, to: String, to_id: String, removed: bool, at: i64 },
}

#[derive(Debug, Clone)]
struct Sub {
    id: u64,
    event_type: String,
    property_name: Option<String>,
    active: bool,
    created: i64,
    updated: i64,
}

#[derive(Debug, Clone)]
struct Settings {
    target_url: String,
    max_concurrent: u32,
    created: i64,
    updated: i64,
}

/// One delivery attempt, for `GET /_sandbox/webhooks/deliveries`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub target_url: String,
    pub events: usize,
    pub attempt: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub at: String,
}

#[derive(Default)]
struct Inner {
    settings: Option<Settings>,
    subs: BTreeMap<u64, Sub>,
    next_sub: u64,
    queue: Vec<Value>,
    next_event: u64,
    deliveries: Vec<Delivery>,
}

#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    notify: tokio::sync::Notify,
}

fn kind(type_name: &str) -> Option<&'static str> {
    Some(match type_name {
        "contacts" => "contact",
        "companies" => "company",
        "deals" => "deal",
        "tickets" => "ticket",
        _ => return None,
    })
}

impl Hub {
    /// Whether changes can become events now (the app's settings are set and a subscription is
    /// active); [`Hub::emit`] drops them otherwise.
    pub fn listening(&self) -> bool {
        self.inner.lock().is_ok_and(|i| i.settings.is_some() && i.subs.values().any(|s| s.active))
    }

    /// Turns changes into events for matching active subscriptions and queues them.
    pub fn emit(&self, st: &AppState, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else { return };
        if inner.settings.is_none() || !inner.subs.values().any(|s| s.active) {
            return;
        }
        let type_names: Vec<(String, String)> = match st.store.read() {
            Ok(s) => s.types.iter().map(|t| (t.name.clone(), t.type_id.clone())).collect(),
            Err(_) => return,
        };
        let resolve_name = |n: &str| -> Option<String> {
            let lower = n.to_lowercase();
            type_names.iter().find(|(name, id)| *name == lower || *id == lower).map(|(name, _)| name.clone())
        };
        let subs: Vec<Sub> = inner.subs.values().filter(|s| s.active).cloned().collect();
        let mut events = Vec::new();
        for c in changes {
            let (tname, suffix, at, id, extra): (String, &str, i64, String, Value) = match &c {
                Change::Created { ti, id, at } => (type_names[*ti].0.clone(), "creation", *at, id.to_string(), json!({})),
                Change::Deleted { ti, id, at } => (type_names[*ti].0.clone(), "deletion", *at, id.to_string(), json!({})),
                Change::Property { ti, id, name, value, at } => (type_names[*ti].0.clone(), "propertyChange", *at, id.to_string(), json!({ "propertyName": name, "propertyValue": value })),
                Change::Merged { ti, primary, loser, at } => (type_names[*ti].0.clone(), "merge", *at, primary.to_string(), json!({ "primaryObjectId": primary, "mergedObjectIds": [loser], "newObjectId": primary, "numberOfPropertiesMoved": 0 })),
                Change::Association { from, from_id, to, to_id, removed, at } => {
                    let f = resolve_name(from).unwrap_or_else(|| from.clone());
                    let t = resolve_name(to).unwrap_or_else(|| to.clone());
                    let assoc_type = format!("{}_TO_{}", kind(&f).unwrap_or("object").to_uppercase(), kind(&t).unwrap_or("object").to_uppercase());
                    (f, "associationChange", *at, from_id.clone(), json!({ "associationType": assoc_type, "fromObjectId": from_id.parse::<u64>().unwrap_or(0), "toObjectId": to_id.parse::<u64>().unwrap_or(0), "associationRemoved": removed, "isPrimaryAssociation": false }))
                }
            };
            let Some(k) = kind(&tname) else { continue };
            let event_type = format!("{k}.{suffix}");
            for s in subs.iter().filter(|s| s.event_type == event_type) {
                if suffix == "propertyChange" && s.property_name.as_deref() != extra.get("propertyName").and_then(Value::as_str) {
                    continue;
                }
                inner.next_event += 1;
                let mut e = json!({
                    "eventId": 100_000 + inner.next_event,
                    "subscriptionId": s.id,
                    "portalId": st.cfg.portal_id,
                    "appId": st.demo_app.app_id,
                    "occurredAt": at,
                    "subscriptionType": event_type,
                    "attemptNumber": 0,
                    "objectId": id.parse::<u64>().unwrap_or(0),
                    "changeSource": "CRM",
                    "changeFlag": if suffix == "creation" { "NEW" } else if suffix == "deletion" { "DELETED" } else { "UPDATED" },
                });
                if let (Some(eo), Some(xo)) = (e.as_object_mut(), extra.as_object()) {
                    for (kk, vv) in xo {
                        eo.insert(kk.clone(), vv.clone());
                    }
                }
                events.push(e);
            }
        }
        if !events.is_empty() {
            inner.queue.extend(events);
            drop(inner);
            self.notify.notify_one();
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.lock().map(|i| i.deliveries.clone()).unwrap_or_default()
    }
}

/// `X-HubSpot-Signature-v3` for a request.
pub fn signature_v3(secret: &str, method: &str, uri: &str, body: &str, timestamp: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("{method}{uri}{body}{timestamp}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn spawn_dispatcher(st: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder().timeout(Duration::from_secs(5)).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook client unavailable");
                return;
            }
        };
        loop {
            st.webhooks.notify.notified().await;
            // Batch window: gather events for a moment, then send up to 100 per request.
            tokio::time::sleep(Duration::from_millis(st.cfg.webhook_batch_ms)).await;
            loop {
                let (batch, target) = {
                    let Ok(mut inner) = st.webhooks.inner.lock() else { return };
                    let Some(target) = inner.settings.as_ref().map(|s| s.target_url.clone()) else {
                        inner.queue.clear();
                        break;
                    };
                    if inner.queue.is_empty() {
                        break;
                    }
                    let n = inner.queue.len().min(100);
                    (inner.queue.drain(..n).collect::<Vec<_>>(), target)
                };
                let st2 = st.clone();
                let client = client.clone();
                tokio::spawn(async move { deliver(st2, client, target, batch).await });
            }
        }
    })
}

async fn deliver(st: Arc<AppState>, client: reqwest::Client, target: String, mut batch: Vec<Value>) {
    let max = st.cfg.webhook_max_attempts.max(1);
    for attempt in 0..max {
        for e in batch.iter_mut() {
            e["attemptNumber"] = json!(attempt);
        }
        let body = Value::Array(batch.clone()).to_string();
        let ts = crate::util::wall_ms();
        let sig = signature_v3(&st.demo_app.client_secret, "POST", &target, &body, ts);
        let res = client
            .post(&target)
            .header("Content-Type", "application/json")
            .header("X-HubSpot-Signature-v3", sig)
            .header("X-HubSpot-Request-Timestamp", ts.to_string())
            .header("User-Agent", "HubSpot Connect 2.0 (http://dev.hubspot.com/) (Spoke demo portal)")
            .body(body)
            .send()
            .await;
        let (status, error) = match &res {
            Ok(r) => (Some(r.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        if let Ok(mut inner) = st.webhooks.inner.lock() {
            inner.deliveries.push(Delivery { target_url: target.clone(), events: batch.len(), attempt, status, error, at: iso_ms(crate::util::wall_ms()) });
            if inner.deliveries.len() > 1000 {
                inner.deliveries.remove(0);
            }
        }
        if ok {
            return;
        }
        tracing::warn!(target = %target, attempt, ?status, "webhook delivery failed; retrying");
        tokio::time::sleep(Duration::from_millis(st.cfg.webhook_batch_ms.max(10) * (1 << attempt.min(10)))).await;
    }
}

fn check_app(st: &AppState, app_id: &str, q: &Option<String>, caller: Option<&Caller>) -> ApiResult<()> {
    let key_ok = crate::crm::Params::parse(q.clone()).one("hapikey") == Some(st.demo_app.developer_api_key.as_str());
    if !key_ok && caller.is_none() {
        return Err(ApiError::unauthorized("INVALID_AUTHENTICATION", "The developer API key provided is invalid."));
    }
    if app_id != st.demo_app.app_id.to_string() {
        return Err(ApiError::not_found(format!("App {app_id} not found")));
    }
    Ok(())
}

fn render_settings(s: &Settings) -> Value {
    json!({ "targetUrl": s.target_url, "throttling": { "maxConcurrentRequests": s.max_concurrent, "period": "SECONDLY" }, "createdAt": iso_ms(s.created), "updatedAt": iso_ms(s.updated) })
}

fn render_sub(s: &Sub) -> Value {
    let mut v = json!({ "id": s.id.to_string(), "eventType": s.event_type, "active": s.active, "createdAt": iso_ms(s.created), "updatedAt": iso_ms(s.updated) });
    if let Some(p) = &s.property_name {
        v["propertyName"] = json!(p);
    }
    v
}

type Ext = Option<Extension<Caller>>;

pub async fn settings_get(State(st): State<Arc<AppState>>, c: Ext, Path(app_id): Path<String>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    check_app(&st, &app_id, &q, c.as_ref().map(|e| &e.0))?;
    let inner = st.webhooks.inner.lock().map_err(|_| ApiError::internal("webhooks poisoned"))?;
    inner.settings.as_ref().map(|s| Json(render_settings(s))).ok_or_else(|| ApiError::not_found("No webhook settings for this app"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsIn {
    pub target_url: String,
    #[serde(default)]
    pub throttling: Option<Value>,
}

pub async fn settings_put(State(st): State<Arc<AppState>>, c: Ext, Path(app_id): Path<String>, RawQuery(q): RawQuery, Json(body): Json<SettingsIn>) -> ApiResult<Json<Value>> {
    check_app(&st, &app_id, &q, c.as_ref().map(|e| &e.0))?;
    if url::Url::parse(&body.target_url).is_err() {
        return Err(ApiError::validation(format!("targetUrl {} is not a valid URL", body.target_url)));
    }
    let now = st.clock.now_ms();
    let max = body.throttling.as_ref().and_then(|t| t.get("maxConcurrentRequests")).and_then(Value::as_u64).unwrap_or(10) as u32;
    let mut inner = st.webhooks.inner.lock().map_err(|_| ApiError::internal("webhooks poisoned"))?;
    let created = inner.settings.as_ref().map(|s| s.created).unwrap_or(now);
    let s = Settings { target_url: body.target_url, max_concurrent: max, created, updated: now };
    let v = render_settings(&s);
    inner.settings = Some(s);
    Ok(Json(v))
}

pub async fn settings_delete(State(st): State<Arc<AppState>>, c: Ext, Path(app_id): Path<String>, RawQuery(q): RawQuery) -> ApiResult<StatusCode> {
    check_app(&st, &app_id, &q, c.as_ref().map(|e| &e.0))?;
    let mut inner = st.webhooks.inner.lock().map_err(|_| ApiError::internal("webhooks poisoned"))?;
    inner.settings = None;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn subs_list(State(st): State<Arc<AppState>>, c: Ext, Path(app_id): Path<String>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    check_app(&st, &app_id, &q, c.as_ref().map(|e| &e.0))?;
    let inner = st.webhooks.inner.lock().map_err(|_| ApiError::internal("webhooks poisoned"))?;
    Ok(Json(json!({ "results": inner.subs.values().map(render_sub).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubIn {
    pub event_type: String,
    #[serde(default)]
    pub property_name: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

const EVENT_TYPES: &[&str] = &["creation", "deletion", "propertyChange", "merge", "associationChange", "restore", "privacyDeletion"];

pub async fn subs_create(State(st): State<Arc<AppState>>, c: Ext, Path(app_id): Path<String>, RawQuery(q): RawQuery, Json(body): Json<SubIn>) -> ApiResult<Response> {
    check_app(&st, &app_id, &q, c.as_ref().map(|e| &e.0))?;
    let valid = body.event_type.split_once('.').is_some_and(|(obj, ev)| kind(&format!("{obj}s").replace("companys", "companies")).is_some() && EVENT_TYPES.contains(&ev));
    if !valid {
        return Err(ApiError::validation(format!("{} is not a valid event type", body.event_type)));
    }
    if body.event_type.ends_with(".propertyChange") && body.property_name.is_none() {
        return Err(ApiError::validation("propertyName is required for propertyChange subscriptions"));
    }
    let now = st.clock.now_ms();
    let mut inner = st.webhooks.inner.lock().map_err(|_| ApiError::internal("webhooks poisoned"))?;
    inner.next_sub += 1;
    let id = 1_000 + inner.next_sub;
    let s = Sub { id, event_type: body.event_type, property_name: body.property_name, active: body.active.unwrap_or(true), created: now, updated: now };
    let v = render_sub(&s);
    inner.subs.insert(id, s);
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

fn sub_id(s: &str) -> ApiResult<u64> {
    s.parse().map_err(|_| ApiError::not_found(format!("Subscription {s} not found")))
}

pub async fn sub_get(State(st): State<Arc<AppState>>, c: Ext, Path((app_id, sid)): Path<(String, String)>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    check_app(&st, &app_id, &q, c.as_ref().map(|e| &e.0))?;
    let id = sub_id(&sid)?;
    let inner = st.webhooks.inner.lock().map_err(|_| ApiError::internal("webhooks poisoned"))?;
    inner.subs.get(&id).map(|s| Json(render_sub(s))).ok_or_else(|| ApiError::not_found(format!("Subscription {sid} not found")))
}

pub async fn sub_patch(State(st): State<Arc<AppState>>, c: Ext, Path((app_id, sid)): Path<(String, String)>, RawQuery(q): RawQuery, Json(body): Json<Value>) -> ApiResult<Json<Value>> {
    check_app(&st, &app_id, &q, c.as_ref().map(|e| &e.0))?;
    let id = sub_id(&sid)?;
    let now = st.clock.now_ms();
    let mut inner = st.webhooks.inner.lock().map_err(|_| ApiError::internal("webhooks poisoned"))?;
    let s = inner.subs.get_mut(&id).ok_or_else(|| ApiError::not_found(format!("Subscription {sid} not found")))?;
    if let Some(a) = body.get("active").and_then(Value::as_bool) {
        s.active = a;
    }
    s.updated = now;
    Ok(Json(render_sub(s)))
}

pub async fn sub_delete(State(st): State<Arc<AppState>>, c: Ext, Path((app_id, sid)): Path<(String, String)>, RawQuery(q): RawQuery) -> ApiResult<StatusCode> {
    check_app(&st, &app_id, &q, c.as_ref().map(|e| &e.0))?;
    let id = sub_id(&sid)?;
    let mut inner = st.webhooks.inner.lock().map_err(|_| ApiError::internal("webhooks poisoned"))?;
    inner.subs.remove(&id).map(|_| StatusCode::NO_CONTENT).ok_or_else(|| ApiError::not_found(format!("Subscription {sid} not found")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_hmac_sha256_base64() {
        // Computed independently: printf 'POSThttps://x/y{}1' | openssl dgst -sha256 -hmac secret -binary | base64
        let s = super::signature_v3("secret", "POST", "https://x/y", "{}", 1);
        assert_eq!(s, "PKC0wC6lrb2MjOxTMLvRmVu6I2Ep07GHC3Hyu8Rosqo=");
        assert_ne!(s, super::signature_v3("secret", "POST", "https://x/y", "{}", 2));
    }
}
