//! A minimal sync runner for the kill-9 tests: runs one sync (or, with `--write`, one
//! write-back) and prints its summary as JSON.
//!
//! `spoke-engine-probe BASE_URL TOKEN STORE_PATH MAPPING_JSON [--full] [--page-size N]
//! [--associations companies,deals]`
//!
//! `spoke-engine-probe BASE_URL TOKEN STORE_PATH MAPPING_JSON --write CATALOG_JSON
//! [--batch-size N] [--concurrency N] [--create-settle-ms MS]`

use std::sync::Arc;

use spoke_engine::{CancelToken, Engine, Store, SyncOptions, WriteOptions};
use spoke_hubspot::{Client, ClientConfig, GovernorRegistry, Secret, StaticToken, Tier};
use spoke_mapping::Mapping;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: spoke-engine-probe BASE_URL TOKEN STORE_PATH MAPPING_JSON [--full] [--page-size N]");
        std::process::exit(2);
    }
    let (base, token, store_path, mapping_path) = (&args[1], &args[2], &args[3], &args[4]);
    let mut options = SyncOptions {
        full: args.iter().any(|a| a == "--full"),
        ..SyncOptions::default()
    };
    if let Some(i) = args.iter().position(|a| a == "--associations") {
        options.associations = args[i + 1].split(',').map(str::to_owned).collect();
    }
    if let Some(i) = args.iter().position(|a| a == "--page-size") {
        options.page_size = args[i + 1].parse().expect("page size");
    }
    let mapping = Mapping::read_file(std::path::Path::new(mapping_path)).expect("mapping");
    let governor = GovernorRegistry::shared().for_portal(base, 0, Tier::Professional.budget());
    let client = Client::new(ClientConfig::new(base.clone()))
        .expect("client")
        .with_token_provider(Arc::new(StaticToken::new(Secret::from(token.as_str()))))
        .with_governor(governor);
    let store = Store::open(store_path).expect("store");
    let engine = Engine::new(store, client);
    if let Some(i) = args.iter().position(|a| a == "--write") {
        let catalog: spoke_mapping::ObjectCatalog =
            serde_json::from_slice(&std::fs::read(&args[i + 1]).expect("catalog")).expect("catalog json");
        let arg = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .map(|i| args[i + 1].parse::<u64>().expect(name))
        };
        let mut options = WriteOptions::default();
        if let Some(n) = arg("--batch-size") {
            options.batch_size = n as u32;
        }
        if let Some(n) = arg("--concurrency") {
            options.concurrency = n as u32;
        }
        if let Some(n) = arg("--create-settle-ms") {
            options.create_settle_ms = n;
        }
        let progress = |p: spoke_engine::WriteProgress| eprintln!("{} {} written", p.run_id, p.written);
        match engine
            .write_back(&mapping, &catalog, options, CancelToken::new(), &progress)
            .await
        {
            Ok(summary) => println!("{}", serde_json::to_string(&summary).expect("json")),
            Err(e) => {
                eprintln!("write-back failed: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    match engine
        .sync(&mapping, options, CancelToken::new(), |p| {
            eprintln!("{} {:?} {} read", p.run_id, p.phase, p.records_read)
        })
        .await
    {
        Ok(summary) => println!("{}", serde_json::to_string(&summary).expect("json")),
        Err(e) => {
            eprintln!("sync failed: {e}");
            std::process::exit(1);
        }
    }
}
