//! The unit tests' demo-portal environment (service and checks): a demo portal, a service over
//! the in-memory secret store, and a scripted browser. The integration tests (`tests/common`)
//! build the same over the real keychain through the public API only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use spoke_hubspot::Secret;
use spoke_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

use crate::keychain::memory::MemoryStore;
use crate::service::{AddToken, BeginOAuth, ConnectConfig, Connections};
use crate::store::Connection;
use crate::store::{ConnectionStore, OAuthAppKind};

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct Env {
    pub sandbox: SandboxHandle,
    pub service: Arc<Connections>,
    pub secrets: Arc<MemoryStore>,
    pub port: u16,
    pub http: reqwest::Client,
    pub db: PathBuf,
    _dir: tempfile::TempDir,
}

/// A portal with `contacts` contacts, `sandbox` and `tweak` applied to the two configurations.
pub(crate) async fn env_with(
    contacts: usize,
    sandbox: impl FnOnce(&mut SandboxConfig),
    tweak: impl FnOnce(&mut ConnectConfig),
) -> Env {
    let port = free_port();
    let mut cfg = SandboxConfig {
        contacts,
        extra_redirect_uris: vec![format!("http://localhost:{port}/callback")],
        ..SandboxConfig::default()
    };
    sandbox(&mut cfg);
    let sandbox = Sandbox::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = ConnectConfig::new(dir.path().join("spoke.db"));
    config.open_browser = false;
    config.client.retry.base_delay = Duration::from_millis(10);
    tweak(&mut config);
    let db = config.db_path.clone();
    let store = ConnectionStore::open(&db).unwrap();
    let secrets = Arc::new(MemoryStore::default());
    let service = Arc::new(Connections::with_parts(config, store, secrets.clone()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        sandbox,
        service,
        secrets,
        port,
        http,
        db,
        _dir: dir,
    }
}

impl Env {
    /// The demo app's OAuth request, with these optional scopes.
    pub fn begin_request_with(&self, optional_scopes: &[&str]) -> BeginOAuth {
        let app = self.sandbox.demo_app();
        BeginOAuth {
            label: None,
            app_kind: OAuthAppKind::Demo,
            base_url: Some(self.sandbox.base_url()),
            authorize_base_url: None,
            client_id: app.client_id,
            client_secret: Secret::new(app.client_secret),
            port: Some(self.port),
            scopes: app.scopes,
            optional_scopes: optional_scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub async fn add_token(&self, token: &str) -> Connection {
        self.service
            .add_token(AddToken {
                label: Some("Test portal".into()),
                base_url: Some(self.sandbox.base_url()),
                token: Secret::new(token.to_owned()),
            })
            .await
            .unwrap()
    }

    /// Plays the browser: opens the consent page, clicks Allow or Deny, and returns the
    /// callback URL HubSpot redirects to (not yet visited).
    pub async fn consent(&self, authorize_url: &str, decision: &str) -> String {
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
        let start = page
            .find(marker)
            .unwrap_or_else(|| panic!("no consent form in {page}"))
            + marker.len();
        let request_id = &page[start..start + page[start..].find('"').unwrap()];
        let answer = self
            .http
            .post(format!("{}/oauth/authorize", self.sandbox.base_url()))
            .form(&[("request_id", request_id), ("decision", decision)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 302);
        answer.headers()["location"].to_str().unwrap().to_owned()
    }

    pub async fn visit(&self, url: &str) -> Result<(u16, String), reqwest::Error> {
        let r = self.http.get(url).send().await?;
        Ok((r.status().as_u16(), r.text().await?))
    }

    /// The whole OAuth flow with these optional scopes, approved.
    pub async fn connect_oauth_with(&self, optional_scopes: &[&str]) -> Connection {
        let started = self
            .service
            .begin_oauth(self.begin_request_with(optional_scopes))
            .await
            .unwrap();
        let service = self.service.clone();
        let flow = started.flow_id.clone();
        let waiting = tokio::spawn(async move { service.finish_oauth(&flow).await });
        let callback = self.consent(&started.authorize_url, "allow").await;
        let (status, _) = self.visit(&callback).await.unwrap();
        assert_eq!(status, 200);
        waiting.await.unwrap().unwrap()
    }

    /// `POST /_sandbox/{path}`, whatever it answers.
    pub async fn admin(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}/_sandbox/{path}", self.sandbox.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /_sandbox/{path}`, which must succeed.
    pub async fn admin_ok(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        let r = self.admin(path, body).await;
        assert!(r.status().is_success(), "admin {path}: {}", r.status());
        r
    }

    /// `PUT /_sandbox/{path}`, which must succeed.
    pub async fn put(&self, path: &str, body: serde_json::Value) {
        let r = self
            .http
            .put(format!("{}/_sandbox/{path}", self.sandbox.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "admin {path}: {}", r.status());
    }

    /// Calls the portal's token endpoints answered so far.
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
