//! Thin commands: each takes state, calls a crate, maps the error. No logic lives here.

use crate::error::IpcError;
use crate::state::AppState;
use serde::Serialize;
use tauri::State;

/// What the About panel and the diagnostics report show about this installation.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub version: String,
    pub data_dir: String,
    pub log_file: String,
    pub os: String,
}

#[tauri::command]
#[specta::specta]
pub fn app_info(state: State<'_, AppState>) -> Result<AppInfo, IpcError> {
    state.note_ui_ready();
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.paths.data_dir.display().to_string(),
        log_file: state.paths.log_file.display().to_string(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    })
}
