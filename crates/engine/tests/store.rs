//! Mapping changes are migrations, refusals name their fix.

mod common;

use common::*;
use spoke_engine::{CancelToken, Error, SyncOptions};
use spoke_hubspot::Describe;
use spoke_mapping::{Destination, Direction, FieldMapping, LocalType};
use spoke_sandbox::SandboxConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_mapped_property_adds_a_column_and_rereads_without_dropping_anything() {
    let env = env(SandboxConfig {
        contacts: 400,
        ..SandboxConfig::default()
    })
    .await;
    let mut m = contacts_mapping();
    env.sync(&m, SyncOptions::default()).await;
    let before = env.count("SELECT count(*) FROM contacts");
    // A column only the admin's tools write survives the migration.
    {
        let conn = rusqlite_open(&env.dir.path().join("spoke.db"));
        conn.execute_batch(
            "ALTER TABLE contacts ADD COLUMN my_note TEXT; UPDATE contacts SET my_note = 'kept'",
        )
        .unwrap();
    }
    m.fields.push(FieldMapping {
        property: Some("jobtitle".into()),
        column: Some("job_title".into()),
        direction: Direction::ToLocal,
        property_type: None,
        column_type: Some(LocalType::Text),
        inbound: vec![],
        outbound: vec![],
        required: false,
    });
    let run = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(run.mode, "full", "a changed mapping is read again in full");
    assert_eq!(run.counts.created, 0);
    assert_eq!(run.counts.updated as i64, before);
    assert_eq!(env.count("SELECT count(*) FROM contacts"), before);
    assert_eq!(
        env.count("SELECT count(*) FROM contacts WHERE my_note = 'kept'"),
        before
    );
    assert!(env.count("SELECT count(*) FROM contacts WHERE job_title IS NOT NULL") > before / 2);
    assert_eq!(
        env.count("SELECT count(*) FROM _spoke_migrations WHERE statement LIKE 'ALTER TABLE \"contacts\" ADD COLUMN \"job_title\"%'"),
        1
    );
    assert_same(&env.portal(&m).await, &env.local("contacts"));
    // Unchanged mapping: back to incremental.
    assert_eq!(
        env.sync(&m, SyncOptions::default()).await.mode,
        "incremental"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_codes_and_hints() {
    let env = env(SandboxConfig {
        contacts: 50,
        ..SandboxConfig::default()
    })
    .await;
    let mut m = contacts_mapping();
    // The admin's own database must exist: Spoke does not create it.
    m.destination = Destination::Sqlite {
        path: env.dir.path().join("theirs.db").display().to_string(),
        table: "customers".into(),
    };
    let err = env
        .engine
        .sync(&m, SyncOptions::default(), CancelToken::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Destination { .. }), "{err}");
    assert_eq!(err.code(), "engine.destination");
    assert!(err.hint().is_some());
    assert!(!env.dir.path().join("theirs.db").exists());
    // An existing table without the mapped columns: refused with the columns named, untouched.
    let theirs = env.dir.path().join("theirs.db");
    rusqlite::Connection::open(&theirs)
        .unwrap()
        .execute_batch("CREATE TABLE customers (hubspot_id TEXT, email TEXT)")
        .unwrap();
    let err = env
        .engine
        .sync(&m, SyncOptions::default(), CancelToken::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), "engine.destination_schema", "{err}");
    assert!(err.to_string().contains("firstname"), "{err}");
    assert!(err.hint().unwrap().contains("does not change your table"));
    let cols: i64 = rusqlite::Connection::open(&theirs)
        .unwrap()
        .query_row("SELECT count(*) FROM pragma_table_info('customers')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(cols, 2);
    assert_eq!(
        env.store.rows("customers", 1, 0).unwrap_err().code(),
        "engine.no_such_table"
    );
    // HubSpot's own errors keep their codes (a token without scopes).
    let token = env
        .admin(
            reqwest::Method::POST,
            "tokens",
            serde_json::json!({ "scopes": ["oauth"] }),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = spoke_hubspot::Client::new(spoke_hubspot::ClientConfig::new(env.sb.base_url()))
        .unwrap()
        .with_token_provider(std::sync::Arc::new(spoke_hubspot::StaticToken::new(
            spoke_hubspot::Secret::from(token.as_str()),
        )));
    let engine = spoke_engine::Engine::new(env.store.clone(), client);
    let err = engine
        .sync(
            &contacts_mapping(),
            SyncOptions::default(),
            CancelToken::new(),
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "hubspot.missing_scopes");
    let runs = env.store.runs(5).unwrap();
    assert_eq!(runs[0].status, spoke_engine::RunStatus::Failed);
    assert_eq!(
        runs[0].problem.as_ref().unwrap().code,
        "hubspot.missing_scopes"
    );
    // The next sync works and the failed one left nothing half-done.
    let ok = env.sync(&contacts_mapping(), SyncOptions::default()).await;
    assert_eq!(ok.mode, "full");
    assert!(ok.resumed, "the failed read's checkpoint is picked up");
    assert_same(
        &env.portal(&contacts_mapping()).await,
        &env.local("contacts"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_syncs_of_one_table_at_once_are_refused() {
    let env = env(SandboxConfig {
        contacts: 2000,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    let (a, b) = tokio::join!(
        env.engine
            .sync(&m, SyncOptions::default(), CancelToken::new(), |_| {}),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            env.engine
                .sync(&m, SyncOptions::default(), CancelToken::new(), |_| {})
                .await
        }
    );
    assert!(a.is_ok());
    assert_eq!(b.unwrap_err().code(), "engine.busy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_leaves_the_daily_reserve_and_resumes_after_the_reset() {
    let env = env(SandboxConfig {
        contacts: 1500,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    // Only 2 % of today's 625,000 calls left: below the 5 % reserve.
    env.admin(
        reqwest::Method::PUT,
        "rate-limits/daily-used",
        serde_json::json!({ "used": 612_500 }),
    )
    .await;
    let err = env
        .engine
        .sync(&m, SyncOptions::default(), CancelToken::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), "engine.daily_reserve");
    assert!(err.hint().unwrap().contains("resumes"));
    let runs = env.store.runs(1).unwrap();
    assert_eq!(runs[0].counts.api_calls, 1, "only the call that read the budget");
    // A new day.
    env.admin(
        reqwest::Method::PUT,
        "rate-limits/daily-used",
        serde_json::json!({ "used": 0 }),
    )
    .await;
    let ok = env.sync(&m, SyncOptions::default()).await;
    assert!(ok.resumed);
    assert_same(&env.portal(&m).await, &env.local("contacts"));
    // With no reserve, the same budget is spent.
    env.admin(
        reqwest::Method::PUT,
        "rate-limits/daily-used",
        serde_json::json!({ "used": 612_500 }),
    )
    .await;
    let all_in = env
        .sync(&m, SyncOptions { full: true, daily_reserve_percent: 0, ..SyncOptions::default() })
        .await;
    assert_eq!(all_in.mode, "full");
}
