//! Two-way sync: local edits are never overwritten by reads, conflicts are settled per field
//! by the mapping's policy, and "ask" conflicts wait for the user.
//!
//! - **Local edits.** A trigger on each Spoke table records when a program (Spoke's UI, the
//!   CLI, any other SQLite client) changes a mapped column or inserts a row
//!   (`_spoke_local_edits`: row, time in ms). The engine's own writes change `_hs_raw` or
//!   `_hs_updated_ms` in the same statement and are not recorded. The mark is a hint; whether a
//!   row really differs is decided by comparing outbound values (as the write-back does).
//! - **Parking.** A read that brings a new version of a record whose row carries a local-edit
//!   mark does not overwrite the row: it parks the version in `_spoke_incoming`.
//! - **Settling** (end of every read, start of every write-back): per two-way field, local
//!   change = the field's outbound value differs from what the last agreed HubSpot values
//!   (`_hs_raw`) give; HubSpot change = the parked raw value differs from `_hs_raw`. Only local:
//!   the local value stays (the write-back sends it). Only HubSpot: HubSpot's value is taken.
//!   Both, to different values: a conflict, settled by the field's [`ConflictPolicy`]; newest
//!   wins compares HubSpot's property history timestamp (`propertiesWithHistory` on
//!   `batch/read`) with the local-edit time. Every conflict is stored in `_spoke_conflicts`
//!   (settled ones with how, for the record); "ask" ones stay open, the local value stays in
//!   the row and is not sent until the user keeps one side ([`Store::resolve_conflict`]).

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};
use spoke_hubspot::Request;
use spoke_mapping::{
    apply_outbound, ConflictPolicy, Direction, HubSpotRecord, LocalRow, LocalValue, Mapping,
};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::{iso_ms, now_ms, parse_ms, quote, Incoming, Store};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _spoke_conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl TEXT NOT NULL,
    rid INTEGER NOT NULL,
    mapping TEXT NOT NULL,
    object TEXT NOT NULL,
    row_key TEXT NOT NULL,
    hs_id TEXT NOT NULL,
    property TEXT NOT NULL,
    col TEXT NOT NULL,
    local_value TEXT,
    hubspot_value TEXT,
    hubspot_local JSON,
    local_changed_ms INTEGER,
    hubspot_changed_ms INTEGER,
    detected_at TEXT NOT NULL,
    policy TEXT NOT NULL,
    kept TEXT,
    resolved_by TEXT,
    resolved_at TEXT,
    run_id INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS _spoke_conflicts_open ON _spoke_conflicts (tbl, rid, property) WHERE kept IS NULL;
CREATE TABLE IF NOT EXISTS _spoke_local_edits (
    tbl TEXT NOT NULL,
    rid INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (tbl, rid)
);
CREATE TABLE IF NOT EXISTS _spoke_local_deletes (
    tbl TEXT NOT NULL,
    hs_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (tbl, hs_id)
);
CREATE TABLE IF NOT EXISTS _spoke_incoming (
    tbl TEXT NOT NULL,
    rid INTEGER NOT NULL,
    hs_id TEXT NOT NULL,
    created_at TEXT,
    updated_at TEXT,
    updated_ms INTEGER NOT NULL,
    raw TEXT NOT NULL,
    PRIMARY KEY (tbl, rid)
);
";

/// SQLite's clock in ms (what the local-edit trigger records).
const SQL_NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// Which side a conflict kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum ConflictSide {
    /// The local value is written to HubSpot.
    Local,
    /// HubSpot's value replaces the local one.
    HubSpot,
}

impl ConflictSide {
    fn as_str(self) -> &'static str {
        match self {
            ConflictSide::Local => "local",
            ConflictSide::HubSpot => "hubSpot",
        }
    }

    fn parse(s: &str) -> Option<ConflictSide> {
        match s {
            "local" => Some(ConflictSide::Local),
            "hubSpot" => Some(ConflictSide::HubSpot),
            _ => None,
        }
    }
}

/// A field changed on both sides since they last agreed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    #[specta(type = f64)]
    pub id: i64,
    pub mapping: String,
    pub object: String,
    pub table: String,
    /// The local row's rowid.
    #[specta(type = f64)]
    pub row_id: i64,
    /// The row's match key value (email lower-cased), else its HubSpot id.
    pub row_key: String,
    pub hubspot_id: String,
    pub property: String,
    pub column: String,
    /// The local value, as it would be sent to HubSpot.
    pub local_value: Option<String>,
    /// HubSpot's value.
    pub hubspot_value: Option<String>,
    /// When the local edit was made (RFC 3339), if Spoke saw it.
    pub local_changed_at: Option<String>,
    /// When HubSpot's value was set (its property history), if it was looked up.
    pub hubspot_changed_at: Option<String>,
    pub detected_at: String,
    /// The field's policy when the conflict was found.
    pub policy: ConflictPolicy,
    /// The side kept; `None` while the conflict waits for the user.
    pub kept: Option<ConflictSide>,
    /// `policy` (settled on its own) or `user`.
    pub resolved_by: Option<String>,
    pub resolved_at: Option<String>,
    #[specta(type = Option<f64>)]
    pub run_id: Option<i64>,
}

fn policy_str(p: ConflictPolicy) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn policy_parse(s: &str) -> ConflictPolicy {
    serde_json::from_value(Value::String(s.to_owned())).unwrap_or_default()
}

const CONFLICT_COLUMNS: &str = "id, mapping, object, tbl, rid, row_key, hs_id, property, col, local_value, hubspot_value, local_changed_ms, hubspot_changed_ms, detected_at, policy, kept, resolved_by, resolved_at, run_id";

fn conflict_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Conflict> {
    Ok(Conflict {
        id: r.get(0)?,
        mapping: r.get(1)?,
        object: r.get(2)?,
        table: r.get(3)?,
        row_id: r.get(4)?,
        row_key: r.get(5)?,
        hubspot_id: r.get(6)?,
        property: r.get(7)?,
        column: r.get(8)?,
        local_value: r.get(9)?,
        hubspot_value: r.get(10)?,
        local_changed_at: r.get::<_, Option<i64>>(11)?.map(iso_ms),
        hubspot_changed_at: r.get::<_, Option<i64>>(12)?.map(iso_ms),
        detected_at: r.get(13)?,
        policy: policy_parse(&r.get::<_, String>(14)?),
        kept: r
            .get::<_, Option<String>>(15)?
            .as_deref()
            .and_then(ConflictSide::parse),
        resolved_by: r.get(16)?,
        resolved_at: r.get(17)?,
        run_id: r.get(18)?,
    })
}

/// Installs (or refreshes, after a mapping change) the local-edit triggers of `table`.
pub(crate) fn ensure_triggers(
    conn: &Connection,
    table: &str,
    columns: &[String],
) -> rusqlite::Result<()> {
    let t = quote(table);
    let lit = table.replace('\'', "''");
    let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let upd = quote(&format!("{table}__local_edit"));
    let ins = quote(&format!("{table}__local_insert"));
    let del = quote(&format!("{table}__local_delete"));
    let mut sql = format!(
        "DROP TRIGGER IF EXISTS {upd}; DROP TRIGGER IF EXISTS {ins}; DROP TRIGGER IF EXISTS {del};
         CREATE TRIGGER {del} AFTER DELETE ON {t} WHEN OLD._hs_id IS NOT NULL BEGIN
           INSERT OR REPLACE INTO _spoke_local_deletes (tbl, hs_id, at_ms) VALUES ('{lit}', OLD._hs_id, {SQL_NOW_MS});
           DELETE FROM _spoke_local_edits WHERE tbl = '{lit}' AND rid = OLD.rowid;
           DELETE FROM _spoke_incoming WHERE tbl = '{lit}' AND rid = OLD.rowid;
         END;
         CREATE TRIGGER {ins} AFTER INSERT ON {t} WHEN NEW._hs_id IS NULL BEGIN
           INSERT OR REPLACE INTO _spoke_local_edits (tbl, rid, at_ms) VALUES ('{lit}', NEW.rowid, {SQL_NOW_MS});
         END;"
    );
    if !cols.is_empty() {
        sql.push_str(&format!(
            "CREATE TRIGGER {upd} AFTER UPDATE OF {} ON {t}
               WHEN NEW._hs_raw IS OLD._hs_raw AND NEW._hs_updated_ms IS OLD._hs_updated_ms BEGIN
               INSERT OR REPLACE INTO _spoke_local_edits (tbl, rid, at_ms) VALUES ('{lit}', NEW.rowid, {SQL_NOW_MS});
             END;",
            cols.join(", ")
        ));
    }
    conn.execute_batch(&format!("BEGIN; {sql} COMMIT;"))
}

impl Store {
    fn tw_err(&self, e: impl std::fmt::Display) -> Error {
        Error::store(&self.path().display().to_string(), e)
    }

    /// Conflicts of every mapping (or of the mapping named `mapping`), oldest first: only the
    /// open ones (waiting for the user), or with `include_resolved` also those settled by a
    /// policy or the user.
    pub fn conflicts(
        &self,
        mapping: Option<&str>,
        include_resolved: bool,
    ) -> Result<Vec<Conflict>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {CONFLICT_COLUMNS} FROM _spoke_conflicts WHERE (?1 IS NULL OR mapping = ?1) AND (?2 OR kept IS NULL) ORDER BY id"
            ))
            .map_err(|e| self.tw_err(e))?;
        let rows = stmt
            .query_map(params![mapping, include_resolved], conflict_from_row)
            .map_err(|e| self.tw_err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.tw_err(e))?;
        Ok(rows)
    }

    /// Settles an open conflict: `HubSpot` puts HubSpot's value into the local row; `Local`
    /// keeps the local value and the next write-back sends it. Either way the row's other
    /// changes are untouched. An unknown id is [`Error::NoSuchConflict`], a settled one
    /// [`Error::ConflictResolved`].
    pub fn resolve_conflict(&self, id: i64, keep: ConflictSide) -> Result<Conflict> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.tw_err(e))?;
        let found = tx
            .query_row(
                &format!(
                    "SELECT {CONFLICT_COLUMNS}, hubspot_local FROM _spoke_conflicts WHERE id = ?1"
                ),
                [id],
                |r| Ok((conflict_from_row(r)?, r.get::<_, Option<String>>(19)?)),
            )
            .optional()
            .map_err(|e| self.tw_err(e))?;
        let Some((c, hubspot_local)) = found else {
            return Err(Error::NoSuchConflict { id });
        };
        if let Some(kept) = c.kept {
            return Err(Error::ConflictResolved {
                id,
                kept: kept.as_str().to_owned(),
            });
        }
        let t = quote(&c.table);
        let exists: bool = tx
            .query_row(
                &format!("SELECT count(*) FROM {t} WHERE rowid = ?1 AND _hs_id IS ?2"),
                params![c.row_id, c.hubspot_id],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| self.tw_err(e))?
            > 0;
        if exists && keep == ConflictSide::HubSpot {
            let value: Value = hubspot_local
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(Value::Null);
            let mark: Option<i64> = tx
                .query_row(
                    "SELECT at_ms FROM _spoke_local_edits WHERE tbl = ?1 AND rid = ?2",
                    params![c.table, c.row_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.tw_err(e))?;
            tx.execute(
                &format!("UPDATE {t} SET {} = ?2 WHERE rowid = ?1", quote(&c.column)),
                params![c.row_id, json_to_sql(&value)],
            )
            .map_err(|e| self.tw_err(e))?;
            restore_mark(&tx, &c.table, c.row_id, mark).map_err(|e| self.tw_err(e))?;
        }
        // The row's baseline is recomputed from what HubSpot holds: kept HubSpot = no change
        // left for this field; kept local = a change the next write-back sends.
        tx.execute(
            "DELETE FROM _spoke_write_state WHERE tbl = ?1 AND rid = ?2",
            params![c.table, c.row_id],
        )
        .map_err(|e| self.tw_err(e))?;
        tx.execute(
            "UPDATE _spoke_conflicts SET kept = ?2, resolved_by = 'user', resolved_at = ?3 WHERE id = ?1",
            params![id, keep.as_str(), iso_ms(now_ms())],
        )
        .map_err(|e| self.tw_err(e))?;
        let out = tx
            .query_row(
                &format!("SELECT {CONFLICT_COLUMNS} FROM _spoke_conflicts WHERE id = ?1"),
                [id],
                conflict_from_row,
            )
            .map_err(|e| self.tw_err(e))?;
        tx.commit().map_err(|e| self.tw_err(e))?;
        Ok(out)
    }
}

impl Store {
    /// Properties of open conflicts per row of `table` (not sent until settled).
    pub(crate) fn open_conflict_fields(
        &self,
        table: &str,
    ) -> Result<HashMap<i64, BTreeSet<String>>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT rid, property FROM _spoke_conflicts WHERE tbl = ?1 AND kept IS NULL")
            .map_err(|e| self.tw_err(e))?;
        let mut out: HashMap<i64, BTreeSet<String>> = HashMap::new();
        let rows = stmt
            .query_map([table], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.tw_err(e))?;
        for r in rows {
            let (rid, p) = r.map_err(|e| self.tw_err(e))?;
            out.entry(rid).or_default().insert(p);
        }
        Ok(out)
    }
}

impl Engine {
    /// Settles an open conflict (see [`Store::resolve_conflict`]); a write-back afterwards
    /// sends a kept local value.
    pub fn resolve_conflict(&self, id: i64, keep: ConflictSide) -> Result<Conflict> {
        self.store().resolve_conflict(id, keep)
    }
}

fn json_to_sql(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Null => V::Null,
        Value::Bool(b) => V::Integer(*b as i64),
        Value::Number(n) => match n.as_i64() {
            Some(i) => V::Integer(i),
            None => V::Real(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => V::Text(s.clone()),
        other => V::Text(other.to_string()),
    }
}

pub(crate) fn local_to_sql(v: &LocalValue) -> rusqlite::types::Value {
    json_to_sql(&serde_json::to_value(v).unwrap_or(Value::Null))
}

/// Puts a local-edit mark back as it was (engine writes to mapped columns fire the trigger).
fn restore_mark(
    tx: &Transaction<'_>,
    table: &str,
    rid: i64,
    mark: Option<i64>,
) -> rusqlite::Result<()> {
    match mark {
        Some(at) => tx.execute(
            "INSERT OR REPLACE INTO _spoke_local_edits (tbl, rid, at_ms) VALUES (?1, ?2, ?3)",
            params![table, rid, at],
        )?,
        None => tx.execute(
            "DELETE FROM _spoke_local_edits WHERE tbl = ?1 AND rid = ?2",
            params![table, rid],
        )?,
    };
    Ok(())
}

/// Forgets the delete of a row the engine itself removed (merged away, deleted in HubSpot,
/// left the criteria, or became another row's record): only local deletes go to HubSpot.
pub(crate) fn forget_local_delete(tx: &Transaction<'_>, table: &str, hs_id: &str) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM _spoke_local_deletes WHERE tbl = ?1 AND hs_id = ?2",
        params![table, hs_id],
    )?;
    Ok(())
}

/// Whether the record's row was deleted locally (and the delete not sent or forgotten yet).
pub(crate) fn is_locally_deleted(tx: &Transaction<'_>, table: &str, hs_id: &str) -> rusqlite::Result<bool> {
    let mut s = tx.prepare_cached("SELECT 1 FROM _spoke_local_deletes WHERE tbl = ?1 AND hs_id = ?2")?;
    s.exists(params![table, hs_id])
}

/// Whether the row carries a local-edit mark (a read must not overwrite it).
pub(crate) fn is_marked(tx: &Transaction<'_>, table: &str, rid: i64) -> rusqlite::Result<bool> {
    let mut s =
        tx.prepare_cached("SELECT 1 FROM _spoke_local_edits WHERE tbl = ?1 AND rid = ?2")?;
    s.exists(params![table, rid])
}

/// Parks a read version of a locally edited row until it is settled (the newest version wins).
pub(crate) fn park(
    tx: &Transaction<'_>,
    table: &str,
    rid: i64,
    rec: &Incoming,
) -> rusqlite::Result<()> {
    let mut s = tx.prepare_cached(
        "INSERT INTO _spoke_incoming (tbl, rid, hs_id, created_at, updated_at, updated_ms, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(tbl, rid) DO UPDATE SET hs_id = excluded.hs_id, created_at = excluded.created_at, updated_at = excluded.updated_at, updated_ms = excluded.updated_ms, raw = excluded.raw
         WHERE excluded.updated_ms >= _spoke_incoming.updated_ms",
    )?;
    s.execute(params![
        table,
        rid,
        rec.id,
        rec.created_at,
        rec.updated_at,
        rec.updated_ms,
        rec.raw
    ])?;
    Ok(())
}

/// What settling did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Settled {
    pub applied: u64,
    pub conflicts: u64,
    pub open: u64,
    pub api_calls: u64,
}

type Raw = BTreeMap<String, Option<String>>;

/// One parked version with its row.
struct ParkedRow {
    rid: i64,
    hs_id: String,
    created_at: Option<String>,
    updated_at: Option<String>,
    updated_ms: i64,
    raw: String,
    old_raw: Option<String>,
    mark: Option<i64>,
    row: LocalRow,
}

/// A conflict found while settling.
struct Found {
    property: String,
    column: String,
    policy: ConflictPolicy,
    local_value: Option<String>,
    hubspot_value: Option<String>,
    hubspot_local: LocalValue,
    hubspot_ms: Option<i64>,
    kept: Option<ConflictSide>,
}

fn parse_raw(raw: Option<&str>) -> Option<Raw> {
    raw.and_then(|r| serde_json::from_str(r).ok())
}

fn prop(raw: &Raw, p: &str) -> Option<String> {
    raw.get(p).cloned().flatten()
}

impl Engine {
    /// Settles the parked versions of locally edited rows of `mapping`'s table (see the module
    /// docs). Called at the end of every read and at the start of every write-back.
    pub(crate) async fn settle(
        &self,
        mapping: &Mapping,
        columns: &[String],
        run_id: i64,
    ) -> Result<Settled> {
        let store = self.store();
        let table = crate::dest::store_table(&mapping.destination);
        let t = quote(&table);
        let err = |e: rusqlite::Error| Error::store(&store.path().display().to_string(), e);
        let mut out = Settled::default();
        store
            .conn()
            .execute(
                &format!("DELETE FROM _spoke_incoming WHERE tbl = ?1 AND NOT EXISTS (SELECT 1 FROM {t} WHERE rowid = _spoke_incoming.rid AND _hs_id = _spoke_incoming.hs_id)"),
                [&table],
            )
            .map_err(err)?;
        loop {
            let parked: Vec<ParkedRow> = {
                let conn = store.conn();
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT i.rid, i.hs_id, i.created_at, i.updated_at, i.updated_ms, i.raw, t._hs_raw, e.at_ms{} FROM _spoke_incoming i JOIN {t} t ON t.rowid = i.rid LEFT JOIN _spoke_local_edits e ON e.tbl = i.tbl AND e.rid = i.rid WHERE i.tbl = ?1 ORDER BY i.rid LIMIT 50",
                        columns.iter().map(|c| format!(", t.{}", quote(c))).collect::<String>()
                    ))
                    .map_err(err)?;
                let rows = stmt
                    .query_map([&table], |r| {
                        let mut row = LocalRow::new();
                        for (i, c) in columns.iter().enumerate() {
                            row.insert(c.clone(), crate::write::sql_to_local(r.get_ref(8 + i)?));
                        }
                        Ok(ParkedRow {
                            rid: r.get(0)?,
                            hs_id: r.get(1)?,
                            created_at: r.get(2)?,
                            updated_at: r.get(3)?,
                            updated_ms: r.get(4)?,
                            raw: r.get(5)?,
                            old_raw: r.get(6)?,
                            mark: r.get(7)?,
                            row,
                        })
                    })
                    .map_err(err)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(err)?;
                rows
            };
            if parked.is_empty() {
                return Ok(out);
            }
            // Decide per row and field; newest-wins conflicts need HubSpot's timestamps.
            let mut plans: Vec<(ParkedRow, LocalRow, Vec<Found>)> = Vec::new();
            let mut need_history: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for p in parked {
                let (merged, found) = plan_row(mapping, &p);
                for f in found
                    .iter()
                    .filter(|f| f.policy == ConflictPolicy::NewestWins)
                {
                    need_history
                        .entry(p.hs_id.clone())
                        .or_default()
                        .insert(f.property.clone());
                }
                plans.push((p, merged, found));
            }
            let history = if need_history.is_empty() {
                HashMap::new()
            } else {
                out.api_calls += 1;
                self.history_times(&mapping.object, &need_history).await?
            };
            let now = iso_ms(now_ms());
            let attached = store.attached(&table);
            let mut dest_rows: Vec<crate::dest::DestRow> = Vec::new();
            let mut conn = store.conn();
            let tx = conn.transaction().map_err(err)?;
            for (p, mut merged, mut found) in plans {
                let key = crate::write::row_key(mapping, &p.row, Some(&p.hs_id), p.rid);
                for f in &mut found {
                    if f.policy == ConflictPolicy::NewestWins {
                        f.hubspot_ms = history.get(&(p.hs_id.clone(), f.property.clone())).copied();
                        let local_newer = match (p.mark, f.hubspot_ms) {
                            (Some(l), Some(h)) => l > h,
                            (Some(_), None) => true,
                            _ => false,
                        };
                        f.kept = Some(if local_newer {
                            ConflictSide::Local
                        } else {
                            ConflictSide::HubSpot
                        });
                    }
                    if f.kept == Some(ConflictSide::HubSpot) {
                        merged.insert(f.column.clone(), f.hubspot_local.clone());
                    }
                    out.conflicts += 1;
                    if f.kept.is_none() {
                        out.open += 1;
                    }
                    tx.execute(
                        "INSERT INTO _spoke_conflicts (tbl, rid, mapping, object, row_key, hs_id, property, col, local_value, hubspot_value, hubspot_local, local_changed_ms, hubspot_changed_ms, detected_at, policy, kept, resolved_by, resolved_at, run_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, CASE WHEN ?16 IS NULL THEN NULL ELSE 'policy' END, CASE WHEN ?16 IS NULL THEN NULL ELSE ?14 END, ?17)
                         ON CONFLICT (tbl, rid, property) WHERE kept IS NULL DO UPDATE SET local_value = excluded.local_value, hubspot_value = excluded.hubspot_value, hubspot_local = excluded.hubspot_local, local_changed_ms = excluded.local_changed_ms, hubspot_changed_ms = excluded.hubspot_changed_ms, detected_at = excluded.detected_at, policy = excluded.policy, run_id = excluded.run_id",
                        params![
                            table, p.rid, mapping.name, mapping.object, key, p.hs_id, f.property, f.column,
                            f.local_value, f.hubspot_value, serde_json::to_string(&f.hubspot_local).unwrap_or_default(),
                            p.mark, f.hubspot_ms, now, policy_str(f.policy), f.kept.map(ConflictSide::as_str), run_id
                        ],
                    )
                    .map_err(err)?;
                }
                let sets: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{} = ?{}", quote(c), i + 7))
                    .collect();
                let mut values: Vec<rusqlite::types::Value> = vec![
                    p.rid.into(),
                    p.created_at.clone().into(),
                    p.updated_at.clone().into(),
                    p.updated_ms.into(),
                    p.raw.clone().into(),
                    run_id.into(),
                ];
                values.extend(columns.iter().map(|c| {
                    merged
                        .get(c)
                        .map(local_to_sql)
                        .unwrap_or(rusqlite::types::Value::Null)
                }));
                tx.execute(
                    &format!("UPDATE {t} SET _hs_created_at = coalesce(?2, _hs_created_at), _hs_updated_at = coalesce(?3, _hs_updated_at), _hs_updated_ms = ?4, _hs_raw = ?5, _hs_archived = 0, _hs_archived_at = NULL{} WHERE rowid = ?1", sets.iter().map(|s| format!(", {s}")).collect::<String>()),
                    rusqlite::params_from_iter(values),
                )
                .map_err(err)?;
                if attached.is_some() {
                    dest_rows.push(crate::dest::DestRow {
                        row: columns
                            .iter()
                            .map(|c| (c.clone(), merged.get(c).cloned().unwrap_or(LocalValue::Null)))
                            .collect(),
                        hs_id: Some(p.hs_id.clone()),
                        updated_at: p.updated_at.clone(),
                        archived: false,
                    });
                }
                let _ = run_id;
                // Still a local change to send (or an open conflict to keep): the mark stays.
                let dirty = found.iter().any(|f| f.kept != Some(ConflictSide::HubSpot))
                    || crate::write::baseline_hash(mapping, &merged, &p.hs_id, &p.raw)
                        != crate::write::outbound_hash(mapping, &merged);
                restore_mark(
                    &tx,
                    &table,
                    p.rid,
                    if dirty {
                        p.mark.or(Some(now_ms()))
                    } else {
                        None
                    },
                )
                .map_err(err)?;
                tx.execute(
                    "DELETE FROM _spoke_incoming WHERE tbl = ?1 AND rid = ?2",
                    params![table, p.rid],
                )
                .map_err(err)?;
                out.applied += 1;
            }
            // The settled rows reach an external destination before the store commits them.
            if let Some(a) = &attached {
                a.dest.upsert(&dest_rows)?;
            }
            tx.commit().map_err(err)?;
        }
    }

    /// HubSpot's time of the current value of each (record, property), from property history.
    async fn history_times(
        &self,
        object: &str,
        wanted: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<HashMap<(String, String), i64>> {
        let props: BTreeSet<&String> = wanted.values().flatten().collect();
        let inputs: Vec<Value> = wanted.keys().map(|id| json!({ "id": id })).collect();
        let req = Request::post(format!("/crm/v3/objects/{object}/batch/read"))
            .json(json!({ "inputs": inputs, "properties": [], "propertiesWithHistory": props }))
            .idempotent(true);
        let value: Value = self.client().send(req).await?.json()?;
        let mut out = HashMap::new();
        for r in value
            .get("results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(id) = r.get("id").and_then(Value::as_str) else {
                continue;
            };
            let Some(h) = r.get("propertiesWithHistory").and_then(Value::as_object) else {
                continue;
            };
            for (p, entries) in h {
                let newest = entries
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| {
                        e.get("timestamp")
                            .and_then(Value::as_str)
                            .and_then(parse_ms)
                    })
                    .max();
                if let Some(ms) = newest {
                    out.insert((id.to_owned(), p.clone()), ms);
                }
            }
        }
        Ok(out)
    }
}

/// The row with the parked version applied field by field, and the conflicts (policies other
/// than newest wins already decided).
fn plan_row(mapping: &Mapping, p: &ParkedRow) -> (LocalRow, Vec<Found>) {
    let new_raw = parse_raw(Some(&p.raw)).unwrap_or_default();
    let record = |raw: &Raw| HubSpotRecord {
        id: p.hs_id.clone(),
        properties: raw.clone(),
    };
    let (incoming, _) = crate::engine::map_record(mapping, &record(&new_raw));
    let mut merged = p.row.clone();
    let Some(old_raw) = parse_raw(p.old_raw.as_deref()) else {
        // Nothing agreed to compare with: HubSpot's version is taken.
        merged.extend(incoming);
        return (merged, Vec::new());
    };
    let mut base = p.row.clone();
    base.extend(crate::engine::map_record(mapping, &record(&old_raw)).0);
    let local_out = apply_outbound(mapping, &p.row).ok();
    let base_out = apply_outbound(mapping, &base).ok();
    let mut keep_local: BTreeSet<String> = BTreeSet::new();
    let mut found = Vec::new();
    for f in mapping
        .fields
        .iter()
        .filter(|f| f.direction == Direction::Both)
    {
        let (Some(property), Some(column)) = (&f.property, &f.column) else {
            continue;
        };
        let local_value = local_out
            .as_ref()
            .and_then(|o| o.properties.get(property).cloned());
        let local_changed = match (&local_out, &base_out) {
            (Some(l), Some(b)) => l.properties.get(property) != b.properties.get(property),
            _ => p.row.get(column) != base.get(column),
        };
        if !local_changed {
            continue;
        }
        let hub = prop(&new_raw, property);
        if prop(&old_raw, property) == hub || (local_value.is_some() && local_value == hub) {
            // Only the local side changed (or both to the same value).
            if prop(&old_raw, property) == hub {
                keep_local.insert(column.clone());
            }
            continue;
        }
        let policy = mapping.two_way.policy_for(property);
        let kept = match policy {
            ConflictPolicy::HubSpotWins => Some(ConflictSide::HubSpot),
            ConflictPolicy::LocalWins => Some(ConflictSide::Local),
            // Decided once HubSpot's timestamps are in.
            ConflictPolicy::NewestWins | ConflictPolicy::Ask => None,
        };
        if kept != Some(ConflictSide::HubSpot) {
            keep_local.insert(column.clone());
        }
        found.push(Found {
            property: property.clone(),
            column: column.clone(),
            policy,
            local_value: local_value.or_else(|| p.row.get(column).and_then(LocalValue::as_text)),
            hubspot_value: hub,
            hubspot_local: incoming.get(column).cloned().unwrap_or(LocalValue::Null),
            hubspot_ms: None,
            kept,
        });
    }
    for (c, v) in incoming {
        if !keep_local.contains(&c) {
            merged.insert(c, v);
        }
    }
    (merged, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict_row(conn: &Connection, rid: i64, property: &str, hub_local: &str) -> i64 {
        conn.execute(
            "INSERT INTO _spoke_conflicts (tbl, rid, mapping, object, row_key, hs_id, property, col, local_value, hubspot_value, hubspot_local, local_changed_ms, hubspot_changed_ms, detected_at, policy)
             VALUES ('people', ?1, 'People', 'contacts', 'a@x.com', '7', ?2, ?2, 'Local', 'Hub', ?3, 1000, 2000, '2026-01-01T00:00:00.000Z', 'ask')",
            params![rid, property, hub_local],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    #[test]
    fn open_conflicts_are_listed_and_settled_once_by_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db")).unwrap();
        let (a, b) = {
            let conn = store.conn();
            conn.execute_batch("CREATE TABLE people (_hs_id TEXT PRIMARY KEY, _hs_raw JSON, _hs_updated_ms INTEGER, email TEXT, firstname TEXT, lastname TEXT); INSERT INTO people VALUES ('7', '{}', 5, 'a@x.com', 'Local', 'Local');").unwrap();
            ensure_triggers(
                &conn,
                "people",
                &["email".into(), "firstname".into(), "lastname".into()],
            )
            .unwrap();
            let rid: i64 = conn
                .query_row("SELECT rowid FROM people", [], |r| r.get(0))
                .unwrap();
            conn.execute(
                "INSERT INTO _spoke_local_edits (tbl, rid, at_ms) VALUES ('people', ?1, 1000)",
                [rid],
            )
            .unwrap();
            (
                conflict_row(&conn, rid, "firstname", "\"Hub\""),
                conflict_row(&conn, rid, "lastname", "\"HubLast\""),
            )
        };
        // Only one open conflict per row and field.
        assert!(store.conn().execute(
            "INSERT INTO _spoke_conflicts (tbl, rid, mapping, object, row_key, hs_id, property, col, detected_at, policy) SELECT tbl, rid, mapping, object, row_key, hs_id, property, col, detected_at, policy FROM _spoke_conflicts WHERE id = ?1", [a]).is_err());
        let open = store.conflicts(Some("People"), false).unwrap();
        assert_eq!(open.iter().map(|c| c.id).collect::<Vec<_>>(), [a, b]);
        assert_eq!(open[0].policy, ConflictPolicy::Ask);
        assert_eq!(
            open[0].local_changed_at.as_deref(),
            Some("1970-01-01T00:00:01.000Z")
        );
        assert!(store.conflicts(Some("Other"), true).unwrap().is_empty());

        let kept = store.resolve_conflict(a, ConflictSide::HubSpot).unwrap();
        assert_eq!(
            (kept.kept, kept.resolved_by.as_deref()),
            (Some(ConflictSide::HubSpot), Some("user"))
        );
        let kept = store.resolve_conflict(b, ConflictSide::Local).unwrap();
        assert_eq!(kept.kept, Some(ConflictSide::Local));
        let (first, last): (String, String) = store
            .conn()
            .query_row("SELECT firstname, lastname FROM people", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((first.as_str(), last.as_str()), ("Hub", "Local"));
        // Putting HubSpot's value in does not count as a local edit (the mark stays as it was).
        let at: i64 = store
            .conn()
            .query_row("SELECT at_ms FROM _spoke_local_edits", [], |r| r.get(0))
            .unwrap();
        assert_eq!(at, 1000);
        assert!(store.conflicts(None, false).unwrap().is_empty());
        assert_eq!(store.conflicts(None, true).unwrap().len(), 2);
        assert!(matches!(
            store.resolve_conflict(a, ConflictSide::Local),
            Err(Error::ConflictResolved { .. })
        ));
        assert!(matches!(
            store.resolve_conflict(99, ConflictSide::Local),
            Err(Error::NoSuchConflict { id: 99 })
        ));

        // A local edit by another program is marked; the engine's own writes (raw changes) are not.
        let conn = store.conn();
        conn.execute("DELETE FROM _spoke_local_edits", []).unwrap();
        conn.execute(
            "UPDATE people SET firstname = 'X', _hs_raw = '{\"a\":1}'",
            [],
        )
        .unwrap();
        assert_eq!(
            conn.query_row("SELECT count(*) FROM _spoke_local_edits", [], |r| r
                .get::<_, i64>(0))
                .unwrap(),
            0
        );
        conn.execute("UPDATE people SET firstname = 'Y'", [])
            .unwrap();
        conn.execute("INSERT INTO people (email) VALUES ('new@x.com')", [])
            .unwrap();
        assert_eq!(
            conn.query_row("SELECT count(*) FROM _spoke_local_edits", [], |r| r
                .get::<_, i64>(0))
                .unwrap(),
            2
        );
        let at: i64 = conn
            .query_row("SELECT max(at_ms) FROM _spoke_local_edits", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!((at - now_ms()).abs() < 5_000, "{at}");
    }
}
