//! The error every command returns: `{code, message, hint}` on the TypeScript side.

use serde::Serialize;
use spoke_hubspot::{Describe, Problem};

/// What the UI receives when a command fails. Built from any crate's error through
/// [`Describe`], so the code, message and hint are decided where the error is understood.
#[derive(Debug, Clone, Serialize, specta::Type, PartialEq, Eq)]
pub struct IpcError {
    /// Stable dotted code the UI can branch on, e.g. `connect.keychain_unavailable`.
    pub code: String,
    /// What went wrong, in plain words.
    pub message: String,
    /// How to fix it, when the user can.
    pub hint: Option<String>,
}

impl From<Problem> for IpcError {
    fn from(p: Problem) -> Self {
        IpcError { code: p.code, message: p.message, hint: p.hint }
    }
}

/// Errors raised by the app shell itself (not by a crate).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Spoke could not use its data folder {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("Spoke could not find a data folder for this user")]
    NoDataDir,
    #[error("the demo portal is not running")]
    DemoUnavailable(String),
}

impl Describe for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::DataDir { .. } => "app.data_dir",
            Error::NoDataDir => "app.no_data_dir",
            Error::DemoUnavailable(_) => "app.demo_unavailable",
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            Error::DataDir { path, .. } => {
                format!("Check that {path} exists and is writable, or set SPOKE_DATA_DIR to another folder.")
            }
            Error::NoDataDir => "Set SPOKE_DATA_DIR to a writable folder and start Spoke again.".into(),
            Error::DemoUnavailable(why) => why.clone(),
        })
    }
}

/// Every crate error becomes an `IpcError` through its `Describe` impl.
macro_rules! ipc_from {
    ($($t:ty),*) => {$(
        impl From<$t> for IpcError {
            fn from(e: $t) -> Self {
                tracing::debug!(error = %e, "command failed");
                e.problem().into()
            }
        }
    )*};
}
ipc_from!(Error, spoke_connect::Error, spoke_mapping::Error, spoke_engine::Error);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_code_message_hint() {
        let e: IpcError = Error::NoDataDir.into();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "app.no_data_dir");
        assert_eq!(v["message"], "Spoke could not find a data folder for this user");
        assert!(v["hint"].as_str().unwrap().contains("SPOKE_DATA_DIR"));
        assert_eq!(v.as_object().unwrap().len(), 3);
    }
}
