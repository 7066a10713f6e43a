//! The `spoke` binary as a user runs it.

use std::process::Command;

fn spoke() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spoke"))
}

#[test]
fn help_documents_exit_codes_and_json() {
    let out = spoke().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--json"), "{text}");
    assert!(text.contains("Exit codes:") && text.contains("  3  connection"), "{text}");
}

#[test]
fn version_prints_package_version() {
    let out = spoke().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), format!("spoke {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn info_json_reports_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = spoke().args(["info", "--json", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data_dir"], dir.path().display().to_string());
    assert!(v["log_file"].as_str().unwrap().ends_with("logs/spoke.log"));
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = spoke().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

mod against_the_demo_portal {
    //! `spoke connect | connections | disconnect` against a real demo portal and the real
    //! keychain (run inside tests/session.sh, as `make test` does).

    use super::spoke;
    use spoke_sandbox::{Sandbox, SandboxConfig};
    use std::io::Write;
    use std::process::{Output, Stdio};

    fn run_with_stdin(args: &[&str], dir: &std::path::Path, stdin: &str) -> Output {
        let mut child = spoke()
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

    #[tokio::test(flavor = "multi_thread")]
    async fn token_connect_list_and_disconnect() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let base = sandbox.base_url();
        let token = format!("{}\n", sandbox.private_app_token());

        let out = run_with_stdin(&["connect", "--token-stdin", "--json", "--base-url", &base], dir.path(), &token);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let conn = json(&out);
        assert_eq!(conn["portalId"], sandbox.portal_id());
        assert_eq!(conn["method"], "token");
        let id = conn["id"].as_str().unwrap().to_owned();

        let out = run_with_stdin(&["connections", "--json"], dir.path(), "");
        let list = json(&out);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["id"], id.as_str());
        assert!(!String::from_utf8_lossy(&out.stdout).contains(sandbox.private_app_token().as_str()));

        let out = run_with_stdin(&["disconnect", &id, "--json"], dir.path(), "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        let out = run_with_stdin(&["connections", "--json"], dir.path(), "");
        assert_eq!(json(&out).as_array().unwrap().len(), 0);
        sandbox.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_pasted_client_secret_is_refused_before_calling_hubspot() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let secret = format!("{}\n", sandbox.demo_app().client_secret);
        let out = run_with_stdin(&["connect", "--token-stdin", "--json", "--base-url", &sandbox.base_url()], dir.path(), &secret);
        assert_eq!(out.status.code(), Some(3));
        let problem = json(&out);
        assert_eq!(problem["code"], "connect.token_format");
        assert!(problem["hint"].as_str().unwrap().to_lowercase().contains("private app"), "{problem}");
        sandbox.shutdown().await;
    }

    #[test]
    fn no_keychain_is_a_credentials_error_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let out = spoke()
            .args(["connect", "--token-stdin", "--json", "--data-dir"])
            .arg(dir.path())
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(b"pat-na1-11111111-2222-3333-4444-555555555555\n")?;
                c.wait_with_output()
            })
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stdout));
        let problem = json(&out);
        assert!(problem["code"].as_str().unwrap().starts_with("connect.keychain"), "{problem}");
        assert!(problem["hint"].as_str().is_some());
    }

    #[test]
    fn scopes_for_a_preset_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let out = run_with_stdin(&["scopes", "--list-presets", "--json"], dir.path(), "");
        let presets = json(&out);
        let first = presets[0]["id"].as_str().unwrap().to_owned();
        let out = run_with_stdin(&["scopes", "--preset", &first, "--write", "deals"], dir.path(), "");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("crm.objects.deals.write"), "{text}");
        let out = run_with_stdin(&["scopes", "--read", "gizmos"], dir.path(), "");
        assert_eq!(out.status.code(), Some(2));
    }
}

mod sync_against_the_demo_portal {
    //! `spoke mapping import`, `spoke sync`, `spoke runs` against a real demo portal.

    use super::against_the_demo_portal_helpers::*;
    use spoke_sandbox::{Sandbox, SandboxConfig};

    const MAPPING: &str = r#"{
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

    #[tokio::test(flavor = "multi_thread")]
    async fn import_sync_and_history() {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let token = format!("{}\n", sandbox.private_app_token());
        let out = run(&["connect", "--token-stdin", "--json", "--base-url", &sandbox.base_url()], dir.path(), &token);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        let portal = sandbox.portal_id().to_string();

        // a mapping with a property the portal does not have is refused, naming line and field
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, MAPPING.replace("\"firstname\"", "\"first_nme\"")).unwrap();
        let out = run(&["mapping", "import", &portal, bad.to_str().unwrap(), "--json"], dir.path(), "");
        assert_ne!(out.status.code(), Some(0));
        let problem = json(&out);
        let message = problem["message"].as_str().unwrap();
        assert!(message.contains("first_nme") && message.contains("line 9"), "{problem}");

        let good = dir.path().join("good.json");
        std::fs::write(&good, MAPPING).unwrap();
        let out = run(&["mapping", "import", &portal, good.to_str().unwrap(), "--json"], dir.path(), "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        let file = json(&out)["file"].as_str().unwrap().to_owned();

        let out = run(&["sync", &portal, &file, "--json"], dir.path(), "");
        assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let summary = json(&out);
        let read = summary["counts"]["read"].as_u64().unwrap();
        assert!(read > 400, "{summary}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty(), "progress goes to stderr");

        // the synced contacts' notes as comments
        let out = run(&["comments", &portal, &file, "--json"], dir.path(), "");
        assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let comments = json(&out);
        assert!(comments["read"].as_u64().unwrap() > 0, "{comments}");
        assert_eq!(comments["added"], comments["read"], "{comments}");
        assert_eq!(comments["created"].as_u64(), Some(0), "{comments}");
        // the seeded notes' attachments, downloaded next to the store
        let downloaded = comments["attachmentsDownloaded"].as_u64().unwrap();
        assert!(downloaded >= 8, "{comments}");
        assert_eq!(comments["attachmentsFailed"].as_u64(), Some(0), "{comments}");
        let files = std::fs::read_dir(dir.path().join("attachments").join("contacts")).unwrap().count() as u64;
        assert_eq!(files, downloaded);
        let out = run(&["comments", &portal, &file], dir.path(), "");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("attachments: 0 downloaded") && text.contains("0 uploaded"), "{text}");

        let out = run(&["runs", "--json"], dir.path(), "");
        let runs = json(&out);
        assert_eq!(runs.as_array().unwrap().len(), 1);
        assert_eq!(runs[0]["counts"]["read"].as_u64(), Some(read));

        let out = run(&["mapping", "export", &portal, "Contacts"], dir.path(), "");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), spoke_mapping_roundtrip(MAPPING));
        sandbox.shutdown().await;
    }

    fn spoke_mapping_roundtrip(text: &str) -> String {
        spoke_mapping::Mapping::from_json_str(text).unwrap().to_json_pretty()
    }
}

mod against_the_demo_portal_helpers {
    use super::spoke;
    use std::io::Write;
    use std::process::{Output, Stdio};

    pub fn run(args: &[&str], dir: &std::path::Path, stdin: &str) -> Output {
        let mut child = spoke()
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

    pub fn json(out: &Output) -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}
