#![allow(dead_code)]

use reqwest::{Client, Response};
use serde_json::Value;
use spoke_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

pub struct Env {
    pub sb: SandboxHandle,
    pub http: Client,
    pub base: String,
    pub token: String,
}

pub fn client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

pub async fn start(cfg: SandboxConfig) -> Env {
    let sb = Sandbox::start(cfg).await.expect("sandbox starts");
    let base = sb.base_url();
    let token = sb.private_app_token();
    Env { sb, http: client(), base, token }
}

/// A sandbox without rate limiting, for tests that make many calls.
pub async fn unlimited() -> Env {
    start(SandboxConfig { rate_limits: false, ..SandboxConfig::default() }).await
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(&self.token).send().await.expect("request")
    }
    pub async fn get_with(&self, path: &str, token: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.expect("request")
    }
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Response {
        self.http.request(method, self.url(path)).bearer_auth(&self.token).json(&body).send().await.expect("request")
    }
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(reqwest::Method::POST, path, body).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.send(reqwest::Method::PATCH, path, body).await
    }
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Response {
        self.http.request(method, self.url(&format!("/_sandbox{path}"))).json(&body).send().await.expect("request")
    }
    /// Mints a token with exactly these scopes through the admin API.
    pub async fn token_with(&self, scopes: &[&str]) -> String {
        let r = self.admin(reqwest::Method::POST, "/tokens", serde_json::json!({ "scopes": scopes })).await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.expect("json")["token"].as_str().expect("token").to_string()
    }
}

pub async fn json(r: Response) -> Value {
    r.json::<Value>().await.expect("json body")
}

/// Asserts HubSpot's error shape and returns the body.
pub async fn hub_error(r: Response, status: u16, category: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "unexpected status");
    let v = json(r).await;
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["category"], category, "{v}");
    assert!(v["correlationId"].as_str().is_some_and(|c| c.len() == 36), "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v
}
