//! Write-back benchmark: 10,000 local rows upserted to the demo portal with HubSpot's Pro limits
//! and 150 ms network latency, as a share of the rate-limit ceiling. Prints a Markdown table.
//!
//! `cargo run --release -p spoke-engine --example write_bench -- [--rows N] [--latency-ms M] [--concurrency C]`

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use spoke_engine::{CancelToken, Engine, Store, WriteOptions};
use spoke_hubspot::{Client, ClientConfig, GovernorRegistry, Secret, StaticToken, Tier};
use spoke_mapping::{Destination, Direction, FieldMapping, LocalType, Mapping, MatchKey};
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows = arg(&args, "--rows", 10_000) as usize;
    let latency = arg(&args, "--latency-ms", 150);
    let concurrency = arg(&args, "--concurrency", WriteOptions::default().concurrency as u64) as u32;
    let sb = Sandbox::start(SandboxConfig {
        contacts: 200,
        latency_ms: latency,
        tier: spoke_sandbox::Tier::Pro,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let base = sb.base_url();
    let governor = GovernorRegistry::shared().for_portal(&base, 1, Tier::Professional.budget());
    let client = Client::new(ClientConfig::new(base.clone()))
        .unwrap()
        .with_token_provider(Arc::new(StaticToken::new(Secret::from(
            sb.private_app_token().as_str(),
        ))))
        .with_governor(governor);
    let dir = tempfile::tempdir().unwrap();
    let catalog = spoke_mapping::discover_properties(&client, "contacts", &dir.path().join("cache"), false)
        .await
        .unwrap();
    let mut m = Mapping::new(
        "Bench",
        "contacts",
        Destination::Spoke { table: "people".into() },
        MatchKey::Property { property: "email".into(), column: "email".into() },
    );
    m.fields = ["email", "firstname", "lastname", "lifecyclestage", "jobtitle", "city"]
        .iter()
        .map(|p| field(p))
        .collect();
    let store = Store::open(dir.path().join("spoke.db")).unwrap();
    let engine = Engine::new(store, client);
    // The table is created by a first (empty) write-back; then 10,000 rows arrive as another
    // program would write them.
    engine
        .write_back(&m, &catalog, WriteOptions::default(), CancelToken::new(), &|_| {})
        .await
        .unwrap();
    {
        let mut c = rusqlite::Connection::open(dir.path().join("spoke.db")).unwrap();
        let tx = c.transaction().unwrap();
        for i in 0..rows {
            tx.execute(
                "INSERT INTO people (email, firstname, lastname, lifecyclestage, jobtitle, city) VALUES (?1, ?2, 'Bench', 'lead', 'Engineer', 'Lisbon')",
                rusqlite::params![format!("bench{i}@write.example"), format!("Row{i}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let http = reqwest::Client::new();
    http.delete(format!("{base}/_sandbox/requests")).send().await.unwrap();
    let started = Instant::now();
    let s = engine
        .write_back(
            &m,
            &catalog,
            WriteOptions { concurrency, ..WriteOptions::default() },
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
    let ops = &served["byOperation"];
    let op = |k: &str| ops[k].as_u64().unwrap_or(0);
    let upserts = op("POST /crm/v3/objects/{object_type}/batch/upsert");
    let reads = op("POST /crm/v3/objects/{object_type}/batch/read");
    let total = served["total"].as_u64().unwrap();
    let budget = Tier::Professional.budget();
    let burst_per_s = budget.burst as f64 / budget.burst_window.as_secs_f64();
    let calls_per_s = s.api_calls as f64 / secs;
    let rows_per_s = (s.created + s.updated) as f64 / secs;
    // Each 100 rows cost one upsert and one read-back (echo suppression): at most
    // burst/s ÷ 2 × 100 rows a second.
    let ceiling = burst_per_s / 2.0 * 100.0;
    println!("## spoke-engine write-back: {rows} upserts, Pro limits, {latency} ms latency, {concurrency} batches in flight\n");
    println!("| metric | value |");
    println!("|---|---|");
    println!("| rows written | {} of {rows} ({} created) |", s.created + s.updated, s.created);
    println!("| time | {secs:.1} s |");
    println!("| rows/s | {rows_per_s:.0} |");
    println!("| rate-limit ceiling | {ceiling:.0} rows/s ({burst_per_s:.0} calls/s; an upsert of 100 + its read-back) |");
    println!("| % of the rate-limit ceiling | {:.0} % |", 100.0 * rows_per_s / ceiling);
    println!("| standard calls/s | {calls_per_s:.2} of {burst_per_s:.0} |");
    println!("| API calls | {} ({upserts} batch upsert, {reads} batch read), {total} answered by the portal |", s.api_calls);
    println!("| 429s and retries | {} |", total.saturating_sub(s.api_calls));
    assert_eq!(s.created as usize, rows, "{}", s.message);
    sb.shutdown().await;
}
