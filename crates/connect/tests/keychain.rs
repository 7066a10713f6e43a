//! Tests of the keychain itself, against the real Secret Service. They need a session bus with an
//! unlocked keyring, so they are ignored by default; run them with
//! `crates/connect/scripts/keychain-tests.sh`, which does this in a throw-away HOME:
//!
//! ```sh
//! HOME=$PWD/kr-home XDG_RUNTIME_DIR=$PWD/kr-run dbus-run-session -- bash -c \
//!   'echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; \
//!    cargo nextest run -p spoke-connect --run-ignored all'
//! ```

mod common;

use spoke_connect::keychain::{entry_user, Keychain, SecretKind, SecretStore};
use spoke_hubspot::{Describe, Secret};

fn unique_service() -> String {
    format!("dev.spoke.test.{}", spoke_connect::oauth::random_token(6))
}

/// What `secret-tool` (libsecret, outside Spoke) sees for an entry, if the tool is installed.
fn secret_tool_lookup(service: &str, user: &str) -> Option<String> {
    let out = std::process::Command::new("secret-tool")
        .args(["lookup", "service", service, "username", user])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
#[ignore = "needs an unlocked Secret Service on the session bus (see the file header)"]
fn secrets_round_trip_through_the_os_keychain_under_namespaced_entries() {
    let service = unique_service();
    let keychain = Keychain::new(service.clone());
    keychain.check().expect("keychain available");
    assert!(keychain.get("c1", SecretKind::Refresh).unwrap().is_none());
    keychain
        .set("c1", SecretKind::Refresh, &Secret::from("rt-123"))
        .unwrap();
    keychain
        .set("c2", SecretKind::Refresh, &Secret::from("rt-456"))
        .unwrap();
    assert_eq!(
        keychain
            .get("c1", SecretKind::Refresh)
            .unwrap()
            .unwrap()
            .expose(),
        "rt-123"
    );
    assert_eq!(
        keychain
            .get("c2", SecretKind::Refresh)
            .unwrap()
            .unwrap()
            .expose(),
        "rt-456"
    );
    assert!(
        keychain.get("c1", SecretKind::Access).unwrap().is_none(),
        "kinds are separate entries"
    );
    if let Some(seen) = secret_tool_lookup(&service, &entry_user("c1", SecretKind::Refresh)) {
        assert_eq!(
            seen, "rt-123",
            "the entry is service={service}, username=conn:c1:refresh"
        );
    }
    keychain
        .set("c1", SecretKind::Refresh, &Secret::from("rt-rotated"))
        .unwrap();
    assert_eq!(
        keychain
            .get("c1", SecretKind::Refresh)
            .unwrap()
            .unwrap()
            .expose(),
        "rt-rotated"
    );
    keychain.delete("c1", SecretKind::Refresh).unwrap();
    keychain.delete("c1", SecretKind::Refresh).unwrap();
    assert!(keychain.get("c1", SecretKind::Refresh).unwrap().is_none());
    keychain.delete("c2", SecretKind::Refresh).unwrap();
}

#[tokio::test]
#[ignore = "needs an unlocked Secret Service on the session bus (see the file header)"]
async fn oauth_connection_keeps_tokens_only_in_the_keychain_and_disconnect_removes_them() {
    let env = common::env().await;
    let conn = env.connect_oauth().await;
    let keychain = Keychain::new(env.keychain_service.clone());
    let mut values = Vec::new();
    for kind in SecretKind::ALL {
        let value = keychain
            .get(&conn.id, kind)
            .unwrap()
            .unwrap_or_else(|| panic!("{kind:?} in the keychain"));
        values.push(value.expose().clone());
    }
    assert_eq!(values[2], env.sandbox.demo_app().client_secret);
    // Nothing secret in the database file (or its journal).
    for entry in std::fs::read_dir(env.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for value in &values {
            assert!(
                !text.contains(value.as_str()),
                "a secret reached a file Spoke wrote"
            );
        }
    }
    // A fresh service (an app restart) reads the token back from the keychain.
    let mut config = spoke_connect::ConnectConfig::new(env.dir.path().join("spoke.db"));
    config.keychain_service = env.keychain_service.clone();
    let restarted = spoke_connect::Connections::open(config).unwrap();
    assert_eq!(
        restarted.access_token(&conn.id).await.unwrap().expose(),
        &values[0]
    );
    restarted
        .client(&conn.id)
        .unwrap()
        .list_objects("contacts", &Default::default())
        .await
        .unwrap();

    let report = env.service.disconnect(&conn.id).await.unwrap();
    assert!(report.revoked);
    for kind in SecretKind::ALL {
        assert!(
            keychain.get(&conn.id, kind).unwrap().is_none(),
            "{kind:?} deleted"
        );
    }
}

#[tokio::test]
#[ignore = "needs an unlocked Secret Service on the session bus (see the file header)"]
async fn refresh_under_load_with_the_real_keychain_calls_hubspot_once_and_persists_the_token() {
    let env = common::env().await;
    let conn = env.connect_oauth().await;
    let keychain = Keychain::new(env.keychain_service.clone());
    let before_access = keychain.get(&conn.id, SecretKind::Access).unwrap().unwrap();
    // An app restart long after the token expired: nothing cached, the stored expiry is past.
    let store = spoke_connect::ConnectionStore::open(&env.dir.path().join("spoke.db")).unwrap();
    store.record_refresh(&conn.id, 0, None, None).unwrap();
    let mut config = spoke_connect::ConnectConfig::new(env.dir.path().join("spoke.db"));
    config.keychain_service = env.keychain_service.clone();
    let restarted = std::sync::Arc::new(spoke_connect::Connections::open(config).unwrap());
    let calls_before = env.token_calls().await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let service = restarted.clone();
        let id = conn.id.clone();
        tasks.push(tokio::spawn(async move { service.access_token(&id).await }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap().unwrap());
    }
    assert_eq!(env.token_calls().await - calls_before, 1);
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    assert_ne!(tokens[0], before_access);
    assert_eq!(
        keychain.get(&conn.id, SecretKind::Access).unwrap().unwrap(),
        tokens[0]
    );
    env.service.disconnect(&conn.id).await.unwrap();
}

#[tokio::test]
#[ignore = "needs an unlocked Secret Service on the session bus (see the file header)"]
async fn token_connection_round_trip_with_the_real_keychain() {
    let env = common::env().await;
    let conn = env
        .service
        .add_token(spoke_connect::AddToken {
            label: None,
            base_url: Some(env.sandbox.base_url()),
            token: Secret::new(env.sandbox.private_app_token()),
        })
        .await
        .unwrap();
    let keychain = Keychain::new(env.keychain_service.clone());
    assert_eq!(
        keychain
            .get(&conn.id, SecretKind::Access)
            .unwrap()
            .unwrap()
            .expose(),
        &env.sandbox.private_app_token()
    );
    assert!(keychain
        .get(&conn.id, SecretKind::Refresh)
        .unwrap()
        .is_none());
    let report = env.service.disconnect(&conn.id).await.unwrap();
    assert!(
        !report.revoked && report.note.is_none(),
        "tokens are not revocable through the API"
    );
    assert!(keychain
        .get(&conn.id, SecretKind::Access)
        .unwrap()
        .is_none());
    let err = env.service.access_token(&conn.id).await.unwrap_err();
    assert_eq!(err.code(), "connect.not_found");
}
