//! The HTTP client: base URL per connection, bearer auth from a token provider, the portal's rate
//! governor, retries with jittered exponential backoff, 429 handling and typed errors.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::ErrorBody;
use crate::governor::{CallKind, Governor, RateLimitHeaders};
use crate::{Error, Secret};

/// A boxed, sendable future (what [`TokenProvider`] methods return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the client gets its bearer token. Implemented by `spoke-connect` (keychain + refresh);
/// [`StaticToken`] serves tokens that never change (service keys, private-app tokens).
pub trait TokenProvider: Send + Sync {
    /// A token that is valid now (refreshing first if it is about to expire).
    fn access_token(&self) -> BoxFuture<'_, Result<Secret, Error>>;

    /// HubSpot answered 401 to `rejected`. Return a different, fresh token to retry once, or
    /// `None` when no fresh token can be had (the 401 then reaches the caller).
    fn token_rejected<'a>(
        &'a self,
        rejected: &'a Secret,
    ) -> BoxFuture<'a, Result<Option<Secret>, Error>> {
        let _ = rejected;
        Box::pin(async { Ok(None) })
    }
}

/// A token that never changes.
#[derive(Debug, Clone)]
pub struct StaticToken(Secret);

impl StaticToken {
    pub fn new(token: Secret) -> StaticToken {
        StaticToken(token)
    }
}

impl TokenProvider for StaticToken {
    fn access_token(&self) -> BoxFuture<'_, Result<Secret, Error>> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}

/// When and how often to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after 5xx, timeouts and connection resets.
    pub max_retries: u32,
    /// Retries after 429 (each waits as HubSpot says).
    pub max_rate_limit_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            max_rate_limit_retries: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Full-jitter exponential backoff: a random delay in `[d/2, d]`, `d = base * 2^attempt`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter_ms = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter_ms)
    }
}

/// Client settings for one connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.hubapi.com` or the demo portal's `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Whole-request timeout (connect + send + read the body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Version segment of the OAuth endpoints (`/oauth/{v}/token`).
    pub oauth_version: String,
    /// Version segment of account info (`/account-info/{v}/details`).
    pub account_info_version: String,
    pub user_agent: String,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            oauth_version: "2026-03".to_owned(),
            account_info_version: "2026-03".to_owned(),
            user_agent: format!("Spoke/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// HubSpot's production API host.
pub const HUBSPOT_API_BASE: &str = "https://api.hubapi.com";

enum Body {
    Empty,
    Json(serde_json::Value),
    /// Form bodies carry client secrets, codes and refresh tokens: every value is a secret.
    Form(Vec<(&'static str, Secret)>),
    /// `multipart/form-data` (file uploads), rebuilt for every attempt.
    Multipart(Multipart),
}

/// A `multipart/form-data` body: text parts and one file part.
#[derive(Clone)]
pub struct Multipart {
    pub text: Vec<(String, String)>,
    /// (part name, file name, content type, bytes).
    pub file: Option<(String, String, String, std::sync::Arc<Vec<u8>>)>,
}

impl Multipart {
    fn form(&self) -> Result<reqwest::multipart::Form, reqwest::Error> {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in &self.text {
            form = form.text(k.clone(), v.clone());
        }
        if let Some((part, name, mime, bytes)) = &self.file {
            let p = reqwest::multipart::Part::bytes(bytes.as_ref().clone())
                .file_name(name.clone())
                .mime_str(mime)?;
            form = form.part(part.clone(), p);
        }
        Ok(form)
    }
}

/// One request. Its `Debug` shows only method and path, never the body.
pub struct Request {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Body,
    bearer: bool,
    explicit_bearer: Option<Secret>,
    kind: CallKind,
    idempotent: bool,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        let idempotent = method != Method::POST && method != Method::PATCH;
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::Empty,
            bearer: true,
            explicit_bearer: None,
            kind: CallKind::Standard,
            idempotent,
        }
    }

    pub fn get(path: impl Into<String>) -> Request {
        Request::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Request {
        Request::new(Method::POST, path)
    }

    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Request {
        self.query.push((key.into(), value.into()));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Request {
        self.body = Body::Json(body);
        self
    }

    pub fn multipart(mut self, body: Multipart) -> Request {
        self.body = Body::Multipart(body);
        self
    }

    pub fn form(mut self, fields: Vec<(&'static str, Secret)>) -> Request {
        self.body = Body::Form(fields);
        self
    }

    /// Sends without the provider's bearer token (OAuth token endpoints authenticate in the body).
    pub fn without_auth(mut self) -> Request {
        self.bearer = false;
        self
    }

    /// Sends with this bearer token instead of the provider's (validating a pasted token).
    pub fn with_bearer(mut self, token: Secret) -> Request {
        self.explicit_bearer = Some(token);
        self
    }

    /// Counts against the search budget.
    pub fn search(mut self) -> Request {
        self.kind = CallKind::Search;
        self
    }

    /// Whether a 5xx or timeout may be retried (a POST that only reads, like search, may).
    pub fn idempotent(mut self, yes: bool) -> Request {
        self.idempotent = yes;
        self
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode(e.to_string()))
    }
}

/// A HubSpot client for one connection. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    config: Arc<ClientConfig>,
    auth: Option<Arc<dyn TokenProvider>>,
    governor: Option<Arc<Governor>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client without a token provider (OAuth endpoints, validating pasted tokens).
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let base = parse_base(&config.base_url)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| Error::Network {
                detail: e.to_string(),
                attempts: 0,
            })?;
        Ok(Client {
            http,
            base,
            config: Arc::new(config),
            auth: None,
            governor: None,
        })
    }

    pub fn with_token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Client {
        self.auth = Some(provider);
        self
    }

    pub fn with_governor(mut self, governor: Arc<Governor>) -> Client {
        self.governor = Some(governor);
        self
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn governor(&self) -> Option<&Arc<Governor>> {
        self.governor.as_ref()
    }

    /// The HTTP client itself, for calls that are not HubSpot API calls (signed file URLs).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn url(&self, path: &str, query: &[(String, String)]) -> Result<Url, Error> {
        let mut url = self.base.clone();
        let base_path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base_path}/{}", path.trim_start_matches('/')));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter());
        }
        Ok(url)
    }

    /// `GET path` and decode JSON.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, Error> {
        let mut req = Request::get(path);
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        self.send(req).await?.json()
    }

    /// `POST path` with a JSON body and decode JSON. Not retried after 5xx/timeouts (it may write);
    /// use [`Client::send`] with [`Request::idempotent`] for reads.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, Error> {
        self.send(Request::post(path).json(body)).await?.json()
    }

    /// Sends a request through the governor with auth, retries and error mapping.
    pub async fn send(&self, req: Request) -> Result<Response, Error> {
        let url = self.url(&req.path, &req.query)?;
        let mut token = match (&req.explicit_bearer, req.bearer, &self.auth) {
            (Some(explicit), _, _) => Some(explicit.clone()),
            (None, true, Some(provider)) => Some(provider.access_token().await?),
            _ => None,
        };
        if token.as_ref().is_some_and(|t| bearer_header(t).is_none()) {
            return Err(Error::MalformedToken);
        }
        let mut refreshed = false;
        let mut failures = 0u32;
        let mut rate_limited = 0u32;
        loop {
            let permit = match &self.governor {
                Some(governor) => Some(Answer {
                    governor: governor.as_ref(),
                    permit: Some(governor.acquire(req.kind).await?),
                }),
                None => None,
            };
            let attempts = failures + rate_limited + 1;
            let outcome = self.attempt(&req, url.clone(), token.as_ref()).await;
            drop(permit);
            let (status, headers, body) = match outcome {
                Ok(parts) => parts,
                Err(err) => {
                    let retryable = err.is_connect()
                        || (req.idempotent
                            && (err.is_timeout() || err.is_request() || err.is_body()));
                    if retryable && failures < self.config.retry.max_retries {
                        let delay = self.config.retry.backoff(failures);
                        failures += 1;
                        tracing::debug!(request = ?req, attempt = attempts, ?delay, "retrying after a network error");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(if err.is_timeout() {
                        Error::Timeout { attempts }
                    } else {
                        Error::Network {
                            detail: describe_reqwest(&err),
                            attempts,
                        }
                    });
                }
            };
            if let Some(governor) = &self.governor {
                governor.observe(req.kind, &headers);
            }
            if status.is_success() {
                return Ok(Response {
                    status,
                    headers,
                    body,
                });
            }
            if status.is_redirection() {
                return Err(Error::Redirect {
                    status: status.as_u16(),
                });
            }
            let parsed = ErrorBody::parse(&body);
            if status == StatusCode::UNAUTHORIZED
                && !refreshed
                && req.explicit_bearer.is_none()
                && parsed.oauth_error.is_none()
            {
                if let (Some(provider), Some(rejected)) = (&self.auth, &token) {
                    refreshed = true;
                    if let Some(fresh) = provider.token_rejected(rejected).await? {
                        token = Some(fresh);
                        continue;
                    }
                }
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let daily = is_daily_limit(&parsed, &headers);
                if daily {
                    if let Some(governor) = &self.governor {
                        governor.daily_exhausted();
                    }
                    return Err(Error::DailyLimitReached);
                }
                let wait = rate_limit_wait(&headers)
                    .unwrap_or_else(|| self.config.retry.backoff(rate_limited));
                if let Some(governor) = &self.governor {
                    governor.pause_for(wait);
                }
                if rate_limited < self.config.retry.max_rate_limit_retries {
                    rate_limited += 1;
                    tracing::debug!(request = ?req, ?wait, "rate limited by HubSpot; waiting");
                    if self.governor.is_none() {
                        tokio::time::sleep(wait).await;
                    }
                    continue;
                }
                return Err(Error::RateLimited {
                    attempts,
                    retry_after: Some(wait),
                });
            }
            if is_retryable_status(status) {
                if req.idempotent && failures < self.config.retry.max_retries {
                    let delay = self.config.retry.backoff(failures);
                    failures += 1;
                    tracing::debug!(request = ?req, status = status.as_u16(), ?delay, "retrying after a server error");
                    tokio::time::sleep(delay).await;
                    continue;
                }
                return Err(Error::Server {
                    status: status.as_u16(),
                    attempts,
                });
            }
            return Err(Error::from_response(status.as_u16(), &parsed));
        }
    }

    async fn attempt(
        &self,
        req: &Request,
        url: Url,
        token: Option<&Secret>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), reqwest::Error> {
        let mut builder = self.http.request(req.method.clone(), url);
        if let Some(value) = token.and_then(bearer_header) {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder = match &req.body {
            Body::Empty => builder,
            Body::Json(value) => builder.json(value),
            Body::Form(fields) => {
                let pairs: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(k, v)| (*k, v.expose().as_str()))
                    .collect();
                builder.form(&pairs)
            }
            Body::Multipart(m) => builder.multipart(m.form()?),
        };
        let response = builder.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok((status, headers, body))
    }
}

/// `Authorization: Bearer …`, marked sensitive (kept out of reqwest/hyper debug output). `None`
/// when the token holds characters a header cannot carry.
fn bearer_header(token: &Secret) -> Option<reqwest::header::HeaderValue> {
    let mut value =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn parse_base(raw: &str) -> Result<Url, Error> {
    let url = Url::parse(raw.trim()).map_err(|_| Error::InvalidBaseUrl(raw.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.query().is_some()
    {
        return Err(Error::InvalidBaseUrl(raw.to_owned()));
    }
    Ok(url)
}

fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504 | 520..=524)
}

/// `Retry-After` (seconds or an HTTP date is rare at HubSpot; seconds are supported), otherwise
/// the interval headers.
fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    if let Some(value) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        if let Ok(secs) = value.trim().parse::<f64>() {
            if secs.is_finite() && secs >= 0.0 {
                return Some(Duration::from_secs_f64(secs.min(3600.0)));
            }
        }
    }
    let limits = RateLimitHeaders::parse(headers);
    limits.interval.filter(|d| !d.is_zero())
}

fn is_daily_limit(body: &ErrorBody, headers: &HeaderMap) -> bool {
    let policy_daily = body
        .policy_name
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("DAILY"))
        || body
            .context
            .get("policyName")
            .is_some_and(|v| v.to_string().to_ascii_uppercase().contains("DAILY"));
    let message_daily = body
        .message
        .as_deref()
        .is_some_and(|m| m.to_ascii_lowercase().contains("daily"));
    let headers_daily = RateLimitHeaders::parse(headers).daily_remaining == Some(0);
    policy_daily || message_daily || headers_daily
}

fn describe_reqwest(err: &reqwest::Error) -> String {
    // reqwest's Display includes the URL, which never carries secrets here (they travel in headers
    // and bodies), but keep it short: the kind and the innermost cause.
    let mut source: &dyn std::error::Error = err;
    while let Some(next) = source.source() {
        source = next;
    }
    let kind = if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "connection dropped while reading"
    } else {
        "request failed"
    };
    format!("{kind} ({source})")
}

/// Hands a governor permit back when the answer arrives, or when the call is dropped half-way
/// (a cancelled sync): a permit never handed back would hold its slot forever.
struct Answer<'a> {
    governor: &'a crate::governor::Governor,
    permit: Option<crate::governor::Permit>,
}

impl Drop for Answer<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.governor.finish(permit);
        }
    }
}
