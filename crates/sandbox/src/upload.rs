//! Notion's File Upload API (`/v1/file_uploads`): create (single_part, multi_part, external_url),
//! send a file or a part, complete a multi-part upload, retrieve (which moves an import along),
//! list; expiry, and attachment to pages. Only lengths and SHA-256 digests are kept in memory:
//! the parts of a multi-part upload wait in a spool directory on disk until `complete` hashes
//! them in part order and deletes them.

use super::error::ApiError;
use super::model::{normalize_id, random_uuid, INTEGRATION_BOT_ID};
use super::render::{cursor, parse_cursor, parse_page_size, time};
use super::validate::{object, one_of, only_keys, string};
use super::version::ApiVersion;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

/// Most bytes one `send` may carry (a single-part file, or one part): 20 MiB.
pub const MAX_PART_BYTES: u64 = 20 * 1024 * 1024;
/// Fewest bytes of every part of a multi-part upload but the last: 5 MiB.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// Most parts of a multi-part upload.
pub const MAX_PARTS: u32 = 1000;
/// Most bytes (UTF-8) of a filename.
pub const MAX_FILENAME_BYTES: usize = 900;
/// The per-file limit of a paid workspace (5 GiB), `--max-file-upload-size`'s default.
pub const DEFAULT_MAX_FILE_UPLOAD_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Retrieves after which an `external_url` import is done, `--import-polls`'s default.
pub const DEFAULT_IMPORT_POLLS: u32 = 1;
/// How long an upload may wait to be attached.
const EXPIRY_HOURS: i64 = 1;
/// A URL with this in it fails to import (the sandbox fetches nothing).
const IMPORT_FAILS: &str = "import-fails";
/// A URL with this in it is refused at create as larger than the per-file limit.
const IMPORT_TOO_LARGE: &str = "import-too-large";
/// Where hosted files live (never fetched).
const FILES_HOST: &str = "https://files.sandbox.invalid";

/// How a file upload gets its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    SinglePart,
    MultiPart,
    ExternalUrl,
}

impl Mode {
    const NAMES: [&'static str; 3] = ["single_part", "multi_part", "external_url"];

    fn as_str(self) -> &'static str {
        match self {
            Mode::SinglePart => "single_part",
            Mode::MultiPart => "multi_part",
            Mode::ExternalUrl => "external_url",
        }
    }
}

/// Where a file upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Pending,
    Uploaded,
    Expired,
    Failed,
}

impl Status {
    const NAMES: [&'static str; 4] = ["pending", "uploaded", "expired", "failed"];

    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Uploaded => "uploaded",
            Status::Expired => "expired",
            Status::Failed => "failed",
        }
    }

    /// The `status` query parameter of the list.
    pub(crate) fn parse(text: &str) -> Result<Status, ApiError> {
        [
            Status::Pending,
            Status::Uploaded,
            Status::Expired,
            Status::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| {
            ApiError::validation(format!(
                "query failed validation: query.status should be {}, instead was `\"{text}\"`.",
                one_of(&Status::NAMES)
            ))
        })
    }
}

/// One part of a multi-part upload, waiting on disk.
#[derive(Debug, Clone)]
struct Part {
    len: u64,
    path: PathBuf,
}

/// One file upload as stored: no bytes, only lengths and digests.
#[derive(Debug, Clone)]
pub(crate) struct FileUpload {
    id: String,
    created_time: DateTime<Utc>,
    last_edited_time: DateTime<Utc>,
    /// `None` once attached (the file is then permanent).
    expiry_time: Option<DateTime<Utc>>,
    mode: Mode,
    status: Status,
    filename: Option<String>,
    content_type: Option<String>,
    content_length: Option<u64>,
    /// multi_part: the parts announced, and those received (by part number).
    total_parts: Option<u32>,
    parts: BTreeMap<u32, Part>,
    external_url: Option<String>,
    /// external_url: retrieves so far.
    retrieves: u32,
    imported_time: Option<DateTime<Utc>>,
    /// Hex SHA-256 of the content (an import: of its URL), once uploaded.
    sha256: Option<String>,
    attached: bool,
}

impl FileUpload {
    /// The link of the hosted file this upload becomes when attached.
    fn hosted_url(&self) -> String {
        let name = self.filename.as_deref().unwrap_or("file");
        format!(
            "{FILES_HOST}/{}/{}",
            self.id,
            utf8_percent_encode(name, NON_ALPHANUMERIC)
        )
    }
}

/// The hosted file an attachable upload becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hosted {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) filename: String,
}

/// Counters of `/__sandbox/stats`' `file_uploads`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UploadStats {
    /// Uploads created (every mode).
    pub created: u64,
    /// Sends accepted (a single-part file counts as one part; a resent part counts again).
    pub parts_received: u64,
    /// Bytes of the sends accepted.
    pub bytes_received: u64,
    /// Uploads that reached status `uploaded` (imports too).
    pub uploaded: u64,
    /// Uploads created in mode `external_url`.
    pub imports: u64,
    /// Imports that ended `failed`.
    pub failed: u64,
    /// Uploads that became `expired`.
    pub expired: u64,
    /// Uploads attached at least once.
    pub attached: u64,
    /// Attachments applied (an upload attached to three values counts three).
    pub attachments: u64,
    /// Uploads that reached `uploaded` with the same content SHA-256 as an earlier one.
    pub duplicate_uploads: u64,
}

/// A directory for the parts of multi-part uploads, removed when the sandbox goes.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
}

impl Default for Spool {
    fn default() -> Self {
        Spool {
            dir: std::env::temp_dir().join(format!(
                "notion-sandbox-{}-{}",
                std::process::id(),
                random_uuid()
            )),
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn io_error(what: &str, e: std::io::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_server_error",
        format!("The sandbox could not {what} in its spool directory: {e}."),
    )
}

impl Spool {
    /// Write one part's bytes to a file of its own (outside the store's lock); the file goes
    /// when the [`Staged`] is dropped, unless a send kept it.
    pub(crate) fn stage(&self, bytes: &[u8]) -> Result<Staged, ApiError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| io_error("create a directory", e))?;
        let path = self.dir.join(format!("staged-{}", random_uuid()));
        std::fs::write(&path, bytes).map_err(|e| io_error("write a part", e))?;
        Ok(Staged { path: Some(path) })
    }
}

/// A part written to the spool, not yet kept by an upload.
#[derive(Debug)]
pub(crate) struct Staged {
    path: Option<PathBuf>,
}

impl Staged {
    /// Keep the file at `to` (replacing a part sent before).
    fn keep(mut self, to: &PathBuf) -> Result<(), ApiError> {
        let Some(from) = self.path.take() else {
            return Ok(());
        };
        std::fs::rename(&from, to).map_err(|e| {
            let _ = std::fs::remove_file(&from);
            io_error("keep a part", e)
        })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A file as one send carried it: its length and digest, its form filename and type, and (for
/// a part) its bytes staged in the spool.
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) len: u64,
    pub(crate) sha256: String,
    pub(crate) filename: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) part_number: Option<String>,
    pub(crate) staged: Option<Staged>,
}

/// Hex SHA-256 of bytes.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A checked create body.
#[derive(Debug, Clone)]
pub(crate) struct NewUpload {
    mode: Mode,
    filename: Option<String>,
    content_type: Option<String>,
    number_of_parts: Option<u32>,
    external_url: Option<String>,
}

/// Check a `POST /v1/file_uploads` body against the per-file limit `max_size`.
pub(crate) fn check_create(body: &Value, max_size: u64) -> Result<NewUpload, ApiError> {
    let m = object(body, "body")?;
    only_keys(
        m,
        &[
            "mode",
            "filename",
            "content_type",
            "number_of_parts",
            "external_url",
        ],
        "body",
    )?;
    let mode = match m.get("mode") {
        None | Some(Value::Null) => Mode::SinglePart,
        Some(v) => match v.as_str() {
            Some("single_part") => Mode::SinglePart,
            Some("multi_part") => Mode::MultiPart,
            Some("external_url") => Mode::ExternalUrl,
            _ => return Err(ApiError::body("body.mode", &one_of(&Mode::NAMES), Some(v))),
        },
    };
    let filename = match m.get("filename") {
        None | Some(Value::Null) => None,
        Some(v) => Some(check_filename(
            string(v, "body.filename")?,
            "body.filename",
        )?),
    };
    let content_type = match m.get("content_type") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let t = string(v, "body.content_type")?;
            if !t.contains('/') || t.chars().any(char::is_whitespace) {
                return Err(ApiError::body(
                    "body.content_type",
                    "a MIME type such as `\"application/pdf\"`",
                    Some(v),
                ));
            }
            Some(t.to_string())
        }
    };
    let only_for = |key: &str, wanted: Mode| -> Result<(), ApiError> {
        if m.get(key).is_some_and(|v| !v.is_null()) && mode != wanted {
            return Err(ApiError::validation(format!(
                "body failed validation: body.{key} is only allowed when body.mode is `\"{}\"`, and mode is `\"{}\"`.",
                wanted.as_str(),
                mode.as_str()
            )));
        }
        Ok(())
    };
    only_for("number_of_parts", Mode::MultiPart)?;
    only_for("external_url", Mode::ExternalUrl)?;
    let mut new = NewUpload {
        mode,
        filename,
        content_type,
        number_of_parts: None,
        external_url: None,
    };
    match mode {
        Mode::SinglePart => {}
        Mode::MultiPart => {
            if new.filename.is_none() {
                return Err(ApiError::body(
                    "body.filename",
                    "defined when body.mode is `\"multi_part\"`",
                    None,
                ));
            }
            let v = m.get("number_of_parts");
            let n = v
                .and_then(Value::as_u64)
                .filter(|n| (1..=u64::from(MAX_PARTS)).contains(n))
                .ok_or_else(|| {
                    ApiError::body(
                        "body.number_of_parts",
                        &format!(
                            "an integer from 1 to {MAX_PARTS} when body.mode is `\"multi_part\"`"
                        ),
                        v,
                    )
                })?;
            new.number_of_parts = u32::try_from(n).ok();
        }
        Mode::ExternalUrl => {
            let v = m.get("external_url");
            let url = v
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::body(
                        "body.external_url",
                        "a string when body.mode is `\"external_url\"`",
                        v,
                    )
                })?
                .trim();
            let host = url
                .get(..8)
                .filter(|s| s.eq_ignore_ascii_case("https://"))
                .map(|_| &url[8..])
                .unwrap_or("");
            if host.is_empty() || host.starts_with('/') {
                return Err(ApiError::validation(format!(
                    "The external_url `{url}` is not an https:// URL: Notion imports files only from SSL-enabled, publicly accessible URLs."
                )));
            }
            if url.contains(IMPORT_TOO_LARGE) {
                return Err(ApiError::validation(format!(
                    "The file at external_url `{url}` is larger than this workspace's per-file limit of {max_size} bytes."
                )));
            }
            if new.filename.is_none() {
                let last = url
                    .split(['?', '#'])
                    .next()
                    .and_then(|u| u.rsplit('/').next())
                    .filter(|s| !s.is_empty() && s.len() <= MAX_FILENAME_BYTES);
                new.filename = last.map(str::to_string);
            }
            new.external_url = Some(url.to_string());
        }
    }
    Ok(new)
}

fn check_filename(name: &str, path: &str) -> Result<String, ApiError> {
    if name.is_empty() {
        return Err(ApiError::validation(format!(
            "body failed validation: {path} should not be empty."
        )));
    }
    if name.len() > MAX_FILENAME_BYTES {
        return Err(ApiError::validation(format!(
            "body failed validation: {path} should be at most {MAX_FILENAME_BYTES} bytes long, instead was {} bytes.",
            name.len()
        )));
    }
    Ok(name.to_string())
}

/// Every file upload, with the settings and counters about them.
#[derive(Debug, Clone)]
pub(crate) struct Uploads {
    by_id: HashMap<String, FileUpload>,
    /// Ids in creation order.
    order: Vec<String>,
    /// The per-file limit (`--max-file-upload-size`).
    pub(crate) max_size: u64,
    /// Retrieves until an import is done (`--import-polls`).
    pub(crate) import_polls: u32,
    /// Content digests of the uploads that reached `uploaded`.
    seen: HashSet<String>,
    pub(crate) stats: UploadStats,
    pub(crate) spool: Arc<Spool>,
}

impl Default for Uploads {
    fn default() -> Self {
        Uploads {
            by_id: HashMap::new(),
            order: Vec::new(),
            max_size: DEFAULT_MAX_FILE_UPLOAD_SIZE,
            import_polls: DEFAULT_IMPORT_POLLS,
            seen: HashSet::new(),
            stats: UploadStats::default(),
            spool: Arc::new(Spool::default()),
        }
    }
}

/// A path's upload id, or Notion's 404 for it.
fn not_found(id: &str) -> ApiError {
    ApiError::not_found("file upload", id)
}

impl Uploads {
    fn get_mut(&mut self, id: &str) -> Result<&mut FileUpload, ApiError> {
        self.by_id.get_mut(id).ok_or_else(|| not_found(id))
    }

    pub(crate) fn get(&self, id: &str) -> Result<&FileUpload, ApiError> {
        self.by_id.get(id).ok_or_else(|| not_found(id))
    }

    /// Expire every unattached upload whose expiry time has passed (or, with `all`, every
    /// unattached pending or uploaded one); returns how many expired.
    pub(crate) fn expire(&mut self, now: DateTime<Utc>, all: bool) -> u64 {
        let mut n = 0;
        for u in self.by_id.values_mut() {
            let due = all || u.expiry_time.is_some_and(|t| t <= now);
            if u.attached || !due || !matches!(u.status, Status::Pending | Status::Uploaded) {
                continue;
            }
            u.status = Status::Expired;
            u.last_edited_time = now;
            if all {
                u.expiry_time = Some(now);
            }
            for part in std::mem::take(&mut u.parts).into_values() {
                let _ = std::fs::remove_file(part.path);
            }
            n += 1;
        }
        self.stats.expired += n;
        n
    }

    /// A new upload, `pending`.
    pub(crate) fn create(&mut self, new: NewUpload, now: DateTime<Utc>) -> &FileUpload {
        let id = random_uuid();
        self.stats.created += 1;
        if new.mode == Mode::ExternalUrl {
            self.stats.imports += 1;
        }
        let upload = FileUpload {
            id: id.clone(),
            created_time: now,
            last_edited_time: now,
            expiry_time: Some(now + chrono::Duration::hours(EXPIRY_HOURS)),
            mode: new.mode,
            status: Status::Pending,
            filename: new.filename,
            content_type: new.content_type,
            content_length: None,
            total_parts: new.number_of_parts,
            parts: BTreeMap::new(),
            external_url: new.external_url,
            retrieves: 0,
            imported_time: None,
            sha256: None,
            attached: false,
        };
        self.order.push(id.clone());
        self.by_id.entry(id).or_insert(upload)
    }

    /// The upload reached `uploaded` with content `sha256`: counted, and a duplicate when an
    /// earlier upload had the same content.
    fn uploaded(&mut self, id: &str, sha256: String, now: DateTime<Utc>) {
        self.stats.uploaded += 1;
        if !self.seen.insert(sha256.clone()) {
            self.stats.duplicate_uploads += 1;
        }
        if let Some(u) = self.by_id.get_mut(id) {
            u.status = Status::Uploaded;
            u.sha256 = Some(sha256);
            u.last_edited_time = now;
        }
    }

    /// `POST /v1/file_uploads/{id}/send`: a single-part file, or one part of a multi-part one
    /// (sending a part again replaces it).
    pub(crate) fn send(
        &mut self,
        id: &str,
        sent: Sent,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let max_size = self.max_size;
        let spool_dir = self.spool.dir.clone();
        let u = self.get_mut(id)?;
        if u.mode == Mode::ExternalUrl {
            return Err(ApiError::validation(format!(
                "File upload {id} is in mode `external_url`: Notion imports its file from the URL, and it takes no content by send."
            )));
        }
        refuse_unless_pending(u)?;
        if sent.len > MAX_PART_BYTES {
            return Err(ApiError::validation(format!(
                "The file sent is {} bytes, more than the {MAX_PART_BYTES} bytes (20 MiB) one send may carry: send a larger file in mode `multi_part`, in parts of 5 to 20 MiB.",
                sent.len
            )));
        }
        match u.mode {
            Mode::SinglePart => {
                if sent.part_number.is_some() {
                    return Err(ApiError::validation(format!(
                        "File upload {id} is in mode `single_part`: send it without a part_number."
                    )));
                }
                if sent.len > max_size {
                    return Err(too_large(sent.len, max_size));
                }
                u.content_length = Some(sent.len);
                if u.filename.is_none() {
                    u.filename = sent.filename.clone();
                }
                if u.content_type.is_none() {
                    u.content_type = sent.content_type.clone();
                }
                self.stats.parts_received += 1;
                self.stats.bytes_received += sent.len;
                self.uploaded(id, sent.sha256, now);
            }
            Mode::MultiPart | Mode::ExternalUrl => {
                let total = u.total_parts.unwrap_or(1);
                let number = sent
                    .part_number
                    .as_deref()
                    .and_then(|p| p.trim().parse::<u32>().ok())
                    .filter(|n| (1..=total).contains(n))
                    .ok_or_else(|| {
                        ApiError::validation(format!(
                            "body failed validation: body.part_number should be an integer from 1 to {total} (the upload's number_of_parts), instead was `{}`.",
                            sent.part_number.as_deref().unwrap_or("undefined")
                        ))
                    })?;
                let others: u64 = u
                    .parts
                    .iter()
                    .filter(|(n, _)| **n != number)
                    .map(|(_, p)| p.len)
                    .sum();
                if others + sent.len > max_size {
                    return Err(too_large(others + sent.len, max_size));
                }
                let path = spool_dir.join(format!("{id}-{number}"));
                if let Some(staged) = sent.staged {
                    staged.keep(&path)?;
                }
                u.parts.insert(
                    number,
                    Part {
                        len: sent.len,
                        path,
                    },
                );
                u.last_edited_time = now;
                if u.content_type.is_none() {
                    u.content_type = sent.content_type;
                }
                self.stats.parts_received += 1;
                self.stats.bytes_received += sent.len;
            }
        }
        Ok(())
    }

    /// `POST /v1/file_uploads/{id}/complete`: every part there and of the right size; the
    /// content is then hashed in part order, and the parts' files removed.
    pub(crate) fn complete(&mut self, id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        let u = self.get_mut(id)?;
        if u.mode != Mode::MultiPart {
            return Err(ApiError::validation(format!(
                "File upload {id} is in mode `{}`: only a `multi_part` upload is completed.",
                u.mode.as_str()
            )));
        }
        refuse_unless_pending(u)?;
        let total = u.total_parts.unwrap_or(1);
        let missing: Vec<String> = (1..=total)
            .filter(|n| !u.parts.contains_key(n))
            .map(|n| n.to_string())
            .collect();
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
            return Err(ApiError::validation(format!(
                "File upload {id} expects {total} parts and has received {}: part {}{} missing. Send every part from 1 to {total}, then complete the upload.",
                u.parts.len(),
                shown.join(", "),
                if missing.len() > shown.len() { ", …" } else { "" },
            )));
        }
        if let Some((n, p)) = u
            .parts
            .iter()
            .find(|(n, p)| **n < total && p.len < MIN_PART_BYTES)
        {
            return Err(ApiError::validation(format!(
                "Part {n} of file upload {id} is {} bytes: every part but the last must be at least {MIN_PART_BYTES} bytes (5 MiB) and at most {MAX_PART_BYTES} bytes (20 MiB). Send that part again with the right size, then complete the upload.",
                p.len
            )));
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        for part in u.parts.values() {
            let mut f = std::fs::File::open(&part.path).map_err(|e| io_error("read a part", e))?;
            loop {
                let n = f.read(&mut buf).map_err(|e| io_error("read a part", e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
        u.content_length = Some(u.parts.values().map(|p| p.len).sum());
        for part in u.parts.values() {
            let _ = std::fs::remove_file(&part.path);
        }
        let sha = hex(&hasher.finalize());
        self.uploaded(id, sha, now);
        Ok(())
    }

    /// `GET /v1/file_uploads/{id}`: a pending import moves along, and is done (uploaded, or
    /// failed for a URL with `import-fails` in it) on the `--import-polls`-th retrieve.
    pub(crate) fn retrieve(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<&FileUpload, ApiError> {
        let polls = self.import_polls;
        let u = self.get_mut(id)?;
        if u.mode == Mode::ExternalUrl && u.status == Status::Pending {
            u.retrieves += 1;
            if u.retrieves >= polls {
                let url = u.external_url.clone().unwrap_or_default();
                u.imported_time = Some(now);
                u.last_edited_time = now;
                if url.contains(IMPORT_FAILS) {
                    u.status = Status::Failed;
                    self.stats.failed += 1;
                } else {
                    self.uploaded(id, sha256_hex(url.as_bytes()), now);
                }
            }
        }
        self.get(id)
    }

    /// The uploads in creation order, newest first as Notion lists them, optionally of one status.
    pub(crate) fn list(&self, status: Option<Status>) -> Vec<&FileUpload> {
        self.order
            .iter()
            .rev()
            .filter_map(|id| self.by_id.get(id))
            .filter(|u| status.is_none_or(|s| u.status == s))
            .collect()
    }

    /// Whether a body may attach upload `raw_id`: it must exist and be `uploaded`.
    pub(crate) fn hosted(&self, raw_id: &str) -> Result<Hosted, String> {
        let id = normalize_id(raw_id).unwrap_or_else(|| raw_id.to_string());
        let Some(u) = self.by_id.get(&id) else {
            return Err(
                "does not exist (create it with POST /v1/file_uploads and send its content first)"
                    .into(),
            );
        };
        match u.status {
            Status::Uploaded => Ok(Hosted {
                id: u.id.clone(),
                url: u.hosted_url(),
                filename: u.filename.clone().unwrap_or_else(|| "file".into()),
            }),
            Status::Pending if u.mode == Mode::ExternalUrl => Err("is still pending: its import from external_url is not done; retrieve it until its status is `uploaded`".into()),
            Status::Pending => Err("is still pending: send its content (and complete a multi_part upload) before attaching it".into()),
            Status::Expired => Err("has expired: it was not attached within an hour of its creation; upload the file again".into()),
            Status::Failed => Err("failed to import from its external_url; create a new upload".into()),
        }
    }

    /// Uploads attached by an applied write: permanent from now on.
    pub(crate) fn attach(&mut self, ids: &[String]) {
        for id in ids {
            if let Some(u) = self.by_id.get_mut(id) {
                self.stats.attachments += 1;
                if !u.attached {
                    u.attached = true;
                    u.expiry_time = None;
                    self.stats.attached += 1;
                }
            }
        }
    }
}

fn refuse_unless_pending(u: &FileUpload) -> Result<(), ApiError> {
    let why = match u.status {
        Status::Pending => return Ok(()),
        Status::Uploaded => {
            "is already uploaded: it takes no more content; attach it, or create a new upload"
        }
        Status::Expired => "has expired: create a new upload",
        Status::Failed => "has failed: create a new upload",
    };
    Err(ApiError::validation(format!("File upload {} {why}.", u.id)))
}

fn too_large(len: u64, max: u64) -> ApiError {
    ApiError::validation(format!(
        "The file is {len} bytes, more than this workspace's per-file limit of {max} bytes (bot.workspace_limits.max_file_upload_size_in_bytes)."
    ))
}

/// The file_upload object, as Notion answers it.
pub(crate) fn render(u: &FileUpload, base_url: &str, version: ApiVersion) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("object".into(), json!("file_upload"));
    out.insert("id".into(), json!(u.id));
    out.insert("created_time".into(), json!(time(u.created_time)));
    out.insert(
        "created_by".into(),
        json!({"id": INTEGRATION_BOT_ID, "type": "bot"}),
    );
    out.insert("last_edited_time".into(), json!(time(u.last_edited_time)));
    out.insert("expiry_time".into(), json!(u.expiry_time.map(time)));
    if u.mode != Mode::ExternalUrl {
        out.insert(
            "upload_url".into(),
            json!(format!("{base_url}/v1/file_uploads/{}/send", u.id)),
        );
    }
    if u.mode == Mode::MultiPart {
        out.insert(
            "complete_url".into(),
            json!(format!("{base_url}/v1/file_uploads/{}/complete", u.id)),
        );
    }
    if version.has_archived() {
        out.insert("archived".into(), json!(false));
    }
    out.insert("in_trash".into(), json!(false));
    out.insert("status".into(), json!(u.status.as_str()));
    out.insert("filename".into(), json!(u.filename));
    out.insert("content_type".into(), json!(u.content_type));
    out.insert("content_length".into(), json!(u.content_length));
    if let Some(total) = u.total_parts {
        out.insert(
            "number_of_parts".into(),
            json!({"total": total, "sent": u.parts.len()}),
        );
    }
    if let Some(at) = u.imported_time {
        let result = if u.status == Status::Failed {
            json!({"imported_time": time(at), "type": "error", "error": {
                "type": "download_error",
                "code": "download_failed",
                "message": format!("The file at {} could not be downloaded (the sandbox fails every URL with `{IMPORT_FAILS}` in it).", u.external_url.as_deref().unwrap_or("")),
                "parameter": "external_url",
                "status_code": 404,
            }})
        } else {
            json!({"imported_time": time(at), "type": "success", "success": {}})
        };
        out.insert("file_import_result".into(), result);
    }
    Value::Object(out)
}

/// `/__sandbox/uploads`: every upload with what the sandbox knows of its content.
pub(crate) fn introspect(uploads: &Uploads) -> Value {
    let items: Vec<Value> = uploads
        .order
        .iter()
        .filter_map(|id| uploads.by_id.get(id))
        .map(|u| {
            json!({
                "id": u.id,
                "mode": u.mode,
                "status": u.status,
                "filename": u.filename,
                "content_type": u.content_type,
                "content_length": u.content_length,
                "sha256": u.sha256,
                "number_of_parts": u.total_parts,
                "parts": u.parts.iter().map(|(n, p)| json!({"part_number": n, "length": p.len})).collect::<Vec<_>>(),
                "external_url": u.external_url,
                "attached": u.attached,
                "expiry_time": u.expiry_time.map(time),
            })
        })
        .collect();
    json!({"uploads": items, "stats": uploads.stats})
}

/// `GET /v1/file_uploads`: one page of the uploads (newest first), optionally of one status.
pub(crate) fn list_page(
    uploads: &Uploads,
    status: Option<&str>,
    start_cursor: Option<&str>,
    page_size: Option<&str>,
    base_url: &str,
    version: ApiVersion,
) -> Result<Value, ApiError> {
    let status = status.map(Status::parse).transpose()?;
    let all = uploads.list(status);
    let size = parse_page_size(page_size)?;
    let start = parse_cursor(start_cursor, all.len())?;
    let end = (start + size).min(all.len());
    let has_more = end < all.len();
    Ok(json!({
        "object": "list",
        "results": all[start..end].iter().map(|u| render(u, base_url, version)).collect::<Vec<_>>(),
        "next_cursor": if has_more { Value::String(cursor(end)) } else { Value::Null },
        "has_more": has_more,
        "type": "file_upload",
        "file_upload": {},
    }))
}

/// `POST /v1/file_uploads`, `POST …/send` or `POST …/complete`: the upload requests that
/// change something, which the drawn faults apply to.
pub(crate) fn is_upload_write(method: &str, path: &str) -> bool {
    method == "POST"
        && path.strip_prefix("/v1/file_uploads").is_some_and(|rest| {
            rest.is_empty()
                || rest == "/"
                || rest
                    .strip_prefix('/')
                    .and_then(|r| {
                        r.strip_suffix("/send")
                            .or_else(|| r.strip_suffix("/complete"))
                    })
                    .is_some_and(|id| !id.is_empty() && !id.contains('/'))
        })
}

/// `POST /v1/file_uploads/{id}/send`: the one route whose body is multipart/form-data, up to a
/// 20 MiB file.
pub(crate) fn is_upload_send(method: &str, path: &str) -> bool {
    method == "POST"
        && path
            .strip_prefix("/v1/file_uploads/")
            .and_then(|r| r.strip_suffix("/send"))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}
