//! Connections to HubSpot portals: service keys / private-app tokens, OAuth with the admin's own
//! app or the demo portal's app (system browser + loopback redirect, `state`, PKCE S256), tokens
//! in the OS keychain with single-flight refresh, and the scope catalog and planner.
//!
//! The desktop app and the CLI use [`Connections`]; every method is async (or instant) and takes
//! or returns camelCase serde types, so each one wraps in a short Tauri command:
//!
//! | call | what it does |
//! |---|---|
//! | [`Connections::open`]`(ConnectConfig)` | open the SQLite store, use the OS keychain |
//! | [`Connections::list`] / [`Connections::get`] | connections with identity, scopes, expiry, status |
//! | [`Connections::add_token`]`(AddToken)` | format check → keychain check → token info + account details |
//! | [`Connections::replace_token`]`(id, token)` | new token for the same portal (more scopes, revoked) |
//! | [`Connections::begin_oauth`]`(BeginOAuth)` → [`OAuthStarted`] | listener + authorize URL + browser |
//! | [`Connections::finish_oauth`]`(flow_id)` | wait for the callback, exchange the code, record |
//! | [`Connections::cancel_oauth`]`(flow_id)` | stop waiting; the listener closes |
//! | [`Connections::begin_reconnect`]`(id)` | one-click reconnect with the stored app and scopes |
//! | [`Connections::verify`]`(id)` | "test connection": identity and scopes from HubSpot now |
//! | [`Connections::refresh`]`(id)` | refresh the access token now |
//! | [`Connections::disconnect`]`(id)` → [`DisconnectReport`] | revoke unless shared, delete secrets |
//! | [`Connections::scope_report`]`(id, picks)` | granted vs needed per object, with fixes |
//! | [`Connections::rate_limits`]`(id)` | the portal governor's view of the budgets |
//! | [`Connections::client`]`(id)` | a [`spoke_hubspot::Client`] for other crates |
//! | [`scope_catalog`], [`plan_scopes`], [`scope_presets`] | the planner, no connection needed |
//!
//! Errors are [`Error`], which implements [`spoke_hubspot::Describe`] (`{code, message, hint}`).

pub mod check;
pub mod diagnose;
pub mod error;
pub mod keychain;
pub mod loopback;
pub mod oauth;
pub mod report;
pub mod scopes;
pub mod service;
pub mod store;
pub mod tokenfmt;
pub mod tokens;

#[cfg(test)]
mod testenv;

pub use check::{run_checks, CheckOptions, CheckRun, CheckStep, StepStatus};
pub use diagnose::{diagnose, Diagnosis};

pub use error::{Error, TokenFormatIssue};
pub use keychain::{Keychain, SecretKind, SecretStore};
pub use scopes::{
    catalog as scope_catalog, plan as plan_scopes, presets as scope_presets,
    report as scope_report, Access, ObjectAccess, ObjectScopeStatus, Preset, ScopeInfo,
    ScopeObject, ScopePlan, ScopeReport,
};
pub use service::{
    AddToken, BeginOAuth, ConnectConfig, Connections, DisconnectReport, OAuthStarted,
    DEFAULT_CALLBACK_PORT, DEMO_CALLBACK_PORTS,
};
pub use store::{
    AuthMethod, Connection, ConnectionStatus, ConnectionStore, OAuthAppInfo, OAuthAppKind,
};
pub use tokens::ConnectionTokens;

#[cfg(test)]
mod tests {
    #[test]
    fn the_service_can_be_shared_across_threads_and_tauri_state() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<super::Connections>();
        assert_send_sync::<super::Error>();
    }
}
