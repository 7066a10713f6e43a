//! `spoke`: the headless twin of every screen in the Spoke app.

use clap::{Parser, Subcommand};
use spoke_hubspot::{Describe, Problem};
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
{\"code\", \"message\", \"hint\"} on stdout too; the exit code is unchanged.";

#[derive(Parser, Debug)]
#[command(name = "spoke", version, about = "Spoke: connect, map, test and sync HubSpot portals from the terminal", after_help = EXIT_CODES)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Spoke's data folder (defaults to the app's, so the CLI and the app share connections).
    #[arg(long, global = true, env = "SPOKE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the version and where Spoke keeps its data and logs.
    Info,
}

/// Everything that can go wrong in the CLI itself.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("Spoke could not find a data folder for this user")]
    NoDataDir,
}

impl Describe for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::NoDataDir => "cli.no_data_dir",
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            Error::NoDataDir => Some("Pass --data-dir DIR or set SPOKE_DATA_DIR.".into()),
        }
    }
}

impl Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::NoDataDir => 5,
        }
    }
}

/// Same identifier as the app's `tauri.conf.json`, so both find the same data folder.
const APP_IDENTIFIER: &str = "dev.spoke.desktop";

fn data_dir(cli: &Cli) -> Result<PathBuf, Error> {
    match &cli.data_dir {
        Some(dir) => Ok(dir.clone()),
        None => dirs::data_dir().map(|d| d.join(APP_IDENTIFIER)).ok_or(Error::NoDataDir),
    }
}

#[derive(serde::Serialize)]
struct Info {
    version: &'static str,
    data_dir: String,
    log_file: String,
}

fn run(cli: &Cli) -> Result<(), Error> {
    match cli.command {
        Command::Info => {
            let dir = data_dir(cli)?;
            let info = Info {
                version: env!("CARGO_PKG_VERSION"),
                log_file: dir.join("logs").join("spoke.log").display().to_string(),
                data_dir: dir.display().to_string(),
            };
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&info).unwrap_or_default());
            } else {
                println!("Spoke {}\nData folder: {}\nLog file:    {}", info.version, info.data_dir, info.log_file);
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let problem: Problem = e.problem();
            if cli.json {
                println!("{}", serde_json::to_string(&problem).unwrap_or_default());
            } else {
                eprintln!("error: {}", problem.message);
                if let Some(hint) = &problem.hint {
                    eprintln!("  fix: {hint}");
                }
            }
            ExitCode::from(e.exit_code())
        }
    }
}
