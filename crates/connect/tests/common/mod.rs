//! Shared helpers for the integration tests: a demo portal, a service, and a scripted browser.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use spoke_connect::{BeginOAuth, ConnectConfig, Connection, Connections, OAuthAppKind};
use spoke_hubspot::Secret;
use spoke_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Env {
    pub sandbox: SandboxHandle,
    pub service: Arc<Connections>,
    pub port: u16,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub keychain_service: String,
}

/// A demo portal and a service using the real OS keychain under a throw-away service name.
pub async fn env() -> Env {
    let port = free_port();
    let sandbox = Sandbox::start(SandboxConfig {
        contacts: 20,
        extra_redirect_uris: vec![format!("http://localhost:{port}/callback")],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = ConnectConfig::new(dir.path().join("spoke.db"));
    config.open_browser = false;
    config.client.retry.base_delay = Duration::from_millis(10);
    let keychain_service = format!("dev.spoke.test.{}", spoke_connect::oauth::random_token(6));
    config.keychain_service = keychain_service.clone();
    let service = Arc::new(Connections::open(config).unwrap());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        sandbox,
        service,
        port,
        http,
        dir,
        keychain_service,
    }
}

impl Env {
    pub fn begin_request(&self) -> BeginOAuth {
        let app = self.sandbox.demo_app();
        BeginOAuth {
            label: Some("Demo".into()),
            app_kind: OAuthAppKind::Demo,
            base_url: Some(self.sandbox.base_url()),
            authorize_base_url: None,
            client_id: app.client_id,
            client_secret: Secret::new(app.client_secret),
            port: Some(self.port),
            scopes: app.scopes,
            optional_scopes: vec![],
        }
    }

    /// Plays the browser: consent page, Allow, then the redirect to the loopback listener.
    pub async fn approve(&self, authorize_url: &str) {
        let page = self
            .http
            .get(authorize_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let marker = "name=\"request_id\" value=\"";
        let start = page.find(marker).expect("consent form") + marker.len();
        let request_id = &page[start..start + page[start..].find('"').unwrap()];
        let answer = self
            .http
            .post(format!("{}/oauth/authorize", self.sandbox.base_url()))
            .form(&[("request_id", request_id), ("decision", "allow")])
            .send()
            .await
            .unwrap();
        let callback = answer.headers()["location"].to_str().unwrap().to_owned();
        let status = self.http.get(&callback).send().await.unwrap().status();
        assert_eq!(status, 200);
    }

    pub async fn connect_oauth(&self) -> Connection {
        let started = self
            .service
            .begin_oauth(self.begin_request())
            .await
            .unwrap();
        let service = self.service.clone();
        let flow = started.flow_id.clone();
        let waiting = tokio::spawn(async move { service.finish_oauth(&flow).await });
        self.approve(&started.authorize_url).await;
        waiting.await.unwrap().unwrap()
    }

    pub async fn token_calls(&self) -> u64 {
        let v: serde_json::Value = self
            .http
            .get(format!("{}/_sandbox/requests", self.sandbox.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["byRoute"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(route, _)| route.starts_with("POST /oauth/") && route.ends_with("/token"))
            .map(|(_, n)| n.as_u64().unwrap())
            .sum()
    }
}
