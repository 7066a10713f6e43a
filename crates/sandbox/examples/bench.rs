//! Sandbox benchmark: throughput of list / get / search on loopback (no latency, no rate limits)
//! and memory at 1M contacts. Prints a Markdown report.
//!
//! `cargo run --release -p spoke-sandbox --example bench -- [--seconds 3] [--concurrency 32]
//!  [--contacts 500] [--million 1000000] [--skip-memory] [--out report.md]`

use spoke_sandbox::{Sandbox, SandboxConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Opts {
    seconds: u64,
    concurrency: usize,
    contacts: usize,
    million: usize,
    skip_memory: bool,
    out: Option<String>,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts { seconds: 3, concurrency: 32, contacts: 500, million: 1_000_000, skip_memory: false, out: None };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--seconds" => o.seconds = val("--seconds")?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--concurrency" => o.concurrency = val("--concurrency")?.parse().map_err(|e| format!("--concurrency: {e}"))?,
            "--contacts" => o.contacts = val("--contacts")?.parse().map_err(|e| format!("--contacts: {e}"))?,
            "--million" => o.million = val("--million")?.parse().map_err(|e| format!("--million: {e}"))?,
            "--skip-memory" => o.skip_memory = true,
            "--out" => o.out = Some(val("--out")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

#[derive(Clone, Copy)]
enum Op {
    List,
    Get,
    Search,
    /// The sync engine's incremental query: a one-week `lastmodifieddate` window.
    SearchWindow,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::List => "list `GET /crm/v3/objects/contacts?limit=10`",
            Op::Get => "get `GET /crm/v3/objects/contacts/{id}`",
            Op::Search => "search `POST /crm/v3/objects/contacts/search` (1 filter, sort, limit 10)",
            Op::SearchWindow => "search, `lastmodifieddate` 1-week window sorted by `hs_object_id`, limit 100",
        }
    }
}

struct Result_ {
    ok: u64,
    errors: u64,
    rps: f64,
    p50: f64,
    p99: f64,
}

async fn run(base: &str, token: &str, ids: Arc<Vec<String>>, op: Op, secs: u64, conc: usize) -> Result_ {
    let client = reqwest::Client::builder().pool_max_idle_per_host(conc).build().expect("http client");
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(Mutex::new(Vec::<u32>::new()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    // The search body is serialised once: the benchmark measures the server, not the client.
    let search_body = axum::body::Bytes::from(
        serde_json::json!({
            "filterGroups": [{ "filters": [{ "propertyName": "lifecyclestage", "operator": "EQ", "value": "customer" }] }],
            "sorts": [{ "propertyName": "createdate", "direction": "DESCENDING" }],
            "properties": ["email", "firstname", "lastname"],
            "limit": 10,
        })
        .to_string(),
    );
    let week_end = spoke_sandbox::seed_epoch_ms();
    let window_body = axum::body::Bytes::from(
        serde_json::json!({
            "filterGroups": [{ "filters": [{ "propertyName": "lastmodifieddate", "operator": "BETWEEN", "value": (week_end - 7 * 86_400_000).to_string(), "highValue": week_end.to_string() }] }],
            "sorts": [{ "propertyName": "hs_object_id", "direction": "ASCENDING" }],
            "properties": ["email", "lastmodifieddate"],
            "limit": 100,
        })
        .to_string(),
    );
    let auth = format!("Bearer {token}");
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (client, ok, errors, lat, ids) = (client.clone(), ok.clone(), errors.clone(), lat.clone(), ids.clone());
        let (base, auth, search_body, window_body) = (base.to_string(), auth.clone(), search_body.clone(), window_body.clone());
        let (list_url, search_url) = (format!("{base}/crm/v3/objects/contacts?limit=10"), format!("{base}/crm/v3/objects/contacts/search"));
        tasks.push(tokio::spawn(async move {
            let mut local = Vec::with_capacity(50_000);
            let mut i = w;
            while Instant::now() < deadline {
                let t = Instant::now();
                let req = match op {
                    Op::List => client.get(&list_url),
                    Op::Get => client.get(format!("{base}/crm/v3/objects/contacts/{}", ids[i % ids.len()])),
                    Op::Search => client.post(&search_url).header("content-type", "application/json").body(search_body.clone()),
                    Op::SearchWindow => client.post(&search_url).header("content-type", "application/json").body(window_body.clone()),
                };
                i += 7;
                match req.header("authorization", &auth).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                        local.push(t.elapsed().as_micros() as u32);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if let Ok(mut l) = lat.lock() {
                l.extend(local);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut l = lat.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_unstable();
    let pct = |p: f64| if l.is_empty() { 0.0 } else { l[((l.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0 };
    let ok = ok.load(Ordering::Relaxed);
    Result_ { ok, errors: errors.load(Ordering::Relaxed), rps: ok as f64 / elapsed, p50: pct(0.5), p99: pct(0.99) }
}

async fn contact_ids(base: &str, token: &str, n: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    let mut after = String::new();
    while ids.len() < n {
        let url = format!("{base}/crm/v3/objects/contacts?limit=100{}", if after.is_empty() { String::new() } else { format!("&after={after}") });
        let Ok(r) = client.get(url).bearer_auth(token).send().await else { break };
        let Ok(v) = r.json::<serde_json::Value>().await else { break };
        ids.extend(v["results"].as_array().into_iter().flatten().filter_map(|r| r["id"].as_str().map(str::to_string)));
        match v["paging"]["next"]["after"].as_str() {
            Some(a) => after = a.to_string(),
            None => break,
        }
    }
    ids
}

async fn throughput(report: &mut String, contacts: usize, o: &Opts, ops: &[Op]) {
    let sb = Sandbox::start(SandboxConfig { contacts, rate_limits: false, ..SandboxConfig::default() }).await.expect("sandbox");
    let (base, token) = (sb.base_url(), sb.private_app_token());
    let ids = Arc::new(contact_ids(&base, &token, 1000).await);
    report.push_str(&format!("\n### {contacts} contacts — {} s per operation, {} concurrent connections\n\n", o.seconds, o.concurrency));
    report.push_str("| operation | requests | req/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|\n");
    for &op in ops {
        let r = run(&base, &token, ids.clone(), op, o.seconds, o.concurrency).await;
        report.push_str(&format!("| {} | {} | {:.0} | {:.2} | {:.2} | {} |\n", op.name(), r.ok, r.rps, r.p50, r.p99, r.errors));
        eprintln!("{contacts} contacts, {}: {:.0} req/s", op.name(), r.rps);
    }
    sb.shutdown().await;
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let o = match opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut report = format!(
        "## Demo portal (spoke-sandbox) benchmark\n\nLoopback, no injected latency, rate limits off, client and server in one process on {cores} core(s). Target: ≥ 5,000 req/s for list/get/search.\n"
    );
    throughput(&mut report, o.contacts, &o, &[Op::List, Op::Get, Op::Search, Op::SearchWindow]).await;
    if !o.skip_memory {
        let before = rss_kib();
        let t = Instant::now();
        let sb = Sandbox::start(SandboxConfig { contacts: o.million, rate_limits: false, ..SandboxConfig::default() }).await.expect("sandbox");
        let seeded = t.elapsed();
        let after = rss_kib();
        let (base, token) = (sb.base_url(), sb.private_app_token());
        let ids = Arc::new(contact_ids(&base, &token, 1000).await);
        report.push_str(&format!(
            "\n### Memory at {} contacts\n\n| measure | value |\n|---|---:|\n| seeding time | {:.1} s |\n| RSS before | {:.0} MiB |\n| RSS after seeding | {:.0} MiB |\n| portal (RSS delta) | {:.0} MiB |\n| per contact (incl. proportional companies, deals, tickets, notes, calls, associations) | {:.0} B |\n",
            o.million,
            seeded.as_secs_f64(),
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after.saturating_sub(before)) as f64 / 1024.0,
            (after.saturating_sub(before)) as f64 * 1024.0 / o.million as f64,
        ));
        report.push_str(&format!("\n| operation at {} contacts | requests | req/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|\n", o.million));
        for op in [Op::List, Op::Get, Op::SearchWindow, Op::Search] {
            let secs = if matches!(op, Op::Search) { o.seconds.max(2) } else { o.seconds };
            let r = run(&base, &token, ids.clone(), op, secs, o.concurrency).await;
            report.push_str(&format!("| {} | {} | {:.0} | {:.2} | {:.2} | {} |\n", op.name(), r.ok, r.rps, r.p50, r.p99, r.errors));
        }
        report.push_str(&format!("\nRSS after the load: {:.0} MiB.\n", rss_kib() as f64 / 1024.0));
        sb.shutdown().await;
    }
    println!("{report}");
    if let Some(path) = &o.out {
        if let Err(e) = std::fs::write(path, &report) {
            eprintln!("bench: cannot write {path}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}
