//! The local store: one SQLite file (WAL) in the app data dir.
//!
//! - One table per mapping destination: the mapped columns plus `_hs_id` (primary key),
//!   `_hs_created_at`, `_hs_updated_at`, `_hs_updated_ms`, `_hs_archived`, `_hs_archived_at`,
//!   `_hs_raw` (JSON of the mapped properties as HubSpot sent them) and `_hs_seen_run`.
//! - One association table per (table, other object): `{table}__assoc_{object}`.
//! - Engine tables (`_spoke_*`): streams (bookmark + in-flight scan checkpoint), runs, run errors,
//!   merge redirects, pending association reads, migrations.
//!
//! A page of records, the scan checkpoint and the run's counters are committed in one
//! transaction, so a crash at any moment loses nothing and duplicates nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use spoke_mapping::{LocalRow, LocalValue, Mapping};

use crate::dest::{keys_of, DestRow, RowDestination};
use crate::error::{Error, Result};
use crate::types::{Failure, RowsPage, RunCounts, RunError, RunRecord, RunStatus};

/// Columns every data table has, besides the mapped ones.
pub const ENGINE_COLUMNS: &[(&str, &str)] = &[
    ("_hs_id", "TEXT PRIMARY KEY"),
    ("_hs_created_at", "TEXT"),
    ("_hs_updated_at", "TEXT"),
    ("_hs_updated_ms", "INTEGER"),
    ("_hs_archived", "INTEGER NOT NULL DEFAULT 0"),
    ("_hs_archived_at", "TEXT"),
    ("_hs_raw", "JSON"),
    ("_hs_seen_run", "INTEGER"),
];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _spoke_streams (
    tbl TEXT PRIMARY KEY,
    object TEXT NOT NULL,
    mapping TEXT NOT NULL,
    mapping_hash TEXT,
    properties TEXT NOT NULL DEFAULT '[]',
    bookmark_ms INTEGER,
    last_full_ms INTEGER,
    last_assoc_ms INTEGER,
    scan_kind TEXT,
    scan_since_ms INTEGER,
    scan_cursor TEXT,
    scan_started_ms INTEGER,
    scan_max_seen_ms INTEGER,
    scan_run INTEGER,
    scan_rewrite INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS _spoke_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mapping TEXT NOT NULL,
    object TEXT NOT NULL,
    tbl TEXT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_ms INTEGER,
    counts TEXT NOT NULL DEFAULT '{}',
    problem TEXT,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS _spoke_run_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    record_id TEXT,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS _spoke_run_errors_run ON _spoke_run_errors(run_id);
CREATE TABLE IF NOT EXISTS _spoke_redirects (
    tbl TEXT NOT NULL,
    loser_id TEXT NOT NULL,
    survivor_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (tbl, loser_id)
);
CREATE TABLE IF NOT EXISTS _spoke_assoc_pending (
    tbl TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (tbl, id)
);
CREATE TABLE IF NOT EXISTS _spoke_migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl TEXT NOT NULL,
    statement TEXT NOT NULL,
    at TEXT NOT NULL
);
";

/// The local store. Cheap to clone; every clone shares one connection.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    running: Mutex<HashSet<String>>,
    /// External destinations of the tables being synced: store table → (key column, dest).
    dests: Mutex<HashMap<String, Attached>>,
}

#[derive(Clone)]
pub(crate) struct Attached {
    pub key: String,
    pub dest: Arc<dyn RowDestination>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 (UTC, milliseconds) for a Unix-ms timestamp.
pub(crate) fn iso_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix ms from HubSpot's timestamps: RFC 3339 (any fraction, `Z` or offset) or (float) ms.
pub(crate) fn parse_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s.parse::<f64>().ok().map(|f| f as i64);
    }
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let mo: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    if b.len() == 10 {
        return Some(ms);
    }
    let rest = s.get(11..)?;
    let h: i64 = rest.get(0..2)?.parse().ok()?;
    let mi: i64 = rest.get(3..5)?.parse().ok()?;
    let sec: i64 = rest.get(6..8)?.parse().ok()?;
    ms += (h * 3600 + mi * 60 + sec) * 1000;
    let mut tail = rest.get(8..).unwrap_or("");
    if let Some(frac) = tail.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        let mut f = digits.clone();
        f.truncate(3);
        while f.len() < 3 {
            f.push('0');
        }
        ms += f.parse::<i64>().ok()?;
        tail = &frac[digits.len()..];
    }
    if tail.len() >= 6 && (tail.starts_with('+') || tail.starts_with('-')) {
        let sign = if tail.starts_with('-') { -1 } else { 1 };
        let oh: i64 = tail.get(1..3)?.parse().ok()?;
        let om: i64 = tail.get(4..6)?.parse().ok()?;
        ms -= sign * (oh * 60 + om) * 60_000;
    }
    Some(ms)
}

fn to_sql(v: &LocalValue) -> SqlValue {
    match v {
        LocalValue::Null => SqlValue::Null,
        LocalValue::Bool(b) => SqlValue::Integer(*b as i64),
        LocalValue::Integer(i) => SqlValue::Integer(*i),
        LocalValue::Real(r) => SqlValue::Real(*r),
        LocalValue::Text(s) => SqlValue::Text(s.clone()),
    }
}

fn sql_value_to_local(v: &SqlValue) -> LocalValue {
    match v {
        SqlValue::Null | SqlValue::Blob(_) => LocalValue::Null,
        SqlValue::Integer(i) => LocalValue::Integer(*i),
        SqlValue::Real(r) => LocalValue::Real(*r),
        SqlValue::Text(s) => LocalValue::Text(s.clone()),
    }
}

pub(crate) fn sql_to_local(v: rusqlite::types::ValueRef<'_>) -> LocalValue {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => LocalValue::Null,
        ValueRef::Integer(i) => LocalValue::Integer(i),
        ValueRef::Real(r) => LocalValue::Real(r),
        ValueRef::Text(t) => LocalValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => LocalValue::Text(format!("<{} bytes>", b.len())),
    }
}

/// The association table of `table` with `to_object`.
pub fn association_table(table: &str, to_object: &str) -> String {
    format!("{table}__assoc_{to_object}")
}

/// Associations read for a set of records: from id → [(to id, type ids, labels)].
pub(crate) type AssocRows = BTreeMap<String, Vec<(String, Vec<i64>, Vec<String>)>>;

/// A record as read from HubSpot, ready to be stored.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub id: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub updated_ms: i64,
    /// JSON of the mapped properties.
    pub raw: String,
    /// Mapped columns (may be partial when a field failed to map).
    pub row: LocalRow,
    /// Fields that failed to map: (message).
    pub error: Option<String>,
    /// `hs_merged_object_ids` (ids merged into this record).
    pub merged_ids: Vec<String>,
}

/// The in-flight scan of a stream (the checkpoint).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scan {
    /// `full` or `incremental`.
    pub kind: String,
    pub since_ms: Option<i64>,
    pub cursor: Option<String>,
    pub started_ms: i64,
    pub max_seen_ms: Option<i64>,
    pub run: i64,
    /// Rewrite every record even if unchanged (the mapping changed).
    pub rewrite: bool,
    /// A full read by two paths at once: search from the top of each gap down and list +
    /// `batch/read` from its bottom up; `cursor` holds the gaps (JSON). `list_after` and
    /// `list_max` are the one list cursor of checkpoints written before gaps.
    pub dual: bool,
    /// The list's paging cursor; `Some("")` once the list is exhausted.
    pub list_after: Option<String>,
    /// Highest id the list path has read.
    pub list_max: Option<String>,
}

/// What a committed page moves forward.
#[derive(Debug, Clone)]
pub(crate) enum Checkpoint {
    None,
    /// A read's cursor: the incremental keyset id, or a full read's gaps (JSON).
    Search {
        cursor: Option<String>,
        max_seen_ms: Option<i64>,
    },
}

/// A stream: what the engine knows about one table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stream {
    pub mapping_hash: Option<String>,
    pub bookmark_ms: Option<i64>,
    pub last_full_ms: Option<i64>,
    pub last_assoc_ms: Option<i64>,
    pub scan: Option<Scan>,
}

/// What one page did.
#[derive(Debug, Default, Clone)]
pub(crate) struct PageResult {
    pub merges: Vec<(String, String)>,
}

/// Per-page context.
pub(crate) struct PageCtx<'a> {
    pub table: &'a str,
    pub columns: &'a [String],
    pub run_id: i64,
    pub scan_run: i64,
    pub rewrite: bool,
    /// Queue every record for association reads (full reads), not only changed ones.
    pub assoc_all: bool,
    pub track_assoc: bool,
}

impl Store {
    /// Opens (or creates) the store at `path`: WAL, engine tables.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let p = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::store(&p, e))?;
        }
        let conn = Connection::open(&path).map_err(|e| Error::store(&p, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| Error::store(&p, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| Error::store(&p, e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| Error::store(&p, e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| Error::store(&p, e))?;
        conn.execute_batch(crate::deadletter::WRITE_SCHEMA)
            .and_then(|()| conn.execute_batch(crate::twoway::SCHEMA))
            .map_err(|e| Error::store(&p, e))?;
        // Engine-table migrations: columns added after the first release of a table.
        for (column, decl) in [
            ("scan_list_after", "TEXT"),
            ("scan_list_max", "TEXT"),
            ("scan_dual", "INTEGER NOT NULL DEFAULT 0"),
        ] {
            let has: i64 = conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('_spoke_streams') WHERE name = ?1",
                    [column],
                    |r| r.get(0),
                )
                .map_err(|e| Error::store(&p, e))?;
            if has == 0 {
                conn.execute_batch(&format!(
                    "ALTER TABLE _spoke_streams ADD COLUMN {column} {decl}"
                ))
                .map_err(|e| Error::store(&p, e))?;
            }
        }
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
                running: Mutex::new(HashSet::new()),
                dests: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::store(&self.inner.path.display().to_string(), e)
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks `table` as being synced in this process; `false` if it already is.
    pub(crate) fn claim(&self, table: &str) -> bool {
        self.inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.to_owned())
    }

    /// Routes the mapped rows of `table` to an external destination as well (until `detach`).
    pub(crate) fn attach(&self, table: &str, key: &str, dest: Arc<dyn RowDestination>) {
        self.inner
            .dests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                table.to_owned(),
                Attached {
                    key: key.to_owned(),
                    dest,
                },
            );
    }

    pub(crate) fn detach(&self, table: &str) {
        self.inner
            .dests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(table);
    }

    pub(crate) fn attached(&self, table: &str) -> Option<Attached> {
        self.inner
            .dests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
            .cloned()
    }

    /// Removes the destination rows of `ids` (their keys read from the store table first).
    fn dest_remove(
        &self,
        tx: &Transaction<'_>,
        table: &str,
        ids: &[String],
        archive: bool,
    ) -> Result<()> {
        if let Some(a) = self.attached(table) {
            let keys: Vec<_> = keys_of(tx, table, &a.key, ids)
                .map_err(|e| self.err(e))?
                .into_values()
                .collect();
            if archive {
                a.dest.mark_archived(&keys)?;
            } else {
                a.dest.delete(&keys)?;
            }
        }
        Ok(())
    }

    pub(crate) fn release(&self, table: &str) {
        self.inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(table);
    }

    /// Creates the data table for `mapping`, or adds the columns it lacks (a migration, logged in
    /// `_spoke_migrations`; nothing is ever dropped). Returns the mapped column names.
    pub(crate) fn ensure_table(&self, mapping: &Mapping) -> Result<Vec<String>> {
        let table = &crate::dest::store_table(&mapping.destination);
        let mapped: Vec<(String, &'static str)> = mapping
            .local_columns()
            .into_iter()
            .filter(|c| !c.name.starts_with("_hs_"))
            .map(|c| (c.name, c.local_type.sql_type()))
            .collect();
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let existing: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT name FROM pragma_table_info(?1)")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([table], |r| r.get::<_, String>(0))
                .map_err(|e| self.err(e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| self.err(e))?
        };
        let now = iso_ms(now_ms());
        let log = |tx: &Transaction<'_>, sql: &str| -> Result<()> {
            tx.execute_batch(sql).map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO _spoke_migrations (tbl, statement, at) VALUES (?1, ?2, ?3)",
                params![table, sql, now],
            )
            .map_err(|e| self.err(e))?;
            Ok(())
        };
        if existing.is_empty() {
            let cols: Vec<String> = ENGINE_COLUMNS
                .iter()
                .map(|(n, t)| format!("{} {t}", quote(n)))
                .chain(mapped.iter().map(|(n, t)| format!("{} {t}", quote(n))))
                .collect();
            log(
                &tx,
                &format!("CREATE TABLE {} ({})", quote(table), cols.join(", ")),
            )?;
            log(
                &tx,
                &format!(
                    "CREATE INDEX {} ON {} (_hs_updated_ms)",
                    quote(&format!("{table}__updated")),
                    quote(table)
                ),
            )?;
        } else {
            for (n, t) in &mapped {
                if !existing.iter().any(|e| e.eq_ignore_ascii_case(n)) {
                    log(
                        &tx,
                        &format!("ALTER TABLE {} ADD COLUMN {} {t}", quote(table), quote(n)),
                    )?;
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        let names: Vec<String> = mapped.into_iter().map(|(n, _)| n).collect();
        crate::twoway::ensure_triggers(&conn, table, &names).map_err(|e| self.err(e))?;
        Ok(names)
    }

    pub(crate) fn ensure_assoc_table(&self, table: &str, to_object: &str) -> Result<String> {
        let name = association_table(table, to_object);
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (from_id TEXT NOT NULL, to_id TEXT NOT NULL, type_ids JSON NOT NULL, labels JSON NOT NULL, PRIMARY KEY (from_id, to_id))",
            quote(&name)
        );
        self.conn().execute_batch(&sql).map_err(|e| self.err(e))?;
        Ok(name)
    }

    pub(crate) fn stream(&self, table: &str) -> Result<Option<Stream>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT mapping_hash, properties, bookmark_ms, last_full_ms, last_assoc_ms, scan_kind, scan_since_ms, scan_cursor, scan_started_ms, scan_max_seen_ms, scan_run, scan_rewrite, scan_dual, scan_list_after, scan_list_max FROM _spoke_streams WHERE tbl = ?1",
            [table],
            |r| {
                let kind: Option<String> = r.get(5)?;
                Ok(Stream {
                    mapping_hash: r.get(0)?,
                    bookmark_ms: r.get(2)?,
                    last_full_ms: r.get(3)?,
                    last_assoc_ms: r.get(4)?,
                    scan: match kind {
                        Some(kind) => Some(Scan {
                            kind,
                            since_ms: r.get(6)?,
                            cursor: r.get(7)?,
                            started_ms: r.get::<_, Option<i64>>(8)?.unwrap_or(0),
                            max_seen_ms: r.get(9)?,
                            run: r.get::<_, Option<i64>>(10)?.unwrap_or(0),
                            rewrite: r.get::<_, i64>(11)? != 0,
                            dual: r.get::<_, i64>(12)? != 0,
                            list_after: r.get(13)?,
                            list_max: r.get(14)?,
                        }),
                        None => None,
                    },
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Starts a scan: records the stream (if new) and the scan checkpoint.
    pub(crate) fn begin_scan(&self, table: &str, mapping: &Mapping, scan: &Scan) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO _spoke_streams (tbl, object, mapping) VALUES (?1, ?2, ?3) ON CONFLICT(tbl) DO UPDATE SET object = excluded.object, mapping = excluded.mapping",
            params![table, mapping.object, mapping.name],
        )
        .map_err(|e| self.err(e))?;
        conn.execute(
            "UPDATE _spoke_streams SET scan_kind = ?2, scan_since_ms = ?3, scan_cursor = ?4, scan_started_ms = ?5, scan_max_seen_ms = ?6, scan_run = ?7, scan_rewrite = ?8, scan_dual = ?9, scan_list_after = ?10, scan_list_max = ?11 WHERE tbl = ?1",
            params![table, scan.kind, scan.since_ms, scan.cursor, scan.started_ms, scan.max_seen_ms, scan.run, scan.rewrite as i64, scan.dual as i64, scan.list_after, scan.list_max],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Ends a scan: new bookmark, what a complete read covered, checkpoint cleared.
    pub(crate) fn finish_scan(
        &self,
        table: &str,
        bookmark_ms: i64,
        full: Option<(i64, &[String], &str)>,
    ) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "UPDATE _spoke_streams SET bookmark_ms = ?2, scan_kind = NULL, scan_since_ms = NULL, scan_cursor = NULL, scan_started_ms = NULL, scan_max_seen_ms = NULL, scan_run = NULL, scan_rewrite = 0, scan_dual = 0, scan_list_after = NULL, scan_list_max = NULL WHERE tbl = ?1",
            params![table, bookmark_ms],
        )
        .map_err(|e| self.err(e))?;
        if let Some((at, props, hash)) = full {
            conn.execute(
                "UPDATE _spoke_streams SET last_full_ms = ?2, properties = ?3, mapping_hash = ?4 WHERE tbl = ?1",
                params![table, at, serde_json::to_string(props).unwrap_or_default(), hash],
            )
            .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    pub(crate) fn set_last_assoc(&self, table: &str, at: i64) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE _spoke_streams SET last_assoc_ms = ?2 WHERE tbl = ?1",
                params![table, at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Writes one page: rows, merges, pending association reads, per-record errors, the scan
    /// checkpoint and the run's counters, in one transaction.
    pub(crate) fn commit_page(
        &self,
        ctx: &PageCtx<'_>,
        records: &[Incoming],
        checkpoint: Checkpoint,
        counts: &mut RunCounts,
    ) -> Result<PageResult> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut out = PageResult::default();
        let table = ctx.table;
        let now = iso_ms(now_ms());
        let attached = self.attached(table);
        let mut dest_rows: Vec<DestRow> = Vec::new();
        {
            let mut select = tx
                .prepare_cached(&format!(
                    "SELECT _hs_updated_ms, _hs_raw, _hs_archived, rowid FROM {} WHERE _hs_id = ?1",
                    quote(table)
                ))
                .map_err(|e| self.err(e))?;
            let mut cols: Vec<String> = ENGINE_COLUMNS.iter().map(|(n, _)| n.to_string()).collect();
            cols.extend(ctx.columns.iter().cloned());
            let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
            let updates: Vec<String> = cols
                .iter()
                .skip(1)
                .map(|c| format!("{0} = excluded.{0}", quote(c)))
                .collect();
            let mut upsert = tx
                .prepare_cached(&format!(
                    "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT(_hs_id) DO UPDATE SET {}",
                    quote(table),
                    cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
                    placeholders.join(", "),
                    updates.join(", ")
                ))
                .map_err(|e| self.err(e))?;
            let mut seen = tx
                .prepare_cached(&format!(
                    "UPDATE {} SET _hs_seen_run = ?2 WHERE _hs_id = ?1",
                    quote(table)
                ))
                .map_err(|e| self.err(e))?;
            let mut pending = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO _spoke_assoc_pending (tbl, id) VALUES (?1, ?2)",
                )
                .map_err(|e| self.err(e))?;
            let mut error = tx
                .prepare_cached("INSERT INTO _spoke_run_errors (run_id, record_id, code, message, at) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(|e| self.err(e))?;
            for rec in records {
                counts.read += 1;
                let existing: Option<(Option<i64>, Option<String>, i64, i64)> = select
                    .query_row([&rec.id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                    .map_err(|e| self.err(e))?;
                let write = match &existing {
                    // Deleted locally and not yet archived in HubSpot: not brought back.
                    None if crate::twoway::is_locally_deleted(&tx, table, &rec.id)
                        .map_err(|e| self.err(e))? =>
                    {
                        counts.unchanged += 1;
                        false
                    }
                    None => {
                        counts.created += 1;
                        true
                    }
                    // A locally edited row: the new version waits to be settled field by field
                    // (two-way conflict policies), it does not overwrite the local edit.
                    Some((ms, raw, _, rid))
                        if rec.updated_ms >= ms.unwrap_or(i64::MIN)
                            && (rec.updated_ms > ms.unwrap_or(i64::MIN)
                                || raw.as_deref() != Some(rec.raw.as_str()))
                            && crate::twoway::is_marked(&tx, table, *rid)
                                .map_err(|e| self.err(e))? =>
                    {
                        crate::twoway::park(&tx, table, *rid, rec).map_err(|e| self.err(e))?;
                        counts.updated += 1;
                        false
                    }
                    Some((ms, raw, archived, _)) => {
                        let ms = ms.unwrap_or(i64::MIN);
                        if rec.updated_ms < ms {
                            // An older version (search lag): what we have is newer.
                            counts.unchanged += 1;
                            false
                        } else if !ctx.rewrite
                            && *archived == 0
                            && rec.updated_ms == ms
                            && raw.as_deref() == Some(rec.raw.as_str())
                        {
                            counts.unchanged += 1;
                            false
                        } else {
                            if *archived != 0 {
                                counts.restored += 1;
                            } else {
                                counts.updated += 1;
                            }
                            true
                        }
                    }
                };
                if write {
                    let mut values: Vec<SqlValue> = vec![
                        SqlValue::Text(rec.id.clone()),
                        rec.created_at
                            .clone()
                            .map(SqlValue::Text)
                            .unwrap_or(SqlValue::Null),
                        rec.updated_at
                            .clone()
                            .map(SqlValue::Text)
                            .unwrap_or(SqlValue::Null),
                        SqlValue::Integer(rec.updated_ms),
                        SqlValue::Integer(0),
                        SqlValue::Null,
                        SqlValue::Text(rec.raw.clone()),
                        SqlValue::Integer(ctx.scan_run),
                    ];
                    for c in ctx.columns {
                        values.push(rec.row.get(c).map(to_sql).unwrap_or(SqlValue::Null));
                    }
                    if attached.is_some() {
                        // What the store table gets is what the destination gets.
                        let row: LocalRow = ctx
                            .columns
                            .iter()
                            .zip(&values[ENGINE_COLUMNS.len()..])
                            .map(|(c, v)| (c.clone(), sql_value_to_local(v)))
                            .collect();
                        dest_rows.push(DestRow {
                            row,
                            hs_id: Some(rec.id.clone()),
                            updated_at: rec.updated_at.clone(),
                            archived: false,
                        });
                    }
                    upsert
                        .execute(rusqlite::params_from_iter(values))
                        .map_err(|e| self.err(e))?;
                    if let Some(message) = &rec.error {
                        counts.errors += 1;
                        error
                            .execute(params![
                                ctx.run_id,
                                rec.id,
                                "engine.record_mapping",
                                message,
                                now
                            ])
                            .map_err(|e| self.err(e))?;
                    }
                } else {
                    seen.execute(params![rec.id, ctx.scan_run])
                        .map_err(|e| self.err(e))?;
                }
                if ctx.track_assoc && (write || ctx.assoc_all) {
                    pending
                        .execute(params![table, rec.id])
                        .map_err(|e| self.err(e))?;
                }
                for loser in &rec.merged_ids {
                    if loser == &rec.id {
                        continue;
                    }
                    let inserted = tx
                        .execute(
                            "INSERT OR IGNORE INTO _spoke_redirects (tbl, loser_id, survivor_id, at) VALUES (?1, ?2, ?3, ?4)",
                            params![table, loser, rec.id, now],
                        )
                        .map_err(|e| self.err(e))?;
                    if let Some(a) = &attached {
                        let key = rec.row.get(&a.key);
                        let losers: Vec<_> = keys_of(&tx, table, &a.key, std::slice::from_ref(loser))
                            .map_err(|e| self.err(e))?
                            .into_values()
                            .filter(|k| Some(k) != key)
                            .collect();
                        a.dest.redirect(&losers)?;
                    }
                    let removed = delete_record(&tx, table, loser).map_err(|e| self.err(e))?;
                    if inserted > 0 || removed {
                        counts.merged += 1;
                        out.merges.push((loser.clone(), rec.id.clone()));
                    }
                }
            }
        }
        match checkpoint {
            Checkpoint::None => {}
            Checkpoint::Search {
                cursor,
                max_seen_ms,
            } => {
                tx.execute(
                    "UPDATE _spoke_streams SET scan_cursor = ?2, scan_max_seen_ms = max(coalesce(scan_max_seen_ms, ?3), coalesce(?3, scan_max_seen_ms)) WHERE tbl = ?1",
                    params![table, cursor, max_seen_ms],
                )
                .map_err(|e| self.err(e))?;
            }
        }
        counts.pages += 1;
        save_counts(&tx, ctx.run_id, counts).map_err(|e| self.err(e))?;
        // The destination's rows first, then the store's page and checkpoint: a crash between
        // the two replays the page, and the destination's upserts by key make that harmless.
        if let Some(a) = &attached {
            a.dest.upsert(&dest_rows)?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// Local ids of `table` that the scan `scan_run` did not see and that are not archived.
    pub(crate) fn unseen_ids(&self, table: &str, scan_run: i64) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT _hs_id FROM {} WHERE _hs_id IS NOT NULL AND _hs_archived = 0 AND (_hs_seen_run IS NULL OR _hs_seen_run <> ?1) ORDER BY _hs_id",
                quote(table)
            ))
            .map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map([scan_run], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(ids)
    }

    /// Flags records archived in HubSpot (recycle bin). Returns the ids newly flagged.
    pub(crate) fn mark_archived(
        &self,
        table: &str,
        run_id: i64,
        archived: &[(String, Option<String>)],
        counts: &mut RunCounts,
    ) -> Result<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut flagged = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "UPDATE {} SET _hs_archived = 1, _hs_archived_at = ?2 WHERE _hs_id = ?1 AND _hs_archived = 0",
                    quote(table)
                ))
                .map_err(|e| self.err(e))?;
            for (id, at) in archived {
                if stmt.execute(params![id, at]).map_err(|e| self.err(e))? > 0 {
                    counts.archived += 1;
                    flagged.push(id.clone());
                }
            }
        }
        self.dest_remove(&tx, table, &flagged, true)?;
        save_counts(&tx, run_id, counts).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(flagged)
    }

    /// Records merges (loser → survivor): a redirect, and the loser's row removed.
    pub(crate) fn apply_merges(
        &self,
        table: &str,
        run_id: i64,
        merges: &[(String, String)],
        counts: &mut RunCounts,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let now = iso_ms(now_ms());
        let losers: Vec<String> = merges.iter().map(|(l, _)| l.clone()).collect();
        self.dest_remove(&tx, table, &losers, false)?;
        for (loser, survivor) in merges {
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO _spoke_redirects (tbl, loser_id, survivor_id, at) VALUES (?1, ?2, ?3, ?4)",
                    params![table, loser, survivor, now],
                )
                .map_err(|e| self.err(e))?;
            let removed = delete_record(&tx, table, loser).map_err(|e| self.err(e))?;
            if inserted > 0 || removed {
                counts.merged += 1;
            }
        }
        save_counts(&tx, run_id, counts).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Removes records gone from HubSpot (or out of the criteria), with their association rows.
    pub(crate) fn delete_records(
        &self,
        table: &str,
        run_id: i64,
        ids: &[String],
        counts: &mut RunCounts,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        self.dest_remove(&tx, table, ids, false)?;
        for id in ids {
            if delete_record(&tx, table, id).map_err(|e| self.err(e))? {
                counts.deleted += 1;
            }
        }
        save_counts(&tx, run_id, counts).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Queues every live record of `table` for an association read.
    pub(crate) fn queue_all_assoc(&self, table: &str) -> Result<()> {
        self.conn()
            .execute(
                &format!(
                    "INSERT OR IGNORE INTO _spoke_assoc_pending (tbl, id) SELECT ?1, _hs_id FROM {} WHERE _hs_id IS NOT NULL AND _hs_archived = 0",
                    quote(table)
                ),
                [table],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(crate) fn pending_assoc(&self, table: &str, limit: usize) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id FROM _spoke_assoc_pending WHERE tbl = ?1 ORDER BY id LIMIT ?2")
            .map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map(params![table, limit as i64], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(ids)
    }

    /// Replaces the association rows of `ids` (per association table) and clears them from the
    /// pending queue, in one transaction. Returns how many records' associations changed.
    pub(crate) fn commit_associations(
        &self,
        table: &str,
        run_id: i64,
        ids: &[String],
        per_table: &[(String, AssocRows)],
        counts: &mut RunCounts,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut changed: BTreeSet<&String> = BTreeSet::new();
        for (assoc_table, found) in per_table {
            let mut read = tx
                .prepare_cached(&format!(
                    "SELECT to_id, type_ids FROM {} WHERE from_id = ?1 ORDER BY to_id",
                    quote(assoc_table)
                ))
                .map_err(|e| self.err(e))?;
            let mut del = tx
                .prepare_cached(&format!(
                    "DELETE FROM {} WHERE from_id = ?1",
                    quote(assoc_table)
                ))
                .map_err(|e| self.err(e))?;
            let mut ins = tx
                .prepare_cached(&format!(
                    "INSERT OR REPLACE INTO {} (from_id, to_id, type_ids, labels) VALUES (?1, ?2, ?3, ?4)",
                    quote(assoc_table)
                ))
                .map_err(|e| self.err(e))?;
            for id in ids {
                let before: Vec<(String, String)> = read
                    .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(|e| self.err(e))?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(|e| self.err(e))?;
                let mut after: Vec<(String, String)> = found
                    .get(id)
                    .map(|list| {
                        list.iter()
                            .map(|(to, types, _)| {
                                let mut t = types.clone();
                                t.sort_unstable();
                                (to.clone(), serde_json::to_string(&t).unwrap_or_default())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                after.sort();
                if before != after {
                    changed.insert(id);
                    del.execute([id]).map_err(|e| self.err(e))?;
                    for (to, types, labels) in found.get(id).into_iter().flatten() {
                        let mut t = types.clone();
                        t.sort_unstable();
                        ins.execute(params![
                            id,
                            to,
                            serde_json::to_string(&t).unwrap_or_default(),
                            serde_json::to_string(labels).unwrap_or_default()
                        ])
                        .map_err(|e| self.err(e))?;
                    }
                }
            }
        }
        counts.associations_changed += changed.len() as u64;
        {
            let mut done = tx
                .prepare_cached("DELETE FROM _spoke_assoc_pending WHERE tbl = ?1 AND id = ?2")
                .map_err(|e| self.err(e))?;
            for id in ids {
                done.execute(params![table, id]).map_err(|e| self.err(e))?;
            }
        }
        save_counts(&tx, run_id, counts).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Starts a run; runs of `table` left `running` by a crashed process become `interrupted`.
    pub(crate) fn start_run(&self, mapping: &Mapping, mode: &str) -> Result<i64> {
        let table = &crate::dest::store_table(&mapping.destination);
        let conn = self.conn();
        conn.execute(
            "UPDATE _spoke_runs SET status = 'interrupted' WHERE tbl = ?1 AND status = 'running'",
            [table],
        )
        .map_err(|e| self.err(e))?;
        conn.execute(
            "INSERT INTO _spoke_runs (mapping, object, tbl, mode, status, started_at) VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
            params![mapping.name, mapping.object, table, mode, iso_ms(now_ms())],
        )
        .map_err(|e| self.err(e))?;
        Ok(conn.last_insert_rowid())
    }

    pub(crate) fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
        duration_ms: u64,
        problem: Option<&Failure>,
        summary: &str,
    ) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE _spoke_runs SET status = ?2, counts = ?3, duration_ms = ?4, finished_at = ?5, problem = ?6, summary = ?7 WHERE id = ?1",
                params![
                    run_id,
                    status.as_str(),
                    serde_json::to_string(counts).unwrap_or_default(),
                    duration_ms as i64,
                    iso_ms(now_ms()),
                    problem.map(|p| serde_json::to_string(p).unwrap_or_default()),
                    summary
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The latest runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, mapping, object, tbl, mode, status, started_at, finished_at, duration_ms, counts, problem, summary FROM _spoke_runs ORDER BY id DESC LIMIT ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                let counts: String = r.get(9)?;
                let problem: Option<String> = r.get(10)?;
                let status: String = r.get(5)?;
                Ok(RunRecord {
                    id: r.get(0)?,
                    mapping: r.get(1)?,
                    object: r.get(2)?,
                    table: r.get(3)?,
                    mode: r.get(4)?,
                    status: RunStatus::parse(&status),
                    started_at: r.get(6)?,
                    finished_at: r.get(7)?,
                    duration_ms: r.get::<_, Option<i64>>(8)?.map(|d| d.max(0) as u64),
                    counts: serde_json::from_str(&counts).unwrap_or_default(),
                    problem: problem.and_then(|p| serde_json::from_str(&p).ok()),
                    summary: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The errors a run recorded (records that could not be mapped, failed steps).
    pub fn run_errors(&self, run_id: i64) -> Result<Vec<RunError>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT run_id, record_id, code, message, at FROM _spoke_run_errors WHERE run_id = ?1 ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(RunError {
                    run_id: r.get(0)?,
                    record_id: r.get(1)?,
                    code: r.get(2)?,
                    message: r.get(3)?,
                    at: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// A page of a local table (data tables and association tables), ordered by rowid.
    pub fn rows(&self, table: &str, limit: usize, offset: usize) -> Result<RowsPage> {
        let conn = self.conn();
        let exists: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1 AND name NOT LIKE '\\_spoke\\_%' ESCAPE '\\'",
                [table],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| self.err(e))?
            > 0;
        if !exists {
            return Err(Error::NoSuchTable {
                table: table.to_owned(),
            });
        }
        let total: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", quote(table)), [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT * FROM {} ORDER BY rowid LIMIT ?1 OFFSET ?2",
                quote(table)
            ))
            .map_err(|e| self.err(e))?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let n = columns.len();
        let rows = stmt
            .query_map(params![limit as i64, offset as i64], |r| {
                (0..n)
                    .map(|i| Ok(sql_to_local(r.get_ref(i)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(RowsPage {
            columns,
            rows,
            total: total.max(0) as u64,
        })
    }

    /// The survivor a merged-away id now points to (following chains), if any.
    pub fn redirect(&self, table: &str, id: &str) -> Result<Option<String>> {
        let conn = self.conn();
        let mut current = id.to_owned();
        let mut found = None;
        for _ in 0..32 {
            let next: Option<String> = conn
                .query_row(
                    "SELECT survivor_id FROM _spoke_redirects WHERE tbl = ?1 AND loser_id = ?2",
                    params![table, current],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            match next {
                Some(n) if n != current => {
                    found = Some(n.clone());
                    current = n;
                }
                _ => break,
            }
        }
        Ok(found)
    }
}

fn save_counts(tx: &Transaction<'_>, run_id: i64, counts: &RunCounts) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE _spoke_runs SET counts = ?2 WHERE id = ?1",
        params![run_id, serde_json::to_string(counts).unwrap_or_default()],
    )?;
    Ok(())
}

/// Deletes one record and its association rows. True when a row was removed.
fn delete_record(tx: &Transaction<'_>, table: &str, id: &str) -> rusqlite::Result<bool> {
    let n = tx.execute(
        &format!("DELETE FROM {} WHERE _hs_id = ?1", quote(table)),
        [id],
    )?;
    // The engine's own delete is not a local delete to send to HubSpot.
    crate::twoway::forget_local_delete(tx, table, id)?;
    let prefix = format!("{table}__assoc_");
    let assoc: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND substr(name, 1, length(?1)) = ?1",
        )?;
        let rows = stmt.query_map([&prefix], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for a in assoc {
        tx.execute(
            &format!("DELETE FROM {} WHERE from_id = ?1", quote(&a)),
            [id],
        )?;
    }
    tx.execute(
        "DELETE FROM _spoke_assoc_pending WHERE tbl = ?1 AND id = ?2",
        params![table, id],
    )?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_and_format() {
        assert_eq!(parse_ms("1712345678901"), Some(1_712_345_678_901));
        assert_eq!(parse_ms("1712345678901.0"), Some(1_712_345_678_901));
        let ms = parse_ms("2026-10-01T12:34:56.789Z").unwrap();
        assert_eq!(iso_ms(ms), "2026-10-01T12:34:56.789Z");
        assert_eq!(parse_ms("2026-10-01T12:34:56Z"), Some(ms - 789));
        assert_eq!(parse_ms("2026-10-01T14:34:56.789+02:00"), Some(ms));
        assert_eq!(parse_ms("2026-10-01T12:34:56.7891234Z"), Some(ms));
        assert_eq!(parse_ms("nope"), None);
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn open_creates_engine_tables_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("sub/spoke.db")).unwrap();
        let mode: String = store
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(store.runs(10).unwrap().is_empty());
        assert!(matches!(
            store.rows("_spoke_runs", 10, 0),
            Err(Error::NoSuchTable { .. })
        ));
        assert!(matches!(
            store.rows("nope", 10, 0),
            Err(Error::NoSuchTable { .. })
        ));
    }
}
