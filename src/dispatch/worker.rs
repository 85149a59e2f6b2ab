//! One row's life on the wire: take a permit, send, classify, and retry with full-jitter
//! exponential backoff until it ends in exactly one outcome.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use tokio::time::Instant;

use crate::dispatch::retry::{classify, Action, Attempt};
use crate::dispatch::{Job, RowResult, Shared};
use crate::report::Outcome;

/// Sends one job to its end. `None`: the run stopped before the row was ever sent, so it has
/// no outcome yet (a resumed run sends it).
pub async fn run(shared: Arc<Shared>, job: Job) -> Option<RowResult> {
    let started = Instant::now();
    let template = job.update.body.template.is_some();
    let mut backoff = backon::ExponentialBuilder::default()
        .with_min_delay(shared.settings.backoff_min)
        .with_max_delay(shared.settings.backoff_max)
        .with_factor(2.0)
        .without_max_times()
        .build();
    let mut attempts: u32 = 0;
    let mut last_ambiguous = false;
    let mut stop = shared.stop.subscribe();
    loop {
        if let Some(reason) = shared.stop.reason() {
            if attempts == 0 {
                return None;
            }
            return Some(job.result_without_reply(
                if last_ambiguous {
                    Outcome::Unknown
                } else {
                    Outcome::Failed
                },
                attempts,
                started,
                format!("not retried: the run is stopping ({reason}); --resume sends it again"),
            ));
        }
        tokio::select! {
            _ = shared.limiter.acquire() => {}
            _ = stop.wait_for(Option::is_some) => continue,
        }
        attempts += 1;
        shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        shared.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let sent_at = Instant::now();
        let reply = shared
            .client
            .patch_page(job.update.page_id, job.body_bytes.clone())
            .await;
        shared.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(trace) = &shared.trace {
            let _ = trace.send(format!(
                "request: row {} PATCH /v1/pages/{} attempt {}: {:?} {} (request id {}) in {} ms",
                job.update.row,
                job.update.page_id,
                attempts,
                reply.attempt,
                reply.code.as_deref().unwrap_or(""),
                reply.request_id.as_deref().unwrap_or("none"),
                sent_at.elapsed().as_millis()
            ));
        }
        let action = classify(reply.attempt, template);
        let ended =
            |outcome: Outcome, attempts: u32| Some(job.result(outcome, attempts, started, &reply));
        match action {
            Action::Done => {
                shared.limiter.succeeded();
                return ended(Outcome::Ok, attempts);
            }
            Action::Pause => {
                // Waiting is not an attempt.
                attempts -= 1;
                shared.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                let reason = match reply.attempt {
                    Attempt::Status(529) => "the server is overloaded (529 service_overload)",
                    _ => "rate limited by the server (429)",
                };
                shared.limiter.pause(reply.retry_after, sent_at, reason);
            }
            Action::Retry { ambiguous } => {
                if attempts >= shared.settings.max_attempts {
                    let outcome = if ambiguous {
                        Outcome::Unknown
                    } else {
                        Outcome::Failed
                    };
                    return ended(outcome, attempts);
                }
                last_ambiguous = ambiguous;
                shared.stats.retries.fetch_add(1, Ordering::Relaxed);
                let ceiling = backoff.next().unwrap_or(shared.settings.backoff_max);
                tokio::select! {
                    _ = tokio::time::sleep(full_jitter(ceiling)) => {}
                    _ = stop.wait_for(Option::is_some) => {}
                }
            }
            Action::Fail => return ended(Outcome::Failed, attempts),
            Action::Unknown => return ended(Outcome::Unknown, attempts),
            Action::Abort => {
                shared.stop.set(crate::dispatch::StopReason::TokenRefused);
                return ended(Outcome::Failed, attempts);
            }
        }
    }
}

/// A wait drawn uniformly from zero to `ceiling` ("full jitter").
fn full_jitter(ceiling: Duration) -> Duration {
    let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
    Duration::from_nanos(rand::random_range(0..=nanos))
}

impl Job {
    fn result(
        &self,
        outcome: Outcome,
        attempts: u32,
        started: Instant,
        reply: &crate::notion::client::Reply,
    ) -> RowResult {
        let http_status = match reply.attempt {
            Attempt::Status(s) => Some(s),
            _ => None,
        };
        RowResult {
            row: self.update.row,
            page_id: Some(self.update.page_id),
            outcome,
            http_status,
            code: reply.code.clone(),
            message: if outcome == Outcome::Ok {
                None
            } else {
                reply.message.clone()
            },
            attempts,
            duration: started.elapsed(),
            request_id: reply.request_id.clone(),
            body_hash: Some(self.body_hash.clone()),
            source: Some(self.source.clone()),
            sent: true,
        }
    }

    fn result_without_reply(
        &self,
        outcome: Outcome,
        attempts: u32,
        started: Instant,
        message: String,
    ) -> RowResult {
        RowResult {
            row: self.update.row,
            page_id: Some(self.update.page_id),
            outcome,
            http_status: None,
            code: None,
            message: Some(message),
            attempts,
            duration: started.elapsed(),
            request_id: None,
            body_hash: Some(self.body_hash.clone()),
            source: Some(self.source.clone()),
            sent: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_within_the_ceiling() {
        let ceiling = Duration::from_millis(500);
        let draws: Vec<Duration> = (0..1000).map(|_| full_jitter(ceiling)).collect();
        assert!(draws.iter().all(|d| *d <= ceiling));
        // Spread over the whole range, not stuck at one end.
        assert!(draws.iter().any(|d| *d < ceiling / 4));
        assert!(draws.iter().any(|d| *d > ceiling * 3 / 4));
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }
}
