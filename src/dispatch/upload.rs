//! Files copied into Notion before the row that names them is sent (issue 21): each distinct
//! file once per run (by its content's SHA-256; an `upload:` URL by the URL), through Notion's
//! File Upload API — `POST /v1/file_uploads`, then one `send` (up to 20 MiB) or parts of
//! 10 MiB and a `complete`, or `mode: external_url` and polls until Notion has the file —, on
//! the run's limiter and retry table. The body's placeholders (`crate::mapping::file`) become
//! `{"file_upload": {"id"}}`.
//!
//! Every upload is written ahead to `<report>.uploads` (created, uploaded, attached), so that a
//! resumed run finds the uploads a killed run made and uses them again — sending the bytes to
//! the same upload if they had not all arrived — instead of uploading the file twice.

use std::collections::HashMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::Digest;
use tokio::sync::OnceCell;

use crate::mapping::file::FileSource;
use crate::notion::client::Reply;
use crate::transport::{read_json, read_result, send, Sent, Shared};

/// Largest file sent in one request (Notion: "≤ 20 MB" single part).
pub const SINGLE_PART_MAX: u64 = 20 * 1024 * 1024;
/// The part size of a multi-part upload (Notion recommends 10 MB; parts are 5–20 MiB).
pub const PART_BYTES: u64 = 10 * 1024 * 1024;
/// An upload not yet attached is made again when it expires within this margin.
const EXPIRY_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Polls of an `external_url` import before the row gives up on it.
const IMPORT_POLLS: u32 = 40;

/// The run's uploads: what earlier runs (the journal) and this one have made.
pub struct Uploads {
    journal_path: PathBuf,
    journal: Mutex<Option<std::fs::File>>,
    /// From `<report>.uploads` (with `--resume`): the last upload of each file.
    earlier: HashMap<String, Journaled>,
    /// The content hash of each local path read so far.
    hashes: Mutex<HashMap<PathBuf, Arc<OnceCell<String>>>>,
    /// Each file's upload in this run (made once, whoever asks first).
    made: Mutex<HashMap<String, Arc<OnceCell<Arc<Made>>>>>,
}

#[derive(Debug, Clone)]
struct Journaled {
    id: String,
    uploaded: bool,
    attached: bool,
}

/// One file's upload in this run.
#[derive(Debug)]
struct Made {
    id: String,
    expiry: Option<chrono::DateTime<chrono::Utc>>,
    attached: AtomicBool,
}

/// A file a row's body now names by its upload.
pub struct Attached {
    /// What the body held in its place.
    pub placeholder: Value,
    /// The file as the cell named it.
    pub shown: String,
    key: String,
    made: Arc<Made>,
}

impl Attached {
    pub fn id(&self) -> &str {
        &self.made.id
    }
}

/// Why a row's files could not all be uploaded.
pub enum UploadFailure {
    /// The run stopped before a request was sent.
    Stopped,
    Failed {
        reply: Option<Box<Reply>>,
        attempts: u32,
        message: String,
    },
}

impl From<crate::transport::ReadFailure> for UploadFailure {
    fn from(f: crate::transport::ReadFailure) -> UploadFailure {
        match f.stopped {
            true => UploadFailure::Stopped,
            false => UploadFailure::Failed {
                message: f.answer(),
                attempts: f.attempts,
                reply: f.reply,
            },
        }
    }
}

impl Uploads {
    /// The uploads of a run whose report is `report`; with `resume`, those the journal beside
    /// it recorded (a fresh run starts the journal afresh).
    pub fn open(report: &Path, resume: bool) -> std::io::Result<Uploads> {
        let mut name = report.as_os_str().to_owned();
        name.push(".uploads");
        let journal_path = PathBuf::from(name);
        let mut earlier: HashMap<String, Journaled> = HashMap::new();
        if resume && journal_path.exists() {
            let text = std::fs::read_to_string(&journal_path)?;
            // A line cut by a kill is not whole: it is passed over.
            for line in text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            {
                let (Some(key), Some(id), Some(event)) = (
                    line["file"].as_str(),
                    line["id"].as_str(),
                    line["event"].as_str(),
                ) else {
                    continue;
                };
                let entry = earlier.entry(key.to_owned()).or_insert_with(|| Journaled {
                    id: id.to_owned(),
                    uploaded: false,
                    attached: false,
                });
                if entry.id != id {
                    *entry = Journaled {
                        id: id.to_owned(),
                        uploaded: false,
                        attached: false,
                    };
                }
                match event {
                    "uploaded" => entry.uploaded = true,
                    "attached" => {
                        entry.uploaded = true;
                        entry.attached = true;
                    }
                    _ => {}
                }
            }
        } else if journal_path.exists() {
            std::fs::remove_file(&journal_path)?;
        }
        Ok(Uploads {
            journal_path,
            journal: Mutex::new(None),
            earlier,
            hashes: Mutex::new(HashMap::new()),
            made: Mutex::new(HashMap::new()),
        })
    }

    /// Uploads the files a body names (those not uploaded yet) and puts their ids in its
    /// place. Returns each file's name and upload id, for the report; nothing when the body
    /// names no file to upload.
    pub async fn attach(
        &self,
        shared: &Shared,
        row: u64,
        base: &Path,
        body: &mut Vec<u8>,
    ) -> Result<Vec<Attached>, UploadFailure> {
        let mut value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return Ok(vec![]),
        };
        let mut attached = Vec::new();
        for (property, slot) in placeholders(&mut value) {
            let Some(source) = FileSource::from_placeholder(&slot["file_upload"], base) else {
                continue;
            };
            let key = self.identity(&source).await?;
            let made = self
                .upload(shared, row, &key, &source)
                .await
                .map_err(|failure| match failure {
                    UploadFailure::Failed {
                        reply,
                        attempts,
                        message,
                    } => UploadFailure::Failed {
                        reply,
                        attempts,
                        message: format!(
                            "not sent: the file {} of {property:?} could not be uploaded: {message}",
                            shown(&source)
                        ),
                    },
                    stopped => stopped,
                })?;
            let placeholder = std::mem::replace(&mut slot["file_upload"], json!({"id": made.id}));
            attached.push(Attached {
                placeholder,
                shown: shown(&source),
                key,
                made,
            });
        }
        if !attached.is_empty() {
            *body = serde_json::to_vec(&value).expect("a body serialises");
        }
        Ok(attached)
    }

    /// The row that named these uploads was written: they are attached, so they no longer
    /// expire, and a resumed run uses them without asking.
    pub fn attached(&self, files: &[Attached]) {
        for file in files {
            if !file.made.attached.swap(true, Ordering::Relaxed) {
                self.journal(&file.key, &file.made.id, "attached", None);
            }
        }
    }

    /// The file's upload: made once per run, whoever asks first; made again when it would
    /// expire unattached before the row is sent.
    async fn upload(
        &self,
        shared: &Shared,
        row: u64,
        key: &str,
        source: &FileSource,
    ) -> Result<Arc<Made>, UploadFailure> {
        for _ in 0..2 {
            let cell = self
                .made
                .lock()
                .expect("uploads lock")
                .entry(key.to_owned())
                .or_default()
                .clone();
            let made = cell
                .get_or_try_init(|| self.make(shared, row, key, source))
                .await?
                .clone();
            if !expires_soon(made.expiry) || made.attached.load(Ordering::Relaxed) {
                return Ok(made);
            }
            // Expiring unattached: make it again.
            self.made.lock().expect("uploads lock").remove(key);
        }
        Err(UploadFailure::Failed {
            reply: None,
            attempts: 0,
            message: "each upload expired before the row could be sent".into(),
        })
    }

    /// What names a file across rows and runs: its content's SHA-256, or the URL Notion copies.
    async fn identity(&self, source: &FileSource) -> Result<String, UploadFailure> {
        let path = match source {
            FileSource::Import { url } => return Ok(format!("url:{url}")),
            FileSource::Local { path, .. } => path.clone(),
        };
        let cell = self
            .hashes
            .lock()
            .expect("uploads lock")
            .entry(path.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let read = path.clone();
            tokio::task::spawn_blocking(move || sha256_of(&read))
                .await
                .expect("the hash task ends")
                .map(|hex| format!("sha256:{hex}"))
                .map_err(|e| UploadFailure::Failed {
                    reply: None,
                    attempts: 0,
                    message: format!("cannot read {}: {e}", path.display()),
                })
        })
        .await
        .cloned()
    }

    /// Makes the file's upload, or takes up the one an earlier run made.
    async fn make(
        &self,
        shared: &Shared,
        row: u64,
        key: &str,
        source: &FileSource,
    ) -> Result<Arc<Made>, UploadFailure> {
        if let Some(earlier) = self.earlier.get(key) {
            if earlier.attached {
                shared.stats.uploads_reused.fetch_add(1, Ordering::Relaxed);
                return Ok(Arc::new(Made {
                    id: earlier.id.clone(),
                    expiry: None,
                    attached: AtomicBool::new(true),
                }));
            }
            let path = format!("/v1/file_uploads/{}", earlier.id);
            if let Ok(upload) = read_json(shared, row, &path).await {
                match upload["status"].as_str() {
                    Some("uploaded") if !expires_soon(expiry_of(&upload)) => {
                        shared.stats.uploads_reused.fetch_add(1, Ordering::Relaxed);
                        return Ok(Arc::new(made_of(&upload, &earlier.id)));
                    }
                    Some("pending") if !expires_soon(expiry_of(&upload)) => {
                        return self.finish(shared, row, key, source, upload).await;
                    }
                    _ => {}
                }
            }
        }
        let created = self.create(shared, row, key, source).await?;
        self.finish(shared, row, key, source, created).await
    }

    /// `POST /v1/file_uploads`, noted in the journal before anything is sent to it.
    async fn create(
        &self,
        shared: &Shared,
        row: u64,
        key: &str,
        source: &FileSource,
    ) -> Result<Value, UploadFailure> {
        let name = source.file_name();
        let body = match source {
            FileSource::Import { url } => {
                json!({"mode": "external_url", "external_url": url, "filename": name})
            }
            FileSource::Local { path, .. } => {
                let bytes = file_len(path)?;
                let mut body = json!({"filename": name, "content_type": content_type(&name)});
                if bytes > SINGLE_PART_MAX {
                    body["mode"] = json!("multi_part");
                    body["number_of_parts"] = json!(bytes.div_ceil(PART_BYTES));
                } else {
                    body["mode"] = json!("single_part");
                }
                body
            }
        };
        let bytes = serde_json::to_vec(&body).expect("a body serialises");
        let sent = send(shared, row, "POST /v1/file_uploads", false, || {
            shared.client.post("/v1/file_uploads", bytes.clone())
        })
        .await;
        let upload = done(sent)?;
        let id = upload["id"].as_str().unwrap_or_default().to_owned();
        self.journal(key, &id, "created", None);
        Ok(upload)
    }

    /// Sends what an upload still lacks (the bytes, the parts and `complete`; or the polls of
    /// an import) until Notion has the file.
    async fn finish(
        &self,
        shared: &Shared,
        row: u64,
        key: &str,
        source: &FileSource,
        upload: Value,
    ) -> Result<Arc<Made>, UploadFailure> {
        let id = upload["id"].as_str().unwrap_or_default().to_owned();
        let upload = match source {
            FileSource::Import { .. } => {
                let upload = self.poll_import(shared, row, &id, upload).await?;
                shared.stats.files_imported.fetch_add(1, Ordering::Relaxed);
                upload
            }
            FileSource::Local { path, .. } => {
                let upload = self
                    .send_bytes(shared, row, &id, source, path, &upload)
                    .await?;
                shared
                    .stats
                    .bytes_uploaded
                    .fetch_add(file_len(path)?, Ordering::Relaxed);
                upload
            }
        };
        shared.stats.files_uploaded.fetch_add(1, Ordering::Relaxed);
        self.journal(key, &id, "uploaded", upload["expiry_time"].as_str());
        Ok(Arc::new(made_of(&upload, &id)))
    }

    /// One `send` of the whole file, or each part and `complete`. Sending again what already
    /// arrived is harmless (a part replaces itself); an answer lost after the upload took
    /// effect is found by reading the upload.
    async fn send_bytes(
        &self,
        shared: &Shared,
        row: u64,
        id: &str,
        source: &FileSource,
        path: &Path,
        upload: &Value,
    ) -> Result<Value, UploadFailure> {
        let name = upload["filename"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.file_name());
        let kind = content_type(&name);
        let send_path = format!("/v1/file_uploads/{id}/send");
        let parts = upload["number_of_parts"]["total"].as_u64();
        let label = format!("POST {send_path}");
        let result = match parts {
            None => {
                let bytes = read_part(path, 0, SINGLE_PART_MAX)?;
                let sent = send(shared, row, &label, false, || {
                    shared
                        .client
                        .post_file(&send_path, &[], &name, kind, &bytes)
                })
                .await;
                done(sent)
            }
            Some(total) => {
                for part in 1..=total {
                    let bytes = read_part(path, (part - 1) * PART_BYTES, PART_BYTES)?;
                    let fields = [("part_number", part.to_string())];
                    let sent = send(shared, row, &label, false, || {
                        shared
                            .client
                            .post_file(&send_path, &fields, &name, kind, &bytes)
                    })
                    .await;
                    done(sent)?;
                }
                let complete = format!("/v1/file_uploads/{id}/complete");
                let sent = send(shared, row, &format!("POST {complete}"), false, || {
                    shared.client.post(&complete, b"{}".to_vec())
                })
                .await;
                done(sent)
            }
        };
        match result {
            Ok(upload) if upload["status"] == "uploaded" => Ok(upload),
            Ok(upload) => Err(UploadFailure::Failed {
                reply: None,
                attempts: 0,
                message: format!(
                    "Notion answered the upload {id} with status {}",
                    upload["status"]
                ),
            }),
            Err(UploadFailure::Stopped) => Err(UploadFailure::Stopped),
            Err(failure) => {
                // A retry after an answer that was lost finds the upload already done.
                match read_json(shared, row, &format!("/v1/file_uploads/{id}")).await {
                    Ok(upload) if upload["status"] == "uploaded" => Ok(upload),
                    _ => Err(failure),
                }
            }
        }
    }

    /// An `external_url` import: read until Notion has copied the file, or says why not.
    async fn poll_import(
        &self,
        shared: &Shared,
        row: u64,
        id: &str,
        mut upload: Value,
    ) -> Result<Value, UploadFailure> {
        let path = format!("/v1/file_uploads/{id}");
        let mut wait = Duration::from_millis(100);
        for _ in 0..IMPORT_POLLS {
            match upload["status"].as_str() {
                Some("uploaded") => return Ok(upload),
                Some("failed") | Some("expired") => {
                    let why = upload["file_import_result"]["error"]["message"]
                        .as_str()
                        .or_else(|| upload["file_import_result"]["error"]["code"].as_str())
                        .unwrap_or("no reason given");
                    return Err(UploadFailure::Failed {
                        reply: None,
                        attempts: 0,
                        message: format!(
                            "Notion could not import it (upload {id}, status {}): {why}",
                            upload["status"].as_str().unwrap_or_default()
                        ),
                    });
                }
                _ => {}
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(3));
            upload = read_json(shared, row, &path).await?;
        }
        Err(UploadFailure::Failed {
            reply: None,
            attempts: 0,
            message: format!(
                "Notion had not finished importing it after {IMPORT_POLLS} reads (upload {id}); --resume asks again"
            ),
        })
    }

    /// One journal line, written whole and flushed before the upload goes on. A journal that
    /// cannot be written costs only a second upload on resume: the run goes on.
    fn journal(&self, key: &str, id: &str, event: &str, expiry: Option<&str>) {
        let mut journal = self.journal.lock().expect("journal lock");
        if journal.is_none() {
            *journal = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.journal_path)
                .ok();
        }
        if let Some(file) = journal.as_mut() {
            let line = json!({"file": key, "id": id, "event": event, "expiry_time": expiry});
            let _ = writeln!(file, "{line}").and_then(|_| file.sync_data());
        }
    }
}

/// Names each file of a body (`POST /v1/pages`'s, made from the row's body) by the upload
/// [`Uploads::attach`] made for its placeholder.
pub fn fill(body: &mut Value, filled: &[(Value, String)]) {
    for (_, slot) in placeholders(body) {
        if let Some((_, id)) = filled.iter().find(|(p, _)| *p == slot["file_upload"]) {
            slot["file_upload"] = json!({"id": id});
        }
    }
}

/// The files items of a body that are uploads, by property.
fn placeholders(body: &mut Value) -> Vec<(String, &mut Value)> {
    let mut out = Vec::new();
    let Some(map) = body.as_object_mut() else {
        return out;
    };
    for (name, value) in map.iter_mut() {
        match name.as_str() {
            "icon" | "cover" if value["type"] == "file_upload" => {
                out.push((format!("@{name}"), value));
            }
            "properties" => {
                let Some(properties) = value.as_object_mut() else {
                    continue;
                };
                for (name, value) in properties.iter_mut() {
                    if let Some(files) = value.get_mut("files").and_then(Value::as_array_mut) {
                        for item in files.iter_mut().filter(|i| i["type"] == "file_upload") {
                            out.push((name.clone(), item));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn shown(source: &FileSource) -> String {
    match source {
        FileSource::Local { written, .. } => written.clone(),
        FileSource::Import { url } => format!("upload:{url}"),
    }
}

fn made_of(upload: &Value, id: &str) -> Made {
    Made {
        id: id.to_owned(),
        expiry: expiry_of(upload),
        attached: AtomicBool::new(false),
    }
}

/// When an upload expires unattached (`expiry_time`), if it does.
fn expiry_of(upload: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    upload["expiry_time"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Whether an upload expires before a row could be sent with it.
fn expires_soon(expiry: Option<chrono::DateTime<chrono::Utc>>) -> bool {
    expiry.is_some_and(|e| e - EXPIRY_MARGIN < chrono::Utc::now())
}

fn done(sent: Sent) -> Result<Value, UploadFailure> {
    read_result(sent).map_err(UploadFailure::from)
}

fn file_len(path: &Path) -> Result<u64, UploadFailure> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| UploadFailure::Failed {
            reply: None,
            attempts: 0,
            message: format!("cannot read {}: {e}", path.display()),
        })
}

/// Up to `len` bytes of the file from `offset`.
fn read_part(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, UploadFailure> {
    let read = || -> std::io::Result<Vec<u8>> {
        let mut file = std::fs::File::open(path)?;
        file.seek(std::io::SeekFrom::Start(offset))?;
        let mut bytes = Vec::new();
        file.take(len).read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    read().map_err(|e| UploadFailure::Failed {
        reply: None,
        attempts: 0,
        message: format!("cannot read {}: {e}", path.display()),
    })
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The MIME type Notion is told, by the file's extension.
fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "md" => "text/markdown",
        "json" => "application/json",
        "zip" => "application/zip",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_gives_each_file_its_last_upload_and_passes_over_a_cut_line() {
        let dir = std::env::temp_dir().join(format!("nb-uploads-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let report = dir.join("report.csv");
        std::fs::write(
            dir.join("report.csv.uploads"),
            concat!(
                "{\"file\":\"sha256:a\",\"id\":\"u1\",\"event\":\"created\"}\n",
                "{\"file\":\"sha256:b\",\"id\":\"u2\",\"event\":\"created\"}\n",
                "{\"file\":\"sha256:b\",\"id\":\"u2\",\"event\":\"uploaded\"}\n",
                "{\"file\":\"sha256:a\",\"id\":\"u3\",\"event\":\"created\"}\n",
                "{\"file\":\"sha256:c\",\"id\":\"u4\",\"event\":\"attached\"}\n",
                "{\"file\":\"sha256:d\",\"id\":\"u5\",\"ev"
            ),
        )
        .unwrap();
        let uploads = Uploads::open(&report, true).unwrap();
        assert_eq!(uploads.earlier.len(), 3);
        assert_eq!(uploads.earlier["sha256:a"].id, "u3");
        assert!(!uploads.earlier["sha256:a"].uploaded);
        assert!(uploads.earlier["sha256:b"].uploaded && !uploads.earlier["sha256:b"].attached);
        assert!(uploads.earlier["sha256:c"].attached);
        // A fresh run starts afresh.
        let fresh = Uploads::open(&report, false).unwrap();
        assert!(fresh.earlier.is_empty());
        assert!(!dir.join("report.csv.uploads").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_upload_items_are_placeholders() {
        let mut body = json!({"properties": {
            "Files": {"files": [
                {"name": "a", "type": "external", "external": {"url": "https://x/a"}},
                {"name": "b", "type": "file_upload", "file_upload": {"path": "b.pdf", "bytes": 3}},
            ]},
            "Name": {"title": []},
        }});
        let found = placeholders(&mut body);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "Files");
        assert_eq!(content_type("X.PDF"), "application/pdf");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
