//! Outcomes and the report: one line per row as it ends, in CSV or JSONL by the file's
//! extension, with the fields of SPEC §6 in that order. The report is written and flushed line
//! by line so that a killed run loses at most the rows that were in flight.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod progress;
pub mod reporter;
pub mod resume;
pub mod summary;

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
}

impl RowAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RowAction::Updated => "updated",
            RowAction::Created => "created",
            RowAction::Unchanged => "unchanged",
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
    /// The row's content as read ([`crate::job::SourceRow::content_hash`]): `--resume` sends
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
        Mapped::Invalid(e) => Some((Outcome::Invalid, None, e.message())),
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

/// A file the run writes while it sends (the report, `--backup`, `--failed-out`) that could
/// not be written: a full disk, a quota, a file size limit. The run stops taking rows and says
/// how to continue once the cause is fixed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot write {file}: {error}")]
pub struct WriteFailure {
    /// What the file is, and its path: `the report r.jsonl`.
    pub file: String,
    /// The system's error: `No space left on device (os error 28)`.
    pub error: String,
}

impl WriteFailure {
    /// `what`: the file's role, `the report`, `the backup`, `--failed-out`.
    pub fn new(what: &str, path: &Path, error: &io::Error) -> WriteFailure {
        WriteFailure {
            file: format!("{what} {}", path.display()),
            error: error.to_string(),
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

/// Writes report lines, each written whole as the row ends (one `write` per line, no buffer to
/// lose). A write that fails (a full disk) is taken back to the last whole line, so that the
/// report stays readable, and its error is the caller's: the run stops taking rows.
pub struct ReportWriter {
    path: PathBuf,
    format: ReportFormat,
    out: File,
    /// The file's length after its last whole line.
    len: u64,
    line: Vec<u8>,
    /// The fields of a CSV report's header: a report begun by a version without `action` and
    /// `key` (10) or without `row_hash` (12) goes on without them, so that every line has its
    /// header's fields and `--resume` can read it.
    csv_fields: usize,
}

const CSV_HEADER: &str =
    "row,page_id,outcome,http_status,code,message,attempts,duration_ms,request_id,body_hash,action,key,row_hash\n";
/// The header of reports written before `action` and `key` (SPEC §9–§10).
#[cfg(test)]
const LEGACY_CSV_HEADER: &str =
    "row,page_id,outcome,http_status,code,message,attempts,duration_ms,request_id,body_hash\n";

/// A report line's fields, in the CSV header's order.
fn csv_fields(l: &ReportLine) -> [String; 13] {
    fn text<T: ToString>(v: &Option<T>) -> String {
        v.as_ref().map(ToString::to_string).unwrap_or_default()
    }
    [
        l.row.to_string(),
        text(&l.page_id),
        l.outcome.to_string(),
        text(&l.http_status),
        text(&l.code),
        text(&l.message),
        l.attempts.to_string(),
        l.duration_ms.to_string(),
        text(&l.request_id),
        text(&l.body_hash),
        text(&l.action.map(RowAction::as_str)),
        text(&l.key),
        text(&l.row_hash),
    ]
}

impl ReportWriter {
    /// Opens the report for appending (a resumed run adds to it); a new CSV report gets its
    /// header. A last line cut short by a killed run is dropped first (that row has no outcome
    /// and runs again), so the next line does not join it.
    pub fn open(path: &Path) -> io::Result<ReportWriter> {
        drop_partial_last_line(path)?;
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        let format = ReportFormat::of(path);
        let full = CSV_HEADER.trim_end().split(',').count();
        let csv_fields = match (len > 0, format) {
            (true, ReportFormat::Csv) => {
                let mut first = String::new();
                io::BufReader::new(File::open(path)?).read_line(&mut first)?;
                let fields = first.trim_end().split(',').count();
                if !CSV_HEADER.starts_with(first.trim_end()) || fields < 10 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} does not begin with a report's header ({}): is it a report?",
                            path.display(),
                            CSV_HEADER.trim_end()
                        ),
                    ));
                }
                fields
            }
            _ => full,
        };
        let mut writer = ReportWriter {
            path: path.to_owned(),
            format,
            out: file,
            len,
            line: Vec::new(),
            csv_fields,
        };
        if len == 0 && format == ReportFormat::Csv {
            writer.line.extend_from_slice(CSV_HEADER.as_bytes());
            writer.append()?;
        }
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line.
    pub fn write(&mut self, line: &ReportLine) -> Result<(), WriteFailure> {
        self.serialize(line)
            .and_then(|()| self.append())
            .map_err(|e| WriteFailure::new("the report", &self.path, &e))
    }

    /// `line` into `self.line`.
    fn serialize(&mut self, line: &ReportLine) -> io::Result<()> {
        self.line.clear();
        match self.format {
            ReportFormat::Jsonl => {
                serde_json::to_writer(&mut self.line, line)?;
                self.line.push(b'\n');
            }
            ReportFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(&mut self.line);
                let fields = csv_fields(line);
                w.write_record(&fields[..self.csv_fields])
                    .map_err(io::Error::other)?;
                w.flush()?;
            }
        }
        Ok(())
    }

    /// Appends `self.line`; if that fails, cuts the file back to its last whole line (a device
    /// such as /dev/full cannot be cut: nothing was written to it).
    fn append(&mut self) -> io::Result<()> {
        match self.out.write_all(&self.line) {
            Ok(()) => {
                self.len += self.line.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.out.set_len(self.len);
                Err(e)
            }
        }
    }

    /// Makes everything written so far durable (a file that cannot be synced, such as a pipe,
    /// is taken as it is).
    pub fn sync(&mut self) -> Result<(), WriteFailure> {
        match self.out.sync_data() {
            Err(e)
                if !matches!(
                    e.kind(),
                    io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
                ) =>
            {
                Err(WriteFailure::new("the report", &self.path, &e))
            }
            _ => Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read_report(path: &Path) -> io::Result<Vec<ReportLine>> {
        let mut lines = Vec::new();
        visit_report(path, |line| lines.push(line))?;
        Ok(lines)
    }

    fn sample() -> Vec<ReportLine> {
        vec![
            ReportLine::unsent(
                1,
                None,
                Outcome::Invalid,
                Some("column \"Due\": \"x, y\" is bad".into()),
            ),
            ReportLine {
                row: 2,
                page_id: Some("8d116ece-1738-47d9-bd9c-172411e20b8f".into()),
                outcome: Outcome::Ok,
                http_status: Some(200),
                code: None,
                message: None,
                attempts: 2,
                duration_ms: 340,
                request_id: Some("req-1".into()),
                body_hash: Some("ab".repeat(32)),
                action: Some(RowAction::Updated),
                key: Some("SKU-1".into()),
                row_hash: Some("0123456789abcdef".into()),
            },
        ]
    }

    #[test]
    fn a_csv_report_begun_without_action_and_key_goes_on_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.csv");
        std::fs::write(
            &path,
            format!("{LEGACY_CSV_HEADER}1,,invalid,,,bad,0,0,,\n"),
        )
        .unwrap();
        let mut writer = ReportWriter::open(&path).unwrap();
        writer.write(&sample()[1]).unwrap();
        drop(writer);
        let lines = read_report(&path).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1],
            ReportLine {
                action: None,
                key: None,
                row_hash: None,
                ..sample()[1].clone()
            }
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().all(|l| l.split(',').count() == 10), "{text}");
    }

    #[test]
    fn jsonl_and_csv_reports_round_trip_and_append() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.jsonl", "r.csv"] {
            let path = dir.path().join(name);
            let lines = sample();
            ReportWriter::open(&path).unwrap().write(&lines[0]).unwrap();
            ReportWriter::open(&path).unwrap().write(&lines[1]).unwrap();
            assert_eq!(read_report(&path).unwrap(), lines, "{name}");
        }
        let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
        assert!(csv.starts_with(CSV_HEADER), "{csv}");
        assert_eq!(
            csv.matches("row,page_id").count(),
            1,
            "one header after an append"
        );
        // A line cut short by a killed run is passed over when read, and dropped before appending.
        let path = dir.path().join("cut.jsonl");
        std::fs::write(&path, "{\"row\":1,\"page_id\":null,\"outcome\":\"invalid\",\"http_status\":null,\"code\":null,\"message\":null,\"attempts\":0,\"duration_ms\":0,\"request_id\":null,\"body_hash\":null}\n{\"row\":2,\"pa").unwrap();
        assert_eq!(read_report(&path).unwrap().len(), 1);
        ReportWriter::open(&path)
            .unwrap()
            .write(&sample()[1])
            .unwrap();
        let rows: Vec<u64> = read_report(&path).unwrap().iter().map(|l| l.row).collect();
        assert_eq!(rows, [1, 2]);
        let jsonl = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
        let first = jsonl.lines().next().unwrap();
        assert!(
            first.starts_with(r#"{"row":1,"page_id":null,"outcome":"invalid","http_status":null"#),
            "{first}"
        );
    }
}
