//! Browsing and editing a mapping's local table (the app's Data screen): a page of rows with
//! each row's write state (in HubSpot as it is, changed locally, new, refused), a cell update and
//! a row insert checked against the mapping's columns.
//!
//! A row's state is the write-back's own test (see `write.rs`): a row without a HubSpot id is
//! new; a row whose outbound values hash differently from what was last written (or read) is
//! changed; a row with a dead letter it has not been edited since is refused.

use std::collections::{BTreeMap, HashMap};

use rusqlite::params;
use serde::{Deserialize, Serialize};
use spoke_mapping::{LocalRow, LocalType, LocalValue, Mapping, MatchKey};

use crate::deadletter::ensure_write_tables;
use crate::error::{Error, Result};
use crate::store::{quote, Store};
use crate::write::{baseline_hash, outbound_hash, sha};

/// A column of a mapping's table, as the editor shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DataColumn {
    pub name: String,
    pub local_type: LocalType,
    /// The HubSpot property the column is mapped to.
    pub property: Option<String>,
    /// The match key column.
    pub key: bool,
    /// Whether a person may edit it here (it is written back to HubSpot).
    pub editable: bool,
    /// Why not, when it is not editable.
    pub read_only_reason: Option<String>,
}

/// Where a row stands with HubSpot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum RowState {
    /// As last read from or written to HubSpot.
    Synced,
    /// Changed locally; the next push sends it.
    Changed,
    /// Not in HubSpot yet; the next push creates it.
    New,
    /// Refused by HubSpot (a dead letter) and not edited since.
    Refused,
    /// Changed on both sides; a field waits for the user to keep one side (Data screen,
    /// Conflicts).
    Conflict,
    /// Archived in HubSpot; never written.
    Archived,
}

impl RowState {
    /// Sent by the next push.
    pub fn pending(self) -> bool {
        matches!(self, RowState::Changed | RowState::New)
    }
}

/// Why HubSpot refused a row (its dead letter), shown next to the row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RowProblem {
    pub category: String,
    pub message: String,
    pub fix: String,
}

/// One row of a mapping's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DataRow {
    /// The local row's rowid (stable; dead letters name it).
    #[specta(type = f64)]
    pub row_id: i64,
    pub hubspot_id: Option<String>,
    pub state: RowState,
    /// The dead letter's reason, also when the row was edited since.
    pub problem: Option<RowProblem>,
    /// HubSpot's last modification of the record as last read (RFC 3339).
    pub updated_at: Option<String>,
    /// One value per column of the page, in order.
    pub values: Vec<LocalValue>,
}

/// Which rows a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum RowFilter {
    #[default]
    All,
    /// New and changed rows: what the next push sends.
    Changes,
    /// Rows HubSpot refused.
    Refused,
}

/// A page of a mapping's table with every row's write state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DataPage {
    pub mapping: String,
    pub table: String,
    /// For a mapping into the admin's own SQLite or PostgreSQL table: that table (the page shows
    /// Spoke's copy of its rows, read-only here; edits are made in the table itself and the next
    /// push picks them up).
    pub copy_of: Option<String>,
    pub columns: Vec<DataColumn>,
    pub rows: Vec<DataRow>,
    /// Rows matching the filter.
    #[specta(type = f64)]
    pub total: u64,
    /// Position of the first row of the page among those.
    #[specta(type = f64)]
    pub offset: u64,
    /// Every row of the table.
    #[specta(type = f64)]
    pub all: u64,
    /// New and changed rows (what the next push sends).
    #[specta(type = f64)]
    pub changes: u64,
    #[specta(type = f64)]
    pub refused: u64,
}

/// The editor's columns of `mapping`: the key column first, then the mapped columns.
pub fn data_columns(mapping: &Mapping) -> Vec<DataColumn> {
    let key = mapping.match_key.column();
    mapping
        .local_columns()
        .into_iter()
        .filter(|c| !c.name.starts_with("_hs_"))
        .map(|c| {
            let fields: Vec<_> = mapping
                .fields
                .iter()
                .filter(|f| f.column.as_deref() == Some(c.name.as_str()))
                .collect();
            let property = fields.iter().find_map(|f| f.property.clone());
            let is_key = c.name == key;
            let reason = match (&mapping.match_key, is_key) {
                (MatchKey::RecordId { .. }, true) => Some(
                    "HubSpot's record id: Spoke fills it in when the row is created in HubSpot."
                        .to_owned(),
                ),
                (MatchKey::Property { .. }, true) => None,
                _ if fields.iter().any(|f| f.direction.outbound()) => None,
                _ if fields.is_empty() => Some("Not mapped to a HubSpot property.".to_owned()),
                _ => Some(format!(
                    "Read from HubSpot only: a local edit would be overwritten by the next sync and never sent. Make the field two-way in the mapping to edit {} here.",
                    c.name
                )),
            };
            DataColumn {
                name: c.name,
                local_type: c.local_type,
                property: property.or_else(|| match &mapping.match_key {
                    MatchKey::Property { property, .. } if is_key => Some(property.clone()),
                    _ => None,
                }),
                key: is_key,
                editable: reason.is_none(),
                read_only_reason: reason,
            }
        })
        .collect()
}

fn store_err(store: &Store, e: impl std::fmt::Display) -> Error {
    Error::store(&store.path().display().to_string(), e)
}

/// A value converted for `column`, or the error naming the column and the fix.
fn convert(mapping: &Mapping, column: &DataColumn, value: LocalValue) -> Result<LocalValue> {
    if !column.editable {
        return Err(Error::ReadOnlyColumn {
            column: column.name.clone(),
            reason: column.read_only_reason.clone().unwrap_or_default(),
        });
    }
    let value = match value {
        LocalValue::Text(s) => LocalValue::Text(s.trim().to_owned()),
        other => other,
    };
    let from = mapping
        .fields
        .iter()
        .find(|f| f.column.as_deref() == Some(column.name.as_str()))
        .and_then(|f| f.property_type);
    let shown = value.display();
    spoke_mapping::to_local_value(value, column.local_type, from).map_err(|message| {
        Error::InvalidValue {
            column: column.name.clone(),
            value: shown,
            expected: type_name(column.local_type).to_owned(),
            message,
        }
    })
}

fn type_name(t: LocalType) -> &'static str {
    match t {
        LocalType::Text => "text",
        LocalType::Integer => "a whole number",
        LocalType::Real => "a number",
        LocalType::Boolean => "yes or no",
        LocalType::Date => "a date (YYYY-MM-DD)",
        LocalType::Datetime => "a date and time (2026-01-31T09:30:00Z)",
        LocalType::Json => "JSON (or a;b;c for a multiple-choice property)",
    }
}

fn column<'a>(columns: &'a [DataColumn], table: &str, name: &str) -> Result<&'a DataColumn> {
    columns
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| Error::UnknownColumn {
            table: table.to_owned(),
            column: name.to_owned(),
            known: columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// What the write state tables say about a table's rows.
struct Known {
    /// rid → (hs_id, hash, raw_hash) after the last write.
    written: HashMap<i64, (Option<String>, String, Option<String>)>,
    /// rid → (hash, problem).
    dead: HashMap<i64, (String, RowProblem)>,
    /// Rows with an open conflict.
    conflicts: std::collections::HashSet<i64>,
}

impl Known {
    fn load(conn: &rusqlite::Connection, table: &str) -> rusqlite::Result<Known> {
        ensure_write_tables(conn)?;
        let mut written = HashMap::new();
        let mut stmt = conn
            .prepare("SELECT rid, hs_id, hash, raw_hash FROM _spoke_write_state WHERE tbl = ?1")?;
        for r in stmt.query_map([table], |r| {
            Ok((r.get::<_, i64>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })? {
            let (rid, v) = r?;
            written.insert(rid, v);
        }
        let mut dead = HashMap::new();
        let mut stmt = conn.prepare(
            "SELECT rid, hash, category, message, fix FROM _spoke_dead_letters WHERE tbl = ?1",
        )?;
        for r in stmt.query_map([table], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                RowProblem {
                    category: r.get(2)?,
                    message: r.get(3)?,
                    fix: r.get(4)?,
                },
            ))
        })? {
            let (rid, hash, problem) = r?;
            dead.insert(rid, (hash, problem));
        }
        let mut stmt =
            conn.prepare("SELECT DISTINCT rid FROM _spoke_conflicts WHERE tbl = ?1 AND kept IS NULL")?;
        let conflicts = stmt
            .query_map([table], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Known {
            written,
            dead,
            conflicts,
        })
    }

    /// The write-back's own outbox test, without changing anything.
    fn state(
        &self,
        mapping: &Mapping,
        rid: i64,
        hs_id: Option<&str>,
        raw: Option<&str>,
        archived: bool,
        row: &LocalRow,
    ) -> (RowState, Option<RowProblem>) {
        let problem = self.dead.get(&rid).map(|(_, p)| p.clone());
        if archived {
            return (RowState::Archived, problem);
        }
        let hash = outbound_hash(mapping, row).unwrap_or_else(|| format!("unmappable:{rid}"));
        let changed = match hs_id {
            None => true,
            Some(id) => {
                let raw_hash = raw.map(sha);
                match self.written.get(&rid) {
                    Some((sid, shash, sraw)) if sid.as_deref() == Some(id) && *sraw == raw_hash => {
                        *shash != hash
                    }
                    _ => {
                        raw.and_then(|raw| baseline_hash(mapping, row, id, raw))
                            .as_deref()
                            != Some(hash.as_str())
                    }
                }
            }
        };
        let state = match self.dead.get(&rid) {
            _ if self.conflicts.contains(&rid) => RowState::Conflict,
            Some((dhash, _)) if *dhash == hash => RowState::Refused,
            _ if !changed => RowState::Synced,
            _ if hs_id.is_none() => RowState::New,
            _ => RowState::Changed,
        };
        (state, problem)
    }
}

impl Store {
    /// Creates `mapping`'s table if it does not exist yet (so rows can be added before the first
    /// sync); refuses mappings into the admin's own database.
    fn editable_table(&self, mapping: &Mapping) -> Result<String> {
        match &mapping.destination {
            spoke_mapping::Destination::Spoke { table } => {
                self.ensure_table(mapping)?;
                Ok(table.clone())
            }
            // The admin's own SQLite or PostgreSQL table is edited where it lives; the next
            // write-back picks the edits up from there.
            spoke_mapping::Destination::Sqlite { table, .. }
            | spoke_mapping::Destination::Postgres { table, .. } => {
                Err(Error::UnsupportedDestination {
                    mapping: mapping.name.clone(),
                    table: table.clone(),
                })
            }
        }
    }

    /// Every row of the table (or the one with `only` as rowid), with its state.
    fn data_rows(
        &self,
        mapping: &Mapping,
        table: &str,
        columns: &[DataColumn],
        only: Option<i64>,
    ) -> Result<Vec<DataRow>> {
        let conn = self.conn();
        let known = Known::load(&conn, table).map_err(|e| store_err(self, e))?;
        // Every mapped column feeds the hash, also those the editor does not list.
        let mapped: Vec<String> = mapping
            .local_columns()
            .into_iter()
            .map(|c| c.name)
            .filter(|c| !c.starts_with("_hs_"))
            .collect();
        let sql = format!(
            "SELECT rowid, _hs_id, _hs_raw, _hs_archived, _hs_updated_at{} FROM {} {} ORDER BY rowid",
            mapped.iter().map(|c| format!(", {}", quote(c))).collect::<String>(),
            quote(table),
            if only.is_some() { "WHERE rowid = ?1" } else { "WHERE ?1 IS NULL" },
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| store_err(self, e))?;
        let rows = stmt
            .query_map([only], |r| {
                let mut row = LocalRow::new();
                for (i, c) in mapped.iter().enumerate() {
                    row.insert(c.clone(), sql_value(r.get_ref(i + 5)?));
                }
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<i64>>(3)?.unwrap_or(0) != 0,
                    r.get::<_, Option<String>>(4)?,
                    row,
                ))
            })
            .map_err(|e| store_err(self, e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| store_err(self, e))?;
        Ok(rows
            .into_iter()
            .map(|(rid, hs_id, raw, archived, updated_at, row)| {
                let (state, problem) = known.state(
                    mapping,
                    rid,
                    hs_id.as_deref(),
                    raw.as_deref(),
                    archived,
                    &row,
                );
                DataRow {
                    row_id: rid,
                    hubspot_id: hs_id,
                    state,
                    problem,
                    updated_at,
                    values: columns
                        .iter()
                        .map(|c| row.get(&c.name).cloned().unwrap_or(LocalValue::Null))
                        .collect(),
                }
            })
            .collect())
    }

    /// A page of `mapping`'s table with every row's write state. With `focus` (a rowid), the
    /// page is the one holding that row (under the filter).
    pub fn data_page(
        &self,
        mapping: &Mapping,
        filter: RowFilter,
        limit: usize,
        offset: usize,
        focus: Option<i64>,
    ) -> Result<DataPage> {
        let (table, copy_of) = match &mapping.destination {
            spoke_mapping::Destination::Spoke { .. } => (self.editable_table(mapping)?, None),
            external => {
                self.ensure_table(mapping)?;
                let what = match external {
                    spoke_mapping::Destination::Postgres { url, table } => format!("PostgreSQL table {table} at {url}"),
                    spoke_mapping::Destination::Sqlite { path, table } => format!("SQLite table {table} in {path}"),
                    spoke_mapping::Destination::Spoke { table } => table.clone(),
                };
                (crate::dest::store_table(&mapping.destination), Some(what))
            }
        };
        let mut columns = data_columns(mapping);
        if let Some(what) = &copy_of {
            for c in columns.iter_mut().filter(|c| c.editable) {
                c.editable = false;
                c.read_only_reason = Some(format!("Edit it in the {what}; the next push sends the change."));
            }
        }
        let rows = self.data_rows(mapping, &table, &columns, None)?;
        let all = rows.len() as u64;
        let changes = rows.iter().filter(|r| r.state.pending()).count() as u64;
        let refused = rows.iter().filter(|r| r.state == RowState::Refused).count() as u64;
        let matching: Vec<DataRow> = rows
            .into_iter()
            .filter(|r| match filter {
                RowFilter::All => true,
                RowFilter::Changes => r.state.pending(),
                RowFilter::Refused => r.state == RowState::Refused,
            })
            .collect();
        let limit = limit.clamp(1, 1000);
        let offset = focus
            .and_then(|id| matching.iter().position(|r| r.row_id == id))
            .map(|pos| pos / limit * limit)
            .unwrap_or(offset);
        Ok(DataPage {
            mapping: mapping.name.clone(),
            total: matching.len() as u64,
            offset: offset as u64,
            rows: matching.into_iter().skip(offset).take(limit).collect(),
            table,
            copy_of,
            columns,
            all,
            changes,
            refused,
        })
    }

    /// Sets one cell of a row of `mapping`'s table (a local change the next push sends). The
    /// column must be one the mapping writes back, the value must fit its type.
    pub fn update_cell(
        &self,
        mapping: &Mapping,
        row_id: i64,
        column_name: &str,
        value: LocalValue,
    ) -> Result<DataRow> {
        let table = self.editable_table(mapping)?;
        let columns = data_columns(mapping);
        let col = column(&columns, &table, column_name)?;
        let value = convert(mapping, col, value)?;
        if col.key && matches!(mapping.match_key, MatchKey::Property { .. }) && value.is_empty() {
            return Err(Error::MissingKey {
                column: col.name.clone(),
            });
        }
        let n = self
            .conn()
            .execute(
                &format!(
                    "UPDATE {} SET {} = ?2 WHERE rowid = ?1",
                    quote(&table),
                    quote(&col.name)
                ),
                params![row_id, to_sql(&value)],
            )
            .map_err(|e| store_err(self, e))?;
        if n == 0 {
            return Err(Error::NoSuchRow { table, row_id });
        }
        self.data_rows(mapping, &table, &columns, Some(row_id))?
            .pop()
            .ok_or(Error::NoSuchRow { table, row_id })
    }

    /// Adds a row to `mapping`'s table (created or upserted in HubSpot by the next push).
    /// Values are by column; a mapping matched by a property needs its key column.
    pub fn insert_row(
        &self,
        mapping: &Mapping,
        values: &BTreeMap<String, LocalValue>,
    ) -> Result<DataRow> {
        let table = self.editable_table(mapping)?;
        let columns = data_columns(mapping);
        let mut converted: Vec<(String, LocalValue)> = Vec::new();
        for (name, value) in values {
            let col = column(&columns, &table, name)?;
            if value.is_empty() {
                continue;
            }
            converted.push((col.name.clone(), convert(mapping, col, value.clone())?));
        }
        if let MatchKey::Property { column: key, .. } = &mapping.match_key {
            if !converted.iter().any(|(c, v)| c == key && !v.is_empty()) {
                return Err(Error::MissingKey {
                    column: key.clone(),
                });
            }
        }
        if converted.is_empty() {
            return Err(Error::EmptyRow { table });
        }
        let row_id = {
            let conn = self.conn();
            conn.execute(
                &format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    quote(&table),
                    converted
                        .iter()
                        .map(|(c, _)| quote(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    (1..=converted.len())
                        .map(|i| format!("?{i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                rusqlite::params_from_iter(converted.iter().map(|(_, v)| to_sql(v))),
            )
            .map_err(|e| store_err(self, e))?;
            conn.last_insert_rowid()
        };
        self.data_rows(mapping, &table, &columns, Some(row_id))?
            .pop()
            .ok_or(Error::NoSuchRow { table, row_id })
    }

    /// Removes a row that is not in HubSpot yet (a local insert the admin gave up on), with its
    /// dead letter. Rows already in HubSpot are not deleted here: the write-back does not
    /// archive records.
    pub fn discard_row(&self, mapping: &Mapping, row_id: i64) -> Result<()> {
        let table = self.editable_table(mapping)?;
        let mut conn = self.conn();
        ensure_write_tables(&conn).map_err(|e| store_err(self, e))?;
        let tx = conn.transaction().map_err(|e| store_err(self, e))?;
        let hs_id: Option<Option<String>> = tx
            .query_row(
                &format!("SELECT _hs_id FROM {} WHERE rowid = ?1", quote(&table)),
                [row_id],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(|e| store_err(self, e))?;
        match hs_id {
            None => return Err(Error::NoSuchRow { table, row_id }),
            Some(Some(id)) => {
                return Err(Error::InHubSpot {
                    table,
                    row_id,
                    hubspot_id: id,
                })
            }
            Some(None) => {}
        }
        for sql in [
            format!("DELETE FROM {} WHERE rowid = ?2", quote(&table)),
            "DELETE FROM _spoke_dead_letters WHERE tbl = ?1 AND rid = ?2".to_owned(),
            "DELETE FROM _spoke_write_state WHERE tbl = ?1 AND rid = ?2".to_owned(),
        ] {
            tx.execute(&sql, params![table, row_id])
                .map_err(|e| store_err(self, e))?;
        }
        tx.commit().map_err(|e| store_err(self, e))?;
        Ok(())
    }
}

fn to_sql(v: &LocalValue) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match v {
        LocalValue::Null => Value::Null,
        LocalValue::Bool(b) => Value::Integer(*b as i64),
        LocalValue::Integer(i) => Value::Integer(*i),
        LocalValue::Real(r) => Value::Real(*r),
        LocalValue::Text(s) => Value::Text(s.clone()),
    }
}

fn sql_value(v: rusqlite::types::ValueRef<'_>) -> LocalValue {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => LocalValue::Null,
        ValueRef::Integer(i) => LocalValue::Integer(i),
        ValueRef::Real(r) => LocalValue::Real(r),
        ValueRef::Text(t) => LocalValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => LocalValue::Text(String::from_utf8_lossy(b).into_owned()),
    }
}
