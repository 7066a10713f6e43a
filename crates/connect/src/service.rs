//! [`Connections`]: the API the desktop app and the CLI call. Every method is small enough to
//! wrap in a Tauri command; inputs deserialize from camelCase JSON, outputs serialize to it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spoke_hubspot::{
    Client, ClientConfig, GovernorRegistry, OAuthClient, Secret, Tier, TokenHint, HUBSPOT_API_BASE,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::keychain::{blocking, Keychain, SecretKind, SecretStore};
use crate::loopback::{CallbackOutcome, Loopback, LoopbackLimits};
use crate::oauth::{self, AuthorizeRequest, HUBSPOT_APP_BASE};
use crate::scopes::{self, ObjectAccess, ScopeReport};
use crate::store::{
    now_secs, AuthMethod, Connection, ConnectionStatus, ConnectionStore, OAuthAppInfo, OAuthAppKind,
};
use crate::tokenfmt::check_token;
use crate::tokens::{ConnectionTokens, TokenManager, TokenSettings};
use crate::Error;

/// The demo app's first registered loopback port (`http://localhost:53135/callback`).
pub const DEFAULT_CALLBACK_PORT: u16 = 53135;

/// Every loopback port the demo app registers (`http://localhost:53135/callback` … `53139`).
pub const DEMO_CALLBACK_PORTS: std::ops::RangeInclusive<u16> = 53135..=53139;

/// How the service is set up.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    /// The app's SQLite database (connection metadata only).
    pub db_path: PathBuf,
    /// Keychain service name; entries are `conn:<id>:<kind>` under it.
    pub keychain_service: String,
    /// Template for every HubSpot client (OAuth endpoint version, timeouts, retries).
    pub client: ClientConfig,
    /// How long a sign-in may take.
    pub callback_timeout: Duration,
    /// Refresh access tokens this long before they expire.
    pub refresh_margin: Duration,
    /// Open the system browser on `begin_oauth` (the CLI and tests may turn this off).
    pub open_browser: bool,
    pub loopback: LoopbackLimits,
    /// Budget a token connection's governor starts from until HubSpot's headers say otherwise.
    pub token_tier: Tier,
}

impl ConnectConfig {
    pub fn new(db_path: impl Into<PathBuf>) -> ConnectConfig {
        ConnectConfig {
            db_path: db_path.into(),
            keychain_service: crate::keychain::DEFAULT_SERVICE.to_owned(),
            client: ClientConfig::new(HUBSPOT_API_BASE),
            callback_timeout: Duration::from_secs(5 * 60),
            refresh_margin: Duration::from_secs(5 * 60),
            open_browser: true,
            loopback: LoopbackLimits::default(),
            token_tier: Tier::FreeStarter,
        }
    }
}

/// Add a service key / private-app token connection.
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AddToken {
    pub label: Option<String>,
    /// Defaults to HubSpot; the demo portal's base URL for demo connections.
    pub base_url: Option<String>,
    pub token: Secret,
}

/// Start an OAuth sign-in.
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct BeginOAuth {
    pub label: Option<String>,
    pub app_kind: OAuthAppKind,
    /// API base URL; defaults to HubSpot.
    pub base_url: Option<String>,
    /// Consent page host; defaults to `https://app.hubspot.com` for HubSpot, else `base_url`.
    pub authorize_base_url: Option<String>,
    pub client_id: String,
    pub client_secret: Secret,
    /// Loopback port; defaults to 53135. `http://localhost:PORT/callback` must be registered.
    pub port: Option<u16>,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub optional_scopes: Vec<String>,
}

/// What the UI shows while the user is in the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct OAuthStarted {
    pub flow_id: String,
    /// Copyable, in case the browser did not open.
    pub authorize_url: String,
    pub redirect_uri: String,
    pub browser_opened: bool,
    #[specta(type = f64)]
    pub expires_in_secs: u64,
}

/// What disconnecting did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectReport {
    /// HubSpot revoked the grant.
    pub revoked: bool,
    /// Why it was not revoked, when it was not.
    pub note: Option<String>,
}

struct Flow {
    port: u16,
    state: String,
    verifier: Secret,
    redirect_uri: String,
    api_base: String,
    app: OAuthAppInfo,
    client_secret: Secret,
    label: Option<String>,
    reconnect: Option<String>,
    deadline: Instant,
    outcome: Option<oneshot::Receiver<CallbackOutcome>>,
    cancel_rx: Option<oneshot::Receiver<()>>,
    cancel_tx: Option<oneshot::Sender<()>>,
}

/// Connections to HubSpot portals: add, sign in, refresh, plan scopes, disconnect.
pub struct Connections {
    store: Arc<ConnectionStore>,
    secrets: Arc<dyn SecretStore>,
    tokens: Arc<TokenManager>,
    loopback: Loopback,
    flows: Arc<Mutex<HashMap<String, Flow>>>,
    config: ConnectConfig,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn is_hubspot(base: &str) -> bool {
    url::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.ends_with("hubapi.com")))
        .unwrap_or(false)
}

impl Connections {
    /// Opens the database and uses the OS keychain.
    pub fn open(config: ConnectConfig) -> Result<Connections, Error> {
        let keychain = Keychain::new(config.keychain_service.clone());
        let store = ConnectionStore::open(&config.db_path)?;
        Ok(Connections::with_parts(config, store, Arc::new(keychain)))
    }

    /// Builds the service from its parts (another secret store, an in-memory database).
    pub fn with_parts(
        config: ConnectConfig,
        store: ConnectionStore,
        secrets: Arc<dyn SecretStore>,
    ) -> Connections {
        let store = Arc::new(store);
        let settings = TokenSettings {
            refresh_margin: config.refresh_margin,
            client: config.client.clone(),
        };
        let tokens = Arc::new(TokenManager::new(store.clone(), secrets.clone(), settings));
        Connections {
            store,
            secrets,
            tokens,
            loopback: Loopback::new(config.loopback),
            flows: Arc::new(Mutex::new(HashMap::new())),
            config,
        }
    }

    /// All connections, oldest first.
    pub async fn list(&self) -> Result<Vec<Connection>, Error> {
        self.store.list()
    }

    pub async fn get(&self, id: &str) -> Result<Connection, Error> {
        self.store.get(id)
    }

    /// Fails with the keychain's fix when secrets cannot be stored right now.
    pub async fn check_keychain(&self) -> Result<(), Error> {
        blocking(&self.secrets, |s| s.check()).await
    }

    /// A HubSpot client for a connection: its base URL, its tokens (refreshed as needed) and the
    /// portal's shared rate governor.
    pub fn client(&self, id: &str) -> Result<Client, Error> {
        let conn = self.store.get(id)?;
        let tier = match conn.method {
            AuthMethod::OAuth => Tier::OAuthApp,
            AuthMethod::Token => self.config.token_tier,
        };
        let governor =
            GovernorRegistry::shared().for_portal(&conn.base_url, conn.portal_id, tier.budget());
        let provider = Arc::new(ConnectionTokens::new(self.tokens.clone(), conn.id.clone()));
        Ok(self
            .tokens
            .client_for(&conn.base_url)?
            .with_token_provider(provider)
            .with_governor(governor))
    }

    // ---- Token connections -------------------------------------------------------------------

    /// Adds a service key / private-app token: format check, keychain check, then HubSpot (token
    /// info and account details) for identity and granted scopes. Nothing is stored unless all
    /// three pass.
    pub async fn add_token(&self, req: AddToken) -> Result<Connection, Error> {
        let base = req
            .base_url
            .clone()
            .unwrap_or_else(|| HUBSPOT_API_BASE.to_owned());
        // Cheap checks first: the token's shape, then whether it could be stored at all.
        check_token(&req.token)?;
        self.check_keychain().await?;
        let (token, identity) = self.validate_token(&base, &req.token).await?;
        let id = oauth::random_token(12);
        let now = now_secs();
        let conn = Connection {
            id: id.clone(),
            label: label_or(req.label, None, identity.portal_id, &identity.base_url),
            method: AuthMethod::Token,
            base_url: base,
            oauth_app: None,
            token_expires_at: None,
            status: ConnectionStatus::Connected,
            status_detail: None,
            created_at: now,
            updated_at: now,
            ..identity
        };
        self.save_new(&conn, vec![(SecretKind::Access, token.clone())], None)
            .await?;
        self.tokens.prime(&id, token, None).await;
        Ok(conn)
    }

    /// Replaces the token of a token connection (after it was regenerated with more scopes, or
    /// revoked): same checks as [`Connections::add_token`], and it must be the same portal.
    pub async fn replace_token(&self, id: &str, token: Secret) -> Result<Connection, Error> {
        let old = self.store.get(id)?;
        if old.method != AuthMethod::Token {
            return Err(Error::InvalidInput(
                "this connection signs in with OAuth; use Reconnect instead".to_owned(),
            ));
        }
        let (token, identity) = self.validate_token(&old.base_url, &token).await?;
        if identity.portal_id != old.portal_id {
            return Err(Error::PortalMismatch {
                expected: old.portal_id,
                got: identity.portal_id,
            });
        }
        let key = id.to_owned();
        let value = token.clone();
        blocking(&self.secrets, move |s| {
            s.set(&key, SecretKind::Access, &value)
        })
        .await?;
        let conn = Connection {
            id: old.id.clone(),
            label: old.label.clone(),
            method: AuthMethod::Token,
            base_url: old.base_url.clone(),
            oauth_app: None,
            token_expires_at: None,
            status: ConnectionStatus::Connected,
            status_detail: None,
            created_at: old.created_at,
            updated_at: now_secs(),
            ..identity
        };
        self.store.upsert(&conn, None)?;
        self.tokens.forget(id);
        self.tokens.prime(id, token, None).await;
        Ok(conn)
    }

    /// Returns the trimmed token and the identity fields of a connection.
    async fn validate_token(
        &self,
        base: &str,
        raw: &Secret,
    ) -> Result<(Secret, Connection), Error> {
        let checked = check_token(raw)?;
        let token = checked.token;
        let client = self.tokens.client_for(base)?;
        let info = match client.private_app_token_info(&token).await {
            Ok(info) => Some(info),
            // A token HubSpot rejects is final; any other failure of this lookup (e.g. a key type
            // it does not know) leaves account details as the judge.
            Err(
                e @ (spoke_hubspot::Error::Unauthorized { .. }
                | spoke_hubspot::Error::Network { .. }
                | spoke_hubspot::Error::Timeout { .. }),
            ) => return Err(e.into()),
            Err(e) => {
                tracing::debug!(error = %e, "token info unavailable; relying on account details");
                None
            }
        };
        let details = match client.account_details_with(&token).await {
            Ok(details) => Some(details),
            Err(
                e @ (spoke_hubspot::Error::MissingScopes { .. }
                | spoke_hubspot::Error::Forbidden { .. }),
            ) if info.is_some() => {
                tracing::debug!(error = %e, "account details not allowed for this token");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let portal_id = match (&info, &details) {
            (Some(i), Some(d)) if i.hub_id != d.portal_id => {
                return Err(Error::PortalMismatch {
                    expected: i.hub_id,
                    got: d.portal_id,
                })
            }
            (_, Some(d)) => d.portal_id,
            (Some(i), None) => i.hub_id,
            (None, None) => {
                return Err(Error::InvalidInput(
                    "HubSpot did not say which portal this token belongs to".to_owned(),
                ))
            }
        };
        let identity = Connection {
            id: String::new(),
            label: String::new(),
            method: AuthMethod::Token,
            base_url: base.to_owned(),
            portal_id,
            hub_domain: None,
            account_type: details.as_ref().and_then(|d| d.account_type.clone()),
            data_hosting_location: details
                .as_ref()
                .and_then(|d| d.data_hosting_location.clone())
                .or(Some(checked.region)),
            ui_domain: details.as_ref().and_then(|d| d.ui_domain.clone()),
            time_zone: details.as_ref().and_then(|d| d.time_zone.clone()),
            user_id: info.as_ref().and_then(|i| i.user_id),
            granted_scopes: info.map(|i| i.scopes).unwrap_or_default(),
            oauth_app: None,
            token_expires_at: None,
            status: ConnectionStatus::Connected,
            status_detail: None,
            created_at: 0,
            updated_at: 0,
        };
        Ok((token, identity))
    }

    /// Writes secrets, then the row; undoes the secrets if the row cannot be written.
    async fn save_new(
        &self,
        conn: &Connection,
        secrets: Vec<(SecretKind, Secret)>,
        refresh: Option<&Secret>,
    ) -> Result<(), Error> {
        let key = conn.id.clone();
        let kinds: Vec<SecretKind> = secrets.iter().map(|(k, _)| *k).collect();
        blocking(&self.secrets, move |s| {
            for (kind, value) in &secrets {
                s.set(&key, *kind, value)?;
            }
            Ok(())
        })
        .await?;
        if let Err(e) = self.store.upsert(conn, refresh) {
            let key = conn.id.clone();
            let _ = blocking(&self.secrets, move |s| {
                for kind in kinds {
                    s.delete(&key, kind)?;
                }
                Ok(())
            })
            .await;
            return Err(e);
        }
        Ok(())
    }

    // ---- OAuth connections -------------------------------------------------------------------

    /// Starts a sign-in: registers the callback, builds the authorize URL (scope,
    /// optional_scope, state, PKCE S256) and opens the system browser. Then call
    /// [`Connections::finish_oauth`] with the returned flow id.
    pub async fn begin_oauth(&self, req: BeginOAuth) -> Result<OAuthStarted, Error> {
        let api_base = req
            .base_url
            .clone()
            .unwrap_or_else(|| HUBSPOT_API_BASE.to_owned());
        let authorize_base = req.authorize_base_url.clone().unwrap_or_else(|| {
            if is_hubspot(&api_base) {
                HUBSPOT_APP_BASE.to_owned()
            } else {
                api_base.clone()
            }
        });
        if req.client_secret.expose().trim().is_empty() {
            return Err(Error::InvalidInput(
                "the app's client secret is empty".to_owned(),
            ));
        }
        let mut scopes: Vec<String> = Vec::new();
        for scope in std::iter::once("oauth").chain(req.scopes.iter().map(String::as_str)) {
            let scope = scope.trim();
            if !scope.is_empty() && !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
        let optional: Vec<String> = req
            .optional_scopes
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && !scopes.contains(s))
            .collect();
        let mut app = OAuthAppInfo {
            kind: req.app_kind,
            client_id: req.client_id.trim().to_owned(),
            authorize_base_url: authorize_base,
            redirect_port: req.port.unwrap_or(DEFAULT_CALLBACK_PORT),
            scopes,
            optional_scopes: optional,
        };
        let client_secret = Secret::new(req.client_secret.expose().trim().to_owned());
        // The demo app registers five loopback ports; without an explicit port, a busy one is
        // skipped. An own app has exactly the port(s) the admin registered, so no guessing.
        let candidates: Vec<u16> = match (req.port, req.app_kind) {
            (None, OAuthAppKind::Demo) => DEMO_CALLBACK_PORTS.collect(),
            _ => vec![app.redirect_port],
        };
        let mut last = None;
        for port in candidates {
            app.redirect_port = port;
            match self
                .start_flow(
                    api_base.clone(),
                    app.clone(),
                    client_secret.clone(),
                    req.label.clone(),
                    None,
                )
                .await
            {
                Err(e @ Error::PortInUse { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or(Error::PortInUse {
            port: app.redirect_port,
        }))
    }

    /// One-click reconnect of an OAuth connection with its stored app and scopes.
    pub async fn begin_reconnect(&self, id: &str) -> Result<OAuthStarted, Error> {
        let conn = self.store.get(id)?;
        let app = conn.oauth_app.clone().ok_or_else(|| {
            Error::InvalidInput(
                "this connection uses a token; paste a new token instead".to_owned(),
            )
        })?;
        let key = id.to_owned();
        let client_secret = blocking(&self.secrets, move |s| {
            s.get(&key, SecretKind::ClientSecret)
        })
        .await?
        .ok_or_else(|| Error::SecretMissing {
            connection_id: id.to_owned(),
            what: SecretKind::ClientSecret.describe(),
        })?;
        self.start_flow(
            conn.base_url.clone(),
            app,
            client_secret,
            Some(conn.label.clone()),
            Some(conn.id.clone()),
        )
        .await
    }

    async fn start_flow(
        &self,
        api_base: String,
        app: OAuthAppInfo,
        client_secret: Secret,
        label: Option<String>,
        reconnect: Option<String>,
    ) -> Result<OAuthStarted, Error> {
        // Fail before the browser opens if the tokens could not be stored afterwards.
        self.check_keychain().await?;
        let state = oauth::random_token(24);
        let pkce = oauth::pkce();
        let redirect_uri = oauth::redirect_uri(app.redirect_port);
        let authorize_url = oauth::authorize_url(&AuthorizeRequest {
            authorize_base_url: &app.authorize_base_url,
            client_id: &app.client_id,
            redirect_uri: &redirect_uri,
            scopes: &app.scopes,
            optional_scopes: &app.optional_scopes,
            state: &state,
            code_challenge: &pkce.challenge,
        })?;
        let outcome = self.loopback.register(app.redirect_port, &state)?;
        let flow_id = oauth::random_token(12);
        let (cancel_tx, cancel_rx) = oneshot::channel();
        let deadline = Instant::now() + self.config.callback_timeout;
        let port = app.redirect_port;
        lock(&self.flows).insert(
            flow_id.clone(),
            Flow {
                port,
                state: state.clone(),
                verifier: pkce.verifier,
                redirect_uri: redirect_uri.clone(),
                api_base,
                app,
                client_secret,
                label,
                reconnect,
                deadline,
                outcome: Some(outcome),
                cancel_rx: Some(cancel_rx),
                cancel_tx: Some(cancel_tx),
            },
        );
        // Close the listener at the deadline even if nobody awaits the flow.
        let flows = self.flows.clone();
        let loopback = self.loopback.clone();
        let expiring = flow_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            loopback.unregister(port, &state);
            let mut flows = lock(&flows);
            if flows.get(&expiring).is_some_and(|f| f.outcome.is_some()) {
                flows.remove(&expiring);
            }
        });
        let browser_opened = self.config.open_browser && open_browser(&authorize_url).await;
        Ok(OAuthStarted {
            flow_id,
            authorize_url,
            redirect_uri,
            browser_opened,
            expires_in_secs: self.config.callback_timeout.as_secs(),
        })
    }

    /// Waits for the browser to come back, exchanges the code and records the connection.
    pub async fn finish_oauth(&self, flow_id: &str) -> Result<Connection, Error> {
        let (outcome_rx, cancel_rx, deadline) = {
            let mut flows = lock(&self.flows);
            let flow = flows
                .get_mut(flow_id)
                .ok_or_else(|| Error::FlowNotFound(flow_id.to_owned()))?;
            match (flow.outcome.take(), flow.cancel_rx.take()) {
                (Some(outcome), Some(cancel)) => (outcome, cancel, flow.deadline),
                _ => {
                    return Err(Error::InvalidInput(
                        "this sign-in is already being awaited".to_owned(),
                    ))
                }
            }
        };
        let minutes = self.config.callback_timeout.as_secs().div_ceil(60);
        let result = tokio::select! {
            outcome = outcome_rx => outcome.map_err(|_| Error::Listener("the sign-in listener stopped".to_owned())),
            _ = cancel_rx => Err(Error::OAuthCancelled),
            _ = tokio::time::sleep_until(deadline) => Err(Error::OAuthTimeout { minutes }),
        };
        let flow = lock(&self.flows).remove(flow_id);
        let Some(flow) = flow else {
            return Err(Error::OAuthCancelled);
        };
        self.loopback.unregister(flow.port, &flow.state);
        match result? {
            CallbackOutcome::Code(code) => self.complete(flow, code).await,
            CallbackOutcome::Denied { description } => Err(Error::ConsentDenied { description }),
            CallbackOutcome::Failed { error, description } => {
                Err(Error::AuthorizationFailed { error, description })
            }
        }
    }

    /// Cancels a sign-in; its listener closes if no other sign-in uses the port.
    pub fn cancel_oauth(&self, flow_id: &str) -> Result<(), Error> {
        let flow = lock(&self.flows)
            .remove(flow_id)
            .ok_or_else(|| Error::FlowNotFound(flow_id.to_owned()))?;
        self.loopback.unregister(flow.port, &flow.state);
        if let Some(tx) = flow.cancel_tx {
            let _ = tx.send(());
        }
        Ok(())
    }

    async fn complete(&self, flow: Flow, code: Secret) -> Result<Connection, Error> {
        let client = self.tokens.client_for(&flow.api_base)?;
        let oauth_client = OAuthClient {
            client_id: flow.app.client_id.clone(),
            client_secret: flow.client_secret.clone(),
        };
        let tokens = client
            .exchange_code(&oauth_client, &code, &flow.redirect_uri, &flow.verifier)
            .await?;
        let refresh = tokens
            .refresh_token
            .clone()
            .ok_or_else(|| Error::AuthorizationFailed {
                error: "no_refresh_token".to_owned(),
                description: Some("HubSpot returned no refresh token".to_owned()),
            })?;
        let details = client.account_details_with(&tokens.access_token).await?;
        if let Some(hub) = tokens.hub_id.filter(|hub| *hub != details.portal_id) {
            return Err(Error::PortalMismatch {
                expected: hub,
                got: details.portal_id,
            });
        }
        let introspection = match client
            .introspect(&oauth_client, &tokens.access_token, TokenHint::AccessToken)
            .await
        {
            Ok(info) => Some(info),
            Err(e) => {
                tracing::debug!(error = %e, "token introspection unavailable");
                None
            }
        };
        let granted = if tokens.scopes.is_empty() {
            introspection
                .as_ref()
                .map(|i| i.scopes.clone())
                .unwrap_or_default()
        } else {
            tokens.scopes.clone()
        };
        let expires_at = now_secs() + tokens.expires_in as i64;
        let now = now_secs();
        let (id, label, created_at) = match &flow.reconnect {
            Some(id) => {
                let old = self.store.get(id)?;
                if old.portal_id != details.portal_id {
                    // Do not leave a grant for the wrong portal behind.
                    let _ = client
                        .revoke(&oauth_client, &refresh, TokenHint::RefreshToken)
                        .await;
                    return Err(Error::PortalMismatch {
                        expected: old.portal_id,
                        got: details.portal_id,
                    });
                }
                (old.id, old.label, old.created_at)
            }
            None => {
                let hub_domain = introspection.as_ref().and_then(|i| i.hub_domain.as_deref());
                (
                    oauth::random_token(12),
                    label_or(
                        flow.label.clone(),
                        hub_domain,
                        details.portal_id,
                        &flow.api_base,
                    ),
                    now,
                )
            }
        };
        let conn = Connection {
            id: id.clone(),
            label,
            method: AuthMethod::OAuth,
            base_url: flow.api_base.clone(),
            portal_id: details.portal_id,
            hub_domain: introspection.as_ref().and_then(|i| i.hub_domain.clone()),
            account_type: details.account_type.clone(),
            data_hosting_location: details.data_hosting_location.clone(),
            ui_domain: details.ui_domain.clone(),
            time_zone: details.time_zone.clone(),
            user_id: tokens
                .user_id
                .or_else(|| introspection.as_ref().and_then(|i| i.user_id)),
            granted_scopes: granted,
            oauth_app: Some(flow.app.clone()),
            token_expires_at: Some(expires_at),
            status: ConnectionStatus::Connected,
            status_detail: None,
            created_at,
            updated_at: now,
        };
        let secrets = vec![
            (SecretKind::Refresh, refresh.clone()),
            (SecretKind::Access, tokens.access_token.clone()),
            (SecretKind::ClientSecret, flow.client_secret.clone()),
        ];
        if flow.reconnect.is_some() {
            let key = id.clone();
            blocking(&self.secrets, move |s| {
                for (kind, value) in &secrets {
                    s.set(&key, *kind, value)?;
                }
                Ok(())
            })
            .await?;
            self.store.upsert(&conn, Some(&refresh))?;
        } else {
            self.save_new(&conn, secrets, Some(&refresh)).await?;
        }
        self.tokens.forget(&id);
        self.tokens
            .prime(&id, tokens.access_token, Some(expires_at))
            .await;
        Ok(conn)
    }

    // ---- Tokens, scopes, disconnect ----------------------------------------------------------

    /// Refreshes an OAuth connection's access token now (it is otherwise refreshed on demand).
    pub async fn refresh(&self, id: &str) -> Result<Connection, Error> {
        self.tokens.force_refresh(id).await?;
        self.store.get(id)
    }

    /// What the portal's rate governor currently knows (calls left in the window and today).
    pub async fn rate_limits(&self, id: &str) -> Result<spoke_hubspot::GovernorSnapshot, Error> {
        let client = self.client(id)?;
        client
            .governor()
            .map(|g| g.snapshot())
            .ok_or_else(|| Error::Store("the client has no rate governor".to_owned()))
    }

    /// A valid access token for `id`; for other crates that call HubSpot without [`Client`].
    pub async fn access_token(&self, id: &str) -> Result<Secret, Error> {
        self.tokens.access_token(id).await
    }

    /// The OAuth app's client secret of `id` (from the keychain), e.g. to verify webhook
    /// signatures; token connections have none.
    pub async fn client_secret(&self, id: &str) -> Result<Secret, Error> {
        let key = id.to_owned();
        blocking(&self.secrets, move |s| s.get(&key, SecretKind::ClientSecret))
            .await?
            .ok_or_else(|| Error::SecretMissing {
                connection_id: id.to_owned(),
                what: SecretKind::ClientSecret.describe(),
            })
    }

    /// "Test connection": asks HubSpot now who the connection belongs to and which scopes it
    /// has, and records the answer. A rejected token moves the connection to Reconnect.
    pub async fn verify(&self, id: &str) -> Result<Connection, Error> {
        let mut conn = self.store.get(id)?;
        let client = self.client(id)?;
        let details = client.account_details().await?;
        if details.portal_id != conn.portal_id {
            return Err(Error::PortalMismatch {
                expected: conn.portal_id,
                got: details.portal_id,
            });
        }
        let token = self.tokens.access_token(id).await?;
        let scopes = match conn.method {
            AuthMethod::Token => client
                .private_app_token_info(&token)
                .await
                .ok()
                .map(|info| info.scopes),
            AuthMethod::OAuth => {
                let app = conn
                    .oauth_app
                    .clone()
                    .ok_or_else(|| Error::Store(format!("connection {id} has no app recorded")))?;
                let key = id.to_owned();
                let secret = blocking(&self.secrets, move |s| {
                    s.get(&key, SecretKind::ClientSecret)
                })
                .await?
                .ok_or_else(|| Error::SecretMissing {
                    connection_id: id.to_owned(),
                    what: SecretKind::ClientSecret.describe(),
                })?;
                let oauth_client = OAuthClient {
                    client_id: app.client_id,
                    client_secret: secret,
                };
                match client
                    .introspect(&oauth_client, &token, TokenHint::AccessToken)
                    .await
                {
                    Ok(info) if info.active => {
                        if info.hub_domain.is_some() {
                            conn.hub_domain = info.hub_domain;
                        }
                        Some(info.scopes)
                    }
                    _ => None,
                }
            }
        };
        let fresh = self.store.get(id)?;
        conn.granted_scopes = scopes
            .filter(|s| !s.is_empty())
            .unwrap_or(fresh.granted_scopes);
        conn.token_expires_at = fresh.token_expires_at;
        conn.account_type = details.account_type;
        conn.data_hosting_location = details.data_hosting_location.or(conn.data_hosting_location);
        conn.ui_domain = details.ui_domain;
        conn.time_zone = details.time_zone;
        conn.status = ConnectionStatus::Connected;
        conn.status_detail = None;
        conn.updated_at = now_secs();
        self.store.upsert(&conn, None)?;
        Ok(conn)
    }

    /// Granted versus needed for `picks`, per object, with the fix for each gap.
    pub async fn scope_report(
        &self,
        id: &str,
        picks: &[ObjectAccess],
    ) -> Result<ScopeReport, Error> {
        let conn = self.store.get(id)?;
        Ok(scopes::report(picks, &conn.granted_scopes, conn.method))
    }

    /// Revokes the grant (unless another connection shares its refresh token), then deletes the
    /// keychain entries and the connection.
    pub async fn disconnect(&self, id: &str) -> Result<DisconnectReport, Error> {
        let conn = self.store.get(id)?;
        let mut report = DisconnectReport {
            revoked: false,
            note: None,
        };
        if conn.method == AuthMethod::OAuth {
            if self.store.others_sharing_refresh_token(id)? > 0 {
                report.note = Some(
                    "Another connection uses the same HubSpot sign-in, so it was left active."
                        .to_owned(),
                );
            } else {
                let key = id.to_owned();
                let (refresh, secret) = blocking(&self.secrets, move |s| {
                    Ok((
                        s.get(&key, SecretKind::Refresh)?,
                        s.get(&key, SecretKind::ClientSecret)?,
                    ))
                })
                .await?;
                match (refresh, secret, &conn.oauth_app) {
                    (Some(refresh), Some(secret), Some(app)) => {
                        let client = self.tokens.client_for(&conn.base_url)?;
                        let oauth_client = OAuthClient {
                            client_id: app.client_id.clone(),
                            client_secret: secret,
                        };
                        match client
                            .revoke(&oauth_client, &refresh, TokenHint::RefreshToken)
                            .await
                        {
                            Ok(()) => report.revoked = true,
                            Err(
                                e @ (spoke_hubspot::Error::InvalidGrant { .. }
                                | spoke_hubspot::Error::OAuth { .. }),
                            ) => {
                                report.note = Some(format!(
                                    "HubSpot had already invalidated the sign-in ({e})."
                                ));
                            }
                            Err(e) => {
                                report.note = Some(format!(
                                    "Could not revoke the sign-in at HubSpot ({e}); remove the app under Settings → Connected apps in HubSpot."
                                ));
                            }
                        }
                    }
                    _ => {
                        report.note = Some(
                            "No sign-in was stored, so there was nothing to revoke.".to_owned(),
                        )
                    }
                }
            }
        }
        let key = id.to_owned();
        blocking(&self.secrets, move |s| {
            for kind in SecretKind::ALL {
                s.delete(&key, kind)?;
            }
            Ok(())
        })
        .await?;
        self.store.delete(id)?;
        self.tokens.forget(id);
        Ok(report)
    }
}

/// The label given, else the portal's domain, else "HubSpot portal 123" / "Demo portal 123".
fn label_or(label: Option<String>, domain: Option<&str>, portal_id: u64, base_url: &str) -> String {
    let kind = if is_hubspot(base_url) {
        "HubSpot portal"
    } else {
        "Demo portal"
    };
    label
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .or_else(|| domain.map(str::to_owned))
        .unwrap_or_else(|| format!("{kind} {portal_id}"))
}

/// Opens the system browser (never a webview). `false` if it could not be started; the UI then
/// shows the URL to copy.
async fn open_browser(url: &str) -> bool {
    let url = url.to_owned();
    match tokio::task::spawn_blocking(move || open::that_detached(url)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not open the system browser");
            false
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    //! The service against the demo portal. Secrets live in the in-memory store here (this is
    //! about the flows); `tests/keychain.rs` runs against the real Secret Service.

    use std::sync::atomic::Ordering;

    use spoke_hubspot::Describe;
    use super::*;
    use crate::scopes::{ObjectAccess, ScopeObject};

    use crate::testenv::{env_with as env_in, Env};

    const OPTIONAL: &[&str] = &["tickets"];

    async fn env_with(tweak: impl FnOnce(&mut ConnectConfig)) -> Env {
        env_in(20, |_| {}, tweak).await
    }

    async fn env() -> Env {
        env_with(|_| {}).await
    }

    impl Env {
        fn begin_request(&self) -> BeginOAuth {
            self.begin_request_with(OPTIONAL)
        }

        async fn connect_oauth(&self) -> Connection {
            self.connect_oauth_with(OPTIONAL).await
        }
    }

    #[tokio::test]
    async fn oauth_connects_records_identity_and_keeps_secrets_in_the_keychain() {
        let env = env().await;
        let started = env.service.begin_oauth(env.begin_request()).await.unwrap();
        assert!(!started.browser_opened);
        assert_eq!(
            started.redirect_uri,
            format!("http://localhost:{}/callback", env.port)
        );
        for part in [
            "scope=oauth%20",
            "optional_scope=tickets",
            "state=",
            "code_challenge=",
            "code_challenge_method=S256",
        ] {
            assert!(
                started.authorize_url.contains(part),
                "{part} missing in {}",
                started.authorize_url
            );
        }
        let service = env.service.clone();
        let flow = started.flow_id.clone();
        let waiting = tokio::spawn(async move { service.finish_oauth(&flow).await });
        let callback = env.consent(&started.authorize_url, "allow").await;
        let (status, page) = env.visit(&callback).await.unwrap();
        assert_eq!(status, 200);
        assert!(page.contains("Signed in to HubSpot"));
        let conn = waiting.await.unwrap().unwrap();
        assert_eq!(conn.portal_id, env.sandbox.portal_id());
        assert_eq!(conn.method, AuthMethod::OAuth);
        assert_eq!(conn.status, ConnectionStatus::Connected);
        assert!(conn
            .granted_scopes
            .contains(&"crm.objects.contacts.write".to_owned()));
        assert!(
            conn.granted_scopes.contains(&"tickets".to_owned()),
            "optional scope granted"
        );
        assert!(conn.token_expires_at.unwrap() > now_secs() + 1000);
        assert!(conn.account_type.is_some() && conn.data_hosting_location.is_some());
        for kind in SecretKind::ALL {
            assert!(
                env.secrets.value(&conn.id, kind).is_some(),
                "{kind:?} stored"
            );
        }
        assert_eq!(
            env.secrets
                .value(&conn.id, SecretKind::ClientSecret)
                .unwrap(),
            env.sandbox.demo_app().client_secret
        );
        assert_eq!(env.service.list().await.unwrap(), vec![conn.clone()]);
        // The listener closed after the first valid callback: a second one finds no server.
        assert!(
            env.visit(&callback).await.is_err(),
            "second callback must not be served"
        );
        // The client works with the stored tokens.
        let page = env
            .service
            .client(&conn.id)
            .unwrap()
            .list_objects("contacts", &Default::default())
            .await
            .unwrap();
        assert!(!page.results.is_empty());
        // No secret reached the database file.
        let db = std::fs::read(&env.service.config.db_path).unwrap();
        let text = String::from_utf8_lossy(&db);
        for (kind, value) in SecretKind::ALL
            .iter()
            .map(|k| (k, env.secrets.value(&conn.id, *k).unwrap()))
        {
            assert!(!text.contains(&value), "{kind:?} leaked into SQLite");
        }
    }

    #[tokio::test]
    async fn denied_consent_is_reported_as_denied() {
        let env = env().await;
        let started = env.service.begin_oauth(env.begin_request()).await.unwrap();
        let callback = env.consent(&started.authorize_url, "deny").await;
        assert!(callback.contains("error=access_denied"));
        let (_, page) = env.visit(&callback).await.unwrap();
        assert!(page.contains("Access was not granted"));
        let err = env
            .service
            .finish_oauth(&started.flow_id)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "connect.consent_denied");
        assert!(env.service.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn wrong_client_secret_fails_the_exchange_with_the_fix() {
        let env = env().await;
        let mut req = env.begin_request();
        req.client_secret = Secret::from("00000000-0000-0000-0000-000000000000");
        let started = env.service.begin_oauth(req).await.unwrap();
        let callback = env.consent(&started.authorize_url, "allow").await;
        env.visit(&callback).await.unwrap();
        let err = env
            .service
            .finish_oauth(&started.flow_id)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "hubspot.invalid_client");
        assert!(err.hint().unwrap().contains("client secret"));
        assert!(
            env.secrets.entries.lock().unwrap().is_empty(),
            "nothing stored"
        );
    }

    #[tokio::test]
    async fn replayed_code_and_state_are_refused() {
        let env = env().await;
        let started = env.service.begin_oauth(env.begin_request()).await.unwrap();
        let callback = env.consent(&started.authorize_url, "allow").await;
        env.visit(&callback).await.unwrap();
        env.service.finish_oauth(&started.flow_id).await.unwrap();
        // The same code again at HubSpot: refused as an invalid grant.
        let params: HashMap<String, String> = url::Url::parse(&callback)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        let app = env.sandbox.demo_app();
        let client = env
            .service
            .tokens
            .client_for(&env.sandbox.base_url())
            .unwrap();
        let err = client
            .exchange_code(
                &OAuthClient {
                    client_id: app.client_id,
                    client_secret: Secret::new(app.client_secret),
                },
                &Secret::new(params["code"].clone()),
                &oauth::redirect_uri(env.port),
                &Secret::from("whatever"),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "hubspot.invalid_grant");
        // The same state again at a new listener on the port: unknown state.
        let second = env.service.begin_oauth(env.begin_request()).await.unwrap();
        let (status, page) = env.visit(&callback).await.unwrap();
        assert_eq!(status, 400);
        assert!(page.contains("already used"));
        env.service.cancel_oauth(&second.flow_id).unwrap();
    }

    #[tokio::test]
    async fn timeout_and_cancel_end_the_flow_and_close_the_listener() {
        let env = env_with(|c| c.callback_timeout = Duration::from_millis(300)).await;
        let started = env.service.begin_oauth(env.begin_request()).await.unwrap();
        let err = env
            .service
            .finish_oauth(&started.flow_id)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "connect.oauth_timeout");
        assert!(!env.service.loopback.is_listening(env.port));

        let env = env_with(|_| {}).await;
        let started = env.service.begin_oauth(env.begin_request()).await.unwrap();
        let service = env.service.clone();
        let flow = started.flow_id.clone();
        let waiting = tokio::spawn(async move { service.finish_oauth(&flow).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        env.service.cancel_oauth(&started.flow_id).unwrap();
        assert_eq!(
            waiting.await.unwrap().unwrap_err().code(),
            "connect.oauth_cancelled"
        );
        assert!(!env.service.loopback.is_listening(env.port));
        assert_eq!(
            env.service
                .cancel_oauth(&started.flow_id)
                .unwrap_err()
                .code(),
            "connect.flow_not_found"
        );
    }

    #[tokio::test]
    async fn concurrent_sign_ins_share_the_port_and_each_gets_its_own_answer() {
        let env = env().await;
        let a = env.service.begin_oauth(env.begin_request()).await.unwrap();
        let b = env.service.begin_oauth(env.begin_request()).await.unwrap();
        let (sa, sb) = (env.service.clone(), env.service.clone());
        let (fa, fb) = (a.flow_id.clone(), b.flow_id.clone());
        let wa = tokio::spawn(async move { sa.finish_oauth(&fa).await });
        let wb = tokio::spawn(async move { sb.finish_oauth(&fb).await });
        let cb = env.consent(&b.authorize_url, "deny").await;
        let ca = env.consent(&a.authorize_url, "allow").await;
        env.visit(&cb).await.unwrap();
        assert!(
            env.service.loopback.is_listening(env.port),
            "flow a still waits"
        );
        env.visit(&ca).await.unwrap();
        assert!(wa.await.unwrap().is_ok());
        assert_eq!(
            wb.await.unwrap().unwrap_err().code(),
            "connect.consent_denied"
        );
        assert!(!env.service.loopback.is_listening(env.port));
    }

    #[tokio::test]
    async fn fifty_concurrent_callers_during_expiry_cause_exactly_one_refresh() {
        let env = env().await;
        let conn = env.connect_oauth().await;
        let before = env.token_calls().await;
        let old = env.service.access_token(&conn.id).await.unwrap();
        // Expire the token: within the margin, as seen from both the cache and the database.
        env.service
            .store
            .record_refresh(&conn.id, now_secs() + 10, None, None)
            .unwrap();
        env.service.tokens.forget(&conn.id);
        let writes_before = env.secrets.writes.load(Ordering::SeqCst);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let service = env.service.clone();
            let id = conn.id.clone();
            tasks.push(tokio::spawn(async move { service.access_token(&id).await }));
        }
        let mut tokens = Vec::new();
        for task in tasks {
            tokens.push(task.await.unwrap().unwrap());
        }
        assert_eq!(
            env.token_calls().await - before,
            1,
            "exactly one refresh call"
        );
        assert!(
            tokens.iter().all(|t| t == &tokens[0]),
            "everyone got the refreshed token"
        );
        assert_ne!(tokens[0], old);
        assert_eq!(
            env.secrets.value(&conn.id, SecretKind::Access).unwrap(),
            *tokens[0].expose()
        );
        assert!(env.secrets.writes.load(Ordering::SeqCst) > writes_before);
        assert!(
            env.service
                .get(&conn.id)
                .await
                .unwrap()
                .token_expires_at
                .unwrap()
                > now_secs() + 1000
        );
    }

    #[tokio::test]
    async fn expired_access_token_is_refreshed_after_a_401() {
        let env = env().await;
        let conn = env.connect_oauth().await;
        let old = env.service.access_token(&conn.id).await.unwrap();
        // HubSpot's clock says the token expired although Spoke thinks it is fresh.
        let r = env
            .admin("clock/advance", serde_json::json!({ "ms": 1_900_000 }))
            .await;
        assert!(r.status().is_success());
        let before = env.token_calls().await;
        let page = env
            .service
            .client(&conn.id)
            .unwrap()
            .list_objects("contacts", &Default::default())
            .await
            .unwrap();
        assert!(!page.results.is_empty());
        assert_eq!(env.token_calls().await - before, 1);
        assert_ne!(env.service.access_token(&conn.id).await.unwrap(), old);
    }

    #[tokio::test]
    async fn revoked_grant_moves_to_reconnect_and_one_click_reconnect_restores_it() {
        let env = env().await;
        let conn = env.connect_oauth().await;
        let refresh = env.secrets.value(&conn.id, SecretKind::Refresh).unwrap();
        assert_eq!(
            env.admin("tokens/revoke", serde_json::json!({ "token": refresh }))
                .await
                .status(),
            204
        );
        let err = env.service.refresh(&conn.id).await.unwrap_err();
        assert_eq!(err.code(), "connect.reconnect_required");
        let stored = env.service.get(&conn.id).await.unwrap();
        assert_eq!(stored.status, ConnectionStatus::ReconnectRequired);
        assert!(stored.status_detail.unwrap().contains("Reconnect"));
        let err = env.service.access_token(&conn.id).await.unwrap_err();
        assert_eq!(err.code(), "connect.reconnect_required");
        // Client calls surface the same code.
        let err = env
            .service
            .client(&conn.id)
            .unwrap()
            .list_objects("contacts", &Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "connect.reconnect_required");

        let started = env.service.begin_reconnect(&conn.id).await.unwrap();
        let service = env.service.clone();
        let flow = started.flow_id.clone();
        let waiting = tokio::spawn(async move { service.finish_oauth(&flow).await });
        let callback = env.consent(&started.authorize_url, "allow").await;
        env.visit(&callback).await.unwrap();
        let again = waiting.await.unwrap().unwrap();
        assert_eq!(
            (again.id.as_str(), again.status),
            (conn.id.as_str(), ConnectionStatus::Connected)
        );
        assert_ne!(
            env.secrets.value(&conn.id, SecretKind::Refresh).unwrap(),
            refresh
        );
        assert_eq!(env.service.list().await.unwrap().len(), 1);
        env.service
            .client(&conn.id)
            .unwrap()
            .list_objects("contacts", &Default::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn token_connection_validates_format_then_hubspot_and_reports_scope_gaps() {
        let env = env().await;
        let base = Some(env.sandbox.base_url());
        let add = |token: &str| AddToken {
            label: None,
            base_url: base.clone(),
            token: Secret::from(token),
        };
        let secret_like = env.sandbox.demo_app().client_secret;
        assert_eq!(
            env.service
                .add_token(add(&secret_like))
                .await
                .unwrap_err()
                .code(),
            "connect.token_format"
        );
        let token = env.sandbox.private_app_token();
        let spaced = format!("{} {}", &token[..20], &token[20..]);
        assert_eq!(
            env.service
                .add_token(add(&spaced))
                .await
                .unwrap_err()
                .code(),
            "connect.token_format"
        );
        assert_eq!(
            env.service
                .add_token(add(&token[..25]))
                .await
                .unwrap_err()
                .code(),
            "connect.token_format"
        );
        assert_eq!(env.token_calls().await, 0);

        let conn = env
            .service
            .add_token(add(&format!("{token}\n")))
            .await
            .unwrap();
        assert_eq!(
            (conn.method, conn.portal_id),
            (AuthMethod::Token, env.sandbox.portal_id())
        );
        assert_eq!(
            conn.label,
            format!("Demo portal {}", env.sandbox.portal_id())
        );
        assert!(conn
            .granted_scopes
            .contains(&"crm.objects.deals.write".to_owned()));
        assert_eq!(
            env.secrets.value(&conn.id, SecretKind::Access).unwrap(),
            token
        );

        // A token with fewer scopes: the report names the gap and the token-specific fix.
        let minted: serde_json::Value = env
            .admin(
                "tokens",
                serde_json::json!({ "scopes": ["crm.objects.contacts.read"], "kind": "private" }),
            )
            .await
            .json()
            .await
            .unwrap();
        let narrow = env
            .service
            .add_token(add(minted["token"].as_str().unwrap()))
            .await
            .unwrap();
        let report = env
            .service
            .scope_report(
                &narrow.id,
                &[
                    ObjectAccess::read(ScopeObject::Contacts),
                    ObjectAccess::write(ScopeObject::Deals),
                ],
            )
            .await
            .unwrap();
        assert!(!report.all_satisfied);
        assert!(report.objects[0].satisfied);
        assert_eq!(
            report.objects[1].missing_required,
            ["crm.objects.deals.read", "crm.objects.deals.write"]
        );
        assert!(report.objects[1]
            .fix
            .as_deref()
            .unwrap()
            .contains("regenerate"));
        let err = env
            .service
            .client(&narrow.id)
            .unwrap()
            .list_objects("deals", &Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "hubspot.missing_scopes");

        // Revoked token: refused at add time, and a stored one moves to Reconnect on first use.
        let r = env
            .admin(
                "tokens/revoke",
                serde_json::json!({ "token": minted["token"] }),
            )
            .await;
        assert_eq!(r.status(), 204);
        let err = env
            .service
            .add_token(add(minted["token"].as_str().unwrap()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "hubspot.unauthorized");
        let err = env
            .service
            .client(&narrow.id)
            .unwrap()
            .list_objects("contacts", &Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "hubspot.unauthorized");
        assert_eq!(
            env.service.get(&narrow.id).await.unwrap().status,
            ConnectionStatus::ReconnectRequired
        );
        // Replacing it with a valid token of the same portal restores it.
        let fixed = env
            .service
            .replace_token(&narrow.id, Secret::new(token.clone()))
            .await
            .unwrap();
        assert_eq!(fixed.status, ConnectionStatus::Connected);
        env.service
            .client(&narrow.id)
            .unwrap()
            .list_objects("deals", &Default::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn disconnect_revokes_unless_the_grant_is_shared_then_deletes_secrets() {
        let env = env().await;
        let conn = env.connect_oauth().await;
        // A second connection holding the same refresh token (e.g. the same portal added twice).
        let mut twin = conn.clone();
        twin.id = "twin".into();
        let refresh = Secret::new(env.secrets.value(&conn.id, SecretKind::Refresh).unwrap());
        env.service.store.upsert(&twin, Some(&refresh)).unwrap();
        for kind in SecretKind::ALL {
            let value = Secret::new(env.secrets.value(&conn.id, kind).unwrap());
            env.secrets.set("twin", kind, &value).unwrap();
        }
        let report = env.service.disconnect(&conn.id).await.unwrap();
        assert!(!report.revoked);
        assert!(report.note.unwrap().contains("Another connection"));
        assert!(SecretKind::ALL
            .iter()
            .all(|k| env.secrets.value(&conn.id, *k).is_none()));
        env.service
            .refresh("twin")
            .await
            .expect("the shared grant still works");

        let report = env.service.disconnect("twin").await.unwrap();
        assert!(report.revoked, "{report:?}");
        assert!(env.service.list().await.unwrap().is_empty());
        assert!(env.secrets.entries.lock().unwrap().is_empty());
        let app = env.sandbox.demo_app();
        let client = env
            .service
            .tokens
            .client_for(&env.sandbox.base_url())
            .unwrap();
        let err = client
            .refresh_access_token(
                &OAuthClient {
                    client_id: app.client_id,
                    client_secret: Secret::new(app.client_secret),
                },
                &refresh,
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            "hubspot.invalid_grant",
            "the grant is revoked at HubSpot"
        );
        assert_eq!(
            env.service.disconnect("twin").await.unwrap_err().code(),
            "connect.not_found"
        );
    }

    #[tokio::test]
    async fn no_keychain_fails_early_with_the_fix_and_writes_nothing() {
        let env = env().await;
        env.secrets.unavailable.store(true, Ordering::SeqCst);
        let err = env
            .service
            .add_token(AddToken {
                label: None,
                base_url: Some(env.sandbox.base_url()),
                token: Secret::new(env.sandbox.private_app_token()),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), "connect.keychain_unavailable");
        assert!(err.hint().unwrap().contains("never in a file"));
        let counters: serde_json::Value = env
            .http
            .get(format!("{}/_sandbox/requests", env.sandbox.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            counters["total"], 0,
            "HubSpot is not asked before the keychain works"
        );
        let err = env
            .service
            .begin_oauth(env.begin_request())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "connect.keychain_unavailable");
        assert!(
            !env.service.loopback.is_listening(env.port),
            "no listener before the keychain works"
        );
        assert!(env.service.list().await.unwrap().is_empty());
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Everything Spoke (and the in-process demo portal) logs at TRACE during full flows, grepped
    /// for every secret that passed through.
    #[tokio::test]
    async fn no_secret_reaches_the_logs() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let env = env().await;
        let mut secrets: Vec<String> = vec![
            env.sandbox.private_app_token(),
            env.sandbox.demo_app().client_secret,
        ];
        let started = env.service.begin_oauth(env.begin_request()).await.unwrap();
        let service = env.service.clone();
        let flow = started.flow_id.clone();
        let waiting = tokio::spawn(async move { service.finish_oauth(&flow).await });
        let callback = env.consent(&started.authorize_url, "allow").await;
        let code = url::Url::parse(&callback)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        secrets.push(code);
        env.visit(&callback).await.unwrap();
        let conn = waiting.await.unwrap().unwrap();
        secrets.push(env.secrets.value(&conn.id, SecretKind::Access).unwrap());
        secrets.push(env.secrets.value(&conn.id, SecretKind::Refresh).unwrap());
        env.service.refresh(&conn.id).await.unwrap();
        secrets.push(env.secrets.value(&conn.id, SecretKind::Access).unwrap());
        env.admin("clock/advance", serde_json::json!({ "ms": 1_900_000 }))
            .await;
        env.service
            .client(&conn.id)
            .unwrap()
            .list_objects("contacts", &Default::default())
            .await
            .unwrap();
        secrets.push(env.secrets.value(&conn.id, SecretKind::Access).unwrap());
        let token = AddToken {
            label: None,
            base_url: Some(env.sandbox.base_url()),
            token: Secret::new(env.sandbox.private_app_token()),
        };
        let tconn = env.service.add_token(token).await.unwrap();
        let bad = AddToken {
            label: None,
            base_url: Some(env.sandbox.base_url()),
            token: Secret::from("pat-na1-11111111-2222-3333-4444-555555555555"),
        };
        secrets.push("11111111-2222-3333-4444-555555555555".into());
        assert!(env.service.add_token(bad).await.is_err());
        env.service.disconnect(&tconn.id).await.unwrap();
        env.service.disconnect(&conn.id).await.unwrap();

        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("refreshing the HubSpot access token"),
            "the capture works"
        );
        assert!(text.lines().count() > 20, "TRACE logging produced output");
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret reached the logs:\n{}",
                text.lines()
                    .filter(|l| l.contains(secret.as_str()))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }

    #[tokio::test]
    async fn verify_rereads_scopes_and_catches_revoked_tokens() {
        let env = env().await;
        let minted: serde_json::Value = env
            .admin(
                "tokens",
                serde_json::json!({ "scopes": ["crm.objects.contacts.read"], "kind": "private" }),
            )
            .await
            .json()
            .await
            .unwrap();
        let token = minted["token"].as_str().unwrap().to_owned();
        let conn = env
            .service
            .add_token(AddToken {
                label: Some("Narrow".into()),
                base_url: Some(env.sandbox.base_url()),
                token: Secret::new(token.clone()),
            })
            .await
            .unwrap();
        assert_eq!(conn.granted_scopes, ["crm.objects.contacts.read"]);
        // Scopes changed in HubSpot: verify picks them up.
        let r = env
            .http
            .put(format!("{}/_sandbox/private-app/scopes", env.sandbox.base_url()))
            .json(&serde_json::json!({ "token": token, "scopes": ["crm.objects.contacts.read", "crm.objects.deals.read"] }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let verified = env.service.verify(&conn.id).await.unwrap();
        assert_eq!(
            verified.granted_scopes,
            ["crm.objects.contacts.read", "crm.objects.deals.read"]
        );
        assert_eq!(verified.label, "Narrow");
        env.admin("tokens/revoke", serde_json::json!({ "token": token }))
            .await;
        let err = env.service.verify(&conn.id).await.unwrap_err();
        assert_eq!(err.code(), "hubspot.unauthorized");
        assert_eq!(
            env.service.get(&conn.id).await.unwrap().status,
            ConnectionStatus::ReconnectRequired
        );

        let oauth_conn = env.connect_oauth().await;
        let verified = env.service.verify(&oauth_conn.id).await.unwrap();
        assert_eq!(verified.portal_id, env.sandbox.portal_id());
        assert!(verified
            .granted_scopes
            .contains(&"crm.objects.contacts.write".to_owned()));
    }

    #[tokio::test]
    async fn fifty_concurrent_api_calls_during_expiry_refresh_once_and_all_succeed() {
        let env = env().await;
        let conn = env.connect_oauth().await;
        env.service
            .store
            .record_refresh(&conn.id, now_secs() + 5, None, None)
            .unwrap();
        env.service.tokens.forget(&conn.id);
        let before = env.token_calls().await;
        let client = env.service.client(&conn.id).unwrap();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                client
                    .list_objects(
                        "contacts",
                        &spoke_hubspot::ListObjects {
                            limit: Some(1),
                            ..Default::default()
                        },
                    )
                    .await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(env.token_calls().await - before, 1);
        let limits = env.service.rate_limits(&conn.id).await.unwrap();
        assert_eq!(limits.burst_limit, 110, "an OAuth app's burst budget");
        assert!(limits.burst_remaining <= 60, "{limits:?}");
    }

    #[tokio::test]
    async fn token_endpoint_429s_are_waited_out() {
        let env = env().await;
        let conn = env.connect_oauth().await;
        let r = env
            .http
            .put(format!("{}/_sandbox/faults", env.sandbox.base_url()))
            .json(&serde_json::json!({ "tokenEndpoint429": 2 }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let before = env.token_calls().await;
        let refreshed = env.service.refresh(&conn.id).await.unwrap();
        assert_eq!(refreshed.status, ConnectionStatus::Connected);
        assert_eq!(
            env.token_calls().await - before,
            3,
            "two 429s, then the refresh"
        );
    }

    #[tokio::test]
    async fn demo_app_skips_a_busy_registered_port() {
        let env = env().await;
        let mut req = env.begin_request();
        req.port = None;
        req.optional_scopes = vec![];
        // Hold the first ports the way another program would (tolerate ones already taken).
        let held: Vec<std::net::TcpListener> = DEMO_CALLBACK_PORTS
            .take(2)
            .filter_map(|p| std::net::TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        let started = env.service.begin_oauth(req).await.unwrap();
        let port: u16 = started
            .redirect_uri
            .trim_start_matches("http://localhost:")
            .trim_end_matches("/callback")
            .parse()
            .unwrap();
        assert!(DEMO_CALLBACK_PORTS.contains(&port));
        assert!(held.iter().all(|l| l.local_addr().unwrap().port() != port));
        let service = env.service.clone();
        let flow = started.flow_id.clone();
        let waiting = tokio::spawn(async move { service.finish_oauth(&flow).await });
        let callback = env.consent(&started.authorize_url, "allow").await;
        env.visit(&callback).await.unwrap();
        waiting.await.unwrap().unwrap();

        // An own app's port is exactly the registered one: busy means a clear error.
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut own = env.begin_request();
        own.app_kind = OAuthAppKind::Own;
        own.port = Some(busy.local_addr().unwrap().port());
        assert_eq!(
            env.service.begin_oauth(own).await.unwrap_err().code(),
            "connect.port_in_use"
        );
        drop(held);
    }

    #[tokio::test]
    async fn the_code_is_bound_to_this_flows_pkce_verifier() {
        let env = env().await;
        let started = env.service.begin_oauth(env.begin_request()).await.unwrap();
        // Someone who intercepted the code would not have the verifier: simulate a wrong one.
        lock(&env.service.flows)
            .get_mut(&started.flow_id)
            .unwrap()
            .verifier = oauth::pkce().verifier;
        let callback = env.consent(&started.authorize_url, "allow").await;
        env.visit(&callback).await.unwrap();
        let err = env
            .service
            .finish_oauth(&started.flow_id)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "hubspot.invalid_grant");
        assert!(env.service.list().await.unwrap().is_empty());
        assert!(env.secrets.entries.lock().unwrap().is_empty());
    }
}
