//! Notes as comments against the demo portal: notes on synced contacts read into
//! `contacts__comments`, HubSpot edits and deletions followed, local comments created and edited
//! as notes, no echo writes, no duplicate create after a crash between create and commit,
//! conflicts kept, refusals recorded per row.

mod common;

use std::collections::BTreeMap;

use common::{contacts_mapping, env, Env};
use serde_json::{json, Value};
use spoke_engine::{CancelToken, CommentsSummary, SyncOptions};
use spoke_hubspot::Describe;
use spoke_sandbox::SandboxConfig;

async fn portal_env() -> Env {
    env(SandboxConfig {
        contacts: 40,
        rate_limits: false,
        ..SandboxConfig::default()
    })
    .await
}

async fn comments(env: &Env) -> CommentsSummary {
    env.engine
        .sync_comments(&contacts_mapping(), &CancelToken::new())
        .await
        .unwrap()
}

fn db(env: &Env) -> rusqlite::Connection {
    rusqlite::Connection::open(env.dir.path().join("spoke.db")).unwrap()
}

/// note id → (record id, body) in the local comments table.
fn local(env: &Env) -> BTreeMap<String, (String, String)> {
    let conn = db(env);
    let mut stmt = conn
        .prepare("SELECT note_id, record_id, body FROM contacts__comments WHERE note_id IS NOT NULL")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rows
}

async fn api(env: &Env, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = env
        .http
        .request(method, format!("{}{path}", env.sb.base_url()))
        .bearer_auth(env.sb.private_app_token());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The portal's view, read through HubSpot's own per-record endpoints: note id → (record, body).
async fn portal(env: &Env) -> BTreeMap<String, (String, String)> {
    let conn = db(env);
    let ids: Vec<String> = conn
        .prepare("SELECT _hs_id FROM contacts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut out = BTreeMap::new();
    for id in ids {
        let v = api(env, reqwest::Method::GET, &format!("/crm/v4/objects/contacts/{id}/associations/notes"), None).await;
        for a in v["results"].as_array().unwrap() {
            let note = a["toObjectId"].to_string().trim_matches('"').to_owned();
            let n = api(env, reqwest::Method::GET, &format!("/crm/v3/objects/notes/{note}?properties=hs_note_body"), None).await;
            out.insert(note, (id.clone(), n["properties"]["hs_note_body"].as_str().unwrap_or("").to_owned()));
        }
    }
    out
}

#[tokio::test]
async fn notes_become_comments_and_comments_become_notes() {
    let env = portal_env().await;
    env.sync(&contacts_mapping(), SyncOptions::default()).await;

    // Read: the local comments are exactly the portal's notes on these contacts.
    let first = comments(&env).await;
    let expected = portal(&env).await;
    assert!(!expected.is_empty(), "the demo portal has notes on its contacts");
    assert_eq!(local(&env), expected);
    assert_eq!((first.read, first.added, first.created, first.updated), (expected.len() as u64, expected.len() as u64, 0, 0));

    // Nothing changed: the next sync only reads (no writes, nothing changed locally).
    env.reset_requests().await;
    let again = comments(&env).await;
    assert_eq!((again.added, again.changed, again.removed, again.created, again.updated), (0, 0, 0, 0, 0));
    let routes = env.requests().await;
    let writes: u64 = routes["byRoute"].as_object().unwrap().iter()
        .filter(|(r, _)| r.contains("batch/create") || r.contains("batch/update"))
        .map(|(_, n)| n.as_u64().unwrap()).sum();
    assert_eq!(writes, 0, "no echo writes: {routes}");

    // An edit in HubSpot reaches the local row.
    let (note, (record, _)) = expected.iter().next().unwrap();
    env.update("notes", note, json!({ "hs_note_body": "Called back, wants a demo" })).await;
    let s = comments(&env).await;
    assert_eq!(s.changed, 1);
    assert_eq!(local(&env)[note].1, "Called back, wants a demo");

    // A comment written locally becomes a note on its contact; an edit updates it.
    db(&env).execute("INSERT INTO contacts__comments (record_id, body) VALUES (?1, 'Sent the contract')", [record]).unwrap();
    let s = comments(&env).await;
    assert_eq!((s.created, s.failed), (1, 0));
    let now = portal(&env).await;
    let new_id = now.iter().find(|(_, (_, b))| b == "Sent the contract").map(|(id, (r, _))| (id.clone(), r.clone())).expect("note in the portal");
    assert_eq!(&new_id.1, record);
    assert_eq!(local(&env), now);
    db(&env).execute("UPDATE contacts__comments SET body = 'Sent the contract (signed)' WHERE note_id = ?1", [&new_id.0]).unwrap();
    let s = comments(&env).await;
    assert_eq!((s.updated, s.created), (1, 0));
    assert_eq!(portal(&env).await[&new_id.0].1, "Sent the contract (signed)");
    let s = comments(&env).await;
    assert_eq!((s.updated, s.created, s.changed), (0, 0, 0), "no echo");

    // A note deleted in HubSpot leaves the local table.
    api(&env, reqwest::Method::DELETE, &format!("/crm/v3/objects/notes/{note}"), None).await;
    let s = comments(&env).await;
    assert_eq!(s.removed, 1);
    assert!(!local(&env).contains_key(note));
    assert_eq!(local(&env), portal(&env).await);
}

#[tokio::test]
async fn a_create_sent_before_a_crash_is_adopted_not_repeated() {
    let env = portal_env().await;
    env.sync(&contacts_mapping(), SyncOptions::default()).await;
    comments(&env).await;
    let record: String = db(&env).query_row("SELECT _hs_id FROM contacts ORDER BY _hs_id LIMIT 1", [], |r| r.get(0)).unwrap();
    // Spoke marked the row as sent, HubSpot created the note, and Spoke died before storing its id.
    db(&env).execute("INSERT INTO contacts__comments (record_id, body, _create_sent_ms) VALUES (?1, 'Renewal call booked', 1)", [&record]).unwrap();
    api(&env, reqwest::Method::POST, "/crm/v3/objects/notes", Some(json!({
        "properties": { "hs_note_body": "Renewal call booked", "hs_timestamp": "2026-11-24T10:00:00.000Z" },
        "associations": [{ "to": { "id": record }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202 }] }],
    }))).await;

    let s = comments(&env).await;
    assert_eq!(s.created, 0, "adopted, not created again");
    let portal = portal(&env).await;
    assert_eq!(portal.values().filter(|(_, b)| b == "Renewal call booked").count(), 1);
    assert_eq!(local(&env), portal);
    let pending: i64 = db(&env).query_row("SELECT COUNT(*) FROM contacts__comments WHERE note_id IS NULL", [], |r| r.get(0)).unwrap();
    assert_eq!(pending, 0);
}

#[tokio::test]
async fn edits_on_both_sides_keep_hubspots_text_and_the_local_one_in_error() {
    let env = portal_env().await;
    env.sync(&contacts_mapping(), SyncOptions::default()).await;
    comments(&env).await;
    let (note, _) = local(&env).into_iter().next().unwrap();
    db(&env).execute("UPDATE contacts__comments SET body = 'local text' WHERE note_id = ?1", [&note]).unwrap();
    env.update("notes", &note, json!({ "hs_note_body": "hubspot text" })).await;
    let s = comments(&env).await;
    assert_eq!((s.conflicts, s.updated), (1, 0));
    let (body, error): (String, String) = db(&env).query_row("SELECT body, _error FROM contacts__comments WHERE note_id = ?1", [&note], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(body, "hubspot text");
    assert!(error.contains("local text"), "{error}");
}

#[tokio::test]
async fn a_refused_comment_keeps_its_reason_and_the_others_are_written() {
    let env = portal_env().await;
    env.sync(&contacts_mapping(), SyncOptions::default()).await;
    comments(&env).await;
    let record: String = db(&env).query_row("SELECT _hs_id FROM contacts ORDER BY _hs_id LIMIT 1", [], |r| r.get(0)).unwrap();
    db(&env).execute("INSERT INTO contacts__comments (record_id, body) VALUES ('999999999', 'on a contact that does not exist')", []).unwrap();
    db(&env).execute("INSERT INTO contacts__comments (record_id, body) VALUES (?1, 'fine')", [&record]).unwrap();
    let s = comments(&env).await;
    assert_eq!((s.created, s.failed), (1, 1), "{s:?}");
    let error: Option<String> = db(&env).query_row("SELECT _error FROM contacts__comments WHERE record_id = '999999999'", [], |r| r.get(0)).unwrap();
    assert!(error.is_some_and(|e| !e.is_empty()));
    assert!(portal(&env).await.values().any(|(r, b)| r == &record && b == "fine"));
}

#[tokio::test]
async fn comments_need_a_synced_table_and_a_supported_object() {
    let env = portal_env().await;
    let err = env.engine.sync_comments(&contacts_mapping(), &CancelToken::new()).await.unwrap_err();
    assert_eq!(err.code(), "engine.no_such_table");
    let mut m = contacts_mapping();
    m.object = "2-1234".into();
    let err = env.engine.sync_comments(&m, &CancelToken::new()).await.unwrap_err();
    assert_eq!(err.code(), "engine.comments_unsupported");
    assert!(err.hint().unwrap_or_default().contains("contacts"));
}
