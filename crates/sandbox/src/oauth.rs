//! OAuth 2.0 as HubSpot does it: the consent page (`app.hubspot.com/oauth/authorize`) and the
//! token endpoints (`/oauth/v1/token`, `/oauth/v3/token`, `/oauth/2026-03/token`, introspect,
//! revoke, legacy token info, private-app token info).

use crate::auth::{explain, AccessToken, AuthCode, PendingAuthz, RefreshToken, TokenKind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::util::{html_escape, url_encode};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

const VERSIONS: &[&str] = &["v1", "v3", "2026-03"];

fn form(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn split_scopes(s: Option<&String>) -> Vec<String> {
    s.map(|s| s.split([' ', '+', ',']).filter(|x| !x.is_empty()).map(str::to_string).collect()).unwrap_or_default()
}

const STYLE: &str = r#"
*{box-sizing:border-box}body{margin:0;font:15px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;background:#f5f8fa;color:#33475b}
.top{background:#2d3e50;color:#fff;padding:14px 28px;display:flex;align-items:center;gap:10px;font-weight:600}
.dot{width:22px;height:22px;border-radius:50%;background:#ff7a59;display:inline-block;box-shadow:0 0 0 4px rgba(255,122,89,.25)}
.badge{margin-left:auto;font-size:12px;font-weight:500;background:rgba(255,255,255,.12);padding:3px 10px;border-radius:12px}
main{max-width:620px;margin:40px auto;background:#fff;border:1px solid #dfe3eb;border-radius:8px;padding:36px 40px;box-shadow:0 2px 10px rgba(45,62,80,.06)}
h1{font-size:22px;margin:0 0 6px}p.sub{margin:0 0 24px;color:#516f90}
.portal{display:flex;gap:14px;align-items:center;border:1px solid #cbd6e2;border-radius:6px;padding:12px 16px;margin-bottom:24px;background:#f5f8fa}
.avatar{width:40px;height:40px;border-radius:6px;background:#00a4bd;color:#fff;display:flex;align-items:center;justify-content:center;font-weight:700}
.portal small{display:block;color:#7c98b6}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:#7c98b6;margin:22px 0 8px}
ul{list-style:none;padding:0;margin:0}li{padding:9px 0;border-bottom:1px solid #eaf0f6;display:flex;gap:10px}
li:last-child{border-bottom:0}li code{font-size:12px;color:#7c98b6;display:block}
.tick{color:#00bda5;font-weight:700}.opt{color:#f5c26b;font-weight:700}
.actions{display:flex;justify-content:flex-end;gap:12px;margin-top:30px}
button{font:inherit;font-weight:600;border-radius:3px;padding:10px 22px;cursor:pointer;border:1px solid #ff7a59}
.allow{background:#ff7a59;color:#fff}.allow:hover{background:#ff8f73}.deny{background:#fff;color:#ff7a59}.deny:hover{background:#fff1ee}
.err{border-left:4px solid #f2545b;padding:4px 0 4px 16px}.fine{font-size:12px;color:#7c98b6;margin-top:22px}
"#;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><div class=\"top\"><span class=\"dot\"></span>HubSpot <span class=\"badge\">Spoke demo portal — local sandbox</span></div><main>{body}</main></body></html>",
        html_escape(title)
    )
}

fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!(
        "<div class=\"err\"><h1>{}</h1><p>{}</p></div><p class=\"fine\">If you're the app developer, check the app's auth settings (redirect URLs and scopes) and the install URL.</p>",
        html_escape(title),
        html_escape(detail)
    );
    (status, Html(page(title, &body))).into_response()
}

pub async fn landing(State(st): State<Arc<AppState>>) -> Html<String> {
    let (name, pid) = match st.read() {
        Ok(s) => (s.portal_name.clone(), s.portal_id),
        Err(_) => (String::new(), 0),
    };
    let body = format!(
        "<h1>{}</h1><p class=\"sub\">Hub ID {pid} · {} tier · a local, seeded HubSpot for Spoke.</p><p>API base URL: <code>{}</code></p><p>Admin API: <code>/_sandbox</code></p>",
        html_escape(&name),
        st.cfg.tier,
        html_escape(&st.base_url)
    );
    Html(page("Demo portal", &body))
}

pub async fn authorize_page(State(st): State<Arc<AppState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let app = &st.demo_app;
    let Some(client_id) = q.get("client_id") else {
        return error_page(StatusCode::BAD_REQUEST, "Authorization failed", "The install URL is missing client_id.");
    };
    if client_id != &app.client_id {
        return error_page(StatusCode::BAD_REQUEST, "Authorization failed", "This app doesn't exist or was deleted: unknown client_id.");
    }
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    if !app.redirect_uris.contains(&redirect_uri) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Authorization failed because the redirect URL doesn't match",
            &format!("The redirect_uri {redirect_uri:?} does not exactly match any redirect URL in the app's auth settings."),
        );
    }
    let requested = split_scopes(q.get("scope"));
    let optional = split_scopes(q.get("optional_scope"));
    let configured: BTreeSet<&str> = app.scopes.iter().chain(app.optional_scopes.iter()).map(String::as_str).collect();
    let unknown: Vec<&String> = requested.iter().chain(optional.iter()).filter(|s| !configured.contains(s.as_str())).collect();
    let missing: Vec<&String> = app.scopes.iter().filter(|s| !requested.contains(s) ).collect();
    if !unknown.is_empty() || !missing.is_empty() {
        let mut detail = String::from("Couldn't complete the connection. There is a mismatch between the scopes in the install URL and the app's configured scopes.");
        if !missing.is_empty() {
            detail += &format!(" Required by the app but missing from scope: {}.", missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
        }
        if !unknown.is_empty() {
            detail += &format!(" Not configured on the app: {}.", unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
        }
        return error_page(StatusCode::BAD_REQUEST, "Scope mismatch", &detail);
    }
    let challenge = match (q.get("code_challenge"), q.get("code_challenge_method").map(String::as_str)) {
        (Some(c), Some("S256") | None) => Some((c.clone(), "S256".to_string())),
        (Some(c), Some("plain")) => Some((c.clone(), "plain".to_string())),
        (Some(_), Some(m)) => {
            return error_page(StatusCode::BAD_REQUEST, "Authorization failed", &format!("Unsupported code_challenge_method {m:?}; use S256."));
        }
        (None, _) => None,
    };
    let request_id = crate::util::random_hex(&mut rand::rng(), 16);
    let granted: BTreeSet<String> = requested.iter().chain(optional.iter()).cloned().collect();
    if let Ok(mut auth) = st.auth() {
        let now = st.clock.now_ms();
        auth.pending.retain(|_, p| p.expires_at > now);
        auth.pending.insert(
            request_id.clone(),
            PendingAuthz {
                client_id: client_id.clone(),
                redirect_uri: redirect_uri.clone(),
                scopes: granted,
                state: q.get("state").cloned(),
                challenge,
                expires_at: now + 15 * 60_000,
            },
        );
    }
    let (portal_name, portal_id) = match st.read() {
        Ok(s) => (s.portal_name.clone(), s.portal_id),
        Err(e) => return e.into_response(),
    };
    let li = |s: &str, class: &str, mark: &str| {
        format!("<li><span class=\"{class}\">{mark}</span><span>{}<code>{}</code></span></li>", html_escape(explain(s)), html_escape(s))
    };
    let req_items: String = requested.iter().map(|s| li(s, "tick", "✓")).collect();
    let opt_items: String = optional.iter().filter(|s| !requested.contains(s)).map(|s| li(s, "opt", "+")).collect();
    let opt_block = if opt_items.is_empty() {
        String::new()
    } else {
        format!("<h2>Optional — granted because this account has access</h2><ul>{opt_items}</ul>")
    };
    let initials: String = portal_name.split_whitespace().filter_map(|w| w.chars().next()).take(2).collect();
    let body = format!(
        r#"<h1>Connect {app_name} to HubSpot</h1>
<p class="sub">{app_name} is requesting access to your HubSpot account.</p>
<div class="portal"><div class="avatar">{initials}</div><div><strong>{portal}</strong><small>Hub ID {portal_id} · {tier} · signed in as alex.rivera@northwind-demo.com</small></div></div>
<h2>This app will be able to</h2><ul>{req_items}</ul>{opt_block}
<form method="post" action="/oauth/authorize">
<input type="hidden" name="request_id" value="{rid}">
<div class="actions"><button class="deny" type="submit" name="decision" value="deny">Deny</button><button class="allow" type="submit" name="decision" value="allow">Connect app</button></div>
</form>
<p class="fine">You'll be redirected to <code>{redirect}</code>. You can disconnect the app at any time in Settings → Integrations → Connected apps.</p>"#,
        app_name = html_escape(&app.name),
        portal = html_escape(&portal_name),
        tier = html_escape(st.cfg.tier.as_str()),
        rid = request_id,
        redirect = html_escape(&redirect_uri),
    );
    Html(page(&format!("Connect {}", app.name), &body)).into_response()
}

fn redirect(to: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to), (header::CACHE_CONTROL, "no-store".to_string())]).into_response()
}

pub async fn authorize_decision(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let f = form(&body);
    let Some(rid) = f.get("request_id") else {
        return error_page(StatusCode::BAD_REQUEST, "Authorization failed", "The consent form was incomplete.");
    };
    let now = st.clock.now_ms();
    let pending = match st.auth() {
        Ok(mut a) => a.pending.remove(rid),
        Err(e) => return e.into_response(),
    };
    let Some(p) = pending.filter(|p| p.expires_at > now) else {
        return error_page(StatusCode::BAD_REQUEST, "This authorization request expired", "Start the connection again from the app.");
    };
    let sep = if p.redirect_uri.contains('?') { '&' } else { '?' };
    let state = p.state.as_ref().map(|s| format!("&state={}", url_encode(s))).unwrap_or_default();
    if f.get("decision").map(String::as_str) != Some("allow") {
        return redirect(format!(
            "{}{sep}error=access_denied&error_description={}{state}",
            p.redirect_uri,
            url_encode("The user denied access to the app.")
        ));
    }
    let code = crate::util::uuid_v4(&mut rand::rng());
    if let Ok(mut a) = st.auth() {
        a.codes.insert(
            code.clone(),
            AuthCode {
                client_id: p.client_id.clone(),
                redirect_uri: p.redirect_uri.clone(),
                scopes: p.scopes.clone(),
                challenge: p.challenge.clone(),
                expires_at: now + st.cfg.auth_code_ttl_secs as i64 * 1000,
                used: false,
            },
        );
    }
    tracing::info!(client_id = %p.client_id, "consent granted");
    redirect(format!("{}{sep}code={code}{state}", p.redirect_uri))
}

fn check_client(st: &AppState, f: &HashMap<String, String>) -> ApiResult<()> {
    let app = &st.demo_app;
    match f.get("client_id") {
        Some(id) if *id == app.client_id => {}
        _ => return Err(ApiError::oauth(StatusCode::BAD_REQUEST, "BAD_CLIENT_ID", "invalid_client", "missing or invalid client_id")),
    }
    match f.get("client_secret") {
        Some(s) if *s == app.client_secret => Ok(()),
        _ => Err(ApiError::oauth(StatusCode::BAD_REQUEST, "BAD_CLIENT_SECRET", "invalid_client", "missing or invalid client_secret")),
    }
}

fn bad_grant(legacy: &str, msg: &str) -> ApiError {
    ApiError::oauth(StatusCode::BAD_REQUEST, legacy, "invalid_grant", msg)
}

fn pkce_ok(challenge: &(String, String), verifier: &str) -> bool {
    match challenge.1.as_str() {
        "plain" => challenge.0 == verifier,
        _ => {
            let digest = Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == challenge.0
        }
    }
}

pub async fn token(State(st): State<Arc<AppState>>, Path(version): Path<String>, body: Bytes) -> ApiResult<Response> {
    if !VERSIONS.contains(&version.as_str()) {
        return Err(ApiError::not_found(format!("Unknown OAuth API version {version}")));
    }
    let f = form(&body);
    let grant = f.get("grant_type").cloned().unwrap_or_default();
    if grant.is_empty() {
        return Err(ApiError::oauth(StatusCode::BAD_REQUEST, "BAD_GRANT_TYPE", "invalid_request", "missing grant_type"));
    }
    check_client(&st, &f)?;
    let now = st.clock.now_ms();
    let app = &st.demo_app;
    let mut auth = st.auth()?;
    let (scopes, refresh) = match grant.as_str() {
        "authorization_code" => {
            let code = f.get("code").cloned().unwrap_or_default();
            let Some(c) = auth.codes.get(&code).cloned() else {
                return Err(bad_grant("BAD_AUTH_CODE", "missing or unknown auth code"));
            };
            if c.used {
                return Err(bad_grant("BAD_AUTH_CODE", "auth code has already been used"));
            }
            if now >= c.expires_at {
                return Err(bad_grant("EXPIRED_AUTH_CODE", "auth code is expired"));
            }
            if f.get("redirect_uri") != Some(&c.redirect_uri) {
                return Err(bad_grant("BAD_REDIRECT_URI", "redirect_uri does not match the one used in the authorization request"));
            }
            if let Some(ch) = &c.challenge {
                match f.get("code_verifier") {
                    None => return Err(bad_grant("MISSING_CODE_VERIFIER", "code_verifier is required for this auth code")),
                    Some(v) if !pkce_ok(ch, v) => return Err(bad_grant("BAD_CODE_VERIFIER", "code_verifier does not match the code_challenge")),
                    Some(_) => {}
                }
            }
            if let Some(cc) = auth.codes.get_mut(&code) {
                cc.used = true;
            }
            let scopes = Arc::new(c.scopes.clone());
            let refresh = crate::util::uuid_v4(&mut rand::rng());
            auth.refresh.insert(refresh.clone(), RefreshToken { client_id: c.client_id.clone(), scopes: scopes.clone(), revoked: false, user_id: st.user_id });
            (scopes, refresh)
        }
        "refresh_token" => {
            let rt = f.get("refresh_token").cloned().unwrap_or_default();
            match auth.refresh.get(&rt) {
                Some(r) if !r.revoked && r.client_id == app.client_id => (r.scopes.clone(), rt),
                _ => return Err(bad_grant("BAD_REFRESH_TOKEN", "missing or unknown refresh token")),
            }
        }
        other => {
            return Err(ApiError::oauth(
                StatusCode::BAD_REQUEST,
                "BAD_GRANT_TYPE",
                "unsupported_grant_type",
                &format!("unsupported grant_type {other:?}"),
            ))
        }
    };
    let access = crate::util::access_token(&mut rand::rng());
    let ttl = st.cfg.access_token_ttl_secs;
    auth.access.insert(
        access.clone(),
        AccessToken {
            kind: TokenKind::OAuth,
            scopes: scopes.clone(),
            expires_at: Some(now + ttl as i64 * 1000),
            revoked: false,
            app_id: app.app_id,
            client_id: Some(app.client_id.clone()),
            user_id: st.user_id,
        },
    );
    drop(auth);
    tracing::info!(grant = %grant, "issued access token");
    let body = json!({
        "token_type": "bearer",
        "refresh_token": refresh,
        "access_token": access,
        "expires_in": ttl,
        "hub_id": st.cfg.portal_id,
        "user_id": st.user_id,
        "scopes": scopes.iter().collect::<Vec<_>>(),
        "token_use": "access_token",
    });
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

fn signed_token(st: &AppState, t: &AccessToken) -> Value {
    let scopes: Vec<&String> = t.scopes.iter().collect();
    json!({
        "appId": t.app_id, "appInstallId": format!("{}-{}", t.app_id, st.cfg.portal_id), "audience": "api.hubapi.com",
        "expiresAt": t.expires_at.unwrap_or(0), "hubId": st.cfg.portal_id, "hublet": "na1", "installingUserId": t.user_id,
        "isPrivateDistribution": false, "isServiceAccount": false, "isUserLevel": false, "newSignature": "",
        "scopeToScopeGroupPks": "", "scopes": scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
        "signature": "", "trialScopeToScopeGroupPks": "", "trialScopes": "", "userId": t.user_id,
    })
}

fn access_info(st: &AppState, token: &str, t: &AccessToken, now: i64, v3: bool) -> Value {
    let expires_in = t.expires_at.map(|e| ((e - now) / 1000).max(0)).unwrap_or(0);
    let mut v = json!({
        "token": token,
        "user": "alex.rivera@northwind-demo.com",
        "hub_domain": "northwind-demo.com",
        "scopes": t.scopes.iter().collect::<Vec<_>>(),
        "hub_id": st.cfg.portal_id,
        "app_id": t.app_id,
        "expires_in": expires_in,
        "user_id": t.user_id,
        "token_type": "access",
        "is_private_distribution": false,
        "signed_access_token": signed_token(st, t),
    });
    if v3 {
        v["active"] = json!(true);
        v["client_id"] = json!(t.client_id.clone().unwrap_or_default());
        v["token_use"] = json!("access_token");
    }
    v
}

fn refresh_info(st: &AppState, token: &str, r: &RefreshToken, v3: bool) -> Value {
    let mut v = json!({
        "token": token,
        "user": "alex.rivera@northwind-demo.com",
        "hub_domain": "northwind-demo.com",
        "scopes": r.scopes.iter().collect::<Vec<_>>(),
        "hub_id": st.cfg.portal_id,
        "client_id": r.client_id,
        "user_id": r.user_id,
        "token_type": "refresh",
    });
    if v3 {
        v["active"] = json!(true);
        v["app_id"] = json!(st.demo_app.app_id);
        v["token_use"] = json!("refresh_token");
    }
    v
}

pub async fn introspect(State(st): State<Arc<AppState>>, Path(version): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    if version == "v1" || !VERSIONS.contains(&version.as_str()) {
        return Err(ApiError::not_found(format!("Unknown OAuth API version {version}")));
    }
    let f = form(&body);
    check_client(&st, &f)?;
    let token = f.get("token").cloned().unwrap_or_default();
    let now = st.clock.now_ms();
    let auth = st.auth()?;
    if f.get("token_type_hint").map(String::as_str) != Some("refresh_token") {
        if let Some(t) = auth.access.get(&token) {
            if !t.revoked && t.expires_at.is_none_or(|e| e > now) && t.kind == TokenKind::OAuth {
                return Ok(Json(access_info(&st, &token, t, now, true)));
            }
            return Ok(Json(json!({ "active": false })));
        }
    }
    if let Some(r) = auth.refresh.get(&token) {
        if !r.revoked {
            return Ok(Json(refresh_info(&st, &token, r, true)));
        }
    }
    Ok(Json(json!({ "active": false })))
}

pub async fn revoke(State(st): State<Arc<AppState>>, Path(version): Path<String>, body: Bytes) -> ApiResult<StatusCode> {
    if version == "v1" || !VERSIONS.contains(&version.as_str()) {
        return Err(ApiError::not_found(format!("Unknown OAuth API version {version}")));
    }
    let f = form(&body);
    check_client(&st, &f)?;
    let token = f.get("token").cloned().unwrap_or_default();
    let mut auth = st.auth()?;
    if let Some(t) = auth.access.get_mut(&token) {
        t.revoked = true;
    }
    if let Some(r) = auth.refresh.get_mut(&token) {
        r.revoked = true;
    }
    // RFC 7009: unknown tokens are not an error.
    Ok(StatusCode::OK)
}

pub async fn v1_access_token(State(st): State<Arc<AppState>>, Path(token): Path<String>) -> ApiResult<Json<Value>> {
    let now = st.clock.now_ms();
    let auth = st.auth()?;
    match auth.access.get(&token) {
        Some(t) if t.kind == TokenKind::OAuth && !t.revoked && t.expires_at.is_none_or(|e| e > now) => {
            Ok(Json(access_info(&st, &token, t, now, false)))
        }
        Some(t) if t.kind == TokenKind::OAuth && !t.revoked => {
            Err(ApiError::oauth(StatusCode::BAD_REQUEST, "EXPIRED_ACCESS_TOKEN", "invalid_token", "access token is expired"))
        }
        _ => Err(ApiError::oauth(StatusCode::NOT_FOUND, "BAD_ACCESS_TOKEN", "invalid_token", "missing or unknown access token")),
    }
}

pub async fn v1_refresh_get(State(st): State<Arc<AppState>>, Path(token): Path<String>) -> ApiResult<Json<Value>> {
    let auth = st.auth()?;
    match auth.refresh.get(&token) {
        Some(r) if !r.revoked => Ok(Json(refresh_info(&st, &token, r, false))),
        _ => Err(bad_grant("BAD_REFRESH_TOKEN", "missing or unknown refresh token").with("error", json!("invalid_grant"))),
    }
}

pub async fn v1_refresh_delete(State(st): State<Arc<AppState>>, Path(token): Path<String>) -> ApiResult<StatusCode> {
    let mut auth = st.auth()?;
    match auth.refresh.get_mut(&token) {
        Some(r) if !r.revoked => {
            // Like HubSpot: access tokens already issued keep working until they expire.
            r.revoked = true;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(bad_grant("BAD_REFRESH_TOKEN", "missing or unknown refresh token")),
    }
}

pub async fn private_app_info(State(st): State<Arc<AppState>>, crate::error::Json(body): crate::error::Json<Value>) -> ApiResult<Json<Value>> {
    let Some(key) = body.get("tokenKey").and_then(Value::as_str) else {
        return Err(ApiError::validation("tokenKey is required"));
    };
    let auth = st.auth()?;
    match auth.access.get(key) {
        Some(t) if t.kind == TokenKind::PrivateApp && !t.revoked => Ok(Json(json!({
            "userId": t.user_id,
            "hubId": st.cfg.portal_id,
            "appId": t.app_id,
            "scopes": t.scopes.iter().collect::<Vec<_>>(),
        }))),
        _ => Err(ApiError::unauthorized("INVALID_AUTHENTICATION", "The private app access token provided is invalid or has been deleted.")),
    }
}
