//! Mapping model, suggestions, transforms, criteria → filterGroups, dry-run.

/// Everything that can go wrong in `spoke-mapping`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("mapping file {path} is invalid at line {line}: {reason}")]
    InvalidFile { path: String, line: usize, reason: String },
}
