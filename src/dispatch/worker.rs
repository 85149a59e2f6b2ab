//! One row's life: create its page, or follow the row that does; with a precondition to read,
//! read the page first; with `--backup`, save what will change; then send it through the
//! transport ([`crate::transport::send`]) until it ends in exactly one outcome.

use std::sync::Arc;

use tokio::time::Instant;

use serde_json::Value;

use crate::backup::{self, Backup, Prepared};
use crate::dispatch::Writes;
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
            let creating = writes
                .creating
                .as_ref()
                .expect("a row creates its page only with --create-missing");
            return super::create::create(&shared, creating, &job, &new).await;
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
    if let Some(Verdict::Read(precondition)) = job.precondition.clone() {
        match check_before_write(&shared, &job, &precondition, started).await {
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

/// Just before the write (the page's earlier rows have ended): reads the page and judges the
/// precondition against it. `Ok(page)`: it holds, and this is the page as read; `Err(Some)`:
/// the row ends here (the precondition does not hold, or the read failed); `Err(None)`: the run
/// stopped before the read was sent.
async fn check_before_write(
    shared: &Shared,
    job: &Job,
    precondition: &Precondition,
    started: Instant,
) -> Result<Value, Option<RowResult>> {
    let page = match read_page(shared, job.update.row, job.update.page_id).await {
        Ok(page) => page,
        Err(f) if f.stopped => return Err(None),
        Err(f) => {
            let message = format!(
                "not sent: reading the page for its precondition failed: {}",
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
    match precondition.against_page(&page) {
        Ok(()) => Ok(page),
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
