//! The security baseline, checked on the files that configure it.

use serde_json::Value;
use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

fn build_rs_commands() -> Vec<String> {
    let build = read("build.rs");
    let list = build.split("const COMMANDS: &[&str] = &[").nth(1).unwrap().split("];").next().unwrap();
    list.split(',').map(|s| s.trim().trim_matches('"').to_owned()).filter(|s| !s.is_empty()).collect()
}

#[test]
fn csp_is_strict_and_prototype_frozen() {
    let conf: Value = serde_json::from_str(&read("tauri.conf.json")).unwrap();
    let security = &conf["app"]["security"];
    let csp = security["csp"].as_object().expect("a CSP must be set");
    assert_eq!(csp["default-src"], "'self'");
    assert_eq!(csp["script-src"], "'self'", "no inline or remote scripts");
    assert_eq!(csp["object-src"], "'none'");
    for (directive, value) in csp {
        let v = value.as_str().unwrap();
        assert!(!v.contains("http://*") && !v.contains("https:") && !v.contains('*'), "{directive} allows remote content: {v}");
        assert!(!v.contains("unsafe-eval"), "{directive} allows eval");
    }
    assert_eq!(security["freezePrototype"], true);
    assert!(conf["app"]["withGlobalTauri"] == false);
}

#[test]
fn every_command_is_granted_explicitly_and_nothing_else() {
    let commands = build_rs_commands();
    let cap: Value = serde_json::from_str(&read("capabilities/main.json")).unwrap();
    let perms: Vec<&str> = cap["permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    for cmd in &commands {
        let perm = format!("allow-{}", cmd.replace('_', "-"));
        assert!(perms.contains(&perm.as_str()), "{cmd} is listed in build.rs but not granted in capabilities/main.json");
    }
    for perm in perms.iter().filter(|p| p.starts_with("allow-")) {
        let cmd = perm.trim_start_matches("allow-").replace('-', "_");
        assert!(commands.contains(&cmd), "capability grants {perm} for a command build.rs does not declare");
    }
    assert!(!perms.iter().any(|p| p.starts_with("shell:")), "no shell plugin permissions");
}

#[test]
fn no_shell_plugin_dependency() {
    let manifest = read("Cargo.toml");
    assert!(!manifest.contains("tauri-plugin-shell"));
}
