//! Thin commands over `spoke-engine`: start and cancel a sync (progress over a Tauri
//! `Channel`), run history, run errors, and a page of a synced table.

use crate::error::IpcError;
use crate::state::AppState;
use spoke_engine::{AttachmentStats, CancelToken, CommentsSummary, Engine, Progress, RowsPage, RunError, RunRecord, RunSummary, SyncOptions};
use tauri::ipc::Channel;
use tauri::State;

type Res<T> = Result<T, IpcError>;

#[tauri::command]
#[specta::specta]
pub async fn start_sync(
    state: State<'_, AppState>,
    connection_id: String,
    file: String,
    full: bool,
    on_progress: Channel<Progress>,
) -> Res<RunSummary> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    let engine = Engine::new(state.store.clone(), state.connections.client(&connection_id)?);
    // A scheduled run of this mapping keeps its own cancel entry; a second run is refused.
    let table = mapping.destination.table().to_owned();
    let cancel = state.syncs.try_begin(&connection_id, &file).ok_or(spoke_engine::Error::Busy { table })?;
    let options = SyncOptions { full, ..SyncOptions::default() };
    let result = engine.sync(&mapping, options, cancel, move |p| drop(on_progress.send(p))).await;
    state.syncs.end(&connection_id, &file);
    Ok(result?)
}

#[tauri::command]
#[specta::specta]
pub fn cancel_sync(state: State<'_, AppState>, connection_id: String, file: String) -> bool {
    state.syncs.cancel(&connection_id, &file)
}

#[tauri::command]
#[specta::specta]
pub fn list_runs(state: State<'_, AppState>, limit: u32) -> Res<Vec<RunRecord>> {
    Ok(state.store.runs(limit as usize)?)
}

#[tauri::command]
#[specta::specta]
pub fn run_errors(state: State<'_, AppState>, run_id: f64) -> Res<Vec<RunError>> {
    Ok(state.store.run_errors(run_id as i64)?)
}

#[tauri::command]
#[specta::specta]
pub fn table_rows(state: State<'_, AppState>, table: String, limit: u32, offset: u32) -> Res<RowsPage> {
    Ok(state.store.rows(&table, limit as usize, offset as usize)?)
}

/// Notes on the mapping's synced records ↔ its comments table (see `Engine::sync_comments`).
#[tauri::command]
#[specta::specta]
pub async fn sync_comments(state: State<'_, AppState>, connection_id: String, file: String) -> Res<CommentsSummary> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    let engine = Engine::new(state.store.clone(), state.connections.client(&connection_id)?);
    Ok(engine.sync_comments(&mapping, &CancelToken::new()).await?)
}

/// What the mapping's comments attachments hold: files downloaded (and where), uploaded, failed.
#[tauri::command]
#[specta::specta]
pub fn comment_attachments(state: State<'_, AppState>, connection_id: String, file: String) -> Res<AttachmentStats> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    Ok(state.store.attachment_stats(&spoke_engine::store_table(&mapping.destination))?)
}
