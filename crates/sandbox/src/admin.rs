//! The admin API under `/_sandbox/` — for tests, not part of HubSpot's surface. No auth.
//!
//! | method & path | body | effect |
//! |---|---|---|
//! | `GET /_sandbox` | | portal id, base URL, private-app token, demo app, tier, limits |
//! | `POST /_sandbox/objects/{type}` | `{"properties":{…}}` | create a record as a HubSpot user would |
//! | `POST /_sandbox/objects/{type}/{id}/update` | `{"properties":{…},"force":false}` | change a record as a user (bumps `lastmodifieddate`/`hs_lastmodifieddate`; `force` also sets read-only/calculated values) |
//! | `POST /_sandbox/objects/{type}/bulk-update` | `{"properties":{…},"count":12000}` or `"ids":[…]` | update many records with one identical millisecond timestamp |
//! | `POST /_sandbox/objects/{type}/merge` | `{"primaryObjectId","objectIdToMerge"}` | merge (loser disappears, redirects; survivor gains `hs_merged_object_ids`) |
//! | `POST /_sandbox/objects/{type}/{id}/archive` | | archive (recycle bin, `archived=true` lists) |
//! | `DELETE /_sandbox/objects/{type}/{id}` | | hard delete / GDPR delete (gone everywhere) |
//! | `POST /_sandbox/associations` | `{"fromType","fromId","toType","toId","typeId"?,"remove":false}` | change associations only (no timestamp bump) |
//! | `POST /_sandbox/tokens` | `{"scopes":[…],"kind":"private"\|"oauth","expiresInSecs"?}` | mint a token with chosen scopes |
//! | `POST /_sandbox/tokens/revoke` | `{"token"}` | revoke an access or refresh token |
//! | `POST /_sandbox/tokens/unauthorized` | `{"token","count"}` | the token's next `count` API calls answer 401 (mid-run expiry) |
//! | `PUT /_sandbox/private-app/scopes` | `{"scopes":[…],"token"?}` | change a private app's scopes (default: the all-scopes token) |
//! | `GET`/`PUT`/`DELETE /_sandbox/faults` | [`crate::FaultConfig`] JSON | read / set / clear faults |
//! | `GET`/`DELETE /_sandbox/requests` | | request counters (total, per route, per operation with batch ops resolved, faults injected) / reset |
//! | `POST /_sandbox/clock/advance` | `{"ms"}` | move the sandbox clock forward (token expiry, search lag) |
//! | `PUT /_sandbox/rate-limits/daily-used` | `{"used"}` | set today's usage (test the `DAILY` policy) |
//! | `GET /_sandbox/webhooks/deliveries` | | webhook delivery attempts |

use crate::auth::{AccessToken, TokenKind};
use crate::crm::{parse_id, render, resolve, validate, validation_error, Writes};
use crate::error::{ApiError, ApiResult, Json};
use crate::faults::FaultConfig;
use crate::model::Derived;
use crate::state::AppState;
use crate::webhooks::Change;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(index))
        .route("/objects/{object_type}", post(create))
        .route("/objects/{object_type}/bulk-update", post(bulk_update))
        .route("/objects/{object_type}/merge", post(merge))
        .route("/objects/{object_type}/{id}/update", post(update))
        .route("/objects/{object_type}/{id}/archive", post(archive))
        .route("/objects/{object_type}/{id}", delete(hard_delete))
        .route("/associations", post(associations))
        .route("/tokens", post(mint_token))
        .route("/tokens/revoke", post(revoke))
        .route("/tokens/unauthorized", post(force_401))
        .route("/private-app/scopes", put(private_scopes))
        .route("/faults", get(faults_get).put(faults_put).delete(faults_clear))
        .route("/requests", get(requests).delete(requests_reset))
        .route("/clock/advance", post(clock_advance))
        .route("/rate-limits/daily-used", put(daily_used))
        .route("/webhooks/deliveries", get(deliveries))
}

async fn index(State(st): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let store = st.read()?;
    let counts: Map<String, Value> = store.types.iter().map(|t| (t.name.clone(), json!({ "objectTypeId": t.type_id, "live": t.records.len(), "archived": t.archived.len() }))).collect();
    let app = &st.demo_app;
    let files = st.files()?.files.values().filter(|f| f.archived_ms.is_none()).count();
    Ok(Json(json!({
        "portalId": st.cfg.portal_id,
        "portalName": store.portal_name,
        "baseUrl": st.base_url,
        "tier": st.cfg.tier.as_str(),
        "seed": st.cfg.seed,
        "privateAppToken": st.private_token,
        "demoApp": { "name": app.name, "appId": app.app_id, "clientId": app.client_id, "clientSecret": app.client_secret, "redirectUris": app.redirect_uris, "scopes": app.scopes, "optionalScopes": app.optional_scopes, "developerApiKey": app.developer_api_key },
        "rateLimits": { "enforced": st.cfg.rate_limits, "burstPer10s": st.cfg.tier.burst_per_10s(), "oauthBurstPer10s": 110, "daily": st.cfg.tier.daily(), "searchPerSecond": crate::ratelimit::SEARCH_PER_SECOND },
        "objects": counts,
        "owners": store.owners.len(),
        "threads": store.threads.len(),
        "files": files,
    })))
}

#[derive(Deserialize)]
struct PropsBody {
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    force: bool,
}

/// Validates like the API but, with `force`, lets read-only and calculated stored values through.
fn admin_values(store: &crate::model::Store, ti: usize, props: &Map<String, Value>, force: bool) -> ApiResult<Vec<(u16, String)>> {
    if !force {
        return validate(store, ti, props).map_err(validation_error);
    }
    let t = &store.types[ti];
    props
        .iter()
        .map(|(k, v)| {
            let (key, def) = t.prop(k).ok_or_else(|| ApiError::validation(format!("Property \"{k}\" does not exist")))?;
            if def.derived != Derived::Stored {
                return Err(ApiError::validation(format!("{k} is derived from the record and can't be set")));
            }
            let value = match v { Value::String(s) => s.clone(), Value::Null => String::new(), o => o.to_string() };
            if value.len() > 65_535 {
                return Err(ApiError::validation(format!("Value for {k} is longer than 65,535 bytes")));
            }
            Ok((key, value))
        })
        .collect()
}

async fn create(State(st): State<Arc<AppState>>, Path(object_type): Path<String>, Json(body): Json<PropsBody>) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let mut w = Writes::new(&st);
    let out = {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        let values = admin_values(&store, ti, &body.properties, body.force)?;
        let id = w.create(&mut store, ti, values, now)?;
        let r = store.types[ti].records.get(&id).ok_or_else(|| ApiError::internal("record vanished"))?;
        let all: Vec<String> = store.types[ti].props.iter().map(|p| p.name.clone()).collect();
        render(&store, ti, r, Some(&all), None)
    };
    w.flush();
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

async fn update(State(st): State<Arc<AppState>>, Path((object_type, id)): Path<(String, String)>, Json(body): Json<PropsBody>) -> ApiResult<Json<Value>> {
    let now = st.clock.now_ms();
    let mut w = Writes::new(&st);
    let out = {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        let n = crate::crm::find(&store, ti, &id, None)?;
        let values = admin_values(&store, ti, &body.properties, body.force)?;
        w.update(&mut store, ti, n, &values, now, crate::model::Source::CrmUi)?;
        // A user edit always bumps the modification time, even when values are unchanged.
        let ts = store.types[ti].records.get(&n).map(|r| now.max(r.updated)).unwrap_or(now);
        store.types[ti].set_updated(n, ts);
        let r = store.types[ti].records.get(&n).ok_or_else(|| ApiError::internal("record vanished"))?;
        let all: Vec<String> = store.types[ti].props.iter().map(|p| p.name.clone()).collect();
        render(&store, ti, r, Some(&all), None)
    };
    w.flush();
    Ok(Json(out))
}

#[derive(Deserialize)]
struct BulkBody {
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    force: bool,
}

async fn bulk_update(State(st): State<Arc<AppState>>, Path(object_type): Path<String>, Json(body): Json<BulkBody>) -> ApiResult<Json<Value>> {
    let now = st.clock.now_ms();
    let started = std::time::Instant::now();
    let mut w = Writes::new(&st);
    let n = {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        let values = admin_values(&store, ti, &body.properties, body.force)?;
        let ids: Vec<u64> = match &body.ids {
            Some(ids) => ids.iter().filter_map(|s| parse_id(s)).filter(|id| store.types[ti].records.contains_key(id)).collect(),
            None => store.types[ti].records.keys().take(body.count.unwrap_or(12_000)).copied().collect(),
        };
        for id in &ids {
            w.update(&mut store, ti, *id, &values, now, crate::model::Source::BatchUpdate)?;
            store.types[ti].set_updated(*id, now);
        }
        ids.len()
    };
    w.flush();
    Ok(Json(json!({ "updated": n, "timestamp": now, "timestampIso": crate::util::iso_ms(now), "elapsedMicros": started.elapsed().as_micros() as u64 })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MergeBody {
    primary_object_id: String,
    object_id_to_merge: String,
}

async fn merge(State(st): State<Arc<AppState>>, Path(object_type): Path<String>, Json(body): Json<MergeBody>) -> ApiResult<Json<Value>> {
    let now = st.clock.now_ms();
    let mut w = Writes::new(&st);
    let out = {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        let (Some(a), Some(b)) = (parse_id(&body.primary_object_id), parse_id(&body.object_id_to_merge)) else {
            return Err(ApiError::validation("ids must be numeric"));
        };
        if a == b {
            return Err(ApiError::validation("Cannot merge an object with itself."));
        }
        let id = w.merge(&mut store, ti, a, b, now)?;
        let r = store.types[ti].records.get(&id).ok_or_else(|| ApiError::internal("record vanished"))?;
        render(&store, ti, r, Some(&["hs_merged_object_ids".to_string()]), None)
    };
    w.flush();
    Ok(Json(out))
}

async fn archive(State(st): State<Arc<AppState>>, Path((object_type, id)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let now = st.clock.now_ms();
    let mut w = Writes::new(&st);
    let found = {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        let n = crate::crm::find(&store, ti, &id, None)?;
        w.archive(&mut store, ti, n, now)
    };
    w.flush();
    Ok(if found { StatusCode::NO_CONTENT } else { StatusCode::NOT_FOUND })
}

async fn hard_delete(State(st): State<Arc<AppState>>, Path((object_type, id)): Path<(String, String)>) -> ApiResult<StatusCode> {
    let now = st.clock.now_ms();
    let mut w = Writes::new(&st);
    let found = {
        let mut store = st.write()?;
        let ti = resolve(&store, &object_type)?;
        let n = parse_id(&id).ok_or_else(|| ApiError::not_found(format!("{id} not found")))?;
        w.hard_delete(&mut store, ti, n, now)
    };
    w.flush();
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("{id} not found")))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssocBody {
    from_type: String,
    from_id: String,
    to_type: String,
    to_id: String,
    #[serde(default)]
    type_id: Option<u32>,
    #[serde(default)]
    remove: bool,
}

async fn associations(State(st): State<Arc<AppState>>, Json(b): Json<AssocBody>) -> ApiResult<Json<Value>> {
    let now = st.clock.now_ms();
    let result = {
        let mut store = st.write()?;
        let f = resolve(&store, &b.from_type)?;
        let t = resolve(&store, &b.to_type)?;
        let a = crate::crm::find(&store, f, &b.from_id, None)?;
        let c = crate::crm::find(&store, t, &b.to_id, None)?;
        let ty = match b.type_id {
            Some(ty) => ty,
            None => store.assoc.default_type(f, t).ok_or_else(|| ApiError::validation("no default association type for this pair"))?,
        };
        if store.assoc.label(f, t, ty).is_none() {
            return Err(ApiError::validation(format!("{ty} is not an association type from {} to {}", b.from_type, b.to_type)));
        }
        if b.remove {
            store.assoc.unlink(f, a, t, c, Some(&[ty]));
        } else {
            store.assoc.link(f, a, t, c, ty);
        }
        let now_types: Vec<u32> = store.assoc.of(f, a, t).into_iter().find(|(id, _)| *id == c).map(|(_, ts)| ts).unwrap_or_default();
        json!({ "fromId": a.to_string(), "toId": c.to_string(), "typeIds": now_types })
    };
    st.webhooks.emit(&st, vec![Change::Association { from: b.from_type, from_id: b.from_id, to: b.to_type, to_id: b.to_id, removed: b.remove, at: now }]);
    Ok(Json(result))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MintBody {
    scopes: Vec<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    expires_in_secs: Option<u64>,
}

async fn mint_token(State(st): State<Arc<AppState>>, Json(b): Json<MintBody>) -> ApiResult<Response> {
    let now = st.clock.now_ms();
    let oauth = b.kind.as_deref() == Some("oauth");
    let mut rng = rand::rng();
    let token = if oauth { crate::util::access_token(&mut rng) } else { format!("pat-na1-{}", crate::util::uuid_v4(&mut rng)) };
    let expires_at = if oauth { Some(now + b.expires_in_secs.unwrap_or(st.cfg.access_token_ttl_secs) as i64 * 1000) } else { b.expires_in_secs.map(|s| now + s as i64 * 1000) };
    st.auth()?.access.insert(
        token.clone(),
        AccessToken {
            kind: if oauth { TokenKind::OAuth } else { TokenKind::PrivateApp },
            scopes: Arc::new(b.scopes.iter().cloned().collect::<BTreeSet<_>>()),
            expires_at,
            revoked: false,
            app_id: if oauth { st.demo_app.app_id } else { st.private_app_id + 1 },
            client_id: oauth.then(|| st.demo_app.client_id.clone()),
            user_id: st.user_id,
        },
    );
    Ok((StatusCode::CREATED, axum::Json(json!({ "token": token, "scopes": b.scopes, "expiresAt": expires_at })))
        .into_response())
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
    #[serde(default)]
    count: Option<u32>,
}

async fn revoke(State(st): State<Arc<AppState>>, Json(b): Json<TokenBody>) -> ApiResult<StatusCode> {
    let mut auth = st.auth()?;
    let mut found = false;
    if let Some(t) = auth.access.get_mut(&b.token) {
        t.revoked = true;
        found = true;
    }
    if let Some(r) = auth.refresh.get_mut(&b.token) {
        r.revoked = true;
        found = true;
    }
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("unknown token"))
    }
}

async fn force_401(State(st): State<Arc<AppState>>, Json(b): Json<TokenBody>) -> ApiResult<StatusCode> {
    st.auth()?.force_401.insert(b.token, b.count.unwrap_or(1));
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ScopesBody {
    scopes: Vec<String>,
    #[serde(default)]
    token: Option<String>,
}

async fn private_scopes(State(st): State<Arc<AppState>>, Json(b): Json<ScopesBody>) -> ApiResult<Json<Value>> {
    let token = b.token.unwrap_or_else(|| st.private_token.clone());
    let mut auth = st.auth()?;
    let t = auth.access.get_mut(&token).filter(|t| t.kind == TokenKind::PrivateApp).ok_or_else(|| ApiError::not_found("unknown private-app token"))?;
    t.scopes = Arc::new(b.scopes.iter().cloned().collect());
    Ok(Json(json!({ "token": token, "scopes": b.scopes })))
}

async fn faults_get(State(st): State<Arc<AppState>>) -> Json<FaultConfig> {
    Json(st.faults_snapshot())
}

async fn faults_put(State(st): State<Arc<AppState>>, Json(f): Json<FaultConfig>) -> ApiResult<Json<FaultConfig>> {
    for (name, p) in [("errorRate", f.error_rate), ("resetRate", f.reset_rate), ("lostAnswerRate", f.lost_answer_rate), ("timeoutRate", f.timeout_rate), ("latencyTailRate", f.latency_tail_rate)] {
        if !(0.0..=1.0).contains(&p) {
            return Err(ApiError::validation(format!("{name} must be between 0 and 1")));
        }
    }
    st.set_faults(f.clone())?;
    tracing::info!(?f, "faults set");
    Ok(Json(f))
}

async fn faults_clear(State(st): State<Arc<AppState>>) -> ApiResult<StatusCode> {
    st.set_faults(FaultConfig::default())?;
    Ok(StatusCode::NO_CONTENT)
}

async fn requests(State(st): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let c = st.counters.lock().map_err(|_| ApiError::internal("counters poisoned"))?;
    Ok(Json(json!({ "total": c.total, "byRoute": c.by_route, "byOperation": c.by_operation, "faults": c.faults })))
}

async fn requests_reset(State(st): State<Arc<AppState>>) -> ApiResult<StatusCode> {
    let mut c = st.counters.lock().map_err(|_| ApiError::internal("counters poisoned"))?;
    *c = Default::default();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ClockBody {
    ms: i64,
}

async fn clock_advance(State(st): State<Arc<AppState>>, Json(b): Json<ClockBody>) -> ApiResult<Json<Value>> {
    if b.ms < 0 {
        return Err(ApiError::validation("the clock only moves forward"));
    }
    st.clock.advance(b.ms);
    Ok(Json(json!({ "now": st.clock.now_ms() })))
}

#[derive(Deserialize)]
struct DailyBody {
    used: u32,
}

async fn daily_used(State(st): State<Arc<AppState>>, Json(b): Json<DailyBody>) -> ApiResult<StatusCode> {
    let now = st.clock.now_ms();
    st.limiter.lock().map_err(|_| ApiError::internal("limiter poisoned"))?.set_daily_used(b.used, now);
    Ok(StatusCode::NO_CONTENT)
}

async fn deliveries(State(st): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "results": st.webhooks.deliveries() }))
}
