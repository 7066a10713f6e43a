//! `spoke push`, `spoke deadletters`, `spoke resend` against a real demo portal: local rows
//! written by another program are pushed, a refused row is listed with its fix and resent.

use spoke_sandbox::{Sandbox, SandboxConfig};
use std::io::Write;
use std::process::{Command, Output, Stdio};

const MAPPING: &str = r#"{
  "version": 1,
  "name": "People",
  "object": "contacts",
  "destination": { "kind": "spoke", "table": "people" },
  "matchKey": { "kind": "property", "property": "email", "column": "email" },
  "fields": [
    { "property": "email", "column": "email", "direction": "both" },
    { "property": "firstname", "column": "first_name", "direction": "both" }
  ]
}
"#;

fn run(args: &[&str], dir: &std::path::Path, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spoke"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn show(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn push_lists_dead_letters_and_resends_after_a_fix() {
    let sandbox = Sandbox::start(SandboxConfig {
        contacts: 40,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = format!("{}\n", sandbox.private_app_token());
    let out = run(
        &[
            "connect",
            "--token-stdin",
            "--json",
            "--base-url",
            &sandbox.base_url(),
        ],
        dir.path(),
        &token,
    );
    assert!(out.status.success(), "{}", show(&out));
    let portal = sandbox.portal_id().to_string();
    let file = dir.path().join("people.json");
    std::fs::write(&file, MAPPING).unwrap();
    let out = run(
        &[
            "mapping",
            "import",
            &portal,
            file.to_str().unwrap(),
            "--json",
        ],
        dir.path(),
        "",
    );
    assert!(out.status.success(), "{}", show(&out));
    let out = run(&["sync", &portal, "People", "--json"], dir.path(), "");
    assert!(out.status.success(), "{}", show(&out));

    // The synced table exported as CSV (stdout) and JSON Lines (a file): one row per record.
    let out = run(&["export", &portal, "People"], dir.path(), "");
    assert!(out.status.success(), "{}", show(&out));
    let csv = String::from_utf8(out.stdout.clone()).unwrap();
    let rows: i64 = rusqlite::Connection::open(dir.path().join("store.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM people WHERE _hs_archived = 0", [], |r| r.get(0))
        .unwrap();
    assert!(csv.starts_with("_hs_id,"), "{csv}");
    assert!(rows > 0);
    let file = dir.path().join("people.jsonl");
    let out = run(&["export", &portal, "People", "--format", "jsonl", "--out", file.to_str().unwrap()], dir.path(), "");
    assert!(out.status.success(), "{}", show(&out));
    let jsonl = std::fs::read_to_string(&file).unwrap();
    assert_eq!(jsonl.lines().count() as i64, rows);
    assert!(jsonl.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["_hs_id"].is_string()));

    // Nothing changed: nothing pushed.
    let out = run(&["push", &portal, "People", "--json"], dir.path(), "");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(json(&out)["pending"], 0);

    let db = rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
    db.execute(
        "INSERT INTO people (email, first_name) VALUES ('cli.new@example.com', 'Cli')",
        [],
    )
    .unwrap();
    db.execute(
        "INSERT INTO people (email, first_name) VALUES ('broken-address', 'Broken')",
        [],
    )
    .unwrap();

    let out = run(&["push", &portal, "People", "--json"], dir.path(), "");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let s = json(&out);
    assert_eq!(
        (s["created"].as_u64(), s["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).is_empty(),
        "progress goes to stderr"
    );

    let out = run(&["deadletters", &portal, "--json"], dir.path(), "");
    assert!(out.status.success(), "{}", show(&out));
    let list = json(&out);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["rowKey"], "broken-address");
    assert_eq!(list[0]["category"], "VALIDATION_ERROR");
    assert!(!list[0]["fix"].as_str().unwrap().is_empty());
    let text = run(&["deadletters"], dir.path(), "");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("fix:"),
        "{}",
        show(&text)
    );

    // Neither a row nor --all: usage error.
    let out = run(&["resend", &portal, "People"], dir.path(), "");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    // An unknown row key is named.
    let out = run(
        &["resend", &portal, "People", "nobody@example.com", "--json"],
        dir.path(),
        "",
    );
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(json(&out)["code"], "engine.no_such_dead_letter");

    db.execute(
        "UPDATE people SET email = 'broken@example.com' WHERE email = 'broken-address'",
        [],
    )
    .unwrap();
    let out = run(
        &["resend", &portal, "People", "broken-address", "--json"],
        dir.path(),
        "",
    );
    assert!(out.status.success(), "{}", show(&out));
    let s = json(&out);
    assert_eq!(
        (s["created"].as_u64(), s["rejected"].as_u64()),
        (Some(1), Some(0)),
        "{s}"
    );
    let out = run(&["deadletters", "--json"], dir.path(), "");
    assert_eq!(json(&out).as_array().unwrap().len(), 0);

    // The runs history shows the writes.
    let out = run(&["runs", "--json"], dir.path(), "");
    let runs = json(&out);
    assert_eq!(
        runs.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["mode"] == "write")
            .count(),
        3,
        "{runs}"
    );
    sandbox.shutdown().await;
}

const TWO_WAY: &str = r#"{
  "version": 1,
  "name": "People",
  "object": "contacts",
  "destination": { "kind": "spoke", "table": "people" },
  "matchKey": { "kind": "property", "property": "email", "column": "email" },
  "fields": [
    { "property": "email", "column": "email", "direction": "both" },
    { "property": "firstname", "column": "first_name", "direction": "both" }
  ],
  "twoWay": { "conflictPolicy": "ask" }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn conflicts_are_listed_and_resolved() {
    let sandbox = Sandbox::start(SandboxConfig {
        contacts: 20,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = format!("{}\n", sandbox.private_app_token());
    let out = run(
        &[
            "connect",
            "--token-stdin",
            "--json",
            "--base-url",
            &sandbox.base_url(),
        ],
        dir.path(),
        &token,
    );
    assert!(out.status.success(), "{}", show(&out));
    let portal = sandbox.portal_id().to_string();
    let file = dir.path().join("people.json");
    std::fs::write(&file, TWO_WAY).unwrap();
    let out = run(
        &[
            "mapping",
            "import",
            &portal,
            file.to_str().unwrap(),
            "--json",
        ],
        dir.path(),
        "",
    );
    assert!(out.status.success(), "{}", show(&out));
    let out = run(&["sync", &portal, "People", "--json"], dir.path(), "");
    assert!(out.status.success(), "{}", show(&out));
    let out = run(&["conflicts", "--json"], dir.path(), "");
    assert_eq!(json(&out).as_array().unwrap().len(), 0, "{}", show(&out));

    // The same field edited locally and in HubSpot.
    let db = rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
    let id: String = db
        .query_row(
            "SELECT _hs_id FROM people WHERE email IS NOT NULL ORDER BY rowid LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db.execute(
        "UPDATE people SET first_name = 'Local' WHERE _hs_id = ?1",
        [&id],
    )
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/objects/contacts/{id}/update",
            sandbox.base_url()
        ))
        .json(&serde_json::json!({ "properties": { "firstname": "InHubSpot" } }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let out = run(&["sync", &portal, "People", "--json"], dir.path(), "");
    assert!(out.status.success(), "{}", show(&out));

    let out = run(&["conflicts", &portal, "--json"], dir.path(), "");
    assert!(out.status.success(), "{}", show(&out));
    let list = json(&out);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let c = &list[0];
    assert_eq!(
        (
            c["property"].as_str(),
            c["localValue"].as_str(),
            c["hubspotValue"].as_str(),
            c["policy"].as_str()
        ),
        (
            Some("firstname"),
            Some("Local"),
            Some("InHubSpot"),
            Some("ask")
        ),
        "{c}"
    );
    let text = run(&["conflicts"], dir.path(), "");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("spoke resolve"),
        "{}",
        show(&text)
    );
    // Pushing leaves the open conflict alone.
    let out = run(&["push", &portal, "People", "--json"], dir.path(), "");
    assert!(out.status.success(), "{}", show(&out));

    let cid = c["id"].as_i64().unwrap().to_string();
    let out = run(
        &["resolve", &cid, "--keep", "hubspot", "--json"],
        dir.path(),
        "",
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(json(&out)["kept"], "hubSpot");
    let first: String = db
        .query_row(
            "SELECT first_name FROM people WHERE _hs_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(first, "InHubSpot");
    let out = run(
        &["resolve", &cid, "--keep", "local", "--json"],
        dir.path(),
        "",
    );
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    assert_eq!(json(&out)["code"], "engine.conflict_resolved");
    let out = run(
        &["resolve", "999", "--keep", "local", "--json"],
        dir.path(),
        "",
    );
    assert_eq!(json(&out)["code"], "engine.no_such_conflict");
    let out = run(&["resolve", &cid, "--keep", "sideways"], dir.path(), "");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = run(&["conflicts", "--json"], dir.path(), "");
    assert_eq!(json(&out).as_array().unwrap().len(), 0);
    let out = run(&["conflicts", "--all", "--json"], dir.path(), "");
    assert_eq!(json(&out)[0]["resolvedBy"], "user");
    sandbox.shutdown().await;
}
