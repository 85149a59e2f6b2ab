//! Creating a page for a key no page has (`--create-missing`, SPEC §10). A create is not
//! idempotent: sent twice, it makes two pages. So an attempt whose answer leaves it unknown
//! whether the page was made (a timeout, a reset connection, a 5xx) is never simply sent
//! again: the key is looked up first, and the page is created again only if it is still
//! absent. One key never gets two pages from one run; a resumed run scans (or looks up) again
//! before anything is written, so a create that was in flight when the run died is found too.

use serde_json::{json, Value};
use tokio::time::Instant;

use super::{Creating, Job};
use crate::gate::matcher::NewPage;
use crate::mapping::key::RowKey;
use crate::notion::{NotionId, Version};
use crate::outcome::{Outcome, RowAction, RowResult};
use crate::scan;
use crate::transport::{query_json, send, Sent, Shared};

/// Creates the row's page (its properties and the key), looking the key up after every
/// ambiguous answer. `None`: the run stopped before anything was sent.
pub async fn create(
    shared: &Shared,
    creating: &Creating,
    job: &Job,
    new: &NewPage,
) -> Option<RowResult> {
    let started = Instant::now();
    let bytes = serde_json::to_vec(&create_body(creating, job)).expect("a body serialises");
    let row = job.update.row;
    let mut attempts = 0;
    let mut lookups = 0u32;
    loop {
        let sent = send(shared, row, "POST /v1/pages", true, || {
            shared.client.post("/v1/pages", bytes.clone())
        })
        .await;
        let (reply, made) = match sent {
            Sent::Never if attempts == 0 => return None,
            Sent::Never => {
                let mut result = job.result(
                    Outcome::Failed,
                    attempts,
                    started,
                    None,
                    Some("not created (a lookup found no page with this key), and the run is stopping: --resume creates it".into()),
                );
                result.page_id = None;
                return Some(result);
            }
            Sent::Done(reply, n) => {
                attempts += n;
                let id = reply.body.as_ref().and_then(page_id);
                (reply, id)
            }
            Sent::Ended(Outcome::Unknown, reply, n, _) => {
                attempts += n;
                // Notion's query index may lag behind a write: wait before looking.
                let wait = shared.settings.backoff_min * 2u32.saturating_pow(lookups);
                tokio::time::sleep(wait.min(shared.settings.backoff_max)).await;
                lookups += 1;
                let answer = reply.as_ref().map_or("no answer".into(), describe);
                match find(shared, creating, &new.key).await {
                    Err(why) => {
                        let message = format!(
                            "the create got {answer}, and looking the key up to see whether the page was made failed ({why}); --resume looks it up again and creates it only if it is still missing"
                        );
                        return Some(unknown(job, attempts, started, reply.as_ref(), &message));
                    }
                    Ok(pages) if pages.len() > 1 => {
                        let mut result = job.result(
                            Outcome::Failed,
                            attempts,
                            started,
                            reply.as_ref(),
                            Some(format!(
                                "the create got {answer}; a lookup then found {} pages with this key: {}. Make the key unique in Notion",
                                pages.len(),
                                pages.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                            )),
                        );
                        result.code = Some("ambiguous_key".into());
                        return Some(result);
                    }
                    Ok(pages) if pages.len() == 1 => {
                        let id = pages[0];
                        let _ = new.id.set(id);
                        let mut result = job.result(Outcome::Ok, attempts, started, None, None);
                        result.page_id = Some(id);
                        result.action = Some(RowAction::Created);
                        result.message = Some(format!(
                            "created: the create got {answer}, and a lookup of the key found the page it made"
                        ));
                        return Some(result);
                    }
                    Ok(_) if attempts >= shared.settings.max_attempts => {
                        let mut result = job.result(
                            Outcome::Failed,
                            attempts,
                            started,
                            reply.as_ref(),
                            Some(format!("not created: every attempt got {answer} and a lookup found no page with this key each time")),
                        );
                        result.page_id = None;
                        return Some(result);
                    }
                    Ok(_) => continue, // not made: safe to create again
                }
            }
            Sent::Ended(outcome, reply, n, message) => {
                attempts += n;
                let mut result = job.result(outcome, attempts, started, reply.as_ref(), message);
                result.page_id = None;
                return Some(result);
            }
        };
        let Some(id) = made else {
            return Some(unknown(
                job,
                attempts,
                started,
                Some(&reply),
                "the create was answered without a page id",
            ));
        };
        let _ = new.id.set(id);
        let mut result = job.result(Outcome::Ok, attempts, started, Some(&reply), None);
        result.page_id = Some(id);
        result.action = Some(RowAction::Created);
        return Some(result);
    }
}

/// `--create-missing-related`: creates the page of a related key no page has (`body`, with its
/// parent), before any row is sent. As for a row's create, an answer that leaves it unknown
/// whether the page was made is followed by a lookup of the key, and the page is created
/// again only if it is still absent. `Ok(None)`: the run stopped first.
pub async fn create_related(
    shared: &Shared,
    creating: &Creating,
    key: &RowKey,
    body: &Value,
) -> Result<Option<NotionId>, String> {
    let bytes = serde_json::to_vec(body).expect("a body serialises");
    let mut attempts = 0;
    let mut lookups = 0u32;
    loop {
        let sent = send(shared, 0, "POST /v1/pages", true, || {
            shared.client.post("/v1/pages", bytes.clone())
        })
        .await;
        let answer = match sent {
            Sent::Never => return Ok(None),
            Sent::Done(reply, _) => {
                let id = reply.body.as_ref().and_then(page_id);
                return id
                    .map(Some)
                    .ok_or_else(|| "the create was answered without a page id".into());
            }
            Sent::Ended(Outcome::Unknown, reply, n, _) => {
                attempts += n;
                reply.as_ref().map_or("no answer".into(), describe)
            }
            Sent::Ended(_, reply, _, message) => {
                let said = message.or_else(|| reply.as_ref().and_then(|r| r.message.clone()));
                return Err(said.unwrap_or_else(|| "refused".into()));
            }
        };
        // Notion's query index may lag behind a write: wait before looking.
        let wait = shared.settings.backoff_min * 2u32.saturating_pow(lookups);
        tokio::time::sleep(wait.min(shared.settings.backoff_max)).await;
        lookups += 1;
        match find(shared, creating, key).await {
            Err(why) => {
                return Err(format!(
                    "the create got {answer}, and the lookup after it failed ({why})"
                ))
            }
            Ok(pages) if pages.len() == 1 => return Ok(Some(pages[0])),
            Ok(pages) if pages.len() > 1 => {
                return Err(format!(
                    "the create got {answer}; a lookup then found {} pages with this key",
                    pages.len()
                ))
            }
            Ok(_) if attempts >= shared.settings.max_attempts => {
                return Err(format!(
                    "every attempt got {answer} and a lookup found no page each time"
                ))
            }
            Ok(_) => continue,
        }
    }
}

/// The `POST /v1/pages` body: the row's own body (properties with the key, icon, cover) in
/// the data source.
fn create_body(creating: &Creating, job: &Job) -> Value {
    // A new page has no items yet: what a row adds is all it holds.
    let mut made = job.update.body.clone();
    let made = match crate::gate::edit::make_all_against_page(&mut made, &json!({})) {
        Ok(()) => &made,
        Err(_) => &job.update.body,
    };
    let mut body = made.to_value();
    let parent = if creating.version < Version::V2025_09_03 {
        json!({"database_id": creating.schema.data_source_id})
    } else {
        json!({"type": "data_source_id", "data_source_id": creating.schema.data_source_id})
    };
    if let Value::Object(map) = &mut body {
        map.insert("parent".into(), parent);
    }
    body
}

/// The pages (not in the trash) that have the key now: one query for this key alone,
/// compared again here as the scan compares keys.
async fn find(
    shared: &Shared,
    creating: &Creating,
    wanted: &RowKey,
) -> Result<Vec<NotionId>, String> {
    let key = &creating.key;
    let path = scan::query_path(&creating.schema, creating.version, &[], Some(key));
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut body = json!({"page_size": scan::PAGE_SIZE, "filter": key.lookup_filter([wanted])});
        if let Some(c) = &cursor {
            body["start_cursor"] = json!(c);
        }
        let response = query_json(shared, &path, &body)
            .await
            .map_err(|f| f.answer())?;
        for page in response["results"].as_array().into_iter().flatten() {
            let trashed = page["in_trash"].as_bool() == Some(true);
            if !trashed && key.of_page(page).as_deref() == Some(&*wanted.canonical) {
                pages.extend(page_id(page));
            }
        }
        cursor = response["next_cursor"].as_str().map(str::to_owned);
        if response["has_more"].as_bool() != Some(true) || cursor.is_none() {
            return Ok(pages);
        }
    }
}

fn page_id(page: &Value) -> Option<NotionId> {
    page["id"].as_str().and_then(|id| NotionId::parse(id).ok())
}

fn describe(reply: &crate::notion::client::Reply) -> String {
    use crate::notion::client::Attempt;
    match reply.attempt {
        Attempt::Status(s) => match &reply.code {
            Some(code) => format!("HTTP {s} {code}"),
            None => format!("HTTP {s}"),
        },
        Attempt::TimedOut => "no answer within --timeout".into(),
        Attempt::Reset => "a reset connection".into(),
        Attempt::ConnectFailed => "no connection".into(),
    }
}

/// The create may have made the page: `unknown`, for --resume to look the key up.
fn unknown(
    job: &Job,
    attempts: u32,
    started: Instant,
    reply: Option<&crate::notion::client::Reply>,
    message: &str,
) -> RowResult {
    let mut result = job.result(
        Outcome::Unknown,
        attempts,
        started,
        reply,
        Some(message.to_owned()),
    );
    result.page_id = None;
    result
}
