//! Sync engine: reads HubSpot into a local SQLite store according to a mapping, resumably and
//! at the portal's rate budget.
//!
//! ```ignore
//! let store = Store::open(app_data.join("spoke.db"))?;
//! let engine = Engine::new(store.clone(), client);
//! let summary = engine.sync(&mapping, SyncOptions::default(), CancelToken::new(), |p| send(p)).await?;
//! let history = store.runs(50)?;
//! ```
//!
//! - [`Store`]: the local store (tables, association tables, runs, errors, checkpoints).
//! - [`Engine::sync`]: full or incremental read of one mapping, with progress and cancel.
//! - [`Engine::write_back`]: local changes sent to HubSpot in batches; refused rows kept as
//!   [`DeadLetter`]s ([`Store::dead_letters`], [`Engine::resend`]).
//! - Two-way sync: local edits survive reads, per-field conflict policies, [`Conflict`]s
//!   ([`Store::conflicts`], [`Engine::resolve_conflict`]).

mod deadletter;
mod engine;
mod error;
mod store;
mod twoway;
mod types;
mod write;

pub use deadletter::DeadLetter;
pub use engine::{modified_property, Engine};
pub use error::{Error, Result};
pub use store::{association_table, Store, ENGINE_COLUMNS};
pub use twoway::{Conflict, ConflictSide};
pub use types::{
    CancelToken, Failure, MergeRedirect, Phase, Progress, RateGauge, RowsPage, RunCounts, RunError,
    RunRecord, RunStatus, RunSummary, SyncOptions,
};
pub use write::{RowOutcome, RowResult, WriteOptions, WriteProgress, WriteSummary};
