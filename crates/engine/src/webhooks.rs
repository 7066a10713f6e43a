//! Webhooks v3 receiver for OAuth connections: a local HTTP endpoint (axum) that verifies
//! `X-HubSpot-Signature-v3` and `X-HubSpot-Request-Timestamp`, refuses oversized bodies before
//! reading them whole, and stores each event once (deduplicated by `eventId`, persisted, so a
//! replay after a restart is still refused). [`Engine::apply_events`](crate::Engine::apply_events)
//! feeds the stored events into the mapping's table.
//!
//! ```ignore
//! let receiver = Receiver::bind("127.0.0.1:53190".parse()?, store.clone(), scheduler.waker()).await?;
//! receiver.register(Endpoint { connection_id, portal_id, client_secret, target_url: receiver.local_url(&connection_id) });
//! ```
//!
//! HubSpot signs `method + URI + body + timestamp` with the app's client secret (HMAC-SHA256,
//! base64), where the URI is the target URL configured in the app; requests are verified
//! against that URL (the public one, when a tunnel forwards it here), with a constant-time
//! comparison. Requests older (or newer) than 5 minutes are refused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use spoke_hubspot::{Client, Request as HsRequest, Secret};

use crate::error::{Error, Result};
use crate::store::{iso_ms, now_ms, Store};

/// Requests older or newer than this are refused (HubSpot's own rule for v3 signatures).
pub const MAX_AGE_MS: i64 = 5 * 60 * 1000;
/// Largest body accepted: HubSpot batches at most 100 events (well under 100 KB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Stored events are kept this long for deduplication (HubSpot retries for up to a day).
const KEEP_MS: i64 = 7 * 86_400_000;
/// Default port of the app's receiver; `SPOKE_WEBHOOK_PORT` changes it.
pub const DEFAULT_WEBHOOK_PORT: u16 = 53190;
/// The event types Spoke applies, per object.
pub const EVENT_KINDS: &[&str] = &[
    "creation",
    "deletion",
    "propertyChange",
    "merge",
    "associationChange",
    "restore",
    "privacyDeletion",
];

/// Why a request was refused (never stored, never applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    UnknownEndpoint,
    TooLarge { limit: usize },
    MissingHeader(&'static str),
    BadTimestamp,
    Stale { age_ms: i64 },
    BadSignature,
    BadBody(String),
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::UnknownEndpoint => StatusCode::NOT_FOUND,
            Rejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BadBody(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    pub fn reason(&self) -> String {
        match self {
            Rejection::UnknownEndpoint => {
                "no connection receives webhooks at this address".to_owned()
            }
            Rejection::TooLarge { limit } => format!("body larger than {limit} bytes"),
            Rejection::MissingHeader(h) => format!("missing {h}"),
            Rejection::BadTimestamp => {
                "X-HubSpot-Request-Timestamp is not a Unix time in milliseconds".to_owned()
            }
            Rejection::Stale { age_ms } => format!(
                "timestamp {} s away from now (more than 5 minutes)",
                age_ms / 1000
            ),
            Rejection::BadSignature => {
                "X-HubSpot-Signature-v3 does not match the app's client secret".to_owned()
            }
            Rejection::BadBody(why) => format!("body is not a list of HubSpot events: {why}"),
        }
    }
}

/// Verifies a v3 signature: base64(HMAC-SHA256(client secret, method + uri + body + timestamp)),
/// constant-time, and the timestamp within [`MAX_AGE_MS`] of `now_ms`.
pub fn verify_v3(
    client_secret: &Secret,
    method: &str,
    uri: &str,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now_ms: i64,
) -> std::result::Result<(), Rejection> {
    let signature = signature.ok_or(Rejection::MissingHeader("X-HubSpot-Signature-v3"))?;
    let timestamp = timestamp.ok_or(Rejection::MissingHeader("X-HubSpot-Request-Timestamp"))?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::BadTimestamp)?;
    let age = now_ms - ts;
    if age.abs() > MAX_AGE_MS {
        return Err(Rejection::Stale { age_ms: age });
    }
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Rejection::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.expose().as_bytes())
        .map_err(|_| Rejection::BadSignature)?;
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.trim().as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| Rejection::BadSignature)
}

/// The object type name (`contacts`) of an event kind (`contact`) or an object id (`0-1`).
pub fn object_name(kind_or_type: &str) -> String {
    match kind_or_type.to_ascii_lowercase().as_str() {
        "contact" | "contacts" | "0-1" => "contacts".to_owned(),
        "company" | "companies" | "0-2" => "companies".to_owned(),
        "deal" | "deals" | "0-3" => "deals".to_owned(),
        "ticket" | "tickets" | "0-5" => "tickets".to_owned(),
        "line_item" | "line_items" | "0-8" => "line_items".to_owned(),
        "product" | "products" | "0-7" => "products".to_owned(),
        other if other.ends_with('s') || other.contains('-') => other.to_owned(),
        other => format!("{other}s"),
    }
}

/// The event-kind prefix (`contact`) of an object type, for subscriptions.
pub fn event_prefix(object: &str) -> Option<&'static str> {
    Some(match object_name(object).as_str() {
        "contacts" => "contact",
        "companies" => "company",
        "deals" => "deal",
        "tickets" => "ticket",
        _ => return None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    event_id: u64,
    subscription_type: String,
    portal_id: u64,
    #[serde(default)]
    object_id: Option<u64>,
    #[serde(default)]
    occurred_at: Option<i64>,
    #[serde(default)]
    association_type: Option<String>,
    #[serde(default)]
    to_object_id: Option<u64>,
}

const EVENTS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _spoke_webhook_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    connection TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    portal_id INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    other_type TEXT,
    other_id TEXT,
    occurred_at INTEGER,
    received_at INTEGER NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (connection, event_id)
);
CREATE INDEX IF NOT EXISTS _spoke_webhook_events_received ON _spoke_webhook_events(received_at);
CREATE TABLE IF NOT EXISTS _spoke_webhook_urls (
    connection TEXT PRIMARY KEY,
    url TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS _spoke_webhook_cursor (
    tbl TEXT NOT NULL,
    connection TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (tbl, connection)
);";

/// One stored event, as [`Engine::apply_events`](crate::Engine::apply_events) reads it.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub seq: i64,
    pub kind: String,
    pub object_type: String,
    pub object_id: String,
    pub other_type: Option<String>,
    pub other_id: Option<String>,
    pub occurred_at: Option<i64>,
    pub payload: Value,
}

/// What one delivery added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    pub new: usize,
    pub duplicates: usize,
    /// Events of another portal than the connection's (ignored).
    pub foreign: usize,
}

impl Store {
    fn events_err(&self, e: impl std::fmt::Display) -> Error {
        Error::store(&self.path().display().to_string(), e)
    }

    pub(crate) fn events_table(&self) -> Result<()> {
        self.conn()
            .execute_batch(EVENTS_SCHEMA)
            .map_err(|e| self.events_err(e))
    }

    /// Stores a verified delivery's events, each once per connection (by `eventId`), in one
    /// transaction.
    pub fn store_events(
        &self,
        connection_id: &str,
        portal_id: u64,
        body: &[u8],
    ) -> std::result::Result<Stored, Rejection> {
        let events: Vec<Value> =
            serde_json::from_slice(body).map_err(|e| Rejection::BadBody(e.to_string()))?;
        let mut parsed = Vec::with_capacity(events.len());
        for v in events {
            let raw: RawEvent =
                serde_json::from_value(v.clone()).map_err(|e| Rejection::BadBody(e.to_string()))?;
            parsed.push((raw, v));
        }
        self.events_table()
            .map_err(|e| Rejection::BadBody(e.to_string()))?;
        let now = now_ms();
        let mut out = Stored::default();
        let mut conn = self.conn();
        let store_err =
            |e: rusqlite::Error| Rejection::BadBody(format!("the local store refused it: {e}"));
        let tx = conn.transaction().map_err(store_err)?;
        for (raw, payload) in parsed {
            if raw.portal_id != portal_id {
                out.foreign += 1;
                continue;
            }
            let (prefix, kind) = raw
                .subscription_type
                .split_once('.')
                .unwrap_or((raw.subscription_type.as_str(), ""));
            let object_type = object_name(prefix);
            let (other_type, other_id) = match (&raw.association_type, raw.to_object_id) {
                (Some(t), Some(to)) => {
                    let to_kind = t.split_once("_TO_").map(|(_, b)| b).unwrap_or("");
                    (Some(object_name(to_kind)), Some(to.to_string()))
                }
                _ => (None, None),
            };
            let object_id = payload
                .get("fromObjectId")
                .and_then(Value::as_u64)
                .or(raw.object_id)
                .map(|v| v.to_string())
                .unwrap_or_default();
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO _spoke_webhook_events (connection, event_id, portal_id, object_type, kind, object_id, other_type, other_id, occurred_at, received_at, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![connection_id, raw.event_id as i64, raw.portal_id as i64, object_type, kind, object_id, other_type, other_id, raw.occurred_at, now, payload.to_string()],
                )
                .map_err(store_err)?;
            if inserted > 0 {
                out.new += 1;
            } else {
                out.duplicates += 1;
            }
        }
        tx.execute(
            "DELETE FROM _spoke_webhook_events WHERE received_at < ?1",
            [now - KEEP_MS],
        )
        .map_err(store_err)?;
        tx.commit().map_err(store_err)?;
        Ok(out)
    }

    fn cursor(&self, table: &str, connection_id: &str) -> Result<i64> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row(
                "SELECT seq FROM _spoke_webhook_cursor WHERE tbl = ?1 AND connection = ?2",
                params![table, connection_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.events_err(e))?
            .unwrap_or(0))
    }

    /// Events of `object` (or association events touching it) not yet applied to `table`.
    pub fn pending_events(&self, connection_id: &str, table: &str, object: &str) -> Result<usize> {
        self.events_table()?;
        let cursor = self.cursor(table, connection_id)?;
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT count(*) FROM _spoke_webhook_events WHERE connection = ?1 AND seq > ?2 AND (object_type = ?3 OR other_type = ?3)",
                params![connection_id, cursor, object_name(object)],
                |r| r.get(0),
            )
            .map_err(|e| self.events_err(e))?;
        Ok(n as usize)
    }

    pub(crate) fn events_after(
        &self,
        connection_id: &str,
        table: &str,
        object: &str,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        self.events_table()?;
        let cursor = self.cursor(table, connection_id)?;
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT seq, kind, object_type, object_id, other_type, other_id, occurred_at, payload FROM _spoke_webhook_events
                 WHERE connection = ?1 AND seq > ?2 AND (object_type = ?3 OR other_type = ?3) ORDER BY seq LIMIT ?4",
            )
            .map_err(|e| self.events_err(e))?;
        let rows = stmt
            .query_map(
                params![connection_id, cursor, object_name(object), limit as i64],
                |r| {
                    Ok(StoredEvent {
                        seq: r.get(0)?,
                        kind: r.get(1)?,
                        object_type: r.get(2)?,
                        object_id: r.get(3)?,
                        other_type: r.get(4)?,
                        other_id: r.get(5)?,
                        occurred_at: r.get(6)?,
                        payload: serde_json::from_str(&r.get::<_, String>(7)?)
                            .unwrap_or(Value::Null),
                    })
                },
            )
            .map_err(|e| self.events_err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.events_err(e))?;
        Ok(rows)
    }

    /// Marks events up to `seq` applied to `table`.
    pub(crate) fn advance_events(&self, connection_id: &str, table: &str, seq: i64) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO _spoke_webhook_cursor (tbl, connection, seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT(tbl, connection) DO UPDATE SET seq = max(seq, excluded.seq)",
                params![table, connection_id, seq],
            )
            .map_err(|e| self.events_err(e))?;
        Ok(())
    }

    /// The newest stored event's sequence number (0 when none).
    pub(crate) fn last_event_seq(&self, connection_id: &str) -> Result<i64> {
        self.events_table()?;
        self.conn()
            .query_row(
                "SELECT coalesce(max(seq), 0) FROM _spoke_webhook_events WHERE connection = ?1",
                [connection_id],
                |r| r.get(0),
            )
            .map_err(|e| self.events_err(e))
    }
}

/// Checks a public webhook URL: `https://`, a host, no spaces or fragment.
pub fn check_public_url(url: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::InvalidWebhookUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        })
    };
    let Some(rest) = url.strip_prefix("https://") else {
        return bad("must start with https:// (HubSpot delivers webhooks only over HTTPS)");
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if host.is_empty() || !host.contains('.') && !host.starts_with("localhost") {
        return bad("has no host name");
    }
    if url.chars().any(|c| c.is_whitespace()) || url.contains('#') {
        return bad("must not contain spaces or a #fragment");
    }
    Ok(())
}

impl Store {
    /// Saves (or with `None` forgets) the public HTTPS URL that forwards a connection's webhooks
    /// to the local receiver; HubSpot signs requests with exactly this URL.
    pub fn set_public_webhook_url(&self, connection_id: &str, url: Option<&str>) -> Result<()> {
        self.events_table()?;
        let conn = self.conn();
        let done = match url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => {
                check_public_url(u)?;
                conn.execute(
                    "INSERT INTO _spoke_webhook_urls (connection, url) VALUES (?1, ?2) ON CONFLICT(connection) DO UPDATE SET url = excluded.url",
                    params![connection_id, u],
                )
            }
            None => conn.execute(
                "DELETE FROM _spoke_webhook_urls WHERE connection = ?1",
                [connection_id],
            ),
        };
        done.map_err(|e| self.events_err(e))?;
        Ok(())
    }

    pub fn public_webhook_url(&self, connection_id: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.events_table()?;
        self.conn()
            .query_row(
                "SELECT url FROM _spoke_webhook_urls WHERE connection = ?1",
                [connection_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.events_err(e))
    }
}

/// Where HubSpot delivers one connection's events, and how to check them.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub connection_id: String,
    pub portal_id: u64,
    /// The OAuth app's client secret (from the keychain).
    pub client_secret: Secret,
    /// The target URL exactly as configured in the app (what HubSpot signs): the local URL
    /// for the demo portal, the public HTTPS URL forwarding here for HubSpot.
    pub target_url: String,
}

/// Whether a connection's webhooks are receiving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum WebhookMode {
    Receiving,
    Polling,
}

/// What the Sync screen shows about webhooks.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct WebhookStatus {
    pub mode: WebhookMode,
    /// Why polling (no public URL, a token connection, the receiver could not start), or where
    /// events arrive.
    pub detail: String,
    pub target_url: Option<String>,
    #[specta(type = f64)]
    pub events_received: u64,
    #[specta(type = f64)]
    pub duplicates: u64,
    #[specta(type = f64)]
    pub rejected: u64,
    pub last_event_at: Option<String>,
    pub last_rejection: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Stats {
    received: u64,
    duplicates: u64,
    rejected: u64,
    last_event_at: Option<String>,
    last_rejection: Option<String>,
}

struct Inner {
    store: Store,
    endpoints: RwLock<HashMap<String, Endpoint>>,
    polling: RwLock<HashMap<String, String>>,
    stats: Mutex<HashMap<String, Stats>>,
    wake: Arc<tokio::sync::Notify>,
    addr: SocketAddr,
    max_body: usize,
}

/// The local webhook endpoint: `POST http://ADDR/webhooks/{connection id}`. Cheap to clone.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
    shutdown: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
}

impl Receiver {
    /// Listens on `addr` (port 0 = any free port) on the current tokio runtime. Stored events
    /// wake `wake` (the scheduler's).
    pub async fn bind(
        addr: SocketAddr,
        store: Store,
        wake: Arc<tokio::sync::Notify>,
    ) -> Result<Receiver> {
        Self::bind_with_limit(addr, store, wake, MAX_BODY_BYTES).await
    }

    pub async fn bind_with_limit(
        addr: SocketAddr,
        store: Store,
        wake: Arc<tokio::sync::Notify>,
        max_body: usize,
    ) -> Result<Receiver> {
        let fail = |e: &dyn std::fmt::Display| Error::WebhookReceiver {
            address: addr.to_string(),
            reason: e.to_string(),
        };
        store.events_table()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| fail(&e))?;
        let addr = listener.local_addr().map_err(|e| fail(&e))?;
        let inner = Arc::new(Inner {
            store,
            endpoints: RwLock::new(HashMap::new()),
            polling: RwLock::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
            wake,
            addr,
            max_body,
        });
        let app = axum::Router::new()
            .route("/webhooks/{connection_id}", axum::routing::post(receive))
            .with_state(inner.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "webhook receiver stopped");
            }
        });
        tracing::info!(%addr, "webhook receiver listening");
        Ok(Receiver {
            inner,
            shutdown: Arc::new(Mutex::new(Some(tx))),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The local URL HubSpot (or a tunnel) delivers one connection's events to.
    pub fn local_url(&self, connection_id: &str) -> String {
        format!("http://{}/webhooks/{connection_id}", self.inner.addr)
    }

    /// Starts accepting a connection's events.
    pub fn register(&self, endpoint: Endpoint) {
        let id = endpoint.connection_id.clone();
        self.inner
            .polling
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.inner
            .endpoints
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, endpoint);
    }

    /// Stops accepting a connection's events; `why` is shown while it polls.
    pub fn unregister(&self, connection_id: &str, why: impl Into<String>) {
        self.inner
            .endpoints
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(connection_id);
        self.inner
            .polling
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(connection_id.to_owned(), why.into());
    }

    /// True once the connection was registered or given a reason to poll.
    pub fn knows(&self, connection_id: &str) -> bool {
        self.is_live(connection_id)
            || self
                .inner
                .polling
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(connection_id)
    }

    /// True when the connection's events are being received.
    pub fn is_live(&self, connection_id: &str) -> bool {
        self.inner
            .endpoints
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(connection_id)
    }

    pub fn status(&self, connection_id: &str) -> WebhookStatus {
        let stats = self
            .inner
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(connection_id)
            .cloned()
            .unwrap_or_default();
        let endpoint = self
            .inner
            .endpoints
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(connection_id)
            .cloned();
        let (mode, detail, target_url) = match endpoint {
            Some(e) => (
                WebhookMode::Receiving,
                format!("HubSpot delivers events to {}; Spoke applies them as they arrive.", e.target_url),
                Some(e.target_url),
            ),
            None => (
                WebhookMode::Polling,
                self.inner.polling.read().unwrap_or_else(|p| p.into_inner()).get(connection_id).cloned().unwrap_or_else(|| {
                    "No public URL reaches this computer, so HubSpot cannot deliver webhooks: real-time schedules read changes every minute instead.".to_owned()
                }),
                None,
            ),
        };
        WebhookStatus {
            mode,
            detail,
            target_url,
            events_received: stats.received,
            duplicates: stats.duplicates,
            rejected: stats.rejected,
            last_event_at: stats.last_event_at,
            last_rejection: stats.last_rejection,
        }
    }

    pub fn shutdown(&self) {
        if let Some(tx) = self
            .shutdown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = tx.send(());
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn receive(
    State(inner): State<Arc<Inner>>,
    Path(connection_id): Path<String>,
    req: Request,
) -> Response {
    let outcome = accept(&inner, &connection_id, req).await;
    let mut all = inner.stats.lock().unwrap_or_else(|p| p.into_inner());
    let stats = all.entry(connection_id.clone()).or_default();
    match outcome {
        Ok(stored) => {
            stats.received += stored.new as u64;
            stats.duplicates += stored.duplicates as u64;
            if stored.new > 0 {
                stats.last_event_at = Some(iso_ms(now_ms()));
                inner.wake.notify_one();
            }
            (StatusCode::OK, axum::Json(json!(stored))).into_response()
        }
        Err(r) => {
            stats.rejected += 1;
            stats.last_rejection = Some(format!("{}: {}", iso_ms(now_ms()), r.reason()));
            tracing::warn!(connection = %connection_id, reason = %r.reason(), "webhook request refused");
            (
                r.status(),
                axum::Json(json!({ "status": "error", "message": r.reason() })),
            )
                .into_response()
        }
    }
}

async fn accept(
    inner: &Inner,
    connection_id: &str,
    req: Request,
) -> std::result::Result<Stored, Rejection> {
    let endpoint = inner
        .endpoints
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(connection_id)
        .cloned()
        .ok_or(Rejection::UnknownEndpoint)?;
    let limit = inner.max_body;
    let declared = header(req.headers(), "content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Rejection::TooLarge { limit });
    }
    let headers = req.headers().clone();
    let method = req.method().as_str().to_owned();
    // Reads at most `limit` bytes, whatever the (possibly absent or false) Content-Length says.
    let body = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| Rejection::TooLarge { limit })?;
    verify_v3(
        &endpoint.client_secret,
        &method,
        &endpoint.target_url,
        &body,
        header(&headers, "x-hubspot-signature-v3"),
        header(&headers, "x-hubspot-request-timestamp"),
        now_ms(),
    )?;
    let store = inner.store.clone();
    let id = connection_id.to_owned();
    tokio::task::spawn_blocking(move || store.store_events(&id, endpoint.portal_id, &body))
        .await
        .map_err(|e| Rejection::BadBody(e.to_string()))?
}

/// Points the app's webhooks at `target_url` and subscribes to creation, deletion, merge,
/// restore, association and property changes of `objects` (object type → mapped properties).
/// For the demo portal, whose webhook settings accept the connection's own OAuth token; on
/// HubSpot the admin sets the target URL in the app's settings. Existing subscriptions are kept.
pub async fn register_subscriptions(
    client: &Client,
    app_id: u64,
    target_url: &str,
    objects: &[(String, Vec<String>)],
) -> Result<usize> {
    let req = HsRequest::new(axum::http::Method::PUT, format!("/webhooks/v3/{app_id}/settings"))
        .json(json!({ "targetUrl": target_url, "throttling": { "maxConcurrentRequests": 10, "period": "SECONDLY" } }));
    client.send(req).await?;
    let existing: Value = client
        .send(HsRequest::get(format!(
            "/webhooks/v3/{app_id}/subscriptions"
        )))
        .await?
        .json()?;
    let have: Vec<(String, Option<String>)> = existing["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["eventType"].as_str().unwrap_or("").to_owned(),
                        s["propertyName"].as_str().map(str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut created = 0;
    for (object, properties) in objects {
        let Some(prefix) = event_prefix(object) else {
            continue;
        };
        let mut wanted: Vec<(String, Option<String>)> = [
            "creation",
            "deletion",
            "merge",
            "associationChange",
            "restore",
        ]
        .iter()
        .map(|k| (format!("{prefix}.{k}"), None))
        .collect();
        wanted.extend(
            properties
                .iter()
                .map(|p| (format!("{prefix}.propertyChange"), Some(p.clone()))),
        );
        for (event_type, property) in wanted {
            if have.contains(&(event_type.clone(), property.clone())) {
                continue;
            }
            let mut body = json!({ "eventType": event_type, "active": true });
            if let Some(p) = &property {
                body["propertyName"] = json!(p);
            }
            client
                .send(HsRequest::post(format!("/webhooks/v3/{app_id}/subscriptions")).json(body))
                .await?;
            created += 1;
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, uri: &str, body: &str, ts: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("POST{uri}{body}{ts}").as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn a_known_signature_verifies() {
        // printf 'POSThttps://x/y{}1' | openssl dgst -sha256 -hmac secret -binary | base64
        let s = Secret::new("secret".to_owned());
        let sig = "PKC0wC6lrb2MjOxTMLvRmVu6I2Ep07GHC3Hyu8Rosqo=";
        assert_eq!(
            verify_v3(&s, "POST", "https://x/y", b"{}", Some(sig), Some("1"), 1),
            Ok(())
        );
        assert_eq!(sign("secret", "https://x/y", "{}", 1), sig);
    }

    #[test]
    fn forged_stale_and_missing_are_refused() {
        let s = Secret::new("secret".to_owned());
        let now = 1_700_000_000_000;
        let good = sign("secret", "https://x/y", "[]", now);
        let ts = now.to_string();
        assert_eq!(
            verify_v3(
                &s,
                "POST",
                "https://x/y",
                b"[]",
                Some(&good),
                Some(&ts),
                now
            ),
            Ok(())
        );
        // Another secret, body, URL or timestamp.
        let forged = sign("other", "https://x/y", "[]", now);
        assert_eq!(
            verify_v3(
                &s,
                "POST",
                "https://x/y",
                b"[]",
                Some(&forged),
                Some(&ts),
                now
            ),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify_v3(
                &s,
                "POST",
                "https://x/y",
                b"[1]",
                Some(&good),
                Some(&ts),
                now
            ),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify_v3(
                &s,
                "POST",
                "https://x/z",
                b"[]",
                Some(&good),
                Some(&ts),
                now
            ),
            Err(Rejection::BadSignature)
        );
        let ts2 = (now + 1).to_string();
        assert_eq!(
            verify_v3(
                &s,
                "POST",
                "https://x/y",
                b"[]",
                Some(&good),
                Some(&ts2),
                now + 1
            ),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify_v3(
                &s,
                "POST",
                "https://x/y",
                b"[]",
                Some("not base64!"),
                Some(&ts),
                now
            ),
            Err(Rejection::BadSignature)
        );
        // Older or newer than 5 minutes, even when correctly signed.
        let old = now - MAX_AGE_MS - 1;
        let sig_old = sign("secret", "https://x/y", "[]", old);
        assert!(matches!(
            verify_v3(
                &s,
                "POST",
                "https://x/y",
                b"[]",
                Some(&sig_old),
                Some(&old.to_string()),
                now
            ),
            Err(Rejection::Stale { .. })
        ));
        let future = now + MAX_AGE_MS + 1;
        let sig_future = sign("secret", "https://x/y", "[]", future);
        assert!(matches!(
            verify_v3(
                &s,
                "POST",
                "https://x/y",
                b"[]",
                Some(&sig_future),
                Some(&future.to_string()),
                now
            ),
            Err(Rejection::Stale { .. })
        ));
        assert_eq!(
            verify_v3(&s, "POST", "https://x/y", b"[]", None, Some(&ts), now),
            Err(Rejection::MissingHeader("X-HubSpot-Signature-v3"))
        );
        assert_eq!(
            verify_v3(&s, "POST", "https://x/y", b"[]", Some(&good), None, now),
            Err(Rejection::MissingHeader("X-HubSpot-Request-Timestamp"))
        );
        assert_eq!(
            verify_v3(
                &s,
                "POST",
                "https://x/y",
                b"[]",
                Some(&good),
                Some("soon"),
                now
            ),
            Err(Rejection::BadTimestamp)
        );
    }

    #[test]
    fn public_urls_are_checked_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db")).unwrap();
        for bad in [
            "http://x.example.com/h",
            "https:///h",
            "https://x.example.com/a b",
            "ftp://x",
        ] {
            let e = store.set_public_webhook_url("c", Some(bad)).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        store
            .set_public_webhook_url("c", Some(" https://hooks.example.com/spoke?x=1 "))
            .unwrap();
        assert_eq!(
            store.public_webhook_url("c").unwrap().as_deref(),
            Some("https://hooks.example.com/spoke?x=1")
        );
        store.set_public_webhook_url("c", Some("")).unwrap();
        assert_eq!(store.public_webhook_url("c").unwrap(), None);
    }

    #[test]
    fn events_are_stored_once_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        let body = br#"[{"eventId":1,"subscriptionType":"contact.propertyChange","portalId":7,"objectId":11,"occurredAt":5,"propertyName":"email"},
                        {"eventId":2,"subscriptionType":"contact.associationChange","portalId":7,"objectId":11,"associationType":"CONTACT_TO_COMPANY","fromObjectId":11,"toObjectId":22},
                        {"eventId":3,"subscriptionType":"contact.creation","portalId":8,"objectId":12}]"#;
        assert_eq!(
            store.store_events("c", 7, body).unwrap(),
            Stored {
                new: 2,
                duplicates: 0,
                foreign: 1
            }
        );
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.store_events("c", 7, body).unwrap(),
            Stored {
                new: 0,
                duplicates: 2,
                foreign: 1
            }
        );
        assert_eq!(store.pending_events("c", "contacts", "0-1").unwrap(), 2);
        // The association event also concerns the company side.
        assert_eq!(
            store.pending_events("c", "companies", "companies").unwrap(),
            1
        );
        let events = store.events_after("c", "contacts", "contacts", 10).unwrap();
        store
            .advance_events("c", "contacts", events[1].seq)
            .unwrap();
        assert_eq!(
            store.pending_events("c", "contacts", "contacts").unwrap(),
            0
        );
        assert!(matches!(
            store.store_events("c", 7, b"{\"not\":\"a list\"}"),
            Err(Rejection::BadBody(_))
        ));
    }
}
