//! How one request goes out and ends: a permit per attempt, pauses on 429/529, backoff between
//! retries, the stop honoured between attempts ([`send`]); and the reads built on it (a GET, a
//! page with its long lists completed, a query), which the scan uses before the first row and
//! the workers after.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use backon::BackoffBuilder;
use serde_json::Value;
use tokio::time::Instant;

use super::retry::{classify, Action, ROW_LIMIT};
use super::Shared;
use crate::notion::client::{Attempt, Reply};
use crate::outcome::Outcome;
use crate::stop::StopReason;

/// How a request ended after its retries.
pub enum Sent {
    /// Answered 2xx.
    Done(Reply, u32),
    /// Ended without success: the row's outcome, the last reply if any, the attempts made.
    Ended(Outcome, Option<Reply>, u32, Option<String>),
    /// The run stopped before the request was ever sent.
    Never,
}

/// A read that did not succeed: stopped before it was sent (`reply` and `attempts` empty and
/// zero, `stopped`), or ended with this answer after its attempts.
#[derive(Debug)]
pub struct ReadFailure {
    pub reply: Option<Box<Reply>>,
    pub attempts: u32,
    pub message: Option<String>,
    pub stopped: bool,
}

impl ReadFailure {
    /// What went wrong, in a few words: `404 object_not_found: Could not find …`.
    pub fn answer(&self) -> String {
        let mut text = match self.reply.as_ref().map(|r| r.attempt) {
            Some(Attempt::Status(s)) => s.to_string(),
            Some(other) => format!("{other:?}"),
            None => "no answer".into(),
        };
        if let Some(code) = self.reply.as_ref().and_then(|r| r.code.as_deref()) {
            text.push(' ');
            text.push_str(code);
        }
        if let Some(m) = self
            .message
            .as_deref()
            .or_else(|| self.reply.as_ref().and_then(|r| r.message.as_deref()))
        {
            text.push_str(": ");
            text.push_str(m);
        }
        text
    }

    /// The HTTP status of the last answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self.reply.as_ref()?.attempt {
            Attempt::Status(s) => Some(s),
            _ => None,
        }
    }
}

/// A GET with the same permits and retries as a PATCH; its JSON body.
pub async fn read_json(shared: &Shared, row: u64, path: &str) -> Result<Value, ReadFailure> {
    let sent = send(shared, row, &format!("GET {path}"), false, || {
        shared.client.get(path)
    })
    .await;
    read_result(sent)
}

/// A page read (`GET /v1/pages/{id}`) with the lists it cuts at 25 items completed through
/// the property-item endpoint.
pub async fn read_page(
    shared: &Shared,
    row: u64,
    page_id: crate::notion::NotionId,
) -> Result<Value, ReadFailure> {
    let mut page = read_json(shared, row, &format!("/v1/pages/{page_id}")).await?;
    for (name, property_id) in crate::notion::page_read::truncated_properties(&page) {
        let results = read_property_items(shared, row, page_id, &property_id).await?;
        crate::notion::page_read::complete(&mut page, &name, results);
    }
    Ok(page)
}

/// A POST that only reads (a query), with the same permits and retries as a PATCH: a read is
/// always safe to send again.
pub async fn query_json(shared: &Shared, path: &str, body: &Value) -> Result<Value, ReadFailure> {
    let bytes = serde_json::to_vec(body).expect("a query body serialises");
    let sent = send(shared, 0, &format!("POST {path}"), false, || {
        shared.client.post(path, bytes.clone())
    })
    .await;
    read_result(sent)
}

/// A request's end as a read's: its JSON body, or why it did not succeed.
pub fn read_result(sent: Sent) -> Result<Value, ReadFailure> {
    match sent {
        Sent::Done(reply, _) => Ok(reply.body.unwrap_or(Value::Null)),
        Sent::Never => Err(ReadFailure {
            reply: None,
            attempts: 0,
            message: None,
            stopped: true,
        }),
        Sent::Ended(_, reply, attempts, message) => Err(ReadFailure {
            reply: reply.map(Box::new),
            attempts,
            message,
            stopped: false,
        }),
    }
}

/// Every item of a paginated property (`GET /v1/pages/{id}/properties/{property_id}`, pages
/// of 100 followed to the end): what completes a value a page read cut at 25 items.
pub async fn read_property_items(
    shared: &Shared,
    row: u64,
    page_id: crate::notion::NotionId,
    property_id: &str,
) -> Result<Vec<Value>, ReadFailure> {
    let mut results = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/pages/{page_id}/properties/{property_id}?page_size=100");
        if let Some(c) = &cursor {
            path += &format!(
                "&start_cursor={}",
                percent_encoding::utf8_percent_encode(c, percent_encoding::NON_ALPHANUMERIC)
            );
        }
        let list = read_json(shared, row, &path).await?;
        results.extend(list["results"].as_array().cloned().unwrap_or_default());
        cursor = list["next_cursor"].as_str().map(str::to_owned);
        if list["has_more"].as_bool() != Some(true) || cursor.is_none() {
            break;
        }
    }
    Ok(results)
}

/// Sends a request until it succeeds or must end: a permit per attempt, pauses on 429/529
/// (not attempts), backoff between retries, a stop honoured between attempts.
pub async fn send<F, Fut>(
    shared: &Shared,
    row: u64,
    label: &str,
    template: bool,
    mut request: F,
) -> Sent
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Reply>,
{
    let mut backoff = backon::ExponentialBuilder::default()
        .with_min_delay(shared.settings.backoff_min)
        .with_max_delay(shared.settings.backoff_max)
        .with_factor(2.0)
        .without_max_times()
        .build();
    let mut attempts: u32 = 0;
    let mut last: Option<(Reply, bool)> = None;
    // The limits Notion named in the 429s this request waited out, for its row's line.
    let mut waited: Vec<String> = Vec::new();
    let mut stop = shared.stop.subscribe();
    loop {
        if let Some(reason) = shared.stop.reason() {
            return match last {
                None if attempts == 0 => Sent::Never,
                last => {
                    let ambiguous = last.as_ref().is_some_and(|(_, a)| *a);
                    Sent::Ended(
                        if ambiguous {
                            Outcome::Unknown
                        } else {
                            Outcome::Failed
                        },
                        last.map(|(r, _)| r),
                        attempts,
                        Some(format!(
                            "not retried: the run is stopping ({reason}); --resume sends it again"
                        )),
                    )
                }
            };
        }
        tokio::select! {
            _ = shared.limiter.acquire() => {}
            _ = stop.wait_for(Option::is_some) => continue,
        }
        attempts += 1;
        shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        shared.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let sent_at = Instant::now();
        let reply = request().await;
        shared.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(trace) = &shared.trace {
            let _ = trace.send(format!(
                "request: row {row} {label} attempt {attempts}: {:?} {} (request id {}) in {} ms",
                reply.attempt,
                reply.code.as_deref().unwrap_or(""),
                reply.request_id.as_deref().unwrap_or("none"),
                sent_at.elapsed().as_millis()
            ));
        }
        let mut reply = reply;
        if reply.attempt != Attempt::Status(429) && !waited.is_empty() {
            reply.rate_limit_reason = Some(waited.join(", "));
        }
        match classify(reply.attempt, reply.code.as_deref(), template) {
            Action::Done => {
                shared.limiter.succeeded().await;
                return Sent::Done(reply, attempts);
            }
            Action::Pause => {
                // Waiting is not an attempt.
                attempts -= 1;
                shared.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                let stated = reply.rate_limit_reason.as_deref();
                let named = stated.unwrap_or("unstated");
                if reply.attempt == Attempt::Status(429) && !waited.iter().any(|w| w == named) {
                    waited.push(named.to_owned());
                }
                if reply.attempt == Attempt::Status(429) {
                    let mut reasons = shared.stats.rate_limit_reasons.lock().expect("stats lock");
                    *reasons
                        .entry(stated.unwrap_or("unstated").to_owned())
                        .or_insert(0) += 1;
                }
                let reason = match (reply.attempt, stated) {
                    (Attempt::Status(529), _) => {
                        "the server is overloaded (529 service_overload)".into()
                    }
                    (_, Some(why)) => format!("rate limited by the server (429, {why})"),
                    _ => "rate limited by the server (429)".to_owned(),
                };
                shared
                    .limiter
                    .pause(reply.retry_after, sent_at, &reason)
                    .await;
                last = Some((reply, false));
            }
            Action::Retry { ambiguous } => {
                if attempts >= shared.settings.max_attempts {
                    let outcome = if ambiguous {
                        Outcome::Unknown
                    } else {
                        Outcome::Failed
                    };
                    return Sent::Ended(outcome, Some(reply), attempts, None);
                }
                last = Some((reply, ambiguous));
                shared.stats.retries.fetch_add(1, Ordering::Relaxed);
                let ceiling = backoff.next().unwrap_or(shared.settings.backoff_max);
                tokio::select! {
                    _ = tokio::time::sleep(full_jitter(ceiling)) => {}
                    _ = stop.wait_for(Option::is_some) => {}
                }
            }
            Action::Fail if reply.code.as_deref() == Some(ROW_LIMIT) => {
                let message = format!(
                    "Notion answered 409 {ROW_LIMIT} ({}), which is not retried: sending it again \
                     does not help (the data source may be at a row limit of its plan); nothing \
                     was applied",
                    reply.message.as_deref().unwrap_or("no message")
                );
                return Sent::Ended(Outcome::Failed, Some(reply), attempts, Some(message));
            }
            Action::Fail => return Sent::Ended(Outcome::Failed, Some(reply), attempts, None),
            Action::Unknown => return Sent::Ended(Outcome::Unknown, Some(reply), attempts, None),
            Action::Abort => {
                shared.stop.set(StopReason::TokenRefused);
                return Sent::Ended(Outcome::Failed, Some(reply), attempts, None);
            }
        }
    }
}

/// A wait drawn uniformly from zero to `ceiling` ("full jitter").
fn full_jitter(ceiling: Duration) -> Duration {
    let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
    Duration::from_nanos(rand::random_range(0..=nanos))
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
