//! Connections: OAuth loopback, keychain, token refresh, scope catalog/planner.
//!
//! The app and the CLI use [`Connections`]; everything else is its building blocks.

pub mod error;
pub mod keychain;
pub mod loopback;
pub mod oauth;
pub mod scopes;
pub mod service;
pub mod store;
pub mod tokenfmt;
pub mod tokens;

pub use error::{Error, TokenFormatIssue};
pub use keychain::{Keychain, SecretKind, SecretStore};
pub use scopes::{
    catalog as scope_catalog, plan as plan_scopes, presets as scope_presets,
    report as scope_report, Access, ObjectAccess, ObjectScopeStatus, Preset, ScopeInfo,
    ScopeObject, ScopePlan, ScopeReport,
};
pub use service::{
    AddToken, BeginOAuth, ConnectConfig, Connections, DisconnectReport, OAuthStarted,
    DEFAULT_CALLBACK_PORT,
};
pub use store::{
    AuthMethod, Connection, ConnectionStatus, ConnectionStore, OAuthAppInfo, OAuthAppKind,
};
pub use tokens::ConnectionTokens;
