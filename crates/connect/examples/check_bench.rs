//! How long a healthy "Test connection" takes at 150 ms API latency (independent checks run
//! concurrently). Prints one Markdown table row; the goal (< 2 s) is reported, not asserted.
//!
//! ```sh
//! cargo run --release -p spoke-connect --example check_bench
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spoke_connect::check::{run_checks, CheckOptions, StepStatus};
use spoke_connect::store::ConnectionStore;
use spoke_connect::{AddToken, ConnectConfig, Connections, Error, SecretKind, SecretStore};
use spoke_hubspot::Secret;
use spoke_sandbox::{Sandbox, SandboxConfig};

const LATENCY_MS: u64 = 150;
const RUNS: usize = 5;

/// Secrets in memory: the bench measures the checks, not the keychain.
#[derive(Default)]
struct Memory(Mutex<HashMap<(String, String), Secret>>);

impl SecretStore for Memory {
    fn get(&self, id: &str, kind: SecretKind) -> Result<Option<Secret>, Error> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(&(id.to_owned(), kind.as_str().to_owned()))
            .cloned())
    }
    fn set(&self, id: &str, kind: SecretKind, value: &Secret) -> Result<(), Error> {
        self.0
            .lock()
            .unwrap()
            .insert((id.to_owned(), kind.as_str().to_owned()), value.clone());
        Ok(())
    }
    fn delete(&self, id: &str, kind: SecretKind) -> Result<(), Error> {
        self.0
            .lock()
            .unwrap()
            .remove(&(id.to_owned(), kind.as_str().to_owned()));
        Ok(())
    }
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    let sandbox = Sandbox::start(SandboxConfig {
        contacts: 2_000,
        latency_ms: LATENCY_MS,
        ..SandboxConfig::default()
    })
    .await
    .expect("demo portal");
    let dir = tempfile::tempdir().unwrap();
    let config = ConnectConfig::new(dir.path().join("spoke.db"));
    let store = ConnectionStore::open(&config.db_path).unwrap();
    let service = Connections::with_parts(config, store, Arc::new(Memory::default()));
    let conn = service
        .add_token(AddToken {
            label: None,
            base_url: Some(sandbox.base_url()),
            token: Secret::new(sandbox.private_app_token()),
        })
        .await
        .expect("connect");
    let mut times = Vec::new();
    let mut steps = 0;
    for _ in 0..RUNS {
        let run = run_checks(&service, &conn.id, CheckOptions::default(), |_| {})
            .await
            .expect("test");
        assert!(run.passed, "the healthy portal must pass: {run:#?}");
        steps = run
            .steps
            .iter()
            .filter(|s| s.status != StepStatus::Skipped)
            .count();
        times.push(run.duration_ms);
        // Let the search budget (5/s) and the burst window settle between runs.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    times.sort_unstable();
    let median = times[times.len() / 2];
    println!("| check | API latency | steps run | median | min | max | goal |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| healthy Test connection (service key, default plan, {RUNS} runs) | {LATENCY_MS} ms | {steps} | {median} ms | {} ms | {} ms | < 2000 ms: {} |",
        times[0],
        times[times.len() - 1],
        if median < 2_000 { "met" } else { "NOT met" }
    );
    sandbox.shutdown().await;
}
