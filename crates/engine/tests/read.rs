//! Full and incremental reads against the demo portal, with HubSpot's Pro rate limits on.

mod common;

use common::*;
use spoke_engine::{CancelToken, Phase, RunStatus, SyncOptions};
use spoke_sandbox::SandboxConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_read_equals_the_portal_and_is_recorded() {
    // The mapping's properties fit a list URL: list pages carry them, no batch/read.
    full_read(SyncOptions::default(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_read_by_list_ids_and_batch_read_when_properties_do_not_fit_a_url() {
    // As with hundreds of properties: ids from the list, properties in batch/read bodies.
    full_read(
        SyncOptions {
            list_properties_max_chars: 40,
            ..SyncOptions::default()
        },
        false,
    )
    .await;
}

async fn full_read(options: SyncOptions, inline: bool) {
    let env = env(SandboxConfig {
        contacts: 1000,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    let portal = env.portal(&m).await;
    env.reset_requests().await;
    let (summary, progress) = env.sync_with_progress(&m, options).await;
    assert_eq!(summary.mode, "full");
    assert!(!summary.resumed);
    assert_eq!(summary.counts.created as usize, portal.len());
    assert_eq!(summary.counts.read as usize, portal.len());
    assert_same(&portal, &env.local("contacts"));

    // Calls: search pages (200) from the top, list pages (100; with their records' properties,
    // or ids + a batch read) from the bottom; nothing hidden.
    let requests = env.requests().await;
    let total = requests["total"].as_u64().unwrap();
    assert_eq!(total, summary.counts.api_calls, "{requests}");
    let by = &requests["byRoute"];
    let searches = by["POST /crm/v3/objects/{object_type}/search"]
        .as_u64()
        .unwrap();
    let lists = by["GET /crm/v3/objects/{object_type}"]
        .as_u64()
        .unwrap_or(0);
    let batches = by["POST /crm/v3/objects/{object_type}/batch/{op}"]
        .as_u64()
        .unwrap_or(0);
    assert!(searches >= 1 && lists >= 1, "{requests}");
    let list_reads = if inline {
        assert_eq!(batches, 0, "{requests}");
        lists
    } else {
        assert!(batches >= 1 && batches <= lists, "{requests}");
        batches
    };
    assert!(
        searches * 200 + list_reads * 100 <= portal.len() as u64 + 400,
        "pages overlap too much: {requests}"
    );

    // Mapped columns hold the mapped values; messy numbers are stored and reported.
    let with_email =
        env.count("SELECT count(*) FROM contacts WHERE email IS NOT NULL AND email <> ''");
    assert!(with_email > 900, "{with_email}");
    let key_is_id = env.count("SELECT count(*) FROM contacts WHERE hubspot_id = _hs_id");
    assert_eq!(key_is_id as usize, portal.len());
    let errors = env.store.run_errors(summary.run_id).unwrap();
    assert_eq!(errors.len() as u64, summary.counts.errors);
    if let Some(e) = errors.first() {
        assert_eq!(e.code, "engine.record_mapping");
        assert!(e.record_id.is_some());
    }

    // Progress: phases in order, pages and a total for the ETA.
    assert_eq!(progress.first().unwrap().phase, Phase::Starting);
    assert_eq!(progress.last().unwrap().phase, Phase::Done);
    assert!(progress
        .iter()
        .any(|p| p.phase == Phase::FullRead && p.records_total == Some(portal.len() as u64)));
    assert!(progress
        .iter()
        .any(|p| p.eta_ms.is_some() && p.phase == Phase::FullRead));
    assert!(progress.iter().all(|p| p.rate.is_some()));
    let reads: Vec<u64> = progress.iter().map(|p| p.records_read).collect();
    assert!(reads.windows(2).all(|w| w[0] <= w[1]));

    // History.
    let runs = env.store.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, summary.run_id);
    assert!(matches!(
        runs[0].status,
        RunStatus::Succeeded | RunStatus::SucceededWithErrors
    ));
    assert_eq!(runs[0].counts, summary.counts);
    assert!(runs[0].summary.as_deref().unwrap().contains("1000 read") || portal.len() != 1000);

    // Data preview.
    let page = env.store.rows("contacts", 5, 0).unwrap();
    assert_eq!(page.total as usize, portal.len());
    assert_eq!(page.rows.len(), 5);
    assert!(page.columns.iter().any(|c| c == "email"));
    assert!(page.columns.iter().any(|c| c == "_hs_raw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_after_one_percent_changes_costs_calls_proportional_to_the_changes() {
    let env = env(SandboxConfig {
        contacts: 2000,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    let full = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(full.mode, "full");
    let portal = env.portal(&m).await;
    let ids: Vec<String> = portal.keys().cloned().collect();
    let changed: Vec<String> = ids.iter().step_by(100).cloned().collect();
    for (i, id) in changed.iter().enumerate() {
        env.update(
            "contacts",
            id,
            serde_json::json!({ "firstname": format!("Changed{i}") }),
        )
        .await;
    }
    // One record created in HubSpot.
    env.admin(
        reqwest::Method::POST,
        "objects/contacts",
        serde_json::json!({ "properties": { "email": "new.one@example.com", "firstname": "New" } }),
    )
    .await;
    env.reset_requests().await;
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(inc.mode, "incremental");
    assert_eq!(inc.counts.updated as usize, changed.len());
    assert_eq!(inc.counts.created, 1);
    let requests = env.requests().await;
    let calls = requests["total"].as_u64().unwrap();
    assert_eq!(calls, inc.counts.api_calls);
    // The changes fit one search page; plus the archived list (~2% of 2000 = 1 page).
    assert!(
        calls <= 4,
        "{calls} calls for {} changes: {requests}",
        changed.len() + 1
    );
    assert_same(&env.portal(&m).await, &env.local("contacts"));

    // Nothing changed: seen again in the overlap window, written never.
    let again = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(again.counts.updated + again.counts.created, 0);
    assert_eq!(again.counts.unchanged, again.counts.read);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_full_read_resumes_where_it_stopped() {
    let env = env(SandboxConfig {
        contacts: 1500,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    let cancel = CancelToken::new();
    let c = cancel.clone();
    let first = env
        .engine
        .sync(&m, SyncOptions::default(), cancel, move |p| {
            if p.pages >= 2 {
                c.cancel();
            }
        })
        .await
        .unwrap();
    assert_eq!(first.status, RunStatus::Cancelled);
    let partial = env.local("contacts").len() as u64;
    assert_eq!(partial, first.counts.created);
    assert!((400..1400).contains(&partial), "{partial}");
    let second = env.sync(&m, SyncOptions::default()).await;
    assert!(second.resumed);
    assert_eq!(second.mode, "full");
    let portal = env.portal(&m).await;
    // Nothing read twice: the second run created exactly the rest.
    assert_eq!(
        first.counts.created + second.counts.created,
        portal.len() as u64
    );
    assert_eq!(second.counts.unchanged, 0);
    assert_same(&portal, &env.local("contacts"));
    let runs = env.store.runs(10).unwrap();
    assert_eq!(runs[1].status, RunStatus::Cancelled);
}
