//! Non-secret connection metadata in the app's SQLite database. Tokens never come here; the only
//! token-derived value is a salted SHA-256 fingerprint of the refresh token, used to tell whether
//! two connections share one HubSpot grant (so disconnecting one must not revoke the other).

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection as Db, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spoke_hubspot::Secret;

use crate::Error;

/// How a connection authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum AuthMethod {
    /// A pasted service key or private-app token.
    Token,
    /// OAuth with the admin's own app or the demo portal's app.
    #[serde(rename = "oauth")]
    OAuth,
}

/// Whose OAuth app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum OAuthAppKind {
    /// The admin's own HubSpot app (client ID entered, client secret in the keychain).
    Own,
    /// The demo portal's built-in app.
    Demo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionStatus {
    Connected,
    /// HubSpot no longer accepts the grant (`invalid_grant`, revoked token): one-click Reconnect.
    ReconnectRequired,
}

/// The OAuth app a connection signs in with (no secret: that one is in the keychain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct OAuthAppInfo {
    pub kind: OAuthAppKind,
    pub client_id: String,
    /// Where the consent page is (`https://app.hubspot.com`, or the demo portal's base URL).
    pub authorize_base_url: String,
    /// The loopback port; `http://localhost:{port}/callback` is the registered redirect URL.
    pub redirect_port: u16,
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
}

/// One connection, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub id: String,
    pub label: String,
    pub method: AuthMethod,
    /// `https://api.hubapi.com` or the demo portal.
    pub base_url: String,
    #[specta(type = f64)]
    pub portal_id: u64,
    pub hub_domain: Option<String>,
    /// `STANDARD`, `SANDBOX`, `DEVELOPER_TEST`, `APP_DEVELOPER`.
    pub account_type: Option<String>,
    /// `na1`, `eu1`, …
    pub data_hosting_location: Option<String>,
    pub ui_domain: Option<String>,
    pub time_zone: Option<String>,
    #[specta(type = Option<f64>)]
    pub user_id: Option<u64>,
    pub granted_scopes: Vec<String>,
    pub oauth_app: Option<OAuthAppInfo>,
    /// When the current access token expires (Unix seconds); `None` for tokens that do not expire.
    #[specta(type = Option<f64>)]
    pub token_expires_at: Option<i64>,
    pub status: ConnectionStatus,
    /// Why the connection needs attention, in plain words.
    pub status_detail: Option<String>,
    #[specta(type = f64)]
    pub created_at: i64,
    #[specta(type = f64)]
    pub updated_at: i64,
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Fingerprint of a refresh token: enough to compare, useless to use.
pub fn refresh_fingerprint(token: &Secret) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"spoke.refresh-token.v1:");
    hasher.update(token.expose().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS connections (
    id                    TEXT PRIMARY KEY,
    label                 TEXT NOT NULL,
    method                TEXT NOT NULL,
    base_url              TEXT NOT NULL,
    portal_id             INTEGER NOT NULL,
    hub_domain            TEXT,
    account_type          TEXT,
    data_hosting_location TEXT,
    ui_domain             TEXT,
    time_zone             TEXT,
    user_id               INTEGER,
    granted_scopes        TEXT NOT NULL,
    oauth_app             TEXT,
    token_expires_at      INTEGER,
    status                TEXT NOT NULL,
    status_detail         TEXT,
    refresh_fingerprint   TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS connections_refresh_fingerprint ON connections(refresh_fingerprint);
";

/// The connections table.
pub struct ConnectionStore {
    db: Mutex<Db>,
}

fn enum_str<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn enum_from<T: for<'de> Deserialize<'de>>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn json_from<T: for<'de> Deserialize<'de>>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Store(e.to_string()))
}

impl ConnectionStore {
    /// Opens (and creates) the database at `path`.
    pub fn open(path: &Path) -> Result<ConnectionStore, Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::Store(format!("cannot create {}: {e}", parent.display())))?;
        }
        ConnectionStore::init(Db::open(path)?)
    }

    /// A private in-memory database (tests, previews).
    pub fn in_memory() -> Result<ConnectionStore, Error> {
        ConnectionStore::init(Db::open_in_memory()?)
    }

    fn init(db: Db) -> Result<ConnectionStore, Error> {
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.execute_batch(SCHEMA)?;
        Ok(ConnectionStore { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn row(row: &Row<'_>) -> rusqlite::Result<Connection> {
        let oauth_app: Option<String> = row.get("oauth_app")?;
        Ok(Connection {
            id: row.get("id")?,
            label: row.get("label")?,
            method: enum_from(&row.get::<_, String>("method")?)?,
            base_url: row.get("base_url")?,
            portal_id: row.get::<_, i64>("portal_id")? as u64,
            hub_domain: row.get("hub_domain")?,
            account_type: row.get("account_type")?,
            data_hosting_location: row.get("data_hosting_location")?,
            ui_domain: row.get("ui_domain")?,
            time_zone: row.get("time_zone")?,
            user_id: row.get::<_, Option<i64>>("user_id")?.map(|v| v as u64),
            granted_scopes: json_from(&row.get::<_, String>("granted_scopes")?)?,
            oauth_app: oauth_app.as_deref().map(json_from).transpose()?,
            token_expires_at: row.get("token_expires_at")?,
            status: enum_from(&row.get::<_, String>("status")?)?,
            status_detail: row.get("status_detail")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }

    pub fn list(&self) -> Result<Vec<Connection>, Error> {
        let db = self.db();
        let mut stmt = db.prepare("SELECT * FROM connections ORDER BY created_at, id")?;
        let rows = stmt.query_map([], ConnectionStore::row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn get(&self, id: &str) -> Result<Connection, Error> {
        self.db()
            .query_row(
                "SELECT * FROM connections WHERE id = ?1",
                [id],
                ConnectionStore::row,
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(id.to_owned()))
    }

    /// Inserts or replaces a connection (with the fingerprint of its refresh token, if any).
    pub fn upsert(&self, c: &Connection, refresh: Option<&Secret>) -> Result<(), Error> {
        let fingerprint = refresh.map(refresh_fingerprint);
        let oauth_app = c.oauth_app.as_ref().map(to_json).transpose()?;
        self.db().execute(
            "INSERT INTO connections (id, label, method, base_url, portal_id, hub_domain, account_type,
                 data_hosting_location, ui_domain, time_zone, user_id, granted_scopes, oauth_app,
                 token_expires_at, status, status_detail, refresh_fingerprint, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
             ON CONFLICT(id) DO UPDATE SET label = excluded.label, method = excluded.method,
                 base_url = excluded.base_url, portal_id = excluded.portal_id, hub_domain = excluded.hub_domain,
                 account_type = excluded.account_type, data_hosting_location = excluded.data_hosting_location,
                 ui_domain = excluded.ui_domain, time_zone = excluded.time_zone, user_id = excluded.user_id,
                 granted_scopes = excluded.granted_scopes, oauth_app = excluded.oauth_app,
                 token_expires_at = excluded.token_expires_at, status = excluded.status,
                 status_detail = excluded.status_detail,
                 refresh_fingerprint = COALESCE(excluded.refresh_fingerprint, connections.refresh_fingerprint),
                 updated_at = excluded.updated_at",
            params![
                c.id,
                c.label,
                enum_str(&c.method),
                c.base_url,
                c.portal_id as i64,
                c.hub_domain,
                c.account_type,
                c.data_hosting_location,
                c.ui_domain,
                c.time_zone,
                c.user_id.map(|v| v as i64),
                to_json(&c.granted_scopes)?,
                oauth_app,
                c.token_expires_at,
                enum_str(&c.status),
                c.status_detail,
                fingerprint,
                c.created_at,
                c.updated_at,
            ],
        )?;
        Ok(())
    }

    /// Records a refresh: new expiry and, when HubSpot rotated it, the new refresh fingerprint.
    pub fn record_refresh(
        &self,
        id: &str,
        expires_at: i64,
        rotated: Option<&Secret>,
        scopes: Option<&[String]>,
    ) -> Result<(), Error> {
        let fingerprint = rotated.map(refresh_fingerprint);
        let scopes = scopes.filter(|s| !s.is_empty()).map(to_json).transpose()?;
        let changed = self.db().execute(
            "UPDATE connections SET token_expires_at = ?2,
                 refresh_fingerprint = COALESCE(?3, refresh_fingerprint),
                 granted_scopes = COALESCE(?4, granted_scopes),
                 status = 'connected', status_detail = NULL, updated_at = ?5
             WHERE id = ?1",
            params![id, expires_at, fingerprint, scopes, now_secs()],
        )?;
        if changed == 0 {
            return Err(Error::NotFound(id.to_owned()));
        }
        Ok(())
    }

    pub fn set_status(
        &self,
        id: &str,
        status: ConnectionStatus,
        detail: Option<&str>,
    ) -> Result<(), Error> {
        let changed = self.db().execute(
            "UPDATE connections SET status = ?2, status_detail = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, enum_str(&status), detail, now_secs()],
        )?;
        if changed == 0 {
            return Err(Error::NotFound(id.to_owned()));
        }
        Ok(())
    }

    /// How many *other* connections hold the same refresh token as `id`.
    pub fn others_sharing_refresh_token(&self, id: &str) -> Result<usize, Error> {
        let count: i64 = self.db().query_row(
            "SELECT COUNT(*) FROM connections o JOIN connections c ON o.refresh_fingerprint = c.refresh_fingerprint
             WHERE c.id = ?1 AND o.id <> ?1 AND c.refresh_fingerprint IS NOT NULL",
            [id],
            |row| row.get(0),
        )?;
        Ok(count as usize)
    }

    pub fn delete(&self, id: &str) -> Result<(), Error> {
        self.db()
            .execute("DELETE FROM connections WHERE id = ?1", [id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(id: &str) -> Connection {
        Connection {
            id: id.into(),
            label: "Acme".into(),
            method: AuthMethod::OAuth,
            base_url: "https://api.hubapi.com".into(),
            portal_id: 4_294_967_296,
            hub_domain: Some("acme.com".into()),
            account_type: Some("STANDARD".into()),
            data_hosting_location: Some("eu1".into()),
            ui_domain: Some("app-eu1.hubspot.com".into()),
            time_zone: Some("Europe/Berlin".into()),
            user_id: Some(9),
            granted_scopes: vec!["oauth".into(), "crm.objects.contacts.read".into()],
            oauth_app: Some(OAuthAppInfo {
                kind: OAuthAppKind::Own,
                client_id: "cid".into(),
                authorize_base_url: "https://app.hubspot.com".into(),
                redirect_port: 53135,
                scopes: vec!["oauth".into()],
                optional_scopes: vec![],
            }),
            token_expires_at: Some(1_800_000_000),
            status: ConnectionStatus::Connected,
            status_detail: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn round_trips_and_updates() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConnectionStore::open(&dir.path().join("nested/spoke.db")).unwrap();
        let c = sample("a");
        store.upsert(&c, Some(&Secret::from("rt-1"))).unwrap();
        assert_eq!(store.get("a").unwrap(), c);
        assert_eq!(store.list().unwrap(), vec![c.clone()]);
        store
            .set_status("a", ConnectionStatus::ReconnectRequired, Some("revoked"))
            .unwrap();
        let got = store.get("a").unwrap();
        assert_eq!(
            (got.status, got.status_detail.as_deref()),
            (ConnectionStatus::ReconnectRequired, Some("revoked"))
        );
        store
            .record_refresh("a", 1_900_000_000, None, Some(&["oauth".to_owned()]))
            .unwrap();
        let got = store.get("a").unwrap();
        assert_eq!(
            (got.status, got.token_expires_at),
            (ConnectionStatus::Connected, Some(1_900_000_000))
        );
        assert_eq!(got.granted_scopes, ["oauth"]);
        assert!(matches!(store.get("zzz"), Err(Error::NotFound(_))));
        assert!(matches!(
            store.set_status("zzz", ConnectionStatus::Connected, None),
            Err(Error::NotFound(_))
        ));
        store.delete("a").unwrap();
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn shared_refresh_tokens_are_found_by_fingerprint_only() {
        let store = ConnectionStore::in_memory().unwrap();
        store
            .upsert(&sample("a"), Some(&Secret::from("rt-shared")))
            .unwrap();
        store
            .upsert(&sample("b"), Some(&Secret::from("rt-shared")))
            .unwrap();
        store
            .upsert(&sample("c"), Some(&Secret::from("rt-other")))
            .unwrap();
        let mut token = sample("d");
        token.method = AuthMethod::Token;
        store.upsert(&token, None).unwrap();
        assert_eq!(store.others_sharing_refresh_token("a").unwrap(), 1);
        assert_eq!(store.others_sharing_refresh_token("c").unwrap(), 0);
        assert_eq!(store.others_sharing_refresh_token("d").unwrap(), 0);
        store
            .record_refresh("b", 5, Some(&Secret::from("rt-rotated")), None)
            .unwrap();
        assert_eq!(store.others_sharing_refresh_token("a").unwrap(), 0);
        // An update without a new token keeps the old fingerprint.
        store.upsert(&sample("c"), None).unwrap();
        store
            .upsert(&sample("e"), Some(&Secret::from("rt-other")))
            .unwrap();
        assert_eq!(store.others_sharing_refresh_token("c").unwrap(), 1);
    }

    #[test]
    fn the_database_never_contains_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spoke.db");
        let store = ConnectionStore::open(&path).unwrap();
        store
            .upsert(&sample("a"), Some(&Secret::from("rt-very-secret-value")))
            .unwrap();
        drop(store);
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("rt-very-secret-value"));
        assert!(text.contains("acme.com"), "sanity: the file holds the row");
    }

    #[test]
    fn connection_serializes_camel_case_for_the_ui() {
        let json = serde_json::to_value(sample("a")).unwrap();
        assert_eq!(json["portalId"], 4_294_967_296u64);
        assert_eq!(json["method"], "oauth");
        assert_eq!(json["status"], "connected");
        assert_eq!(json["oauthApp"]["redirectPort"], 53135);
    }
}
