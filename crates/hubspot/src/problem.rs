//! The shape every error takes when it leaves Rust (IPC to the UI, `--json` in the CLI).

use serde::{Deserialize, Serialize};

/// A user-facing error: a stable machine `code` (e.g. `connect.keychain_unavailable`), a plain
/// `message` saying what went wrong, and a `hint` saying how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Implemented by each crate's error enum, so any of them can become a [`Problem`].
pub trait Describe: std::error::Error {
    /// Stable, dotted code, namespaced by crate: `hubspot.unauthorized`, `app.io`.
    fn code(&self) -> &'static str;
    /// How to fix it, in plain words, when there is something the user can do.
    fn hint(&self) -> Option<String> {
        None
    }
    fn problem(&self) -> Problem {
        Problem {
            code: self.code().to_owned(),
            message: self.to_string(),
            hint: self.hint(),
        }
    }
}

impl Problem {
    pub fn new(code: impl Into<String>, message: impl Into<String>, hint: Option<String>) -> Self {
        Problem {
            code: code.into(),
            message: message.into(),
            hint,
        }
    }
}

impl<E: Describe> From<&E> for Problem {
    fn from(e: &E) -> Self {
        e.problem()
    }
}
