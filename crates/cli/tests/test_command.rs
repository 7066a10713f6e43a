//! `spoke test` as a user runs it, against a real demo portal and the real keychain (run inside
//! tests/session.sh, as `make test` does).

use spoke_sandbox::{Sandbox, SandboxConfig};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn spoke(args: &[&str], dir: &std::path::Path, stdin: &str) -> Output {
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

/// POSTs JSON to the demo portal's admin API (plain HTTP/1.1 on loopback).
fn admin(base: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    use std::io::Read;
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = body.to_string();
    write!(
        stream,
        "POST /_sandbox/{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
    let payload = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(payload).unwrap_or(serde_json::Value::Null)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread")]
async fn test_passes_on_a_healthy_portal_and_fails_with_the_fix_when_the_token_is_revoked() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = sandbox.base_url();
    let minted = admin(
        &base,
        "tokens",
        serde_json::json!({ "scopes": ["crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.read"], "kind": "private" }),
    );
    let token = minted["token"].as_str().unwrap().to_owned();
    let out = spoke(&["connect", "--token-stdin", "--json", "--label", "Demo", "--base-url", &base], dir.path(), &format!("{token}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = json(&out)["id"].as_str().unwrap().to_owned();

    // Healthy: exit 0, one JSON document with every step.
    let out = spoke(&["test", &id, "--json", "--write-probe"], dir.path(), "");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let run = json(&out);
    assert_eq!(run["passed"], true);
    let steps = run["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["id"] == "read.contacts" && s["status"] == "pass"), "{run}");
    assert!(steps.iter().any(|s| s["id"] == "write_probe" && s["status"] == "pass"), "{run}");

    // By label, in text, with the report saved.
    let report = dir.path().join("out/report.md");
    let out = spoke(&["test", "demo", "--report", report.to_str().unwrap()], dir.path(), "");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("PASS  Reach the HubSpot API") && text.contains("Test passed"), "{text}");
    let md = std::fs::read_to_string(&report).unwrap();
    let js = std::fs::read_to_string(report.with_extension("json")).unwrap();
    assert!(md.contains("PASSED") && js.contains("spoke.diagnostics.v1"));
    assert!(!md.contains(&token) && !js.contains(&token), "no token in the report");

    // Revoked: exit 1; JSON has the diagnosis, text has the fix.
    admin(&base, "tokens/revoke", serde_json::json!({ "token": token }));
    let out = spoke(&["test", &id, "--json"], dir.path(), "");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let run = json(&out);
    assert_eq!(run["passed"], false);
    let token_step = run["steps"].as_array().unwrap().iter().find(|s| s["id"] == "token").unwrap().clone();
    assert_eq!(token_step["status"], "fail");
    assert_eq!(token_step["diagnosis"]["code"], "token_rejected");
    let out = spoke(&["test", &id], dir.path(), "");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stdout.contains("FAIL  Access token") && stdout.contains("fix: "), "{stdout}");
    assert!(stderr.contains("1 check failed: Access token"), "{stderr}");

    // Unknown connection: usage error.
    let out = spoke(&["test", "nope", "--json"], dir.path(), "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out)["code"], "connect.not_found");
    sandbox.shutdown().await;
}
