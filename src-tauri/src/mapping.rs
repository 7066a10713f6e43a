//! Thin commands over `spoke-mapping`: discovery, suggestions, validation, previews, saved
//! mappings. Property catalogs are cached per connection under `<data dir>/cache/<id>/`.

use crate::error::IpcError;
use crate::state::AppState;
use spoke_mapping::{
    DryRunRow, FieldMapping, FieldPreview, HubSpotRecord, Issue, LocalRow, LocalTable, Mapping, MappingEntry, ObjectCatalog, ObjectDirectory, Suggestion,
};
use std::path::PathBuf;
use tauri::State;

type Res<T> = Result<T, IpcError>;

impl AppState {
    fn cache_dir(&self, connection_id: &str) -> PathBuf {
        self.paths.data_dir.join("cache").join(spoke_mapping::slug(connection_id))
    }

    pub(crate) async fn catalog(&self, connection_id: &str, object: &str, refresh: bool) -> Res<ObjectCatalog> {
        let client = self.connections.client(connection_id)?;
        Ok(spoke_mapping::discover_properties(&client, object, &self.cache_dir(connection_id), refresh).await?)
    }

    /// The SQLite file a mapping's table lives in (a PostgreSQL table's rows come from
    /// [`AppState::local_rows`]; its store copy is in Spoke's store).
    fn local_db(&self, mapping: &Mapping) -> PathBuf {
        match &mapping.destination {
            spoke_mapping::Destination::Spoke { .. } | spoke_mapping::Destination::Postgres { .. } => {
                self.paths.store_file.clone()
            }
            spoke_mapping::Destination::Sqlite { path, .. } => PathBuf::from(path),
        }
    }

    /// The mapping as an inbound dry run compares it: a PostgreSQL table's rows as Spoke's copy
    /// in its store holds them (as of the last sync; none before the first).
    fn inbound_view(&self, mapping: &Mapping) -> Mapping {
        let mut view = mapping.clone();
        if let spoke_mapping::Destination::Postgres { .. } = &mapping.destination {
            view.destination = spoke_mapping::Destination::Spoke { table: spoke_engine::store_table(&mapping.destination) };
        }
        view
    }

    /// Up to `limit` rows of the mapping's local table, wherever it is (none while it does not
    /// exist): the samples of the write-back previews.
    async fn local_rows(&self, mapping: &Mapping, limit: usize) -> Res<Vec<LocalRow>> {
        if let spoke_mapping::Destination::Postgres { url, table } = &mapping.destination {
            let (url, table) = (url.clone(), table.clone());
            return crate::postgres::blocking(move || {
                Ok(spoke_engine::postgres_rows(&url, spoke_engine::saved_password(&url), &table, limit)?)
            })
            .await;
        }
        match spoke_mapping::read_local_rows(&self.local_db(mapping), mapping.destination.table(), limit) {
            Err(spoke_mapping::Error::NoSuchTable { .. }) => Ok(Vec::new()),
            rows => Ok(rows?),
        }
    }
}

#[tauri::command]
#[specta::specta]
pub async fn list_objects(state: State<'_, AppState>, connection_id: String, refresh: bool) -> Res<ObjectDirectory> {
    let client = state.connections.client(&connection_id)?;
    Ok(spoke_mapping::discover_objects(&client, &state.cache_dir(&connection_id), refresh).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn object_properties(
    state: State<'_, AppState>,
    connection_id: String,
    object: String,
    refresh: bool,
) -> Res<ObjectCatalog> {
    state.catalog(&connection_id, &object, refresh).await
}

/// A new mapping into Spoke's own table, with the given properties (match key chosen for the
/// object: email for contacts, else the record id).
#[tauri::command]
#[specta::specta]
pub async fn new_mapping(
    state: State<'_, AppState>,
    connection_id: String,
    object: String,
    table: String,
    properties: Vec<String>,
) -> Res<Mapping> {
    let catalog = state.catalog(&connection_id, &object, false).await?;
    let names: Vec<&str> = properties.iter().map(String::as_str).collect();
    Ok(Mapping::for_spoke_table(&catalog, &table, &names))
}

#[tauri::command]
#[specta::specta]
pub fn sqlite_tables(path: String) -> Res<Vec<String>> {
    Ok(spoke_mapping::list_sqlite_tables(std::path::Path::new(&path))?)
}

#[tauri::command]
#[specta::specta]
pub fn sqlite_table(path: String, table: String) -> Res<LocalTable> {
    Ok(spoke_mapping::discover_sqlite_table(std::path::Path::new(&path), &table)?)
}

#[tauri::command]
#[specta::specta]
pub async fn suggest_fields(
    state: State<'_, AppState>,
    connection_id: String,
    object: String,
    path: String,
    table: String,
) -> Res<Vec<Suggestion>> {
    let catalog = state.catalog(&connection_id, &object, false).await?;
    let local = spoke_mapping::discover_sqlite_table(std::path::Path::new(&path), &table)?;
    Ok(spoke_mapping::suggest(&catalog, &local.columns))
}

#[tauri::command]
#[specta::specta]
pub async fn validate_mapping(state: State<'_, AppState>, connection_id: String, mapping: Mapping) -> Res<Vec<Issue>> {
    let catalog = state.catalog(&connection_id, &mapping.object, false).await?;
    let mut issues = spoke_mapping::validate(&mapping, &catalog);
    if let spoke_mapping::Destination::Sqlite { path, table } = &mapping.destination {
        let local = spoke_mapping::discover_sqlite_table(std::path::Path::new(path), table)?;
        issues.extend(spoke_mapping::validate_columns(&mapping, &local.columns));
    }
    Ok(issues)
}

/// Runs sample records through the mapping without writing anything: HubSpot records inbound
/// (`toHubSpot = false`) or local rows outbound.
#[tauri::command]
#[specta::specta]
pub async fn preview_mapping(
    state: State<'_, AppState>,
    connection_id: String,
    mapping: Mapping,
    to_hubspot: bool,
    limit: u32,
) -> Res<Vec<DryRunRow>> {
    let client = state.connections.client(&connection_id)?;
    let catalog = state.catalog(&connection_id, &mapping.object, false).await?;
    let rows = if to_hubspot {
        let local = state.local_rows(&mapping, limit as usize).await?;
        spoke_mapping::preview_outbound_rows(&client, &mapping, &catalog, local).await?
    } else {
        let view = state.inbound_view(&mapping);
        spoke_mapping::preview_inbound(&client, &view, &catalog, &state.local_db(&view), limit as usize).await?
    };
    Ok(rows)
}

/// Up to `limit` real records the mapping would read (criteria applied), with every property it
/// maps: the samples of the transform editor's live preview.
#[tauri::command]
#[specta::specta]
pub async fn sample_records(
    state: State<'_, AppState>,
    connection_id: String,
    mapping: Mapping,
    limit: u32,
) -> Res<Vec<HubSpotRecord>> {
    let client = state.connections.client(&connection_id)?;
    let catalog = state.catalog(&connection_id, &mapping.object, false).await?;
    Ok(spoke_mapping::sample_records(&client, &mapping, &catalog, limit as usize).await?)
}

/// One field's HubSpot → local steps run over sample records: before → after per record.
#[tauri::command]
#[specta::specta]
pub fn preview_field(field: FieldMapping, records: Vec<HubSpotRecord>) -> Res<Vec<FieldPreview>> {
    Ok(spoke_mapping::preview_field(&field, &records))
}

/// One field's local → HubSpot steps run over sample local rows: before → after per row.
#[tauri::command]
#[specta::specta]
pub fn preview_field_outbound(field: FieldMapping, rows: Vec<LocalRow>) -> Res<Vec<FieldPreview>> {
    Ok(spoke_mapping::preview_field_outbound(&field, &rows))
}

/// Up to `limit` rows of the mapping's local table (none while the table does not exist yet):
/// the samples of the write-back live preview.
#[tauri::command]
#[specta::specta]
pub async fn local_samples(state: State<'_, AppState>, mapping: Mapping, limit: u32) -> Res<Vec<LocalRow>> {
    state.local_rows(&mapping, limit as usize).await
}

#[tauri::command]
#[specta::specta]
pub fn list_mappings(state: State<'_, AppState>, connection_id: String) -> Res<Vec<MappingEntry>> {
    Ok(state.mappings.list(&connection_id)?)
}

#[tauri::command]
#[specta::specta]
pub fn load_mapping(state: State<'_, AppState>, connection_id: String, file: String) -> Res<Mapping> {
    Ok(state.mappings.load(&connection_id, &file)?)
}

#[tauri::command]
#[specta::specta]
pub fn save_mapping(state: State<'_, AppState>, connection_id: String, mapping: Mapping) -> Res<MappingEntry> {
    Ok(state.mappings.save(&connection_id, &mapping)?)
}

#[tauri::command]
#[specta::specta]
pub fn delete_mapping(state: State<'_, AppState>, connection_id: String, file: String) -> Res<()> {
    state.mappings.delete(&connection_id, &file)?;
    // A deleted mapping no longer runs on its schedule.
    Ok(state.store.delete_schedule(&connection_id, &file)?)
}

/// A mapping file written for sharing or version control.
#[derive(Debug, serde::Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ExportedMapping {
    pub path: String,
    pub json: String,
}

/// Writes the mapping, in its stable file format, to `<data dir>/exports/<name>.json`.
#[tauri::command]
#[specta::specta]
pub fn export_mapping(state: State<'_, AppState>, mapping: Mapping) -> Res<ExportedMapping> {
    let dir = state.paths.data_dir.join("exports");
    let path = dir.join(format!("{}.json", spoke_mapping::slug(&mapping.name)));
    std::fs::create_dir_all(&dir).map_err(|source| crate::error::Error::DataDir { path: dir.display().to_string(), source })?;
    mapping.write_file(&path)?;
    Ok(ExportedMapping { path: path.display().to_string(), json: mapping.to_json_pretty() })
}
