//! How a row ends, and how its end is kept: the outcome (SPEC §6), what the row did to its
//! page, the result the dispatcher hands the reporter, and the report line with the file
//! helpers that read it back (`--resume`, `select`'s row numbers). Below the dispatcher and the
//! report, which both speak it; the report's writer stays in `report`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::mapping::Field;
use crate::notion::NotionId;
use crate::source::SourceRow;

/// The one final outcome of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Notion applied the update.
    Ok,
    /// Notion refused the update, or every attempt failed.
    Failed,
    /// The row was never sent: it cannot become a valid request.
    Invalid,
    /// The request may or may not have been applied (e.g. a template row that timed out).
    Unknown,
    /// The row changes nothing and was not sent.
    Skipped,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Failed,
        Outcome::Invalid,
        Outcome::Unknown,
        Outcome::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Invalid => "invalid",
            Outcome::Unknown => "unknown",
            Outcome::Skipped => "skipped",
        }
    }
}

/// What a row did to its page (the report's `action`, SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowAction {
    /// Notion applied the row's changes to an existing page.
    Updated,
    /// `--create-missing` created the page.
    Created,
    /// The page already had the row's values: nothing was sent.
    Unchanged,
    /// `--missing-pages trash`: a page whose key no input row has went to the trash.
    Trashed,
    /// `--missing-pages set:PROPERTY=VALUE`: a page whose key no input row has was flagged.
    Flagged,
}

impl RowAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RowAction::Updated => "updated",
            RowAction::Created => "created",
            RowAction::Unchanged => "unchanged",
            RowAction::Trashed => "trashed",
            RowAction::Flagged => "flagged",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportLine {
    /// The 1-based data row of the input.
    pub row: u64,
    pub page_id: Option<String>,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub attempts: u32,
    pub duration_ms: u64,
    pub request_id: Option<String>,
    pub body_hash: Option<String>,
    /// What the row did to its page (empty in reports written before there was one).
    #[serde(default)]
    pub action: Option<RowAction>,
    /// With `--match-on`: the row's key.
    #[serde(default)]
    pub key: Option<String>,
    /// The row's content as read ([`crate::source::SourceRow::content_hash`]): `--resume` sends
    /// nothing for a row that no longer has it (empty in reports written before there was one).
    #[serde(default)]
    pub row_hash: Option<String>,
}

impl ReportLine {
    /// A line for a row that ended without a request.
    pub fn unsent(
        row: u64,
        page_id: Option<String>,
        outcome: Outcome,
        message: Option<String>,
    ) -> ReportLine {
        ReportLine {
            row,
            page_id,
            outcome,
            http_status: None,
            code: None,
            message,
            attempts: 0,
            duration_ms: 0,
            request_id: None,
            body_hash: None,
            action: None,
            key: None,
            row_hash: None,
        }
    }
}

/// The outcome, code and message of a row that ends without a request (invalid, or skipped
/// because it changes nothing); `None` for an update, which is sent.
pub fn unsent_outcome(
    mapped: &crate::mapping::Mapped,
) -> Option<(Outcome, Option<&'static str>, String)> {
    use crate::mapping::Mapped;
    match mapped {
        Mapped::Invalid(e) => Some((Outcome::Invalid, e.code(), e.message())),
        Mapped::Skipped { .. } => Some((
            Outcome::Skipped,
            None,
            "nothing to change: every cell of the row is empty".to_owned(),
        )),
        Mapped::Unchanged { .. } => Some((
            Outcome::Skipped,
            Some("unchanged"),
            "the page already has these values (as the scan read them): not sent".to_owned(),
        )),
        Mapped::Unmatched {
            key,
            property,
            pages,
            unreadable,
            ..
        } if pages.is_empty() && *unreadable > 0 => Some((
            Outcome::Failed,
            Some("key_unreadable"),
            format!(
                "no page whose {property} could be read has {property} = {:?}, but {unreadable} \
                 page(s) of the data source came back with {property} as `unsupported` (Notion \
                 could not compute it: its dependency graph is too complex), and one of them \
                 may have it: nothing was sent. Match on a property that is not \
                 a formula or rollup, or simplify the formula",
                key.text
            ),
        )),
        Mapped::Unmatched {
            key,
            property,
            pages,
            ..
        } if pages.is_empty() => Some((
            Outcome::Failed,
            Some("no_match"),
            format!(
                "no page of the data source has {property} = {:?} (pages in the trash never match): nothing was sent; --create-missing creates it",
                key.text
            ),
        )),
        Mapped::Unmatched {
            key,
            property,
            pages,
            ..
        } => Some((
            Outcome::Failed,
            Some("ambiguous_key"),
            format!(
                "{} pages have {property} = {:?}: {}; nothing was sent for this key. Make the key unique in Notion (trash or change the extra pages), then run the row again",
                pages.len(),
                key.text,
                pages.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        )),
        Mapped::Update(_) => None,
    }
}

/// How one row ended.
#[derive(Debug, Clone)]
pub struct RowResult {
    pub row: u64,
    pub page_id: Option<NotionId>,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub attempts: u32,
    pub duration: Duration,
    pub request_id: Option<String>,
    pub body_hash: Option<String>,
    pub source: Option<SourceRow>,
    /// The fields the row set (empty when nothing was sent).
    pub fields: Arc<[Field]>,
    /// What the row did to its page (`updated`, `created`, `unchanged`), when it did.
    pub action: Option<RowAction>,
    /// With `--match-on`: the row's key, as written.
    pub key: Option<Arc<str>>,
}

impl RowResult {
    /// A row that ended without a request.
    pub fn unsent(
        row: u64,
        page_id: Option<NotionId>,
        outcome: Outcome,
        message: String,
        source: SourceRow,
    ) -> RowResult {
        RowResult {
            row,
            page_id,
            outcome,
            http_status: None,
            code: None,
            message: Some(message),
            attempts: 0,
            duration: Duration::ZERO,
            request_id: None,
            body_hash: None,
            source: Some(source),
            fields: Arc::from([]),
            action: None,
            key: None,
        }
    }
}

/// The report's format, from its extension: `.csv` or anything else as JSONL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Csv,
    Jsonl,
}

impl ReportFormat {
    pub fn of(path: &Path) -> ReportFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => ReportFormat::Csv,
            _ => ReportFormat::Jsonl,
        }
    }
}

/// Truncates a file after its last line end, if its last line has none (a line-at-a-time file
/// whose writer was killed mid-line: the report, the backup).
pub(crate) fn drop_partial_last_line(path: &Path) -> io::Result<()> {
    let Ok(mut file) = OpenOptions::new().read(true).write(true).open(path) else {
        return Ok(());
    };
    let whole = whole_lines_len(&mut file)?;
    if whole < file.metadata()?.len() {
        file.set_len(whole)?;
    }
    Ok(())
}

/// The length of the file up to and including its last line end, found from the end (only the
/// tail is read, however large the file).
fn whole_lines_len(file: &mut File) -> io::Result<u64> {
    let mut end = file.metadata()?.len();
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The file's whole lines (up to its last line end), to read line by line: a last line cut
/// short is passed over, and what is not a regular file (a device such as /dev/full, which
/// reads as endless zeros) reads as empty.
pub(crate) fn whole_lines(path: &Path) -> io::Result<io::BufReader<io::Take<File>>> {
    let mut file = File::open(path)?;
    let whole = whole_lines_len(&mut file)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(io::BufReader::new(file.take(whole)))
}

/// Reads a report (CSV or JSONL by extension) line by line, giving each to `visit`, without
/// holding the file in memory. A last line without its line end (a run killed while writing
/// it) is not a row's outcome and is passed over.
pub fn visit_report(path: &Path, mut visit: impl FnMut(ReportLine)) -> io::Result<()> {
    let reader = whole_lines(path)?;
    let bad = |n: usize, e: &dyn fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: line {n} is not a report line: {e}", path.display()),
        )
    };
    match ReportFormat::of(path) {
        ReportFormat::Jsonl => {
            for (i, line) in reader.lines().enumerate() {
                let line = line?;
                if !line.trim().is_empty() {
                    visit(serde_json::from_str(&line).map_err(|e| bad(i + 1, &e))?);
                }
            }
        }
        ReportFormat::Csv => {
            for (i, line) in csv::Reader::from_reader(reader).deserialize().enumerate() {
                visit(line.map_err(|e| bad(i + 2, &e))?);
            }
        }
    }
    Ok(())
}
