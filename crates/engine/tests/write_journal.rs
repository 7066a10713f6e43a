//! The create journal, step by step: creates HubSpot applied but whose answer was lost are
//! adopted (identical rows by count, a row edited meanwhile updated after, a record changed in
//! HubSpot meanwhile recognised by its history), not created again;
//! while HubSpot's search may still lag they wait; a create that never reached HubSpot is made
//! once the settle time has passed. (`tests/kill9_write.rs` does the same with `kill -9`.)

mod common;

use std::collections::BTreeSet;

use common::*;
use rusqlite::params;
use serde_json::{json, Value};
use spoke_engine::{CancelToken, SyncOptions, WriteOptions, WriteProgress, WriteSummary};
use spoke_mapping::{
    discover_properties, Mapping,
    ObjectCatalog,
};
use spoke_sandbox::SandboxConfig;

const CREATE: &str = "POST /crm/v3/objects/{object_type}/batch/create";


async fn write(
    env: &Env,
    m: &Mapping,
    cat: &ObjectCatalog,
    settle_ms: u64,
) -> spoke_engine::Result<WriteSummary> {
    let options = WriteOptions {
        create_settle_ms: settle_ms,
        ..WriteOptions::default()
    };
    env.engine
        .write_back(m, cat, options, CancelToken::new(), &|_p: WriteProgress| {})
        .await
}

/// The portal's contacts other than `seeded`: (id, firstname, lastname), by id.
async fn created(env: &Env, m: &Mapping, seeded: &BTreeSet<String>) -> Vec<(String, String, String)> {
    env.portal(m)
        .await
        .into_iter()
        .filter(|(id, _)| !seeded.contains(id))
        .map(|(id, (_, raw))| {
            let v: Value = serde_json::from_str(&raw).unwrap();
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            (id, s("firstname"), s("lastname"))
        })
        .collect()
}

/// Local rows: (_hs_id, firstname, lastname).
fn rows(env: &Env) -> Vec<(Option<String>, String, String)> {
    let conn = rusqlite_open(&env.dir.path().join("spoke.db"));
    let mut stmt = conn
        .prepare("SELECT _hs_id, firstname, lastname FROM leads WHERE lastname LIKE 'Zq%' ORDER BY rowid")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn insert(env: &Env, first: &str) {
    rusqlite_open(&env.dir.path().join("spoke.db"))
        .execute(
            "INSERT INTO leads (firstname, lastname) VALUES (?1, 'Zq')",
            params![first],
        )
        .unwrap();
}

async fn creates(env: &Env) -> u64 {
    env.requests().await["byOperation"][CREATE]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_answers_are_adopted_not_created_again() {
    let env = env(SandboxConfig {
        contacts: 20,
        rate_limits: false,
        search_lag_ms: 60_000,
        ..SandboxConfig::default()
    })
    .await;
    let m = leads_by_record_id();
    let cat = discover_properties(&env.client, "contacts", &env.dir.path().join("catalog"), false)
        .await
        .unwrap();
    env.sync(&m, SyncOptions::default()).await;
    let seeded: BTreeSet<String> = env.portal(&m).await.into_keys().collect();
    for first in ["Twin", "Twin", "Twin", "Ada", "Bob"] {
        insert(&env, first);
    }

    // HubSpot creates the five records, but its answer is lost.
    env.admin(
        reqwest::Method::PUT,
        "faults",
        json!({ "lostAnswerRate": 1.0, "pathPrefix": "/crm/v3/objects/contacts/batch/create" }),
    )
    .await;
    let err = write(&env, &m, &cat, 60_000).await.unwrap_err();
    assert!(err.to_string().contains("could not reach HubSpot"), "{err}");
    env.admin(reqwest::Method::DELETE, "faults", Value::Null).await;
    assert_eq!(created(&env, &m, &seeded).await.len(), 5);
    assert!(rows(&env).iter().all(|r| r.0.is_none()));
    assert_eq!(env.count("SELECT count(*) FROM _spoke_create_intents"), 5);
    // Ada is edited locally before the next write-back; Bob is renamed in HubSpot.
    rusqlite_open(&env.dir.path().join("spoke.db"))
        .execute("UPDATE leads SET lastname = 'Zqq' WHERE firstname = 'Ada'", [])
        .unwrap();
    let bob = created(&env, &m, &seeded).await.into_iter().find(|p| p.1 == "Bob").unwrap().0;
    env.update("contacts", &bob, json!({ "firstname": "Robert" })).await;

    // Search does not show the new records yet (60 s lag): the rows wait, nothing is created.
    env.reset_requests().await;
    let s = write(&env, &m, &cat, 60_000).await.unwrap();
    assert_eq!((s.pending, s.created), (0, 0), "{}", s.message);
    assert!(s.message.contains("5 new rows of an interrupted write not found in HubSpot's search yet"), "{}", s.message);
    assert_eq!(creates(&env).await, 0);
    assert!(rows(&env).iter().all(|r| r.0.is_none()));

    // Once search shows them, they are adopted: each record once (Bob by the values it was
    // created with), the local edit sent as an update.
    env.admin(reqwest::Method::POST, "clock/advance", json!({ "ms": 61_000 })).await;
    let s = write(&env, &m, &cat, 60_000).await.unwrap();
    assert_eq!((s.created, s.updated, s.rejected), (5, 1, 0), "{}", s.message);
    assert!(s.message.contains("5 of the created were made by an interrupted earlier write and adopted"), "{}", s.message);
    assert_eq!(creates(&env).await, 0);
    assert_eq!(env.count("SELECT count(*) FROM _spoke_create_intents"), 0);
    assert_eq!(rows(&env).iter().filter(|r| r.0.as_deref() == Some(bob.as_str())).count(), 1);
    // HubSpot's rename reaches the row with the next read, as any change made in HubSpot.
    env.sync(&m, SyncOptions::default()).await;
    let portal = created(&env, &m, &seeded).await;
    assert_eq!(portal.len(), 5, "{portal:?}");
    let local = rows(&env);
    let ids: BTreeSet<String> = local.iter().map(|r| r.0.clone().unwrap()).collect();
    assert_eq!(ids, portal.iter().map(|p| p.0.clone()).collect());
    for (id, first, last) in &local {
        let p = portal.iter().find(|p| Some(&p.0) == id.as_ref()).unwrap();
        assert_eq!((&p.1, &p.2), (first, last));
    }
    assert!(portal.iter().any(|p| p.1 == "Ada" && p.2 == "Zqq"));
    assert!(local.iter().any(|r| r.0.as_deref() == Some(bob.as_str()) && r.1 == "Robert"));
    let s = write(&env, &m, &cat, 60_000).await.unwrap();
    assert_eq!((s.pending, s.api_calls), (0, 0), "{}", s.message);

    // A create refused before HubSpot handled it (503): unknown at first, so the row waits;
    // after the settle time it is created, once.
    insert(&env, "Cy");
    env.admin(
        reqwest::Method::PUT,
        "faults",
        json!({ "errorRate": 1.0, "pathPrefix": "/crm/v3/objects/contacts/batch/create" }),
    )
    .await;
    write(&env, &m, &cat, 1_000).await.unwrap_err();
    env.admin(reqwest::Method::DELETE, "faults", Value::Null).await;
    env.reset_requests().await;
    let s = write(&env, &m, &cat, 1_000).await.unwrap();
    assert_eq!(s.created, 0, "{}", s.message);
    assert!(s.message.contains("1 new row of an interrupted write"), "{}", s.message);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let s = write(&env, &m, &cat, 1_000).await.unwrap();
    assert_eq!((s.pending, s.created), (1, 1), "{}", s.message);
    assert_eq!(creates(&env).await, 1);
    let portal = created(&env, &m, &seeded).await;
    assert_eq!(portal.len(), 6);
    assert_eq!(portal.iter().filter(|p| p.1 == "Cy").count(), 1);
    assert_eq!(env.count("SELECT count(*) FROM _spoke_create_intents"), 0);
}
