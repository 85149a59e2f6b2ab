//! The reporter: the one consumer of row results. It writes the report line as each row ends,
//! keeps the counts, prints rows that need attention, and writes `--failed-out`.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::dispatch::RowResult;
use crate::job::Record;
use crate::notion::NotionId;
use crate::report::summary::Counts;
use crate::report::{Outcome, ReportLine, ReportWriter};

/// At most this many rows are printed one by one; the report has them all.
const PRINTED_ROWS: u64 = 100;

/// How `--failed-out` writes rows: as the input was written.
#[derive(Debug, Clone)]
pub enum FailedOutFormat {
    Csv { headers: Vec<String>, delimiter: u8 },
    Jsonl,
}

/// The rows to run again: those that did not end ok, and every later row of their pages.
pub struct FailedOut {
    path: PathBuf,
    out: FailedOutWriter,
    pages: HashSet<NotionId>,
    pub rows: u64,
}

enum FailedOutWriter {
    Csv(Box<csv::Writer<File>>),
    Jsonl(BufWriter<File>),
}

impl FailedOut {
    pub fn create(path: &Path, format: &FailedOutFormat) -> io::Result<FailedOut> {
        let file = File::create(path)?;
        let out = match format {
            FailedOutFormat::Csv { headers, delimiter } => {
                let mut w = csv::WriterBuilder::new()
                    .delimiter(*delimiter)
                    .from_writer(file);
                w.write_record(headers)?;
                w.flush()?;
                FailedOutWriter::Csv(Box::new(w))
            }
            FailedOutFormat::Jsonl => FailedOutWriter::Jsonl(BufWriter::new(file)),
        };
        Ok(FailedOut {
            path: path.to_owned(),
            out,
            pages: HashSet::new(),
            rows: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn consider(&mut self, result: &RowResult) -> io::Result<()> {
        let not_ok = matches!(
            result.outcome,
            Outcome::Failed | Outcome::Unknown | Outcome::Invalid
        );
        let later_row_of_a_bad_page = result.page_id.is_some_and(|p| self.pages.contains(&p));
        if !(not_ok || later_row_of_a_bad_page) {
            return Ok(());
        }
        if not_ok {
            if let Some(page) = result.page_id {
                self.pages.insert(page);
            }
        }
        let Some(source) = &result.source else {
            return Ok(());
        };
        match (&mut self.out, &source.record) {
            (FailedOutWriter::Csv(w), Record::Csv(record)) => {
                w.write_byte_record(record)?;
                w.flush()?;
            }
            (FailedOutWriter::Jsonl(w), Record::Json(line)) => {
                w.write_all(line)?;
                w.write_all(b"\n")?;
                w.flush()?;
            }
            _ => unreachable!("failed-out is written in the input's format"),
        }
        self.rows += 1;
        Ok(())
    }
}

/// Consumes results.
pub struct Reporter {
    report: ReportWriter,
    failed_out: Option<FailedOut>,
    pub counts: Counts,
    pub by_code: BTreeMap<String, u64>,
    printed: u64,
}

impl Reporter {
    pub fn new(report: ReportWriter, failed_out: Option<FailedOut>) -> Reporter {
        Reporter {
            report,
            failed_out,
            counts: Counts::default(),
            by_code: BTreeMap::new(),
            printed: 0,
        }
    }

    pub fn report_path(&self) -> &Path {
        self.report.path()
    }

    pub fn failed_out(&self) -> Option<&FailedOut> {
        self.failed_out.as_ref()
    }

    /// Records one row's end. Returns a line to show the person running the tool, if the row
    /// needs attention.
    pub fn record(&mut self, result: &RowResult) -> io::Result<Option<String>> {
        self.report.write(&ReportLine {
            row: result.row,
            page_id: result.page_id.map(|p| p.to_string()),
            outcome: result.outcome,
            http_status: result.http_status,
            code: result.code.clone(),
            message: result.message.clone(),
            attempts: result.attempts,
            duration_ms: result.duration.as_millis() as u64,
            request_id: result.request_id.clone(),
            body_hash: result.body_hash.clone(),
        })?;
        self.counts.add(result.outcome);
        if let Some(f) = self.failed_out.as_mut() {
            f.consider(result)?;
        }
        if matches!(result.outcome, Outcome::Ok | Outcome::Skipped) {
            return Ok(None);
        }
        if result.outcome != Outcome::Invalid {
            let key = match (&result.http_status, &result.code) {
                (Some(s), Some(c)) => format!("{s} {c}"),
                (Some(s), None) => format!("{s}"),
                (None, _) => "no response".to_owned(),
            };
            *self.by_code.entry(key).or_default() += 1;
        } else {
            *self.by_code.entry("invalid".into()).or_default() += 1;
        }
        self.printed += 1;
        if self.printed > PRINTED_ROWS {
            return Ok(None);
        }
        let mut line = format!("{}: row {}", result.outcome, result.row);
        if let Some(page) = result.page_id {
            line += &format!(" (page {page})");
        }
        if let Some(status) = result.http_status {
            line += &format!(": HTTP {status}");
            if let Some(code) = &result.code {
                line += &format!(" {code}");
            }
        }
        if let Some(message) = &result.message {
            line += &format!(": {message}");
        }
        if result.attempts > 1 {
            line += &format!(" (after {} attempts)", result.attempts);
        }
        if self.printed == PRINTED_ROWS {
            line += &format!(
                "\n(further rows that need attention are only in the report {})",
                self.report.path().display()
            );
        }
        Ok(Some(line))
    }

    /// Makes the report durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.report.sync()
    }
}
