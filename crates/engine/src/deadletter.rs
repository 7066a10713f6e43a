//! Dead letters: rows HubSpot (or the mapping's own checks) refused on write-back.
//!
//! Every refused row is kept in `_spoke_dead_letters` with HubSpot's category, message and
//! context and the diagnosis' cause + fix, retried on later write runs with exponential backoff
//! (at once when the row was edited since), resendable by hand, and removed only when a write of
//! the row succeeds.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{iso_ms, now_ms, Store};

pub(crate) const WRITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _spoke_dead_letters (
    tbl TEXT NOT NULL,
    rid INTEGER NOT NULL,
    mapping TEXT NOT NULL,
    object TEXT NOT NULL,
    row_key TEXT NOT NULL,
    hs_id TEXT,
    hash TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_failed_at TEXT NOT NULL,
    last_failed_at TEXT NOT NULL,
    next_retry_ms INTEGER NOT NULL,
    category TEXT NOT NULL,
    message TEXT NOT NULL,
    context TEXT,
    code TEXT NOT NULL,
    cause TEXT NOT NULL,
    fix TEXT NOT NULL,
    correlation_id TEXT,
    run_id INTEGER,
    PRIMARY KEY (tbl, rid)
);
CREATE TABLE IF NOT EXISTS _spoke_write_state (
    tbl TEXT NOT NULL,
    rid INTEGER NOT NULL,
    hs_id TEXT,
    hash TEXT NOT NULL,
    raw_hash TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (tbl, rid)
);
";

pub(crate) fn ensure_write_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(WRITE_SCHEMA)
}

/// A row that could not be written to HubSpot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub mapping: String,
    pub object: String,
    pub table: String,
    /// The row's match key value (email lower-cased), else its HubSpot id, else `row:{rowid}`.
    pub row_key: String,
    /// The local row's rowid.
    #[specta(type = f64)]
    pub row_id: i64,
    pub hubspot_id: Option<String>,
    pub attempts: u32,
    /// RFC 3339.
    pub first_failed_at: String,
    pub last_failed_at: String,
    /// When a write run retries it on its own (RFC 3339); sooner if the row is edited.
    pub next_retry_at: String,
    /// HubSpot's category (`VALIDATION_ERROR`, `CONFLICT`, …) or `WRITE_REFUSED` when Spoke's
    /// own checks refused the row before sending it.
    pub category: String,
    pub message: String,
    /// HubSpot's `context` (JSON text), when it sent one.
    pub context: Option<String>,
    /// The diagnosis code (`validation_error`, `duplicate_record`, …) or the problem code.
    pub code: String,
    pub cause: String,
    pub fix: String,
    pub correlation_id: Option<String>,
    #[specta(type = Option<f64>)]
    pub run_id: Option<i64>,
}

/// A rejection about to be stored.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    pub rid: i64,
    pub row_key: String,
    pub hs_id: Option<String>,
    pub hash: String,
    pub category: String,
    pub message: String,
    pub context: Option<String>,
    pub code: String,
    pub cause: String,
    pub fix: String,
    pub correlation_id: Option<String>,
}

/// Backoff after `attempts` failures: `base * 2^(attempts-1)`, at most `max`.
pub(crate) fn backoff_ms(attempts: u32, base: u64, max: u64) -> u64 {
    let shift = attempts.saturating_sub(1).min(40);
    base.saturating_mul(1u64 << shift).min(max)
}

pub(crate) fn record_rejection(
    tx: &rusqlite::Transaction<'_>,
    mapping: &spoke_mapping::Mapping,
    run_id: i64,
    r: &Rejection,
    base_ms: u64,
    max_ms: u64,
) -> rusqlite::Result<u32> {
    let table = &crate::dest::store_table(&mapping.destination);
    let prior: Option<u32> = tx
        .query_row(
            "SELECT attempts FROM _spoke_dead_letters WHERE tbl = ?1 AND rid = ?2",
            params![table, r.rid],
            |row| row.get(0),
        )
        .optional()?;
    let attempts = prior.unwrap_or(0) + 1;
    let now = now_ms();
    let next = now + backoff_ms(attempts, base_ms, max_ms) as i64;
    let at = iso_ms(now);
    tx.execute(
        "INSERT INTO _spoke_dead_letters (tbl, rid, mapping, object, row_key, hs_id, hash, attempts, first_failed_at, last_failed_at, next_retry_ms, category, message, context, code, cause, fix, correlation_id, run_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT(tbl, rid) DO UPDATE SET mapping = excluded.mapping, object = excluded.object, row_key = excluded.row_key, hs_id = excluded.hs_id, hash = excluded.hash, attempts = excluded.attempts, last_failed_at = excluded.last_failed_at, next_retry_ms = excluded.next_retry_ms, category = excluded.category, message = excluded.message, context = excluded.context, code = excluded.code, cause = excluded.cause, fix = excluded.fix, correlation_id = excluded.correlation_id, run_id = excluded.run_id",
        params![
            table, r.rid, mapping.name, mapping.object, r.row_key, r.hs_id, r.hash, attempts, at, next,
            r.category, r.message, r.context, r.code, r.cause, r.fix, r.correlation_id, run_id
        ],
    )?;
    Ok(attempts)
}

impl Store {
    fn write_err(&self, e: impl std::fmt::Display) -> Error {
        Error::store(&self.path().display().to_string(), e)
    }

    /// Dead letters of every mapping (or of the mapping named `mapping`), oldest first.
    pub fn dead_letters(&self, mapping: Option<&str>) -> Result<Vec<DeadLetter>> {
        let conn = self.conn();
        ensure_write_tables(&conn).map_err(|e| self.write_err(e))?;
        let mut stmt = conn
            .prepare(
                "SELECT mapping, object, tbl, row_key, rid, hs_id, attempts, first_failed_at, last_failed_at, next_retry_ms, category, message, context, code, cause, fix, correlation_id, run_id
                 FROM _spoke_dead_letters WHERE (?1 IS NULL OR mapping = ?1) ORDER BY first_failed_at, tbl, rid",
            )
            .map_err(|e| self.write_err(e))?;
        let rows = stmt
            .query_map([mapping], |r| {
                Ok(DeadLetter {
                    mapping: r.get(0)?,
                    object: r.get(1)?,
                    table: r.get(2)?,
                    row_key: r.get(3)?,
                    row_id: r.get(4)?,
                    hubspot_id: r.get(5)?,
                    attempts: r.get(6)?,
                    first_failed_at: r.get(7)?,
                    last_failed_at: r.get(8)?,
                    next_retry_at: iso_ms(r.get(9)?),
                    category: r.get(10)?,
                    message: r.get(11)?,
                    context: r.get(12)?,
                    code: r.get(13)?,
                    cause: r.get(14)?,
                    fix: r.get(15)?,
                    correlation_id: r.get(16)?,
                    run_id: r.get(17)?,
                })
            })
            .map_err(|e| self.write_err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.write_err(e))?;
        Ok(rows)
    }

    /// Makes dead letters of `mapping` due now: the one whose row key (or HubSpot id) is
    /// `row_key` (case-insensitive), or all of them. Returns how many; an unknown row key is
    /// [`Error::NoSuchDeadLetter`]. The next write run sends them again.
    pub fn mark_for_resend(&self, mapping: &str, row_key: Option<&str>) -> Result<u64> {
        let conn = self.conn();
        ensure_write_tables(&conn).map_err(|e| self.write_err(e))?;
        let n = conn
            .execute(
                "UPDATE _spoke_dead_letters SET next_retry_ms = 0 WHERE mapping = ?1 AND (?2 IS NULL OR lower(row_key) = lower(?2) OR hs_id = ?2)",
                params![mapping, row_key],
            )
            .map_err(|e| self.write_err(e))?;
        if n == 0 {
            if let Some(key) = row_key {
                return Err(Error::NoSuchDeadLetter {
                    mapping: mapping.to_owned(),
                    row_key: key.to_owned(),
                });
            }
        }
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        assert_eq!(backoff_ms(1, 60_000, 3_600_000), 60_000);
        assert_eq!(backoff_ms(2, 60_000, 3_600_000), 120_000);
        assert_eq!(backoff_ms(4, 60_000, 3_600_000), 480_000);
        assert_eq!(backoff_ms(30, 60_000, 3_600_000), 3_600_000);
        assert_eq!(
            backoff_ms(200, 60_000, u64::MAX),
            60_000u64.saturating_mul(1 << 40)
        );
    }

    #[test]
    fn unknown_row_key_is_an_error_and_empty_store_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db")).unwrap();
        assert!(store.dead_letters(None).unwrap().is_empty());
        assert!(matches!(
            store.mark_for_resend("m", Some("a@b.c")),
            Err(Error::NoSuchDeadLetter { .. })
        ));
        assert_eq!(store.mark_for_resend("m", None).unwrap(), 0);
    }
}
