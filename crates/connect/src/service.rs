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
use crate::store::{now_secs, AuthMethod, Connection, ConnectionStatus, ConnectionStore, OAuthAppInfo, OAuthAppKind};
use crate::tokenfmt::check_token;
use crate::tokens::{ConnectionTokens, TokenManager, TokenSettings};
use crate::Error;

/// The demo app's first registered loopback port (`http://localhost:53135/callback`).
pub const DEFAULT_CALLBACK_PORT: u16 = 53135;

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
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddToken {
    pub label: Option<String>,
    /// Defaults to HubSpot; the demo portal's base URL for demo connections.
    pub base_url: Option<String>,
    pub token: Secret,
}

/// Start an OAuth sign-in.
#[derive(Debug, Clone, Deserialize)]
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
    url::Url::parse(base).ok().and_then(|u| u.host_str().map(|h| h.ends_with("hubapi.com"))).unwrap_or(false)
}

impl Connections {
    /// Opens the database and uses the OS keychain.
    pub fn open(config: ConnectConfig) -> Result<Connections, Error> {
        let keychain = Keychain::new(config.keychain_service.clone());
        let store = ConnectionStore::open(&config.db_path)?;
        Ok(Connections::with_parts(config, store, Arc::new(keychain)))
    }

    /// Builds the service from its parts (another secret store, an in-memory database).
    pub fn with_parts(config: ConnectConfig, store: ConnectionStore, secrets: Arc<dyn SecretStore>) -> Connections {
        let store = Arc::new(store);
        let settings = TokenSettings { refresh_margin: config.refresh_margin, client: config.client.clone() };
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
        let governor = GovernorRegistry::shared().for_portal(&conn.base_url, conn.portal_id, tier.budget());
        let provider = Arc::new(ConnectionTokens::new(self.tokens.clone(), conn.id.clone()));
        Ok(self.tokens.client_for(&conn.base_url)?.with_token_provider(provider).with_governor(governor))
    }

    // ---- Token connections -------------------------------------------------------------------

    /// Adds a service key / private-app token: format check, keychain check, then HubSpot (token
    /// info and account details) for identity and granted scopes.
    pub async fn add_token(&self, req: AddToken) -> Result<Connection, Error> {
        let base = req.base_url.clone().unwrap_or_else(|| HUBSPOT_API_BASE.to_owned());
        let (token, identity) = self.validate_token(&base, &req.token).await?;
        self.check_keychain().await?;
        let id = oauth::random_token(12);
        let now = now_secs();
        let conn = Connection {
            id: id.clone(),
            label: label_or(req.label, identity.ui_domain.as_deref(), identity.portal_id),
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
        self.save_new(&conn, vec![(SecretKind::Access, token.clone())], None).await?;
        self.tokens.prime(&id, token, None).await;
        Ok(conn)
    }

    /// Replaces the token of a token connection (after it was regenerated with more scopes, or
    /// revoked): same checks as [`Connections::add_token`], and it must be the same portal.
    pub async fn replace_token(&self, id: &str, token: Secret) -> Result<Connection, Error> {
        let old = self.store.get(id)?;
        if old.method != AuthMethod::Token {
            return Err(Error::InvalidInput("this connection signs in with OAuth; use Reconnect instead".to_owned()));
        }
        let (token, identity) = self.validate_token(&old.base_url, &token).await?;
        if identity.portal_id != old.portal_id {
            return Err(Error::PortalMismatch { expected: old.portal_id, got: identity.portal_id });
        }
        let key = id.to_owned();
        let value = token.clone();
        blocking(&self.secrets, move |s| s.set(&key, SecretKind::Access, &value)).await?;
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
    async fn validate_token(&self, base: &str, raw: &Secret) -> Result<(Secret, Connection), Error> {
        let checked = check_token(raw)?;
        let token = checked.token;
        let client = self.tokens.client_for(base)?;
        let info = match client.private_app_token_info(&token).await {
            Ok(info) => Some(info),
            // A token HubSpot rejects is final; any other failure of this lookup (e.g. a key type
            // it does not know) leaves account details as the judge.
            Err(e @ (spoke_hubspot::Error::Unauthorized { .. } | spoke_hubspot::Error::Network { .. } | spoke_hubspot::Error::Timeout { .. })) => {
                return Err(e.into())
            }
            Err(e) => {
                tracing::debug!(error = %e, "token info unavailable; relying on account details");
                None
            }
        };
        let details = match client.account_details_with(&token).await {
            Ok(details) => Some(details),
            Err(e @ (spoke_hubspot::Error::MissingScopes { .. } | spoke_hubspot::Error::Forbidden { .. })) if info.is_some() => {
                tracing::debug!(error = %e, "account details not allowed for this token");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let portal_id = match (&info, &details) {
            (Some(i), Some(d)) if i.hub_id != d.portal_id => {
                return Err(Error::PortalMismatch { expected: i.hub_id, got: d.portal_id })
            }
            (_, Some(d)) => d.portal_id,
            (Some(i), None) => i.hub_id,
            (None, None) => return Err(Error::InvalidInput("HubSpot did not say which portal this token belongs to".to_owned())),
        };
        let identity = Connection {
            id: String::new(),
            label: String::new(),
            method: AuthMethod::Token,
            base_url: base.to_owned(),
            portal_id,
            hub_domain: None,
            account_type: details.as_ref().and_then(|d| d.account_type.clone()),
            data_hosting_location: details.as_ref().and_then(|d| d.data_hosting_location.clone()).or(Some(checked.region)),
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
    async fn save_new(&self, conn: &Connection, secrets: Vec<(SecretKind, Secret)>, refresh: Option<&Secret>) -> Result<(), Error> {
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
        let api_base = req.base_url.clone().unwrap_or_else(|| HUBSPOT_API_BASE.to_owned());
        let authorize_base = req.authorize_base_url.clone().unwrap_or_else(|| {
            if is_hubspot(&api_base) { HUBSPOT_APP_BASE.to_owned() } else { api_base.clone() }
        });
        if req.client_secret.expose().trim().is_empty() {
            return Err(Error::InvalidInput("the app's client secret is empty".to_owned()));
        }
        let mut scopes: Vec<String> = Vec::new();
        for scope in std::iter::once("oauth").chain(req.scopes.iter().map(String::as_str)) {
            let scope = scope.trim();
            if !scope.is_empty() && !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
        let optional: Vec<String> =
            req.optional_scopes.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty() && !scopes.contains(s)).collect();
        let app = OAuthAppInfo {
            kind: req.app_kind,
            client_id: req.client_id.trim().to_owned(),
            authorize_base_url: authorize_base,
            redirect_port: req.port.unwrap_or(DEFAULT_CALLBACK_PORT),
            scopes,
            optional_scopes: optional,
        };
        self.start_flow(api_base, app, Secret::new(req.client_secret.expose().trim().to_owned()), req.label, None).await
    }

    /// One-click reconnect of an OAuth connection with its stored app and scopes.
    pub async fn begin_reconnect(&self, id: &str) -> Result<OAuthStarted, Error> {
        let conn = self.store.get(id)?;
        let app = conn
            .oauth_app
            .clone()
            .ok_or_else(|| Error::InvalidInput("this connection uses a token; paste a new token instead".to_owned()))?;
        let key = id.to_owned();
        let client_secret = blocking(&self.secrets, move |s| s.get(&key, SecretKind::ClientSecret))
            .await?
            .ok_or_else(|| Error::SecretMissing { connection_id: id.to_owned(), what: SecretKind::ClientSecret.describe() })?;
        self.start_flow(conn.base_url.clone(), app, client_secret, Some(conn.label.clone()), Some(conn.id.clone())).await
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
            let flow = flows.get_mut(flow_id).ok_or_else(|| Error::FlowNotFound(flow_id.to_owned()))?;
            match (flow.outcome.take(), flow.cancel_rx.take()) {
                (Some(outcome), Some(cancel)) => (outcome, cancel, flow.deadline),
                _ => return Err(Error::InvalidInput("this sign-in is already being awaited".to_owned())),
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
            CallbackOutcome::Failed { error, description } => Err(Error::AuthorizationFailed { error, description }),
        }
    }

    /// Cancels a sign-in; its listener closes if no other sign-in uses the port.
    pub fn cancel_oauth(&self, flow_id: &str) -> Result<(), Error> {
        let flow = lock(&self.flows).remove(flow_id).ok_or_else(|| Error::FlowNotFound(flow_id.to_owned()))?;
        self.loopback.unregister(flow.port, &flow.state);
        if let Some(tx) = flow.cancel_tx {
            let _ = tx.send(());
        }
        Ok(())
    }

    async fn complete(&self, flow: Flow, code: Secret) -> Result<Connection, Error> {
        let client = self.tokens.client_for(&flow.api_base)?;
        let oauth_client = OAuthClient { client_id: flow.app.client_id.clone(), client_secret: flow.client_secret.clone() };
        let tokens = client.exchange_code(&oauth_client, &code, &flow.redirect_uri, &flow.verifier).await?;
        let refresh = tokens.refresh_token.clone().ok_or_else(|| Error::AuthorizationFailed {
            error: "no_refresh_token".to_owned(),
            description: Some("HubSpot returned no refresh token".to_owned()),
        })?;
        let details = client.account_details_with(&tokens.access_token).await?;
        if let Some(hub) = tokens.hub_id.filter(|hub| *hub != details.portal_id) {
            return Err(Error::PortalMismatch { expected: hub, got: details.portal_id });
        }
        let introspection = match client.introspect(&oauth_client, &tokens.access_token, TokenHint::AccessToken).await {
            Ok(info) => Some(info),
            Err(e) => {
                tracing::debug!(error = %e, "token introspection unavailable");
                None
            }
        };
        let granted = if tokens.scopes.is_empty() {
            introspection.as_ref().map(|i| i.scopes.clone()).unwrap_or_default()
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
                    let _ = client.revoke(&oauth_client, &refresh, TokenHint::RefreshToken).await;
                    return Err(Error::PortalMismatch { expected: old.portal_id, got: details.portal_id });
                }
                (old.id, old.label, old.created_at)
            }
            None => {
                let hub_domain = introspection.as_ref().and_then(|i| i.hub_domain.as_deref()).or(details.ui_domain.as_deref());
                (oauth::random_token(12), label_or(flow.label.clone(), hub_domain, details.portal_id), now)
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
            user_id: tokens.user_id.or_else(|| introspection.as_ref().and_then(|i| i.user_id)),
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
        self.tokens.prime(&id, tokens.access_token, Some(expires_at)).await;
        Ok(conn)
    }

    // ---- Tokens, scopes, disconnect ----------------------------------------------------------

    /// Refreshes an OAuth connection's access token now (it is otherwise refreshed on demand).
    pub async fn refresh(&self, id: &str) -> Result<Connection, Error> {
        self.tokens.force_refresh(id).await?;
        self.store.get(id)
    }

    /// A valid access token for `id`; for other crates that call HubSpot without [`Client`].
    pub async fn access_token(&self, id: &str) -> Result<Secret, Error> {
        self.tokens.access_token(id).await
    }

    /// Granted versus needed for `picks`, per object, with the fix for each gap.
    pub async fn scope_report(&self, id: &str, picks: &[ObjectAccess]) -> Result<ScopeReport, Error> {
        let conn = self.store.get(id)?;
        Ok(scopes::report(picks, &conn.granted_scopes, conn.method))
    }

    /// Revokes the grant (unless another connection shares its refresh token), then deletes the
    /// keychain entries and the connection.
    pub async fn disconnect(&self, id: &str) -> Result<DisconnectReport, Error> {
        let conn = self.store.get(id)?;
        let mut report = DisconnectReport { revoked: false, note: None };
        if conn.method == AuthMethod::OAuth {
            if self.store.others_sharing_refresh_token(id)? > 0 {
                report.note = Some("Another connection uses the same HubSpot sign-in, so it was left active.".to_owned());
            } else {
                let key = id.to_owned();
                let (refresh, secret) = blocking(&self.secrets, move |s| {
                    Ok((s.get(&key, SecretKind::Refresh)?, s.get(&key, SecretKind::ClientSecret)?))
                })
                .await?;
                match (refresh, secret, &conn.oauth_app) {
                    (Some(refresh), Some(secret), Some(app)) => {
                        let client = self.tokens.client_for(&conn.base_url)?;
                        let oauth_client = OAuthClient { client_id: app.client_id.clone(), client_secret: secret };
                        match client.revoke(&oauth_client, &refresh, TokenHint::RefreshToken).await {
                            Ok(()) => report.revoked = true,
                            Err(e @ (spoke_hubspot::Error::InvalidGrant { .. } | spoke_hubspot::Error::OAuth { .. })) => {
                                report.note = Some(format!("HubSpot had already invalidated the sign-in ({e})."));
                            }
                            Err(e) => {
                                report.note = Some(format!(
                                    "Could not revoke the sign-in at HubSpot ({e}); remove the app under Settings → Connected apps in HubSpot."
                                ));
                            }
                        }
                    }
                    _ => report.note = Some("No sign-in was stored, so there was nothing to revoke.".to_owned()),
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

fn label_or(label: Option<String>, domain: Option<&str>, portal_id: u64) -> String {
    label
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .or_else(|| domain.map(str::to_owned))
        .unwrap_or_else(|| format!("Portal {portal_id}"))
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
