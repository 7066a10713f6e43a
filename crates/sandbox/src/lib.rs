//! The demo portal: a faithful local HubSpot.

/// Everything that can go wrong in `spoke-sandbox`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not bind {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}
