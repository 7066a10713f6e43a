//! Client behaviour against a scripted local HTTP server: retries, 429, 401 refresh, errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spoke_hubspot::{
    BoxFuture, Client, ClientConfig, Describe, Error, Governor, RateBudget, RetryPolicy, Secret,
    TokenProvider,
};

#[derive(Clone)]
struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: &str) -> Canned {
    Canned {
        status,
        headers: vec![("Content-Type", "application/json".into())],
        body: body.into(),
        delay: Duration::ZERO,
    }
}

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    url: String,
    authorization: Option<String>,
    body: String,
}

/// Serves `script` in order (the last entry repeats) and records every request.
struct Fake {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn start(script: Vec<Canned>) -> Fake {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind fake");
        let base = format!("http://{}", server.server_addr().to_ip().expect("ip addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_in = seen.clone();
        std::thread::spawn(move || {
            for (i, mut request) in server.incoming_requests().enumerate() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                seen_in.lock().unwrap().push(Seen {
                    method: request.method().to_string(),
                    url: request.url().to_owned(),
                    authorization: request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Authorization"))
                        .map(|h| h.value.to_string()),
                    body,
                });
                let canned = script[i.min(script.len() - 1)].clone();
                std::thread::sleep(canned.delay);
                let mut response =
                    tiny_http::Response::from_string(canned.body).with_status_code(canned.status);
                for (k, v) in canned.headers {
                    response.add_header(
                        tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                    );
                }
                let _ = request.respond(response);
            }
        });
        Fake { base, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn fast_config(base: &str) -> ClientConfig {
    let mut config = ClientConfig::new(base);
    config.retry = RetryPolicy {
        max_retries: 3,
        max_rate_limit_retries: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    };
    config.timeout = Duration::from_millis(500);
    config
}

/// Hands out `tok-1`, then `tok-2` after a rejection; counts both calls.
struct Rotating {
    gets: AtomicUsize,
    rejections: AtomicUsize,
}

impl TokenProvider for Rotating {
    fn access_token(&self) -> BoxFuture<'_, Result<Secret, Error>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Secret::from("tok-1")) })
    }
    fn token_rejected<'a>(
        &'a self,
        rejected: &'a Secret,
    ) -> BoxFuture<'a, Result<Option<Secret>, Error>> {
        self.rejections.fetch_add(1, Ordering::SeqCst);
        let fresh = (rejected.expose() == "tok-1").then(|| Secret::from("tok-2"));
        Box::pin(async move { Ok(fresh) })
    }
}

const ACCOUNT: &str = r#"{"portalId":123,"accountType":"STANDARD","timeZone":"US/Eastern","companyCurrency":"USD","additionalCurrencies":[],"utcOffset":"-05:00","utcOffsetMilliseconds":-18000000,"uiDomain":"app.hubspot.com","dataHostingLocation":"na1"}"#;

#[tokio::test]
async fn retries_5xx_with_backoff_then_succeeds() {
    let fake = Fake::start(vec![
        reply(502, "bad gateway"),
        reply(503, "{}"),
        reply(200, ACCOUNT),
    ]);
    let client = Client::new(fast_config(&fake.base)).unwrap();
    let details = client
        .account_details_with(&Secret::from("pat-na1-x"))
        .await
        .unwrap();
    assert_eq!(details.portal_id, 123);
    assert_eq!(details.data_hosting_location.as_deref(), Some("na1"));
    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|s| s.url == "/account-info/2026-03/details"));
    assert!(seen
        .iter()
        .all(|s| s.authorization.as_deref() == Some("Bearer pat-na1-x")));
}

#[tokio::test]
async fn gives_up_on_5xx_after_max_retries_and_never_retries_unsafe_posts() {
    let fake = Fake::start(vec![reply(500, "{}")]);
    let client = Client::new(fast_config(&fake.base)).unwrap();
    let err = client
        .account_details_with(&Secret::from("t"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Server {
                status: 500,
                attempts: 4
            }
        ),
        "{err:?}"
    );
    let before = fake.seen().len();
    let err = client
        .post::<serde_json::Value>("/crm/v3/objects/contacts", serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server { attempts: 1, .. }), "{err:?}");
    assert_eq!(fake.seen().len(), before + 1);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let slow = Canned {
        delay: Duration::from_millis(800),
        ..reply(200, ACCOUNT)
    };
    let fake = Fake::start(vec![slow.clone(), reply(200, ACCOUNT)]);
    let client = Client::new(fast_config(&fake.base)).unwrap();
    let details = client
        .account_details_with(&Secret::from("t"))
        .await
        .unwrap();
    assert_eq!(details.portal_id, 123);

    let fake = Fake::start(vec![slow]);
    let mut config = fast_config(&fake.base);
    config.retry.max_retries = 1;
    let err = Client::new(config)
        .unwrap()
        .account_details_with(&Secret::from("t"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { attempts: 2 }), "{err:?}");
    assert_eq!(err.code(), "hubspot.timeout");
}

#[tokio::test]
async fn connection_refused_is_a_network_error_with_a_hint() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(fast_config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let err = client
        .account_details_with(&Secret::from("t"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Network { attempts: 4, .. }), "{err:?}");
    assert!(err.hint().unwrap().contains("internet connection"));
}

#[tokio::test]
async fn rate_limit_honours_retry_after_then_interval_headers() {
    let mut limited = reply(
        429,
        r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","category":"RATE_LIMITS","policyName":"TEN_SECONDLY_ROLLING"}"#,
    );
    limited.headers.push(("Retry-After", "0.3".into()));
    let fake = Fake::start(vec![limited, reply(200, ACCOUNT)]);
    let client = Client::new(fast_config(&fake.base))
        .unwrap()
        .with_governor(Arc::new(Governor::new(RateBudget::default())));
    let start = Instant::now();
    client
        .account_details_with(&Secret::from("t"))
        .await
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(290),
        "waited {:?}",
        start.elapsed()
    );

    let mut limited = reply(429, r#"{"status":"error","message":"rate limited"}"#);
    limited
        .headers
        .push(("X-HubSpot-RateLimit-Interval-Milliseconds", "250".into()));
    limited
        .headers
        .push(("X-HubSpot-RateLimit-Max", "100".into()));
    limited
        .headers
        .push(("X-HubSpot-RateLimit-Remaining", "0".into()));
    let fake = Fake::start(vec![limited, reply(200, ACCOUNT)]);
    let client = Client::new(fast_config(&fake.base)).unwrap();
    let start = Instant::now();
    client
        .account_details_with(&Secret::from("t"))
        .await
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(240),
        "waited {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn persistent_429_becomes_rate_limited_and_daily_429_stops_at_once() {
    let fake = Fake::start(vec![reply(429, r#"{"message":"slow down"}"#)]);
    let client = Client::new(fast_config(&fake.base)).unwrap();
    let err = client
        .account_details_with(&Secret::from("t"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { attempts: 4, .. }),
        "{err:?}"
    );

    let daily = reply(
        429,
        r#"{"status":"error","message":"You have reached your daily limit.","category":"RATE_LIMITS","context":{"policyName":["DAILY"]}}"#,
    );
    let fake = Fake::start(vec![daily, reply(200, ACCOUNT)]);
    let governor = Arc::new(Governor::new(RateBudget::default()));
    let client = Client::new(fast_config(&fake.base))
        .unwrap()
        .with_governor(governor.clone());
    let err = client
        .account_details_with(&Secret::from("t"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DailyLimitReached), "{err:?}");
    assert!(matches!(
        client.account_details_with(&Secret::from("t")).await,
        Err(Error::DailyLimitReached)
    ));
    assert_eq!(
        fake.seen().len(),
        1,
        "the governor refuses further calls without asking HubSpot"
    );
}

#[tokio::test]
async fn unauthorized_asks_the_provider_once_then_retries_with_the_fresh_token() {
    let fake = Fake::start(vec![
        reply(
            401,
            r#"{"status":"error","message":"expired","category":"EXPIRED_AUTHENTICATION"}"#,
        ),
        reply(200, ACCOUNT),
    ]);
    let provider = Arc::new(Rotating {
        gets: AtomicUsize::new(0),
        rejections: AtomicUsize::new(0),
    });
    let client = Client::new(fast_config(&fake.base))
        .unwrap()
        .with_token_provider(provider.clone());
    client.account_details().await.unwrap();
    let auth: Vec<_> = fake
        .seen()
        .into_iter()
        .map(|s| s.authorization.unwrap_or_default())
        .collect();
    assert_eq!(auth, ["Bearer tok-1", "Bearer tok-2"]);
    assert_eq!(provider.rejections.load(Ordering::SeqCst), 1);

    let fake = Fake::start(vec![reply(
        401,
        r#"{"status":"error","message":"revoked"}"#,
    )]);
    let provider = Arc::new(Rotating {
        gets: AtomicUsize::new(0),
        rejections: AtomicUsize::new(0),
    });
    let client = Client::new(fast_config(&fake.base))
        .unwrap()
        .with_token_provider(provider.clone());
    let err = client.account_details().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(
        provider.rejections.load(Ordering::SeqCst),
        1,
        "asks only once"
    );
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn missing_scopes_and_redirects_are_typed() {
    let fake = Fake::start(vec![reply(
        403,
        r#"{"status":"error","message":"This app hasn't been granted all required scopes to make this call.","correlationId":"abc","category":"MISSING_SCOPES","errors":[{"message":"One or more of the following scopes are required.","context":{"requiredGranularScopes":["crm.objects.deals.read"]}}]}"#,
    )]);
    let client = Client::new(fast_config(&fake.base))
        .unwrap()
        .with_token_provider(Arc::new(spoke_hubspot::StaticToken::new("t".into())));
    let err = client
        .list_objects("deals", &Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingScopes { scopes, .. } if scopes == &["crm.objects.deals.read"]),
        "{err:?}"
    );

    let mut redirect = reply(302, "");
    redirect
        .headers
        .push(("Location", "https://evil.example/steal".into()));
    let fake = Fake::start(vec![redirect]);
    let client = Client::new(fast_config(&fake.base)).unwrap();
    let err = client
        .account_details_with(&Secret::from("t"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Redirect { status: 302 }), "{err:?}");
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn oauth_endpoints_send_forms_to_the_configured_version_and_parse_errors() {
    let fake = Fake::start(vec![
        reply(
            200,
            r#"{"access_token":"at-1","refresh_token":"rt-1","expires_in":1800,"token_type":"bearer","token_use":"access_token","hub_id":77,"scopes":["oauth","crm.objects.contacts.read"]}"#,
        ),
        reply(
            400,
            r#"{"error":"invalid_grant","error_description":"code already used","status":"BAD_AUTH_CODE","message":"code already used"}"#,
        ),
        reply(
            401,
            r#"{"error":"invalid_client","error_description":"bad secret"}"#,
        ),
    ]);
    let mut config = fast_config(&fake.base);
    config.oauth_version = "v3".into();
    let client = Client::new(config).unwrap();
    let app = spoke_hubspot::OAuthClient {
        client_id: "cid".into(),
        client_secret: Secret::from("csecret"),
    };
    let tokens = client
        .exchange_code(
            &app,
            &Secret::from("code-1"),
            "http://localhost:53135/callback",
            &Secret::from("verif"),
        )
        .await
        .unwrap();
    assert_eq!(tokens.access_token.expose(), "at-1");
    assert_eq!(
        tokens.refresh_token.as_ref().map(|t| t.expose().as_str()),
        Some("rt-1")
    );
    assert_eq!((tokens.expires_in, tokens.hub_id), (1800, Some(77)));
    let first = &fake.seen()[0];
    assert_eq!(
        (first.method.as_str(), first.url.as_str()),
        ("POST", "/oauth/v3/token")
    );
    assert!(first.authorization.is_none());
    let form: Vec<(String, String)> = url::form_urlencoded::parse(first.body.as_bytes())
        .into_owned()
        .collect();
    for expected in [
        ("grant_type", "authorization_code"),
        ("code", "code-1"),
        ("code_verifier", "verif"),
        ("client_secret", "csecret"),
        ("redirect_uri", "http://localhost:53135/callback"),
    ] {
        assert!(
            form.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing in {form:?}"
        );
    }
    let err = client
        .exchange_code(
            &app,
            &Secret::from("code-1"),
            "http://localhost:53135/callback",
            &Secret::from("v"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidGrant { .. }), "{err:?}");
    assert_eq!(fake.seen().len(), 2, "a code exchange is never retried");
    let err = client
        .refresh_access_token(&app, &Secret::from("rt-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidClient { .. }), "{err:?}");
    assert_eq!(
        fake.seen().len(),
        3,
        "401 with an OAuth error is not a bearer refresh case"
    );
}

#[tokio::test]
async fn governor_observes_headers_from_real_responses() {
    let mut ok = reply(
        200,
        r#"{"results":[{"id":"1","properties":{"email":"a@b.c"},"createdAt":"x","updatedAt":"y","archived":false}],"paging":{"next":{"after":"NQ"}}}"#,
    );
    ok.headers.push(("X-HubSpot-RateLimit-Max", "190".into()));
    ok.headers
        .push(("X-HubSpot-RateLimit-Remaining", "150".into()));
    ok.headers
        .push(("X-HubSpot-RateLimit-Interval-Milliseconds", "10000".into()));
    ok.headers
        .push(("X-HubSpot-RateLimit-Daily", "650000".into()));
    ok.headers
        .push(("X-HubSpot-RateLimit-Daily-Remaining", "600000".into()));
    let fake = Fake::start(vec![ok]);
    let governor = Arc::new(Governor::new(RateBudget::default()));
    let client = Client::new(fast_config(&fake.base))
        .unwrap()
        .with_token_provider(Arc::new(spoke_hubspot::StaticToken::new("t".into())))
        .with_governor(governor.clone());
    let page = client
        .list_objects(
            "contacts",
            &spoke_hubspot::ListObjects {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.next_after(), Some("NQ"));
    assert_eq!(
        page.results[0].properties["email"].as_deref(),
        Some("a@b.c")
    );
    assert_eq!(fake.seen()[0].url, "/crm/v3/objects/contacts?limit=1");
    let snap = governor.snapshot();
    assert_eq!(
        (
            snap.burst_limit,
            snap.burst_remaining,
            snap.daily_limit,
            snap.daily_remaining
        ),
        (190, 150, 650_000, 600_000)
    );
}

#[tokio::test]
async fn a_token_that_cannot_be_a_header_fails_before_sending() {
    let fake = Fake::start(vec![reply(200, ACCOUNT)]);
    let client = Client::new(fast_config(&fake.base)).unwrap();
    let err = client
        .account_details_with(&Secret::from("pat-na1-abc\r\nX-Evil: 1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MalformedToken), "{err:?}");
    assert!(fake.seen().is_empty());
}
