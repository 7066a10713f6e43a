//! An existing table in the admin's own SQLite file as a destination: reads fill the mapped
//! columns (matched by the key column; the admin's other columns and rows are left alone),
//! archives/deletes/merges reach it, edits made there are written back, and a kill -9 at any
//! moment replays harmlessly.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::dest::*;
use common::*;
use rand::Rng;
use spoke_engine::{CancelToken, RunSummary, SyncOptions, WriteOptions, WriteProgress};
use spoke_mapping::{discover_properties, Destination, Direction, LocalValue, Mapping};
use spoke_sandbox::SandboxConfig;

const CREATE: &str = "CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    hubspot_id TEXT,
    email TEXT, firstname TEXT, lastname TEXT, lifecyclestage TEXT,
    spoke_score REAL, spoke_legacy_ids TEXT, spoke_last_seen_at TEXT, spoke_days_as_customer TEXT,
    notes TEXT
);
INSERT INTO customers (hubspot_id, email, firstname, notes) VALUES (NULL, 'own@app.example', 'Own', 'the app''s own row');";

fn admin_mapping(path: &std::path::Path) -> Mapping {
    let mut m = contacts_mapping();
    m.destination = Destination::Sqlite {
        path: path.display().to_string(),
        table: "customers".into(),
    };
    for f in &mut m.fields {
        if f.property.as_deref() == Some("firstname") {
            f.direction = Direction::Both;
        }
    }
    m
}

/// The admin's table (rows Spoke wrote: those with a key) equals the store table, which equals
/// the portal; the admin's own row and columns are untouched.
async fn assert_mirrors_portal(env: &Env, m: &Mapping, theirs: &std::path::Path) {
    let portal = env.portal(m).await;
    assert_same(&portal, &env.local(&spoke_engine::store_table(&m.destination)));
    let want = store_rows(&env.dir.path().join("spoke.db"), m);
    let have = sqlite_rows(theirs, "customers", &mapped(m), "hubspot_id IS NOT NULL");
    assert_eq!(want.len(), portal.len());
    assert_eq!(have, want);
    let own: (String, Option<String>) = rusqlite_open(theirs)
        .query_row(
            "SELECT notes, hubspot_id FROM customers WHERE email = 'own@app.example'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(own, ("the app's own row".to_owned(), None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_sqlite_table_follows_the_portal_and_is_written_back() {
    let env = env(SandboxConfig {
        contacts: 400,
        rate_limits: false,
        ..SandboxConfig::default()
    })
    .await;
    let theirs = env.dir.path().join("theirs.db");
    rusqlite_open(&theirs).execute_batch(CREATE).unwrap();
    let m = admin_mapping(&theirs);

    let full = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(full.mode, "full");
    assert_mirrors_portal(&env, &m, &theirs).await;
    // Spoke's bookkeeping stays in its own store: the admin's schema is unchanged.
    let cols: i64 = rusqlite_open(&theirs)
        .query_row("SELECT count(*) FROM pragma_table_info('customers')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(cols, 11);
    let tables: i64 = rusqlite_open(&theirs)
        .query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1);

    // Changes, archives and merges in HubSpot reach the table incrementally.
    let ids: Vec<String> = env.portal(&m).await.keys().cloned().collect();
    for id in ids.iter().step_by(40) {
        env.update("contacts", id, serde_json::json!({ "lastname": "Changed" }))
            .await;
    }
    for id in &ids[10..13] {
        env.admin(
            reqwest::Method::POST,
            &format!("objects/contacts/{id}/archive"),
            serde_json::Value::Null,
        )
        .await;
    }
    env.admin(
        reqwest::Method::POST,
        "objects/contacts/merge",
        serde_json::json!({ "primaryObjectId": ids[30], "objectIdToMerge": ids[31] }),
    )
    .await;
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(inc.mode, "incremental");
    assert_eq!((inc.counts.archived, inc.counts.merged), (3, 1), "{inc:?}");
    assert_mirrors_portal(&env, &m, &theirs).await;
    for gone in [&ids[10], &ids[31]] {
        let n: i64 = rusqlite_open(&theirs)
            .query_row("SELECT count(*) FROM customers WHERE hubspot_id = ?1", [gone], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{gone}");
    }

    // A hard delete is found by the next full read's reconciliation.
    env.admin(
        reqwest::Method::DELETE,
        &format!("objects/contacts/{}", ids[50]),
        serde_json::Value::Null,
    )
    .await;
    let full = env.sync(&m, SyncOptions { full: true, ..SyncOptions::default() }).await;
    assert_eq!(full.counts.deleted, 1, "{full:?}");
    assert_mirrors_portal(&env, &m, &theirs).await;

    // An edit made in the admin's table by their app goes to HubSpot, and is not read back as
    // a change.
    let cat = discover_properties(&env.client, "contacts", &env.dir.path().join("cat"), false)
        .await
        .unwrap();
    let id = &ids[60];
    rusqlite_open(&theirs)
        .execute(
            "UPDATE customers SET firstname = 'Edited in the app' WHERE hubspot_id = ?1",
            [id],
        )
        .unwrap();
    let s = env
        .engine
        .write_back(&m, &cat, WriteOptions::default(), CancelToken::new(), &|_p: WriteProgress| {})
        .await
        .unwrap();
    assert_eq!((s.pending, s.updated, s.rejected), (1, 1, 0), "{s:?}");
    let v: serde_json::Value = env
        .client
        .get(&format!("/crm/v3/objects/contacts/{id}"), &[("properties", "firstname")])
        .await
        .unwrap();
    assert_eq!(v["properties"]["firstname"], "Edited in the app");
    let again = env
        .engine
        .write_back(&m, &cat, WriteOptions::default(), CancelToken::new(), &|_p: WriteProgress| {})
        .await
        .unwrap();
    assert_eq!((again.pending, again.api_calls), (0, 0), "{again:?}");
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(inc.counts.updated, 0, "{inc:?}");
    assert_mirrors_portal(&env, &m, &theirs).await;
    let first: LocalValue = sqlite_rows(&theirs, "customers", &mapped(&m), "hubspot_id IS NOT NULL")
        [id.as_str()][2]
        .clone();
    assert_eq!(first, LocalValue::Text("Edited in the app".into()));
}

/// Runs the probe until one run finishes on its own, killing the earlier ones at random.
fn run_with_kills(env: &Env, mapping: &std::path::Path, max_ms: u64, kills: usize) -> (usize, RunSummary) {
    let store = env.dir.path().join("spoke.db");
    let mut killed = 0;
    loop {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spoke-engine-probe"))
            .arg(env.sb.base_url())
            .arg(env.sb.private_app_token())
            .arg(&store)
            .arg(mapping)
            .args(["--page-size", "100"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if killed < kills {
            std::thread::sleep(Duration::from_millis(rand::rng().random_range(20..max_ms)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
                continue;
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        return (killed, serde_json::from_slice(&out.stdout).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_filling_the_admins_table_replays_harmlessly() {
    let env = env(SandboxConfig {
        contacts: 3000,
        ..SandboxConfig::default()
    })
    .await;
    let theirs = env.dir.path().join("theirs.db");
    rusqlite_open(&theirs).execute_batch(CREATE).unwrap();
    let m = admin_mapping(&theirs);
    let path = env.dir.path().join("mapping.json");
    m.write_file(&path).unwrap();

    let (killed, last) = tokio::task::block_in_place(|| run_with_kills(&env, &path, 600, 6));
    assert!(killed >= 3, "only {killed} kills landed");
    assert_eq!(last.mode, "full");
    // No duplicates (sqlite_rows asserts one row per key), nothing missing.
    assert_mirrors_portal(&env, &m, &theirs).await;
    let rows: i64 = rusqlite_open(&theirs)
        .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows as usize, env.portal(&m).await.len() + 1);

    let ids: Vec<String> = env.portal(&m).await.keys().cloned().collect();
    for id in ids.iter().step_by(10) {
        env.update("contacts", id, serde_json::json!({ "firstname": "Kill9" }))
            .await;
    }
    let (_, last) = tokio::task::block_in_place(|| run_with_kills(&env, &path, 300, 3));
    assert_eq!(last.mode, "incremental");
    assert_mirrors_portal(&env, &m, &theirs).await;
}
