//! The client and the governor against the demo portal's real rate limits, scopes and faults.

use std::sync::Arc;
use std::time::{Duration, Instant};

use spoke_hubspot::{
    BatchWrite, BatchWriteInput, Client, ClientConfig, Describe, Error, Governor, ListObjects,
    RateBudget, RetryPolicy, Secret, StaticToken, Tier,
};
use spoke_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

async fn sandbox(tier: spoke_sandbox::Tier) -> SandboxHandle {
    Sandbox::start(SandboxConfig {
        contacts: 20,
        tier,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

fn client(sb: &SandboxHandle, token: &str, governor: Option<Arc<Governor>>) -> Client {
    let mut config = ClientConfig::new(sb.base_url());
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    let c = Client::new(config)
        .unwrap()
        .with_token_provider(Arc::new(StaticToken::new(Secret::from(token))));
    match governor {
        Some(g) => c.with_governor(g),
        None => c,
    }
}

async fn admin(
    sb: &SandboxHandle,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = reqwest::Client::new()
        .request(method, format!("{}/_sandbox/{path}", sb.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(serde_json::Value::Null)
}

async fn total_requests(sb: &SandboxHandle) -> u64 {
    let v: serde_json::Value = reqwest::get(format!("{}/_sandbox/requests", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["total"].as_u64().unwrap()
}

fn one() -> ListObjects {
    ListObjects {
        limit: Some(1),
        ..Default::default()
    }
}

#[tokio::test]
async fn shared_governor_keeps_concurrent_callers_under_the_free_tier_burst_limit() {
    let sb = sandbox(spoke_sandbox::Tier::Free).await;
    let governor = Arc::new(Governor::new(Tier::FreeStarter.budget()));
    let clients: Vec<Client> = (0..4)
        .map(|_| client(&sb, &sb.private_app_token(), Some(governor.clone())))
        .collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..130 {
        let c = clients[i % clients.len()].clone();
        tasks.push(tokio::spawn(async move {
            c.list_objects("contacts", &one()).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        total_requests(&sb).await,
        130,
        "no call was answered 429 and retried"
    );
    assert!(
        start.elapsed() >= Duration::from_secs(9),
        "the last 30 calls waited for the window: {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn governor_learns_the_portals_limits_from_headers() {
    let sb = sandbox(spoke_sandbox::Tier::Starter).await;
    let governor = Arc::new(Governor::new(Tier::Enterprise.budget()));
    let c = client(&sb, &sb.private_app_token(), Some(governor.clone()));
    c.list_objects("contacts", &one()).await.unwrap();
    c.list_objects("contacts", &one()).await.unwrap();
    let snap = governor.snapshot();
    assert_eq!((snap.burst_limit, snap.burst_window_ms), (100, 10_000));
    assert_eq!(snap.burst_remaining, 98);
    assert_eq!(snap.daily_limit, 250_000);
}

#[tokio::test]
async fn daily_limit_stops_calls_without_hammering_hubspot() {
    let sb = sandbox(spoke_sandbox::Tier::Free).await;
    admin(
        &sb,
        reqwest::Method::PUT,
        "rate-limits/daily-used",
        serde_json::json!({ "used": 250_000 }),
    )
    .await;
    let governor = Arc::new(Governor::new(RateBudget::default()));
    let c = client(&sb, &sb.private_app_token(), Some(governor));
    let err = c.list_objects("contacts", &one()).await.unwrap_err();
    assert!(matches!(err, Error::DailyLimitReached), "{err:?}");
    assert!(err.hint().unwrap().contains("midnight"));
    let before = total_requests(&sb).await;
    assert!(matches!(
        c.list_objects("contacts", &one()).await,
        Err(Error::DailyLimitReached)
    ));
    assert_eq!(total_requests(&sb).await, before, "refused locally");
}

#[tokio::test]
async fn search_is_paced_to_its_own_per_second_budget() {
    let sb = sandbox(spoke_sandbox::Tier::Pro).await;
    let governor = Arc::new(Governor::new(Tier::Professional.budget()));
    let c = client(&sb, &sb.private_app_token(), Some(governor));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.search_objects("contacts", serde_json::json!({ "limit": 1 }))
                .await
        }));
    }
    for task in tasks {
        let page = task.await.unwrap().unwrap();
        assert!(page.total.is_some());
    }
    assert_eq!(total_requests(&sb).await, 12, "no SECONDLY 429s");
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn missing_scopes_name_the_scope() {
    let sb = sandbox(spoke_sandbox::Tier::Pro).await;
    let minted = admin(
        &sb,
        reqwest::Method::POST,
        "tokens",
        serde_json::json!({ "scopes": ["crm.objects.contacts.read"] }),
    )
    .await;
    let c = client(&sb, minted["token"].as_str().unwrap(), None);
    c.list_objects("contacts", &one()).await.unwrap();
    let err = c.list_objects("deals", &one()).await.unwrap_err();
    match &err {
        Error::MissingScopes { scopes, .. } => assert!(
            scopes.iter().any(|s| s == "crm.objects.deals.read"),
            "{scopes:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.code(), "hubspot.missing_scopes");
}

#[tokio::test]
async fn retries_ride_out_server_errors_and_connection_resets() {
    let sb = sandbox(spoke_sandbox::Tier::Pro).await;
    admin(
        &sb,
        reqwest::Method::PUT,
        "faults",
        serde_json::json!({ "errorRate": 0.2, "resetRate": 0.1, "pathPrefix": "/crm" }),
    )
    .await;
    let mut config = ClientConfig::new(sb.base_url());
    config.retry = RetryPolicy {
        max_retries: 9,
        max_rate_limit_retries: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
    };
    let c = Client::new(config)
        .unwrap()
        .with_token_provider(Arc::new(StaticToken::new(Secret::new(
            sb.private_app_token(),
        ))));
    for _ in 0..40 {
        c.list_objects("contacts", &one()).await.unwrap();
    }
    let counters: serde_json::Value = reqwest::get(format!("{}/_sandbox/requests", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        counters["faults"].as_u64().unwrap_or(0) > 0 || counters["total"].as_u64().unwrap() > 40,
        "faults were injected: {counters}"
    );
}

#[tokio::test]
async fn token_info_and_account_details_identify_the_portal() {
    let sb = sandbox(spoke_sandbox::Tier::Pro).await;
    let c = Client::new(ClientConfig::new(sb.base_url())).unwrap();
    let token = Secret::new(sb.private_app_token());
    let info = c.private_app_token_info(&token).await.unwrap();
    assert_eq!(info.hub_id, sb.portal_id());
    assert!(info.scopes.iter().any(|s| s == "crm.objects.contacts.read"));
    let details = c.account_details_with(&token).await.unwrap();
    assert_eq!(details.portal_id, sb.portal_id());
    let err = c
        .account_details_with(&Secret::from(
            "pat-na1-00000000-0000-0000-0000-000000000000",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "hubspot.unauthorized");
}

#[tokio::test]
async fn batch_writes_answer_with_each_records_id_timestamps_and_stored_properties() {
    let sb = sandbox(spoke_sandbox::Tier::Pro).await;
    let c = client(&sb, &sb.private_app_token(), None);
    let upsert = |email: &str, property: &str, value: &str| BatchWriteInput {
        id: Some(email.to_owned()),
        id_property: Some("email".to_owned()),
        properties: [(property.to_owned(), value.to_owned())].into(),
        object_write_trace_id: Some(format!("{email}/{property}")),
    };
    let input = |email: &str, city: &str| upsert(email, "city", city);
    let created = c
        .batch_write("contacts", BatchWrite::Upsert, &[input("new@batch.example", "Porto")])
        .await
        .unwrap();
    assert_eq!(created.status.as_deref(), Some("COMPLETE"));
    let rec = &created.results[0];
    assert_eq!(rec.new, Some(true));
    assert_eq!(rec.object_write_trace_id.as_deref(), Some("new@batch.example/city"));
    assert!(rec.object.created_at.is_some() && rec.object.updated_at.is_some());
    // The properties sent, as stored, plus the object's defaults.
    let p = &rec.object.properties;
    assert_eq!(p["city"].as_deref(), Some("Porto"));
    assert_eq!(p["email"].as_deref(), Some("new@batch.example"));
    assert_eq!(p["hs_object_id"].as_deref(), Some(rec.object.id.as_str()));
    assert!(!p.contains_key("jobtitle"), "{p:?}");
    let updated = c
        .batch_write(
            "contacts",
            BatchWrite::Update,
            &[BatchWriteInput {
                id: Some(rec.object.id.clone()),
                id_property: None,
                properties: [("city".to_owned(), "Braga".to_owned())].into(),
                object_write_trace_id: None,
            }],
        )
        .await
        .unwrap();
    assert_eq!(updated.results[0].new, None);
    assert_eq!(updated.results[0].object.properties["city"].as_deref(), Some("Braga"));
    // Per-input refusals come back as errors naming the input (207), the rest is written.
    let mixed = c
        .batch_write(
            "contacts",
            BatchWrite::Upsert,
            &[
                input("ok@batch.example", "Faro"),
                upsert("bad@batch.example", "lifecyclestage", "no-such-stage"),
            ],
        )
        .await
        .unwrap();
    assert_eq!((mixed.results.len(), mixed.errors.len()), (1, 1), "{mixed:?}");
    assert_eq!(mixed.num_errors, Some(1));
    assert_eq!(mixed.errors[0].category.as_deref(), Some("VALIDATION_ERROR"));
    assert!(mixed.errors[0].context.contains_key("ids"), "{mixed:?}");
    // A batch-wide refusal (one key twice) is an error.
    let twice = input("twice@batch.example", "Faro");
    let err = c
        .batch_write("contacts", BatchWrite::Upsert, &[twice.clone(), twice])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { status: 400, .. }), "{err:?}");
}
