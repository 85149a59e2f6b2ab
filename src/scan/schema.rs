//! Reading a data source's schema (and the workspace's users) from Notion, before any row:
//! `GET /v1/data_sources/{id}` (or `GET /v1/databases/{id}`), then `GET /v1/users`, each read
//! with the run's permits, retries and counters. What a schema is, how its JSON is parsed and
//! how it is saved live in [`crate::notion::schema`]; this is the I/O.

use serde_json::Value;

use crate::notion::schema::{from_object, SchemaError, SchemaSource, SchemaUser};
use crate::notion::{NotionId, Schema, Version};
use crate::transport::{read_json, ReadFailure, Shared};

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime to read the schema: {e}"))?;
    runtime
        .block_on(load_schema(source, reads, version))
        .map_err(|e| e.to_string())
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
