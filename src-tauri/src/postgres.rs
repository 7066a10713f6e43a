//! Thin commands for a PostgreSQL destination: its password goes once into the OS keychain
//! (entry `db:<url>`, never sent back to the UI, never logged), "Test", and the table's rows for
//! the write-back previews. The blocking client and the keychain run off the async runtime.

use crate::error::IpcError;
use spoke_engine::PgCheck;
use spoke_hubspot::Secret;
use spoke_mapping::{LocalColumn, Suggestion};
use tauri::State;

type Res<T> = Result<T, IpcError>;

/// Runs blocking work (keychain, PostgreSQL client) on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Res<T> + Send + 'static) -> Res<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(IpcError { code: "app.task".into(), message: format!("the task stopped: {e}"), hint: Some("Try again.".into()) }))
}

/// Saves the password of a PostgreSQL URL in the OS keychain (replacing any saved one).
#[tauri::command]
#[specta::specta]
pub async fn save_database_password(url: String, password: Secret) -> Res<()> {
    spoke_engine::check_password_entry(&url, &password)?;
    blocking(move || Ok(spoke_connect::Keychain::default().set_database_password(&url, &password)?)).await
}

#[tauri::command]
#[specta::specta]
pub async fn forget_database_password(url: String) -> Res<()> {
    blocking(move || Ok(spoke_connect::Keychain::default().delete_database_password(&url)?)).await
}

/// Whether a password is saved for the URL (the password itself never leaves the keychain).
#[tauri::command]
#[specta::specta]
pub async fn database_password_saved(url: String) -> Res<bool> {
    blocking(move || Ok(spoke_connect::Keychain::default().database_password(&url)?.is_some())).await
}

/// Logs in with the saved password: server version, the table (its columns, or that the first
/// sync creates it) and the user's rights there.
#[tauri::command]
#[specta::specta]
pub async fn test_postgres(url: String, table: String) -> Res<PgCheck> {
    blocking(move || Ok(spoke_engine::check_postgres(&url, spoke_engine::saved_password(&url), &table)?)).await
}

/// Suggested properties for the columns of an existing table found by `test_postgres`.
#[tauri::command]
#[specta::specta]
pub async fn suggest_columns(state: State<'_, crate::state::AppState>, connection_id: String, object: String, columns: Vec<LocalColumn>) -> Res<Vec<Suggestion>> {
    let catalog = state.catalog(&connection_id, &object, false).await?;
    Ok(spoke_mapping::suggest(&catalog, &columns))
}
