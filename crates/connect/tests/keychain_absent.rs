//! No keychain at all (no Secret Service on the bus): a clear error with the fix, and no file
//! fallback. Runs everywhere on Linux: it points the process at a bus that does not exist.
//! Its own test binary, because the environment change is process-wide.

#![cfg(target_os = "linux")]

mod common;

use spoke_connect::keychain::{Keychain, SecretKind, SecretStore};
use spoke_connect::{AddToken, ConnectConfig, Connections};
use spoke_hubspot::{Describe, Secret};

#[tokio::test]
async fn no_secret_service_is_a_clear_error_and_nothing_is_written() {
    // Before the first keychain use, which fixes the store for the process.
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/spoke-test-bus",
    );
    let keychain = Keychain::new("dev.spoke.test.absent");
    let err = keychain.check().unwrap_err();
    assert_eq!(err.code(), "connect.keychain_unavailable", "{err}");
    assert!(err.hint().unwrap().contains("Secret Service"));
    let err = keychain
        .set("c1", SecretKind::Access, &Secret::from("pat-na1-x"))
        .unwrap_err();
    assert_eq!(err.code(), "connect.keychain_unavailable");

    let sandbox = spoke_sandbox::Sandbox::start(spoke_sandbox::SandboxConfig {
        contacts: 5,
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = ConnectConfig::new(dir.path().join("spoke.db"));
    config.keychain_service = "dev.spoke.test.absent".into();
    config.open_browser = false;
    let service = Connections::open(config).unwrap();
    let token = sandbox.private_app_token();
    let err = service
        .add_token(AddToken {
            label: None,
            base_url: Some(sandbox.base_url()),
            token: Secret::new(token.clone()),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "connect.keychain_unavailable");
    assert!(err.hint().unwrap().contains("never in a file"));
    assert!(service.list().await.unwrap().is_empty());
    let app = sandbox.demo_app();
    let err = service
        .begin_oauth(spoke_connect::BeginOAuth {
            label: None,
            app_kind: spoke_connect::OAuthAppKind::Demo,
            base_url: Some(sandbox.base_url()),
            authorize_base_url: None,
            client_id: app.client_id,
            client_secret: Secret::new(app.client_secret.clone()),
            port: Some(common::free_port()),
            scopes: app.scopes,
            optional_scopes: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "connect.keychain_unavailable");
    // No file anywhere in the data folder holds the token or the client secret.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&token) && !text.contains(&app.client_secret));
    }
}
