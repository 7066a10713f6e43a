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
//! - [`Engine::sync_comments`]: notes on the mapped records as a local comments table, and back.
//! - Two-way sync: local edits survive reads, per-field conflict policies, [`Conflict`]s
//!   ([`Store::conflicts`], [`Engine::resolve_conflict`]).
//! - [`webhooks::Receiver`]: the local webhooks v3 endpoint (verified, deduplicated, stored);
//!   [`Engine::apply_events`] feeds the stored events into a mapping's table.
//! - [`Schedule`] per mapping and the [`Scheduler`] that runs the due ones.
//! - [`Store::data_page`], [`Store::update_cell`], [`Store::insert_row`]: the app's table editor,
//!   with each row's write state.

mod attachments;
mod comments;
mod deadletter;
mod dest;
mod edit;
mod engine;
mod error;
mod export;
mod pg;
pub mod schedule;
mod store;
mod twoway;
mod types;
pub mod webhooks;
mod write;

pub use attachments::{attachments_dir, attachments_table, AttachmentFailure, AttachmentStats, MAX_ATTACHMENT_BYTES};
pub use comments::{comments_table, CommentsSummary};
pub use deadletter::DeadLetter;
pub use dest::{open_destination, store_table, DestRow, RowDestination, SqliteTable};
pub use pg::{check_password_entry, check_postgres, postgres_rows, saved_password, PgCheck, PgProblem, PgTable};
pub use edit::{data_columns, DataColumn, DataPage, DataRow, RowFilter, RowProblem, RowState};
pub use engine::{list_inline, modified_property, Engine, EventsSummary};
pub use schedule::{Job, JobKind, JobOutcome, Schedule, ScheduleEntry, Scheduler};
pub use webhooks::{Endpoint, Receiver, WebhookMode, WebhookStatus};
pub use error::{Error, Result};
pub use export::ExportFormat;
pub use store::{association_table, Store, ENGINE_COLUMNS};
pub use twoway::{Conflict, ConflictSide};
pub use types::{
    CancelToken, Failure, MergeRedirect, Phase, Progress, RateGauge, RowsPage, RunCounts, RunError,
    RunRecord, RunStatus, RunSummary, SyncOptions,
};
pub use write::{RowOutcome, RowResult, WriteOptions, WriteProgress, WriteSummary};
