//! `kill -9` at random moments during full and incremental syncs, each time resumed: the store
//! ends equal to the portal, and no record is read twice (the per-page counters, committed with
//! the rows, add up exactly).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use rand::Rng;
use spoke_engine::RunSummary;
use spoke_sandbox::SandboxConfig;

/// Runs the probe until one run finishes on its own, killing the earlier ones at random.
/// Returns how many were killed and the final summary.
fn run_with_kills(
    env: &Env,
    mapping_path: &std::path::Path,
    max_kill_ms: u64,
    kills: usize,
) -> (usize, RunSummary) {
    let store = env.dir.path().join("spoke.db");
    let mut killed = 0;
    loop {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spoke-engine-probe"))
            .arg(env.sb.base_url())
            .arg(env.sb.private_app_token())
            .arg(&store)
            .arg(mapping_path)
            .args(["--page-size", "100", "--associations", "companies"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if killed < kills {
            let wait = rand::rng().random_range(20..max_kill_ms);
            std::thread::sleep(Duration::from_millis(wait));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
                continue;
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let summary: RunSummary = serde_json::from_slice(&out.stdout).unwrap();
        return (killed, summary);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let env = env(SandboxConfig {
        contacts: 5000,
        ..SandboxConfig::default()
    })
    .await;
    let m = contacts_mapping();
    let mapping_path = env.dir.path().join("mapping.json");
    m.write_file(&mapping_path).unwrap();

    // Full read, killed several times.
    let (killed, last) =
        tokio::task::block_in_place(|| run_with_kills(&env, &mapping_path, 700, 6));
    assert!(killed >= 3, "only {killed} kills landed");
    // A kill can land after the full scan committed its last page (during associations or
    // before the summary): the run that finishes is then an incremental one.
    assert!(["full", "incremental"].contains(&last.mode.as_str()), "{}", last.mode);
    let portal = env.portal(&m).await;
    assert_same(&portal, &env.local("contacts"));
    let runs = env.store.runs(100).unwrap();
    assert!(runs.iter().any(|r| r.mode == "full"));
    let created: u64 = runs.iter().map(|r| r.counts.created).sum();
    let unchanged: u64 = runs
        .iter()
        .filter(|r| r.mode == "full")
        .map(|r| r.counts.unchanged)
        .sum();
    assert_eq!(created, portal.len() as u64, "{runs:?}");
    // The two read paths claim ids before reading them: nothing is read twice, even across kills.
    assert_eq!(unchanged, 0);
    // Every run but the last was killed; or a kill landed after a run had finished (before it
    // printed its summary), and the probe started again found nothing left but an incremental.
    for (i, r) in runs.iter().enumerate().skip(1) {
        let finished_then_killed = i == 1
            && last.mode == "incremental"
            && matches!(
                r.status,
                spoke_engine::RunStatus::Succeeded | spoke_engine::RunStatus::SucceededWithErrors
            );
        assert!(
            r.status == spoke_engine::RunStatus::Interrupted || finished_then_killed,
            "{runs:?}"
        );
    }
    let ids: Vec<String> = portal.keys().cloned().collect();
    let want = env.portal_associations("contacts", &ids, "companies").await;
    assert!(want.len() > 1000, "{}", want.len());
    assert_eq!(env.local_associations("contacts", "companies"), want);

    // Incremental over 1,200 changes (1,000 in one millisecond), killed several times.
    for id in ids.iter().step_by(25) {
        env.update("contacts", id, serde_json::json!({ "firstname": "Kill9" }))
            .await;
    }
    let bulk_ids: Vec<String> = ids.iter().rev().take(1000).cloned().collect();
    env.admin(
        reqwest::Method::POST,
        "objects/contacts/bulk-update",
        serde_json::json!({ "properties": { "lastname": "Bulk" }, "ids": bulk_ids }),
    )
    .await;
    let before = runs.len();
    let (killed, last) =
        tokio::task::block_in_place(|| run_with_kills(&env, &mapping_path, 400, 5));
    assert_eq!(last.mode, "incremental");
    assert!(killed >= 1);
    let portal = env.portal(&m).await;
    assert_same(&portal, &env.local("contacts"));
    let runs = env.store.runs(100).unwrap();
    let updated: u64 = runs[..runs.len() - before]
        .iter()
        .map(|r| r.counts.updated)
        .sum();
    let changed: std::collections::BTreeSet<&String> =
        ids.iter().step_by(25).chain(bulk_ids.iter()).collect();
    assert_eq!(
        updated,
        changed.len() as u64,
        "{:?}",
        &runs[..runs.len() - before]
    );
    assert_eq!(
        env.local_associations("contacts", "companies"),
        env.portal_associations("contacts", &ids, "companies").await
    );
}
