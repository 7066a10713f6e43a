//! Attachments of comments: the files of synced notes (`hs_attachment_ids`) downloaded next to
//! the store, and local files added to a comment uploaded and attached to its note.
//!
//! `{table}__attachments` has one row per file:
//!
//! - **Downloads** (`direction = 'download'`): for every file id in a synced comment's
//!   `attachment_ids`, a fresh signed URL (`GET /files/v3/files/{id}/signed-url`), the bytes
//!   streamed into `<store dir>/attachments/<table>/.<fileId>.part` while hashing, checked
//!   against the announced size, synced to disk and renamed to `<fileId>-<name>.<ext>`; only
//!   then is the row recorded with `sha256` and `downloaded_at`. A kill mid-download leaves at
//!   most a `.part` file, never a row that says done; the next run starts that file over.
//!   A file already recorded whose local copy is still there is not downloaded again.
//! - **Uploads** (`direction = 'upload'`): a row the user inserts with `comment_id` and
//!   `local_path` (and no `file_id`) is read, hashed, uploaded (`POST /files/v3/files`, private,
//!   folder `/spoke/attachments/<table>`) and its new file id added to the note's
//!   `hs_attachment_ids` (`batch/update`). `_attached_ms` marks that the note has it, so a crash
//!   between upload and update is finished on the next run.
//! - Files over [`MAX_ATTACHMENT_BYTES`] are not transferred. Every failure (gone in HubSpot,
//!   expired URL, too large, unreadable local file, disk full) is recorded on the file's row
//!   (`_error`, `_attempts`) and counted; it never stops the comments sync.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, OptionalExtension};
use serde_json::json;
use sha2::{Digest, Sha256};
use spoke_hubspot::{FileAccess, FileUpload, Request};

use crate::comments::CommentsSummary;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::quote;
use crate::types::CancelToken;

/// Largest attachment Spoke downloads or uploads: 100 MiB.
pub const MAX_ATTACHMENT_BYTES: u64 = 100 * 1024 * 1024;

/// Lifetime asked for signed URLs: the download starts right after.
const SIGNED_URL_SECS: u32 = 300;

/// The attachments table of a mapping's table.
pub fn attachments_table(table: &str) -> String {
    format!("{table}__attachments")
}

/// Where a table's attachments are downloaded: `<store dir>/attachments/<table>`.
pub fn attachments_dir(store_path: &Path, table: &str) -> PathBuf {
    store_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("attachments")
        .join(safe_name(table))
}

/// A file name safe on every OS: no separators, no control or reserved characters, not too long.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim().trim_matches('.').to_owned();
    let mut out: String = trimmed.chars().take(120).collect();
    if out.is_empty() {
        out.push_str("file");
    }
    out
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn content_type(extension: &str) -> &'static str {
    match extension.to_ascii_lowercase().as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "txt" | "md" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

/// One local file waiting to be uploaded.
struct PendingUpload {
    attachment_id: i64,
    comment_id: i64,
    local_path: String,
}

/// Why one file failed, as a sentence for `_error`.
fn reason(e: &spoke_hubspot::Error) -> String {
    use spoke_hubspot::Describe;
    match e.hint() {
        Some(h) => format!("{e}. {h}"),
        None => e.to_string(),
    }
}

/// Errors that stop the whole run rather than one file (the connection itself is unusable).
fn fatal(e: &spoke_hubspot::Error) -> bool {
    use spoke_hubspot::Error as E;
    matches!(
        e,
        E::Unauthorized { .. } | E::InvalidGrant { .. } | E::DailyLimitReached | E::TokenProvider { .. }
    )
}

impl Engine {
    pub(crate) fn ensure_attachments_table(&self, table: &str) -> Result<String> {
        let name = attachments_table(table);
        self.store()
            .conn()
            .execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {q} (
                    attachment_id INTEGER PRIMARY KEY AUTOINCREMENT,
                    file_id TEXT UNIQUE,
                    note_id TEXT,
                    comment_id INTEGER,
                    direction TEXT NOT NULL DEFAULT 'upload',
                    name TEXT,
                    extension TEXT,
                    size INTEGER,
                    type TEXT,
                    local_path TEXT,
                    sha256 TEXT,
                    downloaded_at TEXT,
                    uploaded_at TEXT,
                    _attached_ms INTEGER,
                    _error TEXT,
                    _attempts INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX IF NOT EXISTS {i} ON {q} (note_id);",
                q = quote(&name),
                i = quote(&format!("{name}_by_note")),
            ))
            .map_err(|e| self.att_err(e))?;
        Ok(name)
    }

    fn att_err(&self, e: impl std::fmt::Display) -> Error {
        Error::store(&self.store().path().display().to_string(), e)
    }

    /// Downloads the files of synced notes that are not here yet.
    pub(crate) async fn download_attachments(
        &self,
        table: &str,
        comments: &str,
        summary: &mut CommentsSummary,
        cancel: &CancelToken,
    ) -> Result<()> {
        let attachments = self.ensure_attachments_table(table)?;
        let q = quote(&attachments);
        // file id → note id, from the comments' attachment ids.
        let wanted: BTreeMap<String, String> = {
            let conn = self.store().conn();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT note_id, attachment_ids FROM {} WHERE note_id IS NOT NULL AND COALESCE(attachment_ids, '') <> ''",
                    quote(comments)
                ))
                .map_err(|e| self.att_err(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| self.att_err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.att_err(e))?;
            let mut out = BTreeMap::new();
            for (note, ids) in rows {
                for id in ids.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    out.insert(id.to_owned(), note.clone());
                }
            }
            out
        };
        let dir = attachments_dir(self.store().path(), table);
        for (file_id, note_id) in wanted {
            if cancel.is_cancelled() {
                return Ok(());
            }
            let known: Option<(String, Option<String>, Option<String>)> = self
                .store()
                .conn()
                .query_row(
                    &format!("SELECT direction, sha256, local_path FROM {q} WHERE file_id = ?1"),
                    [&file_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(|e| self.att_err(e))?;
            match &known {
                // Uploaded from here: the local file is the user's own.
                Some((direction, _, _)) if direction == "upload" => continue,
                Some((_, Some(_), Some(path))) if Path::new(path).is_file() => continue,
                _ => {}
            }
            match self.download_one(&dir, &file_id, summary).await {
                Ok(done) => {
                    self.store()
                        .conn()
                        .execute(
                            &format!(
                                "INSERT INTO {q} (file_id, note_id, direction, name, extension, size, type, local_path, sha256, downloaded_at, _error, _attempts)
                                 VALUES (?1, ?2, 'download', ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, 1)
                                 ON CONFLICT(file_id) DO UPDATE SET note_id = ?2, direction = 'download', name = ?3, extension = ?4, size = ?5, type = ?6,
                                   local_path = ?7, sha256 = ?8, downloaded_at = ?9, _error = NULL, _attempts = _attempts + 1"
                            ),
                            params![file_id, note_id, done.name, done.extension, done.size as i64, done.kind, done.path.display().to_string(), done.sha256, now_iso()],
                        )
                        .map_err(|e| self.att_err(e))?;
                    summary.attachments_downloaded += 1;
                }
                Err(e) if fatal(&e) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(file_id, error = %e, "attachment not downloaded");
                    self.store()
                        .conn()
                        .execute(
                            &format!(
                                "INSERT INTO {q} (file_id, note_id, direction, _error, _attempts) VALUES (?1, ?2, 'download', ?3, 1)
                                 ON CONFLICT(file_id) DO UPDATE SET note_id = ?2, sha256 = NULL, downloaded_at = NULL, _error = ?3, _attempts = _attempts + 1"
                            ),
                            params![file_id, note_id, reason(&e)],
                        )
                        .map_err(|e| self.att_err(e))?;
                    summary.attachments_failed += 1;
                }
            }
        }
        Ok(())
    }

    async fn download_one(
        &self,
        dir: &Path,
        file_id: &str,
        summary: &mut CommentsSummary,
    ) -> std::result::Result<Downloaded, spoke_hubspot::Error> {
        use spoke_hubspot::Error as E;
        summary.api_calls += 1;
        let signed = self.client().file_signed_url(file_id, Some(SIGNED_URL_SECS)).await?;
        if let Some(size) = signed.size.filter(|s| *s > MAX_ATTACHMENT_BYTES) {
            return Err(E::FileTooLarge { size, limit: MAX_ATTACHMENT_BYTES });
        }
        std::fs::create_dir_all(dir).map_err(|e| E::LocalWrite(format!("{}: {e}", dir.display())))?;
        let name = signed.name.clone().unwrap_or_else(|| file_id.to_owned());
        let extension = signed.extension.clone().unwrap_or_default();
        let full = if extension.is_empty() { name.clone() } else { format!("{name}.{extension}") };
        let target = dir.join(format!("{file_id}-{}", safe_name(&full)));
        let part = dir.join(format!(".{file_id}.part"));
        let result = async {
            let file = std::fs::File::create(&part).map_err(|e| E::LocalWrite(format!("{}: {e}", part.display())))?;
            let mut out = std::io::BufWriter::new(file);
            let mut hasher = Sha256::new();
            let written = self
                .client()
                .download_signed(&signed.url, MAX_ATTACHMENT_BYTES, |chunk| {
                    hasher.update(chunk);
                    out.write_all(chunk)
                })
                .await?;
            let file = out.into_inner().map_err(|e| E::LocalWrite(e.to_string()))?;
            file.sync_all().map_err(|e| E::LocalWrite(e.to_string()))?;
            drop(file);
            if let Some(size) = signed.size.filter(|s| *s != written) {
                return Err(E::Network {
                    detail: format!("the download ended after {written} of {size} bytes"),
                    attempts: 1,
                });
            }
            std::fs::rename(&part, &target).map_err(|e| E::LocalWrite(format!("{}: {e}", target.display())))?;
            Ok((written, format!("{:x}", hasher.finalize())))
        }
        .await;
        match result {
            Ok((size, sha256)) => Ok(Downloaded {
                name,
                extension,
                kind: signed.kind.clone(),
                size,
                sha256,
                path: target,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                Err(e)
            }
        }
    }

    /// Uploads local files added to comments and attaches them to their notes.
    pub(crate) async fn upload_attachments(
        &self,
        table: &str,
        comments: &str,
        summary: &mut CommentsSummary,
        cancel: &CancelToken,
    ) -> Result<()> {
        let attachments = self.ensure_attachments_table(table)?;
        let q = quote(&attachments);
        let qc = quote(comments);
        let pending: Vec<PendingUpload> = {
            let conn = self.store().conn();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT a.attachment_id, a.comment_id, a.local_path FROM {q} a JOIN {qc} c ON c.comment_id = a.comment_id
                     WHERE a.file_id IS NULL AND a.local_path IS NOT NULL AND c.note_id IS NOT NULL ORDER BY a.attachment_id"
                ))
                .map_err(|e| self.att_err(e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(PendingUpload { attachment_id: r.get(0)?, comment_id: r.get(1)?, local_path: r.get(2)? })
                })
                .map_err(|e| self.att_err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.att_err(e))?;
            rows
        };
        let folder = format!("/spoke/attachments/{}", safe_name(table));
        for p in pending {
            if cancel.is_cancelled() {
                break;
            }
            let fail = |engine: &Engine, why: String| -> Result<()> {
                engine
                    .store()
                    .conn()
                    .execute(
                        &format!("UPDATE {q} SET direction = 'upload', _error = ?1, _attempts = _attempts + 1 WHERE attachment_id = ?2"),
                        params![why, p.attachment_id],
                    )
                    .map_err(|e| engine.att_err(e))?;
                Ok(())
            };
            let path = PathBuf::from(&p.local_path);
            let meta = match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => m,
                Ok(_) => {
                    fail(self, format!("local_path {:?} is not a file: set it to the full path of the file to attach", p.local_path))?;
                    summary.attachments_failed += 1;
                    continue;
                }
                Err(e) => {
                    fail(self, format!("local_path {:?} cannot be read ({e}): set it to the full path of an existing file", p.local_path))?;
                    summary.attachments_failed += 1;
                    continue;
                }
            };
            if meta.len() > MAX_ATTACHMENT_BYTES {
                fail(self, format!("{} is {} bytes, over the {MAX_ATTACHMENT_BYTES}-byte attachment limit", p.local_path, meta.len()))?;
                summary.attachments_failed += 1;
                continue;
            }
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    fail(self, format!("local_path {:?} cannot be read: {e}", p.local_path))?;
                    summary.attachments_failed += 1;
                    continue;
                }
            };
            let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
            let extension = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
            let sha256 = format!("{:x}", Sha256::digest(&bytes));
            // A folder of its own per attachment row, and HubSpot's RETURN_EXISTING in it: an
            // upload repeated after a crash (HubSpot stored the file, the answer never got
            // here) gets the same file back instead of a second copy.
            let upload = FileUpload {
                file_name: file_name.clone(),
                folder_path: format!("{folder}/{}", p.attachment_id),
                access: FileAccess::Private,
                content_type: content_type(&extension).to_owned(),
                bytes: Arc::new(bytes),
                return_existing: true,
            };
            summary.api_calls += 1;
            match self.client().upload_file(&upload).await {
                Ok(file) => {
                    let note_id: Option<String> = self
                        .store()
                        .conn()
                        .query_row(&format!("SELECT note_id FROM {qc} WHERE comment_id = ?1"), [p.comment_id], |r| r.get(0))
                        .optional()
                        .map_err(|e| self.att_err(e))?
                        .flatten();
                    self.store()
                        .conn()
                        .execute(
                            &format!(
                                "UPDATE {q} SET file_id = ?1, note_id = ?2, direction = 'upload', name = ?3, extension = ?4, size = ?5, type = ?6,
                                 sha256 = ?7, uploaded_at = ?8, _error = NULL, _attempts = _attempts + 1 WHERE attachment_id = ?9"
                            ),
                            params![file.id, note_id, file.name, file.extension.or(Some(extension)), upload.bytes.len() as i64, file.kind, sha256, now_iso(), p.attachment_id],
                        )
                        .map_err(|e| self.att_err(e))?;
                }
                Err(e) if fatal(&e) => return Err(e.into()),
                Err(e) => {
                    fail(self, reason(&e))?;
                    summary.attachments_failed += 1;
                }
            }
        }
        self.attach_uploads(&q, &qc, summary).await
    }

    /// Adds uploaded file ids to their notes' `hs_attachment_ids` (also finishing uploads a
    /// crash left unattached).
    async fn attach_uploads(&self, q: &str, qc: &str, summary: &mut CommentsSummary) -> Result<()> {
        // note → (comment, its current ids, the new file ids)
        let mut by_note: BTreeMap<String, (i64, Option<String>, Vec<String>)> = BTreeMap::new();
        {
            let conn = self.store().conn();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT c.note_id, c.comment_id, c.attachment_ids, a.file_id FROM {q} a JOIN {qc} c ON c.comment_id = a.comment_id
                     WHERE a.direction = 'upload' AND a.file_id IS NOT NULL AND a._attached_ms IS NULL AND c.note_id IS NOT NULL"
                ))
                .map_err(|e| self.att_err(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, String>(3)?)))
                .map_err(|e| self.att_err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.att_err(e))?;
            for (note, comment, ids, file) in rows {
                by_note.entry(note).or_insert((comment, ids, Vec::new())).2.push(file);
            }
        }
        let notes: Vec<(String, (i64, Option<String>, Vec<String>))> = by_note.into_iter().collect();
        for chunk in notes.chunks(100) {
            let mut joined: Vec<(String, i64, String, Vec<String>)> = Vec::new();
            for (note, (comment, ids, files)) in chunk {
                let mut all: Vec<String> = ids.as_deref().unwrap_or("").split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
                let seen: BTreeSet<String> = all.iter().cloned().collect();
                all.extend(files.iter().filter(|f| !seen.contains(*f)).cloned());
                joined.push((note.clone(), *comment, all.join(";"), files.clone()));
            }
            let inputs: Vec<serde_json::Value> = joined
                .iter()
                .map(|(note, _, ids, _)| json!({ "id": note, "properties": { "hs_attachment_ids": ids } }))
                .collect();
            summary.api_calls += 1;
            let req = Request::post("/crm/v3/objects/notes/batch/update")
                .json(json!({ "inputs": inputs }))
                .idempotent(true);
            match self.client().send(req).await {
                Ok(_) => {
                    let now = crate::store::now_ms();
                    let conn = self.store().conn();
                    for (_, comment, ids, files) in &joined {
                        conn.execute(&format!("UPDATE {qc} SET attachment_ids = ?1 WHERE comment_id = ?2"), params![ids, comment])
                            .map_err(|e| self.att_err(e))?;
                        for f in files {
                            conn.execute(&format!("UPDATE {q} SET _attached_ms = ?1, _error = NULL WHERE file_id = ?2"), params![now, f])
                                .map_err(|e| self.att_err(e))?;
                        }
                        summary.attachments_uploaded += files.len() as u64;
                    }
                }
                Err(e) if fatal(&e) => return Err(e.into()),
                Err(e) => {
                    let why = format!("uploaded, but not attached to the note yet: {}", reason(&e));
                    let conn = self.store().conn();
                    for (_, _, _, files) in &joined {
                        for f in files {
                            conn.execute(&format!("UPDATE {q} SET _error = ?1 WHERE file_id = ?2"), params![why, f])
                                .map_err(|e| self.att_err(e))?;
                            summary.attachments_failed += 1;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a table's attachments folder and table hold (the Sync screen's comments card).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentStats {
    /// `<store dir>/attachments/<table>`.
    pub folder: String,
    pub downloaded: u64,
    pub downloaded_bytes: u64,
    pub uploaded: u64,
    /// Local files added to comments, not uploaded yet (their comment has no note yet, or the
    /// upload failed).
    pub pending_uploads: u64,
    pub failed: u64,
    /// The first failures: (file id or local path, reason).
    pub failures: Vec<AttachmentFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentFailure {
    pub file: String,
    pub error: String,
}

impl crate::store::Store {
    /// Counts of `{table}__attachments` (all zero before the first comments sync).
    pub fn attachment_stats(&self, table: &str) -> Result<AttachmentStats> {
        let name = attachments_table(table);
        let folder = attachments_dir(self.path(), table).display().to_string();
        let err = |e: rusqlite::Error| Error::store(&self.path().display().to_string(), e);
        let conn = self.conn();
        let exists: bool = conn
            .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [&name], |_| Ok(true))
            .optional()
            .map_err(err)?
            .unwrap_or(false);
        if !exists {
            return Ok(AttachmentStats { folder, ..AttachmentStats::default() });
        }
        let q = quote(&name);
        let (downloaded, bytes, uploaded, pending, failed): (i64, i64, i64, i64, i64) = conn
            .query_row(
                &format!(
                    "SELECT
                       COALESCE(SUM(direction = 'download' AND sha256 IS NOT NULL), 0),
                       COALESCE(SUM(CASE WHEN direction = 'download' AND sha256 IS NOT NULL THEN size ELSE 0 END), 0),
                       COALESCE(SUM(direction = 'upload' AND _attached_ms IS NOT NULL), 0),
                       COALESCE(SUM(direction = 'upload' AND _attached_ms IS NULL), 0),
                       COALESCE(SUM(_error IS NOT NULL), 0)
                     FROM {q}"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .map_err(err)?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT COALESCE(file_id, local_path, ''), _error FROM {q} WHERE _error IS NOT NULL ORDER BY attachment_id LIMIT 5"
            ))
            .map_err(err)?;
        let failures = stmt
            .query_map([], |r| Ok(AttachmentFailure { file: r.get(0)?, error: r.get(1)? }))
            .map_err(err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err)?;
        Ok(AttachmentStats {
            folder,
            downloaded: downloaded as u64,
            downloaded_bytes: bytes as u64,
            uploaded: uploaded as u64,
            pending_uploads: pending as u64,
            failed: failed as u64,
            failures,
        })
    }
}

struct Downloaded {
    name: String,
    extension: String,
    kind: Option<String>,
    size: u64,
    sha256: String,
    path: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_on_disk() {
        assert_eq!(safe_name("Q3 plan: v2/final?.pdf"), "Q3 plan_ v2_final_.pdf");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name("a\u{0}b"), "a_b");
        assert_eq!(safe_name(&"x".repeat(300)).len(), 120);
    }
}
