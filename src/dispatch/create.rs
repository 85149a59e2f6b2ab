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
use crate::mapping::cell::{parse_cell, CellRules};
use crate::mapping::key::RowKey;
use crate::notion::client::Reply;
use crate::notion::{NotionId, PropertyType, Version};
use crate::outcome::{Outcome, RowAction, RowResult};
use crate::scan;
use crate::transport::{query_json, send, Sent, Shared};

/// How one create ended, after as many attempts and lookups as it took.
enum Made {
    /// Answered 2xx: the new page's id (`None`: the answer had none), and the answer.
    Created(Option<NotionId>, Reply),
    /// An answer left it unknown whether the page was made (`answer`, the last `reply`), and
    /// the lookup after it found these pages (`Ok(empty)`: none, after the last attempt).
    Looked {
        answer: String,
        reply: Option<Reply>,
        found: Result<Vec<NotionId>, String>,
    },
    /// Refused, or ended otherwise: the outcome, the answer and its message.
    Ended(Outcome, Option<Reply>, Option<String>),
    /// The run stopped before the next attempt was sent.
    Stopped,
}

/// Sends a create (`bytes`, the `POST /v1/pages` body) until it ends, looking the key up after
/// every answer that leaves it unknown whether the page was made, and creating again only
/// when the page is still absent: the one loop `--create-missing` and
/// `--create-missing-related` share. Also gives the attempts made.
async fn create_page(
    shared: &Shared,
    creating: &Creating,
    key: &RowKey,
    bytes: &[u8],
    row: u64,
) -> (Made, u32) {
    let mut attempts = 0;
    let mut lookups = 0u32;
    loop {
        let sent = send(shared, row, "POST /v1/pages", true, || {
            shared.client.post("/v1/pages", bytes.to_vec())
        })
        .await;
        let reply = match sent {
            Sent::Never => return (Made::Stopped, attempts),
            Sent::Done(reply, n) => {
                let id = reply.body.as_ref().and_then(page_id);
                return (Made::Created(id, reply), attempts + n);
            }
            Sent::Ended(Outcome::Unknown, reply, n, _) => {
                attempts += n;
                reply
            }
            Sent::Ended(outcome, reply, n, message) => {
                return (Made::Ended(outcome, reply, message), attempts + n)
            }
        };
        // Notion's query index may lag behind a write: wait before looking.
        let wait = shared.settings.backoff_min * 2u32.saturating_pow(lookups);
        tokio::time::sleep(wait.min(shared.settings.backoff_max)).await;
        lookups += 1;
        let answer = reply.as_ref().map_or("no answer".into(), describe);
        let found = find(shared, creating, key).await;
        let absent = matches!(&found, Ok(pages) if pages.is_empty());
        if absent && attempts < shared.settings.max_attempts {
            continue; // not made: safe to create again
        }
        let made = Made::Looked {
            answer,
            reply,
            found,
        };
        return (made, attempts);
    }
}

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
    let (made, attempts) = create_page(shared, creating, &new.key, &bytes, job.update.row).await;
    let (reply, id, message) = match made {
        Made::Stopped if attempts == 0 => return None,
        Made::Stopped => {
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
        Made::Created(None, reply) => {
            return Some(unknown(
                job,
                attempts,
                started,
                Some(&reply),
                "the create was answered without a page id",
            ))
        }
        Made::Created(Some(id), reply) => (Some(reply), id, None),
        Made::Looked {
            answer,
            reply,
            found,
        } => match found {
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
                let message = format!(
                    "created: the create got {answer}, and a lookup of the key found the page it made"
                );
                (None, pages[0], Some(message))
            }
            Ok(_) => {
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
        },
        Made::Ended(outcome, reply, message) => {
            let mut result = job.result(outcome, attempts, started, reply.as_ref(), message);
            result.page_id = None;
            return Some(result);
        }
    };
    let _ = new.id.set(id);
    let mut result = job.result(Outcome::Ok, attempts, started, reply.as_ref(), None);
    result.page_id = Some(id);
    result.action = Some(RowAction::Created);
    if message.is_some() {
        result.message = message;
    }
    Some(result)
}

/// `--create-missing-related`: creates the page of a related key no page has (`body`, from
/// [`related_body`]), before any row is sent, with the loop a row's create uses. `Ok(None)`:
/// the run stopped first.
pub async fn create_related(
    shared: &Shared,
    creating: &Creating,
    key: &RowKey,
    body: &Value,
) -> Result<Option<NotionId>, String> {
    let bytes = serde_json::to_vec(body).expect("a body serialises");
    match create_page(shared, creating, key, &bytes, 0).await.0 {
        Made::Stopped => Ok(None),
        Made::Created(Some(id), _) => Ok(Some(id)),
        Made::Created(None, _) => Err("the create was answered without a page id".into()),
        Made::Looked {
            answer,
            found: Err(why),
            ..
        } => Err(format!(
            "the create got {answer}, and the lookup after it failed ({why})"
        )),
        Made::Looked {
            answer,
            found: Ok(pages),
            ..
        } => match pages.as_slice() {
            [one] => Ok(Some(*one)),
            [] => Err(format!(
                "every attempt got {answer} and a lookup found no page each time"
            )),
            several => Err(format!(
                "the create got {answer}; a lookup then found {} pages with this key",
                several.len()
            )),
        },
        Made::Ended(_, reply, message) => {
            let said = message.or_else(|| reply.as_ref().and_then(|r| r.message.clone()));
            Err(said.unwrap_or_else(|| "refused".into()))
        }
    }
}

/// The `POST /v1/pages` body of a related page: its key property (and the title, when the
/// key is another property) set to the key, in the related data source.
pub fn related_body(creating: &Creating, key: &RowKey) -> Result<Value, String> {
    let spec = &creating.key;
    if !spec.writable() {
        return Err(format!(
            "--create-missing-related cannot create a page for {:?}: {:?} is a {} property, which Notion fills in itself",
            key.text, spec.property, spec.ty
        ));
    }
    let rules = CellRules {
        separator: ';',
        time_zone: None,
        users: None,
        numbers: Default::default(),
        files: None,
    };
    let mut properties = serde_json::Map::new();
    let value = parse_cell(spec.ty, &key.text, rules)?;
    properties.insert(spec.property.to_string(), json!(value));
    let title = creating.schema.title_property();
    if let Some(title) = title.filter(|t| *t.name != *spec.property) {
        let text = parse_cell(PropertyType::Title, &key.text, rules)?;
        properties.insert(title.name.clone(), json!(text));
    }
    Ok(json!({"parent": parent(creating), "properties": properties}))
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
    super::upload::fill(&mut body, &job.filled);
    if let Value::Object(map) = &mut body {
        map.insert("parent".into(), parent(creating));
    }
    body
}

/// Where a page is created: the data source (under 2022-06-28, the database).
fn parent(creating: &Creating) -> Value {
    match creating.version < Version::V2025_09_03 {
        true => json!({"database_id": creating.schema.data_source_id}),
        false => {
            json!({"type": "data_source_id", "data_source_id": creating.schema.data_source_id})
        }
    }
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
