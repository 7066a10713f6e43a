//! `spoke sync --all` (for cron) against a real demo portal: every saved mapping of every
//! connection, a JSON summary, exit code 1 when any failed.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use spoke_sandbox::{Sandbox, SandboxConfig};

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
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

const CONTACTS: &str = r#"{
  "version": 1,
  "name": "Contacts",
  "object": "contacts",
  "destination": { "kind": "spoke", "table": "contacts" },
  "matchKey": { "kind": "property", "property": "email", "column": "email" },
  "fields": [
    { "property": "email", "column": "email", "direction": "toLocal" },
    { "property": "firstname", "column": "first_name", "direction": "toLocal" }
  ]
}
"#;

const COMPANIES: &str = r#"{
  "version": 1,
  "name": "Companies",
  "object": "companies",
  "destination": { "kind": "spoke", "table": "companies" },
  "matchKey": { "kind": "recordId", "column": "hubspot_id" },
  "fields": [
    { "property": "name", "column": "name", "direction": "toLocal" },
    { "property": "domain", "column": "domain", "direction": "toLocal" }
  ]
}
"#;

fn find_file(root: &std::path::Path, name: &str) -> std::path::PathBuf {
    for entry in std::fs::read_dir(root).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            if let Ok(found) = std::panic::catch_unwind(|| find_file(&p, name)) {
                return found;
            }
        } else if p.file_name().and_then(|n| n.to_str()) == Some(name) {
            return p;
        }
    }
    panic!("{name} not under {}", root.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_all_runs_every_saved_mapping_and_fails_when_one_does() {
    let sandbox = Sandbox::start(SandboxConfig { contacts: 200, ..SandboxConfig::default() }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = format!("{}\n", sandbox.private_app_token());
    let out = run(&["connect", "--token-stdin", "--json", "--base-url", &sandbox.base_url()], dir.path(), &token);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let portal = sandbox.portal_id().to_string();

    // Nothing saved yet: nothing to do, success.
    let out = run(&["sync", "--all", "--json"], dir.path(), "");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out)["syncs"].as_array().unwrap().len(), 0);

    for (name, text) in [("contacts.json", CONTACTS), ("companies.json", COMPANIES)] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = run(&["mapping", "import", &portal, path.to_str().unwrap(), "--json"], dir.path(), "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
    let out = run(&["sync", "--all", "--json"], dir.path(), "");
    assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let summary = json(&out);
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["synced"], 2);
    let syncs = summary["syncs"].as_array().unwrap();
    let names: Vec<&str> = syncs.iter().map(|s| s["mapping"].as_str().unwrap()).collect();
    assert!(names.contains(&"Contacts") && names.contains(&"Companies"), "{names:?}");
    for s in syncs {
        assert_eq!(s["summary"]["status"], "succeeded", "{s}");
        assert!(s["summary"]["counts"]["read"].as_u64().unwrap() > 0, "{s}");
    }
    // Both runs are in the history, like manual ones.
    let runs = json(&run(&["runs", "--json"], dir.path(), ""));
    assert_eq!(runs.as_array().unwrap().len(), 2);

    // A mapping that cannot sync (its table is a name the engine keeps for itself): the others
    // still run, the summary says which failed and why, and the exit code is 1.
    let saved = find_file(&dir.path().join("mappings"), "companies.json");
    let broken = std::fs::read_to_string(&saved)
        .unwrap()
        .replace("\"Companies\"", "\"Broken\"")
        .replace("\"table\": \"companies\"", "\"table\": \"_spoke_reserved\"");
    assert!(broken.contains("_spoke_reserved"), "{broken}");
    std::fs::write(saved.with_file_name("broken.json"), broken).unwrap();
    let out = run(&["sync", "--all", "--json"], dir.path(), "");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let summary = json(&out);
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["synced"], 2);
    let bad = summary["syncs"].as_array().unwrap().iter().find(|s| s["mapping"] == "Broken").unwrap();
    assert_eq!(bad["ok"], false);
    assert!(bad["problem"]["message"].as_str().unwrap().contains("_spoke_reserved"), "{bad}");
    // Text mode says the same, and the failure goes to stderr.
    let out = run(&["sync", "--all"], dir.path(), "");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 synced, 1 failed"), "{text}");
    // CONNECTION and MAPPING, or --all.
    let out = run(&["sync"], dir.path(), "");
    assert_eq!(out.status.code(), Some(2));
    sandbox.shutdown().await;
}
