//! The fault matrix: 429 with and without Retry-After, 500/502/503, connection resets, timeouts,
//! 401 mid-run with a refresh whose token endpoint answers 429. Every case completes a full and
//! an incremental read with the right counts and a store equal to the portal.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use spoke_engine::{CancelToken, Engine, Store, SyncOptions};
use spoke_hubspot::{
    BoxFuture, Client, ClientConfig, GovernorRegistry, OAuthClient, RateBudget, RetryPolicy,
    Secret, Tier, TokenProvider,
};
use spoke_sandbox::{FaultConfig, SandboxConfig, SandboxHandle};

/// Full read, 1% changes, incremental read; checks counts and contents.
async fn full_then_incremental(env: &Env, engine: &Engine) -> (u64, u64) {
    let m = contacts_mapping();
    let opts = SyncOptions {
        page_size: 100,
        associations: vec!["companies".into()],
        ..SyncOptions::default()
    };
    env.reset_requests().await;
    let full = engine
        .sync(&m, opts.clone(), CancelToken::new(), |_| {})
        .await
        .unwrap();
    // Faults are read by an unfaulted path below: turn them off to take the portal's view.
    let faults = env
        .admin(reqwest::Method::GET, "faults", serde_json::Value::Null)
        .await;
    env.admin(reqwest::Method::DELETE, "faults", serde_json::Value::Null)
        .await;
    let portal = env.portal(&m).await;
    assert_eq!(full.counts.created as usize, portal.len());
    assert_same(&portal, &env.local("contacts"));
    let ids: Vec<String> = portal.keys().cloned().collect();
    let changed: Vec<&String> = ids.iter().step_by(100).collect();
    for id in &changed {
        env.update(
            "contacts",
            id,
            serde_json::json!({ "jobtitle": "x", "firstname": "Faulty" }),
        )
        .await;
    }
    env.admin(reqwest::Method::PUT, "faults", faults).await;
    let inc = engine
        .sync(&m, opts, CancelToken::new(), |_| {})
        .await
        .unwrap();
    env.admin(reqwest::Method::DELETE, "faults", serde_json::Value::Null)
        .await;
    assert_eq!(inc.mode, "incremental");
    assert_eq!(inc.counts.updated as usize, changed.len());
    assert_eq!(inc.counts.created, 0);
    assert_same(&env.portal(&m).await, &env.local("contacts"));
    let served = env.requests().await["total"].as_u64().unwrap();
    (full.counts.api_calls + inc.counts.api_calls, served)
}

fn patient(sb: &SandboxHandle, budget: RateBudget, timeout: Duration) -> Client {
    let mut config = ClientConfig::new(sb.base_url());
    config.timeout = timeout;
    config.retry = RetryPolicy {
        max_retries: 10,
        max_rate_limit_retries: 10,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(300),
    };
    let governor = GovernorRegistry::new().for_portal(&sb.base_url(), sb.portal_id(), budget);
    Client::new(config)
        .unwrap()
        .with_token_provider(Arc::new(spoke_hubspot::StaticToken::new(Secret::from(
            sb.private_app_token(),
        ))))
        .with_governor(governor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_resets_and_timeouts() {
    let env = env(SandboxConfig {
        contacts: 1200,
        faults: FaultConfig {
            error_rate: 0.12,
            reset_rate: 0.06,
            timeout_rate: 0.06,
            timeout_ms: 1500,
            ..FaultConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let client = patient(
        &env.sb,
        Tier::Professional.budget(),
        Duration::from_millis(700),
    );
    let engine = Engine::new(env.store.clone(), client);
    let (calls, served) = full_then_incremental(&env, &engine).await;
    // Retries happened (the portal answered more requests than the engine made calls).
    assert!(served > calls, "{served} served for {calls} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_with_and_without_retry_after() {
    let env = env(SandboxConfig {
        contacts: 2500,
        tier: spoke_sandbox::Tier::Free,
        ..SandboxConfig::default()
    })
    .await;
    // A governor that believes in far more than the portal gives: HubSpot's 429s do the pacing
    // (search 429s carry no Retry-After; burst 429s do).
    let budget = RateBudget {
        burst: 5000,
        search_per_second: 60,
        ..Tier::FreeStarter.budget()
    };
    let client = patient(&env.sb, budget, Duration::from_secs(30));
    let engine = Engine::new(env.store.clone(), client);
    // Spend the burst window so the first standard call is refused with Retry-After.
    let token = env.sb.private_app_token();
    let mut refused = 0;
    for _ in 0..110 {
        let r = env
            .http
            .get(format!(
                "{}/crm/v3/objects/contacts?limit=1",
                env.sb.base_url()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
            refused += 1;
        }
    }
    assert!(refused > 0);
    let (calls, served) = full_then_incremental(&env, &engine).await;
    assert!(served > calls, "{served} served for {calls} calls");
}

/// An OAuth token that refreshes when HubSpot rejects it (single flight: a caller whose
/// rejected token was already replaced gets the replacement).
struct Refreshing {
    client: Client,
    app: OAuthClient,
    refresh: Secret,
    current: Mutex<Secret>,
    flight: tokio::sync::Mutex<()>,
    refreshes: AtomicU32,
}

impl TokenProvider for Refreshing {
    fn access_token(&self) -> BoxFuture<'_, Result<Secret, spoke_hubspot::Error>> {
        let t = self.current.lock().unwrap().clone();
        Box::pin(async move { Ok(t) })
    }
    fn token_rejected<'a>(
        &'a self,
        rejected: &'a Secret,
    ) -> BoxFuture<'a, Result<Option<Secret>, spoke_hubspot::Error>> {
        Box::pin(async move {
            let _flight = self.flight.lock().await;
            let current = self.current.lock().unwrap().clone();
            if current.expose() != rejected.expose() {
                return Ok(Some(current));
            }
            let fresh = self
                .client
                .refresh_access_token(&self.app, &self.refresh)
                .await?;
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            *self.current.lock().unwrap() = fresh.access_token.clone();
            Ok(Some(fresh.access_token))
        })
    }
}

async fn oauth_tokens(env: &Env) -> (String, String) {
    let app = env.sb.demo_app();
    let redirect = "http://localhost:53135/callback";
    let enc = |s: &str| {
        s.replace(' ', "%20")
            .replace(':', "%3A")
            .replace('/', "%2F")
    };
    let url = format!(
        "{}/oauth/authorize?client_id={}&redirect_uri={}&scope={}&state=s",
        env.sb.base_url(),
        app.client_id,
        enc(redirect),
        enc(&app.scopes.join(" "))
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = http.get(url).send().await.unwrap().text().await.unwrap();
    let start = html.find("name=\"request_id\" value=\"").unwrap() + 25;
    let rid = &html[start..start + 32];
    let r = http
        .post(format!("{}/oauth/authorize", env.sb.base_url()))
        .form(&[("request_id", rid), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let tokens: serde_json::Value = http
        .post(format!("{}/oauth/v1/token", env.sb.base_url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_str()),
            ("redirect_uri", redirect),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_mid_run_refreshes_through_a_rate_limited_token_endpoint() {
    let env = env(SandboxConfig {
        contacts: 1500,
        ..SandboxConfig::default()
    })
    .await;
    let (access, refresh) = oauth_tokens(&env).await;
    let app = env.sb.demo_app();
    let mut config = ClientConfig::new(env.sb.base_url());
    config.retry = retry();
    let provider = Arc::new(Refreshing {
        client: Client::new(config.clone()).unwrap(),
        app: OAuthClient {
            client_id: app.client_id.clone(),
            client_secret: Secret::from(app.client_secret.as_str()),
        },
        refresh: Secret::from(refresh.as_str()),
        current: Mutex::new(Secret::from(access.as_str())),
        flight: tokio::sync::Mutex::new(()),
        refreshes: AtomicU32::new(0),
    });
    let client = Client::new(config)
        .unwrap()
        .with_token_provider(provider.clone())
        .with_governor(GovernorRegistry::new().for_portal(
            &env.sb.base_url(),
            env.sb.portal_id(),
            Tier::OAuthApp.budget(),
        ));
    let store = Store::open(env.dir.path().join("spoke.db")).unwrap();
    let engine = Engine::new(store, client);
    // The token endpoint refuses the next two requests.
    env.admin(
        reqwest::Method::PUT,
        "faults",
        serde_json::json!({ "tokenEndpoint429": 2 }),
    )
    .await;
    // A few pages in, the access token starts answering 401 (expired mid-run).
    let m = contacts_mapping();
    let base = env.sb.base_url();
    let handle = tokio::runtime::Handle::current();
    let armed = Arc::new(AtomicU32::new(0));
    let a = armed.clone();
    let token = access.clone();
    let full = engine
        .sync(
            &m,
            SyncOptions {
                page_size: 50,
                ..SyncOptions::default()
            },
            CancelToken::new(),
            move |p| {
                if p.pages == 3 && a.fetch_add(1, Ordering::SeqCst) == 0 {
                    let (base, token) = (base.clone(), token.clone());
                    handle.spawn(async move {
                        reqwest::Client::new()
                            .post(format!("{base}/_sandbox/tokens/unauthorized"))
                            .json(&serde_json::json!({ "token": token, "count": 1000 }))
                            .send()
                            .await
                            .unwrap();
                    });
                }
            },
        )
        .await
        .unwrap();
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    let portal = env.portal(&m).await;
    assert_eq!(full.counts.created as usize, portal.len());
    assert_same(&portal, &env.local("contacts"));
    let faults = env
        .admin(reqwest::Method::GET, "faults", serde_json::Value::Null)
        .await;
    assert_eq!(
        faults["tokenEndpoint429"], 0,
        "the token endpoint's 429s were met"
    );
}
