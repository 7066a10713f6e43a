// Every app command is listed here so Tauri generates a permission for it; a command is denied
// unless a capability in capabilities/ grants it (deny by default, tauri-apps/tauri#9008).
const COMMANDS: &[&str] = &[
    "app_info",
    "list_connections",
    "add_token_connection",
    "connect_demo_token",
    "begin_oauth",
    "begin_demo_oauth",
    "finish_oauth",
    "cancel_oauth",
    "begin_reconnect",
    "refresh_connection",
    "disconnect",
    "scope_catalog",
    "scope_presets",
    "plan_scopes",
    "scope_report",
    "demo_portal",
    "list_objects",
    "object_properties",
    "new_mapping",
    "sqlite_tables",
    "sqlite_table",
    "suggest_fields",
    "validate_mapping",
    "preview_mapping",
    "sample_records",
    "preview_field",
    "list_mappings",
    "load_mapping",
    "save_mapping",
    "delete_mapping",
    "export_mapping",
    "test_connection",
    "diagnostics_report",
    "save_diagnostics_report",
    "start_sync",
    "cancel_sync",
    "list_runs",
    "run_errors",
    "table_rows",
    "sync_comments",
    "get_schedule",
    "set_schedule",
    "set_webhook_url",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build script failed");
}
