//! One catalog of diagnoses: every failure Spoke meets while talking to HubSpot becomes a
//! **cause** and a **fix** in plain words, with HubSpot's `correlationId` when it sent one.
//!
//! The Test screen, `spoke test` and (later) the sync engine all go through [`diagnose`] /
//! [`diagnose_in`], so the same failure always reads the same way. The catalog covers the
//! troubleshooting tables of the seed guides (Bridged, Tajo/Brevo, OpsHub's `VALIDATION_ERROR`
//! note) and HubSpot's own failure modes:
//!
//! | code | when |
//! |---|---|
//! | `dns_failed` | the API host name does not resolve |
//! | `tls_failed` | the secure (TLS) connection cannot be set up |
//! | `unreachable` | the host resolves but refuses or drops the connection |
//! | `timeout` | HubSpot did not answer in time |
//! | `server_error` | HubSpot answered 5xx |
//! | `rate_limit_burst` / `rate_limit_search` / `rate_limit_daily` | 429, per budget |
//! | `token_rejected` | 401: invalid, expired, revoked or rotated token |
//! | `sign_in_expired` | the OAuth grant is revoked or expired (`invalid_grant`) |
//! | `token_malformed` | what was pasted is not a usable token |
//! | `missing_scopes` | 403 `MISSING_SCOPES`, or the plan needs scopes not granted |
//! | `wrong_client_secret` | `invalid_client`: client ID or secret wrong |
//! | `install_permission` | the user may not install apps in the portal |
//! | `consent_denied` | the user clicked Deny |
//! | `permission_denied` | 403 without a scope list: the user or app lacks a permission |
//! | `wrong_region` | token, portal and API host disagree on the data-hosting region |
//! | `webhooks_need_oauth` | webhooks wanted on a service key / private-app token |
//! | `validation_error` | 400 `VALIDATION_ERROR` (invalid value, missing mandatory field) |
//! | `property_missing` | a mapped property does not exist in HubSpot |
//! | `duplicate_record` | 409: a record with that unique value exists |
//! | `batch_too_large` | a batch over HubSpot's input limit |
//! | `object_not_found` | the object type does not exist in the portal |
//! | `not_found` | the record or resource does not exist |
//! | `keychain_unavailable`, `secret_missing` | local keychain problems |
//! | `bad_base_url`, `unexpected_response`, `portal_mismatch`, `oauth_setup`, `other` | the rest |

use serde::{Deserialize, Serialize};
use spoke_hubspot::{Describe, GovernorSnapshot};

use crate::scopes::fix_for;
use crate::store::AuthMethod;

/// A failure, explained: what happened and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// Stable code from the catalog ([`Code::as_str`]), e.g. `missing_scopes`.
    pub code: String,
    /// What went wrong, in plain words.
    pub cause: String,
    /// How to fix it, in plain words (where to click in HubSpot or in Spoke).
    pub fix: String,
    /// HubSpot's `correlationId` of the failed call, for HubSpot support.
    pub correlation_id: Option<String>,
}

/// Every diagnosis Spoke can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    DnsFailed,
    TlsFailed,
    Unreachable,
    Timeout,
    ServerError,
    RateLimitBurst,
    RateLimitSearch,
    RateLimitDaily,
    TokenRejected,
    SignInExpired,
    TokenMalformed,
    MissingScopes,
    WrongClientSecret,
    InstallPermission,
    ConsentDenied,
    PermissionDenied,
    WrongRegion,
    WebhooksNeedOauth,
    ValidationError,
    PropertyMissing,
    DuplicateRecord,
    BatchTooLarge,
    ObjectNotFound,
    NotFound,
    KeychainUnavailable,
    SecretMissing,
    BadBaseUrl,
    UnexpectedResponse,
    PortalMismatch,
    OauthSetup,
    Other,
}

impl Code {
    pub const ALL: [Code; 31] = [
        Code::DnsFailed,
        Code::TlsFailed,
        Code::Unreachable,
        Code::Timeout,
        Code::ServerError,
        Code::RateLimitBurst,
        Code::RateLimitSearch,
        Code::RateLimitDaily,
        Code::TokenRejected,
        Code::SignInExpired,
        Code::TokenMalformed,
        Code::MissingScopes,
        Code::WrongClientSecret,
        Code::InstallPermission,
        Code::ConsentDenied,
        Code::PermissionDenied,
        Code::WrongRegion,
        Code::WebhooksNeedOauth,
        Code::ValidationError,
        Code::PropertyMissing,
        Code::DuplicateRecord,
        Code::BatchTooLarge,
        Code::ObjectNotFound,
        Code::NotFound,
        Code::KeychainUnavailable,
        Code::SecretMissing,
        Code::BadBaseUrl,
        Code::UnexpectedResponse,
        Code::PortalMismatch,
        Code::OauthSetup,
        Code::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::DnsFailed => "dns_failed",
            Code::TlsFailed => "tls_failed",
            Code::Unreachable => "unreachable",
            Code::Timeout => "timeout",
            Code::ServerError => "server_error",
            Code::RateLimitBurst => "rate_limit_burst",
            Code::RateLimitSearch => "rate_limit_search",
            Code::RateLimitDaily => "rate_limit_daily",
            Code::TokenRejected => "token_rejected",
            Code::SignInExpired => "sign_in_expired",
            Code::TokenMalformed => "token_malformed",
            Code::MissingScopes => "missing_scopes",
            Code::WrongClientSecret => "wrong_client_secret",
            Code::InstallPermission => "install_permission",
            Code::ConsentDenied => "consent_denied",
            Code::PermissionDenied => "permission_denied",
            Code::WrongRegion => "wrong_region",
            Code::WebhooksNeedOauth => "webhooks_need_oauth",
            Code::ValidationError => "validation_error",
            Code::PropertyMissing => "property_missing",
            Code::DuplicateRecord => "duplicate_record",
            Code::BatchTooLarge => "batch_too_large",
            Code::ObjectNotFound => "object_not_found",
            Code::NotFound => "not_found",
            Code::KeychainUnavailable => "keychain_unavailable",
            Code::SecretMissing => "secret_missing",
            Code::BadBaseUrl => "bad_base_url",
            Code::UnexpectedResponse => "unexpected_response",
            Code::PortalMismatch => "portal_mismatch",
            Code::OauthSetup => "oauth_setup",
            Code::Other => "other",
        }
    }

    /// One line on when this diagnosis is given (for help pages and the catalog listing).
    pub fn summary(self) -> &'static str {
        match self {
            Code::DnsFailed => "The API host name could not be resolved (DNS).",
            Code::TlsFailed => "The secure connection (TLS) to the API host could not be set up.",
            Code::Unreachable => "The API host refused or dropped the connection.",
            Code::Timeout => "HubSpot did not answer in time.",
            Code::ServerError => "HubSpot answered with a server error (5xx).",
            Code::RateLimitBurst => "HubSpot's 10-second burst budget is used up (429).",
            Code::RateLimitSearch => "HubSpot's per-second search budget is used up (429).",
            Code::RateLimitDaily => "The portal's daily API budget is used up (429).",
            Code::TokenRejected => {
                "HubSpot rejected the token (401): invalid, expired, revoked or rotated."
            }
            Code::SignInExpired => {
                "HubSpot no longer accepts the OAuth sign-in (revoked or expired refresh token)."
            }
            Code::TokenMalformed => "The stored or pasted token is not a usable HubSpot token.",
            Code::MissingScopes => "The connection lacks scopes the chosen objects need.",
            Code::WrongClientSecret => {
                "HubSpot did not accept the app's client ID or client secret."
            }
            Code::InstallPermission => "The HubSpot user may not install apps in the portal.",
            Code::ConsentDenied => "Access was denied on HubSpot's consent page.",
            Code::PermissionDenied => "The HubSpot user or app lacks a permission (403).",
            Code::WrongRegion => "Token, portal and API host disagree on the data-hosting region.",
            Code::WebhooksNeedOauth => {
                "Webhooks need an OAuth app; service keys cannot receive them."
            }
            Code::ValidationError => "HubSpot refused a value (VALIDATION_ERROR).",
            Code::PropertyMissing => "A property Spoke uses does not exist in HubSpot.",
            Code::DuplicateRecord => "A record with the same unique value already exists (409).",
            Code::BatchTooLarge => "A batch request had more inputs than HubSpot allows.",
            Code::ObjectNotFound => "The object type does not exist in this portal.",
            Code::NotFound => "The record or resource does not exist.",
            Code::KeychainUnavailable => "The system keychain is missing or locked.",
            Code::SecretMissing => "The connection's secret is missing from the keychain.",
            Code::BadBaseUrl => "The connection's API address is not HubSpot's API.",
            Code::UnexpectedResponse => "The API answered with something Spoke could not read.",
            Code::PortalMismatch => {
                "HubSpot answered for a different portal than this connection's."
            }
            Code::OauthSetup => "The OAuth app's settings (redirect URL, scopes) do not match.",
            Code::Other => "Any other failure; the message says what happened.",
        }
    }
}

/// One catalog entry, for listings (`spoke test --list-diagnoses`, help pages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    pub code: &'static str,
    pub summary: &'static str,
}

/// The whole catalog, in a stable order.
pub fn catalog() -> Vec<CatalogEntry> {
    Code::ALL
        .iter()
        .map(|c| CatalogEntry {
            code: c.as_str(),
            summary: c.summary(),
        })
        .collect()
}

/// What is known around a failure, to word the fix precisely.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// How the connection authenticates (decides "paste a new token" versus "Reconnect").
    pub method: Option<AuthMethod>,
    /// The portal's time zone (the daily budget resets at its midnight).
    pub time_zone: Option<String>,
    /// The portal governor's view of the budgets right after the failure.
    pub rate: Option<GovernorSnapshot>,
    /// The failed call was a CRM search (its own per-second budget).
    pub search: bool,
    /// The failure happened while installing / signing in (OAuth consent).
    pub installing: bool,
}

impl Context {
    pub fn for_method(method: AuthMethod) -> Context {
        Context {
            method: Some(method),
            ..Context::default()
        }
    }
}

/// Errors that can be diagnosed.
pub trait Diagnose {
    fn diagnose_in(&self, ctx: &Context) -> Diagnosis;
}

/// The diagnosis of an error without further context.
pub fn diagnose<E: Diagnose + ?Sized>(err: &E) -> Diagnosis {
    err.diagnose_in(&Context::default())
}

/// The diagnosis of an error, worded for what is known around it.
pub fn diagnose_in<E: Diagnose + ?Sized>(err: &E, ctx: &Context) -> Diagnosis {
    err.diagnose_in(ctx)
}

fn make(code: Code, cause: impl Into<String>, fix: impl Into<String>) -> Diagnosis {
    Diagnosis {
        code: code.as_str().to_owned(),
        cause: cause.into(),
        fix: fix.into(),
        correlation_id: None,
    }
}

impl Diagnosis {
    pub fn with_correlation_id(mut self, id: Option<String>) -> Diagnosis {
        if id.is_some() {
            self.correlation_id = id;
        }
        self
    }

    /// The code as a catalog value (`Code::Other` for unknown strings).
    pub fn kind(&self) -> Code {
        Code::ALL
            .into_iter()
            .find(|c| c.as_str() == self.code)
            .unwrap_or(Code::Other)
    }

    // ---- Diagnoses the checks build themselves (no error value behind them) ---------------

    /// The host name did not resolve.
    pub fn dns_failed(host: &str, detail: &str) -> Diagnosis {
        make(
            Code::DnsFailed,
            format!("The name {host} could not be looked up (DNS): {detail}."),
            "Check that this computer is online and that its DNS works (open https://status.hubspot.com in a browser). \
             On a company network, ask IT whether a proxy or DNS filter blocks hubapi.com. If the address has a typo, \
             fix the connection's API base URL.",
        )
    }

    /// The TCP connection worked but TLS did not.
    pub fn tls_failed(host: &str, detail: &str) -> Diagnosis {
        make(
            Code::TlsFailed,
            format!("The secure connection (TLS) to {host} failed: {detail}."),
            "A proxy or antivirus that inspects HTTPS may be replacing HubSpot's certificate: ask IT to exempt \
             api.hubapi.com or to install the company's root certificate in the system store. Also check that the \
             computer's clock is right and that the base URL uses https only for hosts that speak it.",
        )
    }

    /// The host resolved but the connection was refused or dropped.
    pub fn unreachable(host: &str, detail: &str) -> Diagnosis {
        make(
            Code::Unreachable,
            format!("{host} could not be reached: {detail}."),
            "Check your internet connection, VPN, proxy or firewall (outgoing HTTPS to api.hubapi.com must be allowed), \
             then test again.",
        )
    }

    /// Token, portal and API host disagree on the region.
    pub fn wrong_region(
        token_region: Option<&str>,
        portal_region: Option<&str>,
        base_host: &str,
        base_region: Option<&str>,
    ) -> Diagnosis {
        let mut parts = Vec::new();
        if let Some(t) = token_region {
            parts.push(format!("the token was issued in region {t}"));
        }
        if let Some(p) = portal_region {
            parts.push(format!("the portal's data is hosted in {p}"));
        }
        if let Some(b) = base_region {
            parts.push(format!(
                "the connection calls {base_host}, HubSpot's {b} API host"
            ));
        }
        let expected = portal_region
            .or(token_region)
            .unwrap_or("the portal's region");
        make(
            Code::WrongRegion,
            format!("The regions do not match: {}.", parts.join(", ")),
            format!(
                "Use https://api.hubapi.com (it routes every region) or the regional host of {expected} \
                 (https://api-{expected}.hubapi.com) as the base URL, and a token created in that same portal: \
                 a token copied from another portal or region is rejected or reaches the wrong data."
            ),
        )
    }

    /// Webhooks wanted on a token connection.
    pub fn webhooks_need_oauth() -> Diagnosis {
        make(
            Code::WebhooksNeedOauth,
            "This connection uses a service key or private-app token. HubSpot sends webhooks only to apps \
             installed with OAuth, so changes cannot arrive in real time; syncs poll for changes instead.",
            "For real-time sync, connect the portal with OAuth (your own HubSpot app, Development → Apps → Auth), \
             then add Spoke's webhook URL and subscriptions in the app's Webhooks settings. Polling keeps working \
             without this.",
        )
    }

    /// The plan needs scopes the connection was not granted.
    pub fn missing_scopes(
        missing: &[String],
        method: Option<AuthMethod>,
        object: Option<&str>,
    ) -> Diagnosis {
        let what = match object {
            Some(o) => format!(" for {o}"),
            None => String::new(),
        };
        make(
            Code::MissingScopes,
            format!(
                "The connection is missing the HubSpot scope{} {}{what}.",
                if missing.len() == 1 { "" } else { "s" },
                if missing.is_empty() {
                    "(HubSpot did not say which)".to_owned()
                } else {
                    missing.join(", ")
                }
            ),
            scope_fix(missing, method),
        )
    }
}

fn scope_fix(missing: &[String], method: Option<AuthMethod>) -> String {
    let list: Vec<String> = if missing.is_empty() {
        vec!["the scopes listed in the plan".to_owned()]
    } else {
        missing.to_vec()
    };
    match method {
        Some(m) => fix_for(&list, m),
        None => format!(
            "{} For an OAuth connection: {}",
            fix_for(&list, AuthMethod::Token),
            fix_for(&list, AuthMethod::OAuth)
        ),
    }
}

fn token_fix(method: Option<AuthMethod>) -> &'static str {
    match method {
        Some(AuthMethod::Token) => {
            "In HubSpot open Development → Keys → Service keys (or Settings → Integrations → Private apps), copy the \
             key's current token — rotate it first if it may have leaked — and paste it into Spoke with Replace token. \
             A rotated or deleted key stops working at once."
        }
        Some(AuthMethod::OAuth) => {
            "Click Reconnect and sign in to HubSpot again. If it keeps happening, check in HubSpot (Settings → \
             Integrations → Connected apps) that the app is still installed."
        }
        None => {
            "For a service key or private-app token, copy the current token from HubSpot and paste it with Replace \
             token; for an OAuth connection, click Reconnect and sign in again."
        }
    }
}

fn looks_like_permission(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "permission",
        "super admin",
        "marketplace",
        "not allowed to install",
        "not authorized to install",
        "insufficient",
    ]
    .iter()
    .any(|needle| t.contains(needle))
}

fn install_permission(detail: Option<&str>) -> Diagnosis {
    make(
        Code::InstallPermission,
        format!(
            "The HubSpot user who signed in is not allowed to install apps in this portal{}.",
            detail.map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        "Sign in as a Super Admin, or ask a Super Admin to give your user the App Marketplace Access permission \
         (Settings → Users & Teams → the user → Permissions → Account → App Marketplace), then click Connect again.",
    )
}

/// How a network failure reads: DNS, TLS, refused, or other.
fn classify_network(detail: &str) -> Code {
    let d = detail.to_ascii_lowercase();
    let dns = [
        "dns error",
        "lookup address",
        "name or service not known",
        "nodename nor servname",
        "no such host",
        "name resolution",
        "no address associated",
    ];
    let tls = [
        "certificate",
        "tls",
        "ssl",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
        "peer sent",
        "alert",
    ];
    if dns.iter().any(|n| d.contains(n)) {
        Code::DnsFailed
    } else if tls.iter().any(|n| d.contains(n)) {
        Code::TlsFailed
    } else {
        Code::Unreachable
    }
}

fn duration_words(secs: u64) -> String {
    match secs {
        0 => "a moment".to_owned(),
        1 => "1 second".to_owned(),
        s if s < 120 => format!("{s} seconds"),
        s if s < 7200 => format!("{} minutes", s.div_ceil(60)),
        s => format!("{} hours", s / 3600),
    }
}

fn daily_limit(ctx: &Context) -> Diagnosis {
    let zone = ctx
        .time_zone
        .as_deref()
        .map(|z| format!(" ({z})"))
        .unwrap_or_default();
    make(
        Code::RateLimitDaily,
        "The portal has used its whole daily API budget; HubSpot refuses calls until it resets.",
        format!(
            "The daily budget resets at midnight in the portal's time zone{zone}. Until then, pause syncs or lower their \
             frequency; for more headroom, HubSpot sells an API limit increase (capacity pack). Other apps on the portal \
             share this budget."
        ),
    )
}

impl Diagnose for spoke_hubspot::Error {
    fn diagnose_in(&self, ctx: &Context) -> Diagnosis {
        use spoke_hubspot::Error as E;
        match self {
            E::InvalidBaseUrl(url) => make(
                Code::BadBaseUrl,
                format!("The connection's API address {url:?} is not a valid http(s) URL."),
                "Use https://api.hubapi.com, or the demo portal's http://127.0.0.1:PORT address.",
            ),
            E::MalformedToken => make(
                Code::TokenMalformed,
                "The stored token contains characters that cannot be sent to HubSpot (a line break or space picked up while copying).",
                token_fix(ctx.method),
            ),
            E::Unauthorized {
                correlation_id, ..
            } => make(
                Code::TokenRejected,
                "HubSpot rejected the access token (401): it is invalid, expired, or was revoked or rotated in HubSpot.",
                token_fix(ctx.method),
            )
            .with_correlation_id(correlation_id.clone()),
            E::MissingScopes {
                scopes,
                correlation_id,
                ..
            } => Diagnosis::missing_scopes(scopes, ctx.method, None)
                .with_correlation_id(correlation_id.clone()),
            E::Forbidden {
                message,
                correlation_id,
            } => {
                if ctx.installing || message.as_deref().is_some_and(|m| m.to_ascii_lowercase().contains("install")) {
                    install_permission(None).with_correlation_id(correlation_id.clone())
                } else {
                    make(
                        Code::PermissionDenied,
                        "HubSpot refused the call (403): the HubSpot user behind this connection, or the app, lacks a permission for it.",
                        "Ask a Super Admin to check the user's permissions for this object (Settings → Users & Teams → the user → \
                         Permissions), or connect with a user who has them. For an app, check it is allowed for this portal's \
                         subscription.",
                    )
                    .with_correlation_id(correlation_id.clone())
                }
            }
            E::NotFound { correlation_id, .. } => make(
                Code::NotFound,
                "HubSpot has no such record or resource (404); it may have been deleted or merged.",
                "Check the object type and record id; a deleted record can be restored from the recycle bin in HubSpot within 90 days.",
            )
            .with_correlation_id(correlation_id.clone()),
            E::RateLimited { retry_after, .. } => {
                let daily_gone = ctx.rate.as_ref().is_some_and(|r| r.daily_remaining == 0);
                if daily_gone {
                    return daily_limit(ctx);
                }
                let wait = retry_after.map(|d| d.as_secs_f64().ceil() as u64);
                if ctx.search {
                    make(
                        Code::RateLimitSearch,
                        "HubSpot's search budget (about 5 searches per second, shared by every app on the portal) is used up (429).",
                        format!(
                            "It resets within a second{}. Test again; if it persists, another app is searching heavily — \
                             lower its search rate or schedule Spoke's syncs at another time.",
                            wait.map(|w| format!(" (HubSpot asked to wait {})", duration_words(w))).unwrap_or_default()
                        ),
                    )
                } else {
                    let window = ctx
                        .rate
                        .as_ref()
                        .map(|r| format!("{}-second", (r.burst_window_ms / 1000).max(1)))
                        .unwrap_or_else(|| "10-second".to_owned());
                    make(
                        Code::RateLimitBurst,
                        format!("HubSpot's {window} burst budget for this app is used up (429): too many calls in a short time."),
                        format!(
                            "It resets in {}. Test again then. If it keeps happening, another integration or a running sync \
                             uses the same budget: lower sync concurrency or frequency; paid HubSpot tiers and the API limit \
                             increase have higher limits.",
                            duration_words(wait.unwrap_or(10))
                        ),
                    )
                }
            }
            E::DailyLimitReached => daily_limit(ctx),
            E::InvalidGrant { .. } => sign_in_expired(),
            E::InvalidClient { .. } => make(
                Code::WrongClientSecret,
                "HubSpot did not accept the app's client ID or client secret (invalid_client): the secret was rotated, \
                 mistyped, or belongs to another app.",
                "In HubSpot open Development → Apps → your app → Auth, copy the Client ID and Client secret again, \
                 then connect again with them (Add connection → OAuth). Spoke keeps the secret in the keychain only.",
            ),
            E::OAuth { error, description } => {
                if error == "access_denied" && description.as_deref().is_some_and(looks_like_permission) {
                    install_permission(description.as_deref())
                } else {
                    make(
                        Code::OauthSetup,
                        format!(
                            "HubSpot's OAuth endpoint answered {error}{}.",
                            description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
                        ),
                        "Check the app's Auth settings in HubSpot: the redirect URL must be exactly Spoke's \
                         (http://localhost:PORT/callback) and the scopes must match what Spoke asks for. Then connect again.",
                    )
                }
            }
            E::Api {
                status,
                category,
                message,
                correlation_id,
            } => api_error(*status, category.as_deref(), message.as_deref())
                .with_correlation_id(correlation_id.clone()),
            E::Server { status, attempts } => make(
                Code::ServerError,
                format!(
                    "HubSpot answered with a server error ({status}) {} in a row.",
                    if *attempts == 1 { "once".to_owned() } else { format!("{attempts} times") }
                ),
                "This is on HubSpot's side, not in your setup. Check https://status.hubspot.com and test again in a few \
                 minutes; syncs retry such errors on their own.",
            ),
            E::Redirect { status } => make(
                Code::BadBaseUrl,
                format!("The API address answered with a redirect ({status}), so it is a web page, not HubSpot's API."),
                "Set the connection's base URL to https://api.hubapi.com (not app.hubspot.com or a portal URL).",
            ),
            E::Timeout { attempts } => make(
                Code::Timeout,
                format!(
                    "HubSpot did not answer in time ({} attempt{}).",
                    attempts,
                    if *attempts == 1 { "" } else { "s" }
                ),
                "Test again. If it persists, a slow network, VPN or proxy may be in the way; check \
                 https://status.hubspot.com for incidents.",
            ),
            E::Network { detail, .. } => match classify_network(detail) {
                Code::DnsFailed => Diagnosis::dns_failed("the API host", detail),
                Code::TlsFailed => Diagnosis::tls_failed("the API host", detail),
                _ => Diagnosis::unreachable("The API host", detail),
            },
            E::Decode(detail) => make(
                Code::UnexpectedResponse,
                format!("The API answered with something Spoke could not read ({detail})."),
                "Check that the base URL points at HubSpot's API (https://api.hubapi.com) and not at a proxy's login page.",
            ),
            E::FileTooLarge { size, limit } => make(
                Code::Other,
                format!("The file is {size} bytes, over Spoke's {limit}-byte limit for attachments."),
                "Open the file in HubSpot itself; Spoke skips attachments over the limit.",
            ),
            E::DownloadRefused { status, .. } => make(
                Code::Other,
                format!("HubSpot's file host refused the signed download URL ({status}): it expired before the download started, or was altered."),
                "Sync again: Spoke asks for a fresh signed URL for every file. If it keeps failing, a proxy may be rewriting the URL.",
            ),
            E::LocalWrite(detail) => make(
                Code::Other,
                format!("Spoke could not write a downloaded file ({detail})."),
                "Free disk space, or check that Spoke may write to its data folder.",
            ),
            E::TokenProvider {
                code,
                message,
                hint,
            } => by_problem_code(code, message, hint.as_deref(), ctx),
        }
    }
}

fn sign_in_expired() -> Diagnosis {
    make(
        Code::SignInExpired,
        "HubSpot no longer accepts this connection's sign-in: the app was uninstalled or its access removed in HubSpot, \
         or the refresh token expired.",
        "Click Reconnect and sign in to HubSpot again (one click; the same app and scopes are used).",
    )
}

fn api_error(status: u16, category: Option<&str>, message: Option<&str>) -> Diagnosis {
    let msg = message.unwrap_or("").to_ascii_lowercase();
    let category = category.unwrap_or("");
    if category == "OBJECT_NOT_FOUND" || msg.contains("unable to infer object type") {
        return make(
            Code::ObjectNotFound,
            "This object type does not exist in the portal (or the portal's subscription does not include it).",
            "Pick another object, or create the custom object in HubSpot (Settings → Data Management → Objects) first.",
        );
    }
    if status == 409 || category == "CONFLICT" || msg.contains("already exists") {
        return make(
            Code::DuplicateRecord,
            "HubSpot already has a record with the same unique value (409), for example a contact with the same email.",
            "Match records on that unique value (update instead of create), or merge the duplicates in HubSpot. \
             Spoke's upserts use the unique property to avoid this.",
        );
    }
    if msg.contains("property_doesnt_exist")
        || (msg.contains("property") && msg.contains("does not exist"))
    {
        return make(
            Code::PropertyMissing,
            "A property in the mapping does not exist in HubSpot (PROPERTY_DOESNT_EXIST).",
            "Create the property in HubSpot first (Settings → Data Management → Properties), or map the field to an \
             existing property, then sync again.",
        );
    }
    if (msg.contains("batch") || msg.contains("inputs"))
        && (msg.contains("limit") || msg.contains("at most") || msg.contains("too many"))
    {
        return make(
            Code::BatchTooLarge,
            "A batch request had more inputs than HubSpot accepts in one call.",
            "Split the data into batches of at most 100 records (Spoke's sync does this on its own).",
        );
    }
    if category == "VALIDATION_ERROR" || status == 400 {
        return make(
            Code::ValidationError,
            "HubSpot refused the data (VALIDATION_ERROR): a value is not valid for its property (for example plain text \
             in an email field, or an option that does not exist), or a field HubSpot requires on create is missing.",
            "Fix the value in the source record or the mapping's transform, and map every field HubSpot needs when \
             creating this object (some are required even though the property definition does not say so).",
        );
    }
    make(
        Code::Other,
        format!("HubSpot answered {status}{}.", if category.is_empty() { String::new() } else { format!(" ({category})") }),
        "Test again; if it persists, send the diagnostics report (it carries HubSpot's correlation id) to support.",
    )
}

fn by_problem_code(code: &str, message: &str, hint: Option<&str>, ctx: &Context) -> Diagnosis {
    match code {
        "connect.keychain_unavailable" | "connect.keychain_error" => make(
            Code::KeychainUnavailable,
            format!("The system keychain could not be used: {message}."),
            hint.unwrap_or("Unlock or start your system keychain, then test again."),
        ),
        "connect.reconnect_required" => match ctx.method {
            Some(AuthMethod::Token) => make(
                Code::TokenRejected,
                "HubSpot rejected this connection's token earlier (revoked, rotated or expired).",
                token_fix(ctx.method),
            ),
            _ => sign_in_expired(),
        },
        "connect.secret_missing" => make(
            Code::SecretMissing,
            format!("{message}."),
            "The keychain entry was removed outside Spoke. Paste the token again (Replace token) or click Reconnect.",
        ),
        "connect.portal_mismatch" => make(
            Code::PortalMismatch,
            format!("{message}."),
            "Use a token or sign-in from the portal this connection belongs to, or add a new connection for the other portal.",
        ),
        _ => make(
            Code::Other,
            message.to_owned(),
            hint.unwrap_or("Test again; if it persists, send the diagnostics report to support."),
        ),
    }
}

impl Diagnose for crate::Error {
    fn diagnose_in(&self, ctx: &Context) -> Diagnosis {
        use crate::Error as E;
        match self {
            E::HubSpot(inner) => inner.diagnose_in(ctx),
            E::TokenFormat(_) => make(
                Code::TokenMalformed,
                format!("{self}."),
                self.hint()
                    .unwrap_or_else(|| token_fix(ctx.method).to_owned()),
            ),
            E::ConsentDenied { description } => {
                if description.as_deref().is_some_and(looks_like_permission) {
                    install_permission(description.as_deref())
                } else {
                    make(
                        Code::ConsentDenied,
                        "Access was denied on HubSpot's consent page, so no connection was made.",
                        "Click Connect again and choose Connect app on HubSpot's page. If the button is missing, your user may \
                         lack the permission to install apps: ask a Super Admin.",
                    )
                }
            }
            E::AuthorizationFailed { error, description } => {
                let text = format!("{error} {}", description.as_deref().unwrap_or(""));
                if looks_like_permission(&text) {
                    install_permission(description.as_deref())
                } else {
                    make(
                        Code::OauthSetup,
                        format!("HubSpot reported an error during sign-in: {error}."),
                        self.hint().unwrap_or_default(),
                    )
                }
            }
            other => by_problem_code(
                other.code(),
                &other.to_string(),
                other.hint().as_deref(),
                ctx,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_code_is_unique_and_summarised() {
        let mut codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Code::ALL.len());
        for c in Code::ALL {
            assert!(c.summary().ends_with('.'), "{c:?}");
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            let d = make(c, "x", "y");
            assert_eq!(d.kind(), c);
        }
    }

    #[test]
    fn network_details_classify_as_dns_tls_or_unreachable() {
        let dns = spoke_hubspot::Error::Network {
            detail: "connection failed (failed to lookup address information: Name or service not known)".into(),
            attempts: 1,
        };
        assert_eq!(diagnose(&dns).code, "dns_failed");
        let tls = spoke_hubspot::Error::Network {
            detail: "connection failed (invalid peer certificate: UnknownIssuer)".into(),
            attempts: 1,
        };
        assert_eq!(diagnose(&tls).code, "tls_failed");
        let refused = spoke_hubspot::Error::Network {
            detail: "connection failed (Connection refused (os error 111))".into(),
            attempts: 5,
        };
        assert_eq!(diagnose(&refused).code, "unreachable");
    }

    #[test]
    fn api_errors_follow_the_guides_tables() {
        let body = spoke_hubspot::ErrorBody::parse(
            br#"{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"x is not a valid email\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}]","correlationId":"c-9","category":"VALIDATION_ERROR"}"#,
        );
        let d = diagnose(&spoke_hubspot::Error::from_response(400, &body));
        assert_eq!(
            (d.code.as_str(), d.correlation_id.as_deref()),
            ("validation_error", Some("c-9"))
        );
        assert!(
            d.cause.contains("VALIDATION_ERROR") && d.fix.contains("required"),
            "{d:?}"
        );
        assert!(
            !d.cause.contains("x is not a valid email"),
            "HubSpot's message can echo record values"
        );
        let body = spoke_hubspot::ErrorBody::parse(
            br#"{"status":"error","message":"Property values were not valid: [{\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"favourite_colour\"}]","category":"VALIDATION_ERROR"}"#,
        );
        assert_eq!(
            diagnose(&spoke_hubspot::Error::from_response(400, &body)).code,
            "property_missing"
        );
        let body = spoke_hubspot::ErrorBody::parse(br#"{"status":"error","message":"Contact already exists. Existing ID: 51","category":"CONFLICT"}"#);
        assert_eq!(
            diagnose(&spoke_hubspot::Error::from_response(409, &body)).code,
            "duplicate_record"
        );
        let body = spoke_hubspot::ErrorBody::parse(br#"{"status":"error","message":"Unable to infer object type from: gizmos","category":"OBJECT_NOT_FOUND"}"#);
        assert_eq!(
            diagnose(&spoke_hubspot::Error::from_response(400, &body)).code,
            "object_not_found"
        );
    }

    #[test]
    fn rate_limits_name_the_budget_and_the_reset() {
        let err = spoke_hubspot::Error::RateLimited {
            attempts: 1,
            retry_after: Some(Duration::from_secs(7)),
        };
        let d = diagnose(&err);
        assert_eq!(d.code, "rate_limit_burst");
        assert!(d.fix.contains("7 seconds"), "{d:?}");
        let search = diagnose_in(
            &err,
            &Context {
                search: true,
                ..Context::default()
            },
        );
        assert_eq!(search.code, "rate_limit_search");
        let daily = diagnose_in(
            &spoke_hubspot::Error::DailyLimitReached,
            &Context {
                time_zone: Some("US/Eastern".into()),
                ..Context::default()
            },
        );
        assert_eq!(daily.code, "rate_limit_daily");
        assert!(
            daily.fix.contains("midnight") && daily.fix.contains("US/Eastern"),
            "{daily:?}"
        );
    }

    #[test]
    fn token_fixes_depend_on_how_the_connection_signs_in() {
        let err = spoke_hubspot::Error::Unauthorized {
            message: None,
            correlation_id: Some("c-1".into()),
        };
        let token = diagnose_in(&err, &Context::for_method(AuthMethod::Token));
        assert_eq!(token.code, "token_rejected");
        assert!(
            token.fix.contains("Replace token") && token.fix.contains("Service keys"),
            "{token:?}"
        );
        assert_eq!(token.correlation_id.as_deref(), Some("c-1"));
        let oauth = diagnose_in(&err, &Context::for_method(AuthMethod::OAuth));
        assert!(oauth.fix.contains("Reconnect"), "{oauth:?}");
        let reconnect = crate::Error::ReconnectRequired {
            connection_id: "c".into(),
        };
        assert_eq!(
            diagnose_in(&reconnect, &Context::for_method(AuthMethod::OAuth)).code,
            "sign_in_expired"
        );
        assert_eq!(
            diagnose_in(&reconnect, &Context::for_method(AuthMethod::Token)).code,
            "token_rejected"
        );
        let scopes = spoke_hubspot::Error::MissingScopes {
            scopes: vec!["crm.objects.deals.write".into()],
            message: None,
            correlation_id: None,
        };
        let d = diagnose_in(&scopes, &Context::for_method(AuthMethod::Token));
        assert!(
            d.cause.contains("crm.objects.deals.write") && d.fix.contains("Service keys"),
            "{d:?}"
        );
    }

    /// The sync engine's write failures, as the demo portal really answers them.
    #[tokio::test]
    async fn write_failures_from_the_demo_portal_map_to_the_guides_rows() {
        use spoke_hubspot::{Client, ClientConfig, Request, StaticToken};
        let sandbox = spoke_sandbox::Sandbox::start(spoke_sandbox::SandboxConfig {
            contacts: 5,
            ..Default::default()
        })
        .await
        .unwrap();
        let client = Client::new(ClientConfig::new(sandbox.base_url()))
            .unwrap()
            .with_token_provider(std::sync::Arc::new(StaticToken::new(
                spoke_hubspot::Secret::new(sandbox.private_app_token()),
            )));
        let create = |properties: serde_json::Value| {
            let client = client.clone();
            async move {
                client
                    .send(
                        Request::post("/crm/v3/objects/contacts")
                            .json(serde_json::json!({ "properties": properties })),
                    )
                    .await
            }
        };
        let err = create(serde_json::json!({ "email": "not an email" }))
            .await
            .unwrap_err();
        let d = diagnose(&err);
        assert_eq!(d.code, "validation_error", "{err:?}");
        assert!(d.correlation_id.is_some());
        assert!(
            !d.cause.contains("not an email"),
            "no record value in the cause"
        );
        let err = create(serde_json::json!({ "favourite_colour": "teal" }))
            .await
            .unwrap_err();
        assert_eq!(diagnose(&err).code, "property_missing", "{err:?}");
        create(serde_json::json!({ "email": "twice@example.com" }))
            .await
            .unwrap();
        let err = create(serde_json::json!({ "email": "twice@example.com" }))
            .await
            .unwrap_err();
        assert_eq!(diagnose(&err).code, "duplicate_record", "{err:?}");
        let inputs: Vec<serde_json::Value> = (0..101)
            .map(|i| serde_json::json!({ "properties": { "email": format!("b{i}@example.com") } }))
            .collect();
        let err = client
            .send(
                Request::post("/crm/v3/objects/contacts/batch/create")
                    .json(serde_json::json!({ "inputs": inputs })),
            )
            .await
            .unwrap_err();
        assert_eq!(diagnose(&err).code, "batch_too_large", "{err:?}");
        let err = client
            .send(Request::get("/crm/v3/objects/gizmos"))
            .await
            .unwrap_err();
        assert_eq!(diagnose(&err).code, "object_not_found", "{err:?}");
        sandbox.shutdown().await;
    }

    #[test]
    fn install_permission_is_told_apart_from_a_plain_denial() {
        let denied = crate::Error::ConsentDenied {
            description: Some("The user denied access to the app.".into()),
        };
        assert_eq!(diagnose(&denied).code, "consent_denied");
        let no_permission = crate::Error::ConsentDenied {
            description: Some(
                "User does not have permission to install apps (App Marketplace Access)".into(),
            ),
        };
        let d = diagnose(&no_permission);
        assert_eq!(d.code, "install_permission");
        assert!(d.fix.contains("Super Admin"), "{d:?}");
    }
}
