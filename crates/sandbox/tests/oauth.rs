//! OAuth: consent page, code exchange on every token endpoint, PKCE, refresh, errors,
//! introspection, revocation, legacy token info, private-app token info.

mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spoke_sandbox::SandboxConfig;

const REDIRECT: &str = "http://localhost:53135/callback";

fn authorize_url(env: &Env, extra: &str) -> String {
    let app = env.sb.demo_app();
    format!(
        "{}/oauth/authorize?client_id={}&redirect_uri={}&scope={}&state=xyz{extra}",
        env.base,
        app.client_id,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(app.scopes.join(" ").as_bytes()).collect::<String>(),
    )
}

fn request_id(html: &str) -> String {
    let start = html.find("name=\"request_id\" value=\"").expect("request_id field") + 25;
    html[start..start + 32].to_string()
}

/// Walks the consent page like a browser and returns the redirect Location.
async fn consent(env: &Env, extra: &str, decision: &str) -> String {
    let page = env.http.get(authorize_url(env, extra)).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let rid = request_id(&html);
    let r = env
        .http
        .post(env.url("/oauth/authorize"))
        .form(&[("request_id", rid.as_str()), ("decision", decision)])
        .send()
        .await
        .expect("decision");
    assert_eq!(r.status(), 302);
    r.headers()["location"].to_str().expect("location").to_string()
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let u = url::Url::parse(url).expect("url");
    u.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

async fn exchange(env: &Env, version: &str, form: &[(&str, &str)]) -> reqwest::Response {
    env.http.post(env.url(&format!("/oauth/{version}/token"))).form(form).send().await.expect("token")
}

#[tokio::test]
async fn consent_page_explains_scopes_and_portal() {
    let env = unlimited().await;
    let url = authorize_url(&env, "&optional_scope=tickets%20conversations.read");
    let r = env.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(html.contains("Spoke Demo App"));
    assert!(html.contains(&env.sb.portal_id().to_string()));
    assert!(html.contains("Northwind Demo Co."));
    assert!(html.contains("View contacts"), "scope explained");
    assert!(html.contains("conversations.read"), "optional scope listed");
    assert!(html.contains("<form method=\"post\""));
    assert!(html.contains("value=\"allow\"") && html.contains("value=\"deny\""));
    assert!(!html.contains("<link") && !html.contains("src=\"http") && !html.contains("url(http"), "no external resources");
    assert!(!html.contains("<script src"), "self-contained");
}

#[tokio::test]
async fn consent_errors_for_bad_client_redirect_and_scopes() {
    let env = unlimited().await;
    let app = env.sb.demo_app();
    let bad_client = format!("{}/oauth/authorize?client_id=nope&redirect_uri={REDIRECT}&scope=oauth", env.base);
    let r = env.http.get(bad_client).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("client_id"));

    let bad_redirect = authorize_url(&env, "").replace("53135", "60000");
    let r = env.http.get(bad_redirect).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("redirect URL"));

    let missing_required = format!("{}/oauth/authorize?client_id={}&redirect_uri={REDIRECT}&scope=oauth", env.base, app.client_id);
    let r = env.http.get(missing_required).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let t = r.text().await.unwrap();
    assert!(t.contains("mismatch") && t.contains("crm.objects.contacts.read"), "{t}");

    let unknown = authorize_url(&env, "&optional_scope=automation");
    let r = env.http.get(unknown).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("automation"));
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_state() {
    let env = unlimited().await;
    let loc = consent(&env, "", "deny").await;
    assert!(loc.starts_with(REDIRECT));
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert!(query_param(&loc, "error_description").is_some());
    assert_eq!(query_param(&loc, "state").as_deref(), Some("xyz"));
    assert!(query_param(&loc, "code").is_none());
}

#[tokio::test]
async fn code_exchange_refresh_and_api_call_on_every_version() {
    let env = start(SandboxConfig { access_token_ttl_secs: 900, rate_limits: false, ..Default::default() }).await;
    let app = env.sb.demo_app();
    for version in ["v1", "v3", "2026-03"] {
        let loc = consent(&env, "&optional_scope=tickets", "allow").await;
        assert_eq!(query_param(&loc, "state").as_deref(), Some("xyz"));
        let code = query_param(&loc, "code").expect("code");
        let r = exchange(&env, version, &[("grant_type", "authorization_code"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("redirect_uri", REDIRECT), ("code", &code)]).await;
        assert_eq!(r.status(), 200, "{version}");
        let t = json(r).await;
        assert_eq!(t["expires_in"], 900);
        assert_eq!(t["token_type"], "bearer");
        assert_eq!(t["hub_id"], env.sb.portal_id());
        let scopes: Vec<&str> = t["scopes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(scopes.contains(&"tickets") && scopes.contains(&"crm.objects.contacts.read"));
        let access = t["access_token"].as_str().unwrap().to_string();
        assert!(access.starts_with("CN") && access.len() > 100);
        let refresh = t["refresh_token"].as_str().unwrap().to_string();
        assert_eq!(refresh.len(), 36);
        let r = env.get_with("/crm/v3/objects/contacts?limit=1", &access).await;
        assert_eq!(r.status(), 200);

        // The code is single-use.
        let r = exchange(&env, version, &[("grant_type", "authorization_code"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("redirect_uri", REDIRECT), ("code", &code)]).await;
        let e = json(r).await;
        assert_eq!(e["status"], "BAD_AUTH_CODE");
        assert_eq!(e["error"], "invalid_grant");

        let r = exchange(&env, version, &[("grant_type", "refresh_token"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("refresh_token", &refresh)]).await;
        assert_eq!(r.status(), 200);
        let t2 = json(r).await;
        assert_ne!(t2["access_token"], t["access_token"]);
        assert_eq!(t2["refresh_token"], refresh.as_str());
        assert_eq!(t2["hub_id"], env.sb.portal_id());
    }
}

#[tokio::test]
async fn token_endpoint_errors_carry_legacy_and_rfc_fields() {
    let env = unlimited().await;
    let app = env.sb.demo_app();
    let loc = consent(&env, "", "allow").await;
    let code = query_param(&loc, "code").unwrap();
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("grant_type", "authorization_code"), ("client_id", &app.client_id), ("client_secret", "wrong"), ("redirect_uri", REDIRECT), ("code", &code)], "BAD_CLIENT_SECRET", "invalid_client"),
        (vec![("grant_type", "authorization_code"), ("client_id", "nope"), ("client_secret", &app.client_secret), ("redirect_uri", REDIRECT), ("code", &code)], "BAD_CLIENT_ID", "invalid_client"),
        (vec![("grant_type", "authorization_code"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("redirect_uri", "http://localhost:53136/callback"), ("code", &code)], "BAD_REDIRECT_URI", "invalid_grant"),
        (vec![("grant_type", "authorization_code"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("redirect_uri", REDIRECT), ("code", "nope")], "BAD_AUTH_CODE", "invalid_grant"),
        (vec![("grant_type", "refresh_token"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("refresh_token", "nope")], "BAD_REFRESH_TOKEN", "invalid_grant"),
        (vec![("grant_type", "password"), ("client_id", &app.client_id), ("client_secret", &app.client_secret)], "BAD_GRANT_TYPE", "unsupported_grant_type"),
        (vec![("client_id", &app.client_id), ("client_secret", &app.client_secret)], "BAD_GRANT_TYPE", "invalid_request"),
    ];
    for (form, legacy, rfc) in cases {
        let r = exchange(&env, "v1", &form).await;
        assert_eq!(r.status(), 400, "{legacy}");
        let e = json(r).await;
        assert_eq!(e["status"], legacy, "{e}");
        assert_eq!(e["error"], rfc, "{e}");
        assert!(e["error_description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(e["message"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(e["correlationId"].is_string());
    }
    // The failed attempts above did not burn the code.
    let r = exchange(&env, "v3", &[("grant_type", "authorization_code"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("redirect_uri", REDIRECT), ("code", &code)]).await;
    assert_eq!(r.status(), 200);
    let r = env.http.post(env.url("/oauth/v9/token")).form(&[("grant_type", "refresh_token")]).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn pkce_verifier_is_checked_when_a_challenge_was_sent() {
    let env = unlimited().await;
    let app = env.sb.demo_app();
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let extra = format!("&code_challenge={challenge}&code_challenge_method=S256");
    let code = query_param(&consent(&env, &extra, "allow").await, "code").unwrap();
    let base = [("grant_type", "authorization_code"), ("client_id", app.client_id.as_str()), ("client_secret", app.client_secret.as_str()), ("redirect_uri", REDIRECT), ("code", code.as_str())];
    let r = exchange(&env, "2026-03", &base).await;
    assert_eq!(json(r).await["status"], "MISSING_CODE_VERIFIER");
    let mut wrong = base.to_vec();
    wrong.push(("code_verifier", "not-the-verifier-not-the-verifier-not-the-v"));
    let r = exchange(&env, "2026-03", &wrong).await;
    let e = json(r).await;
    assert_eq!(e["status"], "BAD_CODE_VERIFIER");
    assert_eq!(e["error"], "invalid_grant");
    let mut right = base.to_vec();
    right.push(("code_verifier", verifier));
    let r = exchange(&env, "2026-03", &right).await;
    assert_eq!(r.status(), 200);

    let r = env.http.get(authorize_url(&env, "&code_challenge=abc&code_challenge_method=MD5")).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn codes_and_access_tokens_expire() {
    let env = start(SandboxConfig { access_token_ttl_secs: 60, rate_limits: false, ..Default::default() }).await;
    let app = env.sb.demo_app();
    let code = query_param(&consent(&env, "", "allow").await, "code").unwrap();
    env.admin(reqwest::Method::POST, "/clock/advance", json!({ "ms": 301_000 })).await;
    let r = exchange(&env, "v1", &[("grant_type", "authorization_code"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("redirect_uri", REDIRECT), ("code", &code)]).await;
    assert_eq!(json(r).await["status"], "EXPIRED_AUTH_CODE");

    let code = query_param(&consent(&env, "", "allow").await, "code").unwrap();
    let r = exchange(&env, "v1", &[("grant_type", "authorization_code"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("redirect_uri", REDIRECT), ("code", &code)]).await;
    let t = json(r).await;
    assert_eq!(t["expires_in"], 60);
    let access = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(env.get_with("/account-info/v3/details", &access).await.status(), 200);
    env.admin(reqwest::Method::POST, "/clock/advance", json!({ "ms": 61_000 })).await;
    let e = hub_error(env.get_with("/account-info/v3/details", &access).await, 401, "EXPIRED_AUTHENTICATION").await;
    assert!(e["message"].as_str().unwrap().contains("expired"));
    // Refreshing still works.
    let r = exchange(&env, "v3", &[("grant_type", "refresh_token"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("refresh_token", t["refresh_token"].as_str().unwrap())]).await;
    let access2 = json(r).await["access_token"].as_str().unwrap().to_string();
    assert_eq!(env.get_with("/account-info/v3/details", &access2).await.status(), 200);
}

async fn oauth_tokens(env: &Env) -> (String, String) {
    let app = env.sb.demo_app();
    let code = query_param(&consent(env, "", "allow").await, "code").unwrap();
    let t = json(exchange(env, "v1", &[("grant_type", "authorization_code"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("redirect_uri", REDIRECT), ("code", &code)]).await).await;
    (t["access_token"].as_str().unwrap().to_string(), t["refresh_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn introspect_revoke_and_legacy_info() {
    let env = unlimited().await;
    let app = env.sb.demo_app();
    let (access, refresh) = oauth_tokens(&env).await;
    let intro = |token: String| {
        let env = &env;
        let app = app.clone();
        async move {
            json(env.http.post(env.url("/oauth/2026-03/token/introspect")).form(&[("client_id", app.client_id.as_str()), ("client_secret", app.client_secret.as_str()), ("token", token.as_str())]).send().await.unwrap()).await
        }
    };
    let v = intro(access.clone()).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_use"], "access_token");
    assert_eq!(v["hub_id"], env.sb.portal_id());
    assert_eq!(v["client_id"], app.client_id.as_str());
    let v = intro(refresh.clone()).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_use"], "refresh_token");
    assert_eq!(intro("garbage".into()).await, json!({ "active": false }));
    let r = env.http.post(env.url("/oauth/2026-03/token/introspect")).form(&[("client_id", app.client_id.as_str()), ("client_secret", "x"), ("token", access.as_str())]).send().await.unwrap();
    assert_eq!(json(r).await["status"], "BAD_CLIENT_SECRET");

    let v = json(env.http.get(env.url(&format!("/oauth/v1/access-tokens/{access}"))).send().await.unwrap()).await;
    assert_eq!(v["hub_id"], env.sb.portal_id());
    assert_eq!(v["app_id"], app.app_id);
    assert!(v["expires_in"].as_i64().unwrap() > 1700);
    let r = env.http.get(env.url("/oauth/v1/access-tokens/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v = json(env.http.get(env.url(&format!("/oauth/v1/refresh-tokens/{refresh}"))).send().await.unwrap()).await;
    assert_eq!(v["client_id"], app.client_id.as_str());

    // Revoke the refresh token: refresh fails, the access token keeps working (HubSpot v1 semantics).
    let r = env.http.post(env.url("/oauth/2026-03/token/revoke")).form(&[("client_id", app.client_id.as_str()), ("client_secret", app.client_secret.as_str()), ("token", refresh.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = exchange(&env, "2026-03", &[("grant_type", "refresh_token"), ("client_id", &app.client_id), ("client_secret", &app.client_secret), ("refresh_token", &refresh)]).await;
    assert_eq!(json(r).await["status"], "BAD_REFRESH_TOKEN");
    assert_eq!(env.get_with("/account-info/2026-03/details", &access).await.status(), 200);
    // Revoke the access token: 401.
    env.http.post(env.url("/oauth/v3/token/revoke")).form(&[("client_id", app.client_id.as_str()), ("client_secret", app.client_secret.as_str()), ("token", access.as_str())]).send().await.unwrap();
    hub_error(env.get_with("/account-info/2026-03/details", &access).await, 401, "INVALID_AUTHENTICATION").await;

    let (_, refresh2) = oauth_tokens(&env).await;
    let r = env.http.delete(env.url(&format!("/oauth/v1/refresh-tokens/{refresh2}"))).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = env.http.get(env.url(&format!("/oauth/v1/refresh-tokens/{refresh2}"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn private_app_token_info() {
    let env = unlimited().await;
    let r = env.http.post(env.url("/oauth/v2/private-apps/get/access-token-info")).json(&json!({ "tokenKey": env.token })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["hubId"], env.sb.portal_id());
    assert!(v["appId"].as_u64().is_some() && v["userId"].as_u64().is_some());
    let scopes = v["scopes"].as_array().unwrap();
    assert_eq!(scopes.len(), env.sb.all_scopes().len());
    assert!(env.token.starts_with("pat-na1-") && env.token.len() == 44, "{}", env.token);
    let r = env.http.post(env.url("/oauth/v2/private-apps/get/access-token-info")).json(&json!({ "tokenKey": "pat-na1-nope" })).send().await.unwrap();
    hub_error(r, 401, "INVALID_AUTHENTICATION").await;
    let r = env.http.post(env.url("/oauth/v2/private-apps/get/access-token-info")).json(&json!({})).send().await.unwrap();
    hub_error(r, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn configured_token_and_extra_redirects() {
    let env = start(SandboxConfig { token: Some("pat-na1-11111111-2222-4333-8444-555555555555".into()), extra_redirect_uris: vec!["http://127.0.0.1:9999/cb".into()], ..Default::default() }).await;
    assert_eq!(env.token, "pat-na1-11111111-2222-4333-8444-555555555555");
    assert_eq!(env.get("/account-info/v3/details").await.status(), 200);
    assert!(env.sb.demo_app().redirect_uris.contains(&"http://127.0.0.1:9999/cb".to_string()));
    for port in 53135..=53139 {
        assert!(env.sb.demo_app().redirect_uris.contains(&format!("http://localhost:{port}/callback")));
        assert!(env.sb.demo_app().redirect_uris.contains(&format!("http://127.0.0.1:{port}/callback")));
    }
}
