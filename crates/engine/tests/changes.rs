//! The pitfalls: 10,000+ records in one millisecond, search lag and disorder, archives, hard
//! deletes, merges, association-only changes, criteria.

mod common;

use common::*;
use spoke_engine::SyncOptions;
use spoke_hubspot::ListObjects;
use spoke_mapping::{Criterion, CriterionValue};
use spoke_sandbox::{FaultConfig, SandboxConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_thousand_records_in_one_millisecond_are_read_exactly_once() {
    let env = env(SandboxConfig {
        contacts: 12_500,
        rate_limits: false,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    let full = env.sync(&m, SyncOptions::default()).await;
    assert!(full.counts.created > 12_000);
    let bulk = env
        .admin(
            reqwest::Method::POST,
            "objects/contacts/bulk-update",
            serde_json::json!({ "properties": { "firstname": "Bulk" }, "count": 12000 }),
        )
        .await;
    assert_eq!(bulk["updated"], 12000);
    env.reset_requests().await;
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(inc.mode, "incremental");
    assert_eq!(inc.counts.updated, 12_000);
    assert_eq!(inc.counts.created, 0);
    assert_eq!(inc.counts.read, inc.counts.updated + inc.counts.unchanged);
    let requests = env.requests().await;
    let searches = requests["byRoute"]["POST /crm/v3/objects/{object_type}/search"]
        .as_u64()
        .unwrap();
    // Keyset pages of 200: never an `after` past 10,000, never a 400.
    assert!(searches <= inc.counts.read.div_ceil(200) + 1, "{searches}");
    assert_eq!(
        env.count("SELECT count(*) FROM contacts WHERE firstname = 'Bulk'"),
        12_000
    );
    assert_same(&env.portal(&m).await, &env.local("contacts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_lag_and_out_of_order_pages_lose_nothing() {
    let env = env(SandboxConfig {
        contacts: 600,
        search_lag_ms: 4000,
        faults: FaultConfig {
            search_shuffle: true,
            ..FaultConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    env.sync(&m, SyncOptions::default()).await;
    assert_same(&env.portal(&m).await, &env.local("contacts"));
    let ids: Vec<String> = env.portal(&m).await.keys().cloned().collect();
    for (i, id) in ids.iter().step_by(30).enumerate() {
        env.update(
            "contacts",
            id,
            serde_json::json!({ "lastname": format!("Lagged{i}") }),
        )
        .await;
    }
    for i in 0..3 {
        env.admin(
            reqwest::Method::POST,
            "objects/contacts",
            serde_json::json!({ "properties": { "email": format!("late{i}@example.com") } }),
        )
        .await;
    }
    // The index has not caught up: old versions come back, new records are invisible.
    let early = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(early.counts.updated, 0, "{early:?}");
    assert_eq!(early.counts.created, 0);
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    let late = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(late.counts.updated as usize, ids.iter().step_by(30).count());
    assert_eq!(late.counts.created, 3);
    assert_same(&env.portal(&m).await, &env.local("contacts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_hard_deleted_and_merged_records_are_handled() {
    let env = env(SandboxConfig {
        contacts: 500,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    env.sync(&m, SyncOptions::default()).await;
    let ids: Vec<String> = env.portal(&m).await.keys().cloned().collect();
    let (archived, deleted) = (&ids[10..13], &ids[20..22]);
    let merges = [(&ids[30], &ids[31]), (&ids[40], &ids[41])];
    for id in archived {
        env.admin(
            reqwest::Method::POST,
            &format!("objects/contacts/{id}/archive"),
            serde_json::Value::Null,
        )
        .await;
    }
    for id in deleted {
        env.admin(
            reqwest::Method::DELETE,
            &format!("objects/contacts/{id}"),
            serde_json::Value::Null,
        )
        .await;
    }
    for (survivor, loser) in merges {
        env.admin(
            reqwest::Method::POST,
            "objects/contacts/merge",
            serde_json::json!({ "primaryObjectId": survivor, "objectIdToMerge": loser }),
        )
        .await;
    }
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(inc.mode, "incremental");
    assert_eq!(inc.counts.archived, 3);
    assert_eq!(inc.counts.merged, 2);
    let mut seen: Vec<(String, String)> = inc
        .merges
        .iter()
        .map(|r| (r.survivor_id.clone(), r.loser_id.clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        merges
            .iter()
            .map(|(s, l)| ((*s).clone(), (*l).clone()))
            .collect::<Vec<_>>()
    );
    for (survivor, loser) in merges {
        assert_eq!(
            env.store.redirect("contacts", loser).unwrap().as_ref(),
            Some(survivor)
        );
    }
    for id in archived {
        assert_eq!(
            env.count(&format!("SELECT count(*) FROM contacts WHERE _hs_id = '{id}' AND _hs_archived = 1 AND _hs_archived_at IS NOT NULL")),
            1
        );
    }
    // Hard deletes leave no trace in the incremental read ...
    assert_eq!(inc.counts.deleted, 0);
    assert_eq!(
        env.local("contacts").len(),
        env.portal(&m).await.len() + deleted.len()
    );
    // ... and are found by the id reconciliation of a full read.
    let full = env
        .sync(
            &m,
            SyncOptions {
                full: true,
                ..SyncOptions::default()
            },
        )
        .await;
    assert_eq!(full.counts.deleted, 2);
    let mut gone = full.deleted_ids.clone();
    gone.sort();
    assert_eq!(gone, deleted.to_vec());
    assert_eq!(full.counts.created, 0);
    assert_same(&env.portal(&m).await, &env.local("contacts"));
    let summary = env.store.runs(1).unwrap()[0].summary.clone().unwrap();
    assert!(summary.contains("2 deleted"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_found_only_by_reconciliation_becomes_a_redirect() {
    let env = env(SandboxConfig {
        contacts: 300,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    env.sync(&m, SyncOptions::default()).await;
    let ids: Vec<String> = env.portal(&m).await.keys().cloned().collect();
    env.admin(
        reqwest::Method::POST,
        "objects/contacts/merge",
        serde_json::json!({ "primaryObjectId": ids[5], "objectIdToMerge": ids[6] }),
    )
    .await;
    let full = env
        .sync(
            &m,
            SyncOptions {
                full: true,
                ..SyncOptions::default()
            },
        )
        .await;
    assert_eq!(full.counts.merged, 1);
    assert_eq!(full.counts.deleted, 0);
    assert_eq!(
        env.store.redirect("contacts", &ids[6]).unwrap(),
        Some(ids[5].clone())
    );
    assert_same(&env.portal(&m).await, &env.local("contacts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn association_only_changes_are_caught_by_the_association_refresh() {
    let env = env(SandboxConfig {
        contacts: 300,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    let opts = SyncOptions {
        associations: vec!["companies".into()],
        ..SyncOptions::default()
    };
    let full = env.sync(&m, opts.clone()).await;
    assert!(full.counts.associations_changed > 0);
    let table = spoke_engine::association_table("contacts", "companies");
    // Same as HubSpot's per-record answer for a sample.
    let ids: Vec<String> = env.portal(&m).await.keys().cloned().collect();
    for id in ids.iter().take(15) {
        let v: serde_json::Value = env
            .client
            .get(
                &format!("/crm/v4/objects/contacts/{id}/associations/companies"),
                &[],
            )
            .await
            .unwrap();
        let mut want: Vec<String> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["toObjectId"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| r["toObjectId"].to_string())
            })
            .collect();
        want.sort();
        let conn = rusqlite_open(&env.dir.path().join("spoke.db"));
        let mut stmt = conn
            .prepare(&format!(
                "SELECT to_id FROM \"{table}\" WHERE from_id = ?1 ORDER BY to_id"
            ))
            .unwrap();
        let mut got: Vec<String> = stmt
            .query_map([id], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        got.sort();
        assert_eq!(got, want, "contact {id}");
    }
    let company = env
        .client
        .list_objects(
            "companies",
            &ListObjects {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .results[0]
        .id
        .clone();
    let contact = &ids[3];
    env.admin(
        reqwest::Method::POST,
        "associations",
        serde_json::json!({ "fromType": "contacts", "fromId": contact, "toType": "companies", "toId": company }),
    )
    .await;
    // No timestamp moved: a plain incremental (no association refresh due) cannot see it.
    let quiet = env.sync(&m, opts.clone()).await;
    assert_eq!(quiet.counts.associations_changed, 0);
    assert_eq!(quiet.counts.updated, 0);
    let refresh = env
        .sync(
            &m,
            SyncOptions {
                associations_every_ms: 1,
                ..opts.clone()
            },
        )
        .await;
    assert_eq!(refresh.mode, "incremental");
    assert_eq!(refresh.counts.associations_changed, 1);
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM \"{table}\" WHERE from_id = '{contact}' AND to_id = '{company}'"
        )),
        1
    );
    // One association call per 1,000 records.
    assert!(refresh.counts.api_calls <= 4, "{:?}", refresh.counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn criteria_are_applied_by_hubspot_and_records_leaving_them_are_removed() {
    let env = env(SandboxConfig {
        contacts: 800,
        ..SandboxConfig::default()
    })
    .await;
    let mut m = contacts_mapping();
    m.criteria = vec![Criterion::new(
        "EQUALS",
        "lifecyclestage",
        Some(CriterionValue::Text("customer".into())),
    )];
    let customers = |all: std::collections::BTreeMap<String, (i64, String)>| {
        all.into_iter()
            .filter(|(_, (_, raw))| raw.contains("\"lifecyclestage\":\"customer\""))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let full = env.sync(&m, SyncOptions::default()).await;
    let want = customers(env.portal(&m).await);
    assert!(want.len() > 20 && want.len() < 700, "{}", want.len());
    assert_eq!(full.counts.created as usize, want.len());
    assert_same(&want, &env.local("contacts"));
    // One customer becomes a lead, one lead becomes a customer.
    let leaving = want.keys().next().unwrap().clone();
    let all = env.portal(&m).await;
    let joining = all.keys().find(|k| !want.contains_key(*k)).unwrap().clone();
    env.update(
        "contacts",
        &leaving,
        serde_json::json!({ "lifecyclestage": "lead" }),
    )
    .await;
    env.update(
        "contacts",
        &joining,
        serde_json::json!({ "lifecyclestage": "customer" }),
    )
    .await;
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(inc.counts.created, 1);
    let full = env
        .sync(
            &m,
            SyncOptions {
                full: true,
                ..SyncOptions::default()
            },
        )
        .await;
    assert_eq!(full.counts.deleted, 1);
    assert_eq!(full.deleted_ids, vec![leaving]);
    assert_same(&customers(env.portal(&m).await), &env.local("contacts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_refresh_repairs_values_that_changed_without_a_timestamp() {
    let env = env(SandboxConfig {
        contacts: 300,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    env.sync(&m, SyncOptions::default()).await;
    let portal = env.portal(&m).await;
    let id = portal.keys().nth(7).unwrap().clone();
    // What a calculated property does: the value moves, `lastmodifieddate` does not. Here the
    // local copy is the one that moved; the effect on the engine is the same.
    {
        let conn = rusqlite_open(&env.dir.path().join("spoke.db"));
        conn.execute(
            "UPDATE contacts SET firstname = 'stale', _hs_raw = '{}' WHERE _hs_id = ?1",
            [&id],
        )
        .unwrap();
    }
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(inc.mode, "incremental");
    assert_eq!(inc.counts.updated, 0, "an incremental read trusts the timestamps");
    let refresh = env
        .sync(&m, SyncOptions { refresh_every_ms: 1, ..SyncOptions::default() })
        .await;
    assert_eq!(refresh.mode, "full");
    assert_eq!(refresh.counts.updated, 1);
    assert_eq!(refresh.counts.unchanged as usize, portal.len() - 1);
    assert_same(&portal, &env.local("contacts"));
    assert_eq!(
        env.count(&format!("SELECT count(*) FROM contacts WHERE _hs_id = '{id}' AND firstname = 'stale'")),
        0
    );
}
