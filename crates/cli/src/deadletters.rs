//! `spoke push | deadletters | resend`: write-back of local changes to HubSpot, and the rows
//! HubSpot refused (dead letters), headless. Same store as `spoke sync` (`<data dir>/store.db`).

use crate::output::{Failure, Out};
use crate::test::{find, service, CHECKS_FAILED};
use clap::Args;
use spoke_engine::{
    CancelToken, DeadLetter, Engine, RowOutcome, Store, WriteOptions, WriteProgress, WriteSummary,
};
use spoke_hubspot::Problem;
use spoke_mapping::{Mapping, MappingLibrary};
use std::path::Path;

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Connection id, label or portal id.
    pub connection: String,
    /// Mapping name or file (see `spoke mapping list CONNECTION`).
    pub mapping: String,
}

#[derive(Args, Debug)]
pub struct ResendArgs {
    /// Connection id, label or portal id.
    pub connection: String,
    /// Mapping name or file.
    pub mapping: String,
    /// The dead letter's row key (match key value, e.g. the email) or HubSpot id.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub row: Option<String>,
    /// Resend every dead letter of the mapping.
    #[arg(long)]
    pub all: bool,
}

/// The names of the saved mappings of a connection.
pub async fn mapping_names(dir: &Path, connection: &str) -> Result<Vec<String>, Failure> {
    let connections = service(dir)?;
    let id = find(&connections.list().await?, connection)?;
    Ok(MappingLibrary::new(dir.join("mappings"))
        .list(&id)?
        .into_iter()
        .map(|e| e.name)
        .collect())
}

/// A saved mapping by file name or by its name.
fn load(dir: &Path, connection_id: &str, name: &str) -> Result<Mapping, Failure> {
    let lib = MappingLibrary::new(dir.join("mappings"));
    let entries = lib.list(connection_id)?;
    let file = entries
        .iter()
        .find(|e| {
            e.file == name
                || e.name.eq_ignore_ascii_case(name)
                || e.file.trim_end_matches(".json") == name
        })
        .map(|e| e.file.clone())
        .ok_or_else(|| {
            Failure::usage(
                "cli.mapping_not_found",
                format!("no mapping is called {name:?}"),
                "List them with `spoke mapping list CONNECTION`.",
            )
        })?;
    Ok(lib.load(connection_id, &file)?)
}

fn render_progress(p: &WriteProgress) -> String {
    format!(
        "{} of {} rows written, {} refused, {} API calls",
        p.written, p.pending, p.rejected, p.api_calls
    )
}

fn render_summary(s: &WriteSummary) -> String {
    let mut lines = vec![s.message.clone()];
    for r in s
        .results
        .iter()
        .filter(|r| r.outcome == RowOutcome::Rejected)
    {
        lines.push(format!(
            "  refused {}: {} {}",
            r.row_key,
            r.category.as_deref().unwrap_or_default(),
            r.message.as_deref().unwrap_or_default()
        ));
        if let Some(fix) = r.fix.as_deref().filter(|f| !f.is_empty()) {
            lines.push(format!("    fix: {fix}"));
        }
    }
    lines.join("\n")
}

/// Exit code 1 when rows were refused (the summary is already printed).
fn refused(s: &WriteSummary) -> Result<(), Failure> {
    if s.rejected == 0 {
        return Ok(());
    }
    Err(Failure {
        problem: Problem::new(
            CHECKS_FAILED,
            format!("{} row{} refused and kept as dead letters", s.rejected, if s.rejected == 1 { " was" } else { "s were" }),
            Some("See `spoke deadletters`, fix the rows, then `spoke resend CONNECTION MAPPING --all`.".to_owned()),
        ),
        exit_code: 1,
    })
}

async fn run_write(
    dir: &Path,
    connection: &str,
    mapping: &str,
    resend: Option<Option<&str>>,
    out: &Out,
) -> Result<(), Failure> {
    let connections = service(dir)?;
    let id = find(&connections.list().await?, connection)?;
    let mapping = load(dir, &id, mapping)?;
    let client = connections.client(&id)?;
    let catalog = spoke_mapping::discover_properties(
        &client,
        &mapping.object,
        &dir.join("cache").join(spoke_mapping::slug(&id)),
        false,
    )
    .await?;
    let engine = Engine::new(Store::open(dir.join("store.db"))?, client);
    let cancel = CancelToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling after the current batch…");
            on_ctrl_c.cancel();
        }
    });
    let progress = |p: WriteProgress| eprintln!("{}", render_progress(&p));
    let summary = match resend {
        None => {
            engine
                .write_back(
                    &mapping,
                    &catalog,
                    WriteOptions::default(),
                    cancel,
                    &progress,
                )
                .await?
        }
        Some(row) => {
            engine
                .resend(
                    &mapping,
                    &catalog,
                    row,
                    WriteOptions::default(),
                    cancel,
                    &progress,
                )
                .await?
        }
    };
    out.print(&summary, || render_summary(&summary))?;
    refused(&summary)
}

pub async fn push(dir: &Path, args: &PushArgs, out: &Out) -> Result<(), Failure> {
    run_write(dir, &args.connection, &args.mapping, None, out).await
}

pub async fn resend(dir: &Path, args: &ResendArgs, out: &Out) -> Result<(), Failure> {
    let row = if args.all { None } else { args.row.as_deref() };
    run_write(dir, &args.connection, &args.mapping, Some(row), out).await
}

fn render_dead_letters(list: &[DeadLetter]) -> String {
    if list.is_empty() {
        return "No dead letters: every local change was accepted by HubSpot.".to_owned();
    }
    list.iter()
        .map(|d| {
            format!(
                "{} / {}  {}  {} (attempt {}, next retry {})\n  {}\n  cause: {}\n  fix: {}",
                d.mapping,
                d.row_key,
                d.category,
                d.last_failed_at,
                d.attempts,
                d.next_retry_at,
                d.message,
                d.cause,
                d.fix
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn list(dir: &Path, connection: Option<&str>, out: &Out) -> Result<(), Failure> {
    let store = Store::open(dir.join("store.db"))?;
    let mut letters = store.dead_letters(None)?;
    if let Some(connection) = connection {
        let names = mapping_names(dir, connection).await?;
        letters.retain(|d| names.contains(&d.mapping));
    }
    out.print(&letters, || render_dead_letters(&letters))
}
