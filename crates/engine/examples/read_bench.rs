//! Read-path benchmark against the demo portal with HubSpot's Pro limits and network latency.
//!
//! `cargo run --release -p spoke-engine --example read_bench -- [--contacts N] [--latency-ms M]
//! [--rss-contacts R]`
//!
//! 1. N contacts (default 100,000) × 50 properties, M ms latency (default 150), Pro rate limits
//!    enforced: a full read (records/s as % of the rate-limit ceiling, 429s), then an
//!    incremental read after 1 % changes (API calls vs the minimum).
//! 2. R contacts (default 300,000; 0 skips it; 1,000,000 needs ~3 GB for the portal and
//!    3–4 minutes on the idle 2-core machine) × 50 properties with
//!    limits and latency off and no governor: the engine's peak RSS while it streams them
//!    (memory does not depend on the pace).
//!
//! The portal runs in this process; each sync runs in a child process (this binary again,
//! `--engine ...`) so that its peak RSS is the engine's alone. Prints Markdown tables.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use spoke_engine::{CancelToken, Engine, RunSummary, Store, SyncOptions};
use spoke_hubspot::{Client, ClientConfig, GovernorRegistry, Secret, StaticToken, Tier};
use spoke_mapping::{Destination, Direction, FieldMapping, LocalType, Mapping, MatchKey};
use spoke_sandbox::{Sandbox, SandboxConfig};

/// The incremental overlap (search-lag cover) used here. The bench fills its custom properties
/// with one bulk update, so every record shares one recent timestamp; it then waits longer than
/// the overlap and changes one record, so that the incremental measures the 1 % changes and not
/// a re-read of the fill (records changed within the overlap before the bookmark are re-read).
const OVERLAP_MS: u64 = 20_000;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) this process has used, in seconds.
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            Some(rest.get(11)?.parse::<f64>().ok()? + rest.get(12)?.parse::<f64>().ok()?)
        })
        .map(|ticks| ticks / 100.0)
        .unwrap_or(0.0)
}

/// This process's resident memory now, in kB.
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned()
}

/// Child: one sync, then `{summary, elapsedMs, peakRssKb}` on stdout; the full read's lane
/// timings (`spoke_engine::lanes`) on stderr.
async fn engine_child(args: &[String]) {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("spoke_engine::lanes=debug"))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_level(false)
        .init();
    let (base, token, store, mapping) = (&args[2], &args[3], &args[4], &args[5]);
    let overlap_ms: u64 = args[6].parse().unwrap();
    let governed = args[7] == "governed";
    let mapping = Mapping::read_file(std::path::Path::new(mapping)).unwrap();
    let mut client = Client::new(ClientConfig::new(base.clone()))
        .unwrap()
        .with_token_provider(Arc::new(StaticToken::new(Secret::from(token.as_str()))));
    if governed {
        client = client.with_governor(GovernorRegistry::shared().for_portal(
            base,
            1,
            Tier::Professional.budget(),
        ));
    }
    let engine = Engine::new(Store::open(store).unwrap(), client);
    let started = Instant::now();
    let summary = engine
        .sync(
            &mapping,
            SyncOptions {
                overlap_ms,
                ..SyncOptions::default()
            },
            CancelToken::new(),
            |_| {},
        )
        .await
        .unwrap();
    let out = json!({
        "summary": summary,
        "elapsedMs": started.elapsed().as_millis() as u64,
        "peakRssKb": peak_rss_kb(),
        "cpuSecs": cpu_secs(),
    });
    println!("{out}");
}

async fn admin(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let r = http
        .request(
            method,
            if path.is_empty() {
                format!("{base}/_sandbox")
            } else {
                format!("{base}/_sandbox/{path}")
            },
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

fn run_child(
    base: &str,
    token: &str,
    store: &std::path::Path,
    mapping: &std::path::Path,
    governed: bool,
) -> (RunSummary, u64, u64, f64, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--engine", base, token])
        .arg(store)
        .arg(mapping)
        .arg(OVERLAP_MS.to_string())
        .arg(if governed { "governed" } else { "free" })
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        serde_json::from_value(v["summary"].clone()).unwrap(),
        v["elapsedMs"].as_u64().unwrap(),
        v["peakRssKb"].as_u64().unwrap(),
        v["cpuSecs"].as_f64().unwrap_or(0.0),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

/// A portal of `contacts` contacts with 50 properties holding values, and a mapping of them.
struct Setup {
    sb: spoke_sandbox::SandboxHandle,
    base: String,
    token: String,
    http: reqwest::Client,
    properties: usize,
    /// The properties fit a list URL: list pages can carry them (see `list_inline`).
    list_fits: bool,
    mapping_path: std::path::PathBuf,
    store: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn prepare(contacts: usize, latency: u64, limits: bool) -> Setup {
    let sb = Sandbox::start(SandboxConfig {
        contacts,
        latency_ms: latency,
        tier: spoke_sandbox::Tier::Pro,
        rate_limits: limits,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let base = sb.base_url();
    let token = sb.private_app_token();
    let http = reqwest::Client::new();

    // 50 properties: the portal's own, topped up with custom ones, all holding values.
    let props: Value = http
        .get(format!("{base}/crm/v3/properties/contacts"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut names: Vec<String> = props["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .filter(|n| n != "hs_object_id")
        .take(50)
        .collect();
    let extra: Vec<String> = (names.len()..50)
        .map(|i| format!("bench_prop_{i:02}"))
        .collect();
    if !extra.is_empty() {
        let inputs: Vec<Value> = extra
            .iter()
            .map(|n| json!({ "name": n, "label": n, "type": "string", "fieldType": "text", "groupName": "contactinformation" }))
            .collect();
        let r = http
            .post(format!("{base}/crm/v3/properties/contacts/batch/create"))
            .bearer_auth(&token)
            .json(&json!({ "inputs": inputs }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let values: serde_json::Map<String, Value> = extra
            .iter()
            .map(|n| (n.clone(), json!(format!("value of {n} for the bench"))))
            .collect();
        admin(
            &http,
            &base,
            reqwest::Method::POST,
            "objects/contacts/bulk-update",
            json!({ "properties": values, "count": contacts }),
        )
        .await;
        names.extend(extra);
    }
    let mut mapping = Mapping::new(
        "Bench contacts",
        "contacts",
        Destination::Spoke {
            table: "contacts".into(),
        },
        MatchKey::RecordId {
            column: "hubspot_id".into(),
        },
    );
    mapping.fields = names
        .iter()
        .map(|n| FieldMapping {
            property: Some(n.clone()),
            column: Some(n.clone()),
            direction: Direction::ToLocal,
            property_type: None,
            column_type: Some(LocalType::Text),
            inbound: vec![],
            outbound: vec![],
            required: false,
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mapping_path = dir.path().join("mapping.json");
    mapping.write_file(&mapping_path).unwrap();
    let store = dir.path().join("spoke.db");

    Setup {
        sb,
        base,
        token,
        http,
        properties: names.len(),
        list_fits: spoke_engine::list_inline(
            &names,
            spoke_engine::SyncOptions::default().list_properties_max_chars,
        ),
        mapping_path,
        store,
        _dir: dir,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--engine") {
        engine_child(&args).await;
        return;
    }
    let contacts = arg(&args, "--contacts", 100_000) as usize;
    let latency = arg(&args, "--latency-ms", 150);
    let rss_contacts = arg(&args, "--rss-contacts", 300_000) as usize;
    let Setup {
        sb,
        base,
        token,
        http,
        properties,
        list_fits,
        mapping_path,
        store,
        _dir,
    } = prepare(contacts, latency, true).await;
    let sandbox_state = admin(&http, &base, reqwest::Method::GET, "", Value::Null).await;
    let live = sandbox_state["objects"]["contacts"]["live"]
        .as_u64()
        .unwrap();
    let archived = sandbox_state["objects"]["contacts"]["archived"]
        .as_u64()
        .unwrap();

    tokio::time::sleep(Duration::from_millis(OVERLAP_MS + 1000)).await;
    let marker: Value = http
        .get(format!("{base}/crm/v3/objects/contacts?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let marker = marker["results"][0]["id"].as_str().unwrap().to_owned();
    admin(
        &http,
        &base,
        reqwest::Method::POST,
        &format!("objects/contacts/{marker}/update"),
        json!({ "properties": { "lastname": "Marker" } }),
    )
    .await;
    // Full read.
    admin(
        &http,
        &base,
        reqwest::Method::DELETE,
        "requests",
        Value::Null,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await; // a fresh burst window
    let portal_cpu = cpu_secs();
    let (full, full_ms, full_rss, full_cpu, lanes) =
        tokio::task::block_in_place(|| run_child(&base, &token, &store, &mapping_path, true));
    let portal_cpu = cpu_secs() - portal_cpu;
    let served_full = admin(&http, &base, reqwest::Method::GET, "requests", Value::Null).await;

    // Incremental after 1 % changes (in a fresh search second: the child's governor is new).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let changes = (contacts / 100).max(1);
    let ids: Vec<String> = {
        let conn = rusqlite::Connection::open(&store).unwrap();
        let mut stmt = conn
            .prepare("SELECT _hs_id FROM contacts ORDER BY random() LIMIT ?1")
            .unwrap();
        stmt.query_map([changes as i64], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    for id in &ids {
        admin(
            &http,
            &base,
            reqwest::Method::POST,
            &format!("objects/contacts/{id}/update"),
            json!({ "properties": { "firstname": "Bench" } }),
        )
        .await;
    }
    admin(
        &http,
        &base,
        reqwest::Method::DELETE,
        "requests",
        Value::Null,
    )
    .await;
    let (inc, inc_ms, inc_rss, _, _) =
        tokio::task::block_in_place(|| run_child(&base, &token, &store, &mapping_path, true));
    let served_inc = admin(&http, &base, reqwest::Method::GET, "requests", Value::Null).await;

    let secs = full_ms as f64 / 1000.0;
    let by = &served_full["byRoute"];
    let route = |k: &str| by[k].as_u64().unwrap_or(0);
    let searches = route("POST /crm/v3/objects/{object_type}/search");
    let lists = route("GET /crm/v3/objects/{object_type}");
    let batches = route("POST /crm/v3/objects/{object_type}/batch/{op}");
    let served = served_full["total"].as_u64().unwrap();
    let rec_per_s = full.counts.read as f64 / secs;
    let budget = Tier::Professional.budget();
    // Ceiling: search at its per-second budget × 200 records, plus the burst budget spent on
    // list pages of 100 records with their properties (one call per 100 records) when the
    // properties fit a list URL, else list (100 ids) + batch read (100 records), two calls.
    let search_ceiling = budget.search_per_second as f64 * 200.0;
    let burst_per_s = budget.burst as f64 / budget.burst_window.as_secs_f64();
    let calls_per_100 = if list_fits { 1.0 } else { 2.0 };
    let list_ceiling = burst_per_s / calls_per_100 * 100.0;
    let ceiling = search_ceiling + list_ceiling;
    let search_rate = searches as f64 / secs;
    let standard_rate = (lists + batches) as f64 / secs;
    let min_inc = (changes as u64).div_ceil(200) + archived.div_ceil(100).max(1);
    let served_inc_total = served_inc["total"].as_u64().unwrap();

    println!("## spoke-engine read path: {contacts} contacts × {} properties, Pro limits, {latency} ms latency\n", properties);
    println!("| metric | value |");
    println!("|---|---|");
    println!(
        "| records read (full) | {} of {live} live |",
        full.counts.read
    );
    println!("| full read time | {secs:.1} s |");
    println!("| records/s | {rec_per_s:.0} |");
    println!("| rate-limit ceiling | {ceiling:.0} records/s (search {search_ceiling:.0} + list{} {list_ceiling:.0}) |", if list_fits { " with properties" } else { " + batch read" });
    println!(
        "| % of the rate-limit ceiling | {:.0} % |",
        100.0 * rec_per_s / ceiling
    );
    // The sustained ceiling above is 19 standard calls/s; a read that starts on an idle budget
    // may also spend each 10 s window's calls at its start, so over `secs` the sliding window
    // allows up to `burst × ceil(secs / window)` standard calls: the strictest bound.
    let windows = (secs / budget.burst_window.as_secs_f64()).ceil();
    let strict = search_ceiling + budget.burst as f64 * windows * 100.0 / calls_per_100 / secs;
    println!(
        "| % of the strictest bound | {:.0} % ({strict:.0} records/s: the sliding window lets a read starting on an idle budget spend {} calls per window at once, {windows:.0} windows in {secs:.1} s) |",
        100.0 * rec_per_s / strict,
        budget.burst
    );
    println!(
        "| search calls/s | {search_rate:.2} of {} |",
        budget.search_per_second
    );
    println!("| standard calls/s (list + batch read) | {standard_rate:.2} of {burst_per_s:.0} |");
    println!("| API calls (full) | {} engine calls ({searches} search, {lists} list, {batches} batch read), {served} answered by the portal |", full.counts.api_calls);
    println!(
        "| 429s and retries (full) | {} |",
        served.saturating_sub(full.counts.api_calls)
    );
    println!(
        "| CPU time during the full read | engine {full_cpu:.1} s, portal {portal_cpu:.1} s (of {secs:.1} s; {} cores, load {}) |",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load()
    );
    println!(
        "| incremental: changes | {changes} (overlap window {} s) |",
        OVERLAP_MS / 1000
    );
    println!(
        "| incremental: API calls | {} (minimum {min_inc}: {} search + {} archived-list pages) |",
        inc.counts.api_calls,
        (changes as u64).div_ceil(200),
        archived.div_ceil(100).max(1)
    );
    println!(
        "| incremental: updated / read | {} / {} |",
        inc.counts.updated, inc.counts.read
    );
    println!(
        "| incremental: 429s and retries | {} |",
        served_inc_total.saturating_sub(inc.counts.api_calls)
    );
    println!("| incremental time | {:.2} s |", inc_ms as f64 / 1000.0);
    println!(
        "| engine peak RSS (full / incremental) | {:.1} MB / {:.1} MB |",
        full_rss as f64 / 1024.0,
        inc_rss as f64 / 1024.0
    );
    if !lanes.is_empty() {
        println!("\nFull read, per lane (in calls = the governor's wait + the round trip):\n");
        for line in lanes.lines() {
            println!("- {line}");
        }
    }
    assert_eq!(
        full.counts.read, live,
        "full read must read every live record"
    );
    assert_eq!(inc.counts.updated as usize, changes);
    sb.shutdown().await;

    if rss_contacts == 0 {
        return;
    }
    let rss_before = rss_kb();
    let seeding = Instant::now();
    let big = prepare(rss_contacts, 0, false).await;
    let seeded_in = seeding.elapsed();
    let portal_rss = rss_kb().saturating_sub(rss_before);
    let load_before = load();
    let live = admin(&big.http, &big.base, reqwest::Method::GET, "", Value::Null).await["objects"]
        ["contacts"]["live"]
        .as_u64()
        .unwrap();
    let (full, ms, rss, _, _) = tokio::task::block_in_place(|| {
        run_child(&big.base, &big.token, &big.store, &big.mapping_path, false)
    });
    let db_mb = std::fs::metadata(&big.store).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!(
        "\n### Streaming: {rss_contacts} contacts × {} properties, rate limits and latency off, no governor\n",
        big.properties
    );
    println!("| metric | value |");
    println!("|---|---|");
    println!(
        "| records read (full) | {} of {live} live |",
        full.counts.read
    );
    println!(
        "| full read time | {:.1} s ({:.0} records/s, engine and portal on one machine) |",
        ms as f64 / 1000.0,
        full.counts.read as f64 * 1000.0 / ms as f64
    );
    println!("| API calls | {} |", full.counts.api_calls);
    println!("| engine peak RSS | {:.1} MB |", rss as f64 / 1024.0);
    println!(
        "| demo portal | seeded and filled in {:.0} s, {:.0} MB resident |",
        seeded_in.as_secs_f64(),
        portal_rss as f64 / 1024.0
    );
    println!("| load (1 min) before / after the read | {load_before} / {} |", load());
    println!("| store size | {db_mb:.0} MB |");
    assert_eq!(
        full.counts.read, live,
        "full read must read every live record"
    );
    big.sb.shutdown().await;
}
