//! Tokens, scopes and the API authentication middleware.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Every scope the sandbox knows; the private-app token has all of them.
pub const ALL_SCOPES: &[&str] = &[
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "tickets",
    "crm.objects.custom.read",
    "crm.objects.custom.write",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
    "crm.schemas.companies.read",
    "crm.schemas.companies.write",
    "crm.schemas.deals.read",
    "crm.schemas.deals.write",
    "crm.schemas.custom.read",
    "crm.schemas.custom.write",
    "conversations.read",
    "conversations.write",
    "crm.objects.contacts.sensitive.read",
    "crm.schemas.tickets.read",
    "crm.objects.line_items.read",
    "crm.objects.line_items.write",
    "crm.objects.products.read",
    "crm.objects.products.write",
    "crm.objects.notes.read",
    "files",
    "files.ui_hidden.read",
];

/// One sentence per scope for the consent page.
pub fn explain(scope: &str) -> &'static str {
    match scope {
        "oauth" => "Confirm your identity and see which HubSpot account you connected.",
        "crm.objects.contacts.read" => "View contacts, and the notes and calls logged on them.",
        "crm.objects.contacts.write" => "Create, update, merge and delete contacts, notes and calls.",
        "crm.objects.companies.read" => "View companies.",
        "crm.objects.companies.write" => "Create, update, merge and delete companies.",
        "crm.objects.deals.read" => "View deals, their pipelines and stages.",
        "crm.objects.deals.write" => "Create, update, merge and delete deals.",
        "tickets" => "View, create and update support tickets.",
        "crm.objects.custom.read" => "View records of custom objects (such as Projects).",
        "crm.objects.custom.write" => "Create, update and delete records of custom objects.",
        "crm.objects.owners.read" => "See the users who own records (names and emails).",
        "crm.schemas.contacts.read" => "See contact property definitions.",
        "crm.schemas.contacts.write" => "Create and edit contact properties.",
        "crm.schemas.companies.read" => "See company property definitions.",
        "crm.schemas.companies.write" => "Create and edit company properties.",
        "crm.schemas.deals.read" => "See deal property definitions.",
        "crm.schemas.deals.write" => "Create and edit deal properties.",
        "crm.schemas.custom.read" => "See custom object definitions and their properties.",
        "crm.schemas.custom.write" => "Create and edit custom object definitions.",
        "conversations.read" => "Read conversation inbox threads and messages.",
        "conversations.write" => "Reply in conversation inbox threads.",
        "crm.objects.contacts.sensitive.read" => "View sensitive contact data.",
        "crm.schemas.tickets.read" => "See ticket property definitions.",
        "crm.objects.line_items.read" => "View line items on deals and quotes.",
        "crm.objects.line_items.write" => "Create, update and delete line items.",
        "crm.objects.products.read" => "View the product library.",
        "crm.objects.products.write" => "Create, update and delete products.",
        "crm.objects.notes.read" => "View notes logged on records.",
        "files" => "View and upload files in the file manager.",
        "files.ui_hidden.read" => "View files hidden from the file manager, such as note attachments.",
        _ => "Access additional HubSpot data.",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    PrivateApp,
    OAuth,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub kind: TokenKind,
    pub scopes: Arc<BTreeSet<String>>,
    /// Epoch ms; `None` for private-app tokens.
    pub expires_at: Option<i64>,
    pub revoked: bool,
    pub app_id: u64,
    pub client_id: Option<String>,
    pub user_id: u64,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub client_id: String,
    pub scopes: Arc<BTreeSet<String>>,
    pub revoked: bool,
    pub user_id: u64,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: BTreeSet<String>,
    pub challenge: Option<(String, String)>,
    pub expires_at: i64,
    pub used: bool,
}

/// An authorization request shown on the consent page, awaiting Allow / Deny.
#[derive(Debug, Clone)]
pub struct PendingAuthz {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: BTreeSet<String>,
    pub state: Option<String>,
    pub challenge: Option<(String, String)>,
    pub expires_at: i64,
}

#[derive(Default)]
pub struct AuthState {
    pub pending: HashMap<String, PendingAuthz>,
    pub access: HashMap<String, AccessToken>,
    pub refresh: HashMap<String, RefreshToken>,
    pub codes: HashMap<String, AuthCode>,
    /// Tokens that must answer 401 on their next N requests (fault "401 mid-run").
    pub force_401: HashMap<String, u32>,
}

/// The authenticated caller of an API request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: String,
    pub kind: TokenKind,
    pub scopes: Arc<BTreeSet<String>>,
    pub app_id: u64,
}

impl Caller {
    /// Passes when the token has any of `scopes` (HubSpot accepts any one of the listed
    /// granular scopes); else 403 MISSING_SCOPES naming them.
    pub fn require(&self, scopes: &[&str]) -> Result<(), ApiError> {
        if scopes.is_empty() || scopes.iter().any(|s| self.scopes.contains(*s)) {
            Ok(())
        } else {
            Err(ApiError::missing_scopes(scopes))
        }
    }
}

pub fn bearer(req: &Request) -> Option<String> {
    let v = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let t = token.trim();
        (!t.is_empty()).then(|| t.to_string())
    } else {
        None
    }
}

fn no_credentials() -> ApiError {
    ApiError::unauthorized(
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    )
}

/// Checks a bearer token and returns the caller, or HubSpot's 401.
pub fn authenticate(st: &AppState, token: Option<String>) -> Result<Caller, ApiError> {
    let token = token.ok_or_else(no_credentials)?;
    let now = st.clock.now_ms();
    let mut auth = st.auth.lock().map_err(|_| ApiError::internal("auth state poisoned"))?;
    if let Some(n) = auth.force_401.get_mut(&token) {
        if *n > 0 {
            *n -= 1;
            return Err(ApiError::unauthorized(
                "EXPIRED_AUTHENTICATION",
                "The OAuth token used to make this call expired 0 minute(s) ago.",
            ));
        }
    }
    let Some(t) = auth.access.get(&token) else {
        if token.starts_with("pat-") {
            return Err(ApiError::unauthorized(
                "INVALID_AUTHENTICATION",
                "The private app access token provided is invalid or has been deleted.",
            ));
        }
        return Err(ApiError::unauthorized(
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        ));
    };
    if t.revoked {
        return Err(ApiError::unauthorized(
            "INVALID_AUTHENTICATION",
            "The access token provided has been revoked.",
        ));
    }
    if let Some(exp) = t.expires_at {
        if now >= exp {
            let mins = (now - exp) / 60_000;
            return Err(ApiError::unauthorized(
                "EXPIRED_AUTHENTICATION",
                format!("The OAuth token used to make this call expired {mins} minute(s) ago."),
            ));
        }
    }
    Ok(Caller { token, kind: t.kind, scopes: t.scopes.clone(), app_id: t.app_id })
}

/// Middleware for HubSpot API routes: authenticate, rate-limit, and add rate-limit headers.
pub async fn api_guard(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    if req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv.starts_with("hapikey="))) && bearer(&req).is_none() {
        // Webhook settings accept the developer API key; everything else has retired it.
        if !req.uri().path().starts_with("/webhooks/") {
            return ApiError::unauthorized(
                "INVALID_AUTHENTICATION",
                "The API key provided is invalid. API keys were sunset on November 30, 2022; use a private app access token or OAuth.",
            )
            .into_response();
        }
        return next.run(req).await;
    }
    let caller = match authenticate(&st, bearer(&req)) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let is_search = req.method() == axum::http::Method::POST && req.uri().path().ends_with("/search");
    let headers = match st.limiter_check(&caller, is_search) {
        Ok(h) => h,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (k, v) in headers {
        if let Ok(v) = axum::http::HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    resp
}
