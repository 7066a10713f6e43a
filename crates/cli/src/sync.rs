//! `spoke sync | runs | mapping`: the Sync, Runs and Mapping screens, headless. Same files as
//! the app: mappings under `<data dir>/mappings/`, synced data in `<data dir>/store.db`.

use crate::output::{Failure, Out};
use crate::test::{find, service};
use clap::{Args, Subcommand};
use spoke_engine::{CancelToken, Engine, Progress, Store, SyncOptions};
use spoke_mapping::{Mapping, MappingLibrary};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Connection id, label or portal id.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub connection: Option<String>,
    /// Mapping name or file (see `spoke mapping list CONNECTION`).
    #[arg(required_unless_present = "all")]
    pub mapping: Option<String>,
    /// Sync every saved mapping of every connection, one after another (for cron); prints a
    /// summary of each and exits 1 when any failed.
    #[arg(long)]
    pub all: bool,
    /// Read every record again instead of only what changed.
    #[arg(long)]
    pub full: bool,
}

/// One mapping's result in `spoke sync --all`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AllEntry {
    connection_id: String,
    connection: String,
    file: String,
    mapping: String,
    ok: bool,
    summary: Option<spoke_engine::RunSummary>,
    problem: Option<spoke_hubspot::Problem>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AllSummary {
    ok: bool,
    synced: usize,
    failed: usize,
    syncs: Vec<AllEntry>,
}

#[derive(Subcommand, Debug)]
pub enum MappingCommand {
    /// List the saved mappings of a connection.
    List { connection: String },
    /// Print a saved mapping's file (JSON, stable order) or write it to --out.
    Export {
        connection: String,
        mapping: String,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check a mapping file against the portal's properties and save it; problems name the
    /// line and the field.
    Import { connection: String, file: PathBuf },
}

fn library(dir: &Path) -> MappingLibrary {
    MappingLibrary::new(dir.join("mappings"))
}

/// A saved mapping by file name or by its name.
fn load(dir: &Path, connection_id: &str, name: &str) -> Result<Mapping, Failure> {
    let lib = library(dir);
    let entries = lib.list(connection_id)?;
    let file = entries
        .iter()
        .find(|e| e.file == name || e.name.eq_ignore_ascii_case(name) || e.file.trim_end_matches(".json") == name)
        .map(|e| e.file.clone())
        .ok_or_else(|| {
            Failure::usage("cli.mapping_not_found", format!("no mapping is called {name:?}"), "List them with `spoke mapping list CONNECTION`.")
        })?;
    Ok(lib.load(connection_id, &file)?)
}

fn render_progress(p: &Progress) -> String {
    let total = p.records_total.map(|t| format!(" of {t}")).unwrap_or_default();
    format!("{:?}: {}{total} records, {} pages, {} API calls", p.phase, p.records_read, p.pages, p.api_calls)
}

pub async fn sync(dir: &Path, args: &SyncArgs, out: &Out) -> Result<(), Failure> {
    if args.all {
        return sync_all(dir, args.full, out).await;
    }
    let (Some(connection), Some(mapping)) = (&args.connection, &args.mapping) else {
        return Err(Failure::usage("cli.usage", "give a CONNECTION and a MAPPING, or --all", "See `spoke sync --help`."));
    };
    let connections = service(dir)?;
    let id = find(&connections.list().await?, connection)?;
    let mapping = load(dir, &id, mapping)?;
    let store = Store::open(dir.join("store.db"))?;
    let engine = Engine::new(store, connections.client(&id)?);
    let cancel = CancelToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling at the next checkpoint…");
            on_ctrl_c.cancel();
        }
    });
    let options = SyncOptions { full: args.full, ..SyncOptions::default() };
    let summary = engine.sync(&mapping, options, cancel, |p| eprintln!("{}", render_progress(&p))).await?;
    out.print(&summary, || summary.message.clone())
}

/// `spoke comments CONNECTION MAPPING`: notes ↔ the mapping's comments table.
pub async fn comments(dir: &Path, connection: &str, mapping: &str, out: &Out) -> Result<(), Failure> {
    let connections = service(dir)?;
    let id = find(&connections.list().await?, connection)?;
    let mapping = load(dir, &id, mapping)?;
    let engine = Engine::new(Store::open(dir.join("store.db"))?, connections.client(&id)?);
    let s = engine.sync_comments(&mapping, &CancelToken::new()).await?;
    let table = spoke_engine::store_table(&mapping.destination);
    let folder = spoke_engine::attachments_dir(&dir.join("store.db"), &table);
    out.print(&s, || {
        let mut text = format!(
            "{} notes read into {}: {} added, {} changed, {} removed; {} notes created and {} updated in HubSpot; {} conflicts, {} refused; \
             attachments: {} downloaded into {}, {} uploaded",
            s.read, spoke_engine::comments_table(&table), s.added, s.changed, s.removed, s.created, s.updated, s.conflicts, s.failed,
            s.attachments_downloaded, folder.display(), s.attachments_uploaded
        );
        if s.attachments_failed > 0 {
            text.push_str(&format!(
                ", {} not transferred (reason in {}._error; retried on the next run)",
                s.attachments_failed,
                spoke_engine::attachments_table(&table)
            ));
        }
        text.push_str(&format!("; {} API calls", s.api_calls));
        text
    })?;
    if s.failed > 0 {
        let problem = spoke_hubspot::Problem::new(
            "cli.comments_refused",
            format!("HubSpot refused {} comment(s)", s.failed),
            Some("The reason is in the _error column of the comments table; fix the row and run spoke comments again.".to_owned()),
        );
        return Err(Failure { problem, exit_code: 4 });
    }
    Ok(())
}

/// `spoke sync --all`: every saved mapping of every connection, one at a time; a failure does not
/// stop the others. Exit code 1 when any failed (the summary is printed first).
async fn sync_all(dir: &Path, full: bool, out: &Out) -> Result<(), Failure> {
    let connections = service(dir)?;
    let store = Store::open(dir.join("store.db"))?;
    let cancel = CancelToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling at the next checkpoint…");
            on_ctrl_c.cancel();
        }
    });
    let mut syncs = Vec::new();
    for conn in connections.list().await? {
        for entry in library(dir).list(&conn.id)? {
            let mut item = AllEntry {
                connection_id: conn.id.clone(),
                connection: conn.label.clone(),
                file: entry.file.clone(),
                mapping: entry.name.clone(),
                ok: false,
                summary: None,
                problem: None,
            };
            if cancel.is_cancelled() {
                item.problem = Some(spoke_hubspot::Problem::new("cli.cancelled", "cancelled before it started", None));
                syncs.push(item);
                continue;
            }
            eprintln!("{} / {}:", conn.label, entry.name);
            let result = async {
                let mapping = library(dir).load(&conn.id, &entry.file)?;
                let engine = Engine::new(store.clone(), connections.client(&conn.id)?);
                let options = SyncOptions { full, ..SyncOptions::default() };
                Ok::<_, Failure>(engine.sync(&mapping, options, cancel.clone(), |p| eprintln!("  {}", render_progress(&p))).await?)
            }
            .await;
            match result {
                Ok(summary) => {
                    item.ok = !matches!(summary.status, spoke_engine::RunStatus::Failed | spoke_engine::RunStatus::Cancelled);
                    item.summary = Some(summary);
                }
                Err(f) => item.problem = Some(f.problem),
            }
            syncs.push(item);
        }
    }
    let failed = syncs.iter().filter(|s| !s.ok).count();
    let summary = AllSummary { ok: failed == 0, synced: syncs.len() - failed, failed, syncs };
    out.print(&summary, || {
        if summary.syncs.is_empty() {
            return "No saved mappings: create one in the app or with `spoke mapping import`.".to_owned();
        }
        let mut lines: Vec<String> = summary
            .syncs
            .iter()
            .map(|s| match (&s.summary, &s.problem) {
                (Some(run), _) => format!("{} {} / {}: {}", if s.ok { "ok  " } else { "FAIL" }, s.connection, s.mapping, run.message),
                (None, Some(p)) => format!("FAIL {} / {}: {}", s.connection, s.mapping, p.message),
                (None, None) => format!("FAIL {} / {}", s.connection, s.mapping),
            })
            .collect();
        lines.push(format!("{} synced, {} failed", summary.synced, summary.failed));
        lines.join("\n")
    })?;
    if failed == 0 {
        return Ok(());
    }
    Err(Failure {
        problem: spoke_hubspot::Problem::new(
            crate::test::CHECKS_FAILED,
            format!("{failed} of {} syncs failed", summary.syncs.len()),
            Some("See each failure's message above; fix it and run `spoke sync --all` again.".to_owned()),
        ),
        exit_code: 1,
    })
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Connection id, label or portal id.
    pub connection: String,
    /// Mapping name or file.
    pub mapping: String,
    /// csv (RFC 4180, header line, NULL = empty) or jsonl (one JSON object per line).
    #[arg(long, value_parser = ["csv", "jsonl"], default_value = "csv")]
    pub format: String,
    /// Write into this file instead of standard output.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// `spoke export`: streams the rows (never the whole table in memory).
pub async fn export(dir: &Path, args: &ExportArgs) -> Result<(), Failure> {
    let id = find(&service(dir)?.list().await?, &args.connection)?;
    let mapping = load(dir, &id, &args.mapping)?;
    let format = if args.format == "jsonl" { spoke_engine::ExportFormat::Jsonl } else { spoke_engine::ExportFormat::Csv };
    let store = Store::open(dir.join("store.db"))?;
    let io = |e: std::io::Error| Failure::from(spoke_engine::Error::Destination { destination: args.out.as_ref().map(|p| p.display().to_string()).unwrap_or("standard output".into()), reason: e.to_string() });
    let mut w: Box<dyn std::io::Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(io)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let n = store.export(&mapping, format, &mut w)?;
    eprintln!("{n} rows exported");
    Ok(())
}

pub async fn runs(dir: &Path, limit: usize, out: &Out) -> Result<(), Failure> {
    let runs = Store::open(dir.join("store.db"))?.runs(limit)?;
    out.print(&runs, || {
        if runs.is_empty() {
            return "No syncs have run yet.".to_owned();
        }
        runs.iter()
            .map(|r| {
                format!(
                    "#{:<4} {}  {:<28} {:<11} {:?}  {} read, {} new, {} updated, {} archived, {} deleted, {} merged, {} API calls, {} errors",
                    r.id, r.started_at, r.mapping, r.mode, r.status, r.counts.read, r.counts.created, r.counts.updated,
                    r.counts.archived, r.counts.deleted, r.counts.merged, r.counts.api_calls, r.counts.errors
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

pub async fn mapping(dir: &Path, cmd: &MappingCommand, out: &Out) -> Result<(), Failure> {
    let connections = service(dir)?;
    let list = connections.list().await?;
    match cmd {
        MappingCommand::List { connection } => {
            let entries = library(dir).list(&find(&list, connection)?)?;
            out.print(&entries, || {
                entries.iter().map(|e| format!("{:<32} {} → {} ({} fields)", e.file, e.object, e.table, e.fields)).collect::<Vec<_>>().join("\n")
            })
        }
        MappingCommand::Export { connection, mapping, out: file } => {
            let text = load(dir, &find(&list, connection)?, mapping)?.to_json_pretty();
            match file {
                Some(path) => std::fs::write(path, &text).map_err(|e| {
                    Failure::local("cli.write", format!("could not write {}: {e}", path.display()), "Choose a writable path.")
                }),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        MappingCommand::Import { connection, file } => {
            let id = find(&list, connection)?;
            let text = std::fs::read_to_string(file).map_err(|e| {
                Failure::usage("cli.read", format!("could not read {}: {e}", file.display()), "Check the path.")
            })?;
            let object = Mapping::from_json_str(&text)?.object;
            let catalog = spoke_mapping::discover_properties(&connections.client(&id)?, &object, &dir.join("cache").join(spoke_mapping::slug(&id)), false).await?;
            let mapping = spoke_mapping::import_mapping(&text, &catalog)?.into_result()?;
            let entry = library(dir).save(&id, &mapping)?;
            out.print(&entry, || format!("Imported {} as {}.", entry.name, entry.file))
        }
    }
}
