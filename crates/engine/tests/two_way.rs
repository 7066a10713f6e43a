//! Two-way sync against the demo portal: edits on both sides converge per the mapping's
//! conflict policies, "ask" conflicts wait for the user, and Spoke's own writes are never
//! echoed (counted by the portal's request counters).

mod common;

use common::*;
use rusqlite::params;
use serde_json::{json, Value};
use spoke_engine::{CancelToken, ConflictSide, SyncOptions, WriteOptions, WriteSummary};
use spoke_mapping::{
    discover_properties, ConflictPolicy, Destination, Mapping,
    MatchKey, ObjectCatalog,
};
use spoke_sandbox::SandboxConfig;

/// firstname: HubSpot wins; lastname: local wins; jobtitle: ask; city: newest wins (the
/// default); phone: newest wins too, edited on one side only.
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
    m.fields = [
        "email",
        "firstname",
        "lastname",
        "jobtitle",
        "city",
        "phone",
    ]
    .iter()
    .map(|p| both(p))
    .collect();
    let p = &mut m.two_way.field_policies;
    p.insert("firstname".into(), ConflictPolicy::HubSpotWins);
    p.insert("lastname".into(), ConflictPolicy::LocalWins);
    p.insert("jobtitle".into(), ConflictPolicy::Ask);
    m
}

async fn setup() -> (Env, Mapping, ObjectCatalog, String) {
    let env = env(SandboxConfig {
        contacts: 30,
        rate_limits: false,
        ..SandboxConfig::default()
    })
    .await;
    let m = people();
    let cat = discover_properties(
        &env.client,
        "contacts",
        &env.dir.path().join("catalog"),
        false,
    )
    .await
    .unwrap();
    env.sync(&m, SyncOptions::default()).await;
    let id: String = db(&env)
        .query_row(
            "SELECT _hs_id FROM people WHERE email IS NOT NULL ORDER BY rowid LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (env, m, cat, id)
}

fn db(env: &Env) -> rusqlite::Connection {
    rusqlite_open(&env.dir.path().join("spoke.db"))
}

async fn write(env: &Env, m: &Mapping, cat: &ObjectCatalog) -> WriteSummary {
    env.engine
        .write_back(m, cat, WriteOptions::default(), CancelToken::new(), &|_| {})
        .await
        .unwrap()
}

fn local_edit(env: &Env, id: &str, sets: &[(&str, &str)]) {
    for (c, v) in sets {
        db(env)
            .execute(
                &format!("UPDATE people SET {c} = ?2 WHERE _hs_id = ?1"),
                params![id, v],
            )
            .unwrap();
    }
}

fn local_row(env: &Env, id: &str) -> Vec<String> {
    db(env)
        .query_row(
            "SELECT firstname, lastname, jobtitle, city, phone FROM people WHERE _hs_id = ?1",
            [id],
            |r| {
                (0..5)
                    .map(|i| r.get::<_, Option<String>>(i).map(Option::unwrap_or_default))
                    .collect()
            },
        )
        .unwrap()
}

async fn hub_row(env: &Env, id: &str) -> Vec<String> {
    let v: Value = env
        .client
        .get(
            &format!("/crm/v3/objects/contacts/{id}"),
            &[("properties", "firstname,lastname,jobtitle,city,phone")],
        )
        .await
        .unwrap();
    ["firstname", "lastname", "jobtitle", "city", "phone"]
        .iter()
        .map(|p| v["properties"][p].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Calls that change HubSpot records, from the portal's counters.
async fn write_calls(env: &Env) -> u64 {
    let r = env.requests().await;
    r["byOperation"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| {
            k.starts_with("PATCH ")
                || k.starts_with("DELETE ")
                || (k.starts_with("POST ")
                    && !k.ends_with("/batch/read")
                    && !k.ends_with("/search"))
        })
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

/// After a converged state: a read finds nothing new, a write-back sends nothing, and the
/// portal saw no write call (no echo either way).
async fn assert_quiet(env: &Env, m: &Mapping, cat: &ObjectCatalog) {
    env.reset_requests().await;
    let inc = env.sync(m, SyncOptions::default()).await;
    assert_eq!((inc.counts.created, inc.counts.updated), (0, 0), "{inc:?}");
    let s = write(env, m, cat).await;
    assert_eq!((s.pending, s.api_calls), (0, 0), "{s:?}");
    assert_eq!(write_calls(env).await, 0, "{}", env.requests().await);
    assert_eq!(env.count("SELECT count(*) FROM _spoke_local_edits"), 0);
    assert_same(&env.portal(m).await, &env.local("people"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_on_both_sides_converge_per_field_policy_when_the_local_edit_is_newer() {
    let (env, m, cat, id) = setup().await;
    // HubSpot first …
    env.update(
        "contacts",
        &id,
        json!({ "firstname": "HubF", "lastname": "HubL", "jobtitle": "HubJ", "city": "HubC" }),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // … then the local edits (phone only locally).
    local_edit(
        &env,
        &id,
        &[
            ("firstname", "LocF"),
            ("lastname", "LocL"),
            ("jobtitle", "LocJ"),
            ("city", "LocC"),
            ("phone", "+1 555 0100"),
        ],
    );
    env.reset_requests().await;
    let s = env.sync(&m, SyncOptions::default()).await;
    assert_eq!(s.counts.updated, 1, "{s:?}");
    // Newest wins asked HubSpot for property history.
    let ops = env.requests().await["byOperation"].clone();
    assert_eq!(
        ops["POST /crm/v3/objects/{object_type}/batch/read"], 1,
        "{ops}"
    );
    assert_eq!(
        local_row(&env, &id),
        ["HubF", "LocL", "LocJ", "LocC", "+1 555 0100"],
        "HubSpot wins, local wins, ask keeps local for now, newest (local) wins, local-only edit kept"
    );
    let open = env.store.conflicts(Some("People"), false).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let ask = &open[0];
    assert_eq!(
        (
            ask.property.as_str(),
            ask.local_value.as_deref(),
            ask.hubspot_value.as_deref(),
            ask.policy
        ),
        ("jobtitle", Some("LocJ"), Some("HubJ"), ConflictPolicy::Ask)
    );
    assert_eq!(ask.hubspot_id, id);
    assert!(ask.local_changed_at.is_some());
    let all = env.store.conflicts(Some("People"), true).unwrap();
    let settled: Vec<(&str, Option<ConflictSide>, Option<&str>)> = all
        .iter()
        .map(|c| (c.property.as_str(), c.kept, c.resolved_by.as_deref()))
        .collect();
    assert_eq!(
        settled,
        [
            ("firstname", Some(ConflictSide::HubSpot), Some("policy")),
            ("lastname", Some(ConflictSide::Local), Some("policy")),
            ("jobtitle", None, None),
            ("city", Some(ConflictSide::Local), Some("policy")),
        ]
    );
    let city = all.iter().find(|c| c.property == "city").unwrap();
    assert!(
        city.hubspot_changed_at.is_some() && city.local_changed_at > city.hubspot_changed_at,
        "{city:?}"
    );

    // The write-back sends the local winners, not the open conflict.
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.updated, s.rejected), (1, 1, 0), "{s:?}");
    assert_eq!(
        hub_row(&env, &id).await,
        ["HubF", "LocL", "HubJ", "LocC", "+1 555 0100"]
    );
    // Waiting for the user: nothing more to send, the local value stays.
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.api_calls), (0, 0), "{s:?}");
    env.sync(&m, SyncOptions::default()).await;
    assert_eq!(local_row(&env, &id)[2], "LocJ");

    // The user keeps the local value: it is sent.
    let kept = env
        .engine
        .resolve_conflict(ask.id, ConflictSide::Local)
        .unwrap();
    assert_eq!(
        (kept.kept, kept.resolved_by.as_deref()),
        (Some(ConflictSide::Local), Some("user"))
    );
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.updated), (1, 1), "{s:?}");
    assert_eq!(
        hub_row(&env, &id).await,
        ["HubF", "LocL", "LocJ", "LocC", "+1 555 0100"]
    );
    assert!(env.store.conflicts(None, false).unwrap().is_empty());
    assert_quiet(&env, &m, &cat).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_on_both_sides_converge_per_field_policy_when_hubspot_is_newer() {
    let (env, m, cat, id) = setup().await;
    let before = hub_row(&env, &id).await;
    // Local first …
    local_edit(
        &env,
        &id,
        &[
            ("firstname", "LocF"),
            ("lastname", "LocL"),
            ("jobtitle", "LocJ"),
            ("city", "LocC"),
        ],
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // … then HubSpot (phone only in HubSpot).
    env.update(
        "contacts",
        &id,
        json!({ "firstname": "HubF", "lastname": "HubL", "jobtitle": "HubJ", "city": "HubC", "phone": "+1 555 0199" }),
    )
    .await;
    env.sync(&m, SyncOptions::default()).await;
    assert_eq!(
        local_row(&env, &id),
        ["HubF", "LocL", "LocJ", "HubC", "+1 555 0199"]
    );
    let city = env
        .store
        .conflicts(None, true)
        .unwrap()
        .into_iter()
        .find(|c| c.property == "city")
        .unwrap();
    assert_eq!(city.kept, Some(ConflictSide::HubSpot), "{city:?}");

    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.updated), (1, 1), "{s:?}");
    assert_eq!(
        hub_row(&env, &id).await,
        ["HubF", "LocL", "HubJ", "HubC", "+1 555 0199"]
    );
    assert_ne!(before[1], "LocL");

    // The user keeps HubSpot's value: the local row takes it, nothing is sent.
    let ask = env.store.conflicts(None, false).unwrap().remove(0);
    env.engine
        .resolve_conflict(ask.id, ConflictSide::HubSpot)
        .unwrap();
    assert_eq!(local_row(&env, &id)[2], "HubJ");
    assert!(matches!(
        env.engine.resolve_conflict(ask.id, ConflictSide::Local),
        Err(spoke_engine::Error::ConflictResolved { .. })
    ));
    assert_quiet(&env, &m, &cat).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_conflict_follows_later_hubspot_changes_and_a_local_edit_of_another_field_goes_out()
{
    let (env, m, cat, id) = setup().await;
    local_edit(&env, &id, &[("jobtitle", "LocJ")]);
    env.update("contacts", &id, json!({ "jobtitle": "HubJ1" }))
        .await;
    env.sync(&m, SyncOptions::default()).await;
    // HubSpot changes it again before the user decides: still one open conflict, updated.
    env.update("contacts", &id, json!({ "jobtitle": "HubJ2" }))
        .await;
    env.sync(&m, SyncOptions::default()).await;
    let open = env.store.conflicts(None, false).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].hubspot_value.as_deref(), Some("HubJ2"));
    assert_eq!(local_row(&env, &id)[2], "LocJ");
    // Another field edited locally meanwhile goes out alone.
    local_edit(&env, &id, &[("city", "Elsewhere")]);
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.updated), (1, 1), "{s:?}");
    assert_eq!(&hub_row(&env, &id).await[2..4], ["HubJ2", "Elsewhere"]);
    env.engine
        .resolve_conflict(open[0].id, ConflictSide::HubSpot)
        .unwrap();
    assert_eq!(local_row(&env, &id)[2], "HubJ2");
    assert_quiet(&env, &m, &cat).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_makes_no_echo_and_hubspot_changes_to_other_fields_are_never_overwritten() {
    let (env, m, cat, id) = setup().await;
    let mut ids: Vec<String> = {
        let c = db(&env);
        let mut st = c
            .prepare("SELECT _hs_id FROM people WHERE email IS NOT NULL ORDER BY rowid LIMIT 20")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    ids.retain(|i| i != &id);
    for i in &ids {
        local_edit(&env, i, &[("city", "Batch City")]);
    }
    // HubSpot changes other fields of two of them before Spoke reads them: jobtitle (not in
    // HubSpot's answer to an update of city) and firstname (one of the contact properties
    // HubSpot echoes with every write).
    env.update("contacts", &ids[0], json!({ "jobtitle": "Set in HubSpot" }))
        .await;
    env.update("contacts", &ids[1], json!({ "firstname": "Echoed" }))
        .await;
    env.reset_requests().await;
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.updated, s.rejected), (ids.len() as u64, 0), "{s:?}");
    // One batch update and nothing else: no read-back (the answer carries the records).
    let ops = env.requests().await["byOperation"].clone();
    assert_eq!(
        ops["POST /crm/v3/objects/{object_type}/batch/update"], 1,
        "{ops}"
    );
    assert!(
        ops["POST /crm/v3/objects/{object_type}/batch/read"].is_null(),
        "{ops}"
    );
    assert_eq!(s.api_calls, 1, "{s:?}");
    assert_eq!(write_calls(&env).await, 1);
    // Only the changed field was sent: HubSpot's own changes stand. The echoed one is in the
    // row at once; the other one is not known yet …
    assert_eq!(
        hub_row(&env, &ids[0]).await[2..4],
        ["Set in HubSpot", "Batch City"]
    );
    assert_eq!(hub_row(&env, &ids[1]).await[0], "Echoed");
    assert_eq!(local_row(&env, &ids[1])[0], "Echoed");
    assert_ne!(local_row(&env, &ids[0])[2], "Set in HubSpot");
    // … and a write-back before the next read does not overwrite it either.
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.api_calls), (0, 0), "{s:?}");
    // The next read brings it as a HubSpot change (the write moved the record's updatedAt, so
    // the read fetches it anyway); Spoke's own writes are not read back as changes.
    env.reset_requests().await;
    let inc = env.sync(&m, SyncOptions::default()).await;
    assert_eq!((inc.counts.created, inc.counts.updated), (0, 1), "{inc:?}");
    assert!(inc.counts.unchanged >= ids.len() as u64 - 1, "{inc:?}");
    assert_eq!(
        local_row(&env, &ids[0])[2..4],
        ["Set in HubSpot", "Batch City"]
    );
    // And nothing is sent back.
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.pending, s.api_calls), (0, 0), "{s:?}");
    assert_eq!(write_calls(&env).await, 0);
    assert!(env.store.conflicts(None, true).unwrap().is_empty());
    assert_quiet(&env, &m, &cat).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_deletes_archive_in_hubspot_only_when_the_mapping_says_so() {
    let (env, mut m, cat, _) = setup().await;
    let ids: Vec<String> = {
        let c = db(&env);
        let mut st = c.prepare("SELECT _hs_id FROM people WHERE email IS NOT NULL ORDER BY rowid LIMIT 6").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let live = |id: &str| {
        let (env, id) = (&env, id.to_owned());
        async move {
            env.client
                .get::<Value>(&format!("/crm/v3/objects/contacts/{id}"), &[])
                .await
                .is_ok()
        }
    };
    // Default (ignore): a local delete leaves HubSpot alone.
    assert_eq!(m.two_way.local_deletes, spoke_mapping::LocalDeletes::Ignore);
    db(&env).execute("DELETE FROM people WHERE _hs_id = ?1", [&ids[0]]).unwrap();
    env.reset_requests().await;
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.archived, s.api_calls), (0, 0), "{s:?}");
    assert!(live(&ids[0]).await);

    // Archive: the deleted rows' records are archived, in one call.
    m.two_way.local_deletes = spoke_mapping::LocalDeletes::Archive;
    for id in &ids[1..4] {
        db(&env).execute("DELETE FROM people WHERE _hs_id = ?1", [id]).unwrap();
    }
    // Records the engine removes itself (deleted in HubSpot, merged away) are not archived.
    env.admin(reqwest::Method::DELETE, &format!("objects/contacts/{}", ids[4]), Value::Null).await;
    env.admin(
        reqwest::Method::POST,
        "objects/contacts/merge",
        json!({ "primaryObjectId": ids[5], "objectIdToMerge": ids[0] }),
    )
    .await;
    let full = env.sync(&m, SyncOptions { full: true, ..SyncOptions::default() }).await;
    assert!(full.counts.deleted >= 1, "{full:?}");
    env.reset_requests().await;
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.archived, s.api_calls), (3, 1), "{s:?}");
    let ops = env.requests().await["byOperation"].clone();
    assert_eq!(ops["POST /crm/v3/objects/{object_type}/batch/archive"], 1, "{ops}");
    for id in &ids[1..4] {
        assert!(!live(id).await, "{id} still live");
    }
    assert!(live(&ids[5]).await);
    // Once: nothing is archived again, and reads do not bring the rows back.
    let s = write(&env, &m, &cat).await;
    assert_eq!((s.archived, s.api_calls), (0, 0), "{s:?}");
    env.sync(&m, SyncOptions { full: true, ..SyncOptions::default() }).await;
    assert_eq!(env.count(&format!("SELECT count(*) FROM people WHERE _hs_id IN ('{}', '{}', '{}') AND _hs_archived = 0", ids[1], ids[2], ids[3])), 0);
    assert_quiet(&env, &m, &cat).await;
}
