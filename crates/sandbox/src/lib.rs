//! The demo portal: a faithful local HubSpot.
//!
//! One axum server on loopback answers like `api.hubapi.com` (CRM v3 objects, batch, search,
//! properties, schemas, owners, associations v4, conversations, webhooks, files, account info, OAuth
//! token endpoints) and like `app.hubspot.com` (the OAuth consent page), from a deterministic
//! seeded in-memory portal. It is used in-process by the app, the tests and the benchmarks
//! ([`Sandbox::start`]) and as the `spoke-sandbox` binary.
//!
//! Besides HubSpot's surface there is an admin API under `/_sandbox/` for tests (see
//! [`admin`] for the full list): change records as a HubSpot user would, bulk updates, merges,
//! archives, GDPR deletes, association-only changes, token revocation, private-app scopes,
//! faults, request counters and a controllable clock.

pub mod admin;
mod assoc_api;
mod auth;
mod conversations;
mod crm;
mod error;
mod faults;
mod files;
mod meta;
pub mod model;
mod oauth;
mod ratelimit;
mod search;
mod seed;
mod state;
pub mod util;
mod webhooks;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

pub use faults::FaultConfig;
pub use seed::{seed_epoch_ms, DEAL_STAGES};

/// Everything that can go wrong in `spoke-sandbox`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not bind {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("invalid tier {0:?}: expected free, starter, pro or enterprise")]
    InvalidTier(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// HubSpot subscription tier; decides the API rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tier {
    Free,
    Starter,
    #[default]
    Pro,
    Enterprise,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Starter => "starter",
            Tier::Pro => "pro",
            Tier::Enterprise => "enterprise",
        }
    }
    /// Requests per rolling 10 seconds for a private app (OAuth apps get 110 on every tier).
    pub fn burst_per_10s(self) -> u32 {
        match self {
            Tier::Free | Tier::Starter => 100,
            Tier::Pro | Tier::Enterprise => 190,
        }
    }
    /// Requests per day for the account.
    pub fn daily(self) -> u32 {
        match self {
            Tier::Free | Tier::Starter => 250_000,
            Tier::Pro => 625_000,
            Tier::Enterprise => 1_000_000,
        }
    }
}

impl FromStr for Tier {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "free" => Ok(Tier::Free),
            "starter" => Ok(Tier::Starter),
            "pro" | "professional" => Ok(Tier::Pro),
            "enterprise" => Ok(Tier::Enterprise),
            _ => Err(Error::InvalidTier(s.to_string())),
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// TCP port on 127.0.0.1; 0 picks an ephemeral port.
    pub port: u16,
    /// Seed of the generated portal: the same seed always yields the same data.
    pub seed: u64,
    pub tier: Tier,
    /// Number of seeded contacts; other objects scale with it.
    pub contacts: usize,
    /// Fixed latency added to every API response, in milliseconds.
    pub latency_ms: u64,
    /// Value of the private-app token (generated from the seed when `None`).
    pub token: Option<String>,
    /// `expires_in` of OAuth access tokens.
    pub access_token_ttl_secs: u64,
    /// Lifetime of authorization codes.
    pub auth_code_ttl_secs: u64,
    /// Redirect URIs registered on the demo app in addition to the loopback defaults.
    pub extra_redirect_uris: Vec<String>,
    /// Enforce HubSpot's per-tier rate limits (429s). Headers are sent either way.
    pub rate_limits: bool,
    /// Search index lag: changes become visible to search after this many milliseconds.
    pub search_lag_ms: u64,
    /// The HubSpot portal (hub) id.
    pub portal_id: u64,
    /// Faults injected from the start (also settable through `/_sandbox/faults`).
    pub faults: FaultConfig,
    /// Webhook delivery: batch window in milliseconds and number of attempts.
    pub webhook_batch_ms: u64,
    pub webhook_max_attempts: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            seed: 42,
            tier: Tier::Pro,
            contacts: 500,
            latency_ms: 0,
            token: None,
            access_token_ttl_secs: 1800,
            auth_code_ttl_secs: 300,
            extra_redirect_uris: Vec::new(),
            rate_limits: true,
            search_lag_ms: 0,
            portal_id: 24_681_357,
            faults: FaultConfig::default(),
            webhook_batch_ms: 100,
            webhook_max_attempts: 5,
        }
    }
}

/// The demo OAuth app registered in the sandbox portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoApp {
    pub name: String,
    pub app_id: u64,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    /// Developer API key (`hapikey`) for the app's webhook settings.
    pub developer_api_key: String,
}

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Seeds the portal, binds 127.0.0.1:`port` and serves until [`SandboxHandle::shutdown`].
    pub async fn start(config: SandboxConfig) -> Result<SandboxHandle, Error> {
        if config.contacts == 0 {
            return Err(Error::Config("contacts must be at least 1".into()));
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], config.port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr: addr.to_string(), source })?;
        let local = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr: addr.to_string(), source })?;
        let base_url = format!("http://127.0.0.1:{}", local.port());
        let started = std::time::Instant::now();
        let cfg = config.clone();
        let st = tokio::task::spawn_blocking(move || state::AppState::new(cfg, base_url))
            .await
            .map_err(|e| Error::Config(format!("seeding failed: {e}")))?;
        let st = Arc::new(st);
        tracing::info!(
            base_url = %st.base_url,
            contacts = config.contacts,
            seed = config.seed,
            tier = %config.tier,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "demo portal ready"
        );
        let webhook_task = webhooks::spawn_dispatcher(st.clone());
        let app = state::router(st.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let res = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        Ok(SandboxHandle { state: st, shutdown: Some(tx), server, webhook_task })
    }
}

/// A running sandbox.
pub struct SandboxHandle {
    state: Arc<state::AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    webhook_task: tokio::task::JoinHandle<()>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT`, serving the API and the consent page.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }
    /// A private-app token (`pat-na1-…`) with every scope.
    pub fn private_app_token(&self) -> String {
        self.state.private_token.clone()
    }
    pub fn demo_app(&self) -> DemoApp {
        self.state.demo_app.clone()
    }
    pub fn portal_id(&self) -> u64 {
        self.state.cfg.portal_id
    }
    /// Every scope the sandbox knows.
    pub fn all_scopes(&self) -> Vec<String> {
        auth::ALL_SCOPES.iter().map(|s| s.to_string()).collect()
    }
    /// Stops the server and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.webhook_task.abort();
        let _ = (&mut self.server).await;
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.webhook_task.abort();
    }
}
