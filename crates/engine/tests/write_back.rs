//! Write-back against the demo portal: local inserts and edits (made by another SQLite
//! connection, as any program would) are sent to HubSpot; refused rows become dead letters.

mod common;

use common::*;
use rusqlite::params;
use serde_json::Value;
use spoke_engine::{
    CancelToken, RowOutcome, RunStatus, SyncOptions, WriteOptions, WriteProgress, WriteSummary,
};
use spoke_mapping::{
    discover_properties, Destination, Mapping, MatchKey,
    ObjectCatalog,
};
use spoke_sandbox::SandboxConfig;

/// Contacts into `people`, matched by email, written both ways.
fn people() -> Mapping {
    let mut m = Mapping::new(
        "People",
        "contacts",
        Destination::Spoke {
            table: "people".into(),
        },
        MatchKey::Property {
            property: "email".into(),
            column: "email".into(),
        },
    );
    m.fields = vec![
        both("email"),
        both("firstname"),
        both("lastname"),
        both("lifecyclestage"),
    ];
    m
}

async fn small() -> Env {
    env(SandboxConfig {
        contacts: 30,
        rate_limits: false,
        ..SandboxConfig::default()
    })
    .await
}

async fn catalog(env: &Env) -> ObjectCatalog {
    discover_properties(&env.client, "contacts", &env.dir.path().join("catalog"), false)
        .await
        .unwrap()
}

async fn write(env: &Env, m: &Mapping, cat: &ObjectCatalog) -> WriteSummary {
    env.engine
        .write_back(m, cat, WriteOptions::default(), CancelToken::new(), &|_p: WriteProgress| {})
        .await
        .unwrap()
}

fn db(env: &Env) -> rusqlite::Connection {
    rusqlite_open(&env.dir.path().join("spoke.db"))
}

fn insert(env: &Env, email: &str, first: &str, stage: &str) {
    db(env)
        .execute(
            "INSERT INTO people (email, firstname, lastname, lifecyclestage) VALUES (?1, ?2, 'Local', ?3)",
            params![email, first, stage],
        )
        .unwrap();
}

/// The portal's contact by email: (id, firstname, lastname, lifecyclestage).
async fn hub(env: &Env, email: &str) -> Option<(String, String, String, String)> {
    let path = format!("/crm/v3/objects/contacts/{email}");
    let r: Result<Value, _> = env
        .client
        .get(
            &path,
            &[("idProperty", "email"), ("properties", "firstname,lastname,lifecyclestage,email")],
        )
        .await;
    let v = r.ok()?;
    let p = &v["properties"];
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
    Some((v["id"].as_str()?.to_owned(), s("firstname"), s("lastname"), s("lifecyclestage")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_and_edits_are_written_read_back_identically_and_not_echoed() {
    let env = small().await;
    let m = people();
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;
    let before = env.count("SELECT count(*) FROM people");

    // Nothing changed locally: nothing to write.
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.api_calls), (0, 0), "{s:?}");

    insert(&env, "Ada.Lovelace@Example.com", "Ada", "lead");
    insert(&env, "grace@example.com", "Grace", "Customer");
    let (edited_id, edited_email): (String, String) = db(&env)
        .query_row("SELECT _hs_id, email FROM people WHERE _hs_id IS NOT NULL ORDER BY rowid LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    db(&env)
        .execute("UPDATE people SET firstname = 'Edited' WHERE _hs_id = ?1", [&edited_id])
        .unwrap();

    let s = write(&env, &m, &cat).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:?}");
    assert_eq!((s.pending, s.created, s.updated, s.rejected), (3, 2, 1, 0), "{s:?}");
    assert!(s.results.iter().all(|r| r.hubspot_id.is_some() && r.outcome != RowOutcome::Rejected));

    // HubSpot has what was written (email lower-cased as the key; label → option value).
    let ada = hub(&env, "ada.lovelace@example.com").await.expect("ada created");
    assert_eq!((ada.1.as_str(), ada.2.as_str(), ada.3.as_str()), ("Ada", "Local", "lead"));
    let grace = hub(&env, "grace@example.com").await.expect("grace created");
    assert_eq!(grace.3, "customer");
    let edited = hub(&env, &edited_email).await.unwrap();
    assert_eq!((edited.0.as_str(), edited.1.as_str()), (edited_id.as_str(), "Edited"));
    let local_ada: String = db(&env)
        .query_row("SELECT _hs_id FROM people WHERE firstname = 'Ada'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(local_ada, ada.0);

    // What the write recorded is exactly what a read would store (ids, timestamps, raw).
    assert_same(&env.portal(&m).await, &env.local("people"));
    assert_eq!(env.count("SELECT count(*) FROM people"), before + 2);

    // Echo suppression: reads see Spoke's own writes as unchanged, the next write sends nothing.
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!((inc.counts.created, inc.counts.updated), (0, 0), "{inc:?}");
    let full = env.sync(&m, SyncOptions { full: true, ..SyncOptions::default() }).await;
    assert_eq!((full.counts.created, full.counts.updated), (0, 0), "{full:?}");
    assert_eq!(full.counts.unchanged as i64, before + 2);
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.api_calls), (0, 0), "{s:?}");

    // A change made in HubSpot and read back is not a local change either.
    env.update("contacts", &edited_id, serde_json::json!({ "lastname": "FromHubSpot" })).await;
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(inc.counts.updated, 1, "{inc:?}");
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.api_calls), (0, 0), "{s:?}");

    // Runs are recorded with mode `write`.
    let runs = env.store.runs(20).unwrap();
    let w: Vec<_> = runs.iter().filter(|r| r.mode == "write").collect();
    assert_eq!(w.len(), 4);
    assert_eq!(w.iter().find(|r| r.id == runs.iter().filter(|r| r.mode == "write").nth(2).unwrap().id).unwrap().counts.created, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rows_become_dead_letters_and_the_rest_is_written() {
    let env = small().await;
    let m = people();
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;

    insert(&env, "one@example.com", "One", "lead");
    insert(&env, "not-an-email", "Bad", "lead");
    insert(&env, "two@example.com", "Two", "lead");
    insert(&env, "three@example.com", "Three", "no-such-stage");

    let s = write(&env, &m, &cat).await;
    assert_eq!(s.status, RunStatus::SucceededWithErrors, "{s:?}");
    assert_eq!((s.pending, s.created, s.rejected), (4, 2, 2), "{s:?}");
    assert!(hub(&env, "one@example.com").await.is_some());
    assert!(hub(&env, "two@example.com").await.is_some());
    assert!(hub(&env, "three@example.com").await.is_none());

    let dead = env.store.dead_letters(Some("People")).unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    let bad = dead.iter().find(|d| d.row_key == "not-an-email").unwrap();
    assert_eq!(bad.category, "VALIDATION_ERROR");
    assert_eq!(bad.code, "validation_error");
    assert!(bad.message.contains("INVALID_EMAIL"), "{bad:?}");
    assert!(bad.context.as_deref().unwrap().contains("not-an-email"));
    assert!(!bad.fix.is_empty() && !bad.cause.is_empty());
    assert_eq!(bad.attempts, 1);
    let stage = dead.iter().find(|d| d.row_key == "three@example.com").unwrap();
    assert_eq!(stage.category, "WRITE_REFUSED");
    assert_eq!(stage.code, "mapping.write_refused");
    assert!(stage.message.contains("no-such-stage"), "{stage:?}");
    assert!(stage.fix.contains("options"), "{stage:?}");
    // The run's errors name them too.
    assert_eq!(env.store.run_errors(s.run_id).unwrap().len(), 2);

    // Not due yet and unchanged: waits for its backoff.
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.deferred, s.api_calls), (0, 2, 0), "{s:?}");

    // Resent by hand without a fix: refused again, attempts count up, never dropped.
    let s = env
        .engine
        .resend(&m, &cat, Some("NOT-AN-EMAIL"), WriteOptions::default(), CancelToken::new(), &|_| {})
        .await
        .unwrap();
    assert_eq!((s.pending, s.rejected, s.deferred), (1, 1, 1), "{s:?}");
    let dead = env.store.dead_letters(None).unwrap();
    assert_eq!(dead.iter().find(|d| d.row_key == "not-an-email").unwrap().attempts, 2);
    assert!(matches!(
        env.store.mark_for_resend("People", Some("nobody@example.com")),
        Err(spoke_engine::Error::NoSuchDeadLetter { .. })
    ));

    // Fixed rows: the edited one is retried at once (its values changed) and clears.
    db(&env)
        .execute("UPDATE people SET email = 'fixed@example.com' WHERE email = 'not-an-email'", [])
        .unwrap();
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.created, s.rejected, s.deferred), (1, 1, 0, 1), "{s:?}");
    assert_eq!(hub(&env, "fixed@example.com").await.unwrap().1, "Bad");
    // Fixed and resent by hand: clears the last one.
    db(&env)
        .execute("UPDATE people SET lifecyclestage = 'Lead' WHERE email = 'three@example.com'", [])
        .unwrap();
    let s = env
        .engine
        .resend(&m, &cat, None, WriteOptions::default(), CancelToken::new(), &|_| {})
        .await
        .unwrap();
    assert_eq!((s.created, s.rejected), (1, 0), "{s:?}");
    assert!(env.store.dead_letters(None).unwrap().is_empty());
    assert_eq!(hub(&env, "three@example.com").await.unwrap().3, "lead");
    assert_same(&env.portal(&m).await, &env.local("people"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_retry_on_their_own_after_the_backoff() {
    let env = small().await;
    let m = people();
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;
    insert(&env, "not-an-email", "Bad", "lead");
    let quick = WriteOptions {
        retry_base_ms: 300,
        retry_max_ms: 600,
        ..WriteOptions::default()
    };
    let go = |o: WriteOptions| {
        let (env, m, cat) = (&env, &m, &cat);
        async move { env.engine.write_back(m, cat, o, CancelToken::new(), &|_| {}).await.unwrap() }
    };
    let s = go(quick.clone()).await;
    assert_eq!(s.rejected, 1);
    let s = go(quick.clone()).await;
    assert_eq!((s.pending, s.deferred), (0, 1));
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    let s = go(quick.clone()).await;
    assert_eq!((s.pending, s.rejected), (1, 1), "{s:?}");
    let d = &env.store.dead_letters(None).unwrap()[0];
    assert_eq!(d.attempts, 2);
    // Second backoff is twice the first.
    let s = go(quick.clone()).await;
    assert_eq!(s.deferred, 1);
    tokio::time::sleep(std::time::Duration::from_millis(650)).await;
    let s = go(quick).await;
    assert_eq!(s.rejected, 1);
    assert_eq!(env.store.dead_letters(None).unwrap()[0].attempts, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_row_with_another_rows_key_is_refused_not_merged() {
    let env = small().await;
    let m = people();
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;
    let synced: String = db(&env)
        .query_row("SELECT email FROM people WHERE email IS NOT NULL ORDER BY rowid LIMIT 1", [], |r| r.get(0))
        .unwrap();
    insert(&env, "Twin@Example.com", "First", "lead");
    insert(&env, "twin@example.com ", "Second", "lead");
    insert(&env, "solo@example.com", "Solo", "lead");
    insert(&env, &synced.to_uppercase(), "Copy", "lead");
    env.reset_requests().await;
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.created, s.rejected), (4, 2, 2), "{s:?}");
    // One upsert batch (no read-back: its answer carries the records).
    assert_eq!(s.api_calls, 1, "{s:?}");
    assert_eq!(env.requests().await["total"].as_u64().unwrap(), 1);
    assert_eq!(hub(&env, "twin@example.com").await.unwrap().1, "First");
    assert_ne!(hub(&env, &synced).await.unwrap().1, "Copy");
    let dead = env.store.dead_letters(None).unwrap();
    let mut got: Vec<(&str, &str, &str)> = dead
        .iter()
        .map(|d| (d.row_key.as_str(), d.category.as_str(), d.code.as_str()))
        .collect();
    got.sort();
    let copy_key = synced.to_lowercase();
    let mut want = vec![
        ("twin@example.com", "DUPLICATE_KEY", "engine.duplicate_key"),
        (copy_key.as_str(), "DUPLICATE_KEY", "engine.duplicate_key"),
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(dead.iter().all(|d| d.fix.contains("resend")), "{dead:?}");
    // Both local rows stay; the portal has one record per email.
    assert_eq!(env.count("SELECT count(*) FROM people WHERE lower(trim(email)) = 'twin@example.com'"), 2);
    // Given its own email, the second twin goes.
    db(&env).execute("UPDATE people SET email = 'twin2@example.com' WHERE firstname = 'Second'", []).unwrap();
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.created, s.rejected), (1, 0), "{s:?}");
    assert_eq!(hub(&env, "twin2@example.com").await.unwrap().1, "Second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_wide_conflict_is_bisected_down_to_the_offending_row() {
    let env = small().await;
    let m = people();
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;
    let rows: Vec<(String, String)> = {
        let c = db(&env);
        let mut st = c.prepare("SELECT _hs_id, email FROM people WHERE email IS NOT NULL ORDER BY rowid LIMIT 9").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(rows.len(), 9);
    for (id, _) in &rows[..8] {
        db(&env).execute("UPDATE people SET firstname = 'Bisect' WHERE _hs_id = ?1", [id]).unwrap();
    }
    // Row 3 takes the email of row 9: HubSpot refuses the whole batch with 409.
    db(&env)
        .execute("UPDATE people SET email = ?2 WHERE _hs_id = ?1", params![rows[2].0, rows[8].1])
        .unwrap();
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.updated, s.rejected), (8, 7, 1), "{s:?}");
    // 8 → 4+4 → 2+2 → 1+1: three splits on the offending path.
    assert_eq!(s.bisections, 3, "{s:?}");
    let dead = env.store.dead_letters(None).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].hubspot_id.as_deref(), Some(rows[2].0.as_str()));
    assert_eq!(dead[0].code, "duplicate_record", "{dead:?}");
    assert!(!dead[0].fix.is_empty());
    for (i, (id, email)) in rows[..8].iter().enumerate() {
        let h = hub(&env, email).await.unwrap();
        assert_eq!(&h.0, id);
        assert_eq!(h.1 == "Bisect", i != 2, "row {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_properties_are_never_sent() {
    let env = small().await;
    let mut m = people();
    m.name = "People with score".into();
    m.fields.push(both("spoke_days_as_customer"));
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;
    let (id, email): (String, String) = db(&env)
        .query_row("SELECT _hs_id, email FROM people WHERE email IS NOT NULL ORDER BY rowid LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let before = hub(&env, &email).await.unwrap();
    db(&env)
        .execute("UPDATE people SET firstname = 'Nope', spoke_days_as_customer = '999' WHERE _hs_id = ?1", [&id])
        .unwrap();
    env.reset_requests().await;
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.rejected, s.api_calls), (1, 1, 0), "{s:?}");
    assert_eq!(env.requests().await["total"].as_u64().unwrap(), 0);
    let d = &env.store.dead_letters(Some("People with score")).unwrap()[0];
    assert_eq!(d.code, "mapping.write_refused");
    assert!(d.message.contains("spoke_days_as_customer"), "{d:?}");
    assert_eq!(hub(&env, &email).await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_inserts_survive_reads_before_they_are_pushed() {
    let env = small().await;
    let m = people();
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;
    insert(&env, "waiting@example.com", "Waiting", "lead");
    // A full read (with its reconcile of records gone from HubSpot) and an incremental one
    // leave the row without a HubSpot id alone.
    let full = env.sync(&m, SyncOptions { full: true, ..SyncOptions::default() }).await;
    assert_eq!((full.counts.deleted, full.counts.created), (0, 0), "{full:?}");
    env.sync(&m, SyncOptions::default()).await;
    assert_eq!(env.count("SELECT count(*) FROM people WHERE _hs_id IS NULL"), 1);
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.created), (1, 1), "{s:?}");
    assert_same(&env.portal(&m).await, &env.local("people"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matched_by_record_id_new_rows_are_created_and_get_their_id() {
    let env = small().await;
    let mut m = people();
    m.name = "People by id".into();
    m.match_key = MatchKey::RecordId {
        column: "hubspot_id".into(),
    };
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;
    insert(&env, "byid@example.com", "ById", "lead");
    insert(&env, "byid2@example.com", "ById2", "lead");
    for i in 3..=30 {
        insert(&env, &format!("byid{i}@example.com"), &format!("ById{i}"), "lead");
    }
    // HubSpot does not promise results in input order: each result is matched by the
    // objectWriteTraceId it echoes, never by position.
    env.admin(reqwest::Method::PUT, "faults", serde_json::json!({ "batchShuffle": true }))
        .await;
    let s = write(&env, &m, &cat).await;
    env.admin(reqwest::Method::DELETE, "faults", serde_json::Value::Null)
        .await;
    assert_eq!((s.pending, s.created, s.rejected), (30, 30, 0), "{s:?}");
    for i in 2..=30 {
        let email = format!("byid{i}@example.com");
        let local: String = db(&env)
            .query_row("SELECT _hs_id FROM people WHERE email = ?1", [&email], |r| r.get(0))
            .unwrap();
        assert_eq!(hub(&env, &email).await.unwrap().0, local, "{email}");
    }
    let (hs_id, key): (String, String) = db(&env)
        .query_row("SELECT _hs_id, hubspot_id FROM people WHERE email = 'byid@example.com'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(hs_id, key);
    assert_eq!(hub(&env, "byid@example.com").await.unwrap().0, hs_id);
    assert_eq!(hub(&env, "byid2@example.com").await.unwrap().1, "ById2");
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.api_calls), (0, 0), "{s:?}");
    let full = env.sync(&m, SyncOptions { full: true, ..SyncOptions::default() }).await;
    assert_eq!((full.counts.created, full.counts.updated), (0, 0), "{full:?}");
    assert_same(&env.portal(&m).await, &env.local("people"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_fails_the_run_and_keeps_the_changes_for_the_next_one() {
    let env = small().await;
    let m = people();
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;
    insert(&env, "outage@example.com", "Outage", "lead");
    env.admin(
        reqwest::Method::PUT,
        "faults",
        serde_json::json!({ "errorRate": 1.0, "pathPrefix": "/crm/v3/objects/contacts/batch" }),
    )
    .await;
    let err = env
        .engine
        .write_back(&m, &cat, WriteOptions::default(), CancelToken::new(), &|_| {})
        .await
        .unwrap_err();
    env.admin(reqwest::Method::DELETE, "faults", serde_json::Value::Null)
        .await;
    assert!(err.to_string().contains("server error"), "{err}");
    // Not the row's fault: no dead letter, the run is recorded as failed.
    assert!(env.store.dead_letters(None).unwrap().is_empty());
    let last = &env.store.runs(1).unwrap()[0];
    assert_eq!((last.mode.as_str(), last.status), ("write", RunStatus::Failed));
    assert!(last.problem.is_some());
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.created), (1, 1), "{s:?}");
    assert_eq!(hub(&env, "outage@example.com").await.unwrap().1, "Outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_reported_per_batch_and_cancel_stops_between_batches() {
    let env = small().await;
    let m = people();
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;
    for i in 0..5 {
        insert(&env, &format!("batch{i}@example.com"), "Batch", "lead");
    }
    // One batch in flight at a time, so that cancel stops right after the first.
    let small_batches = WriteOptions {
        batch_size: 2,
        concurrency: 1,
        ..WriteOptions::default()
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let cancel = CancelToken::new();
    let (s2, c2) = (seen.clone(), cancel.clone());
    let s = env
        .engine
        .write_back(&m, &cat, small_batches.clone(), cancel, &move |p: WriteProgress| {
            s2.lock().unwrap().push(p.written);
            c2.cancel();
        })
        .await
        .unwrap();
    assert_eq!(s.status, RunStatus::Cancelled, "{s:?}");
    assert_eq!((s.pending, s.created), (5, 2), "{s:?}");
    assert_eq!(*seen.lock().unwrap(), vec![2]);
    // The rest goes on the next run, in batches of two.
    seen.lock().unwrap().clear();
    let s3 = seen.clone();
    let s = env
        .engine
        .write_back(&m, &cat, small_batches, CancelToken::new(), &move |p: WriteProgress| {
            s3.lock().unwrap().push(p.written)
        })
        .await
        .unwrap();
    assert_eq!((s.pending, s.created, s.status), (3, 3, RunStatus::Succeeded), "{s:?}");
    assert_eq!(*seen.lock().unwrap(), vec![2, 3]);
}

/// 10,000 new rows, 5 % of them bad in four ways: exactly the good ones reach HubSpot, exactly
/// the bad ones are dead letters with their reason; fixed and resent, they go too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_upserts_with_five_percent_bad_rows() {
    let env = small().await;
    let mut m = people();
    m.name = "Bulk".into();
    m.fields.push(both("spoke_days_as_customer"));
    let cat = catalog(&env).await;
    env.sync(&m, SyncOptions::default()).await;
    let before = env.portal(&m).await.len();
    let kind = |i: usize| match i % 80 {
        0 => "invalid",
        20 => "duplicate",
        40 => "read_only",
        60 => "enum",
        _ => "good",
    };
    let email = |i: usize| match kind(i) {
        "invalid" => format!("not-an-email-{i}"),
        "duplicate" => format!("user{}@bulk.example", i - 1),
        _ => format!("user{i}@bulk.example"),
    };
    {
        let mut c = db(&env);
        let tx = c.transaction().unwrap();
        for i in 0..10_000 {
            let k = kind(i);
            tx.execute(
                "INSERT INTO people (email, firstname, lastname, lifecyclestage, spoke_days_as_customer) VALUES (?1, ?2, 'Bulk', ?3, ?4)",
                params![
                    email(i),
                    format!("Row{i}"),
                    if k == "enum" { "no-such-stage" } else { "lead" },
                    (k == "read_only").then_some("7"),
                ],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    env.reset_requests().await;
    let s = write(&env, &m, &cat).await;
    assert_eq!(
        (s.pending, s.created, s.updated, s.rejected),
        (10_000, 9_500, 0, 500),
        "{}",
        s.message
    );
    // 9,625 rows sent (the good ones and the invalid emails, which only HubSpot can judge) in
    // 97 upsert batches and no read-back; the rows Spoke refused were never sent.
    let ops = env.requests().await["byOperation"].clone();
    assert_eq!(ops["POST /crm/v3/objects/{object_type}/batch/upsert"], 97, "{ops}");
    assert!(ops["POST /crm/v3/objects/{object_type}/batch/read"].is_null(), "{ops}");
    assert_eq!(s.api_calls, 97, "{s:?}");

    // HubSpot has exactly the good rows.
    let portal = env.portal(&m).await;
    let bulk: std::collections::BTreeSet<String> = portal
        .values()
        .filter_map(|(_, raw)| {
            let v: Value = serde_json::from_str(raw).unwrap();
            v["email"].as_str().filter(|e| e.contains("bulk.example")).map(str::to_owned)
        })
        .collect();
    let good: std::collections::BTreeSet<String> =
        (0..10_000).filter(|i| kind(*i) == "good").map(email).collect();
    assert_eq!(bulk, good);
    assert_eq!(portal.len(), before + 9_500);

    // Exactly the bad rows are dead letters, each with its reason.
    let dead = env.store.dead_letters(Some("Bulk")).unwrap();
    assert_eq!(dead.len(), 500);
    let mut by_kind: std::collections::BTreeMap<&str, usize> = Default::default();
    for d in &dead {
        let i: usize = d.row_key.trim_start_matches("not-an-email-").trim_start_matches("user").trim_end_matches("@bulk.example").parse().unwrap();
        let row: usize = db(&env)
            .query_row("SELECT CAST(substr(firstname, 4) AS INTEGER) FROM people WHERE rowid = ?1", [d.row_id], |r| r.get::<_, i64>(0))
            .unwrap() as usize;
        let k = kind(row);
        match k {
            "invalid" => {
                assert_eq!((d.category.as_str(), d.code.as_str()), ("VALIDATION_ERROR", "validation_error"), "{d:?}");
                assert!(d.message.contains("INVALID_EMAIL"), "{d:?}");
                assert_eq!(i, row);
            }
            "duplicate" => {
                assert_eq!((d.category.as_str(), d.code.as_str()), ("DUPLICATE_KEY", "engine.duplicate_key"), "{d:?}");
                assert_eq!(i, row - 1);
            }
            "read_only" => {
                assert_eq!((d.category.as_str(), d.code.as_str()), ("WRITE_REFUSED", "mapping.write_refused"), "{d:?}");
                assert!(d.message.contains("spoke_days_as_customer"), "{d:?}");
            }
            "enum" => {
                assert_eq!((d.category.as_str(), d.code.as_str()), ("WRITE_REFUSED", "mapping.write_refused"), "{d:?}");
                assert!(d.message.contains("no-such-stage"), "{d:?}");
            }
            other => panic!("a good row {row} is a dead letter ({other}): {d:?}"),
        }
        assert!(!d.fix.is_empty() && !d.cause.is_empty(), "{d:?}");
        *by_kind.entry(k).or_default() += 1;
    }
    assert_eq!(
        by_kind.into_iter().collect::<Vec<_>>(),
        [("duplicate", 125), ("enum", 125), ("invalid", 125), ("read_only", 125)]
    );

    // Fixed and resent: all of them go, nothing is left.
    {
        let c = db(&env);
        c.execute("UPDATE people SET email = 'fixed' || substr(firstname, 4) || '@bulk.example' WHERE email LIKE 'not-an-email-%'", []).unwrap();
        c.execute("UPDATE people SET spoke_days_as_customer = NULL WHERE spoke_days_as_customer = '7' AND email LIKE '%@bulk.example'", []).unwrap();
        c.execute("UPDATE people SET lifecyclestage = 'lead' WHERE lifecyclestage = 'no-such-stage'", []).unwrap();
        c.execute("UPDATE people SET email = 'dup' || substr(firstname, 4) || '@bulk.example' WHERE rowid IN (SELECT rid FROM _spoke_dead_letters WHERE category = 'DUPLICATE_KEY')", []).unwrap();
    }
    let s = env
        .engine
        .resend(&m, &cat, None, WriteOptions::default(), CancelToken::new(), &|_| {})
        .await
        .unwrap();
    assert_eq!((s.pending, s.created, s.rejected), (500, 500, 0), "{}", s.message);
    assert!(env.store.dead_letters(None).unwrap().is_empty());
    assert_eq!(env.portal(&m).await.len(), before + 10_000);
    assert_same(&env.portal(&m).await, &env.local("people"));
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.api_calls), (0, 0), "{s:?}");
}
