//! The dispatcher: rows for different pages run concurrently up to `--concurrency`, rows for
//! the same page run one after another in input order, the first request of a run goes alone,
//! and every row ends in exactly one [`RowResult`] sent to the reporter. Workers never print.

pub mod create;
pub mod upload;
mod worker;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::gate::{Item, Job};
use crate::mapping::Mapped;
use crate::notion::NotionId;
use crate::outcome::{Outcome, RowAction, RowResult};
use crate::source::SourceRow;
use crate::stop::{StopReason, FIRST_ROWS};
use crate::transport::Shared;

/// What creating a page needs (SPEC §10): the data source it goes in and its key.
#[derive(Debug, Clone)]
pub struct Creating {
    pub schema: Arc<crate::notion::Schema>,
    pub version: crate::notion::Version,
    pub key: Arc<crate::mapping::key::KeySpec>,
}

/// What the workers need beyond the transport: the writes a row makes besides its PATCH.
#[derive(Default)]
pub struct Writes {
    /// With `--backup`: where the values a row changes are saved before it is sent.
    pub backup: Option<crate::backup::Backup>,
    /// With `--create-missing`: where pages are created and how their keys are looked up.
    pub creating: Option<Creating>,
    /// Files copied into Notion (local paths, `upload:` URLs), and the folder paths are
    /// relative to.
    pub uploads: Option<(upload::Uploads, std::path::PathBuf)>,
}

/// Runs every item to its end. Returns when the input is exhausted and nothing is in flight,
/// or when a stop was asked for and the rows in flight have ended.
pub async fn dispatch(
    shared: Arc<Shared>,
    writes: Arc<Writes>,
    mut items: mpsc::Receiver<Item>,
    results: mpsc::Sender<RowResult>,
) {
    let concurrency = shared.settings.concurrency.max(1);
    let mut tasks: JoinSet<(NotionId, Option<RowResult>)> = JoinSet::new();
    // Pages with a row in flight, and the rows queued behind it.
    let mut lanes: HashMap<NotionId, VecDeque<Job>> = HashMap::new();
    let mut queued = 0usize;
    let mut input_done = false;
    let mut first_ended = false;
    let mut sent_any = false;
    let mut guard = Accounting::new(shared.settings.max_errors);
    let mut stop_rx = shared.stop.subscribe();
    let spawn = |tasks: &mut JoinSet<(NotionId, Option<RowResult>)>, job: Job| {
        let (shared, writes) = (shared.clone(), writes.clone());
        tasks.spawn(async move { (job.update.page_id, worker::run(shared, writes, job).await) });
    };
    loop {
        let stopping = shared.stop.reason().is_some();
        if (input_done || stopping) && tasks.is_empty() {
            break;
        }
        let can_take = !stopping
            && !input_done
            && tasks.len() + queued < concurrency
            && (first_ended || !sent_any);
        tokio::select! {
            biased;
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let (page, result) = match joined {
                    Ok(ended) => ended,
                    // The runtime is shutting down (the process is ending): no one is left
                    // to take results.
                    Err(e) if e.is_cancelled() => return,
                    Err(e) => std::panic::resume_unwind(e.into_panic()),
                };
                first_ended = true;
                if let Some(result) = result {
                    if let Some(reason) = guard.account(&result) {
                        shared.stop.set(reason);
                    }
                    if results.send(result).await.is_err() {
                        return;
                    }
                }
                match lanes.get_mut(&page).and_then(VecDeque::pop_front) {
                    Some(next) if shared.stop.reason().is_none() => {
                        queued -= 1;
                        spawn(&mut tasks, next);
                    }
                    _ => {
                        if let Some(rest) = lanes.remove(&page) {
                            queued -= rest.len();
                        }
                    }
                }
            }
            _ = stop_rx.changed() => {}
            item = items.recv(), if can_take => {
                let Some(item) = item else {
                    input_done = true;
                    continue;
                };
                match item {
                    Item::Send(job) => {
                        match lanes.get_mut(&job.update.page_id) {
                            Some(lane) => {
                                lane.push_back(job);
                                queued += 1;
                            }
                            None => {
                                lanes.insert(job.update.page_id, VecDeque::new());
                                sent_any = true;
                                spawn(&mut tasks, job);
                            }
                        }
                    }
                    Item::Unsent(mapped, source) => {
                        if results.send(unsent(mapped, source)).await.is_err() {
                            return;
                        }
                    }
                    Item::Ended(result) => {
                        if results.send(*result).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// The result of a row that needs no request (invalid or skipped).
pub fn unsent(mapped: Mapped, source: SourceRow) -> RowResult {
    let (outcome, code, message) =
        crate::outcome::unsent_outcome(&mapped).expect("updates are sent");
    let mut result = RowResult::unsent(mapped.row(), mapped.page_id(), outcome, message, source);
    result.code = code.map(str::to_owned);
    result.action = matches!(mapped, Mapped::Unchanged { .. }).then_some(RowAction::Unchanged);
    result.key = mapped.key().map(|k| k.text.clone());
    result
}

/// `--max-errors` and the first-rows rule.
struct Accounting {
    max_errors: Option<u64>,
    errors: u64,
    first: Vec<(Outcome, Option<u16>, Option<String>)>,
}

impl Accounting {
    fn new(max_errors: Option<u64>) -> Accounting {
        Accounting {
            max_errors,
            errors: 0,
            first: Vec::with_capacity(FIRST_ROWS),
        }
    }

    fn account(&mut self, result: &RowResult) -> Option<StopReason> {
        if matches!(result.outcome, Outcome::Failed | Outcome::Unknown) {
            self.errors += 1;
        }
        if self.first.len() < FIRST_ROWS {
            self.first
                .push((result.outcome, result.http_status, result.code.clone()));
            if self.first.len() == FIRST_ROWS && same_refusal(&self.first) {
                return Some(StopReason::SameFailure);
            }
        }
        match self.max_errors {
            Some(max) if self.errors >= max => Some(StopReason::MaxErrors(max)),
            _ => None,
        }
    }
}

/// The class of a definitive refusal, for the first-rows rule: 403 and 404 are one class (a
/// database not shared, or a capability missing, answer either); any other client error
/// (not 409, 429) is its own class by status and code.
fn refusal_class(status: Option<u16>, code: Option<&str>) -> Option<(u16, Option<&str>)> {
    match status? {
        403 | 404 => Some((404, None)),
        s if (400..500).contains(&s) && s != 409 && s != 429 => Some((s, code)),
        _ => None,
    }
}

/// All failed with one class of client error (a missing share or capability, the same
/// validation error).
fn same_refusal(first: &[(Outcome, Option<u16>, Option<String>)]) -> bool {
    let Some((_, status, code)) = first.first() else {
        return false;
    };
    let Some(class) = refusal_class(*status, code.as_deref()) else {
        return false;
    };
    first
        .iter()
        .all(|(o, s, c)| *o == Outcome::Failed && refusal_class(*s, c.as_deref()) == Some(class))
}

/// The first-rows rule's message, for the summary: `seen` are the answers the rows got
/// (`404 object_not_found`, `403 restricted_resource`), each once.
pub fn same_refusal_hint(seen: &[String]) -> String {
    let statuses: Vec<u16> = seen
        .iter()
        .filter_map(|s| s.split(' ').next()?.parse().ok())
        .collect();
    let codes = seen.join(", ");
    let share = "Notion answers 404 for pages that are not shared with the integration: share \
                 the database (••• > Connections)";
    let capability = "403 means the integration lacks a capability (it needs \"Update \
                      content\"): change it in the integration's settings";
    let why = match (statuses.contains(&404), statuses.contains(&403)) {
        (true, true) => format!("{share}, and {capability}"),
        (true, false) => share.to_owned(),
        (false, true) => format!("the {capability}"),
        _ if seen.iter().any(|s| s == "400 validation_error") => {
            "every body was refused: check the property names and types against the database \
             (notion-bulk plan shows the bodies)"
                .to_owned()
        }
        _ => "every row was refused the same way: fix the cause before sending the rest".into(),
    };
    format!(
        "the rows were refused with {codes}. {why}; then run the same command with a new \
         --report (--resume does not send again rows that Notion refused)"
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    /// Row 1 of page 1, ended so, after one attempt.
    pub(crate) fn result(outcome: Outcome, status: Option<u16>, code: Option<&str>) -> RowResult {
        RowResult {
            row: 1,
            page_id: Some(NotionId::from_u128(1)),
            outcome,
            http_status: status,
            code: code.map(str::to_owned),
            message: None,
            attempts: 1,
            duration: Duration::ZERO,
            request_id: None,
            body_hash: None,
            source: None,
            fields: Arc::from([]),
            action: None,
            key: None,
        }
    }

    #[test]
    fn twenty_identical_refusals_stop_the_run() {
        let mut a = Accounting::new(None);
        for _ in 0..FIRST_ROWS - 1 {
            assert_eq!(
                a.account(&result(
                    Outcome::Failed,
                    Some(404),
                    Some("object_not_found")
                )),
                None
            );
        }
        assert_eq!(
            a.account(&result(
                Outcome::Failed,
                Some(404),
                Some("object_not_found")
            )),
            Some(StopReason::SameFailure)
        );
    }

    #[test]
    fn one_success_or_a_different_refusal_among_the_first_rows_does_not() {
        for odd in [
            result(Outcome::Ok, Some(200), None),
            result(Outcome::Failed, Some(400), Some("validation_error")),
        ] {
            let mut a = Accounting::new(None);
            a.account(&odd);
            for _ in 0..FIRST_ROWS * 2 {
                assert_eq!(
                    a.account(&result(
                        Outcome::Failed,
                        Some(404),
                        Some("object_not_found")
                    )),
                    None
                );
            }
        }
        // Retryable failures (ran out of attempts) are not a refusal.
        let mut a = Accounting::new(None);
        for _ in 0..FIRST_ROWS {
            assert_eq!(
                a.account(&result(Outcome::Failed, Some(409), Some("conflict_error"))),
                None
            );
        }
    }

    #[test]
    fn refusals_by_403_and_404_in_any_mix_are_one_class() {
        let mut a = Accounting::new(None);
        for i in 0..FIRST_ROWS {
            let refusal = if i % 3 == 0 {
                result(Outcome::Failed, Some(403), Some("restricted_resource"))
            } else {
                result(Outcome::Failed, Some(404), Some("object_not_found"))
            };
            let stop = a.account(&refusal);
            assert_eq!(stop.is_some(), i == FIRST_ROWS - 1, "row {i}");
        }
        let hint = same_refusal_hint(&[
            "403 restricted_resource".into(),
            "404 object_not_found".into(),
        ]);
        assert!(
            hint.contains("403 restricted_resource, 404 object_not_found")
                && hint.contains("not shared")
                && hint.contains("capability"),
            "{hint}"
        );
    }

    #[test]
    fn max_errors_counts_failed_and_unknown() {
        let mut a = Accounting::new(Some(3));
        assert_eq!(a.account(&result(Outcome::Ok, Some(200), None)), None);
        assert_eq!(a.account(&result(Outcome::Failed, Some(400), None)), None);
        assert_eq!(a.account(&result(Outcome::Unknown, None, None)), None);
        assert_eq!(
            a.account(&result(Outcome::Unknown, Some(504), None)),
            Some(StopReason::MaxErrors(3))
        );
    }
}
