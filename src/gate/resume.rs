//! `--resume` (SPEC §6): what an earlier run recorded for each row, and the reader's side of
//! resuming. Its two promises: a row recorded `ok` is never sent again, and an older value
//! never lands after a newer one. So a row whose last line is `ok` (same page, same body hash),
//! `skipped`, `invalid`, or `failed` with a definitive client error is not sent; any other row
//! is sent again, in input order, without the fields that a later row of its page, already
//! recorded `ok`, has set ([`PageFields`]); a row left with nothing is `skipped`, code
//! `superseded`.
//!
//! Only the report is read before the run, and the input once, as always. A row that needs
//! reducing always has a line (a row runs only after the earlier rows of its page have ended,
//! and their lines are written first), so the pages that need care are known from the report:
//! those with a row whose last line is not ok ("dirty" pages). The reader holds a dirty page's
//! rows to send until it has read the page's last row recorded ok; then every field a later ok
//! row set is known and the held rows go, reduced, in order.
//!
//! Memory: 8 bytes per row the report mentions (a dense table by row number: the class of the
//! row's last line and a 61-bit fingerprint of its page and body hash), about 60 MB for 5
//! million rows with a 40 MB table; plus, for dirty pages only, their last ok row and one
//! entry per field set by their ok rows; plus the rows held, which are at most the dirty pages'
//! rows that are not yet ok.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::gate::{Item, Job};
use crate::mapping::{Field, PageUpdate};
use crate::notion::NotionId;
use crate::outcome::{visit_report, Outcome, ReportLine, RowResult};
use crate::source::SourceRow;

/// How a row's last line in the report leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Earlier {
    /// No line: in flight when the run died, or never reached.
    NoLine,
    /// `ok`, with the fingerprint of its page and body hash.
    Ok(u64),
    /// `skipped`: it needed nothing.
    Skipped,
    /// `failed` after retryable errors (409, 429, 5xx, no connection), or after a 401.
    Resend,
    /// `unknown`: the last attempt may have been applied.
    ResendUnknown,
    /// `invalid`, or `failed` with a definitive client error: final, for a person to fix.
    Final,
}

/// A row's last line as the index keeps it, in 64 bits: the class (3 bits), whether the report
/// recorded the row's content (1 bit), and a 60-bit fingerprint: of the row's content when it
/// was recorded, else (for an `ok` line of an older report) of its page and body hash.
const FINGERPRINT_BITS: u32 = 60;
const FINGERPRINT_MASK: u64 = (1 << FINGERPRINT_BITS) - 1;
const CLASS_SHIFT: u32 = 61;
const CONTENT_FLAG: u64 = 1 << FINGERPRINT_BITS;

/// What the report says of one row: how its last line left it, and the fingerprint of the
/// row's content that line recorded (none in reports written before there was one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub earlier: Earlier,
    pub content: Option<u64>,
}

impl Recorded {
    pub fn of(line: &ReportLine) -> Recorded {
        Recorded {
            earlier: Earlier::of(line),
            content: line.row_hash.as_deref().map(content_fingerprint),
        }
    }

    fn encode(self) -> u64 {
        let (class, fp) = match self.earlier {
            Earlier::NoLine => (0, 0),
            Earlier::Ok(fp) => (1, fp),
            Earlier::Skipped => (2, 0),
            Earlier::Resend => (3, 0),
            Earlier::ResendUnknown => (4, 0),
            Earlier::Final => (5, 0),
        };
        let (flag, fp) = match self.content {
            Some(content) => (CONTENT_FLAG, content),
            None => (0, fp),
        };
        (class << CLASS_SHIFT) | flag | (fp & FINGERPRINT_MASK)
    }

    fn decode(code: u64) -> Recorded {
        let fp = code & FINGERPRINT_MASK;
        let earlier = match code >> CLASS_SHIFT {
            1 => Earlier::Ok(fp),
            2 => Earlier::Skipped,
            3 => Earlier::Resend,
            4 => Earlier::ResendUnknown,
            5 => Earlier::Final,
            _ => Earlier::NoLine,
        };
        Recorded {
            earlier,
            content: (code & CONTENT_FLAG != 0).then_some(fp),
        }
    }
}

/// 60 bits of a report's `row_hash` (or of the hash of a row read now).
pub fn content_fingerprint(row_hash: &str) -> u64 {
    u64::from_str_radix(row_hash.get(..16).unwrap_or(row_hash), 16).unwrap_or(0) & FINGERPRINT_MASK
}

impl Earlier {
    /// The class of a report line.
    pub fn of(line: &ReportLine) -> Earlier {
        if line.action == Some(crate::outcome::RowAction::Created) {
            // Its page exists: a run again finds it by key, and the row is done.
            return Earlier::Skipped;
        }
        match line.outcome {
            Outcome::Ok => match (&line.page_id, &line.body_hash) {
                (Some(page), Some(hash)) => match NotionId::parse(page) {
                    Ok(page) => Earlier::Ok(fingerprint(page, hash)),
                    Err(_) => Earlier::Resend,
                },
                _ => Earlier::Resend,
            },
            Outcome::Skipped => Earlier::Skipped,
            Outcome::Invalid => Earlier::Final,
            Outcome::Unknown => Earlier::ResendUnknown,
            Outcome::Failed if line.http_status.is_some_and(is_definitive) => Earlier::Final,
            Outcome::Failed => Earlier::Resend,
        }
    }

    /// Not ok, so its page needs care.
    fn is_not_ok(self) -> bool {
        matches!(
            self,
            Earlier::Resend | Earlier::ResendUnknown | Earlier::Final
        )
    }
}

/// A refusal that sending again cannot change: a 4xx other than 409 (conflict), 429 (rate
/// limited) and 401 (the token, not the row: a run with a fixed token sends the row again).
pub fn is_definitive(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 409 | 429)
}

/// 60 bits of a row's page and body hash: enough to tell that an edited input row is not the
/// row recorded ok (a false match is about one in 2^61).
pub fn fingerprint(page: NotionId, body_hash: &str) -> u64 {
    let hash = body_hash
        .get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    // FNV-1a over the page id's text: stable across builds, unlike std's hasher.
    let mut page_hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in page.to_string().bytes() {
        page_hash = (page_hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash ^ page_hash) & FINGERPRINT_MASK
}

/// Rows above this in a report are refused, so that a damaged line cannot make the table huge.
const MAX_ROW: u64 = 1 << 32;

/// What an earlier run recorded: each row's last line, and the dirty pages.
#[derive(Debug, Default)]
pub struct ResumeIndex {
    /// By row number - 1: [`Earlier::encode`].
    rows: Vec<u64>,
    /// The dirty pages, each with its last row recorded ok (0: none).
    last_ok: HashMap<NotionId, u64>,
}

impl ResumeIndex {
    /// Reads the report twice, line by line: once for each row's last line, once for the
    /// dirty pages' last ok rows.
    pub fn read(report: &Path) -> io::Result<ResumeIndex> {
        let mut rows: Vec<u64> = Vec::new();
        let mut not_ok: HashMap<u64, NotionId> = HashMap::new();
        let mut bad_row = None;
        visit_report(report, |line| {
            if line.row == 0 || line.row > MAX_ROW {
                bad_row.get_or_insert(line.row);
                return;
            }
            let i = (line.row - 1) as usize;
            if rows.len() <= i {
                rows.resize(i + 1, 0);
            }
            let recorded = Recorded::of(&line);
            let earlier = recorded.earlier;
            rows[i] = recorded.encode();
            let page = line
                .page_id
                .as_deref()
                .and_then(|p| NotionId::parse(p).ok());
            match page {
                Some(page) if earlier.is_not_ok() => {
                    not_ok.insert(line.row, page);
                }
                _ => {
                    not_ok.remove(&line.row);
                }
            }
        })?;
        if let Some(row) = bad_row {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: a line names row {row}, which no input has",
                    report.display()
                ),
            ));
        }
        let dirty: HashSet<NotionId> = not_ok.into_values().collect();
        let mut last_ok: HashMap<NotionId, u64> = dirty.iter().map(|p| (*p, 0)).collect();
        visit_report(report, |line| {
            let recorded = Recorded::of(&line);
            let Earlier::Ok(_) = recorded.earlier else {
                return;
            };
            let Some(page) = line
                .page_id
                .as_deref()
                .and_then(|p| NotionId::parse(p).ok())
            else {
                return;
            };
            let is_last = rows.get((line.row - 1) as usize) == Some(&recorded.encode());
            if let (true, Some(last)) = (is_last, last_ok.get_mut(&page)) {
                *last = (*last).max(line.row);
            }
        })?;
        rows.shrink_to_fit();
        Ok(ResumeIndex { rows, last_ok })
    }

    /// How the row's last line left it.
    pub fn earlier(&self, row: u64) -> Earlier {
        self.recorded(row).earlier
    }

    /// How the row's last line left it, and the content it recorded.
    pub fn recorded(&self, row: u64) -> Recorded {
        row.checked_sub(1)
            .and_then(|i| self.rows.get(i as usize))
            .map_or(
                Recorded {
                    earlier: Earlier::NoLine,
                    content: None,
                },
                |c| Recorded::decode(*c),
            )
    }

    /// The pages with a row whose last line is not ok.
    pub fn dirty_pages(&self) -> impl Iterator<Item = NotionId> + '_ {
        self.last_ok.keys().copied()
    }

    /// The last row of a dirty page recorded ok (0 for other pages, or none).
    fn last_ok(&self, page: NotionId) -> u64 {
        self.last_ok.get(&page).copied().unwrap_or(0)
    }
}

/// The fields that rows of one page recorded ok have set: for each, the last such row, and
/// (for `--failed-out` of a CSV under `--empty clear`) its cell.
#[derive(Debug, Default, Clone)]
pub struct PageFields {
    last: HashMap<Field, LastSet>,
}

/// The last ok row that set a field, and its cell when kept.
type LastSet = (u64, Option<Box<[u8]>>);

impl PageFields {
    /// Row `row`, recorded ok, set these fields.
    pub fn set(&mut self, row: u64, fields: &[Field], cell: impl Fn(&Field) -> Option<Box<[u8]>>) {
        for field in fields {
            match self.last.get_mut(field) {
                Some(last) if last.0 >= row => {}
                Some(last) => *last = (row, cell(field)),
                None => {
                    self.last.insert(field.clone(), (row, cell(field)));
                }
            }
        }
    }

    /// The row after `row` that set `field` and is recorded ok, if there is one.
    pub fn later_than(&self, row: u64, field: &Field) -> Option<u64> {
        self.last
            .get(field)
            .map(|(last, _)| *last)
            .filter(|last| *last > row)
    }

    /// The cell of the last ok row that set `field`, when it was kept.
    pub fn cell(&self, field: &Field) -> Option<&[u8]> {
        self.last.get(field).and_then(|(_, cell)| cell.as_deref())
    }

    /// "\"Estimate\" (row 12), icon (row 14)": the fields of a row `row` that later ok rows set.
    pub fn describe(&self, row: u64, fields: &[Field]) -> String {
        fields
            .iter()
            .filter_map(|f| self.later_than(row, f).map(|r| format!("{f} (row {r})")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What the reader tells `--failed-out` about rows an earlier run ended.
#[derive(Debug)]
pub enum Note {
    /// A row of a dirty page recorded ok: its fields supersede earlier rows'.
    Ok {
        row: u64,
        page: NotionId,
        fields: Arc<[Field]>,
        source: SourceRow,
    },
    /// A row that did not end ok and is final: not sent again, but written to `--failed-out`.
    Final {
        row: u64,
        page: Option<NotionId>,
        source: SourceRow,
    },
}

/// The reader's side of `--resume`: decides, row by row, what is sent.
#[derive(Debug)]
pub struct Resumer {
    index: ResumeIndex,
    /// The fields set by rows of dirty pages recorded ok, read so far.
    later: HashMap<NotionId, PageFields>,
    /// Rows to send again, held until their page's last ok row has been read.
    held: HashMap<NotionId, Vec<Job>>,
    /// Dirty pages by the row after which their held rows go.
    release_at: HashMap<u64, Vec<NotionId>>,
    /// Rows ok or skipped in an earlier run, not sent again.
    pub resumed_ok: u64,
    /// Rows that did not end ok in an earlier run and are final: not sent again.
    pub resumed_final: u64,
}

impl Resumer {
    pub fn new(index: ResumeIndex) -> Resumer {
        let mut release_at: HashMap<u64, Vec<NotionId>> = HashMap::new();
        for (page, last) in &index.last_ok {
            if *last > 0 {
                release_at.entry(*last).or_default().push(*page);
            }
        }
        Resumer {
            later: index
                .dirty_pages()
                .map(|p| (p, PageFields::default()))
                .collect(),
            index,
            held: HashMap::new(),
            release_at,
            resumed_ok: 0,
            resumed_final: 0,
        }
    }

    /// The pages `--failed-out` must watch from the start: the dirty ones.
    pub fn dirty_pages(&self) -> impl Iterator<Item = NotionId> + '_ {
        self.index.dirty_pages()
    }

    /// One mapped row, in input order: the items to hand the dispatcher now, in order.
    /// `fields`: what the row sets as mapped, before a scan left out what its page already
    /// holds. `Err`: the row is not the one the report recorded (the input changed).
    pub fn admit(
        &mut self,
        item: Item,
        fields: Arc<[Field]>,
        note: &mut dyn FnMut(Note),
    ) -> Result<Vec<Item>, InputChanged> {
        let (row, page, source) = match &item {
            Item::Send(job) => (job.update.row, Some(job.update.page_id), &job.source),
            Item::Unsent(mapped, source) => (mapped.row(), mapped.page_id(), source),
            Item::Ended(_) => return Ok(vec![item]),
        };
        let recorded = self.index.recorded(row);
        if let Some(content) = recorded.content {
            if content != content_fingerprint(&source.content_hash()) {
                return Err(InputChanged {
                    row,
                    line: source.line,
                });
            }
            if let Earlier::Ok(_) = recorded.earlier {
                self.recorded_ok(row, page, item, fields, note);
                return Ok(self.released_after(row));
            }
        }
        let mut out = Vec::new();
        let earlier = self.index.earlier(row);
        let template = matches!(&item, Item::Send(job) if job.update.body.template.is_some());
        match (earlier, item) {
            (Earlier::Ok(fp), Item::Send(job))
                if fp == fingerprint(job.update.page_id, &job.body_hash) =>
            {
                self.resumed_ok += 1;
                if let Some(fields) = self.later.get_mut(&job.update.page_id) {
                    fields.set(row, &job.fields, |_| None);
                    note(Note::Ok {
                        row,
                        page: job.update.page_id,
                        fields: job.fields.clone(),
                        source: job.source,
                    });
                }
            }
            (Earlier::Skipped, _) => self.resumed_ok += 1,
            // A template is not idempotent: one that may have been applied is not sent again.
            (Earlier::Final, item) | (Earlier::ResendUnknown, item)
                if earlier == Earlier::Final || template =>
            {
                self.resumed_final += 1;
                let source = source_of(item);
                note(Note::Final { row, page, source });
            }
            (_, Item::Send(job)) => {
                let page = job.update.page_id;
                if self.held.contains_key(&page) || self.index.last_ok(page) > row {
                    self.held.entry(page).or_default().push(job);
                } else {
                    out.push(Item::Send(job));
                }
            }
            (_, other) => out.push(other),
        }
        out.extend(self.released_after(row));
        Ok(out)
    }

    /// A row recorded ok, as it was: not sent, whatever the page holds now; its fields (as
    /// mapped) supersede earlier rows of its page when that page is dirty.
    fn recorded_ok(
        &mut self,
        row: u64,
        page: Option<NotionId>,
        item: Item,
        fields: Arc<[Field]>,
        note: &mut dyn FnMut(Note),
    ) {
        self.resumed_ok += 1;
        if let (Some(page), Some(later)) = (page, page.and_then(|p| self.later.get_mut(&p))) {
            later.set(row, &fields, |_| None);
            let source = source_of(item);
            note(Note::Ok {
                row,
                page,
                fields,
                source,
            });
        }
    }

    /// The held rows of the dirty pages whose last ok row is `row`.
    fn released_after(&mut self, row: u64) -> Vec<Item> {
        let mut out = Vec::new();
        if let Some(pages) = self.release_at.remove(&row) {
            for page in pages {
                out.extend(self.release(page));
            }
        }
        out
    }

    /// The rows still held (a page whose last ok row was not met, the input having changed),
    /// at the end of the input.
    pub fn finish(&mut self) -> Vec<Item> {
        let mut pages: Vec<(u64, NotionId)> = self
            .held
            .iter()
            .map(|(page, jobs)| (jobs[0].update.row, *page))
            .collect();
        pages.sort();
        pages
            .into_iter()
            .flat_map(|(_, page)| self.release(page))
            .collect()
    }

    /// A dirty page's held rows, reduced, in order.
    fn release(&mut self, page: NotionId) -> Vec<Item> {
        let jobs = self.held.remove(&page).unwrap_or_default();
        let fields = self.later.get(&page).cloned().unwrap_or_default();
        jobs.into_iter().map(|job| reduce(job, &fields)).collect()
    }
}

/// The raw record of a row not yet ended.
fn source_of(item: Item) -> SourceRow {
    match item {
        Item::Send(job) => job.source,
        Item::Unsent(_, source) => source,
        Item::Ended(_) => unreachable!("ended rows are passed on before this"),
    }
}

/// `--resume` met a row that is not the one its report recorded: its cells changed, or rows
/// were added or removed above it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--resume: row {row} (line {line}) is not the row the report recorded for it: its cells \
     changed, or rows were added or removed above it. Resume continues the same input only, so \
     nothing from this row on was sent. Put the input back as it was and resume again; or, to \
     apply the edited input, run it with a new --report (with --data-source, pages that already \
     hold a row's values are not written again)"
)]
pub struct InputChanged {
    pub row: u64,
    pub line: u64,
}

/// A row to send again, without the fields later ok rows of its page set: the same job, a
/// smaller one whose report message says what was dropped, or (nothing left) `superseded`.
pub fn reduce(job: Job, later: &PageFields) -> Item {
    let row = job.update.row;
    let mut body = job.update.body.clone();
    let dropped = body.drop_fields(|f| later.later_than(row, f).is_some());
    if dropped.is_empty() {
        return Item::Send(job);
    }
    let which = later.describe(row, &dropped);
    if body.is_empty() {
        let mut result = RowResult::unsent(
            row,
            Some(job.update.page_id),
            Outcome::Skipped,
            format!(
                "not sent: every field it sets was set since by a later row of this page \
                 already recorded ok: {which}"
            ),
            job.source,
        );
        result.code = Some("superseded".into());
        result.key = job.update.key.as_ref().map(|k| k.text.clone());
        return Item::Ended(Box::new(result));
    }
    let update = PageUpdate { body, ..job.update };
    let mut reduced = Job::new(update, job.source);
    // Its precondition goes with it: a reduced row is still written only if it holds.
    reduced.precondition = job.precondition;
    reduced.note = Some(format!(
        "sent again without {which}: set since by a later row of this page already recorded ok"
    ));
    Item::Send(reduced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(row: u64, outcome: Outcome, status: Option<u16>) -> ReportLine {
        ReportLine {
            row,
            page_id: Some("8d116ece-1738-47d9-bd9c-172411e20b8f".into()),
            outcome,
            http_status: status,
            code: None,
            message: None,
            attempts: 1,
            duration_ms: 1,
            request_id: None,
            body_hash: Some("ab".repeat(32)),
            action: None,
            key: None,
            row_hash: None,
        }
    }

    #[test]
    fn definitive_refusals_and_invalid_rows_are_final_the_rest_is_sent_again() {
        assert_eq!(
            Earlier::of(&line(1, Outcome::Failed, Some(400))),
            Earlier::Final
        );
        assert_eq!(
            Earlier::of(&line(1, Outcome::Failed, Some(404))),
            Earlier::Final
        );
        assert_eq!(
            Earlier::of(&line(1, Outcome::Failed, Some(403))),
            Earlier::Final
        );
        assert_eq!(
            Earlier::of(&line(1, Outcome::Invalid, None)),
            Earlier::Final
        );
        for status in [Some(409), Some(429), Some(401), Some(503), None] {
            assert_eq!(
                Earlier::of(&line(1, Outcome::Failed, status)),
                Earlier::Resend,
                "{status:?}"
            );
        }
        assert_eq!(
            Earlier::of(&line(1, Outcome::Unknown, Some(504))),
            Earlier::ResendUnknown
        );
        assert!(matches!(
            Earlier::of(&line(1, Outcome::Ok, Some(200))),
            Earlier::Ok(_)
        ));
        for e in [
            Earlier::NoLine,
            Earlier::Ok(FINGERPRINT_MASK),
            Earlier::Skipped,
            Earlier::Resend,
            Earlier::ResendUnknown,
            Earlier::Final,
        ] {
            for content in [None, Some(0), Some(FINGERPRINT_MASK)] {
                let recorded = Recorded {
                    earlier: e,
                    content,
                };
                let decoded = Recorded::decode(recorded.encode());
                assert_eq!(decoded.content, content);
                match (e, content) {
                    (Earlier::Ok(_), Some(c)) => assert_eq!(decoded.earlier, Earlier::Ok(c)),
                    _ => assert_eq!(decoded.earlier, e),
                }
            }
        }
    }

    #[test]
    fn the_last_line_wins_and_dirty_pages_know_their_last_ok_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut writer = crate::report::ReportWriter::open(&path).unwrap();
        for l in [
            line(1, Outcome::Unknown, Some(504)),
            line(2, Outcome::Ok, Some(200)),
            line(3, Outcome::Failed, Some(503)),
            line(3, Outcome::Ok, Some(200)),
            line(5, Outcome::Ok, Some(200)),
        ] {
            writer.write(&l).unwrap();
        }
        let index = ResumeIndex::read(&path).unwrap();
        assert_eq!(index.earlier(1), Earlier::ResendUnknown);
        assert!(matches!(index.earlier(3), Earlier::Ok(_)));
        assert_eq!(index.earlier(4), Earlier::NoLine);
        assert_eq!(index.earlier(9), Earlier::NoLine);
        let page = NotionId::parse("8d116ece-1738-47d9-bd9c-172411e20b8f").unwrap();
        assert_eq!(index.dirty_pages().collect::<Vec<_>>(), [page]);
        assert_eq!(index.last_ok(page), 5);
    }

    #[test]
    fn later_fields_say_which_row_set_them() {
        let mut fields = PageFields::default();
        let status = Field::Property("Status".into());
        fields.set(7, &[status.clone(), Field::Icon], |_| None);
        fields.set(4, std::slice::from_ref(&status), |_| None);
        assert_eq!(fields.later_than(5, &status), Some(7));
        assert_eq!(fields.later_than(7, &status), None);
        assert_eq!(fields.later_than(5, &Field::Cover), None);
        assert_eq!(
            fields.describe(2, &[status, Field::Icon]),
            "\"Status\" (row 7), icon (row 7)"
        );
    }
}
