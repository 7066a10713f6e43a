//! PostgreSQL as a destination, against a real server: `tests/pg.sh` starts one and exports
//! `SPOKE_TEST_PG_URL` (`make test` does this). Each test works in a database of its own.
//! Full read = portal, incremental changes and archives, write-back of a row edited in
//! PostgreSQL, kill -9 replays, and the password taken from the OS keychain (never from the
//! mapping file).

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::dest::*;
use common::*;
use rand::Rng;
use spoke_engine::{CancelToken, RunSummary, SyncOptions, WriteOptions, WriteProgress};
use spoke_hubspot::{Describe, Secret};
use spoke_mapping::{discover_properties, Destination, Direction, LocalValue, Mapping};
use spoke_sandbox::SandboxConfig;

fn server_url() -> String {
    std::env::var("SPOKE_TEST_PG_URL").expect(
        "SPOKE_TEST_PG_URL is not set: run the PostgreSQL tests under tests/pg.sh (make test does)",
    )
}

/// Runs SQL as the superuser in `db` (on a thread of its own: the blocking client must not run
/// inside the test's runtime).
fn psql(db: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let url = server_url().rsplit_once('/').unwrap().0.to_owned() + "/" + db;
    let sql = sql.to_owned();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut out = Vec::new();
        for m in c.simple_query(&sql).unwrap() {
            if let postgres::SimpleQueryMessage::Row(r) = m {
                out.push((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect());
            }
        }
        out
    })
    .join()
    .unwrap()
}

/// A fresh database; returns its name and a URL for `user`.
fn database(user: &str) -> (String, String) {
    let name = format!("spoke_{:08x}", rand::rng().random::<u32>());
    psql("postgres", &format!("CREATE DATABASE {name} OWNER {user}"));
    let base = server_url();
    let (head, _) = base.rsplit_once('/').unwrap();
    let url = head.replacen("postgres@", &format!("{user}@"), 1) + "/" + &name;
    (name, url)
}

fn pg_mapping(url: &str) -> Mapping {
    let mut m = contacts_mapping();
    m.destination = Destination::Postgres {
        url: url.to_owned(),
        table: "crm.contacts".into(),
    };
    for f in &mut m.fields {
        if f.property.as_deref() == Some("firstname") {
            f.direction = Direction::Both;
        }
    }
    m
}

fn text(v: &LocalValue) -> Option<String> {
    match v {
        LocalValue::Null => None,
        LocalValue::Bool(b) => Some(b.to_string()),
        LocalValue::Integer(i) => Some(i.to_string()),
        LocalValue::Real(r) => Some(r.to_string()),
        LocalValue::Text(s) => Some(s.clone()),
    }
}

/// The table in PostgreSQL (live rows) equals the store table, which equals the portal.
async fn assert_mirrors_portal(env: &Env, m: &Mapping, db: &str) {
    let portal = env.portal(m).await;
    assert_same(&portal, &env.local(&spoke_engine::store_table(&m.destination)));
    let cols = mapped(m);
    let want: BTreeMap<String, Vec<Option<String>>> = store_rows(&env.dir.path().join("spoke.db"), m)
        .into_iter()
        .map(|(k, v)| (k, v.iter().map(text).collect()))
        .collect();
    let sql = format!(
        "SELECT {} FROM crm.contacts WHERE NOT _hs_archived",
        cols.iter().map(|c| format!("\"{c}\"::text")).collect::<Vec<_>>().join(", ")
    );
    let mut have = BTreeMap::new();
    for row in psql(db, &sql) {
        let key = row[0].clone().unwrap();
        assert!(have.insert(key.clone(), row).is_none(), "duplicate {key}");
    }
    assert_eq!(have.len(), portal.len());
    assert_eq!(have, want);
    // Spoke's columns: the HubSpot id is the record id (the key here), the timestamp HubSpot's.
    let bad = psql(
        db,
        "SELECT count(*) FROM crm.contacts WHERE NOT _hs_archived AND (_hs_id IS DISTINCT FROM hubspot_id OR _hs_updated_at IS NULL)",
    );
    assert_eq!(bad[0][0].as_deref(), Some("0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_follows_the_portal_and_edits_there_are_written_back() {
    let env = env(SandboxConfig {
        contacts: 400,
        rate_limits: false,
        ..SandboxConfig::default()
    })
    .await;
    let (db, url) = database("postgres");
    psql(&db, "CREATE SCHEMA crm");
    let m = pg_mapping(&url);

    let full = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(full.mode, "full");
    assert_mirrors_portal(&env, &m, &db).await;
    let types = psql(
        &db,
        "SELECT column_name || ':' || data_type FROM information_schema.columns WHERE table_schema = 'crm' AND table_name = 'contacts' AND column_name IN ('spoke_score', '_hs_archived', '_hs_updated_at') ORDER BY 1",
    );
    let types: Vec<String> = types.into_iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(
        types,
        ["_hs_archived:boolean", "_hs_updated_at:timestamp with time zone", "spoke_score:double precision"]
    );
    // The app's Data screen shows Spoke's copy of the table, read-only (edits go to PostgreSQL).
    let page = env.store.data_page(&m, spoke_engine::RowFilter::All, 50, 0, None).unwrap();
    assert_eq!(page.all as usize, env.portal(&m).await.len());
    assert_eq!(page.rows.len(), 50);
    assert!(page.copy_of.as_deref().unwrap().starts_with("PostgreSQL table crm.contacts at "), "{page:?}");
    assert!(page.columns.iter().all(|c| !c.editable && (c.property.is_none() || c.read_only_reason.is_some())));
    assert!(page.rows.iter().all(|r| r.state == spoke_engine::RowState::Synced && r.hubspot_id.is_some()));

    // Changes and archives arrive incrementally; archived rows are flagged, not removed.
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
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(inc.mode, "incremental");
    assert_eq!(inc.counts.archived, 3, "{inc:?}");
    assert_mirrors_portal(&env, &m, &db).await;
    let archived = psql(&db, "SELECT hubspot_id FROM crm.contacts WHERE _hs_archived ORDER BY 1");
    let mut want: Vec<String> = ids[10..13].to_vec();
    want.sort();
    assert_eq!(archived.into_iter().map(|r| r[0].clone().unwrap()).collect::<Vec<_>>(), want);
    // A hard delete (found by a full read's reconciliation) removes the row.
    env.admin(
        reqwest::Method::DELETE,
        &format!("objects/contacts/{}", ids[50]),
        serde_json::Value::Null,
    )
    .await;
    let full = env.sync(&m, SyncOptions { full: true, ..SyncOptions::default() }).await;
    assert_eq!(full.counts.deleted, 1, "{full:?}");
    assert_mirrors_portal(&env, &m, &db).await;
    let gone = psql(&db, &format!("SELECT count(*) FROM crm.contacts WHERE hubspot_id = '{}'", ids[50]));
    assert_eq!(gone[0][0].as_deref(), Some("0"));

    // A row edited in PostgreSQL goes to HubSpot once, and is not read back as a change.
    let cat = discover_properties(&env.client, "contacts", &env.dir.path().join("cat"), false)
        .await
        .unwrap();
    let id = &ids[60];
    psql(&db, &format!("UPDATE crm.contacts SET firstname = 'Edited in Postgres — ü' WHERE hubspot_id = '{id}'"));
    let write = |m: Mapping| {
        let engine = &env.engine;
        let cat = &cat;
        async move {
            engine
                .write_back(&m, cat, WriteOptions::default(), CancelToken::new(), &|_p: WriteProgress| {})
                .await
                .unwrap()
        }
    };
    let s = write(m.clone()).await;
    assert_eq!((s.pending, s.updated, s.rejected), (1, 1, 0), "{s:?}");
    let v: serde_json::Value = env
        .client
        .get(&format!("/crm/v3/objects/contacts/{id}"), &[("properties", "firstname")])
        .await
        .unwrap();
    assert_eq!(v["properties"]["firstname"], "Edited in Postgres — ü");
    let again = write(m.clone()).await;
    assert_eq!((again.pending, again.api_calls), (0, 0), "{again:?}");
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(inc.counts.updated, 0, "{inc:?}");
    assert_mirrors_portal(&env, &m, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_with_a_password_is_refused_and_the_keychain_supplies_it() {
    let env = env(SandboxConfig {
        contacts: 20,
        rate_limits: false,
        ..SandboxConfig::default()
    })
    .await;
    let (db, url) = database("spoke_pw");
    psql(&db, "CREATE SCHEMA crm AUTHORIZATION spoke_pw");
    // Passwords never go into the mapping file.
    let with_password = pg_mapping(&url.replacen("spoke_pw@", "spoke_pw:hunter2@", 1));
    let err = env
        .engine
        .sync(&with_password, SyncOptions::default(), CancelToken::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), "engine.destination");
    assert!(err.to_string().contains("contains a password"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let password = format!("pw-{:016x}", rand::rng().random::<u64>());
    psql("postgres", &format!("ALTER ROLE spoke_pw PASSWORD '{password}'"));
    let m = pg_mapping(&url);
    let keychain = spoke_connect::Keychain::default();
    let kc = keychain.clone();
    let u = url.clone();
    tokio::task::spawn_blocking(move || kc.delete_database_password(&u))
        .await
        .unwrap()
        .unwrap();
    // No password saved: the server refuses, and the error says where to put it.
    let err = env
        .engine
        .sync(&m, SyncOptions::default(), CancelToken::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), "engine.destination", "{err}");
    assert!(err.hint().unwrap().contains("keychain"));
    // Saved in the keychain: the sync logs in with it.
    let (kc, u, p) = (keychain.clone(), url.clone(), password.clone());
    tokio::task::spawn_blocking(move || kc.set_database_password(&u, &Secret::from(p.as_str())))
        .await
        .unwrap()
        .unwrap();
    let s = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(s.status, spoke_engine::RunStatus::Succeeded, "{s:?}");
    assert_mirrors_portal(&env, &m, &db).await;
    let mapping_file = serde_json::to_string(&m).unwrap();
    assert!(!mapping_file.contains(&password));
    let (kc, u) = (keychain, url);
    tokio::task::spawn_blocking(move || kc.delete_database_password(&u))
        .await
        .unwrap()
        .unwrap();
}

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
async fn kill_9_while_filling_postgres_replays_harmlessly() {
    let env = env(SandboxConfig {
        contacts: 3000,
        ..SandboxConfig::default()
    })
    .await;
    let (db, url) = database("postgres");
    psql(&db, "CREATE SCHEMA crm");
    let m = pg_mapping(&url);
    let path = env.dir.path().join("mapping.json");
    m.write_file(&path).unwrap();

    let (killed, last) = tokio::task::block_in_place(|| run_with_kills(&env, &path, 600, 6));
    assert!(killed >= 3, "only {killed} kills landed");
    assert_eq!(last.mode, "full");
    assert_mirrors_portal(&env, &m, &db).await;

    let ids: Vec<String> = env.portal(&m).await.keys().cloned().collect();
    for id in ids.iter().step_by(10) {
        env.update("contacts", id, serde_json::json!({ "firstname": "Kill9" }))
            .await;
    }
    let (_, last) = tokio::task::block_in_place(|| run_with_kills(&env, &path, 300, 3));
    assert_eq!(last.mode, "incremental");
    assert_mirrors_portal(&env, &m, &db).await;
}

/// A role of this test's own that must log in with a password (a member of
/// `spoke_password_login`, which tests/pg.sh makes log in with scram-sha-256), and a database it
/// owns. Returns (role, password, database, URL without the password).
fn password_role() -> (String, String, String, String) {
    let role = format!("spoke_chk_{:08x}", rand::rng().random::<u32>());
    let password = format!("pw-{:016x}", rand::rng().random::<u64>());
    psql(
        "postgres",
        &format!("CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE spoke_password_login"),
    );
    let (db, url) = database(&role);
    (role, password, db, url)
}

/// The destination picker's Test: server version, the table and its columns, and every
/// problem as a code naming the field to fix.
#[test]
fn the_picker_test_reports_the_table_and_names_the_field_of_each_problem() {
    use spoke_engine::{check_postgres, postgres_rows};
    let (role, password, db, url) = password_role();
    let pw = || Some(Secret::from(password.as_str()));

    // A table that does not exist yet: Spoke will create it (the role owns the database).
    let check = check_postgres(&url, pw(), "contacts").unwrap();
    assert!(!check.exists, "{check:?}");
    assert!(check.columns.is_empty());
    assert_eq!(check.table, "public.contacts");
    assert_eq!(check.user, role);
    assert_eq!(check.database, db);
    assert!(check.password_used);
    let version = psql("postgres", "SHOW server_version")[0][0].clone().unwrap();
    assert_eq!(check.server_version, version);

    // An existing table of the role: its columns and types (Spoke's _hs_ columns left out).
    psql(
        &db,
        &format!(
            "CREATE SCHEMA crm AUTHORIZATION {role}; \
             CREATE TABLE crm.people (id serial PRIMARY KEY, email varchar(200) NOT NULL, \
               score integer DEFAULT 0, vip boolean, born date, seen timestamptz, extra jsonb, \
               _hs_id text); \
             ALTER TABLE crm.people OWNER TO {role}; \
             INSERT INTO crm.people (email, score, vip, born, seen) \
               VALUES ('ada@example.com', 7, true, '1815-12-10', '2024-01-02T03:04:05Z')"
        ),
    );
    let check = check_postgres(&url, pw(), "crm.people").unwrap();
    assert!(check.exists);
    let cols: Vec<(String, spoke_mapping::LocalType, String)> = check
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.local_type, c.declared_type.clone()))
        .collect();
    use spoke_mapping::LocalType as T;
    assert_eq!(
        cols,
        vec![
            ("id".into(), T::Integer, "integer".into()),
            ("email".into(), T::Text, "character varying(200)".into()),
            ("score".into(), T::Integer, "integer".into()),
            ("vip".into(), T::Boolean, "boolean".into()),
            ("born".into(), T::Date, "date".into()),
            ("seen".into(), T::Datetime, "timestamp with time zone".into()),
            ("extra".into(), T::Json, "jsonb".into()),
        ]
    );
    assert!(check.columns[0].primary_key && check.columns[1].not_null);
    assert_eq!(check.columns[2].default_value.as_deref(), Some("0"));
    // Its rows, as the write-back preview reads them.
    let rows = postgres_rows(&url, pw(), "crm.people", 5).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["email"], LocalValue::Text("ada@example.com".into()));
    assert_eq!(rows[0]["score"], LocalValue::Integer(7));
    assert_eq!(rows[0]["vip"], LocalValue::Bool(true));
    assert_eq!(rows[0]["seen"], LocalValue::Text("2024-01-02T03:04:05.000Z".into()));
    assert!(!rows[0].contains_key("_hs_id"));
    assert!(postgres_rows(&url, pw(), "crm.nothing", 5).unwrap().is_empty());

    let problem = |r: spoke_engine::Result<spoke_engine::PgCheck>| {
        let e = r.unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains(&password), "{msg}");
        assert!(e.hint().is_some_and(|h| !h.is_empty()), "{e:?}");
        (e.code(), msg)
    };
    // Wrong password, and none at all.
    let (code, msg) = problem(check_postgres(&url, Some(Secret::from("wrong")), "contacts"));
    assert_eq!(code, "engine.pg_password");
    assert!(msg.starts_with("Password: ") && msg.contains(&role), "{msg}");
    let (code, msg) = problem(check_postgres(&url, None, "contacts"));
    assert_eq!(code, "engine.pg_password");
    assert!(msg.contains("none is saved"), "{msg}");
    // A password in the URL is refused before anything is sent.
    let with_pw = url.replacen(&format!("{role}@"), &format!("{role}:{password}@"), 1);
    let e = check_postgres(&with_pw, None, "contacts").unwrap_err();
    assert_eq!(e.code(), "engine.pg_url");
    assert!(e.to_string().starts_with("Connection URL: ") && e.to_string().contains("contains a password"), "{e}");
    // No such database, no such user, nobody listening.
    let (head, _) = url.rsplit_once('/').unwrap();
    let (code, msg) = problem(check_postgres(&format!("{head}/no_such_db"), pw(), "contacts"));
    assert_eq!(code, "engine.pg_no_database");
    assert!(msg.starts_with("Connection URL (database): ") && msg.contains("no_such_db"), "{msg}");
    let nobody = head.replacen(&format!("{role}@"), "nobody_here@", 1) + "/" + &db;
    let (code, msg) = problem(check_postgres(&nobody, None, "contacts"));
    assert_eq!(code, "engine.pg_no_user", "{msg}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, msg) = problem(check_postgres(&format!("postgresql://{role}@127.0.0.1:{port}/{db}"), pw(), "contacts"));
    assert_eq!(code, "engine.pg_unreachable");
    assert!(msg.starts_with("Connection URL (host and port): ") && msg.contains(&port.to_string()), "{msg}");
    // A schema that does not exist, a table of someone else, no right to create tables.
    let (code, msg) = problem(check_postgres(&url, pw(), "sales.people"));
    assert_eq!(code, "engine.pg_table");
    assert!(msg.starts_with("Table: ") && msg.contains("sales"), "{msg}");
    let (code, _) = problem(check_postgres(&url, pw(), "a.b.c"));
    assert_eq!(code, "engine.pg_table");
    psql(&db, "CREATE SCHEMA locked; CREATE TABLE locked.theirs (email text)");
    let (code, msg) = problem(check_postgres(&url, pw(), "locked.theirs"));
    assert_eq!(code, "engine.pg_permission");
    assert!(msg.starts_with("Table: "), "{msg}");
    let (code, msg) = problem(check_postgres(&url, pw(), "locked.mine"));
    assert_eq!(code, "engine.pg_permission");
    assert!(msg.contains("may not create"), "{msg}");
    psql(&db, &format!("GRANT USAGE ON SCHEMA locked TO {role}; GRANT SELECT, INSERT, UPDATE, DELETE ON locked.theirs TO {role}"));
    let (code, msg) = problem(check_postgres(&url, pw(), "locked.theirs"));
    assert_eq!(code, "engine.pg_permission");
    assert!(msg.contains("does not own"), "{msg}");
}
