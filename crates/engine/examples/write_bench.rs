//! Write-back benchmark: 10,000 local rows upserted to the demo portal with HubSpot's Pro limits
//! and 150 ms network latency, as a share of the rate-limit ceiling. Prints a Markdown table.
//!
//! `cargo run --release -p spoke-engine --example write_bench -- [--rows N] [--latency-ms M] [--concurrency C]`
//!
//! The ceiling is the sustained one: Pro allows 190 standard calls per rolling 10 s (19 a
//! second) and a batch upsert carries 100 rows, with no other call per batch, so 1,900 rows/s.
//! A write of 10,000 rows is 100 calls, fewer than one window holds, so from an idle budget it
//! is bound by latency and batches in flight rather than by the budget (shown as a second
//! figure). The measured run therefore starts from the steady state of a long write: for the
//! 10 s before it the budget is spent at exactly 19 calls a second (cheap `GET`s through the same
//! governor), so the write can only use slots as they free up, as it would in the middle of a
//! write of any size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use spoke_engine::{CancelToken, Engine, Store, WriteOptions, WriteSummary};
use spoke_hubspot::{Client, ClientConfig, GovernorRegistry, ListObjects, Secret, StaticToken, Tier};
use spoke_mapping::{
    Destination, Direction, FieldMapping, LocalType, Mapping, MatchKey, ObjectCatalog,
};
use spoke_sandbox::{Sandbox, SandboxConfig};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn field(p: &str) -> FieldMapping {
    FieldMapping {
        property: Some(p.into()),
        column: Some(p.into()),
        direction: Direction::Both,
        property_type: None,
        column_type: Some(LocalType::Text),
        inbound: vec![],
        outbound: vec![],
        required: false,
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// `rows` new rows, as another program would write them.
fn insert_rows(db: &std::path::Path, prefix: &str, rows: usize) {
    let mut c = rusqlite::Connection::open(db).unwrap();
    let tx = c.transaction().unwrap();
    for i in 0..rows {
        tx.execute(
            "INSERT INTO people (email, firstname, lastname, lifecyclestage, jobtitle, city) VALUES (?1, ?2, 'Bench', 'lead', 'Engineer', 'Lisbon')",
            rusqlite::params![format!("{prefix}{i}@write.example"), format!("Row{i}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

struct Measured {
    summary: WriteSummary,
    secs: f64,
    served: Value,
}

async fn measure(
    engine: &Engine,
    m: &Mapping,
    catalog: &ObjectCatalog,
    base: &str,
    concurrency: u32,
) -> Measured {
    let http = reqwest::Client::new();
    http.delete(format!("{base}/_sandbox/requests"))
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let summary = engine
        .write_back(
            m,
            catalog,
            WriteOptions {
                concurrency,
                ..WriteOptions::default()
            },
            CancelToken::new(),
            &|_| {},
        )
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let served: Value = http
        .get(format!("{base}/_sandbox/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Measured {
        summary,
        secs,
        served,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows = arg(&args, "--rows", 10_000) as usize;
    let latency = arg(&args, "--latency-ms", 150);
    let concurrency = arg(
        &args,
        "--concurrency",
        WriteOptions::default().concurrency as u64,
    ) as u32;
    let load_before = load_average();
    let sb = Sandbox::start(SandboxConfig {
        contacts: 200,
        latency_ms: latency,
        tier: spoke_sandbox::Tier::Pro,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let base = sb.base_url();
    let budget = Tier::Professional.budget();
    let governor = GovernorRegistry::shared().for_portal(&base, 1, budget);
    let client = Client::new(ClientConfig::new(base.clone()))
        .unwrap()
        .with_token_provider(Arc::new(StaticToken::new(Secret::from(
            sb.private_app_token().as_str(),
        ))))
        .with_governor(governor);
    let dir = tempfile::tempdir().unwrap();
    let catalog =
        spoke_mapping::discover_properties(&client, "contacts", &dir.path().join("cache"), false)
            .await
            .unwrap();
    let mut m = Mapping::new(
        "Bench",
        "contacts",
        Destination::Spoke {
            table: "people".into(),
        },
        MatchKey::Property {
            property: "email".into(),
            column: "email".into(),
        },
    );
    m.fields = [
        "email",
        "firstname",
        "lastname",
        "lifecyclestage",
        "jobtitle",
        "city",
    ]
    .iter()
    .map(|p| field(p))
    .collect();
    let db = dir.path().join("spoke.db");
    let store = Store::open(&db).unwrap();
    let engine = Engine::new(store, client.clone());
    // The table is created by a first (empty) write-back.
    engine
        .write_back(
            &m,
            &catalog,
            WriteOptions::default(),
            CancelToken::new(),
            &|_| {},
        )
        .await
        .unwrap();

    // 1. From an idle budget (nothing else called in the last 10 s).
    insert_rows(&db, "idle", rows);
    let idle = measure(&engine, &m, &catalog, &base, concurrency).await;
    assert_eq!(
        idle.summary.created as usize, rows,
        "{}",
        idle.summary.message
    );

    // 2. From the steady state: let the window empty, then spend it at exactly the sustained
    //    rate for one window, and write right after.
    insert_rows(&db, "bench", rows);
    tokio::time::sleep(budget.burst_window + Duration::from_millis(500)).await;
    let warm_calls = budget.burst as usize;
    let mut tick = tokio::time::interval(budget.burst_window / budget.burst);
    let mut warm = tokio::task::JoinSet::new();
    for _ in 0..warm_calls {
        tick.tick().await;
        let c = client.clone();
        warm.spawn(async move {
            c.list_objects(
                "contacts",
                &ListObjects {
                    limit: Some(1),
                    ..ListObjects::default()
                },
            )
            .await
        });
    }
    while let Some(r) = warm.join_next().await {
        r.unwrap().unwrap();
    }
    let steady = measure(&engine, &m, &catalog, &base, concurrency).await;
    let load_after = load_average();
    let s = &steady.summary;
    assert_eq!(s.created as usize, rows, "{}", s.message);

    let ops = &steady.served["byOperation"];
    let op = |k: &str| ops[k].as_u64().unwrap_or(0);
    let upserts = op("POST /crm/v3/objects/{object_type}/batch/upsert");
    let reads = op("POST /crm/v3/objects/{object_type}/batch/read");
    let total = steady.served["total"].as_u64().unwrap();
    let secs = steady.secs;
    let burst_per_s = budget.burst as f64 / budget.burst_window.as_secs_f64();
    let batch = WriteOptions::default().batch_size as f64;
    let calls_per_s = s.api_calls as f64 / secs;
    let rows_per_s = (s.created + s.updated) as f64 / secs;
    // One call per batch of 100 rows, nothing else: burst/s × 100 rows a second.
    let ceiling = burst_per_s * batch;
    let idle_total = idle.served["total"].as_u64().unwrap();
    println!("## spoke-engine write-back: {rows} upserts, Pro limits, {latency} ms latency, {concurrency} batches in flight\n");
    println!("| metric | value |");
    println!("|---|---|");
    println!(
        "| rows written | {} of {rows} ({} created) |",
        s.created + s.updated,
        s.created
    );
    println!("| time | {secs:.2} s |");
    println!("| rows/s | {rows_per_s:.0} |");
    println!(
        "| rate-limit ceiling | {ceiling:.0} rows/s ({} calls per {} s = {burst_per_s:.0} calls/s × {batch:.0} rows a batch upsert; no read-back) |",
        budget.burst,
        budget.burst_window.as_secs()
    );
    println!(
        "| **% of the rate-limit ceiling** | **{:.0} %** (steady state: the budget was spent at {burst_per_s:.0} calls/s for the {} s before the write) |",
        100.0 * rows_per_s / ceiling,
        budget.burst_window.as_secs()
    );
    println!("| standard calls/s | {calls_per_s:.2} of {burst_per_s:.0} |");
    println!(
        "| API calls | {} ({upserts} batch upsert, {reads} batch read), {total} answered by the portal |",
        s.api_calls
    );
    println!(
        "| 429s and retries | {} |",
        total.saturating_sub(s.api_calls)
    );
    println!(
        "| from an idle budget | {} rows in {:.2} s = {:.0} rows/s, {} calls, {} 429s/retries ({} calls fit in one {} s window of {}: latency × batches in flight bound it, not the budget) |",
        idle.summary.created + idle.summary.updated,
        idle.secs,
        (idle.summary.created + idle.summary.updated) as f64 / idle.secs,
        idle.summary.api_calls,
        idle_total.saturating_sub(idle.summary.api_calls),
        idle.summary.api_calls,
        budget.burst_window.as_secs(),
        budget.burst
    );
    println!("| machine load (1, 5, 15 min) | {load_before} before, {load_after} after |");
    sb.shutdown().await;
}
