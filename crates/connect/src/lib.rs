//! Connections: OAuth loopback, keychain, token refresh, scope catalog/planner.

/// Everything that can go wrong in `spoke-connect`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no keychain is available: {0}")]
    KeychainUnavailable(String),
}
