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
