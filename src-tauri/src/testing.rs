//! Thin commands over `spoke_connect::check`: the one-click Test, streamed step by step over a
//! Tauri `Channel`, and the redacted diagnostics report.

use crate::error::IpcError;
use crate::state::AppState;
use spoke_connect::check::{CheckOptions, CheckRun, CheckStep};
use spoke_connect::report::Report;
use tauri::ipc::Channel;
use tauri::State;

type Res<T> = Result<T, IpcError>;

#[tauri::command]
#[specta::specta]
pub async fn test_connection(
    state: State<'_, AppState>,
    id: String,
    options: CheckOptions,
    on_step: Channel<CheckStep>,
) -> Res<CheckRun> {
    let send = move |step: &CheckStep| {
        let _ = on_step.send(step.clone());
    };
    Ok(spoke_connect::check::run_checks(&state.connections, &id, options, send).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn diagnostics_report(state: State<'_, AppState>, run: CheckRun) -> Res<Report> {
    let conn = state.connections.get(&run.connection_id).await?;
    Ok(spoke_connect::report::build(&run, &conn, env!("CARGO_PKG_VERSION")))
}

/// Saves the report as Markdown + JSON under `<data dir>/reports/`; returns both paths.
#[tauri::command]
#[specta::specta]
pub async fn save_diagnostics_report(state: State<'_, AppState>, run: CheckRun) -> Res<Vec<String>> {
    let conn = state.connections.get(&run.connection_id).await?;
    let report = spoke_connect::report::build(&run, &conn, env!("CARGO_PKG_VERSION"));
    let name = format!("spoke-test-{}-{}.md", conn.portal_id, run.started_at);
    let path = state.paths.data_dir.join("reports").join(name);
    let saved = std::fs::create_dir_all(path.parent().unwrap_or(&state.paths.data_dir))
        .and_then(|_| spoke_connect::report::save(&report, &path))
        .map_err(|source| crate::error::Error::DataDir { path: path.display().to_string(), source })?;
    Ok(vec![saved.0.display().to_string(), saved.1.display().to_string()])
}
