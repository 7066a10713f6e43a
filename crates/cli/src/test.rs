//! `spoke test CONNECTION`: the Test screen, headless. Runs the live checklist, prints each step
//! as it finishes, and exits 0 only when every required check passed (1 when one failed).

use crate::connections::{picks, ScopeArgs};
use crate::output::{Failure, Out};
use clap::Args;
use spoke_connect::check::{run_checks, CheckOptions, CheckRun, CheckStep, StepStatus};
use spoke_connect::{ConnectConfig, Connection, Connections};
use spoke_hubspot::Problem;
use std::path::{Path, PathBuf};

/// The problem code of a test that ran and found a failing check (exit code 1).
pub const CHECKS_FAILED: &str = "cli.checks_failed";

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Connection id, label or portal id (see `spoke connections`).
    pub connection: String,
    /// Also create a test record in HubSpot and archive it again (writes to the portal).
    #[arg(long)]
    pub write_probe: bool,
    /// Objects to read, comma-separated (default: what the granted scopes allow).
    #[arg(long, value_delimiter = ',', value_name = "OBJECTS")]
    pub read: Vec<String>,
    /// Objects to read and write, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "OBJECTS")]
    pub write: Vec<String>,
    /// Test the objects of a playbook preset (see `spoke scopes --list-presets`).
    #[arg(long)]
    pub preset: Option<String>,
    /// Save the redacted diagnostics report: FILE (Markdown) and FILE with .json next to it.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

pub(crate) fn service(dir: &Path) -> Result<Connections, Failure> {
    let mut config = ConnectConfig::new(dir.join("spoke.db"));
    config.open_browser = false;
    Ok(Connections::open(config)?)
}

/// The connection named by id, else by label (case-insensitive), else by portal id.
pub(crate) fn find(list: &[Connection], name: &str) -> Result<String, Failure> {
    if let Some(c) = list.iter().find(|c| c.id == name) {
        return Ok(c.id.clone());
    }
    let by_label: Vec<&Connection> = list.iter().filter(|c| c.label.eq_ignore_ascii_case(name.trim())).collect();
    let by_portal: Vec<&Connection> = list.iter().filter(|c| c.portal_id.to_string() == name.trim()).collect();
    let matches = if by_label.is_empty() { by_portal } else { by_label };
    match matches.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(Failure::usage(
            "connect.not_found",
            format!("no connection is called {name:?}"),
            "List them with `spoke connections` and pass an id, label or portal id.",
        )),
        _ => Err(Failure::usage(
            "cli.ambiguous_connection",
            format!("{} connections match {name:?}", matches.len()),
            "Pass the connection id instead (see `spoke connections`).",
        )),
    }
}

fn mark(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Pass => "PASS",
        StepStatus::Warn => "WARN",
        StepStatus::Fail => "FAIL",
        StepStatus::Skipped => "SKIP",
    }
}

fn render_step(step: &CheckStep) -> String {
    let mut text = format!("{}  {:<48} {:>6} ms  {}", mark(step.status), step.title, step.duration_ms, step.detail);
    if let Some(d) = &step.diagnosis {
        if step.status != StepStatus::Pass {
            text += &format!("\n      fix: {}", d.fix);
            if let Some(id) = &d.correlation_id {
                text += &format!("\n      HubSpot correlation id: {id}");
            }
        }
    }
    text
}

fn summary(run: &CheckRun) -> String {
    let count = |s: StepStatus| run.steps.iter().filter(|x| x.status == s).count();
    format!(
        "{} in {} ms: {} passed, {} warnings, {} failed, {} skipped.",
        if run.passed { "Test passed" } else { "Test failed" },
        run.duration_ms,
        count(StepStatus::Pass),
        count(StepStatus::Warn),
        count(StepStatus::Fail),
        count(StepStatus::Skipped)
    )
}

pub async fn run(dir: &Path, args: &TestArgs, out: &Out) -> Result<(), Failure> {
    let objects = picks(&ScopeArgs {
        read: args.read.clone(),
        write: args.write.clone(),
        preset: args.preset.clone(),
        list_presets: false,
    })?;
    let svc = service(dir)?;
    let id = find(&svc.list().await?, &args.connection)?;
    let conn = svc.get(&id).await?;
    if !out.json {
        println!("Testing {} (portal {}, {})…", conn.label, conn.portal_id, conn.base_url);
    }
    let json = out.json;
    let run = run_checks(&svc, &id, CheckOptions { objects, write_probe: args.write_probe }, move |step| {
        if !json {
            println!("{}", render_step(step));
        }
    })
    .await?;
    if let Some(path) = &args.report {
        let conn = svc.get(&id).await?;
        let report = spoke_connect::report::build(&run, &conn, env!("CARGO_PKG_VERSION"));
        let (md, js) = spoke_connect::report::save(&report, path).map_err(|e| {
            Failure::local("cli.report", format!("could not write the report to {}: {e}", path.display()), "Pass a writable --report path.")
        })?;
        out.note(&format!("Report saved: {} and {}", md.display(), js.display()));
    }
    out.print(&run, || summary(&run))?;
    if run.passed {
        return Ok(());
    }
    let failed: Vec<&CheckStep> = run.steps.iter().filter(|s| s.status == StepStatus::Fail).collect();
    let first = failed.first().and_then(|s| s.diagnosis.as_ref());
    Err(Failure {
        problem: Problem::new(
            CHECKS_FAILED,
            format!(
                "{} check{} failed: {}",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                failed.iter().map(|s| s.title.as_str()).collect::<Vec<_>>().join(", ")
            ),
            first.map(|d| d.fix.clone()),
        ),
        exit_code: 1,
    })
}
