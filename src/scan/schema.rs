//! Reading a data source's schema (and the workspace's users) from Notion, before any row:
//! `GET /v1/data_sources/{id}` (or `GET /v1/databases/{id}`), then `GET /v1/users`, each read
//! with the run's permits, retries and counters. What a schema is, how its JSON is parsed and
//! how it is saved live in [`crate::notion::schema`]; this is the I/O. With
//! `--add-missing-options`, the one write to a schema: [`add_options`].

use serde_json::{json, Map, Value};

use crate::mapping::NewOption;
use crate::notion::client::Attempt;
use crate::notion::schema::{from_object, SchemaError, SchemaSource, SchemaUser};
use crate::notion::{NotionId, Schema, Version};
use crate::transport::{read_json, send, ReadFailure, Sent, Shared};

/// The most options one property's list may hold in an update of the data source (the
/// OpenAPI's `maxItems`).
pub const MAX_OPTIONS: usize = 100;

/// Users are listed this many at a time.
const USERS_PAGE_SIZE: usize = 100;

/// Reads the schema, with the workspace's users when it has a people property and comes
/// from Notion. `reads` are the run's limiter, retries and counters, which every read from
/// Notion goes through. Users that cannot be listed are not an error: the second value
/// says why, for a warning, and emails in people cells then make their rows invalid.
pub async fn load_schema(
    source: &SchemaSource,
    reads: Option<&Shared>,
    version: Version,
) -> Result<(Schema, Option<SchemaError>), SchemaError> {
    match (source, reads) {
        (SchemaSource::File(path), _) => Ok((Schema::load(path)?, None)),
        (SchemaSource::Fetch(id), Some(reads)) => {
            let mut schema = fetch_schema(reads, id, version).await?;
            let warning = if schema.has_people() {
                fetch_users(&mut schema, reads).await.err()
            } else {
                None
            };
            Ok((schema, warning))
        }
        (SchemaSource::Fetch(id), None) => Err(SchemaError::Unexpected {
            endpoint: format!("--schema-from {id}"),
            what: "connection",
            detail: "no client to read it with".into(),
        }),
    }
}

/// [`load_schema`] for synchronous callers (`plan`, `schema`): a current-thread runtime for
/// the reads.
pub fn load_schema_blocking(
    source: &SchemaSource,
    reads: Option<&Shared>,
    version: Version,
) -> Result<(Schema, Option<SchemaError>), String> {
    if let SchemaSource::File(path) = source {
        return Schema::load(path)
            .map(|s| (s, None))
            .map_err(|e| e.to_string());
    }
    block_on(load_schema(source, reads, version))
        .map_err(|e| format!("cannot start the runtime to read the schema: {e}"))?
        .map_err(|e| e.to_string())
}

/// Runs a read to its end on a current-thread runtime of its own, for synchronous callers.
fn block_on<F: std::future::Future>(read: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(read))
}

/// The largest file the workspace takes: `bot.workspace_limits.max_file_upload_size_in_bytes`
/// of `GET /v1/users/me`, read once before the rows when a column is a files property, so
/// that an oversized file is an invalid row before anything is uploaded. `None`: the answer
/// does not say (the default limit stays, and Notion refuses a larger file when it is sent).
async fn file_limit(reads: &Shared) -> Option<u64> {
    let me = crate::transport::read_json(reads, 0, "/v1/users/me")
        .await
        .ok()?;
    me.pointer("/bot/workspace_limits/max_file_upload_size_in_bytes")
        .and_then(serde_json::Value::as_u64)
}

/// Where [`file_limit`]'s number comes from, for messages.
const FILE_LIMIT_FROM: &str = "the workspace's limit, from GET /v1/users/me";

/// When a column of the header is a files property: the workspace's largest file, read once,
/// becomes the mapper's limit (else Notion's 5 GiB stays).
pub async fn use_file_limit(mapper: &mut crate::mapping::Mapper, reads: &Shared) {
    if !mapper.has_files_columns() {
        return;
    }
    if let Some(bytes) = file_limit(reads).await {
        mapper.set_file_limit(bytes, FILE_LIMIT_FROM);
    }
}

/// [`use_file_limit`] for `plan`, which reads on one thread (a runtime that cannot start
/// leaves the default limit).
pub fn use_file_limit_blocking(mapper: &mut crate::mapping::Mapper, reads: &Shared) {
    let _ = block_on(use_file_limit(mapper, reads));
}

/// Reads the schema of a data source or database once, each GET with the permits and
/// retries of any other request (`reads`). Under 2022-06-28 the id is a database's; later,
/// a data source's, or a database's with exactly one data source.
pub async fn fetch_schema(
    reads: &Shared,
    id_or_url: &str,
    version: Version,
) -> Result<Schema, SchemaError> {
    let id = NotionId::parse(id_or_url).map_err(|e| SchemaError::BadId(id_or_url.to_owned(), e))?;
    let get = |path: String| async move { read_json(reads, 0, &path).await };
    if version < Version::V2025_09_03 {
        let endpoint = format!("GET /v1/databases/{id}");
        let database = match get(format!("/v1/databases/{id}")).await {
            Ok(database) => database,
            Err(failure) => {
                let mut answer = answer(&failure);
                if is_not_this_kind(&failure) {
                    answer.push_str(
                        " (under Notion-Version 2022-06-28 the id must be a database's; a \
                         data source id needs 2025-09-03 or later)",
                    );
                }
                return Err(SchemaError::Refused {
                    id,
                    endpoint,
                    answer,
                });
            }
        };
        return from_object(&database, &endpoint, id.to_string(), Some(id.to_string()));
    }
    let source_endpoint = format!("GET /v1/data_sources/{id}");
    let as_source = match get(format!("/v1/data_sources/{id}")).await {
        Ok(body) => {
            let database_id = body
                .pointer("/parent/database_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            return from_object(&body, &source_endpoint, id.to_string(), database_id);
        }
        Err(failure) if is_not_this_kind(&failure) => failure,
        Err(failure) => return Err(refused(id, &source_endpoint, &failure)),
    };
    let database_endpoint = format!("GET /v1/databases/{id}");
    let database = match get(format!("/v1/databases/{id}")).await {
        Ok(database) => database,
        Err(as_database) if is_not_this_kind(&as_database) => {
            return Err(SchemaError::NotFound {
                id,
                as_source: answer(&as_source),
                as_database: answer(&as_database),
            })
        }
        Err(failure) => return Err(refused(id, &database_endpoint, &failure)),
    };
    let sources: Vec<(String, String)> = database
        .get("data_sources")
        .and_then(Value::as_array)
        .ok_or_else(|| SchemaError::Unexpected {
            endpoint: database_endpoint.clone(),
            what: "database with data_sources",
            detail: "no data_sources list".into(),
        })?
        .iter()
        .map(|s| {
            let field = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            (field("id"), field("name"))
        })
        .collect();
    let [(source_id, _)] = sources.as_slice() else {
        return Err(SchemaError::SeveralSources { id, sources });
    };
    let source_id = NotionId::parse(source_id).map_err(|e| SchemaError::Unexpected {
        endpoint: database_endpoint.clone(),
        what: "data source id",
        detail: e.to_string(),
    })?;
    let endpoint = format!("GET /v1/data_sources/{source_id}");
    let body = get(format!("/v1/data_sources/{source_id}"))
        .await
        .map_err(|failure| refused(source_id, &endpoint, &failure))?;
    from_object(
        &body,
        &endpoint,
        source_id.to_string(),
        Some(id.to_string()),
    )
}

/// Lists the workspace's users (`GET /v1/users`, every page, each read retried like any
/// other request) and keeps them in the schema.
pub async fn fetch_users(schema: &mut Schema, reads: &Shared) -> Result<(), SchemaError> {
    let mut users = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/users?page_size={USERS_PAGE_SIZE}");
        if let Some(c) = &cursor {
            path.push_str("&start_cursor=");
            path.push_str(
                &percent_encoding::utf8_percent_encode(c, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        let page = read_json(reads, 0, &path)
            .await
            .map_err(|failure| SchemaError::Users(answer(&failure)))?;
        let results = page
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| SchemaError::Users("a body with no results list".into()))?;
        for user in results {
            let text = |p: &str| user.pointer(p).and_then(Value::as_str).map(str::to_owned);
            if let Some(id) = text("/id") {
                users.push(SchemaUser {
                    id,
                    name: text("/name").unwrap_or_default(),
                    email: text("/person/email"),
                });
            }
        }
        match (
            page.get("has_more").and_then(Value::as_bool),
            page.get("next_cursor").and_then(Value::as_str),
        ) {
            (Some(true), Some(next)) => cursor = Some(next.to_owned()),
            _ => break,
        }
    }
    schema.users = Some(users);
    Ok(())
}

/// A 404, or a 400 saying the id is of the other kind: try the other endpoint.
fn is_not_this_kind(failure: &ReadFailure) -> bool {
    let code = failure.reply.as_ref().and_then(|r| r.code.as_deref());
    match failure.status() {
        Some(404) => true,
        Some(400) => code == Some("validation_error"),
        _ => false,
    }
}

fn refused(id: NotionId, endpoint: &str, failure: &ReadFailure) -> SchemaError {
    SchemaError::Refused {
        id,
        endpoint: endpoint.to_owned(),
        answer: answer(failure),
    }
}

/// What Notion said, in a few words (`404 object_not_found: Could not find …`), and what to
/// do when that is not obvious: a refused token, or a read that kept failing.
fn answer(failure: &ReadFailure) -> String {
    let mut text = failure.answer();
    if failure.status() == Some(401) {
        text.push_str(
            " (the token was refused: check that it is the integration's secret; the \
             integration may have been removed or the token rotated)",
        );
    } else if failure.attempts > 1 {
        text.push_str(&format!(
            " (after {} attempts: Notion kept failing; nothing was changed, run the same \
             command again later)",
            failure.attempts
        ));
    }
    text
}

/// `--add-missing-options`, before any page is written: reads the data source as it is now
/// and sends one `PATCH /v1/data_sources/{id}` that keeps every option it has (by id) and adds
/// those of `new` it still lacks. `Ok(n)`: n options were added (0: it already had them all,
/// and nothing was sent). `Err`: why not, for the run's closing lines.
pub async fn add_options(
    shared: &Shared,
    data_source: &str,
    new: &[NewOption],
) -> Result<usize, String> {
    let path = format!("/v1/data_sources/{data_source}");
    let current = read_json(shared, 0, &path).await.map_err(|f| {
        format!(
            "reading the data source before adding options failed: {}",
            f.answer()
        )
    })?;
    let Some((body, count)) = options_patch(&current, new)? else {
        return Ok(0);
    };
    let bytes = serde_json::to_vec(&body).expect("a body serialises");
    let label = format!("PATCH {path}");
    match send(shared, 0, &label, false, || {
        shared.client.patch(&path, bytes.clone())
    })
    .await
    {
        Sent::Done(..) => Ok(count),
        Sent::Never => Err("the run stopped before the options were added".into()),
        Sent::Ended(_, reply, attempts, message) => {
            let status = reply.as_ref().and_then(|r| match r.attempt {
                Attempt::Status(s) => Some(s.to_string()),
                _ => None,
            });
            let said = message
                .or_else(|| reply.as_ref().and_then(|r| r.message.clone()))
                .unwrap_or_else(|| "no answer".into());
            Err(format!(
                "Notion did not add the options ({} after {attempts} attempt(s)): {said}",
                status.map_or_else(|| "no status".to_owned(), |s| format!("HTTP {s}"))
            ))
        }
    }
}

/// The body that adds `new` to the data source as read (`GET /v1/data_sources/{id}`): per
/// property, every option it has by id (an option left out would be deleted), then the new
/// ones by name (a status option with its group, when the header named one). `None`: it has
/// them all. `Err`: a property it lacks, or a list past Notion's 100 options.
pub fn options_patch(
    data_source: &Value,
    new: &[NewOption],
) -> Result<Option<(Value, usize)>, String> {
    let empty = Map::new();
    let properties = data_source["properties"].as_object().unwrap_or(&empty);
    let mut out = Map::new();
    let mut count = 0;
    let mut done: Vec<&str> = Vec::new();
    for property in new.iter().map(|n| &*n.property) {
        if done.contains(&property) {
            continue;
        }
        done.push(property);
        let Some((name, schema)) = crate::notion::page_read::find_property(properties, property)
        else {
            return Err(format!(
                "the data source has no property {property:?} any more"
            ));
        };
        let ty = schema["type"].as_str().unwrap_or_default();
        let held = schema[ty]["options"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let has = |option: &str| held.iter().any(|o| o["name"].as_str() == Some(option));
        let fresh: Vec<&NewOption> = new
            .iter()
            .filter(|n| &*n.property == property && !has(&n.option))
            .collect();
        if fresh.is_empty() {
            continue;
        }
        let total = held.len() + fresh.len();
        if total > MAX_OPTIONS {
            return Err(format!(
                "{name:?} has {} options and the input names {} more: {total} is past the \
                 {MAX_OPTIONS} Notion takes in one property; fix the values or tidy the options \
                 in Notion first",
                held.len(),
                fresh.len()
            ));
        }
        let mut options: Vec<Value> = held.iter().map(|o| json!({"id": o["id"]})).collect();
        options.extend(fresh.iter().map(|n| match &n.group {
            Some(group) => json!({"name": n.option, "group": &**group}),
            None => json!({"name": n.option}),
        }));
        count += fresh.len();
        out.insert(name, json!({ty: {"options": options}}));
    }
    Ok((!out.is_empty()).then(|| (json!({"properties": out}), count)))
}

#[cfg(test)]
mod options_tests {
    use super::*;
    use crate::notion::PropertyType;
    use std::sync::Arc;

    fn new(property: &str, ty: PropertyType, option: &str, group: Option<&str>) -> NewOption {
        NewOption {
            property: Arc::from(property),
            ty,
            option: option.into(),
            group: group.map(Arc::from),
            row: 1,
            near: None,
        }
    }

    #[test]
    fn the_patch_keeps_every_option_by_id_and_adds_only_what_is_missing() {
        let source = json!({"properties": {
            "Priority": {"id": "p", "type": "select", "select": {"options": [
                {"id": "a", "name": "Low"}, {"id": "b", "name": "High"}]}},
            "Status": {"id": "s", "type": "status", "status": {"options": [
                {"id": "c", "name": "Done"}]}}}});
        let asked = [
            new("Priority", PropertyType::Select, "P0", None),
            new("Priority", PropertyType::Select, "High", None),
            new(
                "Status",
                PropertyType::Status,
                "Blocked",
                Some("In progress"),
            ),
        ];
        let (body, count) = options_patch(&source, &asked).unwrap().unwrap();
        assert_eq!(count, 2);
        assert_eq!(
            body,
            json!({"properties": {
                "Priority": {"select": {"options": [{"id": "a"}, {"id": "b"}, {"name": "P0"}]}},
                "Status": {"status": {"options": [{"id": "c"},
                    {"name": "Blocked", "group": "In progress"}]}}}})
        );
        // Everything there already: nothing to send.
        let there = [new("Priority", PropertyType::Select, "Low", None)];
        assert_eq!(options_patch(&source, &there), Ok(None));
    }

    #[test]
    fn past_a_hundred_options_or_a_property_gone_is_refused() {
        let held: Vec<Value> = (0..99)
            .map(|i| json!({"id": i.to_string(), "name": format!("o{i}")}))
            .collect();
        let source = json!({"properties": {"Tags": {"type": "multi_select", "multi_select": {"options": held}}}});
        let two = [
            new("Tags", PropertyType::MultiSelect, "x", None),
            new("Tags", PropertyType::MultiSelect, "y", None),
        ];
        let err = options_patch(&source, &two).unwrap_err();
        assert!(err.contains("101 is past the 100"), "{err}");
        let err =
            options_patch(&source, &[new("Gone", PropertyType::Select, "x", None)]).unwrap_err();
        assert!(err.contains("no property \"Gone\""), "{err}");
    }
}
