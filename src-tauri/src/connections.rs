//! Thin commands over `spoke-connect`: connections, OAuth sign-in, scope planning.

use crate::demo::DemoPortalInfo;
use crate::error::IpcError;
use crate::state::AppState;
use serde::Deserialize;
use spoke_connect::{
    AuthMethod, BeginOAuth, Connection, DisconnectReport, OAuthAppKind, OAuthStarted, ObjectAccess, Preset, ScopeInfo,
    ScopePlan, ScopeReport,
};
use spoke_hubspot::Secret;
use tauri::State;

type Res<T> = Result<T, IpcError>;

/// Sign-in with the admin's own HubSpot app.
#[derive(Debug, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct OwnAppSignIn {
    pub label: Option<String>,
    /// API base URL; empty for HubSpot itself.
    pub base_url: Option<String>,
    pub client_id: String,
    pub client_secret: Secret,
    /// Loopback port registered as `http://localhost:PORT/callback`; empty for 53135.
    pub port: Option<u16>,
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
}

impl From<OwnAppSignIn> for BeginOAuth {
    fn from(r: OwnAppSignIn) -> BeginOAuth {
        BeginOAuth {
            label: r.label,
            app_kind: OAuthAppKind::Own,
            base_url: r.base_url.filter(|b| !b.trim().is_empty()),
            authorize_base_url: None,
            client_id: r.client_id,
            client_secret: r.client_secret,
            port: r.port,
            scopes: r.scopes,
            optional_scopes: r.optional_scopes,
        }
    }
}

#[tauri::command]
#[specta::specta]
pub async fn list_connections(state: State<'_, AppState>) -> Res<Vec<Connection>> {
    Ok(state.connections.list().await?)
}

#[tauri::command]
#[specta::specta]
pub async fn add_token_connection(
    state: State<'_, AppState>,
    label: Option<String>,
    base_url: Option<String>,
    token: Secret,
) -> Res<Connection> {
    let base_url = base_url.filter(|b| !b.trim().is_empty());
    Ok(state.connections.add_token(spoke_connect::AddToken { label, base_url, token }).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn connect_demo_token(state: State<'_, AppState>) -> Res<Connection> {
    let request = state.demo.token_request()?;
    Ok(state.connections.add_token(request).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn begin_oauth(state: State<'_, AppState>, request: OwnAppSignIn) -> Res<OAuthStarted> {
    Ok(state.connections.begin_oauth(request.into()).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn begin_demo_oauth(
    state: State<'_, AppState>,
    scopes: Vec<String>,
    optional_scopes: Vec<String>,
) -> Res<OAuthStarted> {
    let request = state.demo.oauth_request(scopes, optional_scopes)?;
    Ok(state.connections.begin_oauth(request).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn finish_oauth(state: State<'_, AppState>, flow_id: String) -> Res<Connection> {
    Ok(state.connections.finish_oauth(&flow_id).await?)
}

#[tauri::command]
#[specta::specta]
pub fn cancel_oauth(state: State<'_, AppState>, flow_id: String) -> Res<()> {
    Ok(state.connections.cancel_oauth(&flow_id)?)
}

#[tauri::command]
#[specta::specta]
pub async fn begin_reconnect(state: State<'_, AppState>, id: String) -> Res<OAuthStarted> {
    Ok(state.connections.begin_reconnect(&id).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn refresh_connection(state: State<'_, AppState>, id: String) -> Res<Connection> {
    Ok(state.connections.refresh(&id).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn disconnect(state: State<'_, AppState>, id: String) -> Res<DisconnectReport> {
    Ok(state.connections.disconnect(&id).await?)
}

#[tauri::command]
#[specta::specta]
pub fn scope_catalog() -> Vec<ScopeInfo> {
    spoke_connect::scope_catalog()
}

#[tauri::command]
#[specta::specta]
pub fn scope_presets() -> Vec<Preset> {
    spoke_connect::scope_presets()
}

#[tauri::command]
#[specta::specta]
pub fn plan_scopes(picks: Vec<ObjectAccess>, method: AuthMethod) -> ScopePlan {
    spoke_connect::plan_scopes(&picks, method)
}

#[tauri::command]
#[specta::specta]
pub async fn scope_report(state: State<'_, AppState>, id: String, picks: Vec<ObjectAccess>) -> Res<ScopeReport> {
    Ok(state.connections.scope_report(&id, &picks).await?)
}

#[tauri::command]
#[specta::specta]
pub fn demo_portal(state: State<'_, AppState>) -> DemoPortalInfo {
    state.demo.info()
}
