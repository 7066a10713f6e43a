//! Webhooks v3 against the demo portal: its signed deliveries (and its retries) are received,
//! stored once and applied once; forged, stale, replayed and oversized requests are refused and
//! never applied.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use spoke_engine::webhooks::{register_subscriptions, Endpoint, Receiver, MAX_BODY_BYTES};
use spoke_engine::{CancelToken, Store, SyncOptions};
use spoke_hubspot::Secret;
use spoke_sandbox::SandboxConfig;

const CONN: &str = "conn-demo";

fn sign(secret: &str, uri: &str, body: &str, ts: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("POST{uri}{body}{ts}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A stand-in for the public URL (a tunnel) in front of the local receiver. It forwards every
/// delivery, but answers the portal's first one with a 500 after forwarding it, as a flaky
/// tunnel would: the portal retries a delivery the receiver already has.
async fn tunnel(receiver_url: String) -> (String, Arc<AtomicUsize>) {
    let forwarded = Arc::new(AtomicUsize::new(0));
    let count = forwarded.clone();
    let http = reqwest::Client::new();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let http = http.clone();
                let url = receiver_url.clone();
                let count = count.clone();
                async move {
                    let mut req = http.post(&url).body(body.to_vec());
                    for (k, v) in headers.iter() {
                        let k = k.as_str();
                        if k.starts_with("x-hubspot") || k == "content-type" {
                            req = req.header(k, v.as_bytes());
                        }
                    }
                    let status = req.send().await.map(|r| r.status().as_u16()).unwrap_or(502);
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    if n == 0 {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::from_u16(status).unwrap()
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, forwarded)
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn archived(env: &Env, id: &str) -> i64 {
    env.count(&format!(
        "SELECT coalesce(max(_hs_archived), -1) FROM contacts WHERE _hs_id = '{id}'"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portals_signed_deliveries_are_applied_once_and_forgeries_never() {
    let env = env(SandboxConfig {
        contacts: 120,
        rate_limits: false,
        webhook_batch_ms: 50,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    let options = SyncOptions {
        associations: vec!["companies".into()],
        ..SyncOptions::default()
    };
    env.engine
        .sync(&m, options.clone(), CancelToken::new(), |_| {})
        .await
        .unwrap();
    let app = env.sb.demo_app();
    let wake = Arc::new(tokio::sync::Notify::new());
    let receiver = Receiver::bind(
        "127.0.0.1:0".parse().unwrap(),
        env.store.clone(),
        wake.clone(),
    )
    .await
    .unwrap();
    let (public_url, forwarded) = tunnel(receiver.local_url(CONN)).await;
    receiver.register(Endpoint {
        connection_id: CONN.into(),
        portal_id: env.sb.portal_id(),
        client_secret: Secret::new(app.client_secret.clone()),
        target_url: public_url.clone(),
    });
    let created = register_subscriptions(
        &env.client,
        app.app_id,
        &public_url,
        &[(
            "contacts".into(),
            vec!["firstname".into(), "lastname".into()],
        )],
    )
    .await
    .unwrap();
    assert_eq!(created, 7);
    // Registering again adds nothing.
    let again = register_subscriptions(
        &env.client,
        app.app_id,
        &public_url,
        &[(
            "contacts".into(),
            vec!["firstname".into(), "lastname".into()],
        )],
    )
    .await
    .unwrap();
    assert_eq!(again, 0);

    // Changes in the portal: a property change, a new contact, an archive, a merge and an
    // association-only change.
    let ids: Vec<String> = env.portal(&m).await.keys().cloned().collect();
    let (a, c, loser, survivor, linked) = (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]);
    env.update("contacts", a, json!({ "firstname": "Hooked" }))
        .await;
    let new = env
        .admin(
            reqwest::Method::POST,
            "objects/contacts",
            json!({ "properties": { "email": "hooked@example.com", "firstname": "New" } }),
        )
        .await;
    let new_id = new["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| new["id"].to_string());
    env.admin(
        reqwest::Method::POST,
        &format!("objects/contacts/{c}/archive"),
        Value::Null,
    )
    .await;
    env.admin(
        reqwest::Method::POST,
        "objects/contacts/merge",
        json!({ "primaryObjectId": survivor, "objectIdToMerge": loser }),
    )
    .await;
    let companies: Value = env
        .client
        .send(spoke_hubspot::Request::get("/crm/v3/objects/companies").query("limit", "1"))
        .await
        .unwrap()
        .json()
        .unwrap();
    let company = companies["results"][0]["id"].as_str().unwrap().to_owned();
    env.admin(
        reqwest::Method::POST,
        "associations",
        json!({ "fromType": "contacts", "fromId": linked, "toType": "companies", "toId": company }),
    )
    .await;

    // The portal delivers; the tunnel fails the first delivery after forwarding it, so the
    // portal retries events the receiver already stored.
    let store = env.store.clone();
    wait_until("the deliveries and the retry", || {
        forwarded.load(Ordering::SeqCst) >= 2
            && store.pending_events(CONN, "contacts", "contacts").unwrap() >= 5
            && receiver.status(CONN).duplicates > 0
    })
    .await;
    // Stragglers of the last batch window.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let deliveries = env
        .admin(reqwest::Method::GET, "webhooks/deliveries", Value::Null)
        .await;
    let attempts: Vec<u64> = deliveries["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attempt"].as_u64().unwrap())
        .collect();
    assert!(attempts.contains(&1), "the portal retried: {deliveries}");
    let status = receiver.status(CONN);
    assert_eq!(status.mode, spoke_engine::WebhookMode::Receiving);
    assert_eq!(status.rejected, 0);
    let stored = env
        .store
        .pending_events(CONN, "contacts", "contacts")
        .unwrap();
    assert_eq!(
        status.events_received as usize, stored,
        "each event stored once"
    );

    // Applied once: the changes land, a second pass has nothing to do.
    env.reset_requests().await;
    let applied = env
        .engine
        .apply_events(CONN, &m, options.clone(), CancelToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(applied.events as usize, stored);
    let run = applied.run.unwrap();
    assert_eq!(run.mode, "webhook");
    assert_eq!(
        run.status,
        spoke_engine::RunStatus::Succeeded,
        "{}",
        run.message
    );
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM contacts WHERE _hs_id = '{a}' AND firstname = 'Hooked'"
        )),
        1
    );
    assert_eq!(
        env.count(&format!("SELECT count(*) FROM contacts WHERE _hs_id = '{new_id}' AND email = 'hooked@example.com'")),
        1
    );
    assert_eq!(archived(&env, c), 1);
    assert_eq!(
        env.store.redirect("contacts", loser).unwrap().as_deref(),
        Some(survivor.as_str())
    );
    assert_eq!(archived(&env, loser), -1, "the merged-away row is gone");
    let assoc = env.local_associations("contacts", "companies");
    assert!(
        assoc.contains(&(linked.clone(), company.clone())),
        "{assoc:?}"
    );
    assert_eq!(run.counts.created, 1);
    assert_eq!(run.counts.archived, 1);
    assert_eq!(run.counts.merged, 1);
    assert!(env
        .store
        .runs(5)
        .unwrap()
        .iter()
        .any(|r| r.mode == "webhook"));
    let calls = env.requests().await;
    // One batch/read for every changed id, one association read: nothing else, nothing twice.
    assert_eq!(
        calls["byRoute"]["POST /crm/v3/objects/{object_type}/batch/{op}"], 1,
        "{calls}"
    );
    assert_eq!(
        calls["byRoute"]["POST /crm/v4/associations/{from}/{to}/batch/read"], 1,
        "{calls}"
    );
    assert_eq!(calls["total"], 2, "{calls}");
    let second = env
        .engine
        .apply_events(CONN, &m, options.clone(), CancelToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(second.events, 0);
    assert!(second.run.is_none());
    assert_eq!(
        env.store
            .pending_events(CONN, "contacts", "contacts")
            .unwrap(),
        0
    );

    // Forgeries, sent straight to the receiver: each is refused and stores nothing.
    let http = reqwest::Client::new();
    let local = receiver.local_url(CONN);
    let victim = &ids[10];
    let forged_event = |event_id: u64| {
        json!([{ "eventId": event_id, "subscriptionId": 1, "portalId": env.sb.portal_id(), "appId": app.app_id,
                 "occurredAt": now(), "subscriptionType": "contact.deletion", "attemptNumber": 0,
                 "objectId": victim.parse::<u64>().unwrap(), "changeSource": "CRM", "changeFlag": "DELETED" }])
        .to_string()
    };
    let post = |body: String, sig: String, ts: i64| {
        let http = http.clone();
        let local = local.clone();
        async move {
            http.post(&local)
                .header("content-type", "application/json")
                .header("X-HubSpot-Signature-v3", sig)
                .header("X-HubSpot-Request-Timestamp", ts.to_string())
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Signed with another secret.
    let body = forged_event(900_001);
    let t = now();
    assert_eq!(
        post(
            body.clone(),
            sign("not-the-secret", &public_url, &body, t),
            t
        )
        .await,
        401
    );
    // Signed over the local URL instead of the configured target URL.
    assert_eq!(
        post(body.clone(), sign(&app.client_secret, &local, &body, t), t).await,
        401
    );
    // Correctly signed, but six minutes old.
    let old = now() - 6 * 60 * 1000;
    assert_eq!(
        post(
            body.clone(),
            sign(&app.client_secret, &public_url, &body, old),
            old
        )
        .await,
        401
    );
    // Oversized, correctly signed: refused by its length before being read.
    let big = format!("[{}]", " ".repeat(MAX_BODY_BYTES));
    let t = now();
    assert_eq!(
        post(
            big.clone(),
            sign(&app.client_secret, &public_url, &big, t),
            t
        )
        .await,
        413
    );
    assert_eq!(receiver.status(CONN).rejected, 4);
    assert_eq!(
        env.store
            .pending_events(CONN, "contacts", "contacts")
            .unwrap(),
        0
    );

    // A replay of a real delivery (re-signed, fresh timestamp): stored events are not stored
    // again, even after a restart of the receiver and the store.
    let replay = json!([{ "eventId": 100_001u64, "subscriptionId": 1, "portalId": env.sb.portal_id(), "appId": app.app_id,
                          "occurredAt": now(), "subscriptionType": "contact.deletion", "objectId": victim.parse::<u64>().unwrap() }])
    .to_string();
    let t = now();
    assert_eq!(
        post(
            replay.clone(),
            sign(&app.client_secret, &public_url, &replay, t),
            t
        )
        .await,
        200
    );
    assert_eq!(
        env.store
            .pending_events(CONN, "contacts", "contacts")
            .unwrap(),
        0
    );
    receiver.shutdown();
    let reopened = Store::open(env.store.path()).unwrap();
    let receiver2 = Receiver::bind("127.0.0.1:0".parse().unwrap(), reopened.clone(), wake)
        .await
        .unwrap();
    receiver2.register(Endpoint {
        connection_id: CONN.into(),
        portal_id: env.sb.portal_id(),
        client_secret: Secret::new(app.client_secret.clone()),
        target_url: public_url.clone(),
    });
    let t = now();
    let status = http
        .post(receiver2.local_url(CONN))
        .header(
            "X-HubSpot-Signature-v3",
            sign(&app.client_secret, &public_url, &replay, t),
        )
        .header("X-HubSpot-Request-Timestamp", t.to_string())
        .body(replay.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(status.status().as_u16(), 200);
    assert_eq!(receiver2.status(CONN).duplicates, 1);
    assert_eq!(
        reopened
            .pending_events(CONN, "contacts", "contacts")
            .unwrap(),
        0
    );
    // An unknown connection's address.
    let t = now();
    let status = http
        .post(receiver2.local_url("someone-else"))
        .header(
            "X-HubSpot-Signature-v3",
            sign(&app.client_secret, &public_url, &replay, t),
        )
        .header("X-HubSpot-Request-Timestamp", t.to_string())
        .body(replay)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status().as_u16(), 404);
    // Nothing forged was applied.
    let after = env
        .engine
        .apply_events(CONN, &m, options, CancelToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(after.events, 0);
    assert_eq!(archived(&env, victim), 0);
}
