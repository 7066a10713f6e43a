//! Authentication (401), scopes (403 MISSING_SCOPES), rate limits per tier with HubSpot's
//! headers and 429 bodies.

mod common;

use common::*;
use serde_json::json;
use spoke_sandbox::{SandboxConfig, Tier};

#[tokio::test]
async fn missing_invalid_and_revoked_tokens_are_401() {
    let env = unlimited().await;
    let r = env.http.get(env.url("/crm/v3/objects/contacts")).send().await.unwrap();
    let e = hub_error(r, 401, "INVALID_AUTHENTICATION").await;
    assert!(e["message"].as_str().unwrap().contains("Authentication credentials not found"));
    hub_error(env.get_with("/crm/v3/objects/contacts", "CNnot-a-token").await, 401, "INVALID_AUTHENTICATION").await;
    hub_error(env.get_with("/crm/v3/objects/contacts", "pat-na1-00000000-0000-4000-8000-000000000000").await, 401, "INVALID_AUTHENTICATION").await;
    let r = env.http.get(env.url("/crm/v3/objects/contacts?hapikey=abc")).send().await.unwrap();
    hub_error(r, 401, "INVALID_AUTHENTICATION").await;

    let t = env.token_with(&["crm.objects.contacts.read"]).await;
    assert_eq!(env.get_with("/crm/v3/objects/contacts", &t).await.status(), 200);
    let r = env.admin(reqwest::Method::POST, "/tokens/revoke", json!({ "token": t })).await;
    assert_eq!(r.status(), 204);
    hub_error(env.get_with("/crm/v3/objects/contacts", &t).await, 401, "INVALID_AUTHENTICATION").await;
    let r = env.admin(reqwest::Method::POST, "/tokens/revoke", json!({ "token": "nope" })).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn forced_401_mid_run_then_recovers() {
    let env = unlimited().await;
    env.admin(reqwest::Method::POST, "/tokens/unauthorized", json!({ "token": env.token, "count": 2 })).await;
    hub_error(env.get("/crm/v3/objects/deals").await, 401, "EXPIRED_AUTHENTICATION").await;
    hub_error(env.get("/crm/v3/objects/deals").await, 401, "EXPIRED_AUTHENTICATION").await;
    assert_eq!(env.get("/crm/v3/objects/deals").await.status(), 200);
}

#[tokio::test]
async fn missing_scopes_is_403_naming_the_scopes() {
    let env = unlimited().await;
    let t = env.token_with(&["crm.objects.contacts.read"]).await;
    let e = hub_error(env.get_with("/crm/v3/objects/companies", &t).await, 403, "MISSING_SCOPES").await;
    assert_eq!(e["errors"][0]["context"]["requiredGranularScopes"], json!(["crm.objects.companies.read"]));
    let r = env.http.post(env.url("/crm/v3/objects/contacts")).bearer_auth(&t).json(&json!({ "properties": { "email": "a@b.co" } })).send().await.unwrap();
    let e = hub_error(r, 403, "MISSING_SCOPES").await;
    assert_eq!(e["errors"][0]["context"]["requiredGranularScopes"], json!(["crm.objects.contacts.write"]));
    hub_error(env.get_with("/crm/v3/objects/tickets", &t).await, 403, "MISSING_SCOPES").await;
    hub_error(env.get_with("/crm/v3/objects/projects", &t).await, 403, "MISSING_SCOPES").await;
    hub_error(env.get_with("/crm/v3/owners", &t).await, 403, "MISSING_SCOPES").await;
    hub_error(env.get_with("/crm-object-schemas/v3/schemas", &t).await, 403, "MISSING_SCOPES").await;
    hub_error(env.get_with("/conversations/v3/conversations/threads", &t).await, 403, "MISSING_SCOPES").await;
    // Properties accept either the schema scope or the object scope.
    assert_eq!(env.get_with("/crm/v3/properties/contacts", &t).await.status(), 200);
    hub_error(env.get_with("/crm/v3/properties/deals", &t).await, 403, "MISSING_SCOPES").await;
}

#[tokio::test]
async fn private_app_scope_changes_apply_immediately() {
    let env = unlimited().await;
    assert_eq!(env.get("/crm/v3/objects/deals").await.status(), 200);
    let r = env.admin(reqwest::Method::PUT, "/private-app/scopes", json!({ "scopes": ["crm.objects.contacts.read"] })).await;
    assert_eq!(r.status(), 200);
    hub_error(env.get("/crm/v3/objects/deals").await, 403, "MISSING_SCOPES").await;
    let info = json(env.http.post(env.url("/oauth/v2/private-apps/get/access-token-info")).json(&json!({ "tokenKey": env.token })).send().await.unwrap()).await;
    assert_eq!(info["scopes"], json!(["crm.objects.contacts.read"]));
}

#[tokio::test]
async fn rate_limit_headers_follow_tier_and_token_kind() {
    let env = start(SandboxConfig { tier: Tier::Starter, ..Default::default() }).await;
    let r = env.get("/crm/v3/objects/contacts").await;
    let h = r.headers();
    assert_eq!(h["x-hubspot-ratelimit-max"], "100");
    assert_eq!(h["x-hubspot-ratelimit-remaining"], "99");
    assert_eq!(h["x-hubspot-ratelimit-interval-milliseconds"], "10000");
    assert_eq!(h["x-hubspot-ratelimit-daily"], "250000");
    assert_eq!(h["x-hubspot-ratelimit-daily-remaining"], "249999");
    assert_eq!(h["x-hubspot-ratelimit-secondly"], "10");
    let r = env.get("/crm/v3/objects/contacts").await;
    assert_eq!(r.headers()["x-hubspot-ratelimit-remaining"], "98");
    // Search answers carry no rate-limit headers.
    let r = env.post("/crm/v3/objects/contacts/search", json!({})).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-hubspot-ratelimit-remaining").is_none());
    // OAuth tokens: 110 per 10 s, no daily headers.
    let r = env.admin(reqwest::Method::POST, "/tokens", json!({ "scopes": ["crm.objects.contacts.read"], "kind": "oauth" })).await;
    let t = json(r).await["token"].as_str().unwrap().to_string();
    let r = env.get_with("/crm/v3/objects/contacts", &t).await;
    assert_eq!(r.headers()["x-hubspot-ratelimit-max"], "110");
    assert!(r.headers().get("x-hubspot-ratelimit-daily").is_none());
}

#[tokio::test]
async fn burst_limit_429_ten_secondly_rolling() {
    let env = start(SandboxConfig { tier: Tier::Free, ..Default::default() }).await;
    for i in 0..100 {
        let r = env.get("/crm/v3/objects/contacts?limit=1").await;
        assert_eq!(r.status(), 200, "request {i}");
    }
    let r = env.get("/crm/v3/objects/contacts?limit=1").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let e = hub_error(r, 429, "RATE_LIMITS").await;
    assert_eq!(e["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(e["errorType"], "RATE_LIMIT");
    // The window rolls.
    env.admin(reqwest::Method::POST, "/clock/advance", json!({ "ms": 10_001 })).await;
    assert_eq!(env.get("/crm/v3/objects/contacts?limit=1").await.status(), 200);
}

#[tokio::test]
async fn search_limit_429_secondly_without_retry_after() {
    let env = start(SandboxConfig::default()).await;
    for _ in 0..5 {
        assert_eq!(env.post("/crm/v3/objects/contacts/search", json!({ "limit": 1 })).await.status(), 200);
    }
    let r = env.post("/crm/v3/objects/contacts/search", json!({ "limit": 1 })).await;
    assert!(r.headers().get("retry-after").is_none());
    let e = hub_error(r, 429, "RATE_LIMITS").await;
    assert_eq!(e["policyName"], "SECONDLY");
    // Other endpoints are unaffected.
    assert_eq!(env.get("/crm/v3/objects/contacts?limit=1").await.status(), 200);
    env.admin(reqwest::Method::POST, "/clock/advance", json!({ "ms": 1_001 })).await;
    assert_eq!(env.post("/crm/v3/objects/contacts/search", json!({ "limit": 1 })).await.status(), 200);
}

#[tokio::test]
async fn daily_limit_429() {
    let env = start(SandboxConfig { tier: Tier::Enterprise, ..Default::default() }).await;
    env.admin(reqwest::Method::PUT, "/rate-limits/daily-used", json!({ "used": 999_999 })).await;
    let r = env.get("/crm/v3/objects/contacts").await;
    assert_eq!(r.headers()["x-hubspot-ratelimit-daily-remaining"], "0");
    let r = env.get("/crm/v3/objects/contacts").await;
    let e = hub_error(r, 429, "RATE_LIMITS").await;
    assert_eq!(e["policyName"], "DAILY");
}

#[tokio::test]
async fn limits_can_be_disabled() {
    let env = start(SandboxConfig { tier: Tier::Free, rate_limits: false, ..Default::default() }).await;
    for _ in 0..120 {
        assert_eq!(env.get("/crm/v3/objects/contacts?limit=1").await.status(), 200);
    }
    let r = env.get("/crm/v3/objects/contacts?limit=1").await;
    assert_eq!(r.headers()["x-hubspot-ratelimit-remaining"], "0");
}
