//! What crosses to the app and the CLI: options, progress, run summaries and history.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// How a sync runs. `SyncOptions::default()` is an incremental read with the usual windows.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase", default)]
pub struct SyncOptions {
    /// Read every record (and reconcile deletes, calculated properties, associations) instead
    /// of only what changed. The first sync of a table is always full.
    pub full: bool,
    /// How far before the bookmark an incremental read starts again: covers HubSpot's search
    /// lag and clock skew. Records seen again are deduplicated by `(id, updatedAt)`.
    #[specta(type = f64)]
    pub overlap_ms: u64,
    /// An incremental sync turns into a full refresh when the last complete read is older than
    /// this: catches calculated properties (they do not bump `lastmodifieddate`) and hard
    /// deletes. 0 = never on its own.
    #[specta(type = f64)]
    pub refresh_every_ms: u64,
    /// Associations of every local record are read again when the last such read is older
    /// than this (association-only changes bump no timestamp). 0 = only on full reads.
    #[specta(type = f64)]
    pub associations_every_ms: u64,
    /// Object types (`companies`, `deals`, `2-3508482`) whose associations with this mapping's
    /// records are read into association tables.
    pub associations: Vec<String>,
    /// Records per search page (HubSpot: at most 200).
    pub page_size: u32,
    /// Full reads without criteria also read by list + `batch/read` from the lowest id up,
    /// on the burst budget, while search reads from the highest id down on its own budget.
    pub list_and_batch: bool,
    /// The list side asks for the properties in the list call itself (one call per 100
    /// records instead of a list page of ids + a `batch/read`) while the URL's `properties`
    /// parameter stays under this many characters (URL-encoded); longer lists go in
    /// `batch/read` bodies, so hundreds of properties never produce a 414. 0 = always
    /// `batch/read`.
    pub list_properties_max_chars: u32,
    /// Share of the portal's daily API budget (percent) a sync leaves for other tools: it stops
    /// at a checkpoint, resumable, when only that much is left. 0 = spend it all.
    pub daily_reserve_percent: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            full: false,
            overlap_ms: 5 * 60 * 1000,
            refresh_every_ms: 24 * 3600 * 1000,
            associations_every_ms: 3600 * 1000,
            associations: Vec::new(),
            page_size: 200,
            list_and_batch: true,
            list_properties_max_chars: 2_000,
            daily_reserve_percent: 5,
        }
    }
}

/// Cancels a running sync at the next page boundary (everything read so far is kept).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a sync is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    Starting,
    /// Reading every record.
    FullRead,
    /// Reading records changed since the bookmark.
    Incremental,
    /// Finding archived records.
    Archived,
    /// Finding hard-deleted and merged records that a full read did not see.
    Reconcile,
    Associations,
    Done,
}

/// The rate budget as the portal's governor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RateGauge {
    pub burst_limit: u32,
    pub burst_remaining: u32,
    #[specta(type = f64)]
    pub burst_window_ms: u64,
    pub search_per_second: u32,
    #[specta(type = f64)]
    pub daily_limit: u64,
    #[specta(type = f64)]
    pub daily_remaining: u64,
}

/// Live progress of one sync (sent after every page and phase change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    #[specta(type = f64)]
    pub run_id: i64,
    pub mapping: String,
    pub object: String,
    pub table: String,
    pub phase: Phase,
    #[specta(type = f64)]
    pub records_read: u64,
    /// Records HubSpot says match the current read (from the search total), when known.
    #[specta(type = Option<f64>)]
    pub records_total: Option<u64>,
    #[specta(type = f64)]
    pub pages: u64,
    #[specta(type = f64)]
    pub api_calls: u64,
    /// `None` until the rate budget is known (no governor).
    pub rate: Option<RateGauge>,
    #[specta(type = f64)]
    pub elapsed_ms: u64,
    #[specta(type = Option<f64>)]
    pub eta_ms: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum RunStatus {
    Running,
    Succeeded,
    /// Finished, but some records could not be mapped (see the run's errors).
    SucceededWithErrors,
    Cancelled,
    Failed,
    /// The process stopped mid-run; the next sync resumed from its last checkpoint.
    Interrupted,
}

impl RunStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::SucceededWithErrors => "succeededWithErrors",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
    pub(crate) fn parse(s: &str) -> RunStatus {
        match s {
            "succeeded" => RunStatus::Succeeded,
            "succeededWithErrors" => RunStatus::SucceededWithErrors,
            "cancelled" => RunStatus::Cancelled,
            "failed" => RunStatus::Failed,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Running,
        }
    }
}

/// A merge seen by a run: the losing id now redirects to the survivor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct MergeRedirect {
    pub loser_id: String,
    pub survivor_id: String,
}

/// Counts of one run ("what changed").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RunCounts {
    /// Records HubSpot returned (including ones seen again in the overlap window).
    #[specta(type = f64)]
    pub read: u64,
    #[specta(type = f64)]
    pub created: u64,
    #[specta(type = f64)]
    pub updated: u64,
    /// Returned again with nothing new (overlap, refresh).
    #[specta(type = f64)]
    pub unchanged: u64,
    /// Moved to HubSpot's recycle bin (kept locally, flagged archived).
    #[specta(type = f64)]
    pub archived: u64,
    /// Came back from the recycle bin.
    #[specta(type = f64)]
    pub restored: u64,
    /// Gone from HubSpot (hard/GDPR delete) or no longer matching the criteria: removed locally.
    #[specta(type = f64)]
    pub deleted: u64,
    #[specta(type = f64)]
    pub merged: u64,
    /// Records whose association rows changed.
    #[specta(type = f64)]
    pub associations_changed: u64,
    /// Records that could not be mapped (stored raw, listed in the run's errors).
    #[specta(type = f64)]
    pub errors: u64,
    #[specta(type = f64)]
    pub pages: u64,
    #[specta(type = f64)]
    pub api_calls: u64,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    #[specta(type = f64)]
    pub run_id: i64,
    pub mapping: String,
    pub object: String,
    pub table: String,
    /// `full` or `incremental` (a full refresh due by `refresh_every_ms` reports `full`).
    pub mode: String,
    pub status: RunStatus,
    /// True when this run continued a read that an earlier run left unfinished.
    pub resumed: bool,
    pub counts: RunCounts,
    /// Up to 100 merges (loser → survivor).
    pub merges: Vec<MergeRedirect>,
    /// Up to 100 ids removed locally.
    pub deleted_ids: Vec<String>,
    #[specta(type = f64)]
    pub duration_ms: u64,
    /// Plain sentence for the Runs screen and the CLI.
    pub message: String,
}

/// One row of the run history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    #[specta(type = f64)]
    pub id: i64,
    pub mapping: String,
    pub object: String,
    pub table: String,
    pub mode: String,
    pub status: RunStatus,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: Option<String>,
    #[specta(type = Option<f64>)]
    pub duration_ms: Option<u64>,
    pub counts: RunCounts,
    /// The failure, when the run failed.
    pub problem: Option<Failure>,
    pub summary: Option<String>,
}

/// Why a run failed, as the UI shows errors: `{code, message, hint}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
}

impl From<spoke_hubspot::Problem> for Failure {
    fn from(p: spoke_hubspot::Problem) -> Self {
        Failure {
            code: p.code,
            message: p.message,
            hint: p.hint,
        }
    }
}

/// A record a run could not map, or a step that failed for some records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RunError {
    #[specta(type = f64)]
    pub run_id: i64,
    pub record_id: Option<String>,
    pub code: String,
    pub message: String,
    pub at: String,
}

/// A page of a local table, for data previews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RowsPage {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<spoke_mapping::LocalValue>>,
    #[specta(type = f64)]
    pub total: u64,
}
