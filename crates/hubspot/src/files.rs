//! Files API v3: upload, get, signed URL, archive, and streaming the bytes of a signed URL.
//!
//! Every API call goes through [`Client::send`] (governor, auth, retries, error mapping). The
//! download of a signed URL is not a HubSpot API call (it is served by HubSpot's CDN, carries
//! its own signature and counts against no API limit): it is sent without the bearer token, so
//! the token never leaves for another host, and streamed in chunks to the caller's sink.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::client::{Client, Multipart, Request};
use crate::Error;

/// A file in HubSpot's file manager (`File` in the spec).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    pub id: String,
    /// Without the extension.
    pub name: Option<String>,
    /// Without the dot (`pdf`).
    pub extension: Option<String>,
    /// `IMG`, `DOCUMENT`, `AUDIO`, `MOVIE` or `OTHER`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub size: Option<u64>,
    pub access: Option<String>,
    pub path: Option<String>,
    pub url: Option<String>,
    pub parent_folder_id: Option<String>,
    #[serde(default)]
    pub archived: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// `GET /files/v3/files/{fileId}/signed-url` answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedUrl {
    pub url: String,
    pub expires_at: Option<String>,
    pub name: Option<String>,
    pub extension: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub size: Option<u64>,
}

/// Who may see an uploaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAccess {
    /// Only through signed URLs (note attachments).
    Private,
    /// Private and hidden from the file manager's UI.
    HiddenPrivate,
    PublicNotIndexable,
    PublicIndexable,
}

impl FileAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            FileAccess::Private => "PRIVATE",
            FileAccess::HiddenPrivate => "HIDDEN_PRIVATE",
            FileAccess::PublicNotIndexable => "PUBLIC_NOT_INDEXABLE",
            FileAccess::PublicIndexable => "PUBLIC_INDEXABLE",
        }
    }
}

/// A file to upload with `POST /files/v3/files`.
#[derive(Clone)]
pub struct FileUpload {
    /// The name with its extension (`contract.pdf`).
    pub file_name: String,
    /// Destination folder; created when missing (`/spoke/attachments`).
    pub folder_path: String,
    pub access: FileAccess,
    pub content_type: String,
    pub bytes: Arc<Vec<u8>>,
    /// Upload with `duplicateValidationStrategy: RETURN_EXISTING` in the `EXACT_FOLDER`: when
    /// the same file (name and bytes) is already in the folder, HubSpot returns it instead of
    /// storing a second copy — so an upload repeated after a crash stores nothing twice.
    pub return_existing: bool,
}

impl std::fmt::Debug for FileUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileUpload({}, {} bytes)", self.file_name, self.bytes.len())
    }
}

/// File ids are numbers; anything else never reaches a path.
fn file_id(id: &str) -> Result<&str, Error> {
    let id = id.trim();
    if !id.is_empty() && id.len() <= 20 && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(Error::Api {
            status: 400,
            category: Some("VALIDATION_ERROR".to_owned()),
            message: Some(format!("{id:?} is not a HubSpot file id (a number)")),
            correlation_id: None,
        })
    }
}

impl Client {
    /// `POST /files/v3/files`: uploads one file. Not retried after a 5xx or timeout (a retry
    /// could store the file twice).
    pub async fn upload_file(&self, upload: &FileUpload) -> Result<FileInfo, Error> {
        let mut options = serde_json::json!({ "access": upload.access.as_str() });
        if upload.return_existing {
            options["duplicateValidationStrategy"] = "RETURN_EXISTING".into();
            options["duplicateValidationScope"] = "EXACT_FOLDER".into();
        }
        let options = options.to_string();
        let body = Multipart {
            text: vec![
                ("fileName".to_owned(), upload.file_name.clone()),
                ("folderPath".to_owned(), upload.folder_path.clone()),
                ("options".to_owned(), options),
            ],
            file: Some((
                "file".to_owned(),
                upload.file_name.clone(),
                upload.content_type.clone(),
                upload.bytes.clone(),
            )),
        };
        let req = Request::post("/files/v3/files").multipart(body);
        self.send(req).await?.json()
    }

    /// `GET /files/v3/files/{fileId}`.
    pub async fn get_file(&self, id: &str) -> Result<FileInfo, Error> {
        let req = Request::get(format!("/files/v3/files/{}", file_id(id)?));
        self.send(req).await?.json()
    }

    /// `GET /files/v3/files/{fileId}/signed-url`: a URL anyone holding it may download from until
    /// it expires (`expiration_secs`, HubSpot's default one hour when `None`).
    pub async fn file_signed_url(
        &self,
        id: &str,
        expiration_secs: Option<u32>,
    ) -> Result<SignedUrl, Error> {
        let mut req = Request::get(format!("/files/v3/files/{}/signed-url", file_id(id)?));
        if let Some(secs) = expiration_secs {
            req = req.query("expirationSeconds", secs.to_string());
        }
        self.send(req).await?.json()
    }

    /// `DELETE /files/v3/files/{fileId}`: archives the file.
    pub async fn archive_file(&self, id: &str) -> Result<(), Error> {
        let req = Request::new(
            reqwest::Method::DELETE,
            format!("/files/v3/files/{}", file_id(id)?),
        );
        self.send(req).await.map(|_| ())
    }

    /// Streams the bytes behind a signed URL into `sink`, chunk by chunk, and returns how many
    /// were written. Refuses more than `max_bytes` (by `Content-Length` up front, and while
    /// reading). Sent without the bearer token; not retried (the caller starts the file over).
    pub async fn download_signed(
        &self,
        url: &str,
        max_bytes: u64,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, Error> {
        let parsed = url::Url::parse(url).map_err(|_| Error::Decode(format!("{url:?} is not a URL")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Decode(format!("{url:?} is not an http(s) URL")));
        }
        let network = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout { attempts: 1 }
            } else {
                Error::Network {
                    // Without the URL: its signature grants access to the file.
                    detail: e.without_url().to_string(),
                    attempts: 1,
                }
            }
        };
        let mut response = self
            .http()
            .get(parsed)
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .map_err(network)?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let message = Some(text.trim().chars().take(200).collect::<String>()).filter(|t| !t.is_empty());
            return Err(match status.as_u16() {
                404 => Error::NotFound {
                    message,
                    correlation_id: None,
                },
                s => Error::DownloadRefused { status: s, message },
            });
        }
        if let Some(len) = response.content_length() {
            if len > max_bytes {
                return Err(Error::FileTooLarge {
                    size: len,
                    limit: max_bytes,
                });
            }
        }
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            written += chunk.len() as u64;
            if written > max_bytes {
                return Err(Error::FileTooLarge {
                    size: written,
                    limit: max_bytes,
                });
            }
            sink(&chunk).map_err(|e| Error::LocalWrite(e.to_string()))?;
        }
        Ok(written)
    }
}
