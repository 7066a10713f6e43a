//! `make bench`: the dry-run of 1,000 records. Reads 1,000 contacts from the demo portal (ten
//! list pages of 100, HubSpot's list maximum), then runs them through a realistic contacts mapping
//! (trim, letter case, an enum value map, date-time formatting in a zone, a default and a
//! criteria filter), two thirds against a current local row (so updates and skips are judged).
//! Prints a Markdown section.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use spoke_hubspot::{Client, ClientConfig, ListObjects, Secret, StaticToken};
use spoke_mapping::*;
use spoke_sandbox::{Sandbox, SandboxConfig};

const RECORDS: usize = 1_000;
const REPEAT: usize = 25;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sb = Sandbox::start(SandboxConfig { contacts: 2_000, rate_limits: false, ..SandboxConfig::default() })
        .await
        .expect("demo portal starts");
    let client = Client::new(ClientConfig::new(sb.base_url()))
        .unwrap()
        .with_token_provider(Arc::new(StaticToken::new(Secret::from(sb.private_app_token().as_str()))));
    let cache = tempfile::tempdir().unwrap();
    let catalog = discover_properties(&client, "contacts", cache.path(), false).await.expect("properties");

    let names = ["email", "firstname", "lastname", "lifecyclestage", "createdate", "hs_lead_status", "phone", "company", "jobtitle", "city"];
    let mut mapping = Mapping::for_spoke_table(&catalog, "contacts", &names);
    for f in &mut mapping.fields {
        match f.property.as_deref() {
            Some("email") => f.inbound = vec![Transform::Trim, Transform::Case { to: Case::Lower }],
            Some("firstname") | Some("lastname") | Some("city") => f.inbound = vec![Transform::Trim, Transform::Case { to: Case::Title }],
            Some("lifecyclestage") => {
                f.inbound = vec![Transform::ValueMap {
                    values: BTreeMap::from([
                        ("lead".into(), "Lead".into()),
                        ("subscriber".into(), "Subscriber".into()),
                        ("customer".into(), "Customer".into()),
                    ]),
                    otherwise: Some("Other".into()),
                    strict: false,
                }]
            }
            Some("createdate") => {
                f.column_type = Some(LocalType::Text);
                f.inbound = vec![Transform::FormatDatetime { format: Some("%d.%m.%Y %H:%M".into()), zone: Some("Europe/Berlin".into()) }]
            }
            Some("phone") => f.inbound = vec![Transform::Trim, Transform::Default { value: LocalValue::Text("n/a".into()) }],
            _ => {}
        }
    }
    mapping.criteria = vec![Criterion::new("NOT_EQUALS", "lifecyclestage", CriterionValue::from("other"))];
    let issues = validate(&mapping, &catalog);
    assert!(issues.iter().all(|i| i.severity != Severity::Error), "bench mapping is valid: {issues:?}");

    // Read 1,000 records the way the preview does (properties of the mapping).
    let started = Instant::now();
    let mut records: Vec<HubSpotRecord> = Vec::new();
    let mut after = None;
    while records.len() < RECORDS {
        let options = ListObjects { limit: Some(100), after: after.clone(), properties: mapping.hubspot_properties(), archived: false };
        let page = client.list_objects("contacts", &options).await.expect("list");
        after = page.next_after().map(str::to_owned);
        records.extend(page.results.into_iter().map(HubSpotRecord::from));
        if after.is_none() {
            break;
        }
    }
    records.truncate(RECORDS);
    let fetch_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(records.len(), RECORDS);

    let first_name = mapping.fields.iter().find(|f| f.property.as_deref() == Some("firstname")).and_then(|f| f.column.clone()).unwrap();
    let samples: Vec<DryRunSample> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            // A third new, a third unchanged, a third edited locally since.
            let mut current = (i % 3 != 0).then(|| apply_inbound(&mapping, r).ok()).flatten();
            if let (2, Some(row)) = (i % 3, current.as_mut()) {
                row.insert(first_name.clone(), LocalValue::Text("Changed".into()));
            }
            DryRunSample::ToLocal { record: r.clone(), current }
        })
        .collect();

    let mut times = Vec::with_capacity(REPEAT);
    let mut rows = Vec::new();
    for _ in 0..REPEAT {
        let t = Instant::now();
        rows = dry_run(&mapping, &catalog, &samples);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let median = times[REPEAT / 2];
    let p95 = times[(REPEAT * 95) / 100];
    let count = |a: Action| rows.iter().filter(|r| r.action == a).count();
    assert_eq!(rows.len(), RECORDS);

    println!("## Mapping dry-run (1,000 records)");
    println!();
    println!("Realistic contacts mapping ({} fields with transforms, an enum map and a criteria filter), release build.", mapping.fields.len());
    println!();
    println!("| metric | value |");
    println!("|---|---|");
    println!("| records | {RECORDS} (create {}, update {}, skip {}, reject {}) |", count(Action::Create), count(Action::Update), count(Action::Skip), count(Action::Reject));
    println!("| dry-run, median of {REPEAT} | {median:.2} ms ({:.1} µs/record) |", median * 1000.0 / RECORDS as f64);
    println!("| dry-run, p95 | {p95:.2} ms |");
    println!("| reading the 1,000 samples from the demo portal (10 list calls, no latency) | {fetch_ms:.0} ms |");
    println!("| the same 10 calls at HubSpot's burst budget (190 per 10 s, Pro) | ≥ 0.5 s; with network latency, reading dominates |");
    println!();
    drop(sb);
}
