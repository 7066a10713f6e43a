//! Text or JSON output, and the mapping from errors to exit codes.

use serde::Serialize;
use spoke_hubspot::{Describe, Problem};

pub struct Out {
    pub json: bool,
}

impl Out {
    /// Prints `value` as JSON with --json, else the text `render` returns.
    pub fn print<T: Serialize>(&self, value: &T, render: impl FnOnce() -> String) -> Result<(), Failure> {
        if self.json {
            let text = serde_json::to_string_pretty(value)
                .map_err(|e| Failure::local("cli.output", format!("could not write JSON: {e}"), "Report this as a bug."))?;
            println!("{text}");
        } else {
            println!("{}", render());
        }
        Ok(())
    }

    /// Progress and prompts: stderr, so stdout stays clean for --json.
    pub fn note(&self, text: &str) {
        eprintln!("{text}");
    }

    pub fn fail(&self, f: &Failure) {
        if self.json {
            println!("{}", serde_json::to_string(&f.problem).unwrap_or_default());
        } else {
            eprintln!("error: {}", f.problem.message);
            if let Some(hint) = &f.problem.hint {
                eprintln!("  fix: {hint}");
            }
        }
    }
}

/// A failed command: what to print and which exit code to use.
#[derive(Debug)]
pub struct Failure {
    pub problem: Problem,
    pub exit_code: u8,
}

impl Failure {
    pub fn local(code: &str, message: impl Into<String>, hint: &str) -> Failure {
        Failure { problem: Problem::new(code, message, Some(hint.to_owned())), exit_code: 5 }
    }

    pub fn usage(code: &str, message: impl Into<String>, hint: &str) -> Failure {
        Failure { problem: Problem::new(code, message, Some(hint.to_owned())), exit_code: 2 }
    }
}

/// Exit code by error code: credentials and scopes 3, HubSpot/network 4, local 5.
pub fn exit_code_for(code: &str) -> u8 {
    const CREDENTIALS: &[&str] = &[
        "connect.keychain", "connect.token_format", "connect.reconnect_required", "connect.secret_missing",
        "connect.consent_denied", "connect.authorization_failed", "connect.oauth", "connect.portal_mismatch",
        "hubspot.malformed_token", "hubspot.unauthorized", "hubspot.missing_scopes", "hubspot.forbidden",
        "hubspot.invalid_grant", "hubspot.invalid_client", "hubspot.oauth_error",
    ];
    if CREDENTIALS.iter().any(|p| code.starts_with(p)) {
        3
    } else if code == "connect.invalid_input" || code == "connect.not_found" || code == "connect.flow_not_found" {
        2
    } else if code.starts_with("hubspot.") {
        4
    } else {
        5
    }
}

impl<E: Describe> From<E> for Failure {
    fn from(e: E) -> Failure {
        let problem = e.problem();
        let exit_code = exit_code_for(&problem.code);
        Failure { problem, exit_code }
    }
}

#[cfg(test)]
mod tests {
    use super::exit_code_for;

    #[test]
    fn exit_codes_follow_the_documented_classes() {
        assert_eq!(exit_code_for("connect.keychain_unavailable"), 3);
        assert_eq!(exit_code_for("hubspot.missing_scopes"), 3);
        assert_eq!(exit_code_for("hubspot.server_error"), 4);
        assert_eq!(exit_code_for("hubspot.rate_limited"), 4);
        assert_eq!(exit_code_for("connect.store_error"), 5);
        assert_eq!(exit_code_for("connect.not_found"), 2);
    }
}
