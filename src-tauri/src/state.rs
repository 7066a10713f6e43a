//! Where Spoke keeps its files, and the state every command can reach.

use crate::error::Error;
use std::path::{Path, PathBuf};

/// The app's folders. `--data-dir DIR` on the command line, then `SPOKE_DATA_DIR`, override the
/// platform default (tests and side-by-side profiles use them).
#[derive(Debug, Clone)]
pub struct Paths {
    pub data_dir: PathBuf,
    /// The app's SQLite database (connection metadata; never secrets).
    pub db_file: PathBuf,
    /// The local store synced data lands in (Spoke's own tables).
    pub store_file: PathBuf,
    pub log_dir: PathBuf,
    pub log_file: PathBuf,
}

impl Paths {
    pub fn resolve(platform_default: Option<PathBuf>) -> Result<Paths, Error> {
        let from_args = data_dir_arg(std::env::args_os().skip(1));
        let data_dir = match (from_args, std::env::var_os("SPOKE_DATA_DIR")) {
            (Some(dir), _) => dir,
            (None, Some(dir)) if !dir.is_empty() => PathBuf::from(dir),
            _ => platform_default.ok_or(Error::NoDataDir)?,
        };
        Paths::under(&data_dir)
    }

    pub fn under(data_dir: &Path) -> Result<Paths, Error> {
        let log_dir = data_dir.join("logs");
        std::fs::create_dir_all(&log_dir)
            .map_err(|source| Error::DataDir { path: log_dir.display().to_string(), source })?;
        Ok(Paths {
            data_dir: data_dir.to_path_buf(),
            db_file: data_dir.join("spoke.db"),
            store_file: data_dir.join("store.db"),
            log_file: log_dir.join(crate::logging::LOG_FILE),
            log_dir,
        })
    }
}

fn data_dir_arg(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<PathBuf> {
    while let Some(arg) = args.next() {
        if arg == "--data-dir" {
            return args.next().map(PathBuf::from);
        }
        if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("--data-dir=")) {
            return Some(PathBuf::from(value));
        }
    }
    None
}

/// Syncs in progress, by connection and mapping file, so the UI can cancel them.
#[derive(Default)]
pub struct RunningSyncs(std::sync::Mutex<std::collections::HashMap<(String, String), spoke_engine::CancelToken>>);

impl RunningSyncs {
    fn key(connection_id: &str, file: &str) -> (String, String) {
        (connection_id.to_owned(), file.to_owned())
    }

    pub fn begin(&self, connection_id: &str, file: &str) -> spoke_engine::CancelToken {
        let token = spoke_engine::CancelToken::new();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(Self::key(connection_id, file), token.clone());
        token
    }

    /// Like [`RunningSyncs::begin`], but `None` when that mapping is already syncing (the
    /// scheduler never starts a second run of one mapping).
    pub fn try_begin(&self, connection_id: &str, file: &str) -> Option<spoke_engine::CancelToken> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = Self::key(connection_id, file);
        if map.contains_key(&key) {
            return None;
        }
        let token = spoke_engine::CancelToken::new();
        map.insert(key, token.clone());
        Some(token)
    }

    pub fn end(&self, connection_id: &str, file: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&Self::key(connection_id, file));
    }

    /// Asks a running sync to stop at its next checkpoint; false when none is running.
    pub fn cancel(&self, connection_id: &str, file: &str) -> bool {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&Self::key(connection_id, file)).map(|t| t.cancel()).is_some()
    }
}

/// Managed Tauri state.
pub struct AppState {
    pub paths: Paths,
    pub connections: spoke_connect::Connections,
    pub demo: crate::demo::DemoPortal,
    pub mappings: spoke_mapping::MappingLibrary,
    /// The local store synced data lands in.
    pub store: spoke_engine::Store,
    pub syncs: RunningSyncs,
    /// When the process started, for the "UI ready" log line the start-up benchmark reads.
    pub started: std::time::Instant,
    ui_ready: std::sync::Once,
}

impl AppState {
    pub fn new(
        paths: Paths,
        connections: spoke_connect::Connections,
        demo: crate::demo::DemoPortal,
        mappings: spoke_mapping::MappingLibrary,
        store: spoke_engine::Store,
        started: std::time::Instant,
    ) -> Self {
        let syncs = RunningSyncs::default();
        AppState { paths, connections, demo, mappings, store, syncs, started, ui_ready: std::sync::Once::new() }
    }

    /// Logs, once, how long the UI took from process start to its first call.
    pub fn note_ui_ready(&self) {
        self.ui_ready.call_once(|| {
            tracing::info!(elapsed_ms = self.started.elapsed().as_millis() as u64, "UI ready");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_from_arguments() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>().into_iter();
        assert_eq!(data_dir_arg(args(&["--data-dir", "/x"])), Some(PathBuf::from("/x")));
        assert_eq!(data_dir_arg(args(&["--data-dir=/y"])), Some(PathBuf::from("/y")));
        assert_eq!(data_dir_arg(args(&["--other"])), None);
    }

    #[test]
    fn paths_create_the_log_folder() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path()).unwrap();
        assert!(paths.log_dir.is_dir());
        assert!(paths.log_file.ends_with("logs/spoke.log"));
    }
}
