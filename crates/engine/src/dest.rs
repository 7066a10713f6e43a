//! Destinations: where a mapping's rows go.
//!
//! The engine's bookkeeping always lives in Spoke's store (`store.db`): cursors, runs, errors,
//! dead letters, write state, HubSpot ids, and a copy of each mapped row (the *store table*,
//! which is the baseline for change detection and echo suppression). For a
//! `Destination::Spoke` mapping the store table *is* the destination. For any other destination
//! the store table is named [`store_table`] (`customers@sqlite-1a2b3c4d`) and a
//! [`RowDestination`] mirrors the mapped columns into the admin's table:
//!
//! - a page's rows are written to the destination *before* the store commits the page and its
//!   checkpoint, and every write is idempotent by the match key, so a crash between the two
//!   replays the page harmlessly;
//! - archived records are flagged (`_hs_archived`) where the table has that column, else their
//!   rows are removed (and written again if HubSpot restores them); hard-deleted records and
//!   merged-away ids are removed;
//! - before a write-back, the destination's rows are scanned and rows that differ from the store
//!   table (or are new) are copied into it, so the write path finds them as local changes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use spoke_hubspot::Secret;
use spoke_mapping::{Destination, LocalRow, LocalType, LocalValue, Mapping};

use crate::error::{Error, Result};
use crate::store::quote;

/// One row for a destination: the mapped columns (match key column included) and what the
/// engine knows about its record.
#[derive(Debug, Clone, PartialEq)]
pub struct DestRow {
    pub row: LocalRow,
    pub hs_id: Option<String>,
    pub updated_at: Option<String>,
    pub archived: bool,
}

/// A table outside Spoke's store that receives a mapping's mapped columns. Rows are identified
/// by the mapping's match key column; every method is idempotent.
pub trait RowDestination: Send + Sync {
    /// For messages and logs (never contains a password).
    fn describe(&self) -> String;
    /// Checks the table (an admin's table: every mapped column must exist; nothing is altered)
    /// or creates it / adds the mapped columns it lacks (a table Spoke owns).
    fn ensure_schema(&self) -> Result<()>;
    /// Writes rows (insert or update by key) in one transaction.
    fn upsert(&self, rows: &[DestRow]) -> Result<()>;
    /// Flags rows archived (or removes them where the table has no `_hs_archived` column).
    fn mark_archived(&self, keys: &[LocalValue]) -> Result<()>;
    /// Removes rows (hard-deleted records, records that left the criteria).
    fn delete(&self, keys: &[LocalValue]) -> Result<()>;
    /// A merged-away record: its row is removed (the survivor's row is written by the read).
    fn redirect(&self, losers: &[LocalValue]) -> Result<()> {
        self.delete(losers)
    }
    /// Streams every row (mapped columns) to `f`, without buffering the table.
    fn scan(&self, f: &mut dyn FnMut(LocalRow) -> Result<()>) -> Result<()>;
}

/// The name of a mapping's table in Spoke's store.
pub fn store_table(destination: &Destination) -> String {
    match destination {
        Destination::Spoke { table } => table.clone(),
        other => {
            let (kind, place) = match other {
                Destination::Sqlite { path, .. } => ("sqlite", path.clone()),
                Destination::Postgres { url, .. } => ("postgres", url.clone()),
                Destination::Spoke { .. } => unreachable!(),
            };
            let h = Sha256::digest(place.as_bytes());
            format!(
                "{}@{kind}-{:02x}{:02x}{:02x}{:02x}",
                other.table(),
                h[0],
                h[1],
                h[2],
                h[3]
            )
        }
    }
}

/// The mapped columns of a mapping (match key column first) with their local types.
pub(crate) fn mapped_columns(mapping: &Mapping) -> Vec<(String, LocalType)> {
    mapping
        .local_columns()
        .into_iter()
        .filter(|c| !c.name.starts_with("_hs_"))
        .map(|c| (c.name, c.local_type))
        .collect()
}

/// Opens the destination of `mapping`: `None` for Spoke's own store. `password` is the
/// PostgreSQL password (from the OS keychain), if any.
pub fn open_destination(
    mapping: &Mapping,
    password: Option<Secret>,
) -> Result<Option<Arc<dyn RowDestination>>> {
    let key = mapping.match_key.column().to_owned();
    let columns = mapped_columns(mapping);
    match &mapping.destination {
        Destination::Spoke { .. } => Ok(None),
        Destination::Sqlite { path, table } => Ok(Some(Arc::new(SqliteTable::open(
            path, table, key, columns,
        )?))),
        Destination::Postgres { url, table } => Ok(Some(Arc::new(crate::pg::PgTable::connect(
            url, password, table, key, columns,
        )?))),
    }
}

pub(crate) fn to_sql(v: &LocalValue) -> SqlValue {
    match v {
        LocalValue::Null => SqlValue::Null,
        LocalValue::Bool(b) => SqlValue::Integer(*b as i64),
        LocalValue::Integer(i) => SqlValue::Integer(*i),
        LocalValue::Real(r) => SqlValue::Real(*r),
        LocalValue::Text(s) => SqlValue::Text(s.clone()),
    }
}

/// Whether two values are the same once stored (booleans as 0/1, `1` = `1.0`).
pub(crate) fn same_value(a: &LocalValue, b: &LocalValue) -> bool {
    match (to_sql(a), to_sql(b)) {
        (SqlValue::Integer(x), SqlValue::Real(y)) | (SqlValue::Real(y), SqlValue::Integer(x)) => {
            x as f64 == y
        }
        (x, y) => x == y,
    }
}

fn dest_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Destination {
        destination: what.to_owned(),
        reason: e.to_string(),
    }
}

/// An existing table in an SQLite file the admin picked. Spoke never alters it: the mapped
/// columns must exist; `_hs_id`, `_hs_updated_at` and `_hs_archived` are filled when the admin
/// added them. Rows are found by the match key column (`UPDATE … WHERE key IS ?`, else
/// `INSERT`), so no unique index is required.
pub struct SqliteTable {
    label: String,
    table: String,
    key: String,
    columns: Vec<(String, LocalType)>,
    conn: Mutex<Connection>,
    extras: Mutex<Vec<&'static str>>,
}

impl SqliteTable {
    pub fn open(
        path: &str,
        table: &str,
        key: String,
        columns: Vec<(String, LocalType)>,
    ) -> Result<SqliteTable> {
        let label = format!("table {table:?} in {path}");
        if !std::path::Path::new(path).is_file() {
            return Err(dest_err(&label, "the file does not exist"));
        }
        let conn = Connection::open(path).map_err(|e| dest_err(&label, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| dest_err(&label, e))?;
        Ok(SqliteTable {
            label,
            table: table.to_owned(),
            key,
            columns,
            conn: Mutex::new(conn),
            extras: Mutex::new(Vec::new()),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn extras(&self) -> Vec<&'static str> {
        self.extras.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        dest_err(&self.label, e)
    }

    fn remove(&self, keys: &[LocalValue]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        {
            let mut del = tx
                .prepare(&format!(
                    "DELETE FROM {} WHERE {} IS ?1",
                    quote(&self.table),
                    quote(&self.key)
                ))
                .map_err(|e| self.err(e))?;
            for k in keys.iter().filter(|k| !k.is_empty()) {
                del.execute([to_sql(k)]).map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }
}

impl RowDestination for SqliteTable {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn ensure_schema(&self) -> Result<()> {
        let existing: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT name FROM pragma_table_info(?1)")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([&self.table], |r| r.get::<_, String>(0))
                .map_err(|e| self.err(e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| self.err(e))?
        };
        if existing.is_empty() {
            return Err(Error::DestinationSchema {
                destination: self.label.clone(),
                problem: "the table does not exist".into(),
                fix: format!(
                    "Create the table {:?} in that file (Spoke does not create tables in your database), or pick another table in the mapping.",
                    self.table
                ),
            });
        }
        let has = |n: &str| existing.iter().any(|e| e.eq_ignore_ascii_case(n));
        let missing: Vec<&str> = self
            .columns
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !has(n))
            .collect();
        if !missing.is_empty() {
            return Err(Error::DestinationSchema {
                destination: self.label.clone(),
                problem: format!("it has no column {}", missing.join(", ")),
                fix: "Add the column(s) to your table, or edit the mapping to use columns the table has; Spoke does not change your table's schema.".into(),
            });
        }
        let extras: Vec<&'static str> = ["_hs_id", "_hs_updated_at", "_hs_archived"]
            .into_iter()
            .filter(|n| has(n))
            .collect();
        *self.extras.lock().unwrap_or_else(|p| p.into_inner()) = extras;
        Ok(())
    }

    fn upsert(&self, rows: &[DestRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let extras = self.extras();
        let mut cols: Vec<String> = self.columns.iter().map(|(n, _)| n.clone()).collect();
        cols.extend(extras.iter().map(|s| s.to_string()));
        let sets: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} = ?{}", quote(c), i + 1))
            .collect();
        let update = format!(
            "UPDATE {} SET {} WHERE {} IS ?{}",
            quote(&self.table),
            sets.join(", "),
            quote(&self.key),
            cols.len() + 1
        );
        let insert = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote(&self.table),
            cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
            (1..=cols.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        {
            let mut up = tx.prepare(&update).map_err(|e| self.err(e))?;
            let mut ins = tx.prepare(&insert).map_err(|e| self.err(e))?;
            for r in rows {
                let key = r.row.get(&self.key).cloned().unwrap_or(LocalValue::Null);
                if key.is_empty() {
                    continue;
                }
                let mut values: Vec<SqlValue> = self
                    .columns
                    .iter()
                    .map(|(n, _)| r.row.get(n).map(to_sql).unwrap_or(SqlValue::Null))
                    .collect();
                for e in &extras {
                    values.push(match *e {
                        "_hs_id" => r.hs_id.clone().map(SqlValue::Text).unwrap_or(SqlValue::Null),
                        "_hs_updated_at" => r
                            .updated_at
                            .clone()
                            .map(SqlValue::Text)
                            .unwrap_or(SqlValue::Null),
                        _ => SqlValue::Integer(r.archived as i64),
                    });
                }
                let n = up
                    .execute(params_from_iter(
                        values.iter().cloned().chain([to_sql(&key)]),
                    ))
                    .map_err(|e| self.err(e))?;
                if n == 0 {
                    ins.execute(params_from_iter(values))
                        .map_err(|e| self.err(e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn mark_archived(&self, keys: &[LocalValue]) -> Result<()> {
        if !self.extras().contains(&"_hs_archived") {
            return self.remove(keys);
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        {
            let mut up = tx
                .prepare(&format!(
                    "UPDATE {} SET _hs_archived = 1 WHERE {} IS ?1",
                    quote(&self.table),
                    quote(&self.key)
                ))
                .map_err(|e| self.err(e))?;
            for k in keys.iter().filter(|k| !k.is_empty()) {
                up.execute([to_sql(k)]).map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn delete(&self, keys: &[LocalValue]) -> Result<()> {
        self.remove(keys)
    }

    fn scan(&self, f: &mut dyn FnMut(LocalRow) -> Result<()>) -> Result<()> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {} FROM {}",
            self.columns
                .iter()
                .map(|(n, _)| quote(n))
                .collect::<Vec<_>>()
                .join(", "),
            quote(&self.table)
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let mut row = LocalRow::new();
            for (i, (n, _)) in self.columns.iter().enumerate() {
                row.insert(
                    n.clone(),
                    crate::store::sql_to_local(r.get_ref(i).map_err(|e| self.err(e))?),
                );
            }
            f(row)?;
        }
        Ok(())
    }
}

/// Copies the destination's rows that differ from the store table (or are new there) into the
/// store table, so that the write path finds them as local changes. Rows without a key value
/// cannot be matched and are counted, not copied. Returns (keys copied, keyless rows).
pub(crate) fn pull_changes(
    store: &crate::Store,
    table: &str,
    key: &str,
    columns: &[String],
    dest: &dyn RowDestination,
) -> Result<(Vec<LocalValue>, u64)> {
    let mut conn = store.conn();
    let perr = store.path().display().to_string();
    let err = |e: rusqlite::Error| Error::store(&perr, e);
    let tx = conn.transaction().map_err(err)?;
    let (mut copied, mut keyless) = (Vec::new(), 0u64);
    {
        let select = format!(
            "SELECT rowid, {} FROM {} WHERE {} IS ?1",
            columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
            quote(table),
            quote(key)
        );
        let mut find = tx.prepare(&select).map_err(err)?;
        let sets: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} = ?{}", quote(c), i + 2))
            .collect();
        let mut update = tx
            .prepare(&format!(
                "UPDATE {} SET {} WHERE rowid = ?1",
                quote(table),
                sets.join(", ")
            ))
            .map_err(err)?;
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO {} ({}) VALUES ({})",
                quote(table),
                columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
                (1..=columns.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .map_err(err)?;
        dest.scan(&mut |row: LocalRow| {
            let k = row.get(key).cloned().unwrap_or(LocalValue::Null);
            if k.is_empty() {
                keyless += 1;
                return Ok(());
            }
            let values: Vec<SqlValue> = columns
                .iter()
                .map(|c| row.get(c).map(to_sql).unwrap_or(SqlValue::Null))
                .collect();
            let found: Option<(i64, Vec<LocalValue>)> = find
                .query_row([to_sql(&k)], |r| {
                    let mut v = Vec::with_capacity(columns.len());
                    for i in 0..columns.len() {
                        v.push(crate::store::sql_to_local(r.get_ref(i + 1)?));
                    }
                    Ok((r.get(0)?, v))
                })
                .optional()
                .map_err(err)?;
            match found {
                Some((rowid, have)) => {
                    let differs = columns.iter().zip(&have).any(|(c, h)| {
                        !same_value(row.get(c).unwrap_or(&LocalValue::Null), h)
                    });
                    if differs {
                        update
                            .execute(params_from_iter(
                                std::iter::once(SqlValue::Integer(rowid)).chain(values),
                            ))
                            .map_err(err)?;
                        copied.push(k);
                    }
                }
                None => {
                    insert.execute(params_from_iter(values)).map_err(err)?;
                    copied.push(k);
                }
            }
            Ok(())
        })?;
    }
    tx.commit().map_err(err)?;
    Ok((copied, keyless))
}

/// Rows of the store table for the destination, by key: used after a write-back to give the
/// destination the HubSpot ids the write path learnt.
pub(crate) fn store_rows(
    store: &crate::Store,
    table: &str,
    columns: &[String],
    keys: &[LocalValue],
    key: &str,
) -> Result<Vec<DestRow>> {
    let conn = store.conn();
    let perr = store.path().display().to_string();
    let err = |e: rusqlite::Error| Error::store(&perr, e);
    let mut stmt = conn
        .prepare(&format!(
            "SELECT _hs_id, _hs_updated_at, _hs_archived, {} FROM {} WHERE {} IS ?1",
            columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
            quote(table),
            quote(key)
        ))
        .map_err(err)?;
    let mut out = Vec::new();
    for k in keys {
        let row = stmt
            .query_row([to_sql(k)], |r| {
                let mut row = LocalRow::new();
                for (i, c) in columns.iter().enumerate() {
                    row.insert(c.clone(), crate::store::sql_to_local(r.get_ref(i + 3)?));
                }
                Ok(DestRow {
                    row,
                    hs_id: r.get(0)?,
                    updated_at: r.get(1)?,
                    archived: r.get::<_, Option<i64>>(2)?.unwrap_or(0) != 0,
                })
            })
            .optional()
            .map_err(err)?;
        out.extend(row);
    }
    Ok(out)
}

/// Keys (match key column values) of store-table rows by HubSpot id.
pub(crate) fn keys_of(
    tx: &Connection,
    table: &str,
    key: &str,
    ids: &[String],
) -> rusqlite::Result<BTreeMap<String, LocalValue>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {} FROM {} WHERE _hs_id = ?1",
        quote(key),
        quote(table)
    ))?;
    let mut out = BTreeMap::new();
    for id in ids {
        if let Some(v) = stmt
            .query_row([id], |r| Ok(crate::store::sql_to_local(r.get_ref(0)?)))
            .optional()?
        {
            out.insert(id.clone(), v);
        }
    }
    Ok(out)
}

/// Opens `mapping`'s external destination (if any), checks or prepares its table, and attaches
/// it to the store table `table` so that every committed page reaches it. The PostgreSQL
/// password comes from the OS keychain (`spoke_connect::Keychain::database_password`).
pub(crate) async fn attach(store: &crate::Store, mapping: &Mapping, table: &str) -> Result<()> {
    if matches!(mapping.destination, Destination::Spoke { .. }) {
        return Ok(());
    }
    let m = mapping.clone();
    let dest = tokio::task::spawn_blocking(move || -> Result<Arc<dyn RowDestination>> {
        let password = match &m.destination {
            // Without a keychain a password-less login (trust, peer) still works.
            Destination::Postgres { url, .. } => crate::pg::saved_password(url),
            _ => None,
        };
        let dest = open_destination(&m, password)?
            .ok_or_else(|| Error::Unexpected("no destination".into()))?;
        dest.ensure_schema()?;
        Ok(dest)
    })
    .await
    .map_err(|e| Error::Destination {
        destination: mapping.destination.table().to_owned(),
        reason: e.to_string(),
    })??;
    store.attach(table, mapping.match_key.column(), dest);
    Ok(())
}

/// Before a write-back into an external destination: the store table is brought up to date
/// with the destination's rows. Returns the keys of the rows copied.
pub(crate) fn before_write(store: &crate::Store, mapping: &Mapping, table: &str) -> Result<Vec<LocalValue>> {
    let Some(a) = store.attached(table) else {
        return Ok(Vec::new());
    };
    let columns = store.ensure_table(mapping)?;
    let (keys, keyless) = pull_changes(store, table, &a.key, &columns, a.dest.as_ref())?;
    if keyless > 0 {
        tracing::warn!(
            destination = %a.dest.describe(),
            "{keyless} row(s) have no value in the match key column {:?} and are not sent",
            a.key
        );
    }
    Ok(keys)
}

/// After a write-back: the destination gets the HubSpot ids (and timestamps) of the rows sent.
pub(crate) fn after_write(
    store: &crate::Store,
    mapping: &Mapping,
    table: &str,
    keys: &[LocalValue],
) -> Result<()> {
    let Some(a) = store.attached(table) else {
        return Ok(());
    };
    if keys.is_empty() {
        return Ok(());
    }
    let columns: Vec<String> = mapped_columns(mapping).into_iter().map(|(n, _)| n).collect();
    let rows = store_rows(store, table, &columns, keys, &a.key)?;
    a.dest.upsert(&rows)
}
