//! Spoke's desktop shell. Commands are thin wrappers over the `spoke-*` crates; the window, the
//! capabilities and the generated TypeScript bindings live here.

pub mod commands;
pub mod connections;
pub mod data;
pub mod demo;
pub mod error;
pub mod logging;
pub mod mapping;
pub mod postgres;
pub mod schedule;
pub mod state;
pub mod sync;
pub mod testing;

use tauri::Manager;

/// The command set, shared by the app and by the bindings export/drift test.
pub fn specta_builder() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(tauri_specta::collect_commands![
            commands::app_info,
            connections::list_connections,
            connections::add_token_connection,
            connections::connect_demo_token,
            connections::begin_oauth,
            connections::begin_demo_oauth,
            connections::finish_oauth,
            connections::cancel_oauth,
            connections::begin_reconnect,
            connections::refresh_connection,
            connections::disconnect,
            connections::scope_catalog,
            connections::scope_presets,
            connections::plan_scopes,
            connections::scope_report,
            connections::demo_portal,
            mapping::list_objects,
            mapping::object_properties,
            mapping::new_mapping,
            mapping::sqlite_tables,
            mapping::sqlite_table,
            mapping::suggest_fields,
            mapping::validate_mapping,
            mapping::preview_mapping,
            mapping::sample_records,
            mapping::preview_field,
            mapping::preview_field_outbound,
            mapping::local_samples,
            mapping::list_mappings,
            mapping::load_mapping,
            mapping::save_mapping,
            mapping::delete_mapping,
            mapping::export_mapping,
            postgres::save_database_password,
            postgres::forget_database_password,
            postgres::database_password_saved,
            postgres::test_postgres,
            postgres::suggest_columns,
            testing::test_connection,
            testing::diagnostics_report,
            testing::save_diagnostics_report,
            sync::start_sync,
            sync::cancel_sync,
            sync::list_runs,
            sync::run_errors,
            sync::table_rows,
            sync::sync_comments,
            sync::comment_attachments,
            schedule::get_schedule,
            schedule::set_schedule,
            schedule::set_webhook_url,
            data::data_page,
            data::update_cell,
            data::insert_row,
            data::discard_row,
            data::push_changes,
            data::resend_dead_letters,
            data::cancel_push,
            data::dead_letters,
            data::list_conflicts,
            data::resolve_conflict,
            data::export_table,
        ])
}

/// Where the generated bindings are committed, relative to this crate.
pub const BINDINGS_PATH: &str = "../ui/src/lib/bindings.ts";

/// The TypeScript exporter settings used for the committed bindings.
pub fn typescript() -> specta_typescript::Typescript {
    specta_typescript::Typescript::default()
        .header("// Generated from the Rust commands by tauri-specta. Do not edit: run `make bindings`.\n// @ts-nocheck")
        .bigint(specta_typescript::BigIntExportBehavior::Number)
}

pub fn run() {
    let started = std::time::Instant::now();
    let builder = specta_builder();
    tauri::Builder::default()
        .invoke_handler(builder.invoke_handler())
        .setup(move |app| {
            builder.mount_events(app);
            let paths = state::Paths::resolve(app.path().app_data_dir().ok())?;
            let guard = logging::init(&paths.log_dir);
            tracing::info!(version = env!("CARGO_PKG_VERSION"), data_dir = %paths.data_dir.display(), "Spoke started");
            app.manage(guard);
            let connections = spoke_connect::Connections::open(spoke_connect::ConnectConfig::new(&paths.db_file))
                .map_err(|e| format!("{e}"))?;
            let demo = tauri::async_runtime::block_on(demo::DemoPortal::start());
            let mappings = spoke_mapping::MappingLibrary::new(paths.data_dir.join("mappings"));
            let store = spoke_engine::Store::open(&paths.store_file).map_err(|e| format!("{e}"))?;
            let background = tauri::async_runtime::block_on(schedule::background(&store));
            app.manage(state::AppState::new(paths, connections, demo, mappings, store, started));
            app.manage(background);
            schedule::spawn(app.handle().clone());
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("error while running Spoke");
}
