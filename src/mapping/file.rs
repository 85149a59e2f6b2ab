//! Files to copy into Notion (issue 21): a files cell's item that names a local path
//! (`./scans/inv-12.pdf`, relative to the input file's folder) or a URL marked `upload:`
//! (`upload:https://…`, imported by Notion with `mode: external_url`). The mapper checks a
//! path offline (it exists, is a readable file, is not empty, is within the size limit) and
//! leaves a placeholder in the body; the workers upload the file (`dispatch::upload`) and put
//! the upload's id in its place just before the row is sent.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

/// Notion's largest file on a paid plan (5 GiB): the limit until the workspace's own is read.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// How files cells name files to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRules {
    /// The folder local paths are relative to: the input file's, or the working directory
    /// for standard input.
    pub base: PathBuf,
    /// The largest file the workspace takes (`bot.workspace_limits.max_file_upload_size_in_bytes`).
    pub max_bytes: u64,
    /// Where `max_bytes` comes from, for messages.
    pub limit_from: &'static str,
}

impl Default for FileRules {
    fn default() -> FileRules {
        FileRules {
            base: PathBuf::from("."),
            max_bytes: DEFAULT_MAX_FILE_BYTES,
            limit_from: "Notion's limit for paid workspaces (5 GiB)",
        }
    }
}

/// A file the run copies into Notion.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileSource {
    /// A local file: the path as the cell wrote it, where it is, and its size when checked.
    Local {
        written: String,
        path: PathBuf,
        bytes: u64,
    },
    /// A URL Notion copies (`upload:https://…`).
    Import { url: String },
}

impl FileSource {
    /// The file's name in Notion: the path's last part, or the URL's.
    pub fn file_name(&self) -> String {
        match self {
            FileSource::Local { path, .. } => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".into()),
            FileSource::Import { url } => url::Url::parse(url)
                .ok()
                .and_then(|u| url_file_name(&u))
                .unwrap_or_else(|| "file".into()),
        }
    }

    /// What a body holds until the upload's id is known: `{"path", "bytes"}` or
    /// `{"external_url"}` in place of `{"id"}` (the body's hash, for `--resume`, is taken over
    /// this form, which the same input gives again).
    pub fn placeholder(&self) -> Value {
        match self {
            FileSource::Local { written, bytes, .. } => json!({"path": written, "bytes": bytes}),
            FileSource::Import { url } => json!({"external_url": url}),
        }
    }

    /// Reads a placeholder back (see [`FileSource::placeholder`]), resolving a path against
    /// `base`. `None`: not a placeholder (an upload already named by its id).
    pub fn from_placeholder(inner: &Value, base: &std::path::Path) -> Option<FileSource> {
        if inner.get("id").is_some() {
            return None;
        }
        if let Some(url) = inner.get("external_url").and_then(Value::as_str) {
            return Some(FileSource::Import { url: url.into() });
        }
        let written = inner.get("path")?.as_str()?;
        Some(FileSource::Local {
            written: written.into(),
            path: base.join(written),
            bytes: inner.get("bytes").and_then(Value::as_u64).unwrap_or(0),
        })
    }
}

/// A URL's last non-empty path segment, percent-decoded: the name of the file it links to.
pub fn url_file_name(url: &url::Url) -> Option<String> {
    let segment = url.path_segments()?.rfind(|s| !s.is_empty())?;
    Some(
        percent_encoding::percent_decode_str(segment)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// A files item marked `upload:`: the URL Notion is to copy, which must be https (Notion
/// refuses to import from plain http).
pub fn import(url: &str) -> Result<FileSource, String> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| u.host_str().is_some())
        .ok_or_else(|| format!("upload:{url} is not a URL; write upload:https://…"))?;
    if parsed.scheme() != "https" {
        return Err(format!(
            "upload:{url}: Notion imports files only from https:// URLs"
        ));
    }
    Ok(FileSource::Import { url: url.into() })
}

/// A files item that names a local file: checked now (offline), so that `plan` finds a
/// missing, unreadable, empty or oversized file before anything is sent.
pub fn local(written: &str, rules: &FileRules) -> Result<FileSource, String> {
    let path = rules.base.join(written);
    let shown = path.display();
    let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{written:?}: no such file ({shown}); local paths are relative to the input file's folder (or write an http(s) link)"
        ),
        _ => format!("{written:?}: cannot read {shown}: {e}"),
    })?;
    if !meta.is_file() {
        return Err(format!("{written:?}: {shown} is not a file"));
    }
    if let Err(e) = std::fs::File::open(&path) {
        return Err(format!("{written:?}: cannot read {shown}: {e}"));
    }
    let bytes = meta.len();
    if bytes == 0 {
        return Err(format!(
            "{written:?}: {shown} is empty; Notion takes no empty file"
        ));
    }
    if bytes > rules.max_bytes {
        return Err(format!(
            "{written:?}: {shown} is {} ({bytes} bytes), over the workspace's largest file, {} ({}); it cannot be uploaded",
            human_bytes(bytes),
            human_bytes(rules.max_bytes),
            rules.limit_from
        ));
    }
    Ok(FileSource::Local {
        written: written.into(),
        path,
        bytes,
    })
}

/// A files item without a scheme (`scans/a.pdf`, `./a.pdf`, `/data/a.pdf`) names a local file.
pub fn is_local_path(item: &str) -> bool {
    !item.contains("://") && !item.starts_with("upload:")
}

/// `25.0 MiB`, `512 KiB`, `12 bytes`.
pub fn human_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB * KIB {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    } else if b >= KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.0} KiB", b / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The shared form the mapper keeps in a `FileItem`.
pub type Upload = Arc<FileSource>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_checked_before_anything_is_sent() {
        let dir = std::env::temp_dir().join(format!("nb-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.pdf"), b"%PDF-1.4").unwrap();
        std::fs::write(dir.join("empty.pdf"), b"").unwrap();
        let rules = FileRules {
            base: dir.clone(),
            max_bytes: 4,
            limit_from: "the test",
        };
        let big = local("a.pdf", &rules).unwrap_err();
        assert!(big.contains("8 bytes") && big.contains("the test"), "{big}");
        let rules = FileRules {
            max_bytes: 100,
            ..rules
        };
        assert!(matches!(
            local("a.pdf", &rules),
            Ok(FileSource::Local { bytes: 8, .. })
        ));
        assert!(local("missing.pdf", &rules)
            .unwrap_err()
            .contains("no such file"));
        assert!(local("empty.pdf", &rules).unwrap_err().contains("empty"));
        assert!(local(".", &rules).unwrap_err().contains("not a file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn imports_take_https_only_and_placeholders_read_back() {
        assert!(import("http://x.test/a.pdf").unwrap_err().contains("https"));
        let source = import("https://x.test/scans/inv%2012.pdf?sig=1").unwrap();
        assert_eq!(source.file_name(), "inv 12.pdf");
        let back = FileSource::from_placeholder(&source.placeholder(), std::path::Path::new("/"));
        assert_eq!(back, Some(source));
        let local = FileSource::Local {
            written: "s/a.pdf".into(),
            path: PathBuf::from("/in/s/a.pdf"),
            bytes: 3,
        };
        let back = FileSource::from_placeholder(&local.placeholder(), std::path::Path::new("/in"));
        assert_eq!(back, Some(local));
        assert_eq!(
            FileSource::from_placeholder(&json!({"id": "x"}), std::path::Path::new("/")),
            None
        );
        assert!(
            is_local_path("./a.pdf")
                && !is_local_path("https://a/b")
                && !is_local_path("upload:https://a")
        );
    }
}
