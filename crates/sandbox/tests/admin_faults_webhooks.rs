//! The `/_sandbox` admin API, fault injection and webhook deliveries.

mod common;

use axum::routing::post;
use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use spoke_sandbox::{FaultConfig, SandboxConfig};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test]
async fn index_describes_the_portal() {
    let env = unlimited().await;
    let v = json(env.admin(Method::GET, "", json!(null)).await).await;
    assert_eq!(v["portalId"], env.sb.portal_id());
    assert_eq!(v["privateAppToken"], env.token.as_str());
    assert_eq!(v["demoApp"]["clientId"], env.sb.demo_app().client_id.as_str());
    assert!(v["objects"]["contacts"]["live"].as_u64().unwrap() > 400);
}

#[tokio::test]
async fn user_edits_bump_modified_dates() {
    let env = unlimited().await;
    let c = json(env.get("/crm/v3/objects/companies?limit=1&properties=hs_lastmodifieddate,name").await).await["results"][0].clone();
    let id = c["id"].as_str().unwrap();
    let r = env.admin(Method::POST, &format!("/objects/companies/{id}/update"), json!({ "properties": { "name": "Renamed by a user" } })).await;
    assert_eq!(r.status(), 200);
    let v = json(env.get(&format!("/crm/v3/objects/companies/{id}?properties=name,hs_lastmodifieddate")).await).await;
    assert_eq!(v["properties"]["name"], "Renamed by a user");
    assert_ne!(v["properties"]["hs_lastmodifieddate"], c["properties"]["hs_lastmodifieddate"]);
    // force sets calculated values the API refuses.
    let r = env.admin(Method::POST, &format!("/objects/companies/{id}/update"), json!({ "properties": { "spoke_days_as_customer": "42" }, "force": true })).await;
    assert_eq!(json(r).await["properties"]["spoke_days_as_customer"], "42");
    let r = env.admin(Method::POST, &format!("/objects/companies/{id}/update"), json!({ "properties": { "spoke_days_as_customer": "43" } })).await;
    hub_error(r, 400, "VALIDATION_ERROR").await;
    let r = env.admin(Method::POST, "/objects/contacts", json!({ "properties": { "email": "admin-made@acme-demo.com" } })).await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn bulk_update_twelve_thousand_in_one_millisecond() {
    let env = start(SandboxConfig { contacts: 12_600, rate_limits: false, ..Default::default() }).await;
    let r = env.admin(Method::POST, "/objects/contacts/bulk-update", json!({ "properties": { "hs_lead_status": "OPEN" }, "count": 12_000 })).await;
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["updated"], 12_000);
    let ts = v["timestampIso"].as_str().unwrap().to_string();
    let s = json(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": [{ "filters": [{ "propertyName": "lastmodifieddate", "operator": "EQ", "value": ts }] }], "limit": 1 })).await).await;
    assert_eq!(s["total"], 12_000, "every record carries the same millisecond");
    let s = json(env.post("/crm/v3/objects/contacts/search", json!({ "filterGroups": [{ "filters": [{ "propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": v["timestamp"] }] }], "limit": 1 })).await).await;
    assert_eq!(s["total"], 12_000, "hs_lastmodifieddate is the same clock on contacts");
}

#[tokio::test]
async fn admin_merge_archive_delete_and_association_only_changes() {
    let env = unlimited().await;
    let v = json(env.get("/crm/v3/objects/contacts?limit=3").await).await;
    let ids: Vec<String> = v["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    let r = env.admin(Method::POST, "/objects/contacts/merge", json!({ "primaryObjectId": ids[0], "objectIdToMerge": ids[1] })).await;
    assert_eq!(r.status(), 200);
    assert!(json(r).await["properties"]["hs_merged_object_ids"].as_str().unwrap().contains(&ids[1]));
    assert_eq!(env.admin(Method::POST, &format!("/objects/contacts/{}/archive", ids[2]), json!(null)).await.status(), 204);
    assert_eq!(json(env.get(&format!("/crm/v3/objects/contacts/{}?archived=true", ids[2])).await).await["archived"], true);
    assert_eq!(env.admin(Method::DELETE, &format!("/objects/contacts/{}", ids[2]), json!(null)).await.status(), 204);
    hub_error(env.get(&format!("/crm/v3/objects/contacts/{}?archived=true", ids[2])).await, 404, "OBJECT_NOT_FOUND").await;
    hub_error(env.admin(Method::DELETE, &format!("/objects/contacts/{}", ids[2]), json!(null)).await, 404, "OBJECT_NOT_FOUND").await;

    let co = json(env.get("/crm/v3/objects/companies?limit=5").await).await["results"][4]["id"].as_str().unwrap().to_string();
    let before = json(env.get(&format!("/crm/v3/objects/contacts/{}", ids[0])).await).await["updatedAt"].clone();
    let r = env.admin(Method::POST, "/associations", json!({ "fromType": "contacts", "fromId": ids[0], "toType": "companies", "toId": co, "typeId": 1103 })).await;
    assert_eq!(json(r).await["typeIds"], json!([1103]));
    let a = json(env.get(&format!("/crm/v4/objects/contacts/{}/associations/companies", ids[0])).await).await;
    assert!(a["results"].as_array().unwrap().iter().any(|x| x["toObjectId"] == co.as_str()));
    assert_eq!(json(env.get(&format!("/crm/v3/objects/contacts/{}", ids[0])).await).await["updatedAt"], before);
    env.admin(Method::POST, "/associations", json!({ "fromType": "contacts", "fromId": ids[0], "toType": "companies", "toId": co, "typeId": 1103, "remove": true })).await;
    let a = json(env.get(&format!("/crm/v4/objects/contacts/{}/associations/companies", ids[0])).await).await;
    assert!(!a["results"].as_array().unwrap().iter().any(|x| x["toObjectId"] == co.as_str()));
    hub_error(env.admin(Method::POST, "/associations", json!({ "fromType": "contacts", "fromId": ids[0], "toType": "companies", "toId": co, "typeId": 3 })).await, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn request_counters() {
    let env = unlimited().await;
    env.admin(Method::DELETE, "/requests", json!(null)).await;
    env.get("/crm/v3/objects/contacts").await;
    env.get("/crm/v3/objects/contacts").await;
    env.post("/crm/v3/objects/deals/search", json!({})).await;
    let v = json(env.admin(Method::GET, "/requests", json!(null)).await).await;
    assert_eq!(v["total"], 3);
    assert_eq!(v["byRoute"]["GET /crm/v3/objects/{object_type}"], 2);
    assert_eq!(v["byRoute"]["POST /crm/v3/objects/{object_type}/search"], 1);
}

#[tokio::test]
async fn faults_errors_resets_timeouts_latency() {
    let env = unlimited().await;
    let r = env.admin(Method::PUT, "/faults", json!({ "errorRate": 1.0 })).await;
    assert_eq!(r.status(), 200);
    let r = env.get("/crm/v3/objects/contacts").await;
    assert!(r.status().is_server_error());
    let e = json(r).await;
    assert_eq!(e["status"], "error");
    assert!(e["correlationId"].is_string());
    // The admin API is never faulted.
    assert_eq!(env.admin(Method::GET, "/faults", json!(null)).await.status(), 200);
    hub_error(env.admin(Method::PUT, "/faults", json!({ "errorRate": 2.0 })).await, 400, "VALIDATION_ERROR").await;

    env.admin(Method::PUT, "/faults", json!({ "resetRate": 1.0 })).await;
    let r = env.http.get(env.url("/crm/v3/objects/contacts")).bearer_auth(&env.token).send().await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "connection reset");

    // A lost answer: the write is applied, the client only sees the connection drop.
    env.admin(Method::PUT, "/faults", json!({ "lostAnswerRate": 1.0, "pathPrefix": "/crm/v3/objects/deals" })).await;
    let r = env.http.post(env.url("/crm/v3/objects/deals")).bearer_auth(&env.token).json(&json!({ "properties": { "dealname": "Lost answer" } })).send().await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "answer lost");
    env.admin(Method::DELETE, "/faults", json!(null)).await;
    let found = json(env.post("/crm/v3/objects/deals/search", json!({ "filterGroups": [{ "filters": [{ "propertyName": "dealname", "operator": "EQ", "value": "Lost answer" }] }] })).await).await;
    assert_eq!(found["total"], 1, "the write was applied: {found}");

    env.admin(Method::PUT, "/faults", json!({ "timeoutRate": 1.0, "timeoutMs": 300 })).await;
    let t = Instant::now();
    let r = env.get("/crm/v3/objects/contacts").await;
    assert_eq!(r.status(), 504);
    assert!(t.elapsed() >= Duration::from_millis(300));

    env.admin(Method::PUT, "/faults", json!({ "latencyMs": 200, "pathPrefix": "/crm/v3/objects/deals" })).await;
    let t = Instant::now();
    assert_eq!(env.get("/crm/v3/objects/deals").await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(env.get("/crm/v3/objects/contacts").await.status(), 200);
    assert!(t.elapsed() < Duration::from_millis(200), "prefix limits where latency applies");

    env.admin(Method::PUT, "/faults", json!({ "latencyTailRate": 1.0, "latencyTailMs": 150 })).await;
    let t = Instant::now();
    assert_eq!(env.get("/crm/v3/objects/contacts").await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(150), "tail latency");
    hub_error(env.admin(Method::PUT, "/faults", json!({ "latencyTailRate": 1.5 })).await, 400, "VALIDATION_ERROR").await;

    let v = json(env.admin(Method::GET, "/requests", json!(null)).await).await;
    assert_eq!(v["faults"]["error"], 1);
    assert_eq!(v["faults"]["reset"], 1);
    assert_eq!(v["faults"]["lost_answer"], 1);
    assert_eq!(v["faults"]["timeout"], 1);
    assert_eq!(env.admin(Method::DELETE, "/faults", json!(null)).await.status(), 204);
    assert_eq!(json(env.admin(Method::GET, "/faults", json!(null)).await).await, serde_json::to_value(FaultConfig::default()).unwrap());
}

#[tokio::test]
async fn token_endpoint_429_fault_and_configured_latency() {
    let env = start(SandboxConfig { latency_ms: 120, faults: FaultConfig { token_endpoint_429: 2, ..Default::default() }, ..Default::default() }).await;
    let app = env.sb.demo_app();
    let form = [("grant_type", "refresh_token"), ("client_id", app.client_id.as_str()), ("client_secret", app.client_secret.as_str()), ("refresh_token", "x")];
    for _ in 0..2 {
        let r = env.http.post(env.url("/oauth/v1/token")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(json(r).await["error"], "rate_limit_exceeded");
    }
    let r = env.http.post(env.url("/oauth/v1/token")).form(&form).send().await.unwrap();
    assert_eq!(json(r).await["status"], "BAD_REFRESH_TOKEN");
    let t = Instant::now();
    env.get("/crm/v3/objects/contacts").await;
    assert!(t.elapsed() >= Duration::from_millis(120));
}

type Seen = Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>;

async fn receiver(fail_first: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let count = Arc::new(Mutex::new(0usize));
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = s2.clone();
            let count = count.clone();
            async move {
                seen.lock().unwrap().push((headers, body));
                let mut c = count.lock().unwrap();
                *c += 1;
                if *c <= fail_first { axum::http::StatusCode::INTERNAL_SERVER_ERROR } else { axum::http::StatusCode::OK }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn webhooks_are_batched_signed_and_retried() {
    let env = start(SandboxConfig { rate_limits: false, webhook_batch_ms: 50, ..Default::default() }).await;
    let app = env.sb.demo_app();
    let (url, seen) = receiver(1).await;
    let base = format!("/webhooks/v3/{}", app.app_id);
    let key = format!("hapikey={}", app.developer_api_key);
    let r = env.http.put(env.url(&format!("{base}/settings?{key}"))).json(&json!({ "targetUrl": url, "throttling": { "maxConcurrentRequests": 10 } })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = env.http.get(env.url(&format!("{base}/settings?hapikey=wrong"))).send().await.unwrap();
    hub_error(r, 401, "INVALID_AUTHENTICATION").await;
    for (ev, prop) in [("contact.creation", None), ("contact.propertyChange", Some("firstname")), ("contact.associationChange", None)] {
        let mut body = json!({ "eventType": ev, "active": true });
        if let Some(p) = prop {
            body["propertyName"] = json!(p);
        }
        let r = env.http.post(env.url(&format!("{base}/subscriptions?{key}"))).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = env.http.post(env.url(&format!("{base}/subscriptions?{key}"))).json(&json!({ "eventType": "contact.explode" })).send().await.unwrap();
    hub_error(r, 400, "VALIDATION_ERROR").await;
    let subs = json(env.http.get(env.url(&format!("{base}/subscriptions?{key}"))).send().await.unwrap()).await;
    assert_eq!(subs["results"].as_array().unwrap().len(), 3);

    let id = json(env.post("/crm/v3/objects/contacts", json!({ "properties": { "email": "hook@acme-demo.com", "firstname": "Hook" } })).await).await["id"].as_str().unwrap().to_string();
    env.patch(&format!("/crm/v3/objects/contacts/{id}"), json!({ "properties": { "firstname": "Hooked", "lastname": "Ignored" } })).await;

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ok = seen.lock().unwrap().len() >= 2;
        if ok || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let got = seen.lock().unwrap().clone();
    assert!(got.len() >= 2, "first attempt failed, the retry arrived");
    let (h0, b0) = &got[0];
    let (h1, b1) = &got[1];
    let events0: Vec<Value> = serde_json::from_str(b0).unwrap();
    let events1: Vec<Value> = serde_json::from_str(b1).unwrap();
    assert_eq!(events0.len(), events1.len());
    assert_eq!(events0[0]["attemptNumber"], 0);
    assert_eq!(events1[0]["attemptNumber"], 1);
    let types: Vec<&str> = events1.iter().map(|e| e["subscriptionType"].as_str().unwrap()).collect();
    assert!(types.contains(&"contact.creation") && types.contains(&"contact.propertyChange"), "{types:?}");
    assert!(events1.iter().all(|e| e["portalId"] == env.sb.portal_id() && e["objectId"].as_u64().unwrap().to_string() == id));
    let change = events1.iter().find(|e| e["subscriptionType"] == "contact.propertyChange").unwrap();
    assert_eq!(change["propertyName"], "firstname");
    assert_eq!(change["propertyValue"], "Hooked");
    assert!(!events1.iter().any(|e| e["propertyName"] == "lastname"), "only subscribed properties");
    for (h, b) in [(h0, b0), (h1, b1)] {
        let ts = h["x-hubspot-request-timestamp"].to_str().unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(app.client_secret.as_bytes()).unwrap();
        mac.update(format!("POST{url}{b}{ts}").as_bytes());
        let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(h["x-hubspot-signature-v3"].to_str().unwrap(), expected);
    }
    let d = json(env.admin(Method::GET, "/webhooks/deliveries", json!(null)).await).await;
    let statuses: Vec<u64> = d["results"].as_array().unwrap().iter().filter_map(|x| x["status"].as_u64()).collect();
    assert!(statuses.contains(&500) && statuses.contains(&200));
}
