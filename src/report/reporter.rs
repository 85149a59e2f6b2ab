//! The reporter: the one consumer of row results. It writes the report line as each row ends,
//! keeps the counts, prints rows that need attention, and writes `--failed-out` (rows reduced
//! to the fields no later ok row of their page has set).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::gate::resume::{Note, PageFields};
use crate::mapping::{EmptyCells, Field, Locator, Reduced};
use crate::notion::NotionId;
use crate::outcome::{Outcome, ReportLine, RowResult};
use crate::report::summary::Counts;
use crate::report::ReportWriter;
use crate::source::{Record, SourceRow};
use crate::stop::Stop;
use crate::stop::WriteFailure;

/// At most this many rows are printed one by one; the report has them all.
const PRINTED_ROWS: u64 = 100;

/// How `--failed-out` writes rows: as the input was written.
#[derive(Debug, Clone)]
pub enum FailedOutFormat {
    Csv { headers: Vec<String>, delimiter: u8 },
    Jsonl,
}

/// The rows to run again (SPEC §6): those that did not end ok, in this run or (final) in an
/// earlier one, each without the fields that a later row of its page recorded ok has set, so
/// that running the file never puts an older value over a newer one. Which later rows end ok
/// is only known at the end, so rows are spooled to `<PATH>.spool` as they end and the file is
/// written by [`FailedOut::finish`]; memory holds only the fields of the pages concerned.
pub struct FailedOut {
    path: PathBuf,
    csv: bool,
    delimiter: u8,
    locator: Locator,
    spool_path: PathBuf,
    spool: csv::Writer<BufWriter<File>>,
    /// The pages whose ok rows matter, with the fields those rows set.
    later: HashMap<NotionId, PageFields>,
    /// Rows written to the file, once finished.
    pub rows: u64,
}

impl FailedOut {
    /// Creates the file (a CSV gets its header now) and its spool. `watched`: pages that an
    /// earlier run left with a row not ok, whose ok rows may supersede that row's fields.
    /// `utf8_mark`: the input was not UTF-8 (`--encoding`); the file is written in UTF-8 and
    /// starts with a byte-order mark, which the reader honours over `--encoding`, so that it
    /// runs again with the same flags (and opens right in spreadsheets).
    pub fn create(
        path: &Path,
        format: &FailedOutFormat,
        locator: Locator,
        watched: impl Iterator<Item = NotionId>,
        utf8_mark: bool,
    ) -> io::Result<FailedOut> {
        let mut file = File::create(path)?;
        if utf8_mark {
            file.write_all(b"\xEF\xBB\xBF")?;
        }
        let (csv, delimiter) = match format {
            FailedOutFormat::Csv { headers, delimiter } => {
                let mut w = csv::WriterBuilder::new()
                    .delimiter(*delimiter)
                    .from_writer(file);
                w.write_record(headers)?;
                w.flush()?;
                (true, *delimiter)
            }
            FailedOutFormat::Jsonl => (false, b','),
        };
        let mut spool_path = path.as_os_str().to_owned();
        spool_path.push(".spool");
        let spool_path = PathBuf::from(spool_path);
        let spool = csv::WriterBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_writer(BufWriter::new(File::create(&spool_path)?));
        Ok(FailedOut {
            path: path.to_owned(),
            csv,
            delimiter,
            locator,
            spool_path,
            spool,
            later: watched.map(|p| (p, PageFields::default())).collect(),
            rows: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A row that ended in this run.
    fn consider(&mut self, result: &RowResult) -> io::Result<()> {
        let not_ok = matches!(
            result.outcome,
            Outcome::Failed | Outcome::Unknown | Outcome::Invalid
        );
        match (&result.source, result.page_id) {
            (Some(source), page) if not_ok => self.spool_row(result.row, page, source)?,
            (source, Some(page)) if result.outcome == Outcome::Ok => {
                self.ok_row(result.row, page, &result.fields, source.as_ref())
            }
            _ => {}
        }
        Ok(())
    }

    /// What the reader says of a row an earlier run ended.
    pub fn note(&mut self, note: Note) -> io::Result<()> {
        match note {
            Note::Ok {
                row,
                page,
                fields,
                source,
            } => self.ok_row(row, page, &fields, Some(&source)),
            Note::Final { row, page, source } => self.spool_row(row, page, &source)?,
        }
        Ok(())
    }

    /// Keeps the cells of ok rows: a CSV under `--empty clear`, where an empty cell is no way
    /// to say "unchanged" (see [`FailedOut::finish`]).
    fn keeps_cells(&self) -> bool {
        self.csv && self.locator.empty() == EmptyCells::Clear
    }

    fn ok_row(&mut self, row: u64, page: NotionId, fields: &[Field], source: Option<&SourceRow>) {
        let keep = self.keeps_cells();
        let columns = self.locator.csv_fields();
        let Some(later) = self.later.get_mut(&page) else {
            return;
        };
        later.set(row, fields, |field| {
            let Some(Record::Csv(record)) = source.filter(|_| keep).map(|s| &s.record) else {
                return None;
            };
            let i = columns
                .iter()
                .position(|c| c.as_ref().is_some_and(|(f, _)| f == field))?;
            record.get(i).map(Box::from)
        });
    }

    fn spool_row(
        &mut self,
        row: u64,
        page: Option<NotionId>,
        source: &SourceRow,
    ) -> io::Result<()> {
        if let Some(page) = page {
            self.later.entry(page).or_default();
        }
        let row = row.to_string();
        let page = page.map(|p| p.to_string()).unwrap_or_default();
        let mut record = csv::ByteRecord::new();
        record.push_field(row.as_bytes());
        record.push_field(page.as_bytes());
        match &source.record {
            Record::Csv(fields) => fields.iter().for_each(|f| record.push_field(f)),
            Record::Json(line) => record.push_field(line),
        }
        self.spool.write_byte_record(&record)?;
        Ok(())
    }

    /// Writes the spooled rows, each reduced: a superseded CSV cell is left empty (under
    /// `--empty clear` it takes the cell of the later row that set the field, which writes the
    /// value the page already has rather than clearing it or putting the older one back); a
    /// superseded JSONL key is removed; a row left with nothing to change is not written.
    pub fn finish(&mut self) -> io::Result<()> {
        self.spool.flush()?;
        let spool = File::open(&self.spool_path)?;
        let mut out = BufWriter::new(OpenOptions::new().append(true).open(&self.path)?);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(io::BufReader::new(spool));
        let empty = PageFields::default();
        for record in reader.byte_records() {
            let record = record.map_err(io::Error::other)?;
            let row: u64 = std::str::from_utf8(&record[0])
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            let later = std::str::from_utf8(&record[1])
                .ok()
                .and_then(|p| NotionId::parse(p).ok())
                .and_then(|p| self.later.get(&p))
                .unwrap_or(&empty);
            let written = if self.csv {
                let cells: Vec<&[u8]> = record.iter().skip(2).collect();
                match self.reduce_csv(row, &cells, later) {
                    Some(cells) => {
                        let mut w = csv::WriterBuilder::new()
                            .delimiter(self.delimiter)
                            .flexible(true)
                            .from_writer(Vec::new());
                        w.write_record(&cells)?;
                        out.write_all(&w.into_inner().map_err(|e| e.into_error())?)?;
                        true
                    }
                    None => false,
                }
            } else {
                let line = &record[2];
                let drop = |f: &Field| later.later_than(row, f).is_some();
                match self.locator.reduce_json(line, &drop) {
                    Reduced::Line(reduced) => {
                        out.write_all(&reduced)?;
                        out.write_all(b"\n")?;
                        true
                    }
                    Reduced::Nothing => false,
                    Reduced::AsIs => {
                        out.write_all(line)?;
                        out.write_all(b"\n")?;
                        true
                    }
                }
            };
            self.rows += u64::from(written);
        }
        out.flush()?;
        drop(reader);
        std::fs::remove_file(&self.spool_path)
    }

    /// Removes the file and its spool after a write failed (best effort): a file missing rows
    /// must not be run as if it held them all.
    fn discard(self) {
        drop(self.spool);
        let _ = std::fs::remove_file(&self.spool_path);
        let _ = std::fs::remove_file(&self.path);
    }

    /// A CSV row without the cells later ok rows superseded; `None`: nothing left to change.
    fn reduce_csv<'a>(
        &'a self,
        row: u64,
        cells: &[&'a [u8]],
        later: &'a PageFields,
    ) -> Option<Vec<&'a [u8]>> {
        let columns = self.locator.csv_fields();
        if cells.len() != columns.len() {
            return Some(cells.to_vec());
        }
        let clear = self.locator.empty() == EmptyCells::Clear;
        let mut superseded = false;
        let mut changes = false;
        let mut out = Vec::with_capacity(cells.len());
        for (cell, column) in cells.iter().zip(columns) {
            let Some((field, empty_is_unchanged)) = column else {
                out.push(*cell);
                continue;
            };
            if later.later_than(row, field).is_some() {
                superseded = true;
                out.push(if clear && !empty_is_unchanged {
                    later.cell(field).unwrap_or_default()
                } else {
                    b""
                });
                continue;
            }
            let empty = std::str::from_utf8(cell).is_ok_and(|c| c.trim().is_empty());
            changes |= !empty || (clear && !empty_is_unchanged);
            out.push(*cell);
        }
        match (superseded, changes) {
            (false, _) => Some(cells.to_vec()),
            (true, true) => Some(out),
            (true, false) => None,
        }
    }
}

/// Consumes results.
pub struct Reporter {
    report: ReportWriter,
    failed_out: Option<FailedOut>,
    /// Told when a file cannot be written: the run stops taking rows.
    stop: Stop,
    /// Once a report write failed: the rows that ended since, which have no line.
    unrecorded: Option<Vec<u64>>,
    /// `--failed-out` once it could not be written (the file is removed): its path.
    failed_out_lost: Option<PathBuf>,
    pub counts: Counts,
    pub by_code: BTreeMap<String, u64>,
    pub actions: crate::report::summary::Actions,
    /// Rows skipped with a code (`unchanged`, `superseded`, `precondition_failed`), by code.
    pub skipped_by_code: BTreeMap<String, u64>,
    /// `--missing-pages`: the missing pages' rows, counted apart from the input's.
    pub missing: crate::report::summary::MissingPages,
    printed: u64,
}

impl Reporter {
    pub fn new(report: ReportWriter, failed_out: Option<FailedOut>, stop: Stop) -> Reporter {
        Reporter {
            report,
            failed_out,
            stop,
            unrecorded: None,
            failed_out_lost: None,
            actions: Default::default(),
            counts: Counts::default(),
            by_code: BTreeMap::new(),
            skipped_by_code: BTreeMap::new(),
            missing: Default::default(),
            printed: 0,
        }
    }

    pub fn report_path(&self) -> &Path {
        self.report.path()
    }

    pub fn failed_out(&self) -> Option<&FailedOut> {
        self.failed_out.as_ref()
    }

    /// `--failed-out`, if it could not be written (and was removed).
    pub fn failed_out_lost(&self) -> Option<&Path> {
        self.failed_out_lost.as_deref()
    }

    /// The rows that ended after the report could not be written: they have no line.
    pub fn unrecorded(&self) -> &[u64] {
        self.unrecorded.as_deref().unwrap_or_default()
    }

    /// A file could not be written: the run stops taking rows; the line to show now.
    fn failed(&mut self, failure: WriteFailure) -> String {
        let line = format!(
            "error: {failure}; no new rows are taken, the requests in flight finish, then the run stops"
        );
        self.stop.write_failed(failure);
        line
    }

    /// `--failed-out` could not be written: it is given up for this run (the command to
    /// continue writes it again).
    fn lose_failed_out(&mut self, error: &io::Error) -> Option<String> {
        let f = self.failed_out.take()?;
        let failure = WriteFailure::new("--failed-out", &f.path, error);
        self.failed_out_lost = Some(f.path.clone());
        f.discard();
        Some(self.failed(failure))
    }

    /// Records one row's end. Returns the lines to show the person running the tool: the row's,
    /// if it needs attention, and the error of a file that could not be written.
    pub fn record(&mut self, result: &RowResult) -> Option<String> {
        let mut said = self.write_recorded(result);
        if let Some(Err(e)) = self.failed_out.as_mut().map(|f| f.consider(result)) {
            said.extend(self.lose_failed_out(&e));
        }
        said.extend(self.count(result));
        (!said.is_empty()).then(|| said.join("\n"))
    }

    /// A missing page's end (`--missing-pages`): its report line, counted apart from the
    /// input's rows and never in `--failed-out` (the next run finds the page missing again).
    /// Returns the lines to show, as [`Reporter::record`].
    pub fn record_missing(&mut self, result: &RowResult) -> Option<String> {
        let mut said = self.write_recorded(result);
        self.missing.add(result.outcome, result.action);
        if !matches!(result.outcome, Outcome::Ok | Outcome::Skipped) {
            let page = result.page_id.map(|p| p.to_string()).unwrap_or_default();
            said.push(format!(
                "{}: missing page {page} (key {:?}, row {}): {}",
                result.outcome,
                result.key.as_deref().unwrap_or_default(),
                result.row,
                result.message.as_deref().unwrap_or("no answer")
            ));
        }
        (!said.is_empty()).then(|| said.join("\n"))
    }

    /// Writes a row's line (or, once the report could not be written, lists the row); the
    /// error to show, once.
    fn write_recorded(&mut self, result: &RowResult) -> Vec<String> {
        let mut said = Vec::new();
        if self.unrecorded.is_none() {
            if let Err(failure) = self.write_line(result) {
                said.push(self.failed(failure));
                self.unrecorded = Some(Vec::new());
            }
        }
        if let Some(rows) = self.unrecorded.as_mut() {
            rows.push(result.row);
        }
        said
    }

    fn write_line(&mut self, result: &RowResult) -> Result<(), WriteFailure> {
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
            action: result.action,
            key: result.key.as_deref().map(str::to_owned),
            row_hash: result.source.as_ref().map(SourceRow::content_hash),
        })
    }

    /// Counts a row's end; the line to show if it needs attention.
    fn count(&mut self, result: &RowResult) -> Option<String> {
        self.counts.add(result.outcome);
        self.actions.add(result.action, result.code.as_deref());
        if let (Outcome::Skipped, Some(code)) = (result.outcome, &result.code) {
            *self.skipped_by_code.entry(code.clone()).or_default() += 1;
        }
        if matches!(result.outcome, Outcome::Ok | Outcome::Skipped) {
            return None;
        }
        if result.outcome != Outcome::Invalid {
            let key = match (&result.http_status, &result.code) {
                (Some(s), Some(c)) => format!("{s} {c}"),
                (Some(s), None) => format!("{s}"),
                (None, Some(c)) => c.clone(),
                (None, None) => "no response".to_owned(),
            };
            *self.by_code.entry(key).or_default() += 1;
        } else {
            *self.by_code.entry("invalid".into()).or_default() += 1;
        }
        self.printed += 1;
        if self.printed > PRINTED_ROWS {
            return None;
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
        Some(line)
    }

    /// Makes the report durable. Returns the error to show if it cannot be.
    pub fn sync(&mut self) -> Option<String> {
        if self.unrecorded.is_some() {
            return None;
        }
        let failure = self.report.sync().err()?;
        self.unrecorded = Some(Vec::new());
        Some(self.failed(failure))
    }

    /// What the reader says of a row an earlier run ended (for `--failed-out`). Returns the
    /// error to show if the file cannot be written.
    pub fn note(&mut self, note: Note) -> Option<String> {
        let e = self.failed_out.as_mut()?.note(note).err()?;
        self.lose_failed_out(&e)
    }

    /// Writes `--failed-out`, now that every row has ended. Returns the error to show if it
    /// cannot be.
    pub fn finish(&mut self) -> Option<String> {
        let e = self.failed_out.as_mut()?.finish().err()?;
        self.lose_failed_out(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stop::StopReason;

    fn ok(row: u64) -> RowResult {
        RowResult {
            row,
            page_id: Some(NotionId::from_u128(row.into())),
            ..crate::dispatch::tests::result(Outcome::Ok, Some(200), None)
        }
    }

    #[test]
    fn a_report_that_cannot_be_written_stops_the_run_and_the_rows_after_are_listed() {
        // /dev/full: every write fails with ENOSPC, as on a full disk.
        let report = ReportWriter::open(Path::new("/dev/full")).unwrap();
        let stop = Stop::default();
        let mut reporter = Reporter::new(report, None, stop.clone());
        let said = reporter.record(&ok(1)).expect("the error is said");
        assert!(
            said.starts_with("error: cannot write the report /dev/full: No space left on device")
                && said.contains("no new rows are taken"),
            "{said}"
        );
        assert_eq!(stop.reason(), Some(StopReason::WriteFailed));
        // Said once; the rows that end after it are counted and listed, not written.
        assert_eq!(reporter.record(&ok(2)), None);
        assert_eq!(reporter.sync(), None);
        assert_eq!(reporter.unrecorded(), [1, 2]);
        assert_eq!(reporter.counts.ok, 2);
    }
}
