//! Shared server state and the router.

use crate::auth::{AccessToken, AuthState, Caller, TokenKind, ALL_SCOPES};
use crate::error::ApiError;
use crate::faults::FaultConfig;
use crate::model::{Record, Store};
use crate::ratelimit::{Limiter, Limits};
use crate::util::Clock;
use crate::{DemoApp, SandboxConfig};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Default)]
pub struct Counters {
    pub total: u64,
    pub by_route: BTreeMap<String, u64>,
    /// Like `by_route`, with the `{op}` of batch routes resolved (`…/batch/upsert`), so that
    /// reads and writes are told apart.
    pub by_operation: BTreeMap<String, u64>,
    pub faults: BTreeMap<String, u64>,
}

/// When a change becomes visible to search, and the version search sees until then.
pub type LagEntry = (i64, Option<Record>);

pub struct AppState {
    pub cfg: SandboxConfig,
    pub base_url: String,
    pub clock: Clock,
    pub store: RwLock<Store>,
    pub auth: Mutex<AuthState>,
    pub limiter: Mutex<Limiter>,
    pub faults: Mutex<FaultConfig>,
    /// Fast path: false while no fault (and no configured latency) is set.
    pub faults_on: std::sync::atomic::AtomicBool,
    pub counters: Mutex<Counters>,
    /// Search visibility lag: (type, id) → (visible at, the version search still sees).
    pub lag: Mutex<HashMap<(usize, u64), LagEntry>>,
    pub private_token: String,
    pub private_app_id: u64,
    pub user_id: u64,
    pub demo_app: DemoApp,
    pub webhooks: crate::webhooks::Hub,
    /// The file manager (Files API v3) and the key signing its download URLs.
    pub files: Mutex<crate::files::FileStore>,
    pub files_key: String,
}

fn pat_from_seed(seed: u64) -> String {
    let mut rng = crate::seed::Prng::new(seed.wrapping_mul(31).wrapping_add(7));
    let h: String = (0..4).map(|_| format!("{:08x}", rng.next_u64() as u32)).collect();
    format!("pat-na1-{}-{}-4{}-{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[16..20], &h[20..32])
}

impl AppState {
    pub fn new(cfg: SandboxConfig, base_url: String) -> Self {
        let mut store = crate::seed::build(cfg.seed, cfg.portal_id, crate::seed::SeedSizes { contacts: cfg.contacts });
        let mut files = crate::files::FileStore::new();
        crate::files::seed(&mut store, &mut files, cfg.seed, crate::seed::seed_epoch_ms());
        let private_token = cfg.token.clone().unwrap_or_else(|| pat_from_seed(cfg.seed));
        let mut rng = crate::seed::Prng::new(cfg.seed ^ 0xA11CE);
        let hex = |rng: &mut crate::seed::Prng, n: usize| -> String {
            (0..n).map(|_| format!("{:x}", rng.below(16))).collect()
        };
        let client_id = format!("{}-{}-{}-{}-{}", hex(&mut rng, 8), hex(&mut rng, 4), hex(&mut rng, 4), hex(&mut rng, 4), hex(&mut rng, 12));
        let client_secret = format!("{}-{}-{}-{}-{}", hex(&mut rng, 8), hex(&mut rng, 4), hex(&mut rng, 4), hex(&mut rng, 4), hex(&mut rng, 12));
        let developer_api_key = format!("{}-{}-{}-{}-{}", hex(&mut rng, 8), hex(&mut rng, 4), hex(&mut rng, 4), hex(&mut rng, 4), hex(&mut rng, 12));
        let mut redirect_uris = Vec::new();
        for host in ["localhost", "127.0.0.1"] {
            for port in 53135..=53139 {
                redirect_uris.push(format!("http://{host}:{port}/callback"));
            }
        }
        redirect_uris.extend(cfg.extra_redirect_uris.iter().cloned());
        let scopes: Vec<String> = [
            "oauth",
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "crm.objects.companies.read",
            "crm.objects.companies.write",
            "crm.objects.deals.read",
            "crm.objects.deals.write",
            "crm.schemas.contacts.read",
            "crm.schemas.companies.read",
            "crm.schemas.deals.read",
            "crm.objects.owners.read",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let optional_scopes: Vec<String> = ALL_SCOPES.iter().filter(|s| !scopes.iter().any(|x| x == *s)).map(|s| s.to_string()).collect();
        let demo_app = DemoApp {
            name: "Spoke Demo App".into(),
            app_id: 3_145_926,
            client_id,
            client_secret,
            redirect_uris,
            scopes,
            optional_scopes,
            developer_api_key,
        };
        let files_key = hex(&mut rng, 64);
        let mut auth = AuthState::default();
        let private_app_id = 2_718_281;
        auth.access.insert(
            private_token.clone(),
            AccessToken {
                kind: TokenKind::PrivateApp,
                scopes: Arc::new(ALL_SCOPES.iter().map(|s| s.to_string()).collect()),
                expires_at: None,
                revoked: false,
                app_id: private_app_id,
                client_id: None,
                user_id: 5_400_000,
            },
        );
        AppState {
            faults_on: std::sync::atomic::AtomicBool::new(cfg.faults != FaultConfig::default() || cfg.latency_ms > 0),
            faults: Mutex::new(cfg.faults.clone()),
            cfg,
            base_url,
            clock: Clock::default(),
            store: RwLock::new(store),
            auth: Mutex::new(auth),
            limiter: Mutex::new(Limiter::default()),
            counters: Mutex::new(Counters::default()),
            lag: Mutex::new(HashMap::new()),
            private_token,
            private_app_id,
            user_id: 5_400_000,
            demo_app,
            webhooks: crate::webhooks::Hub::default(),
            files: Mutex::new(files),
            files_key,
        }
    }

    pub fn read(&self) -> Result<RwLockReadGuard<'_, Store>, ApiError> {
        self.store.read().map_err(|_| ApiError::internal("store poisoned"))
    }
    pub fn write(&self) -> Result<RwLockWriteGuard<'_, Store>, ApiError> {
        self.store.write().map_err(|_| ApiError::internal("store poisoned"))
    }
    pub fn files(&self) -> Result<MutexGuard<'_, crate::files::FileStore>, ApiError> {
        self.files.lock().map_err(|_| ApiError::internal("file store poisoned"))
    }
    pub fn auth(&self) -> Result<MutexGuard<'_, AuthState>, ApiError> {
        self.auth.lock().map_err(|_| ApiError::internal("auth poisoned"))
    }

    pub fn limiter_check(&self, caller: &Caller, search: bool) -> Result<Vec<(&'static str, String)>, ApiError> {
        let now = self.clock.now_ms();
        let limits = Limits { tier: self.cfg.tier, enforce: self.cfg.rate_limits, portal_id: self.cfg.portal_id };
        let mut l = self.limiter.lock().map_err(|_| ApiError::internal("limiter poisoned"))?;
        l.check(caller, search, now, &limits)
    }

    pub fn faults_snapshot(&self) -> FaultConfig {
        if !self.faults_active() {
            return FaultConfig::default();
        }
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    pub fn faults_active(&self) -> bool {
        self.faults_on.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Replaces the fault configuration (admin API).
    pub fn set_faults(&self, f: FaultConfig) -> Result<(), ApiError> {
        let on = f != FaultConfig::default() || self.cfg.latency_ms > 0;
        *self.faults.lock().map_err(|_| ApiError::internal("faults poisoned"))? = f;
        self.faults_on.store(on, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    pub fn take_token_429(&self) -> bool {
        match self.faults.lock() {
            Ok(mut f) if f.token_endpoint_429 > 0 => {
                f.token_endpoint_429 -= 1;
                true
            }
            _ => false,
        }
    }

    pub fn count_fault(&self, kind: &str) {
        if let Ok(mut c) = self.counters.lock() {
            *c.faults.entry(kind.to_string()).or_default() += 1;
        }
    }

    pub fn search_lag_ms(&self) -> u64 {
        self.cfg.search_lag_ms.max(self.faults_snapshot().search_lag_ms)
    }

    /// Remembers what search saw before a write, when search lag is on.
    pub fn note_write(&self, ty: usize, id: u64, before: Option<Record>) {
        let lag = self.search_lag_ms();
        if lag == 0 {
            return;
        }
        let visible_at = self.clock.now_ms() + lag as i64;
        if let Ok(mut m) = self.lag.lock() {
            let e = m.entry((ty, id)).or_insert((visible_at, before));
            e.0 = visible_at;
        }
    }

    /// Versions search must still show: (type, id) → old record (None = not yet visible).
    pub fn lagged(&self, ty: usize) -> HashMap<u64, Option<Record>> {
        let now = self.clock.now_ms();
        let Ok(mut m) = self.lag.lock() else { return HashMap::new() };
        m.retain(|_, (at, _)| *at > now);
        m.iter().filter(|((t, _), _)| *t == ty).map(|((_, id), (_, r))| (*id, r.clone())).collect()
    }

    pub fn all_scopes_set() -> BTreeSet<String> {
        ALL_SCOPES.iter().map(|s| s.to_string()).collect()
    }
}

async fn count_requests(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let key = format!(
        "{} {}",
        req.method(),
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| req.uri().path().to_string())
    );
    if !key.contains(" /_sandbox") {
        let op_key = key.contains("{op}").then(|| {
            let (method, matched) = key.split_once(' ').unwrap_or_default();
            let resolved: Vec<&str> = matched
                .split('/')
                .zip(req.uri().path().split('/'))
                .map(|(m, actual)| if m == "{op}" { actual } else { m })
                .collect();
            format!("{method} {}", resolved.join("/"))
        });
        if let Ok(mut c) = st.counters.lock() {
            c.total += 1;
            *c.by_operation.entry(op_key.unwrap_or_else(|| key.clone())).or_default() += 1;
            match c.by_route.get_mut(&key) {
                Some(n) => *n += 1,
                None => {
                    c.by_route.insert(key, 1);
                }
            }
        }
    }
    tracing::debug!(method = %req.method(), path = %req.uri().path(), "request");
    next.run(req).await
}

fn crm_routes() -> Router<Arc<AppState>> {
    use crate::{assoc_api as a, crm as c, search as s};
    Router::new()
        .route("/{object_type}", get(c::list).post(c::create))
        .route("/{object_type}/search", post(s::search))
        .route("/{object_type}/merge", post(c::merge))
        .route("/{object_type}/gdpr-delete", post(c::gdpr_delete))
        .route("/{object_type}/batch/{op}", post(c::batch))
        .route("/{object_type}/{id}", get(c::get).patch(c::update).delete(c::archive))
        .route("/{object_type}/{id}/associations/{to_type}", get(a::list))
        .route("/{object_type}/{id}/associations/{to_type}/{to_id}", put(a::put_labels).delete(a::delete))
        .route("/{object_type}/{id}/associations/default/{to_type}/{to_id}", put(a::put_default))
}

fn assoc_routes() -> Router<Arc<AppState>> {
    use crate::assoc_api as a;
    Router::new()
        .route("/{from}/{to}/batch/read", post(a::batch_read))
        .route("/{from}/{to}/batch/create", post(a::batch_create))
        .route("/{from}/{to}/batch/archive", post(a::batch_archive))
        .route("/{from}/{to}/batch/labels/archive", post(a::batch_labels_archive))
        .route("/{from}/{to}/batch/associate/default", post(a::batch_default))
        .route("/{from}/{to}/labels", get(a::labels_list).post(a::labels_create).put(a::labels_update))
        .route("/{from}/{to}/labels/{type_id}", axum::routing::delete(a::labels_delete))
}

fn property_routes() -> Router<Arc<AppState>> {
    use crate::meta as m;
    Router::new()
        .route("/{object_type}", get(m::properties_list).post(m::property_create))
        .route("/{object_type}/batch/read", post(m::properties_batch_read))
        .route("/{object_type}/batch/create", post(m::properties_batch_create))
        .route("/{object_type}/groups", get(m::groups_list).post(m::group_create))
        .route("/{object_type}/groups/{group}", get(m::group_get))
        .route("/{object_type}/{name}", get(m::property_get).patch(m::property_update).delete(m::property_archive))
}

fn schema_routes() -> Router<Arc<AppState>> {
    use crate::meta as m;
    Router::new()
        .route("/schemas", get(m::schemas_list).post(m::schema_create))
        .route("/schemas/{object_type}", get(m::schema_get).delete(m::schema_archive))
}

pub fn router(st: Arc<AppState>) -> Router {
    use crate::{conversations as cv, files as f, meta as m, oauth as o, webhooks as w};
    let api = Router::new()
        .route("/account-info/v3/details", get(m::account_details))
        .route("/account-info/2026-03/details", get(m::account_details))
        .route("/account-info/v3/api-usage/daily/private-apps", get(m::api_usage))
        .route("/account-info/2026-03/api-usage/daily/private-apps", get(m::api_usage))
        .nest("/crm/v3/objects", crm_routes())
        .nest("/crm/objects/2026-03", crm_routes())
        .nest("/crm/v4/objects", crm_routes())
        .nest("/crm/v4/associations", assoc_routes())
        .nest("/crm/associations/v4", assoc_routes())
        .nest("/crm/associations/2026-03", assoc_routes())
        .nest("/crm/v3/properties", property_routes())
        .nest("/crm/properties/2026-03", property_routes())
        .nest("/crm-object-schemas/v3", schema_routes())
        .nest("/crm-object-schemas/2026-03", schema_routes())
        .route("/crm/v3/owners", get(m::owners_list))
        .route("/crm/v3/owners/", get(m::owners_list))
        .route("/crm/v3/owners/{owner_id}", get(m::owner_get))
        .route("/crm/owners/2026-03", get(m::owners_list))
        .route("/crm/owners/2026-03/{owner_id}", get(m::owner_get))
        .route("/conversations/v3/conversations/threads", get(cv::threads))
        .route("/conversations/v3/conversations/threads/{thread_id}", get(cv::thread))
        .route("/conversations/v3/conversations/threads/{thread_id}/messages", get(cv::messages).post(cv::reply))
        .route("/conversations/v3/conversations/threads/{thread_id}/messages/{message_id}", get(cv::message))
        .route("/webhooks/v3/{app_id}/settings", get(w::settings_get).put(w::settings_put).delete(w::settings_delete))
        .route("/webhooks/v3/{app_id}/subscriptions", get(w::subs_list).post(w::subs_create))
        .route("/webhooks/v3/{app_id}/subscriptions/{sub_id}", get(w::sub_get).patch(w::sub_patch).delete(w::sub_delete))
        .route("/files/v3/files", post(f::upload).layer(axum::extract::DefaultBodyLimit::max(crate::files::MAX_UPLOAD_BYTES + 64 * 1024)))
        .route("/files/v3/files/{file_id}", get(f::get_file).delete(f::archive))
        .route("/files/v3/files/{file_id}/signed-url", get(f::signed_url))
        .route("/files/v3/files/{file_id}/gdpr-delete", axum::routing::delete(f::gdpr_delete))
        .route_layer(from_fn_with_state(st.clone(), crate::auth::api_guard));
    let oauth = Router::new()
        .route("/", get(o::landing))
        .route("/oauth/authorize", get(o::authorize_page).post(o::authorize_decision))
        .route("/oauth/{version}/token", post(o::token))
        .route("/oauth/{version}/token/introspect", post(o::introspect))
        .route("/oauth/{version}/token/revoke", post(o::revoke))
        .route("/oauth/v1/access-tokens/{token}", get(o::v1_access_token))
        .route("/oauth/v1/refresh-tokens/{token}", get(o::v1_refresh_get).delete(o::v1_refresh_delete))
        .route("/oauth/v2/private-apps/get/access-token-info", post(o::private_app_info))
        .route("/hubfs-signed/{portal}/{file_id}/{name}", get(f::serve_signed));
    Router::new()
        .merge(api)
        .merge(oauth)
        .nest("/_sandbox", crate::admin::router())
        .fallback(not_found)
        .layer(from_fn_with_state(st.clone(), crate::faults::fault_layer))
        .layer(from_fn_with_state(st.clone(), count_requests))
        .with_state(st)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        format!("Unable to route {} {}: no such endpoint.", req.method(), req.uri().path()),
    )
}
