//! One row's life: create its page, or follow the row that does; with a precondition to read,
//! read the page first; with `--backup`, save what will change; then send it through the
//! transport ([`crate::transport::send`]) until it ends in exactly one outcome.

use std::sync::Arc;

use tokio::time::Instant;

use serde_json::Value;

use crate::backup::{self, Backup, Prepared};
use crate::dispatch::upload::{Attached, UploadFailure};
use crate::dispatch::Writes;
use crate::gate::edit;
use crate::gate::matcher::Creation;
use crate::gate::precondition::{self, Precondition, Verdict};
use crate::gate::Job;
use crate::notion::client::{Attempt, Reply};
use crate::outcome::{Outcome, RowAction, RowResult};
use crate::transport::{read_page, send, ReadFailure, Sent, Shared};

/// Sends one job to its end. `None`: the run stopped before the row was ever sent, so it has
/// no outcome yet (a resumed run sends it).
pub async fn run(shared: Arc<Shared>, writes: Arc<Writes>, mut job: Job) -> Option<RowResult> {
    let started = Instant::now();
    match &job.creation {
        Some(Creation::Create(new)) => {
            let new = new.clone();
            let attached = match upload_files(&shared, &writes, &mut job, started).await {
                Ok(attached) => attached,
                Err(ended) => return ended,
            };
            let creating = writes
                .creating
                .as_ref()
                .expect("a row creates its page only with --create-missing");
            let result = super::create::create(&shared, creating, &job, &new).await;
            if result.as_ref().is_some_and(|r| r.outcome == Outcome::Ok) {
                mark_attached(&writes, &attached);
            }
            return result;
        }
        Some(Creation::Follow(new)) => match new.id.get() {
            Some(id) => job.update.page_id = *id,
            None => {
                let mut result = job.result(
                    Outcome::Failed,
                    0,
                    started,
                    None,
                    Some(format!(
                        "not sent: row {} was to create the page for this key and did not (see its line); --resume looks the key up again",
                        new.row
                    )),
                );
                result.page_id = None;
                result.code = Some("no_match".into());
                return Some(result);
            }
        },
        None => {}
    }
    let precondition = match job.precondition.clone() {
        Some(Verdict::Read(p)) => Some(p),
        _ => None,
    };
    if precondition.is_some() || edit::has_edits(&job.update.body) {
        match check_before_write(&shared, &mut job, precondition.as_deref(), started).await {
            // The page just read is also the freshest before-image for --backup.
            Ok(page) if writes.backup.is_some() => job.before = Some(Box::new(page)),
            Ok(_) => {}
            Err(ended) => return ended,
        }
    }
    if let Some(backup) = &writes.backup {
        match back_up(&shared, backup, &job).await {
            Ok(Prepared::Send) => {}
            Ok(Prepared::Unchanged) => {
                let mut result = job.result(
                    Outcome::Skipped,
                    0,
                    started,
                    None,
                    Some("the page already has these values (read for --backup): not sent".into()),
                );
                result.action = Some(RowAction::Unchanged);
                return Some(result);
            }
            Err(None) => return None,
            Err(Some((reply, attempts, message))) => {
                return Some(job.result(
                    Outcome::Failed,
                    attempts,
                    started,
                    reply.as_ref(),
                    Some(message),
                ))
            }
        }
    }
    let attached = match upload_files(&shared, &writes, &mut job, started).await {
        Ok(attached) => attached,
        Err(ended) => return ended,
    };
    let template = job.update.body.template.is_some();
    let path = format!("PATCH /v1/pages/{}", job.update.page_id);
    let sent = send(&shared, job.update.row, &path, template, || {
        shared
            .client
            .patch_page(job.update.page_id, job.body_bytes.clone())
    })
    .await;
    match sent {
        Sent::Done(reply, attempts) => {
            mark_attached(&writes, &attached);
            let mut result = job.result(Outcome::Ok, attempts, started, Some(&reply), None);
            result.action = Some(RowAction::Updated);
            Some(result)
        }
        Sent::Ended(outcome, reply, attempts, message) => {
            Some(job.result(outcome, attempts, started, reply.as_ref(), message))
        }
        Sent::Never => None,
    }
}

/// Just before the write: the files the row names that are to be copied into Notion are
/// uploaded (each once per run) and the body names them by their uploads; the report's
/// message lists them. `Err`: the row ends here (`None`: the run stopped first).
async fn upload_files(
    shared: &Shared,
    writes: &Writes,
    job: &mut Job,
    started: Instant,
) -> Result<Vec<Attached>, Option<RowResult>> {
    let Some((uploads, base)) = &writes.uploads else {
        return Ok(vec![]);
    };
    if !job.uploads {
        return Ok(vec![]);
    }
    match uploads
        .attach(shared, job.update.row, base, &mut job.body_bytes)
        .await
    {
        Ok(attached) => {
            job.filled = attached
                .iter()
                .map(|a| (a.placeholder.clone(), a.id().to_owned()))
                .collect();
            if !attached.is_empty() {
                let listed: Vec<String> = attached
                    .iter()
                    .map(|a| format!("{} = {}", a.shown, a.id()))
                    .collect();
                let said = format!("files uploaded: {}", listed.join(", "));
                job.note = Some(match job.note.take() {
                    Some(note) => format!("{note}; {said}"),
                    None => said,
                });
            }
            Ok(attached)
        }
        Err(UploadFailure::Stopped) => Err(None),
        Err(UploadFailure::Failed {
            reply,
            attempts,
            message,
        }) => Err(Some(job.result(
            Outcome::Failed,
            attempts,
            started,
            reply.as_deref(),
            Some(message),
        ))),
    }
}

/// The row was written: its uploads are attached (they no longer expire).
fn mark_attached(writes: &Writes, attached: &[Attached]) {
    if let Some((uploads, _)) = &writes.uploads {
        uploads.attached(attached);
    }
}

/// Just before the write (the page's earlier rows have ended): reads the page, judges the
/// precondition against it and makes the row's adds and removes against its lists.
/// `Ok(page)`: the row goes, and this is the page as read; `Err(Some)`: the row ends here (the
/// precondition does not hold, the edits change nothing or cannot be made, or the read
/// failed); `Err(None)`: the run stopped before the read was sent.
async fn check_before_write(
    shared: &Shared,
    job: &mut Job,
    precondition: Option<&Precondition>,
    started: Instant,
) -> Result<Value, Option<RowResult>> {
    let page = match read_page(shared, job.update.row, job.update.page_id).await {
        Ok(page) => page,
        Err(f) if f.stopped => return Err(None),
        Err(f) => {
            let why = match precondition {
                Some(_) => "its precondition",
                None => "the items to add or remove",
            };
            let message = format!(
                "not sent: reading the page for {why} failed: {}",
                f.answer()
            );
            let reply = f.reply.as_deref();
            return Err(Some(job.result(
                Outcome::Failed,
                f.attempts,
                started,
                reply,
                Some(message),
            )));
        }
    };
    let held = precondition.map_or(Ok(()), |p| p.against_page(&page));
    match held {
        Ok(()) => make_edits(job, page, started).map_err(|ended| Some(*ended)),
        Err(why) => {
            let mut result = precondition::skipped(
                job.update.row,
                job.update.page_id,
                job.source.clone(),
                format!("precondition failed (read just before the write): {why}; not sent"),
            );
            result.duration = started.elapsed();
            Err(Some(result))
        }
    }
}

/// Makes the row's adds and removes against the page just read, and serialises the body
/// anew. A row left with nothing to change ends skipped (unchanged); one whose list would hold
/// too many items ends invalid.
fn make_edits(job: &mut Job, page: Value, started: Instant) -> Result<Value, Box<RowResult>> {
    if !edit::has_edits(&job.update.body) {
        return Ok(page);
    }
    if let Err(why) = edit::make_all_against_page(&mut job.update.body, &page) {
        return Err(Box::new(job.result(
            Outcome::Invalid,
            0,
            started,
            None,
            Some(format!("{why} (read just before the write)")),
        )));
    }
    // An edit that changes nothing is no longer in the body (edits never were in `fields`).
    if job.update.body.is_empty() {
        let mut result = job.result(
            Outcome::Skipped,
            0,
            started,
            None,
            Some("the page already has these items (read just before the write): not sent".into()),
        );
        result.action = Some(RowAction::Unchanged);
        result.code = Some("unchanged".into());
        return Err(Box::new(result));
    }
    job.body_bytes = serde_json::to_vec(&job.update.body).expect("a body serialises");
    job.body_hash = job.update.body.hash();
    Ok(page)
}

type BackupFailure = Option<(Option<Reply>, u32, String)>;

/// Reads the page (completing truncated lists) and saves the values the row will change.
/// `Err(None)`: stopped before anything was sent. A page the scan read comes with the job
/// (`job.before`): no read then.
async fn back_up(shared: &Shared, backup: &Backup, job: &Job) -> Result<Prepared, BackupFailure> {
    let page_id = job.update.page_id;
    let page = match &job.before {
        Some(before) => (**before).clone(),
        None => read_page(shared, job.update.row, page_id)
            .await
            .map_err(|f| backup_failure(f, "not sent: reading the page for --backup failed"))?,
    };
    backup
        .prepare(page_id, &page, &job.update.body)
        .map_err(|e| {
            if let backup::BackupError::Write(failure) = &e {
                // No row goes without its backup: stop taking rows.
                shared.stop.write_failed(failure.clone());
            }
            Some((
                None,
                0,
                format!("not sent: --backup could not save the current values: {e}"),
            ))
        })
}

/// A read for `--backup` that failed: `None` when the run stopped before it was sent.
fn backup_failure(failure: ReadFailure, what: &str) -> BackupFailure {
    if failure.stopped {
        return None;
    }
    let why = failure.answer();
    Some((
        failure.reply.map(|r| *r),
        failure.attempts,
        format!("{what}: {why}"),
    ))
}

impl Job {
    /// The row's one result. `message` overrides the reply's (for outcomes that are not ok).
    pub(crate) fn result(
        &self,
        outcome: Outcome,
        attempts: u32,
        started: Instant,
        reply: Option<&Reply>,
        message: Option<String>,
    ) -> RowResult {
        let http_status = reply.and_then(|r| match r.attempt {
            Attempt::Status(s) => Some(s),
            _ => None,
        });
        let message = match outcome {
            Outcome::Ok => None,
            _ => message.or_else(|| reply.and_then(|r| r.message.clone())),
        };
        // A request that waited out 429s says which of Notion's limits they named.
        let waited = reply
            .filter(|r| r.attempt != Attempt::Status(429))
            .and_then(|r| r.rate_limit_reason.as_deref())
            .map(|limits| format!("waited out 429s from Notion first (limit named: {limits})"));
        let message = match (message, waited) {
            (Some(m), Some(w)) => Some(format!("{m}; {w}")),
            (m, w) => m.or(w),
        };
        let message = match (message, &self.note) {
            (Some(m), Some(note)) => Some(format!("{m} ({note})")),
            (m, note) => m.or_else(|| note.clone()),
        };
        RowResult {
            row: self.update.row,
            page_id: Some(self.update.page_id),
            outcome,
            http_status,
            code: reply.and_then(|r| r.code.clone()),
            message,
            attempts,
            duration: started.elapsed(),
            request_id: reply.and_then(|r| r.request_id.clone()),
            body_hash: Some(self.body_hash.clone()),
            source: Some(self.source.clone()),
            fields: self.fields.clone(),
            action: None,
            key: self.update.key.as_ref().map(|k| k.text.clone()),
        }
    }
}
