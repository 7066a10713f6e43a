//! Files API v3 (`/files/v3/files`): upload (multipart), get by id, signed URL, archive and GDPR
//! delete, as in HubSpot's `files-v3` spec, plus the signed download URLs themselves.
//!
//! - **Upload** `POST /files/v3/files`, `multipart/form-data`: `file` (the bytes, required),
//!   `fileName`, `folderId` or `folderPath` (one of them required; a missing path is created),
//!   `options` (JSON `FileUploadOptions`; `access` required), `charsetHunch`. Answers 201 `File`.
//!   Files above [`MAX_UPLOAD_BYTES`] answer 413.
//! - **Get** `GET /files/v3/files/{fileId}`: `File`; an archived or unknown id answers 404.
//! - **Signed URL** `GET /files/v3/files/{fileId}/signed-url?expirationSeconds=`: `SignedUrl`
//!   whose `url` is served by this portal at `/hubfs-signed/…` without a token until it expires
//!   (checked on the sandbox clock, so tests can expire it with `/_sandbox/clock/advance`).
//!   An expired or tampered URL answers 403, the URL of a deleted file 404.
//! - **Archive** `DELETE /files/v3/files/{fileId}` (204) and `DELETE …/{fileId}/gdpr-delete` (204).
//!
//! Scopes as in the spec: reads need `files`, `files.read` or `files.ui_hidden.read`; writes
//! `files`, `files.write` or `files.ui_hidden.write`; deletes `files`, `files.delete` or
//! `files.ui_hidden.write`.

use crate::auth::Caller;
use crate::crm::Params;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::util::iso_ms;
use axum::body::Body;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest upload the portal accepts (HubSpot's file manager allows far more; the demo portal
/// keeps files in memory).
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

const READ: &[&str] = &["files", "files.read", "files.ui_hidden.read"];
const WRITE: &[&str] = &["files.ui_hidden.write", "files", "files.write"];
const DELETE: &[&str] = &["files.ui_hidden.write", "files", "files.delete"];

const ACCESS: &[&str] = &[
    "HIDDEN_INDEXABLE",
    "HIDDEN_NOT_INDEXABLE",
    "HIDDEN_PRIVATE",
    "HIDDEN_SENSITIVE",
    "PRIVATE",
    "PUBLIC_INDEXABLE",
    "PUBLIC_NOT_INDEXABLE",
    "SENSITIVE",
];

/// One file in the file manager.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub id: u64,
    /// Without the extension (`contract`), as HubSpot returns it.
    pub name: String,
    /// Without the dot (`pdf`).
    pub extension: String,
    pub access: String,
    pub folder_id: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub archived_ms: Option<i64>,
    pub bytes: Arc<Vec<u8>>,
}

impl StoredFile {
    /// `IMG`, `DOCUMENT`, `AUDIO`, `MOVIE` or `OTHER`, by extension as HubSpot types them.
    pub fn kind(&self) -> &'static str {
        file_type(&self.extension)
    }
    pub fn full_name(&self) -> String {
        if self.extension.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.name, self.extension)
        }
    }
}

pub fn file_type(extension: &str) -> &'static str {
    match extension.to_ascii_lowercase().as_str() {
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "svg" | "bmp" | "tif" | "tiff" | "ico" => "IMG",
        "pdf" | "doc" | "docx" | "xls" | "xlsx" | "ppt" | "pptx" | "txt" | "csv" | "rtf" | "odt" | "md" => "DOCUMENT",
        "mp3" | "wav" | "ogg" | "m4a" | "flac" => "AUDIO",
        "mp4" | "mov" | "avi" | "webm" | "mkv" => "MOVIE",
        _ => "OTHER",
    }
}

/// The file manager: files and folders (folders by path; `/` is folder 0).
#[derive(Debug, Default)]
pub struct FileStore {
    pub files: BTreeMap<u64, StoredFile>,
    pub folders: BTreeMap<String, u64>,
    pub next_id: u64,
    pub next_folder_id: u64,
}

impl FileStore {
    pub fn new() -> Self {
        FileStore { files: BTreeMap::new(), folders: BTreeMap::new(), next_id: 181_000_000_001, next_folder_id: 180_000_000_001 }
    }

    fn alloc(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The id of a folder path, created when missing.
    pub fn folder(&mut self, path: &str) -> u64 {
        let norm = normalize_folder(path);
        if norm == "/" {
            return 0;
        }
        if let Some(id) = self.folders.get(&norm) {
            return *id;
        }
        let id = self.next_folder_id;
        self.next_folder_id += 1;
        self.folders.insert(norm, id);
        id
    }

    pub fn folder_path(&self, id: u64) -> String {
        self.folders.iter().find(|(_, v)| **v == id).map(|(k, _)| k.clone()).unwrap_or_else(|| "/".into())
    }

    pub fn add(&mut self, full_name: &str, folder_path: &str, access: &str, bytes: Vec<u8>, now: i64) -> u64 {
        let folder_id = self.folder(folder_path);
        let id = self.alloc();
        let (name, extension) = split_name(full_name);
        self.files.insert(
            id,
            StoredFile {
                id,
                name,
                extension,
                access: access.into(),
                folder_id,
                created_ms: now,
                updated_ms: now,
                archived_ms: None,
                bytes: Arc::new(bytes),
            },
        );
        id
    }

    pub fn live(&self, id: u64) -> Option<&StoredFile> {
        self.files.get(&id).filter(|f| f.archived_ms.is_none())
    }
}

fn normalize_folder(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').map(str::trim).filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// `contract.final.pdf` → (`contract.final`, `pdf`).
pub fn split_name(full: &str) -> (String, String) {
    match full.rsplit_once('.') {
        Some((n, e)) if !n.is_empty() && !e.is_empty() && e.len() <= 10 && e.chars().all(|c| c.is_ascii_alphanumeric()) => {
            (n.to_string(), e.to_ascii_lowercase())
        }
        _ => (full.to_string(), String::new()),
    }
}

fn file_json(store: &FileStore, st: &AppState, f: &StoredFile) -> Value {
    let folder = store.folder_path(f.folder_id);
    let path = if folder == "/" { format!("/{}", f.full_name()) } else { format!("{folder}/{}", f.full_name()) };
    let mut v = json!({
        "id": f.id.to_string(),
        "createdAt": iso_ms(f.created_ms),
        "updatedAt": iso_ms(f.updated_ms),
        "archived": f.archived_ms.is_some(),
        "name": f.name,
        "path": path,
        "size": f.bytes.len(),
        "type": f.kind(),
        "extension": f.extension,
        "access": f.access,
        "isUsableInContent": !f.access.starts_with("HIDDEN"),
        "sourceGroup": "CONTENT",
        "encoding": if f.kind() == "DOCUMENT" { "utf-8" } else { "" },
    });
    if f.folder_id != 0 {
        v["parentFolderId"] = json!(f.folder_id.to_string());
    }
    if f.access.starts_with("PUBLIC") {
        let url = format!("{}/hubfs/{}{}", st.base_url, st.cfg.portal_id, path);
        v["url"] = json!(url);
        v["defaultHostingUrl"] = json!(url);
    }
    if let Some(a) = f.archived_ms {
        v["archivedAt"] = json!(iso_ms(a));
    }
    v
}

fn parse_file_id(raw: &str) -> ApiResult<u64> {
    raw.trim().parse::<u64>().map_err(|_| {
        ApiError::validation(format!("Invalid fileId {raw:?}: a file id is a number."))
            .with("errors", json!([{ "message": format!("fileId must be a number, got {raw:?}"), "in": "fileId", "code": "INVALID_INTEGER" }]))
    })
}

fn file_not_found(id: u64) -> ApiError {
    ApiError::not_found(format!("File with id {id} not found")).with("context", json!({ "id": [id.to_string()] }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UploadOptions {
    access: Option<String>,
    /// NONE (default), REJECT or RETURN_EXISTING: what to do when the same file (same name,
    /// extension and bytes) is already there.
    #[serde(default)]
    duplicate_validation_strategy: Option<String>,
    /// ENTIRE_PORTAL (default) or EXACT_FOLDER: where to look for that duplicate.
    #[serde(default)]
    duplicate_validation_scope: Option<String>,
    #[serde(default)]
    ttl: Option<String>,
    #[serde(default)]
    overwrite: Option<bool>,
}

/// `POST /files/v3/files` (multipart).
pub async fn upload(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, mut form: Multipart) -> ApiResult<Response> {
    caller.require(WRITE)?;
    let mut file: Option<(Option<String>, Vec<u8>)> = None;
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e)),
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let original = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(multipart_error)?;
            if bytes.len() > MAX_UPLOAD_BYTES {
                return Err(too_large());
            }
            file = Some((original, bytes.to_vec()));
        } else {
            let text = field.text().await.map_err(multipart_error)?;
            fields.insert(name, text);
        }
    }
    let Some((original, bytes)) = file else {
        return Err(ApiError::validation("The multipart field 'file' is required: add the file's bytes as a part named 'file'.")
            .with("errors", json!([{ "message": "file is required", "in": "file", "code": "REQUIRED" }])));
    };
    let options: UploadOptions = match fields.get("options") {
        Some(raw) => serde_json::from_str(raw).map_err(|e| ApiError::bad_json(format!("options: {e}")))?,
        None => UploadOptions::default(),
    };
    let access = options.access.clone().ok_or_else(|| {
        ApiError::validation("options.access is required (PUBLIC_INDEXABLE, PUBLIC_NOT_INDEXABLE, PRIVATE, …).")
            .with("errors", json!([{ "message": "access is required", "in": "options.access", "code": "REQUIRED" }]))
    })?;
    if !ACCESS.contains(&access.as_str()) {
        return Err(ApiError::validation(format!("options.access {access:?} is not one of {}", ACCESS.join(", "))));
    }
    let _ = (&options.ttl, &options.overwrite);
    let full_name = fields
        .get("fileName")
        .filter(|n| !n.trim().is_empty())
        .cloned()
        .or(original)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::validation("fileName is required when the file part has no filename."))?;
    let now = st.clock.now_ms();
    let mut files = st.files()?;
    let folder_path = match (fields.get("folderId"), fields.get("folderPath")) {
        (Some(id), _) if !id.trim().is_empty() => {
            let id = id.trim().parse::<u64>().map_err(|_| ApiError::validation(format!("folderId {id:?} is not a number")))?;
            if id != 0 && !files.folders.values().any(|v| *v == id) {
                return Err(ApiError::not_found(format!("Folder with id {id} not found")));
            }
            files.folder_path(id)
        }
        (_, Some(path)) if !path.trim().is_empty() => path.clone(),
        _ => {
            return Err(ApiError::validation("Either folderId or folderPath is required.")
                .with("errors", json!([{ "message": "folderId or folderPath is required", "in": "folderPath", "code": "REQUIRED" }])))
        }
    };
    // A file name must not carry a path.
    let clean = full_name.rsplit(['/', '\\']).next().unwrap_or(&full_name).to_string();
    let strategy = options.duplicate_validation_strategy.as_deref().unwrap_or("NONE");
    let scope = options.duplicate_validation_scope.as_deref().unwrap_or("ENTIRE_PORTAL");
    if !["NONE", "REJECT", "RETURN_EXISTING"].contains(&strategy) {
        return Err(ApiError::validation(format!("options.duplicateValidationStrategy {strategy:?} is not one of NONE, REJECT, RETURN_EXISTING")));
    }
    if !["ENTIRE_PORTAL", "EXACT_FOLDER"].contains(&scope) {
        return Err(ApiError::validation(format!("options.duplicateValidationScope {scope:?} is not one of ENTIRE_PORTAL, EXACT_FOLDER")));
    }
    if strategy != "NONE" {
        let (name, extension) = split_name(&clean);
        let folder_id = files.folders.get(&folder_path).copied();
        let duplicate = files.files.values().find(|f| {
            f.archived_ms.is_none()
                && f.name == name
                && f.extension == extension
                && (scope == "ENTIRE_PORTAL" || Some(f.folder_id) == folder_id)
                && f.bytes.as_slice() == bytes.as_slice()
        });
        if let Some(existing) = duplicate {
            if strategy == "REJECT" {
                return Err(ApiError::conflict(format!("Duplicate file found: {}", existing.id)));
            }
            let body = file_json(&files, &st, existing);
            return Ok((StatusCode::OK, axum::Json(body)).into_response());
        }
    }
    let id = files.add(&clean, &folder_path, &access, bytes, now);
    let body = file_json(&files, &st, &files.files[&id]);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    ApiError::validation(format!("Invalid multipart body: {}", e.body_text()))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "VALIDATION_ERROR",
        format!("File too large: the demo portal accepts files up to {} MB.", MAX_UPLOAD_BYTES / (1024 * 1024)),
    )
}

/// `GET /files/v3/files/{fileId}`.
pub async fn get_file(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(file_id): Path<String>) -> ApiResult<Response> {
    caller.require(READ)?;
    let id = parse_file_id(&file_id)?;
    let files = st.files()?;
    let f = files.live(id).ok_or_else(|| file_not_found(id))?;
    Ok(axum::Json(file_json(&files, &st, f)).into_response())
}

/// `DELETE /files/v3/files/{fileId}`: archive.
pub async fn archive(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(file_id): Path<String>) -> ApiResult<Response> {
    caller.require(DELETE)?;
    let id = parse_file_id(&file_id)?;
    let now = st.clock.now_ms();
    let mut files = st.files()?;
    let f = files.files.get_mut(&id).filter(|f| f.archived_ms.is_none()).ok_or_else(|| file_not_found(id))?;
    f.archived_ms = Some(now);
    f.updated_ms = now;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /files/v3/files/{fileId}/gdpr-delete`: gone for good.
pub async fn gdpr_delete(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(file_id): Path<String>) -> ApiResult<Response> {
    caller.require(DELETE)?;
    let id = parse_file_id(&file_id)?;
    let mut files = st.files()?;
    files.files.remove(&id).ok_or_else(|| file_not_found(id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Default and largest `expirationSeconds` of a signed URL.
const DEFAULT_EXPIRY_SECS: i64 = 3600;
const MAX_EXPIRY_SECS: i64 = 7 * 24 * 3600;

/// `GET /files/v3/files/{fileId}/signed-url`.
pub async fn signed_url(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(file_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    caller.require(READ)?;
    let id = parse_file_id(&file_id)?;
    let params = Params::parse(q);
    let secs = match params.one("expirationSeconds") {
        None => DEFAULT_EXPIRY_SECS,
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if (1..=MAX_EXPIRY_SECS).contains(&n) => n,
            _ => {
                return Err(ApiError::validation(format!(
                    "expirationSeconds must be a whole number from 1 to {MAX_EXPIRY_SECS}, got {raw:?}"
                )))
            }
        },
    };
    let files = st.files()?;
    let f = files.live(id).ok_or_else(|| file_not_found(id))?;
    let expires_ms = if st.faults_snapshot().expired_signed_urls { st.clock.now_ms() - 1000 } else { st.clock.now_ms() + secs * 1000 };
    let expires = expires_ms / 1000;
    let sig = signature(&st, id, expires);
    let url = format!(
        "{}/hubfs-signed/{}/{}/{}?Expires={expires}&Signature={sig}",
        st.base_url,
        st.cfg.portal_id,
        id,
        crate::util::url_encode(&f.full_name())
    );
    Ok(axum::Json(json!({
        "url": url,
        "expiresAt": iso_ms(expires * 1000),
        "name": f.name,
        "extension": f.extension,
        "type": f.kind(),
        "size": f.bytes.len(),
    }))
    .into_response())
}

fn signature(st: &AppState, id: u64, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(st.files_key.as_bytes()).expect("any key length");
    mac.update(format!("{}:{id}:{expires}", st.cfg.portal_id).as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignedQuery {
    expires: Option<i64>,
    signature: Option<String>,
}

fn cdn_error(status: StatusCode, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message.to_string()).into_response()
}

/// `GET /hubfs-signed/{portal}/{fileId}/{name}?Expires=&Signature=`: the bytes behind a signed
/// URL (no token: the signature is the credential).
pub async fn serve_signed(
    State(st): State<Arc<AppState>>,
    Path((portal, file_id, _name)): Path<(u64, u64, String)>,
    axum::extract::Query(q): axum::extract::Query<SignedQuery>,
) -> Response {
    let (Some(expires), Some(sig)) = (q.expires, q.signature) else {
        return cdn_error(StatusCode::FORBIDDEN, "Access denied: this URL is not signed.");
    };
    if portal != st.cfg.portal_id || sig != signature(&st, file_id, expires) {
        return cdn_error(StatusCode::FORBIDDEN, "Access denied: invalid signature.");
    }
    if st.clock.now_ms() / 1000 >= expires {
        return cdn_error(StatusCode::FORBIDDEN, "Access denied: this signed URL has expired.");
    }
    let Ok(files) = st.files() else {
        return cdn_error(StatusCode::INTERNAL_SERVER_ERROR, "file store unavailable");
    };
    let Some(f) = files.live(file_id) else {
        return cdn_error(StatusCode::NOT_FOUND, "Not found: the file was deleted.");
    };
    let bytes = f.bytes.clone();
    let content_type = match f.extension.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "txt" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    };
    let disposition = format!("attachment; filename=\"{}\"", f.full_name().replace('"', ""));
    drop(files);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, bytes.len())
        .header(header::CONTENT_DISPOSITION, disposition)
        .body(Body::from(bytes.as_ref().clone()))
        .unwrap_or_else(|_| cdn_error(StatusCode::INTERNAL_SERVER_ERROR, "response"))
}

/// Seeds a few files and attaches them to notes: the first notes of the first contacts (by id)
/// get one or two attachments each (a small PDF-like document, a PNG, a CSV), deterministic per
/// seed.
pub fn seed(store: &mut crate::model::Store, files: &mut FileStore, seed: u64, now: i64) {
    let Some(ti) = store.resolve("notes") else { return };
    let Some(&key) = store.types[ti].prop_idx.get("hs_attachment_ids") else { return };
    let mut rng = crate::seed::Prng::new(seed ^ 0xF11E5);
    // Notes on contacts, in contact order, so the first contacts carry attachments.
    let mut notes: Vec<u64> = Vec::new();
    let contact_ids: Vec<u64> = store.types[0].records.keys().copied().take(60).collect();
    for c in contact_ids {
        for (n, _) in store.assoc.of(0, c, ti) {
            if !notes.contains(&n) && store.types[ti].records.contains_key(&n) {
                notes.push(n);
            }
        }
        if notes.len() >= 8 {
            break;
        }
    }
    for (i, note) in notes.into_iter().enumerate() {
        let mut ids = Vec::new();
        let count = if i % 3 == 0 { 2 } else { 1 };
        for j in 0..count {
            let (name, bytes) = match (i + j) % 3 {
                0 => {
                    let mut b = format!("%PDF-1.4\n% Northwind proposal {i}-{j}\n").into_bytes();
                    b.extend((0..2048 + rng.below(4096)).map(|_| rng.below(256) as u8));
                    b.extend_from_slice(b"\n%%EOF\n");
                    (format!("Proposal {}.pdf", i + 1), b)
                }
                1 => {
                    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
                    b.extend((0..1024 + rng.below(2048)).map(|_| rng.below(256) as u8));
                    (format!("whiteboard-{}.png", i + 1), b)
                }
                _ => {
                    let mut s = String::from("sku,quantity,price\n");
                    for k in 0..(5 + rng.below(20)) {
                        s.push_str(&format!("NW-{:04},{},{}.{:02}\n", k, 1 + rng.below(50), 10 + rng.below(900), rng.below(100)));
                    }
                    (format!("order-lines-{}.csv", i + 1), s.into_bytes())
                }
            };
            ids.push(files.add(&name, "/notes-attachments", "PRIVATE", bytes, now).to_string());
        }
        if let Some(r) = store.types[ti].records.get_mut(&note) {
            r.apply(&[(key, ids.join(";"))]);
        }
    }
}
