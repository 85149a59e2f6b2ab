//! The gates: per row, between the mapper and the dispatcher, what is sent and in which form.
//! `template` holds template rows to the end of the input (SPEC §5); then [`Gates::decide`],
//! which `plan` and `apply` share, runs in order: the row's precondition from its cells
//! (`precondition`); with `--match-on`, the row's page by its key (`matcher`); the precondition
//! judged against that page as the scan read it; only the fields that differ from the scan's
//! values (`matcher`). `apply` goes on with [`Gates::forward`]: the [`Job`]; with `--resume`,
//! whether it is sent at all and without what (`resume`); and [`settle`], which ends a row
//! whose precondition failed. What comes out is an [`Item`] for the dispatcher.

pub mod edit;
pub mod matcher;
pub mod precondition;
pub mod resume;
pub mod template;

use std::sync::Arc;

use crate::gate::matcher::{Creation, Found, Matched, Matcher};
use crate::gate::precondition::{Expectations, Verdict};
use crate::gate::resume::{InputChanged, Note, Resumer};
use crate::mapping::{Field, Mapped, PageUpdate};
use crate::notion::NotionId;
use crate::outcome::RowResult;
use crate::source::SourceRow;

pub use template::TemplateGate;

/// A row to send, with its raw record (for `--failed-out`) and its body ready to go.
#[derive(Debug, Clone)]
pub struct Job {
    pub update: PageUpdate,
    pub source: SourceRow,
    pub body_bytes: Vec<u8>,
    pub body_hash: String,
    /// With a scan and `--backup`: the page as the scan read it (the fields the row changes),
    /// so that the backup needs no read of its own.
    pub before: Option<Box<serde_json::Value>>,
    /// The fields the body sets (what a later row of the page supersedes, SPEC §6).
    pub fields: Arc<[Field]>,
    /// Said in the report's message whatever the outcome (a row resumed without the fields a
    /// later row already set says which were dropped).
    pub note: Option<String>,
    /// With `--create-missing`: the row creates its page, or follows the row that does.
    pub creation: Option<Creation>,
    /// The row's precondition (SPEC §11), as far as it is known before dispatch.
    pub precondition: Option<Verdict>,
    /// The body names files to copy into Notion (`crate::mapping::file`).
    pub uploads: bool,
    /// Once uploaded: each file's placeholder and its upload's id.
    pub filled: Vec<(serde_json::Value, String)>,
}

impl Job {
    /// An update ready to send: its body serialised and hashed once, on the reader's thread.
    pub fn new(update: PageUpdate, source: SourceRow) -> Job {
        let uploads = update.body.has_uploads();
        Job {
            body_bytes: serde_json::to_vec(&update.body).expect("a body serialises"),
            body_hash: update.body.hash(),
            fields: update.body.fields().into(),
            update,
            source,
            before: None,
            note: None,
            creation: None,
            precondition: None,
            uploads,
            filled: Vec::new(),
        }
    }
}

/// What the reader hands the dispatcher, with each row's raw record.
#[derive(Debug)]
pub enum Item {
    /// An update to send.
    Send(Job),
    /// An invalid or skipped row: it ends without a request.
    Unsent(Mapped, SourceRow),
    /// A row that has already ended without a request (resumed rows reduced to nothing).
    Ended(Box<RowResult>),
}

/// Once `--resume` has decided what is sent: a row whose precondition failed against the scan
/// ends here, skipped; one that holds goes on without a read.
pub fn settle(item: Item) -> Item {
    match item {
        Item::Send(mut job) => match job.precondition.take() {
            Some(Verdict::Fails(message)) => Item::Ended(Box::new(precondition::skipped(
                job.update.row,
                job.update.page_id,
                job.source,
                message,
            ))),
            Some(Verdict::Read(p)) => {
                job.precondition = Some(Verdict::Read(p));
                Item::Send(job)
            }
            Some(Verdict::Holds) | None => Item::Send(job),
        },
        other => other,
    }
}

/// What [`Gates::decide`] makes of one row.
#[derive(Debug)]
pub struct Decided {
    /// The row as it goes on: with a data source, only its changes (or how it ended).
    pub matched: Matched,
    /// For a row to send with a precondition: what is known of it before dispatch.
    pub verdict: Option<Verdict>,
    /// With [`Gates::describe`], a row with a precondition: each expected value, and as the
    /// scan read the page the current one and whether it holds.
    pub shown: Option<serde_json::Value>,
}

/// The gates after the template gate, as `plan` and `apply` run them on the reader's thread:
/// each one that applies to this run, once per row ([`Gates::decide`]; `apply` then
/// [`Gates::forward`]s the row through `--resume`).
#[derive(Debug)]
pub struct Gates {
    /// The rows' preconditions (`if:` columns, `[expect]`), if they can have any.
    pub expectations: Option<Expectations>,
    /// With a data source: the scan's index, and with `--match-on` the pages by key.
    pub matcher: Option<Matcher>,
    /// `--recheck`: preconditions are judged against a read before each write, not the scan.
    pub recheck: bool,
    /// With `--resume`: the reader's side of resuming.
    pub resume: Option<Resumer>,
    /// `plan`: each row's precondition is described ([`Decided::shown`]).
    pub describe: bool,
}

impl Gates {
    /// The gates `plan` and `apply` share, in this order: the row's precondition taken from its
    /// cells (a bad `if:` cell makes the row invalid, whatever its key finds); with
    /// `--match-on`, its page by its key; the precondition judged against that page as the
    /// scan read it (unless `--recheck`); then only the fields that differ from the scan's
    /// values (the matcher marks the fields this row sends as no longer known, so the
    /// verdict comes before it).
    pub fn decide(&mut self, mapped: Mapped, source_row: &SourceRow) -> Decided {
        let (mapped, precondition) = match self.expectations.as_mut() {
            Some(e) => e.precondition(mapped, source_row),
            None => (mapped, None),
        };
        let found = match self.matcher.as_mut() {
            Some(matcher) => matcher.find(mapped),
            None => Found::Go(mapped),
        };
        // Described before the matcher marks the fields this row sends as no longer known.
        let index = self.matcher.as_ref().map(Matcher::index);
        let shown = match (&precondition, self.describe) {
            (Some(p), true) => {
                let page = match &found {
                    Found::Go(mapped) => mapped.page_id(),
                    Found::Done(done) => done.mapped.page_id(),
                };
                Some(p.describe(index, page.unwrap_or(NotionId::UNMATCHED)))
            }
            _ => None,
        };
        let (matched, verdict) = match found {
            Found::Done(matched) => (matched, None),
            Found::Go(mapped) => {
                let verdict = match (&mapped, precondition) {
                    (Mapped::Update(u), Some(p)) => {
                        Some(p.verdict(index.filter(|_| !self.recheck), u.page_id))
                    }
                    _ => None,
                };
                let matched = match self.matcher.as_mut() {
                    Some(matcher) => matcher.compare(mapped),
                    None => Matched::as_is(mapped),
                };
                (matched, verdict)
            }
        };
        Decided {
            matched,
            verdict,
            shown,
        }
    }

    /// One mapped row, in input order (template rows last): the items to hand the dispatcher
    /// now, in order (none while `--resume` holds it; held rows of its page with it when it
    /// releases them). `note` is told of rows an earlier run ended (for `--failed-out`).
    /// `Err`: `--resume` met a row the report does not have (nothing from it on is sent).
    pub fn forward(
        &mut self,
        mapped: Mapped,
        source_row: SourceRow,
        note: &mut dyn FnMut(Note),
    ) -> Result<Vec<Item>, InputChanged> {
        // What the row sets as mapped, before the scan leaves out what its page holds:
        // `--resume` knows from it which fields a row recorded ok has set.
        // Items added or removed set no whole value: they supersede nothing.
        let edited = match &mapped {
            Mapped::Update(update) => edit::edited_fields(&update.body),
            _ => Vec::new(),
        };
        let fields: Arc<[Field]> = match (&self.resume, &mapped) {
            (Some(_), Mapped::Update(update)) => {
                let all = update.body.fields().into_iter();
                all.filter(|f| !edited.contains(f)).collect()
            }
            _ => Arc::from([]),
        };
        let Decided {
            matched, verdict, ..
        } = self.decide(mapped, &source_row);
        let item = match matched.mapped {
            Mapped::Update(update) => {
                let mut job = Job::new(update, source_row);
                if !edited.is_empty() {
                    let kept = job.fields.iter().filter(|f| !edited.contains(f));
                    job.fields = kept.cloned().collect();
                }
                job.before = matched.before.map(Box::new);
                job.creation = matched.creation;
                job.precondition = verdict;
                Item::Send(job)
            }
            unsent => Item::Unsent(unsent, source_row),
        };
        let items = match self.resume.as_mut() {
            Some(r) => r.admit(item, fields, note)?,
            None => vec![item],
        };
        Ok(items.into_iter().map(settle).collect())
    }

    /// At the end of the input: the rows `--resume` still holds, in order.
    pub fn finish(&mut self) -> Vec<Item> {
        let held = self
            .resume
            .as_mut()
            .map(Resumer::finish)
            .unwrap_or_default();
        held.into_iter().map(settle).collect()
    }

    /// With `--resume`: the rows not sent again because an earlier run ended them ok (or
    /// skipped), and those it ended for good.
    pub fn resumed(&self) -> (u64, u64) {
        self.resume
            .as_ref()
            .map_or((0, 0), |r| (r.resumed_ok, r.resumed_final))
    }
}
