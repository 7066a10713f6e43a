//! Thin commands over `spoke-engine` for the Data screen: a page of a mapping's table with each
//! row's write state, cell edits and new rows, push to HubSpot (progress over a Tauri
//! `Channel`), and the dead letters with resend.

use crate::error::IpcError;
use crate::state::AppState;
use spoke_engine::{
    Conflict, ConflictSide, DataPage, DataRow, DeadLetter, Engine, ExportFormat, RowFilter, WriteOptions, WriteProgress, WriteSummary,
};
use spoke_mapping::LocalValue;
use std::collections::BTreeMap;
use tauri::ipc::Channel;
use tauri::State;

type Res<T> = Result<T, IpcError>;

/// The key a running push is cancelled by (pushes and syncs of one mapping are told apart).
fn push_key(file: &str) -> String {
    format!("{file}#push")
}

/// Runs a write-back of the mapping (`resend`: first make its dead letters due, one or all).
async fn write(state: &AppState, connection_id: &str, file: &str, resend: Option<Option<&str>>, progress: Channel<WriteProgress>) -> Res<WriteSummary> {
    let mapping = state.mappings.load(connection_id, file)?;
    let catalog = state.catalog(connection_id, &mapping.object, false).await?;
    let engine = Engine::new(state.store.clone(), state.connections.client(connection_id)?);
    let cancel = state.syncs.begin(connection_id, &push_key(file));
    let send = move |p: WriteProgress| drop(progress.send(p));
    let result = match resend {
        None => engine.write_back(&mapping, &catalog, WriteOptions::default(), cancel, &send).await,
        Some(row) => engine.resend(&mapping, &catalog, row, WriteOptions::default(), cancel, &send).await,
    };
    state.syncs.end(connection_id, &push_key(file));
    Ok(result?)
}

/// A page of the mapping's table; with `focus_row`, the page holding that row.
#[tauri::command]
#[specta::specta]
pub fn data_page(
    state: State<'_, AppState>,
    connection_id: String,
    file: String,
    filter: RowFilter,
    limit: u32,
    offset: u32,
    focus_row: Option<f64>,
) -> Res<DataPage> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    Ok(state.store.data_page(&mapping, filter, limit as usize, offset as usize, focus_row.map(|r| r as i64))?)
}

#[tauri::command]
#[specta::specta]
pub fn update_cell(
    state: State<'_, AppState>,
    connection_id: String,
    file: String,
    row_id: f64,
    column: String,
    value: LocalValue,
) -> Res<DataRow> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    Ok(state.store.update_cell(&mapping, row_id as i64, &column, value)?)
}

#[tauri::command]
#[specta::specta]
pub fn insert_row(
    state: State<'_, AppState>,
    connection_id: String,
    file: String,
    values: BTreeMap<String, LocalValue>,
) -> Res<DataRow> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    Ok(state.store.insert_row(&mapping, &values)?)
}

#[tauri::command]
#[specta::specta]
pub fn discard_row(state: State<'_, AppState>, connection_id: String, file: String, row_id: f64) -> Res<()> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    Ok(state.store.discard_row(&mapping, row_id as i64)?)
}

/// Sends the mapping's local changes to HubSpot.
#[tauri::command]
#[specta::specta]
pub async fn push_changes(
    state: State<'_, AppState>,
    connection_id: String,
    file: String,
    on_progress: Channel<WriteProgress>,
) -> Res<WriteSummary> {
    write(&state, &connection_id, &file, None, on_progress).await
}

/// Sends one dead letter (by row key or HubSpot id) or all of the mapping's again, now.
#[tauri::command]
#[specta::specta]
pub async fn resend_dead_letters(
    state: State<'_, AppState>,
    connection_id: String,
    file: String,
    row_key: Option<String>,
    on_progress: Channel<WriteProgress>,
) -> Res<WriteSummary> {
    write(&state, &connection_id, &file, Some(row_key.as_deref()), on_progress).await
}

#[tauri::command]
#[specta::specta]
pub fn cancel_push(state: State<'_, AppState>, connection_id: String, file: String) -> bool {
    state.syncs.cancel(&connection_id, &push_key(&file))
}

/// The rows HubSpot refused for the mapping, oldest first.
#[tauri::command]
#[specta::specta]
pub fn dead_letters(state: State<'_, AppState>, connection_id: String, file: String) -> Res<Vec<DeadLetter>> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    Ok(state.store.dead_letters(Some(&mapping.name))?)
}

/// The mapping's conflicts: open ones (waiting for a decision), or also those already settled.
#[tauri::command]
#[specta::specta]
pub fn list_conflicts(state: State<'_, AppState>, connection_id: String, file: String, include_resolved: bool) -> Res<Vec<Conflict>> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    Ok(state.store.conflicts(Some(&mapping.name), include_resolved)?)
}

/// Keeps one side of an open conflict (HubSpot's value goes into the row; a kept local value is
/// sent by the next push).
#[tauri::command]
#[specta::specta]
pub fn resolve_conflict(state: State<'_, AppState>, id: f64, keep: ConflictSide) -> Res<Conflict> {
    Ok(state.store.resolve_conflict(id as i64, keep)?)
}

/// Where an export went and how many rows it holds.
#[derive(serde::Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Exported {
    pub path: String,
    pub rows: f64,
}

/// Streams the mapping's table (live rows) to `<data dir>/exports/<table>-<time>.csv|jsonl`.
#[tauri::command]
#[specta::specta]
pub fn export_table(state: State<'_, AppState>, connection_id: String, file: String, format: ExportFormat) -> Res<Exported> {
    let mapping = state.mappings.load(&connection_id, &file)?;
    let ext = match format { ExportFormat::Csv => "csv", ExportFormat::Jsonl => "jsonl" };
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let path = state.paths.data_dir.join("exports").join(format!("{}-{stamp}.{ext}", mapping.destination.table()));
    let io = |source| crate::error::Error::DataDir { path: path.display().to_string(), source };
    std::fs::create_dir_all(path.parent().unwrap_or(&state.paths.data_dir)).map_err(io)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
    let rows = state.store.export(&mapping, format, &mut out)?;
    std::io::Write::flush(&mut out).map_err(io)?;
    Ok(Exported { path: path.display().to_string(), rows: rows as f64 })
}
