//! `kill -9` at random moments during the write-back of a few hundred new rows matched by
//! record id (`batch/create`, not idempotent), each time restarted: the portal ends with exactly
//! one record per local row, every row has its id, and the values are equal.
//!
//! Some kills are made to land between HubSpot's answer and the local commit: the test holds
//! the store's write lock (as any other SQLite client may), so a probe whose create HubSpot has
//! just answered waits on its commit, and is killed there. Such kills leave records in the
//! portal that the store does not know; the test counts them and requires a few.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rand::Rng;
use serde_json::{json, Value};
use spoke_engine::{SyncOptions, WriteSummary};
use spoke_mapping::{
    discover_properties, Mapping,
};
use spoke_sandbox::SandboxConfig;

const ROWS: usize = 400;
/// Longer than the portal's search lag (500 ms): the create journal trusts search after this.
const SETTLE_MS: u64 = 1500;


fn spawn(env: &Env, mapping: &std::path::Path, catalog: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_spoke-engine-probe"))
        .arg(env.sb.base_url())
        .arg(env.sb.private_app_token())
        .arg(env.dir.path().join("spoke.db"))
        .arg(mapping)
        .arg("--write")
        .arg(catalog)
        .args(["--batch-size", "5", "--concurrency", "2"])
        .args(["--create-settle-ms", &SETTLE_MS.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The portal's contacts other than the seeded ones: id → (firstname, lastname).
async fn created(env: &Env, m: &Mapping, seeded: &BTreeSet<String>) -> BTreeMap<String, (String, String)> {
    env.portal(m)
        .await
        .into_iter()
        .filter(|(id, _)| !seeded.contains(id))
        .map(|(id, (_, raw))| {
            let v: Value = serde_json::from_str(&raw).unwrap();
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            (id, (s("firstname"), s("lastname")))
        })
        .collect()
}

/// The local rows: rowid → (_hs_id, key column, firstname, lastname).
type Rows = BTreeMap<i64, (Option<String>, Option<String>, String, String)>;

fn local(env: &Env) -> Rows {
    let conn = rusqlite_open(&env.dir.path().join("spoke.db"));
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut stmt = conn
        .prepare("SELECT rowid, _hs_id, hubspot_id, firstname, lastname FROM leads WHERE lastname LIKE 'K9%'")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_write_back_creates_nothing_twice() {
    let env = env(SandboxConfig {
        contacts: 30,
        rate_limits: false,
        search_lag_ms: 500,
        ..SandboxConfig::default()
    })
    .await;
    // Creates take a while, so that kills land before, during and after HubSpot applies them.
    env.admin(
        reqwest::Method::PUT,
        "faults",
        json!({ "latencyMs": 120, "latencyJitterMs": 80, "pathPrefix": "/crm/v3/objects/contacts/batch/create" }),
    )
    .await;
    let m = leads_by_record_id();
    let mapping_path = env.dir.path().join("mapping.json");
    m.write_file(&mapping_path).unwrap();
    let cat = discover_properties(&env.client, "contacts", &env.dir.path().join("catalog"), false)
        .await
        .unwrap();
    let catalog_path = env.dir.path().join("catalog.json");
    std::fs::write(&catalog_path, serde_json::to_vec(&cat).unwrap()).unwrap();
    env.sync(&m, SyncOptions::default()).await;
    let seeded: BTreeSet<String> = env.portal(&m).await.into_keys().collect();
    {
        let conn = rusqlite_open(&env.dir.path().join("spoke.db"));
        let tx = conn.unchecked_transaction().unwrap();
        for i in 0..ROWS {
            // Every seventh row is one of a set of identical twins.
            let first = if i % 7 == 0 { "Twin".to_owned() } else { format!("Row {i}") };
            tx.execute(
                "INSERT INTO leads (firstname, lastname) VALUES (?1, 'K9')",
                [first],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    let mut rng = rand::rng();
    let mut kills = 0usize;
    let mut locked_kills = 0usize;
    // Kills after which the portal held more records the store did not know than before.
    let mut orphaning_kills = 0usize;
    let mut orphans = 0usize;
    let mut edits = 0usize;
    let started = Instant::now();
    while kills < 24 && started.elapsed() < Duration::from_secs(60) {
        let before = local(&env).values().filter(|r| r.0.is_some()).count();
        if before == ROWS {
            break;
        }
        let mut child = spawn(&env, &mapping_path, &catalog_path);
        let hold = kills % 2 == 1;
        std::thread::sleep(Duration::from_millis(rng.random_range(30..400)));
        // Half the kills hold the store's write lock first: a create answered meanwhile waits
        // for its commit, and the kill lands right there.
        let lock = hold.then(|| {
            let conn = rusqlite_open(&env.dir.path().join("spoke.db"));
            conn.busy_timeout(Duration::from_secs(10)).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            std::thread::sleep(Duration::from_millis(rng.random_range(250..450)));
            conn
        });
        let alive = child.try_wait().unwrap().is_none();
        if alive {
            child.kill().unwrap(); // SIGKILL
        }
        child.wait().unwrap();
        if let Some(conn) = lock {
            conn.execute_batch("ROLLBACK").unwrap();
        }
        if !alive {
            continue;
        }
        kills += 1;
        locked_kills += hold as usize;
        let rows = local(&env);
        let known = rows.values().filter(|r| r.0.is_some()).count();
        let portal = created(&env, &m, &seeded).await;
        if portal.len().saturating_sub(known) > orphans {
            orphaning_kills += 1;
        }
        orphans = portal.len().saturating_sub(known);
        // Edit a row still without its id (it may be one HubSpot already created).
        if let Some((rid, _)) = rows.iter().find(|(_, r)| r.0.is_none() && rng.random_bool(0.5)) {
            rusqlite_open(&env.dir.path().join("spoke.db"))
                .execute(
                    "UPDATE leads SET lastname = 'K9 edited' WHERE rowid = ?1",
                    [rid],
                )
                .unwrap();
            edits += 1;
        }
    }

    // Then runs to the end, without kills (rows whose create is unconfirmed wait for the
    // search lag window, so a run may leave some for the next).
    let mut last: Option<WriteSummary> = None;
    for _ in 0..30 {
        let out = spawn(&env, &mapping_path, &catalog_path)
            .wait_with_output()
            .unwrap();
        assert!(out.status.success());
        let s: WriteSummary = serde_json::from_slice(&out.stdout).unwrap();
        let pending = s.pending;
        last = Some(s);
        let done = local(&env).values().all(|r| r.0.is_some());
        if done && pending == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let last = last.unwrap();
    eprintln!(
        "{kills} kills ({locked_kills} holding the store lock), {orphaning_kills} left records the store did not know, {edits} rows edited; last run: {}",
        last.message
    );

    let rows = local(&env);
    assert_eq!(rows.len(), ROWS);
    let portal = created(&env, &m, &seeded).await;
    // Exactly one record per row: no duplicates, nothing missing.
    assert_eq!(portal.len(), ROWS, "the portal has {} new records for {ROWS} rows", portal.len());
    let ids: BTreeSet<String> = rows
        .values()
        .map(|r| r.0.clone().expect("every row has its id"))
        .collect();
    assert_eq!(ids.len(), ROWS, "two rows share a record");
    assert_eq!(ids, portal.keys().cloned().collect::<BTreeSet<_>>());
    for (rid, (id, key, first, lastname)) in &rows {
        let id = id.as_ref().unwrap();
        assert_eq!(key.as_ref(), Some(id), "row {rid}: key column");
        assert_eq!(portal[id], (first.clone(), lastname.clone()), "row {rid} ({id})");
    }
    let twins = rows.values().filter(|r| r.2 == "Twin").count();
    assert_eq!(portal.values().filter(|v| v.0 == "Twin").count(), twins);
    // Nothing left in the journal, nothing left to send.
    assert_eq!(env.count("SELECT count(*) FROM _spoke_create_intents"), 0);
    assert_eq!(last.pending, 0, "{}", last.message);
    assert!(kills >= 20, "only {kills} kills landed");
    assert!(orphaning_kills >= 3, "only {orphaning_kills} kills landed between HubSpot's answer and the commit");
}
