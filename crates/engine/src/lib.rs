//! Sync engine: reads, write-back, SQLite store, checkpoints, dead letters, progress.

/// Everything that can go wrong in `spoke-engine`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the local store at {path} could not be opened: {reason}")]
    Store { path: String, reason: String },
}
