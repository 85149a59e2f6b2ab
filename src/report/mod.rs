//! The report: one line per row as it ends, in CSV or JSONL by the file's
//! extension, with the fields of SPEC §6 in that order. The report is written and flushed line
//! by line so that a killed run loses at most the rows that were in flight.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use crate::outcome::{drop_partial_last_line, ReportFormat, ReportLine, RowAction};
use crate::stop::WriteFailure;

pub mod progress;
pub mod reporter;
pub mod summary;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{visit_report, Outcome};

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
