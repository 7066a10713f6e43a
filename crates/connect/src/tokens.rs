//! Access tokens for HubSpot clients: read from the keychain, refreshed single-flight per
//! connection with a margin before expiry, rotated refresh tokens persisted before use, and
//! `invalid_grant` turned into the "Reconnect" state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spoke_hubspot::{BoxFuture, Client, ClientConfig, OAuthClient, Secret, TokenProvider};

use crate::keychain::{blocking, SecretKind, SecretStore};
use crate::store::{now_secs, AuthMethod, Connection, ConnectionStatus, ConnectionStore};
use crate::Error;

#[derive(Default)]
struct Cached {
    access: Option<Secret>,
    /// Unix seconds; `None` for tokens that do not expire.
    expires_at: Option<i64>,
}

/// Settings of the token manager.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// Refresh when fewer than this many seconds are left.
    pub refresh_margin: Duration,
    /// How every HubSpot client is configured (OAuth version, timeouts); the base URL is set per
    /// connection.
    pub client: ClientConfig,
}

pub(crate) struct TokenManager {
    store: Arc<ConnectionStore>,
    secrets: Arc<dyn SecretStore>,
    settings: TokenSettings,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Cached>>>>,
}

impl TokenManager {
    pub(crate) fn new(
        store: Arc<ConnectionStore>,
        secrets: Arc<dyn SecretStore>,
        settings: TokenSettings,
    ) -> TokenManager {
        TokenManager {
            store,
            secrets,
            settings,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, id: &str) -> Arc<tokio::sync::Mutex<Cached>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(id.to_owned()).or_default().clone()
    }

    /// Drops the cached token (disconnect, reconnect).
    pub(crate) fn forget(&self, id: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Remembers a token just obtained (after connecting) so the first call needs no keychain read.
    pub(crate) async fn prime(&self, id: &str, access: Secret, expires_at: Option<i64>) {
        let slot = self.slot(id);
        let mut cached = slot.lock().await;
        *cached = Cached {
            access: Some(access),
            expires_at,
        };
    }

    pub(crate) fn client_for(&self, base_url: &str) -> Result<Client, Error> {
        let mut config = self.settings.client.clone();
        config.base_url = base_url.to_owned();
        Ok(Client::new(config)?)
    }

    fn fresh(&self, expires_at: Option<i64>) -> bool {
        match expires_at {
            None => true,
            Some(at) => at - now_secs() > self.settings.refresh_margin.as_secs() as i64,
        }
    }

    /// A valid access token for `id`, refreshing first if it expires within the margin. Callers
    /// that arrive during a refresh wait for it and get its result (one refresh per expiry).
    pub(crate) async fn access_token(&self, id: &str) -> Result<Secret, Error> {
        let slot = self.slot(id);
        let mut cached = slot.lock().await;
        if let Some(access) = &cached.access {
            if self.fresh(cached.expires_at) {
                return Ok(access.clone());
            }
        }
        let conn = self.store.get(id)?;
        if conn.status == ConnectionStatus::ReconnectRequired {
            return Err(Error::ReconnectRequired {
                connection_id: id.to_owned(),
            });
        }
        if cached.access.is_none()
            && (conn.method == AuthMethod::Token || self.fresh(conn.token_expires_at))
        {
            let key = id.to_owned();
            let stored = blocking(&self.secrets, move |s| s.get(&key, SecretKind::Access)).await?;
            match stored {
                Some(access) => {
                    let expires_at = if conn.method == AuthMethod::Token {
                        None
                    } else {
                        conn.token_expires_at
                    };
                    *cached = Cached {
                        access: Some(access.clone()),
                        expires_at,
                    };
                    return Ok(access);
                }
                None if conn.method == AuthMethod::Token => {
                    return Err(Error::SecretMissing {
                        connection_id: id.to_owned(),
                        what: SecretKind::Access.describe(),
                    })
                }
                None => {}
            }
        }
        if conn.method == AuthMethod::Token {
            return cached.access.clone().ok_or_else(|| Error::SecretMissing {
                connection_id: id.to_owned(),
                what: "token",
            });
        }
        self.refresh_locked(&conn, &mut cached).await
    }

    /// HubSpot answered 401 to `rejected`: hand out a newer token, refreshing if nobody has yet.
    pub(crate) async fn token_rejected(
        &self,
        id: &str,
        rejected: &Secret,
    ) -> Result<Option<Secret>, Error> {
        let slot = self.slot(id);
        let mut cached = slot.lock().await;
        if let Some(current) = &cached.access {
            if current != rejected && self.fresh(cached.expires_at) {
                return Ok(Some(current.clone()));
            }
        }
        let conn = self.store.get(id)?;
        match conn.method {
            AuthMethod::Token => {
                // A service key or private-app token that gets 401 was revoked, rotated or expired.
                cached.access = None;
                self.store.set_status(
                    id,
                    ConnectionStatus::ReconnectRequired,
                    Some("HubSpot rejected the token (revoked, rotated or expired). Paste a new token."),
                )?;
                Ok(None)
            }
            AuthMethod::OAuth => self.refresh_locked(&conn, &mut cached).await.map(Some),
        }
    }

    /// Refreshes now, whatever the expiry (the "Refresh" button, tests).
    pub(crate) async fn force_refresh(&self, id: &str) -> Result<Secret, Error> {
        let slot = self.slot(id);
        let mut cached = slot.lock().await;
        let conn = self.store.get(id)?;
        if conn.method == AuthMethod::Token {
            return Err(Error::InvalidInput(
                "token connections have nothing to refresh; paste a new token to replace it"
                    .to_owned(),
            ));
        }
        self.refresh_locked(&conn, &mut cached).await
    }

    async fn refresh_locked(
        &self,
        conn: &Connection,
        cached: &mut Cached,
    ) -> Result<Secret, Error> {
        let id = conn.id.clone();
        let app = conn.oauth_app.clone().ok_or_else(|| {
            Error::Store(format!(
                "connection {id} uses OAuth but has no app recorded"
            ))
        })?;
        let key = id.clone();
        let (refresh, client_secret) = blocking(&self.secrets, move |s| {
            Ok((
                s.get(&key, SecretKind::Refresh)?,
                s.get(&key, SecretKind::ClientSecret)?,
            ))
        })
        .await?;
        let refresh = refresh.ok_or_else(|| Error::SecretMissing {
            connection_id: id.clone(),
            what: SecretKind::Refresh.describe(),
        })?;
        let client_secret = client_secret.ok_or_else(|| Error::SecretMissing {
            connection_id: id.clone(),
            what: SecretKind::ClientSecret.describe(),
        })?;
        let client = self.client_for(&conn.base_url)?;
        let oauth = OAuthClient {
            client_id: app.client_id.clone(),
            client_secret,
        };
        tracing::info!(connection = %id, "refreshing the HubSpot access token");
        let tokens = match client.refresh_access_token(&oauth, &refresh).await {
            Ok(tokens) => tokens,
            Err(spoke_hubspot::Error::InvalidGrant { description }) => {
                cached.access = None;
                let detail = format!(
                    "HubSpot no longer accepts this sign-in{}. Click Reconnect.",
                    description.map(|d| format!(" ({d})")).unwrap_or_default()
                );
                self.store
                    .set_status(&id, ConnectionStatus::ReconnectRequired, Some(&detail))?;
                return Err(Error::ReconnectRequired { connection_id: id });
            }
            Err(e) => return Err(e.into()),
        };
        let expires_at = now_secs() + tokens.expires_in as i64;
        let rotated = tokens.refresh_token.clone().filter(|new| new != &refresh);
        // Persist the rotated refresh token before the new access token is used anywhere: if
        // Spoke stopped right after, the next start must not hold a refresh token HubSpot retired.
        let key = id.clone();
        let access = tokens.access_token.clone();
        let rotated_for_keychain = rotated.clone();
        blocking(&self.secrets, move |s| {
            if let Some(new_refresh) = &rotated_for_keychain {
                s.set(&key, SecretKind::Refresh, new_refresh)?;
            }
            s.set(&key, SecretKind::Access, &access)
        })
        .await?;
        self.store
            .record_refresh(&id, expires_at, rotated.as_ref(), Some(&tokens.scopes))?;
        *cached = Cached {
            access: Some(tokens.access_token.clone()),
            expires_at: Some(expires_at),
        };
        Ok(tokens.access_token)
    }
}

/// The [`TokenProvider`] of one connection, for [`spoke_hubspot::Client`].
pub struct ConnectionTokens {
    manager: Arc<TokenManager>,
    id: String,
}

impl ConnectionTokens {
    pub(crate) fn new(manager: Arc<TokenManager>, id: String) -> ConnectionTokens {
        ConnectionTokens { manager, id }
    }
}

impl TokenProvider for ConnectionTokens {
    fn access_token(&self) -> BoxFuture<'_, Result<Secret, spoke_hubspot::Error>> {
        Box::pin(async move {
            self.manager
                .access_token(&self.id)
                .await
                .map_err(Error::into_hubspot)
        })
    }

    fn token_rejected<'a>(
        &'a self,
        rejected: &'a Secret,
    ) -> BoxFuture<'a, Result<Option<Secret>, spoke_hubspot::Error>> {
        Box::pin(async move {
            self.manager
                .token_rejected(&self.id, rejected)
                .await
                .map_err(Error::into_hubspot)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::keychain::memory::MemoryStore;
    use crate::store::{refresh_fingerprint, OAuthAppInfo, OAuthAppKind};

    /// A token endpoint that rotates the refresh token on every refresh: `rt-1` → `rt-2` → ….
    fn rotating_token_endpoint() -> (String, Arc<Mutex<Vec<String>>>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let base = format!("http://{}", server.server_addr().to_ip().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_in = seen.clone();
        std::thread::spawn(move || {
            for (n, mut request) in server.incoming_requests().enumerate() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                seen_in.lock().unwrap().push(body);
                let json = format!(
                    r#"{{"access_token":"at-{a}","refresh_token":"rt-{r}","expires_in":1800,"token_type":"bearer","token_use":"access_token","scopes":["oauth"]}}"#,
                    a = n + 2,
                    r = n + 2
                );
                let header =
                    tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
                        .unwrap();
                let _ = request.respond(tiny_http::Response::from_string(json).with_header(header));
            }
        });
        (base, seen)
    }

    fn setup(base: &str) -> (TokenManager, Arc<ConnectionStore>, Arc<MemoryStore>) {
        let store = Arc::new(ConnectionStore::in_memory().unwrap());
        let conn = Connection {
            id: "c".into(),
            label: "x".into(),
            method: AuthMethod::OAuth,
            base_url: base.to_owned(),
            portal_id: 1,
            hub_domain: None,
            account_type: None,
            data_hosting_location: None,
            ui_domain: None,
            time_zone: None,
            user_id: None,
            granted_scopes: vec![],
            oauth_app: Some(OAuthAppInfo {
                kind: OAuthAppKind::Own,
                client_id: "cid".into(),
                authorize_base_url: base.to_owned(),
                redirect_port: 1,
                scopes: vec!["oauth".into()],
                optional_scopes: vec![],
            }),
            token_expires_at: Some(now_secs() - 1),
            status: ConnectionStatus::Connected,
            status_detail: None,
            created_at: 0,
            updated_at: 0,
        };
        store.upsert(&conn, Some(&Secret::from("rt-1"))).unwrap();
        let secrets = Arc::new(MemoryStore::default());
        secrets
            .set("c", SecretKind::Refresh, &Secret::from("rt-1"))
            .unwrap();
        secrets
            .set("c", SecretKind::ClientSecret, &Secret::from("cs"))
            .unwrap();
        let mut client = ClientConfig::new(base);
        client.retry.base_delay = Duration::from_millis(5);
        let settings = TokenSettings {
            refresh_margin: Duration::from_secs(300),
            client,
        };
        (
            TokenManager::new(store.clone(), secrets.clone(), settings),
            store,
            secrets,
        )
    }

    #[tokio::test]
    async fn a_rotated_refresh_token_is_stored_and_used_next_time() {
        let (base, seen) = rotating_token_endpoint();
        let (manager, store, secrets) = setup(&base);
        assert_eq!(manager.access_token("c").await.unwrap().expose(), "at-2");
        assert_eq!(
            secrets.value("c", SecretKind::Refresh).as_deref(),
            Some("rt-2")
        );
        assert_eq!(
            secrets.value("c", SecretKind::Access).as_deref(),
            Some("at-2")
        );
        // The fingerprint follows the rotation (shared-grant detection stays right).
        let other = store.get("c").unwrap();
        let mut twin = other.clone();
        twin.id = "twin".into();
        store.upsert(&twin, Some(&Secret::from("rt-2"))).unwrap();
        assert_eq!(store.others_sharing_refresh_token("c").unwrap(), 1);
        assert_ne!(
            refresh_fingerprint(&Secret::from("rt-1")),
            refresh_fingerprint(&Secret::from("rt-2"))
        );
        manager.force_refresh("c").await.unwrap();
        let bodies = seen.lock().unwrap().clone();
        assert!(bodies[0].contains("refresh_token=rt-1"));
        assert!(
            bodies[1].contains("refresh_token=rt-2"),
            "the rotated token is the one used next"
        );
    }

    #[tokio::test]
    async fn a_new_token_is_not_handed_out_if_the_rotated_refresh_token_cannot_be_stored() {
        let (base, _seen) = rotating_token_endpoint();
        let (manager, store, secrets) = setup(&base);
        secrets.fail_writes.store(true, Ordering::SeqCst);
        let err = manager.access_token("c").await.unwrap_err();
        assert_eq!(
            spoke_hubspot::Describe::code(&err),
            "connect.keychain_unavailable"
        );
        assert_eq!(
            secrets.value("c", SecretKind::Access),
            None,
            "no access token without its refresh token"
        );
        assert_eq!(
            store
                .get("c")
                .unwrap()
                .token_expires_at
                .map(|t| t < now_secs()),
            Some(true)
        );
    }
}
