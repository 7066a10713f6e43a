//! "Test connection": a live checklist against HubSpot, each step with a status, its timing, a
//! plain detail and, when something is wrong, a [`Diagnosis`] (cause + fix).
//!
//! | step id | what it checks |
//! |---|---|
//! | `reach` | DNS, TCP, TLS and one round trip to the API base |
//! | `token` | a valid access token, refreshed first when near expiry (the single-flight path) |
//! | `identity` | portal id, hub domain, account type, data-hosting region (and region mismatches) |
//! | `scopes` | granted versus needed for the plan, per object |
//! | `read.<object>` | one search per object (count, one sample id) and the properties endpoint |
//! | `write_probe` | optional, off by default: create a test record, then archive it |
//! | `webhooks` | whether the connection can receive webhooks (OAuth apps only) |
//! | `rate_budget` | burst and daily budget from `X-HubSpot-RateLimit-*`, and a full sync's cost |
//!
//! Independent steps run concurrently (the per-object reads and the write probe); `on_step` is
//! called as each step finishes, in completion order; [`CheckRun::steps`] is in checklist order.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use spoke_hubspot::{Client, RateLimitHeaders, Request, Response};

use crate::diagnose::{diagnose_in, Code, Context, Diagnosis};
use crate::scopes::{self, Access, ObjectAccess, ScopeObject};
use crate::service::Connections;
use crate::store::{now_secs, AuthMethod, Connection, OAuthAppKind};
use crate::Error;

/// What to test.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CheckOptions {
    /// The plan (objects × access). Empty: derived from the scopes recorded for the connection
    /// before this test (the CRM record objects, custom objects and owners they allow), so a
    /// scope taken away in HubSpot since shows up as missing.
    #[serde(default)]
    pub objects: Vec<ObjectAccess>,
    /// Create a test record in HubSpot and archive it again. Off by default.
    #[serde(default)]
    pub write_probe: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum StepStatus {
    Pass,
    /// Works, but something deserves attention (a region mismatch, no webhooks, a low budget).
    Warn,
    Fail,
    /// Not run (an earlier step failed, or it was not asked for).
    Skipped,
}

/// One labelled value shown under a step (portal id, latency, counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Fact {
    pub label: String,
    pub value: String,
}

/// One step of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CheckStep {
    /// `reach`, `token`, `identity`, `scopes`, `read.contacts`, `write_probe`, `webhooks`, `rate_budget`.
    pub id: String,
    pub title: String,
    pub status: StepStatus,
    #[specta(type = f64)]
    pub duration_ms: u64,
    /// One or two plain sentences on what was found.
    pub detail: String,
    #[serde(default)]
    pub facts: Vec<Fact>,
    pub diagnosis: Option<Diagnosis>,
}

/// What a full sync of one object would cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCost {
    pub object: ScopeObject,
    #[specta(type = f64)]
    pub records: u64,
    pub properties: u32,
    #[specta(type = f64)]
    pub calls: u64,
}

/// The rate budget as HubSpot reported it, and what a full sync would take out of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct BudgetReport {
    pub burst_limit: u32,
    pub burst_remaining: u32,
    #[specta(type = f64)]
    pub burst_window_ms: u64,
    /// `None` when HubSpot does not report it (OAuth apps get no daily headers).
    #[specta(type = Option<f64>)]
    pub daily_limit: Option<u64>,
    #[specta(type = Option<f64>)]
    pub daily_remaining: Option<u64>,
    /// When the daily budget resets (ISO 8601), if HubSpot said.
    pub daily_resets_at: Option<String>,
    /// The numbers came from `X-HubSpot-RateLimit-*` headers (not the tier's defaults).
    pub from_headers: bool,
    pub objects: Vec<ObjectCost>,
    #[specta(type = f64)]
    pub full_sync_calls: u64,
    /// How long a full sync takes at the burst budget alone, in seconds.
    #[specta(type = f64)]
    pub full_sync_secs_at_burst: u64,
}

/// The outcome of a test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CheckRun {
    pub connection_id: String,
    /// Unix milliseconds.
    #[specta(type = f64)]
    pub started_at: i64,
    #[specta(type = f64)]
    pub duration_ms: u64,
    /// Every required step passed (no step is `fail`; warnings and skips do not fail a test).
    pub passed: bool,
    pub steps: Vec<CheckStep>,
    /// The plan the test used (given, or derived from the granted scopes).
    pub plan: Vec<ObjectAccess>,
    pub budget: Option<BudgetReport>,
}

impl CheckRun {
    /// Every HubSpot `correlationId` in the run's diagnoses.
    pub fn correlation_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for step in &self.steps {
            if let Some(id) = step
                .diagnosis
                .as_ref()
                .and_then(|d| d.correlation_id.clone())
            {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    pub fn step(&self, id: &str) -> Option<&CheckStep> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// Records per list page, and how many characters of property names one list request carries
/// before its URL gets too long (the rest go in further requests for the same page).
pub const RECORDS_PER_PAGE: u64 = 100;
pub const PROPERTY_CHARS_PER_CALL: u64 = 7_000;

/// API calls a full sync of `records` records with properties whose names (comma-joined) take
/// `property_chars` characters costs: one property list, then per page of 100 records as many
/// requests as the property names need.
pub fn full_sync_calls(records: u64, property_chars: u64) -> u64 {
    let pages = records.div_ceil(RECORDS_PER_PAGE).max(1);
    let per_page = property_chars.div_ceil(PROPERTY_CHARS_PER_CALL).max(1);
    1 + pages * per_page
}

/// The default plan: the record objects (and owners) the granted scopes allow, write where the
/// write scopes are granted too.
pub fn plan_from_scopes(granted: &[String], method: AuthMethod) -> Vec<ObjectAccess> {
    const DEFAULT_OBJECTS: [ScopeObject; 6] = [
        ScopeObject::Contacts,
        ScopeObject::Companies,
        ScopeObject::Deals,
        ScopeObject::Tickets,
        ScopeObject::CustomObjects,
        ScopeObject::Owners,
    ];
    let mut out = Vec::new();
    for object in DEFAULT_OBJECTS {
        let read = scopes::report(&[ObjectAccess::read(object)], granted, method);
        if !read.all_satisfied {
            continue;
        }
        let write = scopes::report(&[ObjectAccess::write(object)], granted, method);
        out.push(
            if write.all_satisfied && object.writable() && has_own_write_scope(object, granted) {
                ObjectAccess::write(object)
            } else {
                ObjectAccess::read(object)
            },
        );
    }
    out
}

/// Tickets have one scope for read and write; only count them as writable when it is granted
/// (always true then), so the derived plan matches what the scopes allow.
fn has_own_write_scope(object: ScopeObject, granted: &[String]) -> bool {
    let plan = scopes::plan(&[ObjectAccess::write(object)], AuthMethod::Token);
    plan.required.iter().all(|s| granted.contains(s))
}

/// An OAuth access token with less than this left after the token step counts as near expiry
/// (the token manager refreshes within its own margin, five minutes by default, before handing
/// one out, so this only happens when HubSpot issues very short-lived tokens).
const NEAR_EXPIRY: Duration = Duration::from_secs(60);

const ORDER_REACH: usize = 10;
const ORDER_TOKEN: usize = 20;
const ORDER_IDENTITY: usize = 30;
const ORDER_SCOPES: usize = 40;
const ORDER_READS: usize = 50;
const ORDER_PROBE: usize = 100;
const ORDER_WEBHOOKS: usize = 110;
const ORDER_RATE: usize = 120;

struct Recorder<'a, F> {
    steps: Mutex<Vec<(usize, CheckStep)>>,
    on_step: &'a F,
}

impl<F: Fn(&CheckStep) + Send + Sync> Recorder<'_, F> {
    fn emit(&self, order: usize, step: CheckStep) {
        (self.on_step)(&step);
        self.steps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((order, step));
    }
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

fn fact(label: &str, value: impl Into<String>) -> Fact {
    Fact {
        label: label.to_owned(),
        value: value.into(),
    }
}

fn step(
    id: &str,
    title: &str,
    status: StepStatus,
    started: Instant,
    detail: impl Into<String>,
) -> CheckStep {
    CheckStep {
        id: id.to_owned(),
        title: title.to_owned(),
        status,
        duration_ms: ms(started),
        detail: detail.into(),
        facts: Vec::new(),
        diagnosis: None,
    }
}

fn skipped(id: &str, title: &str, reason: &str) -> CheckStep {
    CheckStep {
        id: id.to_owned(),
        title: title.to_owned(),
        status: StepStatus::Skipped,
        duration_ms: 0,
        detail: reason.to_owned(),
        facts: Vec::new(),
        diagnosis: None,
    }
}

fn failed(id: &str, title: &str, started: Instant, diagnosis: Diagnosis) -> CheckStep {
    CheckStep {
        detail: diagnosis.cause.clone(),
        diagnosis: Some(diagnosis),
        ..step(id, title, StepStatus::Fail, started, "")
    }
}

const TITLE_REACH: &str = "Reach the HubSpot API";
const TITLE_TOKEN: &str = "Access token";
const TITLE_IDENTITY: &str = "Portal identity";
const TITLE_SCOPES: &str = "Scopes for the plan";
const TITLE_PROBE: &str = "Write probe (creates and archives a test record)";
const TITLE_WEBHOOKS: &str = "Webhooks";
const TITLE_RATE: &str = "Rate budget";

fn read_id(object: ScopeObject) -> String {
    let name = serde_json::to_value(object)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("read.{name}")
}

fn read_title(object: ScopeObject) -> String {
    format!("Read {}", object.label().to_lowercase())
}

/// The CRM object type of a plan object, when it has one.
fn crm_type(object: ScopeObject) -> Option<&'static str> {
    match object {
        ScopeObject::Contacts => Some("contacts"),
        ScopeObject::Companies => Some("companies"),
        ScopeObject::Deals => Some("deals"),
        ScopeObject::Tickets => Some("tickets"),
        ScopeObject::LineItems => Some("line_items"),
        ScopeObject::Products => Some("products"),
        ScopeObject::Notes => Some("notes"),
        _ => None,
    }
}

/// Runs the checklist for connection `id`. `on_step` is called as each step finishes.
///
/// Fails only when the test cannot start (unknown connection, unreadable store); everything
/// HubSpot or the network does wrong becomes a failed step with its diagnosis.
pub async fn run_checks(
    connections: &Connections,
    id: &str,
    options: CheckOptions,
    on_step: impl Fn(&CheckStep) + Send + Sync,
) -> Result<CheckRun, Error> {
    let started = Instant::now();
    let started_at = unix_ms();
    let conn = connections.get(id).await?;
    let client = connections.client(id)?;
    let recorder = Recorder {
        steps: Mutex::new(Vec::new()),
        on_step: &on_step,
    };
    let base_ctx = Context {
        method: Some(conn.method),
        time_zone: conn.time_zone.clone(),
        ..Context::default()
    };
    let ctx_now = |search: bool| Context {
        rate: client.governor().map(|g| g.snapshot()),
        search,
        ..base_ctx.clone()
    };

    // 1. Reach the API base. A token connection reads its token from the keychain meanwhile
    // (no HubSpot call); an OAuth token may need a refresh, which waits for the reach check.
    let timed_token = || async {
        let t0 = Instant::now();
        let token = connections.access_token(id).await;
        (token, ms(t0))
    };
    let (reach, early_token) = if conn.method == AuthMethod::Token {
        let (reach, token) = tokio::join!(reach_step(&client, &conn.base_url), timed_token());
        (reach, Some(token))
    } else {
        (reach_step(&client, &conn.base_url).await, None)
    };
    let reached = reach.status != StepStatus::Fail;
    recorder.emit(ORDER_REACH, reach);

    let plan = if options.objects.is_empty() {
        plan_from_scopes(&conn.granted_scopes, conn.method)
    } else {
        options.objects.clone()
    };
    let webhooks = webhooks_step(&conn);

    if !reached {
        let reason = "Skipped: HubSpot could not be reached (see the first step).";
        recorder.emit(ORDER_TOKEN, skipped("token", TITLE_TOKEN, reason));
        recorder.emit(ORDER_IDENTITY, skipped("identity", TITLE_IDENTITY, reason));
        recorder.emit(ORDER_SCOPES, skipped("scopes", TITLE_SCOPES, reason));
        for (i, pick) in plan.iter().enumerate() {
            recorder.emit(
                ORDER_READS + i,
                skipped(&read_id(pick.object), &read_title(pick.object), reason),
            );
        }
        recorder.emit(ORDER_PROBE, probe_skipped(&options, reason));
        recorder.emit(ORDER_WEBHOOKS, webhooks);
        recorder.emit(ORDER_RATE, skipped("rate_budget", TITLE_RATE, reason));
        return Ok(finish(recorder, id, started, started_at, plan, None));
    }

    // 2. + 3. Token (refreshed if near expiry), then identity and scopes from HubSpot now.
    let expires_before = conn.token_expires_at;
    let (token, token_ms) = match early_token {
        Some(early) => early,
        None => timed_token().await,
    };
    let token_region = token.as_ref().ok().and_then(|t| pat_region(t.expose()));
    let token_result = token.map(|_| ());
    let mut verified: Option<Connection> = None;
    let mut blocking_failure: Option<Diagnosis> = None;
    match token_result {
        Err(e) => {
            let diagnosis = diagnose_in(&e, &ctx_now(false));
            blocking_failure = Some(diagnosis.clone());
            let mut failed_step = failed("token", TITLE_TOKEN, Instant::now(), diagnosis);
            failed_step.duration_ms = token_ms;
            recorder.emit(ORDER_TOKEN, failed_step);
            recorder.emit(
                ORDER_IDENTITY,
                skipped("identity", TITLE_IDENTITY, "Skipped: needs a valid token."),
            );
        }
        Ok(()) => {
            let identity_started = Instant::now();
            match connections.verify(id).await {
                Ok(fresh) => {
                    let mut token_step = token_step(&fresh, expires_before, NEAR_EXPIRY);
                    token_step.duration_ms = token_ms;
                    recorder.emit(ORDER_TOKEN, token_step);
                    recorder.emit(
                        ORDER_IDENTITY,
                        identity_step(&fresh, token_region.as_deref(), identity_started),
                    );
                    verified = Some(fresh);
                }
                Err(e) => {
                    let diagnosis = diagnose_in(&e, &ctx_now(false));
                    blocking_failure = Some(diagnosis.clone());
                    if is_token_problem(diagnosis.kind()) {
                        // HubSpot's answer to the identity call is what judged the token.
                        let mut failed_step =
                            failed("token", TITLE_TOKEN, Instant::now(), diagnosis);
                        failed_step.duration_ms = token_ms + ms(identity_started);
                        recorder.emit(ORDER_TOKEN, failed_step);
                        recorder.emit(
                            ORDER_IDENTITY,
                            skipped("identity", TITLE_IDENTITY, "Skipped: needs a valid token."),
                        );
                    } else {
                        let mut ok = step(
                            "token",
                            TITLE_TOKEN,
                            StepStatus::Pass,
                            Instant::now(),
                            "Spoke has an access token; HubSpot could not confirm it because the identity check failed.",
                        );
                        ok.duration_ms = token_ms;
                        recorder.emit(ORDER_TOKEN, ok);
                        recorder.emit(
                            ORDER_IDENTITY,
                            failed("identity", TITLE_IDENTITY, identity_started, diagnosis),
                        );
                    }
                }
            }
        }
    }

    let Some(fresh) = verified else {
        let reason = "Skipped: needs the token and identity checks to pass.";
        recorder.emit(ORDER_SCOPES, skipped("scopes", TITLE_SCOPES, reason));
        for (i, pick) in plan.iter().enumerate() {
            recorder.emit(
                ORDER_READS + i,
                skipped(&read_id(pick.object), &read_title(pick.object), reason),
            );
        }
        recorder.emit(ORDER_PROBE, probe_skipped(&options, reason));
        recorder.emit(ORDER_WEBHOOKS, webhooks);
        // The budget cannot be measured without HubSpot's answers; a 429 that stopped the test
        // is what it says about the budget now.
        let rate = match blocking_failure.filter(|d| {
            matches!(
                d.kind(),
                Code::RateLimitBurst | Code::RateLimitSearch | Code::RateLimitDaily
            )
        }) {
            Some(d) => CheckStep {
                detail: d.cause.clone(),
                diagnosis: Some(d),
                ..step(
                    "rate_budget",
                    TITLE_RATE,
                    StepStatus::Warn,
                    Instant::now(),
                    "",
                )
            },
            None => skipped("rate_budget", TITLE_RATE, reason),
        };
        recorder.emit(ORDER_RATE, rate);
        return Ok(finish(recorder, id, started, started_at, plan, None));
    };

    // 4. Scopes: granted (as HubSpot just said) versus the plan. Without an explicit plan the
    // plan is what the connection was granted when it was made, so scopes taken away since
    // (a private app edited in HubSpot) show up here as missing.
    recorder.emit(ORDER_SCOPES, scopes_step(&fresh, &plan));
    recorder.emit(ORDER_WEBHOOKS, webhooks);

    // 5. + 6. Reads per object and the write probe, concurrently.
    let rate_started = Instant::now();
    let mut reads = tokio::task::JoinSet::new();
    for (i, pick) in plan.iter().enumerate() {
        let client = client.clone();
        let ctx = base_ctx.clone();
        let object = pick.object;
        reads.spawn(async move { (i, read_object(&client, object, &ctx).await) });
    }
    let usage = async {
        if fresh.method == AuthMethod::Token {
            daily_usage(&client).await
        } else {
            None
        }
    };
    let probe = async {
        if options.write_probe {
            write_probe(&client, &plan, &base_ctx).await
        } else {
            probe_skipped(&options, "")
        }
    };
    let drain = async {
        let mut costs: Vec<(usize, ObjectCost)> = Vec::new();
        let mut headers: Option<RateLimitHeaders> = None;
        while let Some(joined) = reads.join_next().await {
            match joined {
                Ok((i, outcome)) => {
                    if let Some(cost) = outcome.cost {
                        costs.push((i, cost));
                    }
                    if outcome.headers.is_some() {
                        headers = outcome.headers;
                    }
                    recorder.emit(ORDER_READS + i, outcome.step);
                }
                Err(e) => tracing::warn!(error = %e, "a read check stopped"),
            }
        }
        costs.sort_by_key(|(i, _)| *i);
        (
            costs.into_iter().map(|(_, c)| c).collect::<Vec<_>>(),
            headers,
        )
    };
    let ((costs, headers), usage, probe) = tokio::join!(drain, usage, probe);
    recorder.emit(ORDER_PROBE, probe);

    // 8. Rate budget, from the headers the reads brought back.
    let snapshot =
        client
            .governor()
            .map(|g| g.snapshot())
            .unwrap_or(spoke_hubspot::GovernorSnapshot {
                burst_limit: 0,
                burst_window_ms: 10_000,
                burst_remaining: 0,
                search_per_second: 0,
                daily_limit: 0,
                daily_remaining: 0,
            });
    let budget = budget_report(&snapshot, &costs, headers.as_ref(), usage);
    recorder.emit(
        ORDER_RATE,
        rate_step(&budget, rate_started, &base_ctx, fresh.method),
    );
    Ok(finish(
        recorder,
        id,
        started,
        started_at,
        plan,
        Some(budget),
    ))
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn finish<F: Fn(&CheckStep) + Send + Sync>(
    recorder: Recorder<'_, F>,
    id: &str,
    started: Instant,
    started_at: i64,
    plan: Vec<ObjectAccess>,
    budget: Option<BudgetReport>,
) -> CheckRun {
    let mut steps = recorder
        .steps
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    steps.sort_by_key(|(order, _)| *order);
    let steps: Vec<CheckStep> = steps.into_iter().map(|(_, s)| s).collect();
    CheckRun {
        connection_id: id.to_owned(),
        started_at,
        duration_ms: ms(started),
        passed: steps.iter().all(|s| s.status != StepStatus::Fail),
        steps,
        plan,
        budget,
    }
}

fn is_token_problem(code: Code) -> bool {
    matches!(
        code,
        Code::TokenRejected
            | Code::SignInExpired
            | Code::TokenMalformed
            | Code::WrongClientSecret
            | Code::KeychainUnavailable
            | Code::SecretMissing
    )
}

/// `pat-eu1-…` → `eu1`.
fn pat_region(token: &str) -> Option<String> {
    let rest = token.strip_prefix("pat-")?;
    let (region, _) = rest.split_once('-')?;
    (!region.is_empty() && region.len() <= 5).then(|| region.to_owned())
}

/// `api-eu1.hubapi.com` → `eu1`; the global `api.hubapi.com` and other hosts → `None`.
fn base_region(host: &str) -> Option<String> {
    let sub = host.strip_suffix(".hubapi.com")?;
    sub.strip_prefix("api-").map(str::to_owned)
}

// ---- 1. reach ---------------------------------------------------------------------------------

async fn reach_step(client: &Client, base_url: &str) -> CheckStep {
    let started = Instant::now();
    let url = match url::Url::parse(base_url) {
        Ok(u) if u.host_str().is_some() => u,
        _ => {
            return failed(
                "reach",
                TITLE_REACH,
                started,
                diagnose_in(
                    &spoke_hubspot::Error::InvalidBaseUrl(base_url.to_owned()),
                    &Context::default(),
                ),
            )
        }
    };
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let tls = url.scheme() == "https";
    let mut facts = vec![fact("Host", format!("{host}:{port}"))];

    let dns_started = Instant::now();
    let dns = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await;
    let dns_ms = ms(dns_started);
    let (addrs, dns_error) = match dns {
        Ok(Ok(addrs)) => (addrs.collect::<Vec<_>>(), None),
        Ok(Err(e)) => (Vec::new(), Some(e.to_string())),
        Err(_) => (Vec::new(), Some("no answer within 10 seconds".to_owned())),
    };
    let mut tcp_error = None;
    let mut tcp_ms = None;
    if let Some(addr) = addrs.first() {
        facts.push(fact("Address", addr.ip().to_string()));
        facts.push(fact("DNS lookup", format!("{dns_ms} ms")));
        let tcp_started = Instant::now();
        match tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect(&addrs[..]),
        )
        .await
        {
            Ok(Ok(_stream)) => {
                tcp_ms = Some(ms(tcp_started));
                facts.push(fact("TCP connect", format!("{} ms", ms(tcp_started))));
            }
            Ok(Err(e)) => tcp_error = Some(e.to_string()),
            Err(_) => tcp_error = Some("no answer within 10 seconds".to_owned()),
        }
    }
    // Without a proxy, a name that does not resolve or a port that does not answer will not
    // work for HTTP either: say so now instead of waiting out the client's retries.
    if !proxy_configured() {
        let early = match (&dns_error, &tcp_error) {
            (Some(e), _) => Some(Diagnosis::dns_failed(&host, e)),
            (None, Some(e)) => Some(Diagnosis::unreachable(&host, e)),
            _ => None,
        };
        if let Some(diagnosis) = early {
            let mut s = failed("reach", TITLE_REACH, started, diagnosis);
            s.facts = facts;
            return s;
        }
    }
    let http_started = Instant::now();
    let path = format!(
        "/account-info/{}/details",
        client.config().account_info_version
    );
    // Unauthenticated and outside the portal's governor: reaching HubSpot is not a call against
    // the portal's budget, and a budget the governor holds back must not read as "unreachable".
    let answer = match Client::new(client.config().clone()) {
        Ok(plain) => plain.send(Request::get(path).without_auth()).await,
        Err(e) => Err(e),
    };
    let http_ms = ms(http_started);
    let reached = match &answer {
        Ok(_) => true,
        Err(e) => matches!(
            e,
            spoke_hubspot::Error::Unauthorized { .. }
                | spoke_hubspot::Error::Forbidden { .. }
                | spoke_hubspot::Error::NotFound { .. }
                | spoke_hubspot::Error::MissingScopes { .. }
                | spoke_hubspot::Error::Api { .. }
        ),
    };
    if reached {
        facts.push(fact(
            if tls {
                "HTTPS round trip"
            } else {
                "HTTP round trip"
            },
            format!("{http_ms} ms"),
        ));
        facts.push(fact(
            "TLS",
            if tls {
                "yes"
            } else {
                "no (plain HTTP: the demo portal on this computer)"
            },
        ));
        let mut s = step(
            "reach",
            TITLE_REACH,
            StepStatus::Pass,
            started,
            format!(
                "{} answered in {http_ms} ms (DNS {dns_ms} ms{}).",
                url.origin().ascii_serialization(),
                tcp_ms
                    .map(|t| format!(", connect {t} ms"))
                    .unwrap_or_default()
            ),
        );
        if let Some(e) = dns_error {
            // Reached through a proxy that resolves names itself.
            s.status = StepStatus::Warn;
            s.detail = format!(
                "{} answered in {http_ms} ms, but this computer could not look up {host} itself ({e}); a proxy resolves it.",
                url.origin().ascii_serialization()
            );
        }
        s.facts = facts;
        return s;
    }
    let error = answer.err();
    let diagnosis = match (&dns_error, &tcp_error, &error) {
        (Some(e), _, _) => Diagnosis::dns_failed(&host, e),
        (None, Some(e), _) => Diagnosis::unreachable(&host, e),
        (None, None, Some(spoke_hubspot::Error::Network { detail, .. })) if tls => {
            Diagnosis::tls_failed(&host, detail)
        }
        (None, None, Some(e)) => diagnose_in(e, &Context::default()),
        (None, None, None) => Diagnosis::unreachable(&host, "no answer"),
    };
    let mut s = failed("reach", TITLE_REACH, started, diagnosis);
    s.facts = facts;
    s
}

/// Whether requests go through a proxy (reqwest honours these variables).
fn proxy_configured() -> bool {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|x| !x.trim().is_empty()))
}

// ---- 2. token, 3. identity ----------------------------------------------------------------------

fn token_step(conn: &Connection, expires_before: Option<i64>, margin: Duration) -> CheckStep {
    let started = Instant::now();
    match (conn.method, conn.token_expires_at) {
        (AuthMethod::Token, _) | (_, None) => {
            let mut s = step(
                "token",
                TITLE_TOKEN,
                StepStatus::Pass,
                started,
                "HubSpot accepted the service key / private-app token. It does not expire; rotate it in HubSpot \
                 (Development → Keys → Service keys) at least every six months.",
            );
            s.facts
                .push(fact("Kind", "service key or private-app token"));
            s
        }
        (AuthMethod::OAuth, Some(expires_at)) => {
            let left = expires_at - now_secs();
            let refreshed = expires_before != Some(expires_at);
            let status = if left > margin.as_secs() as i64 {
                StepStatus::Pass
            } else {
                StepStatus::Warn
            };
            let mut s =
                step(
                    "token",
                    TITLE_TOKEN,
                    status,
                    started,
                    format!(
                    "HubSpot accepted the OAuth access token; it is valid for {} more minutes{}.",
                    (left.max(0) / 60),
                    if refreshed { " (refreshed during this test)" } else { "" }
                ),
                );
            s.facts.push(fact("Kind", "OAuth access token"));
            s.facts
                .push(fact("Expires in", format!("{} min", left.max(0) / 60)));
            s.facts
                .push(fact("Refreshed now", if refreshed { "yes" } else { "no" }));
            s
        }
    }
}

fn identity_step(conn: &Connection, token_region: Option<&str>, started: Instant) -> CheckStep {
    let host = url::Url::parse(&conn.base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let base = base_region(&host);
    let portal = conn.data_hosting_location.as_deref();
    let mismatch = matches!((token_region, portal), (Some(t), Some(p)) if t != p)
        || matches!((base.as_deref(), portal.or(token_region)), (Some(b), Some(p)) if b != p);
    let mut s = step(
        "identity",
        TITLE_IDENTITY,
        StepStatus::Pass,
        started,
        format!(
            "Portal {}{}, {} account, data hosted in {}.",
            conn.portal_id,
            conn.hub_domain
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            conn.account_type.as_deref().unwrap_or("unknown"),
            portal.unwrap_or("an unknown region"),
        ),
    );
    s.facts = vec![
        fact("Portal id", conn.portal_id.to_string()),
        fact(
            "Hub domain",
            conn.hub_domain.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        fact(
            "Account type",
            conn.account_type.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        fact("Data hosting", portal.unwrap_or("-")),
        fact(
            "Time zone",
            conn.time_zone.clone().unwrap_or_else(|| "-".to_owned()),
        ),
    ];
    if let Some(t) = token_region {
        s.facts.push(fact("Token region", t));
    }
    if mismatch {
        s.status = StepStatus::Warn;
        s.diagnosis = Some(Diagnosis::wrong_region(
            token_region,
            portal,
            &host,
            base.as_deref(),
        ));
        s.detail = format!(
            "{} {}",
            s.detail,
            s.diagnosis.as_ref().map(|d| d.cause.as_str()).unwrap_or("")
        );
    }
    s
}

// ---- 4. scopes ---------------------------------------------------------------------------------

fn scopes_step(conn: &Connection, plan: &[ObjectAccess]) -> CheckStep {
    let started = Instant::now();
    if plan.is_empty() {
        return step(
            "scopes",
            TITLE_SCOPES,
            StepStatus::Warn,
            started,
            "No objects to check: the connection's scopes allow none of the CRM objects Spoke syncs. Pick objects, or add scopes.",
        );
    }
    let report = scopes::report(plan, &conn.granted_scopes, conn.method);
    let mut s = step("scopes", TITLE_SCOPES, StepStatus::Pass, started, "");
    for object in &report.objects {
        let access = if object.access == Access::Write {
            "read + write"
        } else {
            "read"
        };
        let value = if object.satisfied {
            if object.missing_optional.is_empty() {
                format!("{access}: all granted")
            } else {
                format!(
                    "{access}: granted (optional missing: {})",
                    object.missing_optional.join(", ")
                )
            }
        } else {
            format!("{access}: missing {}", object.missing_required.join(", "))
        };
        s.facts.push(fact(object.object.label(), value));
    }
    let missing: Vec<String> = {
        let mut all = Vec::new();
        for o in &report.objects {
            for scope in &o.missing_required {
                if !all.contains(scope) {
                    all.push(scope.clone());
                }
            }
        }
        all
    };
    if missing.is_empty() {
        let optional: Vec<&String> = report
            .objects
            .iter()
            .flat_map(|o| o.missing_optional.iter())
            .collect();
        s.detail = format!(
            "Every scope the plan needs is granted ({} object{}).",
            report.objects.len(),
            if report.objects.len() == 1 { "" } else { "s" }
        );
        if !optional.is_empty() {
            s.status = StepStatus::Warn;
            s.detail += &format!(
                " Optional scopes not granted: {}; property definitions may not be readable.",
                optional
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    } else {
        let objects: Vec<&str> = report
            .objects
            .iter()
            .filter(|o| !o.satisfied)
            .map(|o| o.object.label())
            .collect();
        let d = Diagnosis::missing_scopes(&missing, Some(conn.method), Some(&objects.join(", ")));
        s.status = StepStatus::Fail;
        s.detail = d.cause.clone();
        s.diagnosis = Some(d);
    }
    s
}

// ---- 5. reads ----------------------------------------------------------------------------------

struct ReadOutcome {
    step: CheckStep,
    cost: Option<ObjectCost>,
    headers: Option<RateLimitHeaders>,
}

fn headers_of(response: &Response) -> Option<RateLimitHeaders> {
    let h = RateLimitHeaders::parse(&response.headers);
    (h.max.is_some() || h.daily.is_some()).then_some(h)
}

async fn read_object(client: &Client, object: ScopeObject, ctx: &Context) -> ReadOutcome {
    let started = Instant::now();
    let id = read_id(object);
    let title = read_title(object);
    let fail = |e: &spoke_hubspot::Error, search: bool, started: Instant| {
        let ctx = Context {
            rate: client.governor().map(|g| g.snapshot()),
            search,
            ..ctx.clone()
        };
        failed(&id, &title, started, diagnose_in(e, &ctx))
    };
    let type_id: String = match object {
        ScopeObject::CustomObjects => match client
            .send(Request::get("/crm-object-schemas/v3/schemas"))
            .await
        {
            Ok(r) => {
                let body: serde_json::Value = r.json().unwrap_or_default();
                let first = body["results"]
                    .as_array()
                    .and_then(|a| a.first())
                    .and_then(|s| s["objectTypeId"].as_str().map(str::to_owned));
                match first {
                    Some(t) => t,
                    None => {
                        return ReadOutcome {
                            step: step(
                                &id,
                                &title,
                                StepStatus::Pass,
                                started,
                                "The portal has no custom objects yet.",
                            ),
                            cost: None,
                            headers: headers_of(&r),
                        }
                    }
                }
            }
            Err(e) => {
                return ReadOutcome {
                    step: fail(&e, false, started),
                    cost: None,
                    headers: None,
                }
            }
        },
        ScopeObject::CustomSchemas | ScopeObject::Owners | ScopeObject::Conversations => {
            let path = match object {
                ScopeObject::CustomSchemas => "/crm-object-schemas/v3/schemas",
                ScopeObject::Owners => "/crm/v3/owners",
                _ => "/conversations/v3/conversations/threads",
            };
            let mut req = Request::get(path);
            if object != ScopeObject::CustomSchemas {
                req = req.query("limit", "1");
            }
            return match client.send(req).await {
                Ok(r) => {
                    let body: serde_json::Value = r.json().unwrap_or_default();
                    let n = body["results"].as_array().map(|a| a.len()).unwrap_or(0);
                    let detail = match object {
                        ScopeObject::CustomSchemas => {
                            format!("{n} custom object definition(s) readable.")
                        }
                        ScopeObject::Owners => {
                            if n == 0 {
                                "Owners are readable; the portal lists none.".to_owned()
                            } else {
                                "Owners are readable.".to_owned()
                            }
                        }
                        _ => "Conversation threads are readable.".to_owned(),
                    };
                    ReadOutcome {
                        step: step(&id, &title, StepStatus::Pass, started, detail),
                        cost: None,
                        headers: headers_of(&r),
                    }
                }
                Err(e) => ReadOutcome {
                    step: fail(&e, false, started),
                    cost: None,
                    headers: None,
                },
            };
        }
        ScopeObject::Files => {
            // A file id no portal has: 404 means the Files API let the token in; 403 names the
            // missing scope.
            let probe = client.send(Request::get("/files/v3/files/1")).await;
            let detail = "The Files API answers: comments download their notes' attachments and upload new ones.";
            return match probe {
                Ok(r) => ReadOutcome {
                    headers: headers_of(&r),
                    step: step(&id, &title, StepStatus::Pass, started, detail),
                    cost: None,
                },
                Err(spoke_hubspot::Error::NotFound { .. }) => ReadOutcome {
                    step: step(&id, &title, StepStatus::Pass, started, detail),
                    cost: None,
                    headers: None,
                },
                Err(e) => {
                    let mut outcome = ReadOutcome {
                        step: fail(&e, false, started),
                        cost: None,
                        headers: None,
                    };
                    if matches!(e, spoke_hubspot::Error::MissingScopes { .. }) {
                        outcome.step.detail = format!(
                            "{} Without the files scope, comments sync without their attachments (downloads and uploads of note files need it).",
                            outcome.step.detail
                        );
                    }
                    outcome
                }
            };
        }
        other => match crm_type(other) {
            Some(t) => t.to_owned(),
            None => {
                return ReadOutcome {
                    step: skipped(&id, &title, "No read check for this object."),
                    cost: None,
                    headers: None,
                }
            }
        },
    };
    let search = client.send(
        Request::post(format!("/crm/v3/objects/{type_id}/search"))
            .json(serde_json::json!({ "limit": 1, "properties": ["hs_object_id"] }))
            .search()
            .idempotent(true),
    );
    let properties = client.send(Request::get(format!("/crm/v3/properties/{type_id}")));
    let (search, properties) = tokio::join!(search, properties);
    let search = match search {
        Ok(r) => r,
        Err(e) => {
            return ReadOutcome {
                step: fail(&e, true, started),
                cost: None,
                headers: None,
            }
        }
    };
    let found: serde_json::Value = match search.json() {
        Ok(v) => v,
        Err(e) => {
            return ReadOutcome {
                step: fail(&e, true, started),
                cost: None,
                headers: None,
            }
        }
    };
    let total = found["total"].as_u64().unwrap_or(0);
    let sample = found["results"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|r| r["id"].as_str().map(str::to_owned));
    let mut s = step(
        &id,
        &title,
        StepStatus::Pass,
        started,
        format!(
            "{total} record{} found{}.",
            if total == 1 { "" } else { "s" },
            sample
                .as_deref()
                .map(|i| format!("; sample record id {i}"))
                .unwrap_or_default()
        ),
    );
    s.facts.push(fact("Records", total.to_string()));
    if let Some(i) = &sample {
        s.facts.push(fact("Sample id", i.clone()));
    }
    let mut headers = None;
    let mut cost = None;
    match properties {
        Ok(r) => {
            headers = headers_of(&r);
            let body: serde_json::Value = r.json().unwrap_or_default();
            let names: Vec<&str> = body["results"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            let chars: u64 = names.iter().map(|n| n.len() as u64 + 1).sum();
            s.facts.push(fact("Properties", names.len().to_string()));
            s.detail += &format!(" {} properties readable.", names.len());
            cost = Some(ObjectCost {
                object,
                records: total,
                properties: names.len() as u32,
                calls: full_sync_calls(total, chars),
            });
        }
        Err(e) => {
            let ctx = Context {
                rate: client.governor().map(|g| g.snapshot()),
                ..ctx.clone()
            };
            let d = diagnose_in(&e, &ctx);
            s.status = StepStatus::Warn;
            s.detail += &format!(" The properties endpoint failed: {}", d.cause);
            s.diagnosis = Some(d);
        }
    }
    s.duration_ms = ms(started);
    ReadOutcome {
        step: s,
        cost,
        headers,
    }
}

// ---- 6. write probe ----------------------------------------------------------------------------

fn probe_skipped(options: &CheckOptions, reason: &str) -> CheckStep {
    let why = if !options.write_probe {
        "Off. Turn it on to create one test record and archive it again, which proves writes work."
    } else {
        reason
    };
    skipped("write_probe", TITLE_PROBE, why)
}

/// The object and properties of the probe record, by preference (fewest side effects first).
fn probe_record(plan: &[ObjectAccess]) -> Option<(ScopeObject, &'static str, serde_json::Value)> {
    let tag = crate::oauth::random_token(8).to_ascii_lowercase();
    let order = [
        ScopeObject::Companies,
        ScopeObject::Contacts,
        ScopeObject::Deals,
        ScopeObject::Tickets,
    ];
    let object = order.into_iter().find(|o| {
        plan.iter()
            .any(|p| p.object == *o && p.access == Access::Write)
    })?;
    let name = format!("Spoke write probe {tag} (safe to delete)");
    let (t, props) = match object {
        ScopeObject::Companies => ("companies", serde_json::json!({ "name": name })),
        ScopeObject::Contacts => (
            "contacts",
            serde_json::json!({ "email": format!("spoke-write-probe-{tag}@example.com"), "firstname": "Spoke write probe" }),
        ),
        ScopeObject::Deals => (
            "deals",
            serde_json::json!({ "dealname": name, "pipeline": "default", "dealstage": "appointmentscheduled" }),
        ),
        _ => (
            "tickets",
            serde_json::json!({ "subject": name, "hs_pipeline": "0", "hs_pipeline_stage": "1" }),
        ),
    };
    Some((object, t, props))
}

async fn write_probe(client: &Client, plan: &[ObjectAccess], ctx: &Context) -> CheckStep {
    let started = Instant::now();
    let Some((object, type_name, properties)) = probe_record(plan) else {
        return skipped(
            "write_probe",
            TITLE_PROBE,
            "No object in the plan has write access (companies, contacts, deals or tickets), so nothing was written.",
        );
    };
    let ctx_now = || Context {
        rate: client.governor().map(|g| g.snapshot()),
        ..ctx.clone()
    };
    let created = client
        .send(
            Request::post(format!("/crm/v3/objects/{type_name}"))
                .json(serde_json::json!({ "properties": properties })),
        )
        .await
        .and_then(|r| r.json::<serde_json::Value>());
    let record_id = match created {
        Ok(v) => match v["id"].as_str() {
            Some(id) => id.to_owned(),
            None => {
                return failed(
                    "write_probe",
                    TITLE_PROBE,
                    started,
                    diagnose_in(
                        &spoke_hubspot::Error::Decode("the created record has no id".to_owned()),
                        &ctx_now(),
                    ),
                )
            }
        },
        Err(e) => {
            return failed(
                "write_probe",
                TITLE_PROBE,
                started,
                diagnose_in(&e, &ctx_now()),
            )
        }
    };
    let archived = client
        .send(
            Request::post(format!("/crm/v3/objects/{type_name}/batch/archive"))
                .json(serde_json::json!({ "inputs": [{ "id": record_id }] }))
                .idempotent(true),
        )
        .await;
    match archived {
        Ok(_) => {
            let mut s = step(
                "write_probe",
                TITLE_PROBE,
                StepStatus::Pass,
                started,
                format!(
                    "Created a test {} (id {record_id}) and archived it again; writes work.",
                    match object {
                        ScopeObject::Companies => "company",
                        ScopeObject::Contacts => "contact",
                        ScopeObject::Deals => "deal",
                        _ => "ticket",
                    }
                ),
            );
            s.facts.push(fact("Object", object.label()));
            s.facts.push(fact("Test record id", record_id));
            s
        }
        Err(e) => {
            let mut d = diagnose_in(&e, &ctx_now());
            d.fix = format!(
                "{} Then delete the test record {record_id} ({}) in HubSpot by hand.",
                d.fix,
                object.label()
            );
            failed("write_probe", TITLE_PROBE, started, d)
        }
    }
}

// ---- 7. webhooks -------------------------------------------------------------------------------

fn webhooks_step(conn: &Connection) -> CheckStep {
    let started = Instant::now();
    match (conn.method, conn.oauth_app.as_ref().map(|a| a.kind)) {
        (AuthMethod::Token, _) => {
            let d = Diagnosis::webhooks_need_oauth();
            let mut s = step("webhooks", TITLE_WEBHOOKS, StepStatus::Warn, started, d.cause.clone());
            s.diagnosis = Some(d);
            s
        }
        (AuthMethod::OAuth, Some(OAuthAppKind::Demo)) => step(
            "webhooks",
            TITLE_WEBHOOKS,
            StepStatus::Pass,
            started,
            "Connected with the demo portal's OAuth app, which can receive webhooks.",
        ),
        (AuthMethod::OAuth, _) => step(
            "webhooks",
            TITLE_WEBHOOKS,
            StepStatus::Pass,
            started,
            "Connected with an OAuth app, so HubSpot can send it webhooks: set the target URL and subscriptions in \
             the app's Webhooks settings (Development → Apps → your app).",
        ),
    }
}

// ---- 8. rate budget ----------------------------------------------------------------------------

struct DailyUsage {
    limit: u64,
    used: u64,
    resets_at: Option<String>,
}

/// `GET /account-info/v3/api-usage/daily/private-apps` (private apps and service keys only).
async fn daily_usage(client: &Client) -> Option<DailyUsage> {
    let response = client
        .send(Request::get(
            "/account-info/v3/api-usage/daily/private-apps",
        ))
        .await
        .ok()?;
    let body: serde_json::Value = response.json().ok()?;
    let first = body["results"].as_array()?.first()?;
    Some(DailyUsage {
        limit: first["usageLimit"].as_u64()?,
        used: first["currentUsage"].as_u64().unwrap_or(0),
        resets_at: first["resetsAt"].as_str().map(str::to_owned),
    })
}

fn budget_report(
    snapshot: &spoke_hubspot::GovernorSnapshot,
    costs: &[ObjectCost],
    headers: Option<&RateLimitHeaders>,
    usage: Option<DailyUsage>,
) -> BudgetReport {
    let burst_limit = headers.and_then(|h| h.max).unwrap_or(snapshot.burst_limit);
    let burst_window_ms = headers
        .and_then(|h| h.interval)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(snapshot.burst_window_ms);
    let daily_limit = headers
        .and_then(|h| h.daily)
        .or(usage.as_ref().map(|u| u.limit));
    let daily_remaining = headers
        .and_then(|h| h.daily_remaining)
        .or(usage.as_ref().map(|u| u.limit.saturating_sub(u.used)));
    let full: u64 = costs.iter().map(|c| c.calls).sum();
    let windows = full.div_ceil(u64::from(burst_limit.max(1)));
    BudgetReport {
        burst_limit,
        // The governor's live view (it counts calls since the headers arrived).
        burst_remaining: snapshot.burst_remaining.min(burst_limit),
        burst_window_ms,
        daily_limit,
        daily_remaining,
        daily_resets_at: usage.and_then(|u| u.resets_at),
        from_headers: headers.is_some(),
        objects: costs.to_vec(),
        full_sync_calls: full,
        full_sync_secs_at_burst: windows.saturating_sub(1) * burst_window_ms / 1000,
    }
}

fn rate_step(
    budget: &BudgetReport,
    started: Instant,
    ctx: &Context,
    method: AuthMethod,
) -> CheckStep {
    let window_s = budget.burst_window_ms / 1000;
    let daily = match (budget.daily_remaining, budget.daily_limit) {
        (Some(r), Some(l)) => format!("{r} of {l} daily calls left"),
        _ if method == AuthMethod::OAuth => {
            "HubSpot does not report the daily budget to OAuth apps".to_owned()
        }
        _ => "daily budget not reported".to_owned(),
    };
    let mut s = step(
        "rate_budget",
        TITLE_RATE,
        StepStatus::Pass,
        started,
        format!(
            "{} of {} calls per {window_s} s left; {daily}. A full sync of the plan would take about {} calls ({}).",
            budget.burst_remaining,
            budget.burst_limit,
            budget.full_sync_calls,
            if budget.full_sync_secs_at_burst < 60 {
                "under a minute at the burst budget".to_owned()
            } else {
                format!("about {} minutes at the burst budget", budget.full_sync_secs_at_burst.div_ceil(60))
            }
        ),
    );
    s.facts = vec![
        fact(
            "Burst",
            format!(
                "{} / {} per {window_s} s",
                budget.burst_remaining, budget.burst_limit
            ),
        ),
        fact(
            "Daily",
            match (budget.daily_remaining, budget.daily_limit) {
                (Some(r), Some(l)) => format!("{r} / {l}"),
                _ => "not reported".to_owned(),
            },
        ),
        fact("Full sync", format!("{} calls", budget.full_sync_calls)),
    ];
    if let Some(at) = &budget.daily_resets_at {
        s.facts.push(fact("Daily reset", at.clone()));
    }
    for c in &budget.objects {
        s.facts.push(fact(
            &format!("{} sync", c.object.label()),
            format!(
                "{} records × {} properties ≈ {} calls",
                c.records, c.properties, c.calls
            ),
        ));
    }
    let ctx = Context {
        rate: Some(spoke_hubspot::GovernorSnapshot {
            burst_limit: budget.burst_limit,
            burst_window_ms: budget.burst_window_ms,
            burst_remaining: budget.burst_remaining,
            search_per_second: 5,
            daily_limit: budget.daily_limit.unwrap_or(0),
            daily_remaining: budget.daily_remaining.unwrap_or(u64::MAX),
        }),
        ..ctx.clone()
    };
    if budget.daily_remaining == Some(0) {
        s.status = StepStatus::Fail;
        s.diagnosis = Some(diagnose_in(&spoke_hubspot::Error::DailyLimitReached, &ctx));
    } else if budget.burst_remaining == 0 {
        s.status = StepStatus::Warn;
        s.diagnosis = Some(diagnose_in(
            &spoke_hubspot::Error::RateLimited {
                attempts: 1,
                retry_after: Some(Duration::from_millis(budget.burst_window_ms)),
            },
            &ctx,
        ));
    } else if budget
        .daily_remaining
        .is_some_and(|r| r < budget.full_sync_calls)
    {
        s.status = StepStatus::Warn;
        s.detail += " That is more than is left today: the sync would stop at the daily limit.";
        s.diagnosis = Some(diagnose_in(&spoke_hubspot::Error::DailyLimitReached, &ctx));
    }
    s
}

#[cfg(test)]
mod tests {
    //! The checklist against the demo portal, one test per failure class. Secrets live in the
    //! in-memory store here (this is about the checks); the CLI tests use the real keychain.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use spoke_hubspot::Secret;
    use spoke_sandbox::SandboxConfig;

    use super::*;
    use crate::diagnose::diagnose;
    use crate::keychain::{SecretKind, SecretStore};
    use crate::service::ConnectConfig;
    use crate::store::ConnectionStore;
    use crate::testenv::Env;

    const OPTIONAL: &[&str] = &[
        "tickets",
        "crm.schemas.tickets.read",
        "crm.objects.custom.read",
        "crm.objects.custom.write",
        "crm.schemas.custom.read",
    ];

    async fn env_with(
        sandbox: impl FnOnce(&mut SandboxConfig),
        tweak: impl FnOnce(&mut ConnectConfig),
    ) -> Env {
        crate::testenv::env_with(30, sandbox, tweak).await
    }

    async fn env() -> Env {
        env_with(|_| {}, |_| {}).await
    }

    impl Env {
        async fn mint(&self, scopes: &[&str]) -> String {
            let v: serde_json::Value = self
                .admin_ok(
                    "tokens",
                    serde_json::json!({ "scopes": scopes, "kind": "private" }),
                )
                .await
                .json()
                .await
                .unwrap();
            v["token"].as_str().unwrap().to_owned()
        }

        /// Points the connection at another API address (as if it had been set up that way).
        fn set_base_url(&self, conn: &Connection, base_url: &str) {
            let store = ConnectionStore::open(&self.db).unwrap();
            let mut moved = store.get(&conn.id).unwrap();
            moved.base_url = base_url.to_owned();
            store.upsert(&moved, None).unwrap();
        }

        async fn test(&self, id: &str, options: CheckOptions) -> CheckRun {
            let seen = AtomicUsize::new(0);
            let run = run_checks(&self.service, id, options, |_| {
                seen.fetch_add(1, Ordering::SeqCst);
            })
            .await
            .unwrap();
            assert_eq!(
                seen.load(Ordering::SeqCst),
                run.steps.len(),
                "on_step saw every step"
            );
            run
        }
    }

    fn status(run: &CheckRun, id: &str) -> StepStatus {
        run.step(id)
            .unwrap_or_else(|| panic!("no step {id} in {run:#?}"))
            .status
    }

    fn diagnosis<'a>(run: &'a CheckRun, id: &str) -> &'a Diagnosis {
        run.step(id)
            .and_then(|s| s.diagnosis.as_ref())
            .unwrap_or_else(|| panic!("no diagnosis on {id}: {run:#?}"))
    }

    fn assert_only_failure(run: &CheckRun, id: &str, code: &str) {
        assert!(!run.passed, "{run:#?}");
        assert_eq!(status(run, id), StepStatus::Fail, "{run:#?}");
        assert_eq!(diagnosis(run, id).code, code, "{run:#?}");
        let d = diagnosis(run, id);
        assert!(d.cause.len() > 20 && d.fix.len() > 20, "{d:?}");
    }

    #[tokio::test]
    async fn a_healthy_oauth_portal_passes_every_check_including_the_write_probe() {
        let env = env().await;
        let conn = env.connect_oauth_with(OPTIONAL).await;
        let before: serde_json::Value = env
            .http
            .get(format!("{}/_sandbox", env.sandbox.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let order = Mutex::new(Vec::new());
        let run = run_checks(
            &env.service,
            &conn.id,
            CheckOptions {
                objects: vec![],
                write_probe: true,
            },
            |s| order.lock().unwrap().push(s.id.clone()),
        )
        .await
        .unwrap();
        for s in &run.steps {
            assert_eq!(s.status, StepStatus::Pass, "{s:#?}");
            assert!(s.diagnosis.is_none());
        }
        assert!(run.passed);
        let ids: Vec<&str> = run.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "reach",
                "token",
                "identity",
                "scopes",
                "read.contacts",
                "read.companies",
                "read.deals",
                "read.tickets",
                "read.customObjects",
                "read.owners",
                "write_probe",
                "webhooks",
                "rate_budget"
            ]
        );
        assert_eq!(order.lock().unwrap().len(), ids.len());
        assert_eq!(
            order.lock().unwrap()[0],
            "reach",
            "steps stream as they finish"
        );
        // The counts are HubSpot's.
        let contacts = run.step("read.contacts").unwrap();
        let live = before["objects"]["contacts"]["live"].as_u64().unwrap();
        assert!(
            contacts.detail.starts_with(&format!("{live} records")),
            "{contacts:?}"
        );
        let identity = run.step("identity").unwrap();
        assert!(identity
            .detail
            .contains(&env.sandbox.portal_id().to_string()));
        // The probe record was created, then archived.
        let after: serde_json::Value = env
            .http
            .get(format!("{}/_sandbox", env.sandbox.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            after["objects"]["companies"]["live"],
            before["objects"]["companies"]["live"]
        );
        assert_eq!(
            after["objects"]["companies"]["archived"].as_u64().unwrap(),
            before["objects"]["companies"]["archived"].as_u64().unwrap() + 1
        );
        let budget = run.budget.as_ref().unwrap();
        assert!(budget.from_headers);
        assert_eq!(
            budget.burst_limit, 110,
            "an OAuth app's burst budget, from the headers"
        );
        assert!(
            budget.daily_remaining.is_none(),
            "OAuth apps get no daily headers"
        );
        let contacts_cost = budget
            .objects
            .iter()
            .find(|c| c.object == ScopeObject::Contacts)
            .unwrap();
        assert_eq!(contacts_cost.records, live);
        assert!(contacts_cost.properties > 10);
        assert_eq!(
            contacts_cost.calls, 2,
            "one property list and one page of 30 contacts"
        );
    }

    #[tokio::test]
    async fn a_healthy_token_portal_passes_and_reports_its_daily_budget() {
        let env = env().await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert!(run.passed, "{run:#?}");
        for s in run
            .steps
            .iter()
            .filter(|s| s.id != "webhooks" && s.id != "write_probe")
        {
            assert_eq!(s.status, StepStatus::Pass, "{s:#?}");
        }
        assert_eq!(
            status(&run, "write_probe"),
            StepStatus::Skipped,
            "off by default"
        );
        let budget = run.budget.as_ref().unwrap();
        assert_eq!(budget.burst_limit, 190);
        assert_eq!(budget.daily_limit, Some(625_000));
        assert!(budget.daily_remaining.unwrap() < 625_000);
        assert!(budget.daily_resets_at.is_some());
    }

    #[tokio::test]
    async fn a_service_key_cannot_receive_webhooks() {
        let env = env().await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_eq!(status(&run, "webhooks"), StepStatus::Warn);
        let d = diagnosis(&run, "webhooks");
        assert_eq!(d.code, "webhooks_need_oauth");
        assert!(d.fix.contains("OAuth"), "{d:?}");
        assert!(run.passed, "a warning does not fail the test");
        let oauth = env.connect_oauth_with(OPTIONAL).await;
        let run = env.test(&oauth.id, CheckOptions::default()).await;
        assert_eq!(status(&run, "webhooks"), StepStatus::Pass);
    }

    #[tokio::test]
    async fn every_playbook_preset_passes_on_a_token_with_every_scope() {
        let env = env().await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        for preset in crate::scopes::presets() {
            let run = env
                .test(
                    &conn.id,
                    CheckOptions {
                        objects: preset.picks.clone(),
                        write_probe: false,
                    },
                )
                .await;
            assert!(run.passed, "{}: {run:#?}", preset.id);
            let reads = run
                .steps
                .iter()
                .filter(|s| s.id.starts_with("read."))
                .count();
            assert_eq!(reads, preset.picks.len(), "{}", preset.id);
        }
    }

    #[tokio::test]
    async fn a_keychain_that_cannot_be_read_is_a_local_problem_with_its_fix() {
        let env = env().await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        // The app starts again (nothing cached) and the keychain is not available.
        let mut config = ConnectConfig::new(&env.db);
        config.open_browser = false;
        let restarted = Connections::with_parts(
            config,
            ConnectionStore::open(&env.db).unwrap(),
            env.secrets.clone(),
        );
        env.secrets.unavailable.store(true, Ordering::SeqCst);
        let run = run_checks(&restarted, &conn.id, CheckOptions::default(), |_| {})
            .await
            .unwrap();
        assert_only_failure(&run, "token", "keychain_unavailable");
        assert!(diagnosis(&run, "token").fix.contains("keychain"));
        assert_eq!(status(&run, "reach"), StepStatus::Pass);
    }

    #[tokio::test]
    async fn a_revoked_token_is_diagnosed_with_replace_token() {
        let env = env().await;
        let token = env.mint(&["crm.objects.contacts.read"]).await;
        let conn = env.add_token(&token).await;
        env.admin_ok("tokens/revoke", serde_json::json!({ "token": token }))
            .await;
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_only_failure(&run, "token", "token_rejected");
        assert!(diagnosis(&run, "token").fix.contains("Replace token"));
        assert_eq!(status(&run, "identity"), StepStatus::Skipped);
        assert_eq!(status(&run, "read.contacts"), StepStatus::Skipped);
        assert_eq!(
            run.steps
                .iter()
                .filter(|s| s.status == StepStatus::Fail)
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn an_expired_or_revoked_oauth_sign_in_asks_for_reconnect() {
        // Access tokens live 60 s, inside the refresh margin: the test refreshes first.
        let env = env_with(|s| s.access_token_ttl_secs = 60, |_| {}).await;
        let conn = env.connect_oauth_with(OPTIONAL).await;
        let refresh = env.secrets.value(&conn.id, SecretKind::Refresh).unwrap();
        env.admin_ok("tokens/revoke", serde_json::json!({ "token": refresh }))
            .await;
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_only_failure(&run, "token", "sign_in_expired");
        assert!(diagnosis(&run, "token").fix.contains("Reconnect"));
    }

    #[tokio::test]
    async fn a_healthy_oauth_token_near_expiry_is_refreshed_through_the_single_flight_path() {
        // 200 s left is inside the 5-minute refresh margin.
        let env = env_with(|s| s.access_token_ttl_secs = 200, |_| {}).await;
        let conn = env.connect_oauth_with(OPTIONAL).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert!(run.passed, "{run:#?}");
        assert_eq!(status(&run, "token"), StepStatus::Pass);
        let token = run.step("token").unwrap();
        assert!(
            token.detail.contains("refreshed during this test"),
            "{token:?}"
        );
        assert!(token
            .facts
            .iter()
            .any(|f| f.label == "Refreshed now" && f.value == "yes"));
    }

    #[tokio::test]
    async fn missing_scopes_name_the_scope_and_where_to_add_it() {
        let env = env().await;
        let token = env
            .mint(&["crm.objects.contacts.read", "crm.schemas.contacts.read"])
            .await;
        let conn = env.add_token(&token).await;
        let run = env
            .test(
                &conn.id,
                CheckOptions {
                    objects: vec![
                        ObjectAccess::write(ScopeObject::Contacts),
                        ObjectAccess::read(ScopeObject::Deals),
                    ],
                    write_probe: false,
                },
            )
            .await;
        assert!(!run.passed);
        let d = diagnosis(&run, "scopes");
        assert_eq!(d.code, "missing_scopes");
        assert!(
            d.cause.contains("crm.objects.contacts.write")
                && d.cause.contains("crm.objects.deals.read"),
            "{d:?}"
        );
        assert!(
            d.fix.contains("Service keys") && d.fix.contains("regenerate"),
            "{d:?}"
        );
        // HubSpot itself refuses the deals read, naming the scope, with a correlation id.
        let read = diagnosis(&run, "read.deals");
        assert_eq!(read.code, "missing_scopes");
        assert!(read.cause.contains("crm.objects.deals.read"), "{read:?}");
        assert!(read.correlation_id.is_some());
        assert!(run
            .correlation_ids()
            .contains(read.correlation_id.as_ref().unwrap()));
        assert_eq!(status(&run, "read.contacts"), StepStatus::Pass);
    }

    #[tokio::test]
    async fn files_for_comment_attachments_are_probed_and_explained() {
        let env = env().await;
        let picks = vec![
            ObjectAccess::read(ScopeObject::Notes),
            ObjectAccess::read(ScopeObject::Files),
        ];
        let with = env.add_token(&env.mint(&["crm.objects.contacts.read", "files"]).await).await;
        let run = env.test(&with.id, CheckOptions { objects: picks.clone(), write_probe: false }).await;
        assert_eq!(status(&run, "read.files"), StepStatus::Pass, "{run:#?}");
        assert!(run.step("read.files").unwrap().detail.contains("attachments"));
        let without = env.add_token(&env.mint(&["crm.objects.contacts.read"]).await).await;
        let run = env.test(&without.id, CheckOptions { objects: picks, write_probe: false }).await;
        let step = run.step("read.files").unwrap();
        assert_eq!(step.status, StepStatus::Fail, "{run:#?}");
        assert_eq!(diagnosis(&run, "read.files").code, "missing_scopes");
        assert!(step.detail.contains("files") && step.detail.contains("comments"), "{step:?}");
    }

    #[tokio::test]
    async fn a_scope_taken_away_in_hubspot_shows_up_as_missing() {
        let env = env().await;
        let token = env
            .mint(&["crm.objects.contacts.read", "crm.objects.deals.read"])
            .await;
        let conn = env.add_token(&token).await;
        env.put(
            "private-app/scopes",
            serde_json::json!({ "token": token, "scopes": ["crm.objects.contacts.read"] }),
        )
        .await;
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert!(!run.passed);
        let d = diagnosis(&run, "scopes");
        assert_eq!(d.code, "missing_scopes");
        assert!(d.cause.contains("crm.objects.deals.read"), "{d:?}");
        assert_eq!(diagnosis(&run, "read.deals").code, "missing_scopes");
    }

    #[tokio::test]
    async fn a_wrong_client_secret_is_diagnosed_at_refresh() {
        let env = env_with(|s| s.access_token_ttl_secs = 60, |_| {}).await;
        let conn = env.connect_oauth_with(OPTIONAL).await;
        env.secrets
            .set(
                &conn.id,
                SecretKind::ClientSecret,
                &Secret::from("0f0f0f0f-1111-2222-3333-444444444444"),
            )
            .unwrap();
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_only_failure(&run, "token", "wrong_client_secret");
        assert!(diagnosis(&run, "token").fix.contains("Client secret"));
    }

    #[tokio::test]
    async fn a_user_without_install_permission_is_told_who_can_install() {
        let env = env().await;
        let started = env.service.begin_oauth(env.begin_request_with(OPTIONAL)).await.unwrap();
        let state = url::Url::parse(&started.authorize_url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        let service = env.service.clone();
        let flow = started.flow_id.clone();
        let waiting = tokio::spawn(async move { service.finish_oauth(&flow).await });
        // HubSpot sends the browser back with the reason when the user may not install apps.
        let mut callback = url::Url::parse(&started.redirect_uri).unwrap();
        callback
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair(
                "error_description",
                "User does not have permission to install apps (App Marketplace Access)",
            )
            .append_pair("state", &state);
        env.http.get(callback.as_str()).send().await.unwrap();
        let err = waiting.await.unwrap().unwrap_err();
        let d = diagnose(&err);
        assert_eq!(d.code, "install_permission");
        assert!(
            d.fix.contains("Super Admin") && d.fix.contains("App Marketplace"),
            "{d:?}"
        );
    }

    #[tokio::test]
    async fn a_burst_429_names_the_budget_and_when_it_resets() {
        let env = env_with(|_| {}, |c| c.client.retry.max_rate_limit_retries = 0).await;
        let token = env.sandbox.private_app_token();
        let conn = env.add_token(&token).await;
        // Another integration with the same key spends the 10-second budget (190 on Pro).
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let http = env.http.clone();
            let url = format!("{}/crm/v3/objects/contacts?limit=1", env.sandbox.base_url());
            let token = token.clone();
            calls.spawn(async move {
                http.get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            });
        }
        let mut limited = 0;
        while let Some(r) = calls.join_next().await {
            if r.unwrap().unwrap() == 429 {
                limited += 1;
            }
        }
        assert!(limited > 0, "the budget is used up");
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_only_failure(&run, "identity", "rate_limit_burst");
        let d = diagnosis(&run, "identity");
        assert!(d.cause.contains("10-second burst budget"), "{d:?}");
        assert!(d.fix.contains("resets in"), "{d:?}");
        assert_eq!(status(&run, "rate_budget"), StepStatus::Warn);
    }

    #[tokio::test]
    async fn a_search_429_names_the_search_budget() {
        let env = env_with(|_| {}, |c| c.client.retry.max_rate_limit_retries = 0).await;
        let token = env.sandbox.private_app_token();
        let conn = env.add_token(&token).await;
        // Another integration with the same key searches flat out (5 searches per second),
        // for as long as the test runs.
        let flood = {
            let http = env.http.clone();
            let url = format!("{}/crm/v3/objects/contacts/search", env.sandbox.base_url());
            let token = token.clone();
            tokio::spawn(async move {
                let mut limited = 0u32;
                loop {
                    let status = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&serde_json::json!({ "limit": 1 }))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    if status == 429 {
                        limited += 1;
                    }
                    if limited > 3 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let run = env
            .test(
                &conn.id,
                CheckOptions {
                    objects: vec![ObjectAccess::read(ScopeObject::Contacts)],
                    write_probe: false,
                },
            )
            .await;
        flood.abort();
        assert_only_failure(&run, "read.contacts", "rate_limit_search");
        assert!(diagnosis(&run, "read.contacts")
            .fix
            .contains("within a second"));
    }

    #[tokio::test]
    async fn a_used_up_daily_budget_says_it_resets_at_the_portals_midnight() {
        let env = env().await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        env.put(
            "rate-limits/daily-used",
            serde_json::json!({ "used": 625_000 }),
        )
        .await;
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_only_failure(&run, "identity", "rate_limit_daily");
        // Tested again while the governor holds calls back: HubSpot is still reachable.
        let again = env.test(&conn.id, CheckOptions::default()).await;
        assert_eq!(status(&again, "reach"), StepStatus::Pass, "{again:#?}");
        assert_only_failure(&again, "identity", "rate_limit_daily");
        let d = diagnosis(&run, "identity");
        assert!(
            d.fix.contains("midnight") && d.fix.contains("US/Eastern"),
            "{d:?}"
        );
    }

    #[tokio::test]
    async fn server_errors_are_hubspots_side() {
        let env = env().await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        env.put("faults", serde_json::json!({ "errorRate": 1.0 }))
            .await;
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_only_failure(&run, "reach", "server_error");
        assert!(diagnosis(&run, "reach").fix.contains("status.hubspot.com"));
        assert!(
            run.steps[1..].iter().all(|s| s.status != StepStatus::Fail),
            "one diagnosis, not a cascade"
        );
    }

    #[tokio::test]
    async fn a_timeout_is_diagnosed_as_such() {
        let env = env_with(
            |_| {},
            |c| {
                c.client.timeout = Duration::from_millis(300);
                c.client.retry.max_retries = 1;
            },
        )
        .await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        env.put(
            "faults",
            serde_json::json!({ "timeoutRate": 1.0, "timeoutMs": 2000 }),
        )
        .await;
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_only_failure(&run, "reach", "timeout");
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_a_dns_failure() {
        let env = env().await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        env.set_base_url(&conn, "https://api.spoke-test.invalid");
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_only_failure(&run, "reach", "dns_failed");
        assert!(diagnosis(&run, "reach")
            .cause
            .contains("api.spoke-test.invalid"));
    }

    #[tokio::test]
    async fn a_host_that_does_not_speak_tls_is_a_tls_failure() {
        let env = env().await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        // The demo portal speaks plain HTTP: TCP connects, the TLS handshake fails.
        let https = env.sandbox.base_url().replace("http://", "https://");
        env.set_base_url(&conn, &https);
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_only_failure(&run, "reach", "tls_failed");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let env = env().await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        env.set_base_url(&conn, &format!("http://127.0.0.1:{}", crate::testenv::free_port()));
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_only_failure(&run, "reach", "unreachable");
    }

    #[tokio::test]
    async fn a_token_from_another_region_is_a_warning() {
        let env = env_with(
            |s| s.token = Some("pat-eu1-8a8b8c8d-1111-4222-8333-944455556666".into()),
            |_| {},
        )
        .await;
        let conn = env.add_token(&env.sandbox.private_app_token()).await;
        let run = env.test(&conn.id, CheckOptions::default()).await;
        assert_eq!(status(&run, "identity"), StepStatus::Warn, "{run:#?}");
        let d = diagnosis(&run, "identity");
        assert_eq!(d.code, "wrong_region");
        assert!(d.cause.contains("eu1") && d.cause.contains("na1"), "{d:?}");
        assert!(run.passed);
    }

    #[tokio::test]
    async fn the_report_carries_no_secret_and_no_record_value() {
        let env = env().await;
        let oauth = env.connect_oauth_with(OPTIONAL).await;
        let token = env.sandbox.private_app_token();
        let full = env.add_token(&token).await;
        let narrow_token = env.mint(&["crm.objects.contacts.read"]).await;
        let narrow = env.add_token(&narrow_token).await;
        let runs = vec![
            (
                oauth.clone(),
                env.test(
                    &oauth.id,
                    CheckOptions {
                        objects: vec![],
                        write_probe: true,
                    },
                )
                .await,
            ),
            (
                full.clone(),
                env.test(&full.id, CheckOptions::default()).await,
            ),
            (
                narrow.clone(),
                env.test(
                    &narrow.id,
                    CheckOptions {
                        objects: vec![
                            ObjectAccess::read(ScopeObject::Contacts),
                            ObjectAccess::read(ScopeObject::Deals),
                        ],
                        write_probe: false,
                    },
                )
                .await,
            ),
        ];
        let mut secrets = vec![
            token.clone(),
            narrow_token,
            env.sandbox.demo_app().client_secret,
            env.sandbox.demo_app().developer_api_key,
        ];
        for kind in SecretKind::ALL {
            secrets.extend(env.secrets.value(&oauth.id, kind));
        }
        assert_eq!(
            secrets.len(),
            7,
            "access, refresh and client secret of the OAuth connection"
        );
        // What the portal's records hold.
        let page: serde_json::Value = env
            .http
            .get(format!(
                "{}/crm/v3/objects/contacts?limit=20&properties=email,firstname,lastname,jobtitle,city,phone",
                env.sandbox.base_url()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let values: Vec<String> = page["results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["properties"].as_object().unwrap().values())
            .filter_map(|v| v.as_str())
            .filter(|v| v.len() >= 4 && !v.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_owned)
            .collect();
        assert!(values.len() > 40, "the sample has values: {values:?}");

        for (conn, run) in &runs {
            let conn = env.service.get(&conn.id).await.unwrap();
            let report = crate::report::build(run, &conn, "9.9.9");
            let text = format!("{}\n{}", report.markdown, report.json);
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "a secret reached the report:\n{text}"
                );
            }
            for value in &values {
                assert!(
                    !text.contains(value.as_str()),
                    "record value {value:?} reached the report:\n{text}"
                );
            }
            assert!(report.markdown.contains("# Spoke connection test report"));
            assert!(report.markdown.contains(&conn.portal_id.to_string()));
            for step in &run.steps {
                assert!(report.markdown.contains(&step.title), "{}", step.title);
            }
            assert_eq!(report.json["versions"]["app"], "9.9.9");
            assert_eq!(report.json["connection"]["portalId"], conn.portal_id);
            assert_eq!(
                report.json["run"]["steps"].as_array().unwrap().len(),
                run.steps.len()
            );
            assert!(report.json["system"]["os"].is_string());
            for id in run.correlation_ids() {
                assert!(
                    report.markdown.contains(&id)
                        && report.json["correlationIds"].to_string().contains(&id)
                );
            }
        }
        let failing = &runs[2].1;
        assert!(
            !failing.correlation_ids().is_empty(),
            "HubSpot's correlation id of the refused read"
        );
        let report = crate::report::build(failing, &narrow, "9.9.9");
        assert!(report.markdown.contains("FAILED") && report.markdown.contains("missing_scopes"));
        let dir = tempfile::tempdir().unwrap();
        let (md, js) = crate::report::save(&report, &dir.path().join("reports/run")).unwrap();
        assert_eq!(std::fs::read_to_string(md).unwrap(), report.markdown);
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(js).unwrap()).unwrap();
        assert_eq!(saved, report.json);
    }

    #[test]
    fn full_sync_cost_grows_with_records_and_properties() {
        assert_eq!(full_sync_calls(0, 100), 2);
        assert_eq!(full_sync_calls(100, 100), 2);
        assert_eq!(full_sync_calls(101, 100), 3);
        assert_eq!(full_sync_calls(1_000, 7_001), 21);
        assert_eq!(base_region("api-eu1.hubapi.com").as_deref(), Some("eu1"));
        assert_eq!(base_region("api.hubapi.com"), None);
        assert_eq!(pat_region("pat-na1-abc").as_deref(), Some("na1"));
    }

    #[test]
    fn a_regional_api_host_of_another_region_is_a_warning() {
        let mut conn = Connection {
            id: "c1".into(),
            label: "Acme".into(),
            method: AuthMethod::Token,
            base_url: String::new(),
            portal_id: 42,
            hub_domain: None,
            account_type: Some("STANDARD".into()),
            data_hosting_location: None,
            ui_domain: None,
            time_zone: None,
            user_id: None,
            granted_scopes: vec![],
            oauth_app: None,
            token_expires_at: None,
            status: crate::store::ConnectionStatus::Connected,
            status_detail: None,
            created_at: 0,
            updated_at: 0,
        };
        conn.base_url = "https://api-eu1.hubapi.com".into();
        conn.data_hosting_location = Some("na1".into());
        let s = identity_step(&conn, Some("na1"), Instant::now());
        assert_eq!(s.status, StepStatus::Warn);
        let d = s.diagnosis.unwrap();
        assert_eq!(d.code, "wrong_region");
        assert!(
            d.cause.contains("api-eu1.hubapi.com") && d.fix.contains("https://api-na1.hubapi.com"),
            "{d:?}"
        );
        conn.base_url = "https://api.hubapi.com".into();
        let s = identity_step(&conn, Some("na1"), Instant::now());
        assert_eq!(
            s.status,
            StepStatus::Pass,
            "the global host routes every region"
        );
    }

    /// The app awaits `run_checks` inside a Tauri command, which needs a `Send` future.
    #[allow(dead_code)]
    fn run_checks_is_send(connections: &Connections) {
        fn send<T: Send>(_: &T) {}
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let future = run_checks(connections, "id", CheckOptions::default(), |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        send(&future);
    }

    #[test]
    fn the_default_plan_follows_the_granted_scopes() {
        let granted: Vec<String> = [
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "crm.objects.deals.read",
            "tickets",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let plan = plan_from_scopes(&granted, AuthMethod::Token);
        assert_eq!(
            plan,
            [
                ObjectAccess::write(ScopeObject::Contacts),
                ObjectAccess::read(ScopeObject::Deals),
                ObjectAccess::write(ScopeObject::Tickets)
            ]
        );
    }
}
