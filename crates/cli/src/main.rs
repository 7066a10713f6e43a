//! `spoke`: the headless twin of every screen in the Spoke app.

mod conflicts;
mod connections;
mod deadletters;
mod output;
mod sync;
mod test;

use clap::{Args, Parser, Subcommand};
use output::{Failure, Out};
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (for `spoke test`: every required check passed)
  1  the command ran and found a problem (a failed check, rejected rows)
  2  usage error: unknown command, missing or invalid argument
  3  connection or credentials problem (no keychain, invalid or revoked token, missing scope)
  4  HubSpot or the network failed (5xx, timeout, rate limit exhausted)
  5  local problem (data folder, SQLite store, mapping file)

With --json, results go to stdout as one JSON document and errors as
{\"code\", \"message\", \"hint\"} on stdout too; the exit code is unchanged.
Secrets are read from standard input only, never from arguments.";

#[derive(Parser, Debug)]
#[command(name = "spoke", version, about = "Spoke: connect, map, test and sync HubSpot portals from the terminal", after_help = EXIT_CODES)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Spoke's data folder (defaults to the app's, so the CLI and the app share connections).
    #[arg(long, global = true, env = "SPOKE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the version and where Spoke keeps its data and logs.
    Info,
    /// List connections with their identity, method, scopes and status.
    Connections,
    /// Connect a HubSpot portal with a private-app token (stdin) or OAuth in the browser.
    Connect(ConnectArgs),
    /// Disconnect: revoke the sign-in (OAuth) and delete the connection's keychain entries.
    Disconnect {
        /// Connection id (see `spoke connections`).
        id: String,
    },
    /// Show the scopes a set of objects needs, each explained; pick with --read/--write or --preset.
    Scopes(connections::ScopeArgs),
    /// Test a connection live: reach, token, identity, scopes, reads, webhooks, rate budget.
    Test(test::TestArgs),
    /// Read HubSpot into the local store through a saved mapping (progress on stderr).
    Sync(sync::SyncArgs),
    /// Notes on a mapping's synced records as local comments (`TABLE__comments` in the store),
    /// and local comments (new rows, edited bodies) written back as notes.
    Comments {
        /// Connection id, label or portal id.
        connection: String,
        /// Mapping name or file (contacts, companies, deals or tickets; sync it first).
        mapping: String,
    },
    /// Write a mapping's table (as last synced) as CSV or JSON Lines, to stdout or --out FILE.
    Export(sync::ExportArgs),
    /// Sync history: counts, API calls and errors per run.
    Runs {
        /// How many runs to show, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// List, export and import mappings.
    #[command(subcommand)]
    Mapping(sync::MappingCommand),
    /// Write local changes back to HubSpot through a saved mapping; refused rows become dead letters.
    Push(deadletters::PushArgs),
    /// Rows HubSpot refused (dead letters) with the cause and the fix, of one connection or all.
    Deadletters {
        /// Connection id, label or portal id (all connections when left out).
        connection: Option<String>,
    },
    /// Send dead letters again now: one row (by key or HubSpot id) or --all.
    Resend(deadletters::ResendArgs),
    /// Two-way fields changed on both sides: the open ones (policy "ask") or --all.
    Conflicts(conflicts::ConflictsArgs),
    /// Settle an open conflict: keep the local value or HubSpot's.
    Resolve(conflicts::ResolveArgs),
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Read a private-app token (or service key) from standard input.
    #[arg(long, conflicts_with = "oauth")]
    pub token_stdin: bool,
    /// Sign in with your own HubSpot app in the browser; the client secret is read from stdin.
    #[arg(long, requires = "client_id")]
    pub oauth: bool,
    /// Your app's client ID (with --oauth).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Loopback port; `http://localhost:PORT/callback` must be a redirect URL of your app.
    #[arg(long, default_value_t = spoke_connect::DEFAULT_CALLBACK_PORT)]
    pub port: u16,
    /// Name shown for the connection.
    #[arg(long)]
    pub label: Option<String>,
    /// API base URL: HubSpot by default, or a demo portal started with `spoke-sandbox`.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Do not open the browser; print the sign-in address only.
    #[arg(long)]
    pub no_browser: bool,
    #[command(flatten)]
    pub scopes: connections::ScopeArgs,
}

/// Same identifier as the app's `tauri.conf.json`, so both find the same data folder.
const APP_IDENTIFIER: &str = "dev.spoke.desktop";

fn data_dir(cli: &Cli) -> Result<PathBuf, Failure> {
    match &cli.data_dir {
        Some(dir) => Ok(dir.clone()),
        None => dirs::data_dir().map(|d| d.join(APP_IDENTIFIER)).ok_or_else(|| {
            Failure::local("cli.no_data_dir", "Spoke could not find a data folder for this user", "Pass --data-dir DIR or set SPOKE_DATA_DIR.")
        }),
    }
}

#[derive(serde::Serialize)]
struct Info {
    version: &'static str,
    data_dir: String,
    log_file: String,
}

async fn run(cli: &Cli, out: &Out) -> Result<(), Failure> {
    let dir = data_dir(cli)?;
    match &cli.command {
        Command::Info => {
            let info = Info {
                version: env!("CARGO_PKG_VERSION"),
                log_file: dir.join("logs").join("spoke.log").display().to_string(),
                data_dir: dir.display().to_string(),
            };
            out.print(&info, || format!("Spoke {}\nData folder: {}\nLog file:    {}", info.version, info.data_dir, info.log_file))
        }
        Command::Connections => connections::list(&dir, out).await,
        Command::Connect(args) => connections::connect(&dir, args, out).await,
        Command::Disconnect { id } => connections::disconnect(&dir, id, out).await,
        Command::Scopes(args) => connections::scopes(args, out),
        Command::Test(args) => test::run(&dir, args, out).await,
        Command::Sync(args) => sync::sync(&dir, args, out).await,
        Command::Comments { connection, mapping } => sync::comments(&dir, connection, mapping, out).await,
        Command::Export(args) => sync::export(&dir, args).await,
        Command::Runs { limit } => sync::runs(&dir, *limit, out).await,
        Command::Mapping(cmd) => sync::mapping(&dir, cmd, out).await,
        Command::Push(args) => deadletters::push(&dir, args, out).await,
        Command::Deadletters { connection } => deadletters::list(&dir, connection.as_deref(), out).await,
        Command::Resend(args) => deadletters::resend(&dir, args, out).await,
        Command::Conflicts(args) => conflicts::list(&dir, args, out).await,
        Command::Resolve(args) => conflicts::resolve(&dir, args, out).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out { json: cli.json };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start: {e}");
            return ExitCode::from(5);
        }
    };
    match runtime.block_on(run(&cli, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        // With --json the run itself (`passed: false`) is the one document on stdout.
        Err(failure) if cli.json && failure.problem.code == test::CHECKS_FAILED => ExitCode::from(failure.exit_code),
        Err(failure) => {
            out.fail(&failure);
            ExitCode::from(failure.exit_code)
        }
    }
}
