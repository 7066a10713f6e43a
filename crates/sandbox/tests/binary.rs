//! The `spoke-sandbox` binary: flags, startup output, and the library's startup time.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_spoke-sandbox");

#[test]
fn help_documents_every_flag() {
    let out = Command::new(BIN).arg("--help").output().expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--port", "--seed", "--tier", "--contacts", "--latency-ms", "--token", "--access-token-ttl", "--redirect-uri", "--search-lag-ms", "--no-rate-limits", "--error-rate", "--portal-id", "--json"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    assert!(help.contains("free, starter, pro or enterprise"));
}

#[test]
fn rejects_an_unknown_tier() {
    let out = Command::new(BIN).args(["--tier", "platinum"]).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("platinum"));
}

#[tokio::test]
async fn prints_credentials_and_serves_them() {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--json", "--seed", "9", "--tier", "starter", "--contacts", "120", "--token", "pat-na1-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "--redirect-uri", "http://localhost:4444/cb"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("line");
    let info: serde_json::Value = serde_json::from_str(&line).expect("json line");
    assert_eq!(info["privateAppToken"], "pat-na1-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
    assert!(info["redirectUris"].as_array().unwrap().iter().any(|u| u == "http://localhost:4444/cb"));
    assert!(info["redirectUris"].as_array().unwrap().iter().any(|u| u == "http://localhost:53135/callback"));
    assert!(info["clientId"].as_str().unwrap().len() == 36 && info["clientSecret"].as_str().unwrap().len() == 36);
    let base = info["baseUrl"].as_str().unwrap();
    assert!(base.starts_with("http://127.0.0.1:"));
    let r = reqwest::Client::new().get(format!("{base}/crm/v3/objects/contacts?limit=1")).bearer_auth(info["privateAppToken"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-hubspot-ratelimit-max"], "100", "starter tier");
    let admin: serde_json::Value = reqwest::get(format!("{base}/_sandbox")).await.unwrap().json().await.unwrap();
    assert_eq!(admin["objects"]["contacts"]["live"].as_u64().unwrap() + admin["objects"]["contacts"]["archived"].as_u64().unwrap(), 120);
    child.kill().ok();
    child.wait().ok();
}

#[tokio::test]
async fn default_startup_is_well_under_a_second() {
    let t = Instant::now();
    let sb = spoke_sandbox::Sandbox::start(spoke_sandbox::SandboxConfig::default()).await.expect("start");
    let took = t.elapsed();
    assert!(took < Duration::from_millis(500), "startup took {took:?}");
    assert!(sb.base_url().starts_with("http://127.0.0.1:") && !sb.base_url().ends_with('/'));
    sb.shutdown().await;
}
