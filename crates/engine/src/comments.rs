//! Notes as comments (OpsHub's "notes as comments"): the notes associated with a mapping's
//! records are read into a local `{table}__comments` table, and comments written there (new
//! rows, edited bodies) go back to HubSpot as notes on their record.
//!
//! - **Read**: the records' note ids through v4 associations (`batch/read`, 1,000 records a
//!   call), then the notes through `batch/read` (100 a call). New notes are inserted, changed
//!   ones updated; a local row whose note is gone from its record (deleted or moved) is removed.
//! - **Write**: a row without `note_id` is created as a note associated with `record_id`
//!   (`batch/create` with the association inline); a row whose `body` differs from the body last
//!   agreed with HubSpot (`_synced_body`) is updated. Bodies are unique within a create batch,
//!   so results are matched by body, not by position (HubSpot does not promise the order).
//! - **No duplicate creates after a crash**: before a create is sent the row is marked
//!   `_create_sent_ms`; if Spoke dies before storing the new note's id, the next read finds the
//!   note on the record with the same body and adopts it instead of creating it again.
//! - **Conflicts**: a body edited on both sides keeps HubSpot's text; the local text is kept in
//!   `_error` so nothing is lost silently.
//! - Attachments: the note's `hs_attachment_ids` are kept in `attachment_ids` (file ids); the
//!   files themselves are downloaded, and local files added to a comment uploaded and attached
//!   (see [`crate::attachments`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spoke_hubspot::Request;
use spoke_mapping::Mapping;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::{now_ms, quote};
use crate::types::CancelToken;

/// Note properties read into the comments table.
const NOTE_PROPERTIES: [&str; 4] = [
    "hs_note_body",
    "hs_timestamp",
    "hubspot_owner_id",
    "hs_attachment_ids",
];

/// HubSpot-defined association type ids, note → object.
fn note_association_type(object: &str) -> Option<u32> {
    match object {
        "contacts" | "0-1" => Some(202),
        "companies" | "0-2" => Some(190),
        "deals" | "0-3" => Some(214),
        "tickets" | "0-5" => Some(228),
        _ => None,
    }
}

/// The comments table of a mapping's table.
pub fn comments_table(table: &str) -> String {
    format!("{table}__comments")
}

/// What one comments sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct CommentsSummary {
    /// Notes read from HubSpot.
    pub read: u64,
    /// Local comment rows added / changed / removed by the read.
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    /// Notes created / updated in HubSpot from local comments.
    pub created: u64,
    pub updated: u64,
    /// Comments edited on both sides (HubSpot's text kept, the local one in `_error`).
    pub conflicts: u64,
    /// Local comments HubSpot refused (reason in the row's `_error`).
    pub failed: u64,
    /// Note attachments downloaded into the attachments folder / local files uploaded and
    /// attached to their notes / files that failed (reason in `{table}__attachments._error`).
    pub attachments_downloaded: u64,
    pub attachments_uploaded: u64,
    pub attachments_failed: u64,
    pub api_calls: u64,
}

#[derive(Deserialize)]
struct AssocResults {
    #[serde(default)]
    results: Vec<AssocResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssocResult {
    from: IdOnly,
    #[serde(default)]
    to: Vec<AssocTo>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssocTo {
    to_object_id: Value,
}

#[derive(Deserialize)]
struct Objects {
    #[serde(default)]
    results: Vec<Note>,
    #[serde(default)]
    errors: Vec<Value>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Note {
    id: String,
    #[serde(default)]
    properties: BTreeMap<String, Option<String>>,
    #[serde(default)]
    updated_at: Option<String>,
}

impl Note {
    fn prop(&self, name: &str) -> Option<String> {
        self.properties.get(name).cloned().flatten()
    }
    fn body(&self) -> String {
        self.prop("hs_note_body").unwrap_or_default()
    }
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A local comment waiting to be sent.
struct Outgoing {
    comment_id: i64,
    note_id: Option<String>,
    record_id: String,
    body: String,
    timestamp: Option<String>,
}

impl Engine {
    /// Reads the notes of the mapping's records into `{table}__comments` and writes local
    /// comments back as notes. The mapping's records must have been synced first.
    pub async fn sync_comments(
        &self,
        mapping: &Mapping,
        cancel: &CancelToken,
    ) -> Result<CommentsSummary> {
        let object = mapping.object.as_str();
        let type_id = note_association_type(object).ok_or_else(|| Error::CommentsUnsupported {
            object: object.to_owned(),
        })?;
        let table = crate::dest::store_table(&mapping.destination);
        let comments = self.ensure_comments_table(&table)?;
        let mut summary = CommentsSummary::default();

        // Read: record → notes, then the notes.
        let records = self.record_ids(&table)?;
        let mut note_record: BTreeMap<String, String> = BTreeMap::new();
        for chunk in records.chunks(1000) {
            if cancel.is_cancelled() {
                return Ok(summary);
            }
            let body = json!({ "inputs": chunk.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>() });
            let req = Request::post(format!("/crm/v4/associations/{object}/notes/batch/read"))
                .json(body)
                .idempotent(true);
            summary.api_calls += 1;
            let found: AssocResults = self.client().send(req).await?.json()?;
            for r in found.results {
                for t in r.to {
                    note_record.insert(id_text(&t.to_object_id), id_text(&r.from.id));
                }
            }
        }
        let ids: Vec<&String> = note_record.keys().collect();
        let mut notes: Vec<Note> = Vec::new();
        for chunk in ids.chunks(100) {
            if cancel.is_cancelled() {
                return Ok(summary);
            }
            let body = json!({
                "inputs": chunk.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
                "properties": NOTE_PROPERTIES,
            });
            let req = Request::post("/crm/v3/objects/notes/batch/read")
                .json(body)
                .idempotent(true);
            summary.api_calls += 1;
            let page: Objects = self.client().send(req).await?.json()?;
            notes.extend(page.results);
        }
        summary.read = notes.len() as u64;
        self.apply_notes(&comments, &records, &note_record, &notes, &mut summary)?;
        if cancel.is_cancelled() {
            return Ok(summary);
        }
        self.download_attachments(&table, &comments, &mut summary, cancel).await?;

        // Write: new and edited comments.
        let (creates, updates) = self.outgoing(&comments)?;
        // A batch HubSpot refuses as a whole is halved until the refused rows stand alone.
        let mut pending = unique_body_batches(creates);
        while let Some(batch) = pending.pop() {
            if cancel.is_cancelled() {
                return Ok(summary);
            }
            if let Some(refused) = self.create_notes(&comments, type_id, batch, &mut summary).await? {
                pending.extend(halves(refused));
            }
        }
        let mut pending: Vec<Vec<Outgoing>> = Vec::new();
        let mut updates = updates;
        while !updates.is_empty() {
            let rest = updates.split_off(updates.len().min(100));
            pending.push(std::mem::replace(&mut updates, rest));
        }
        while let Some(batch) = pending.pop() {
            if cancel.is_cancelled() {
                return Ok(summary);
            }
            if let Some(refused) = self.update_notes(&comments, batch, &mut summary).await? {
                pending.extend(halves(refused));
            }
        }
        if cancel.is_cancelled() {
            return Ok(summary);
        }
        self.upload_attachments(&table, &comments, &mut summary, cancel).await?;
        Ok(summary)
    }

    fn ensure_comments_table(&self, table: &str) -> Result<String> {
        let comments = comments_table(table);
        let conn = self.store().conn();
        let exists: bool = conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |_| Ok(true),
            )
            .optional()
            .map_err(|e| self.comments_err(e))?
            .unwrap_or(false);
        if !exists {
            return Err(Error::NoSuchTable {
                table: table.to_owned(),
            });
        }
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {q} (
                comment_id INTEGER PRIMARY KEY AUTOINCREMENT,
                note_id TEXT UNIQUE,
                record_id TEXT NOT NULL,
                body TEXT NOT NULL DEFAULT '',
                timestamp TEXT,
                owner_id TEXT,
                attachment_ids TEXT,
                _hs_updated_at TEXT,
                _synced_body TEXT,
                _create_sent_ms INTEGER,
                _error TEXT
            );
            CREATE INDEX IF NOT EXISTS {i} ON {q} (record_id);",
            q = quote(&comments),
            i = quote(&format!("{comments}_by_record")),
        ))
        .map_err(|e| self.comments_err(e))?;
        Ok(comments)
    }

    fn comments_err(&self, e: impl std::fmt::Display) -> Error {
        Error::store(&self.store().path().display().to_string(), e)
    }

    /// Live records of the table, by HubSpot id.
    fn record_ids(&self, table: &str) -> Result<Vec<String>> {
        let conn = self.store().conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT _hs_id FROM {} WHERE _hs_id IS NOT NULL AND COALESCE(_hs_archived, 0) = 0 ORDER BY _hs_id",
                quote(table)
            ))
            .map_err(|e| self.comments_err(e))?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.comments_err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.comments_err(e))?;
        Ok(ids)
    }

    /// The read's notes into the comments table, in one transaction.
    fn apply_notes(
        &self,
        comments: &str,
        records: &[String],
        note_record: &BTreeMap<String, String>,
        notes: &[Note],
        summary: &mut CommentsSummary,
    ) -> Result<()> {
        let q = quote(comments);
        let mut conn = self.store().conn();
        let tx = conn.transaction().map_err(|e| self.comments_err(e))?;
        let err = |e: rusqlite::Error| self.comments_err(e);
        for note in notes {
            let Some(record) = note_record.get(&note.id) else { continue };
            let body = note.body();
            let existing: Option<(i64, String, Option<String>)> = tx
                .query_row(
                    &format!("SELECT comment_id, body, _synced_body FROM {q} WHERE note_id = ?1"),
                    [&note.id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(err)?;
            match existing {
                Some((_, _, synced)) if synced.as_deref() == Some(body.as_str()) => {
                    // HubSpot's text unchanged: a pending local edit (if any) stays for the write step.
                    tx.execute(
                        &format!("UPDATE {q} SET record_id = ?1, timestamp = ?2, owner_id = ?3, attachment_ids = ?4, _hs_updated_at = ?5 WHERE note_id = ?6"),
                        params![
                            record,
                            note.prop("hs_timestamp"),
                            note.prop("hubspot_owner_id"),
                            note.prop("hs_attachment_ids"),
                            note.updated_at,
                            note.id,
                        ],
                    )
                    .map_err(err)?;
                }
                Some((_, local, synced)) => {
                    let edited_locally = synced.as_deref() != Some(local.as_str());
                    let conflict = edited_locally && local != body;
                    if conflict {
                        summary.conflicts += 1;
                    }
                    tx.execute(
                        &format!("UPDATE {q} SET record_id = ?1, body = ?2, timestamp = ?3, owner_id = ?4, attachment_ids = ?5, _hs_updated_at = ?6, _synced_body = ?2, _error = ?8 WHERE note_id = ?7"),
                        params![
                            record,
                            body,
                            note.prop("hs_timestamp"),
                            note.prop("hubspot_owner_id"),
                            note.prop("hs_attachment_ids"),
                            note.updated_at,
                            note.id,
                            conflict.then(|| format!("edited in HubSpot and here; HubSpot's text kept, yours was: {local}")),
                        ],
                    )
                    .map_err(err)?;
                    summary.changed += 1;
                }
                None => {
                    // A create Spoke sent but did not record (it died in between): adopt it.
                    let pending: Option<i64> = tx
                        .query_row(
                            &format!("SELECT comment_id FROM {q} WHERE note_id IS NULL AND record_id = ?1 AND body = ?2 AND _create_sent_ms IS NOT NULL ORDER BY comment_id LIMIT 1"),
                            params![record, body],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(err)?;
                    if let Some(comment_id) = pending {
                        tx.execute(
                            &format!("UPDATE {q} SET note_id = ?1, _synced_body = body, _create_sent_ms = NULL, _hs_updated_at = ?2, timestamp = COALESCE(timestamp, ?3) WHERE comment_id = ?4"),
                            params![note.id, note.updated_at, note.prop("hs_timestamp"), comment_id],
                        )
                        .map_err(err)?;
                        continue;
                    }
                    tx.execute(
                        &format!("INSERT INTO {q} (record_id, body, timestamp, owner_id, attachment_ids, _hs_updated_at, note_id, _synced_body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?2)"),
                        params![
                            record,
                            body,
                            note.prop("hs_timestamp"),
                            note.prop("hubspot_owner_id"),
                            note.prop("hs_attachment_ids"),
                            note.updated_at,
                            note.id,
                        ],
                    )
                    .map_err(err)?;
                    summary.added += 1;
                }
            }
        }
        // Notes gone from records that were read: deleted or moved in HubSpot.
        let read_records: BTreeSet<&String> = records.iter().collect();
        let seen: BTreeSet<&String> = notes.iter().map(|n| &n.id).collect();
        let known: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare(&format!("SELECT note_id, record_id FROM {q} WHERE note_id IS NOT NULL"))
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(err)?;
            rows
        };
        for (note_id, record_id) in known {
            let gone = !seen.contains(&note_id)
                && (read_records.contains(&record_id) || !note_record.contains_key(&note_id));
            if gone {
                tx.execute(&format!("DELETE FROM {q} WHERE note_id = ?1"), [&note_id])
                    .map_err(err)?;
                summary.removed += 1;
            }
        }
        tx.commit().map_err(err)?;
        Ok(())
    }

    fn outgoing(&self, comments: &str) -> Result<(Vec<Outgoing>, Vec<Outgoing>)> {
        let conn = self.store().conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT comment_id, note_id, record_id, body, timestamp FROM {} \
                 WHERE note_id IS NULL OR _synced_body IS NULL OR body <> _synced_body ORDER BY comment_id",
                quote(comments)
            ))
            .map_err(|e| self.comments_err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Outgoing {
                    comment_id: r.get(0)?,
                    note_id: r.get(1)?,
                    record_id: r.get(2)?,
                    body: r.get(3)?,
                    timestamp: r.get(4)?,
                })
            })
            .map_err(|e| self.comments_err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.comments_err(e))?;
        Ok(rows.into_iter().partition(|o| o.note_id.is_none()))
    }

    async fn create_notes(
        &self,
        comments: &str,
        type_id: u32,
        batch: Vec<Outgoing>,
        summary: &mut CommentsSummary,
    ) -> Result<Option<Vec<Outgoing>>> {
        let q = quote(comments);
        let now = chrono_now();
        let inputs: Vec<Value> = batch
            .iter()
            .map(|o| {
                json!({
                    "properties": {
                        "hs_note_body": o.body,
                        "hs_timestamp": o.timestamp.clone().unwrap_or_else(|| now.clone()),
                    },
                    "associations": [{
                        "to": { "id": o.record_id },
                        "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }],
                    }],
                })
            })
            .collect();
        {
            let conn = self.store().conn();
            for o in &batch {
                conn.execute(
                    &format!("UPDATE {q} SET _create_sent_ms = ?1 WHERE comment_id = ?2"),
                    params![now_ms(), o.comment_id],
                )
                .map_err(|e| self.comments_err(e))?;
            }
        }
        summary.api_calls += 1;
        let req = Request::post("/crm/v3/objects/notes/batch/create").json(json!({ "inputs": inputs }));
        let created = match self.client().send(req).await {
            Ok(r) => r.json::<Objects>()?,
            Err(spoke_hubspot::Error::Api { status, message, .. }) if (400..500).contains(&status) => {
                // Refused as a whole (a record that no longer exists, say): halve, or keep the
                // reason on the row that stands alone.
                if batch.len() > 1 {
                    return Ok(Some(batch));
                }
                let reason = message.unwrap_or_else(|| format!("HubSpot answered HTTP {status}"));
                self.fail_rows(comments, &batch, &reason)?;
                summary.failed += batch.len() as u64;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let by_body: HashMap<&str, &Outgoing> = batch.iter().map(|o| (o.body.as_str(), o)).collect();
        let conn = self.store().conn();
        let mut done = BTreeSet::new();
        for note in &created.results {
            let body = note.body();
            if let Some(o) = by_body.get(body.as_str()) {
                conn.execute(
                    &format!("UPDATE {q} SET note_id = ?1, _synced_body = body, _create_sent_ms = NULL, _error = NULL, _hs_updated_at = ?2, timestamp = COALESCE(timestamp, ?3) WHERE comment_id = ?4"),
                    params![note.id, note.updated_at, note.prop("hs_timestamp"), o.comment_id],
                )
                .map_err(|e| self.comments_err(e))?;
                done.insert(o.comment_id);
                summary.created += 1;
            }
        }
        drop(conn);
        let failed: Vec<&Outgoing> = batch.iter().filter(|o| !done.contains(&o.comment_id)).collect();
        if !failed.is_empty() {
            let reason = created
                .errors
                .first()
                .and_then(|e| e["message"].as_str())
                .unwrap_or("HubSpot did not create this note")
                .to_owned();
            let conn = self.store().conn();
            for o in &failed {
                conn.execute(
                    &format!("UPDATE {q} SET _error = ?1, _create_sent_ms = NULL WHERE comment_id = ?2"),
                    params![reason, o.comment_id],
                )
                .map_err(|e| self.comments_err(e))?;
            }
            summary.failed += failed.len() as u64;
        }
        Ok(None)
    }

    async fn update_notes(
        &self,
        comments: &str,
        batch: Vec<Outgoing>,
        summary: &mut CommentsSummary,
    ) -> Result<Option<Vec<Outgoing>>> {
        let inputs: Vec<Value> = batch
            .iter()
            .map(|o| json!({ "id": o.note_id, "properties": { "hs_note_body": o.body } }))
            .collect();
        summary.api_calls += 1;
        let req = Request::post("/crm/v3/objects/notes/batch/update")
            .json(json!({ "inputs": inputs }))
            .idempotent(true);
        let updated = match self.client().send(req).await {
            Ok(r) => r.json::<Objects>()?,
            Err(spoke_hubspot::Error::Api { status, message, .. }) if (400..500).contains(&status) => {
                if batch.len() > 1 {
                    return Ok(Some(batch));
                }
                let reason = message.unwrap_or_else(|| format!("HubSpot answered HTTP {status}"));
                self.fail_rows(comments, &batch, &reason)?;
                summary.failed += batch.len() as u64;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let q = quote(comments);
        let conn = self.store().conn();
        for note in &updated.results {
            let n = conn
                .execute(
                    &format!("UPDATE {q} SET _synced_body = ?1, _error = NULL, _hs_updated_at = ?2 WHERE note_id = ?3 AND body = ?1"),
                    params![note.body(), note.updated_at, note.id],
                )
                .map_err(|e| self.comments_err(e))?;
            summary.updated += n as u64;
        }
        Ok(None)
    }

    fn fail_rows(&self, comments: &str, rows: &[Outgoing], reason: &str) -> Result<()> {
        let conn = self.store().conn();
        for o in rows {
            conn.execute(
                &format!("UPDATE {} SET _error = ?1, _create_sent_ms = NULL WHERE comment_id = ?2", quote(comments)),
                params![reason, o.comment_id],
            )
            .map_err(|e| self.comments_err(e))?;
        }
        Ok(())
    }
}

/// A refused batch in two.
fn halves(mut batch: Vec<Outgoing>) -> [Vec<Outgoing>; 2] {
    let second = batch.split_off(batch.len() / 2);
    [batch, second]
}

/// Batches of at most 100 creates in which no two share a body (results are matched by body).
fn unique_body_batches(rows: Vec<Outgoing>) -> Vec<Vec<Outgoing>> {
    let mut batches: Vec<Vec<Outgoing>> = Vec::new();
    for row in rows {
        let slot = batches
            .iter()
            .position(|b| b.len() < 100 && b.iter().all(|o| o.body != row.body));
        match slot {
            Some(i) => batches[i].push(row),
            None => batches.push(vec![row]),
        }
    }
    batches
}

/// Now as HubSpot writes date-times (`2025-06-15T03:00:29.864Z`).
fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_batches_never_repeat_a_body() {
        let row = |i: i64, body: &str| Outgoing {
            comment_id: i,
            note_id: None,
            record_id: "1".into(),
            body: body.into(),
            timestamp: None,
        };
        let rows = vec![row(1, "a"), row(2, "a"), row(3, "b"), row(4, "a")];
        let batches = unique_body_batches(rows);
        assert_eq!(batches.len(), 3);
        for b in &batches {
            let bodies: BTreeSet<&str> = b.iter().map(|o| o.body.as_str()).collect();
            assert_eq!(bodies.len(), b.len());
        }
        let mut all: Vec<i64> = batches.iter().flatten().map(|o| o.comment_id).collect();
        all.sort();
        assert_eq!(all, vec![1, 2, 3, 4]);
    }
}
