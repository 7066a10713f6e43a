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

// ---------------------------------------------------------------------------------------------
// Attachments

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// file id → bytes, fetched from the portal through its own signed URLs.
async fn portal_file(env: &Env, file_id: &str) -> Vec<u8> {
    let signed = api(env, reqwest::Method::GET, &format!("/files/v3/files/{file_id}/signed-url"), None).await;
    env.http.get(signed["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap().to_vec()
}

/// file id → (local path, sha256, error) in `contacts__attachments`.
fn attachments(env: &Env) -> BTreeMap<String, (Option<String>, Option<String>, Option<String>)> {
    let conn = db(env);
    let mut stmt = conn
        .prepare("SELECT file_id, local_path, sha256, _error FROM contacts__attachments WHERE file_id IS NOT NULL")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rows
}

/// Every file id the local comments reference.
fn referenced(env: &Env) -> Vec<String> {
    let conn = db(env);
    let ids: Vec<String> = conn
        .prepare("SELECT attachment_ids FROM contacts__comments WHERE COALESCE(attachment_ids, '') <> ''")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut out: Vec<String> = ids.iter().flat_map(|s| s.split(';').map(str::to_owned)).collect();
    out.sort();
    out
}

fn route_count(routes: &Value, needle: &str) -> u64 {
    routes["byRoute"].as_object().unwrap().iter().filter(|(r, _)| r.contains(needle)).map(|(_, n)| n.as_u64().unwrap()).sum()
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn attachments_download_byte_identical_once_and_resume_after_a_broken_download() {
    let env = portal_env().await;
    env.sync(&contacts_mapping(), SyncOptions::default()).await;
    let dir = env.dir.path().join("attachments").join("contacts");

    // Every download breaks mid-response: per-file errors, no file recorded as done, no half file.
    env.admin(reqwest::Method::PUT, "faults", json!({ "resetRate": 1.0, "pathPrefix": "/hubfs-signed" })).await;
    let broken = comments(&env).await;
    let ids = referenced(&env);
    assert!(ids.len() >= 8, "seeded notes carry attachments: {ids:?}");
    assert_eq!((broken.attachments_downloaded, broken.attachments_failed), (0, ids.len() as u64), "{broken:?}");
    assert!(attachments(&env).values().all(|(_, sha, err)| sha.is_none() && err.is_some()));
    assert!(files_in(&dir).is_empty(), "no file left behind: {:?}", files_in(&dir));

    // Faults gone: every file downloads, byte-identical to the portal's.
    env.admin(reqwest::Method::DELETE, "faults", Value::Null).await;
    let first = comments(&env).await;
    assert_eq!((first.attachments_downloaded, first.attachments_failed), (ids.len() as u64, 0), "{first:?}");
    let rows = attachments(&env);
    assert_eq!(rows.keys().cloned().collect::<Vec<_>>(), ids);
    for (file_id, (path, sha, err)) in &rows {
        let path = path.as_ref().expect("local path");
        assert!(path.starts_with(dir.to_str().unwrap()), "{path}");
        assert!(std::path::Path::new(path).file_name().unwrap().to_string_lossy().starts_with(&format!("{file_id}-")));
        let local = std::fs::read(path).unwrap();
        let remote = portal_file(&env, file_id).await;
        assert_eq!(sha256_hex(&local), sha256_hex(&remote));
        assert_eq!(sha.as_deref(), Some(sha256_hex(&remote).as_str()));
        assert!(err.is_none());
    }
    let (name, ext, size, kind): (String, String, i64, String) = db(&env)
        .query_row("SELECT name, extension, size, type FROM contacts__attachments WHERE extension = 'pdf' LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap();
    assert!(name.starts_with("Proposal") && ext == "pdf" && size > 2000 && kind == "DOCUMENT", "{name} {ext} {size} {kind}");

    let stats = env.store.attachment_stats("contacts").unwrap();
    assert_eq!((stats.downloaded, stats.failed, stats.uploaded), (ids.len() as u64, 0, 0));
    assert_eq!(stats.folder, dir.display().to_string());
    let on_disk: u64 = rows.values().map(|(p, _, _)| std::fs::metadata(p.as_ref().unwrap()).unwrap().len()).sum();
    assert_eq!(stats.downloaded_bytes, on_disk);

    // Re-run: nothing downloaded again, not even a signed URL asked for.
    env.reset_requests().await;
    let again = comments(&env).await;
    assert_eq!((again.attachments_downloaded, again.attachments_failed), (0, 0));
    assert_eq!(route_count(&env.requests().await, "signed-url"), 0);

    // A local copy deleted by hand comes back on the next run.
    let (gone, (path, _, _)) = rows.iter().next().unwrap();
    std::fs::remove_file(path.as_ref().unwrap()).unwrap();
    let s = comments(&env).await;
    assert_eq!(s.attachments_downloaded, 1);
    assert_eq!(sha256_hex(&std::fs::read(path.as_ref().unwrap()).unwrap()), sha256_hex(&portal_file(&env, gone).await));
}

#[tokio::test]
async fn a_missing_file_or_an_expired_url_is_a_recorded_error_per_file() {
    let env = portal_env().await;
    env.sync(&contacts_mapping(), SyncOptions::default()).await;
    comments(&env).await;
    let good = attachments(&env).len();
    assert!(good > 0);

    // A note pointing at a file HubSpot does not have.
    let (note, ids): (String, String) = db(&env)
        .query_row("SELECT note_id, attachment_ids FROM contacts__comments WHERE COALESCE(attachment_ids, '') <> '' LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    env.update("notes", &note, json!({ "hs_attachment_ids": format!("{ids};999999") })).await;
    let s = comments(&env).await;
    assert_eq!((s.attachments_downloaded, s.attachments_failed), (0, 1), "{s:?}");
    let err = attachments(&env)["999999"].2.clone().unwrap();
    assert!(err.contains("404") || err.to_lowercase().contains("not found"), "{err}");

    // A new attachment whose signed URL has expired by the time it is fetched.
    let bytes = b"late file".to_vec();
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name("late.txt"))
        .text("folderPath", "/x")
        .text("options", r#"{"access":"PRIVATE"}"#);
    let up: Value = env.http.post(format!("{}/files/v3/files", env.sb.base_url())).bearer_auth(env.sb.private_app_token()).multipart(form).send().await.unwrap().json().await.unwrap();
    let late = up["id"].as_str().unwrap().to_owned();
    env.update("notes", &note, json!({ "hs_attachment_ids": format!("{ids};999999;{late}") })).await;
    env.admin(reqwest::Method::PUT, "faults", json!({ "expiredSignedUrls": true })).await;
    let s = comments(&env).await;
    assert_eq!((s.attachments_downloaded, s.attachments_failed), (0, 2), "{s:?}");
    let err = attachments(&env)[&late].2.clone().unwrap();
    assert!(err.contains("403") && err.contains("expire"), "{err}");
    // The comments themselves still synced, and the earlier downloads are untouched.
    assert_eq!(attachments(&env).values().filter(|(_, sha, _)| sha.is_some()).count(), good);

    env.admin(reqwest::Method::DELETE, "faults", Value::Null).await;
    let s = comments(&env).await;
    assert_eq!((s.attachments_downloaded, s.attachments_failed), (1, 1), "the late file now; 999999 still missing");
    assert!(attachments(&env)[&late].1.is_some());
}

#[tokio::test]
async fn an_upload_whose_answer_was_lost_is_not_stored_twice() {
    let env = portal_env().await;
    env.sync(&contacts_mapping(), SyncOptions::default()).await;
    comments(&env).await;
    let files_in_portal = || async {
        let v: Value = env.http.get(format!("{}/_sandbox", env.sb.base_url())).send().await.unwrap().json().await.unwrap();
        v["files"].as_u64().unwrap()
    };
    let before = files_in_portal().await;
    let record: String = db(&env).query_row("SELECT _hs_id FROM contacts ORDER BY _hs_id DESC LIMIT 1", [], |r| r.get(0)).unwrap();
    let file = env.dir.path().join("Lost answer.pdf");
    let bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let conn = db(&env);
    conn.execute("INSERT INTO contacts__comments (record_id, body) VALUES (?1, 'Upload lost on the way back')", [&record]).unwrap();
    let comment = conn.last_insert_rowid();
    conn.execute("INSERT INTO contacts__attachments (comment_id, local_path) VALUES (?1, ?2)", rusqlite::params![comment, file.display().to_string()]).unwrap();
    drop(conn);

    // HubSpot stores the upload, and its answer is lost (as after a crash or a dropped link).
    env.admin(reqwest::Method::PUT, "faults", json!({ "lostAnswerRate": 1.0, "pathPrefix": "/files/v3/files" })).await;
    let s = comments(&env).await;
    env.admin(reqwest::Method::DELETE, "faults", Value::Null).await;
    assert_eq!((s.attachments_uploaded, s.attachments_failed), (0, 1), "{s:?}");
    assert_eq!(files_in_portal().await, before + 1);

    // The next run uploads again and HubSpot returns the file it already has: one copy.
    let s = comments(&env).await;
    assert_eq!((s.attachments_uploaded, s.attachments_failed), (1, 0), "{s:?}");
    assert_eq!(files_in_portal().await, before + 1);
    let (note, file_id): (String, String) = db(&env)
        .query_row("SELECT note_id, file_id FROM contacts__attachments WHERE local_path = ?1", [file.display().to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let n = api(&env, reqwest::Method::GET, &format!("/crm/v3/objects/notes/{note}?properties=hs_attachment_ids"), None).await;
    assert_eq!(n["properties"]["hs_attachment_ids"], json!(file_id));
    assert_eq!(portal_file(&env, &file_id).await, bytes);
}

#[tokio::test]
async fn a_local_file_added_to_a_comment_is_uploaded_and_attached_to_its_note() {
    let env = portal_env().await;
    env.sync(&contacts_mapping(), SyncOptions::default()).await;
    comments(&env).await;
    let record: String = db(&env).query_row("SELECT _hs_id FROM contacts ORDER BY _hs_id DESC LIMIT 1", [], |r| r.get(0)).unwrap();
    let file = env.dir.path().join("Signed order.pdf");
    let bytes: Vec<u8> = (0..50_000u32).map(|i| (i * 31 % 256) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();

    // A new comment with a local file, and a file path that does not exist.
    let conn = db(&env);
    conn.execute("INSERT INTO contacts__comments (record_id, body) VALUES (?1, 'Order signed, see attachment')", [&record]).unwrap();
    let comment = conn.last_insert_rowid();
    conn.execute("INSERT INTO contacts__attachments (comment_id, local_path) VALUES (?1, ?2)", rusqlite::params![comment, file.display().to_string()]).unwrap();
    conn.execute("INSERT INTO contacts__attachments (comment_id, local_path) VALUES (?1, '/no/such/file.pdf')", [comment]).unwrap();
    drop(conn);

    let s = comments(&env).await;
    assert_eq!((s.created, s.attachments_uploaded, s.attachments_failed), (1, 1, 1), "{s:?}");
    let (note, file_id, sha): (String, String, String) = db(&env)
        .query_row("SELECT a.note_id, a.file_id, a.sha256 FROM contacts__attachments a WHERE a.file_id IS NOT NULL AND a.direction = 'upload'", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!(sha, sha256_hex(&bytes));
    // In the portal: the note carries the file, and the file is the local bytes.
    let n = api(&env, reqwest::Method::GET, &format!("/crm/v3/objects/notes/{note}?properties=hs_attachment_ids,hs_note_body"), None).await;
    assert_eq!(n["properties"]["hs_attachment_ids"], json!(file_id));
    assert_eq!(n["properties"]["hs_note_body"], "Order signed, see attachment");
    assert_eq!(portal_file(&env, &file_id).await, bytes);
    let meta = api(&env, reqwest::Method::GET, &format!("/files/v3/files/{file_id}"), None).await;
    assert_eq!((meta["name"].as_str(), meta["extension"].as_str()), (Some("Signed order"), Some("pdf")));
    let err: String = db(&env).query_row("SELECT _error FROM contacts__attachments WHERE local_path = '/no/such/file.pdf'", [], |r| r.get(0)).unwrap();
    assert!(err.contains("local_path"), "{err}");
    let stats = env.store.attachment_stats("contacts").unwrap();
    assert_eq!((stats.uploaded, stats.pending_uploads, stats.failed), (1, 1, 1), "{stats:?}");
    assert_eq!(stats.failures[0].file, "/no/such/file.pdf");

    // Re-run: nothing uploaded again, the own upload is not downloaded, the note not rewritten.
    env.reset_requests().await;
    let again = comments(&env).await;
    assert_eq!((again.attachments_uploaded, again.attachments_downloaded, again.changed, again.updated), (0, 0, 0, 0), "{again:?}");
    let routes = env.requests().await;
    assert_eq!(route_count(&routes, "/files/v3/files"), 0, "{routes}");

    // A second file on an existing, synced comment is added next to what the note has.
    let (old_note, old_ids, old_comment): (String, String, i64) = db(&env)
        .query_row("SELECT note_id, attachment_ids, comment_id FROM contacts__comments WHERE COALESCE(attachment_ids, '') <> '' AND note_id <> ?1 LIMIT 1", [&note], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    let second = env.dir.path().join("notes.txt");
    std::fs::write(&second, "call notes").unwrap();
    db(&env).execute("INSERT INTO contacts__attachments (comment_id, local_path) VALUES (?1, ?2)", rusqlite::params![old_comment, second.display().to_string()]).unwrap();
    let s = comments(&env).await;
    assert_eq!(s.attachments_uploaded, 1);
    let n = api(&env, reqwest::Method::GET, &format!("/crm/v3/objects/notes/{old_note}?properties=hs_attachment_ids"), None).await;
    let now = n["properties"]["hs_attachment_ids"].as_str().unwrap().to_owned();
    assert!(now.starts_with(&format!("{old_ids};")) && now.split(';').count() == old_ids.split(';').count() + 1, "{old_ids} → {now}");
}
