//! The scan: reading a data source before writing to it (SPEC §9). One paginated query
//! (`POST /v1/data_sources/{id}/query`, or `/v1/databases/{id}/query` under 2022-06-28),
//! `page_size` 100, sorted by `created_time` ascending, with `filter_properties` limited to
//! the compared properties. Past Notion's cap on one query's results (`request_status`
//! incomplete) it goes on with a `created_time on_or_after` window from the last result,
//! dropping pages already seen; a window that cannot get past its start is an error, never a
//! partial scan. Every request takes a permit of the run's one limiter and goes through the
//! retry table; relation and people values cut at 25 items are completed through the
//! property-item endpoint. Pages stream out one at a time to the caller: the index
//! ([`Index`]) for `apply` and `plan`, the export writer for `export`.

pub mod current;
pub mod index;
pub mod keys;
pub mod relations;
pub mod schema;

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::mapping::key::KeySpec;
use crate::notion::page_read::{complete, truncated_properties};
use crate::notion::{NotionId, Schema, Version};
use crate::transport::{query_json, read_property_items, ReadFailure, Shared};
pub use current::{Current, Kind};
pub use index::{Entry, Field, Index};
pub use keys::{build_key_index, lookups_for, read_index, KeyPlan, KeyRead, MAX_LOOKUP_KEYS};

/// Results asked for per query (Notion's maximum).
pub const PAGE_SIZE: u32 = 100;

/// What to read.
#[derive(Debug, Clone)]
pub struct ScanRequest<'a> {
    pub schema: &'a Schema,
    pub version: Version,
    /// The properties read and compared (page-level fields come with every page).
    pub fields: &'a [Field],
    /// A Notion filter object selecting the pages (`export --where`, a key lookup).
    pub filter: Option<Value>,
    /// With `--match-on`: the key, read from every page (its property is asked for too).
    pub key: Option<&'a KeySpec>,
    /// Stop after this many queries if the scan has not ended by then (the scan's side of the
    /// choice between a scan and key lookups); [`ScanProgress::complete`] says which.
    pub budget: Option<u64>,
}

/// How far a scan has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanProgress {
    /// Pages read (each once).
    pub pages: u64,
    /// Query responses received (not counting retries; the run's stats count every attempt).
    pub queries: u64,
    /// `created_time` windows opened past the result cap.
    pub windows: u64,
    /// Property-item reads completing values cut at 25 items.
    pub completions: u64,
    /// Every page selected was read (false: stopped at the request's budget).
    pub complete: bool,
}

/// Why a scan ended before reading every page. Nothing has been written when it happens.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "cannot read data source {id} ({endpoint} answered {answer}): share the database with \
         the integration (its ••• menu > Connections) and check that the integration has the \
         \"Read content\" capability"
    )]
    NotShared {
        id: String,
        endpoint: String,
        answer: String,
    },
    #[error("Notion refused the query ({endpoint}): {answer}")]
    Refused { endpoint: String, answer: String },
    #[error("the scan of {id} failed: {endpoint} answered {answer} after {attempts} attempts; nothing was written. Run again later")]
    Failed {
        id: String,
        endpoint: String,
        answer: String,
        attempts: u32,
    },
    #[error(
        "the scan cannot go on past created_time {created_time}: one query stops at {count} \
         results and all of them were created at that time, so a created_time window cannot \
         get past them. Nothing was written; narrow the pages with a filter (export --where) \
         or split the data source"
    )]
    Stuck { created_time: String, count: u64 },
    #[error("{endpoint} answered something unexpected: {detail}")]
    Unexpected { endpoint: String, detail: String },
    #[error("the scan stopped: {0}")]
    Stopped(String),
    #[error("{0}")]
    Page(String),
}

impl ScanError {
    /// Whether the cause is in the input or the setup (exit 2), not a server failure.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ScanError::NotShared { .. } | ScanError::Refused { .. } | ScanError::Stuck { .. }
        )
    }
}

/// The query path for this data source and version.
pub fn query_path(
    schema: &Schema,
    version: Version,
    fields: &[Field],
    key: Option<&KeySpec>,
) -> String {
    let mut path = if version < Version::V2025_09_03 {
        format!("/v1/databases/{}/query", schema.data_source_id)
    } else {
        format!("/v1/data_sources/{}/query", schema.data_source_id)
    };
    let mut ids: Vec<&str> = fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Property(_)))
        .map(|f| f.id.as_str())
        .collect();
    if let Some(key) = key.filter(|k| !ids.contains(&k.id.as_str())) {
        ids.push(&key.id);
    }
    if ids.is_empty() {
        // Only page-level fields: ask for the title alone rather than every property.
        ids.extend(schema.title_property().map(|p| p.id.as_str()));
    }
    for (i, id) in ids.iter().enumerate() {
        // Ids come URL-encoded from Notion; encoding them again breaks the lookup.
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str("filter_properties=");
        path.push_str(id);
    }
    path
}

/// The filter of one query: the caller's, within the current `created_time` window.
fn window_filter(filter: Option<&Value>, on_or_after: Option<&str>) -> Option<Value> {
    let window = on_or_after
        .map(|t| json!({"timestamp": "created_time", "created_time": {"on_or_after": t}}));
    match (filter, window) {
        (None, w) => w,
        (Some(f), None) => Some(f.clone()),
        (Some(f), Some(w)) => match f.as_object() {
            Some(map) if map.len() == 1 && map.get("and").is_some_and(Value::is_array) => {
                let mut items = map["and"].as_array().cloned().unwrap_or_default();
                items.push(w);
                Some(json!({ "and": items }))
            }
            _ => Some(json!({"and": [f, w]})),
        },
    }
}

/// Reads every page the request selects, each exactly once, and hands it to `page` (with its
/// compared relation, people and text values complete). `progress` is called after each
/// response.
pub async fn scan(
    shared: &Shared,
    request: &ScanRequest<'_>,
    page: &mut dyn FnMut(Value) -> Result<(), String>,
    progress: &mut dyn FnMut(&ScanProgress),
) -> Result<ScanProgress, ScanError> {
    let path = query_path(request.schema, request.version, request.fields, request.key);
    let endpoint = format!("POST {}", path.split('?').next().unwrap_or(&path));
    let compared: HashSet<&str> = request
        .fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Property(_)))
        .map(|f| &*f.name)
        .collect();
    let mut done = ScanProgress::default();
    // The window's start, and the pages already read that were created at the latest
    // created_time seen (the only ones a window starting there can return again).
    let mut on_or_after: Option<String> = None;
    let mut last_time: Option<String> = None;
    let mut at_last_time: HashSet<NotionId> = HashSet::new();
    loop {
        let mut cursor: Option<String> = None;
        let mut first_in_window: Option<String> = None;
        let mut in_window = 0u64;
        let capped = loop {
            let mut body = json!({
                "page_size": PAGE_SIZE,
                "sorts": [{"timestamp": "created_time", "direction": "ascending"}],
            });
            if let Some(f) = window_filter(request.filter.as_ref(), on_or_after.as_deref()) {
                body["filter"] = f;
            }
            if let Some(c) = &cursor {
                body["start_cursor"] = json!(c);
            }
            let response = query_json(shared, &path, &body)
                .await
                .map_err(|f| failure(f, request.schema, &endpoint))?;
            done.queries += 1;
            let unexpected = |detail: &str| ScanError::Unexpected {
                endpoint: endpoint.clone(),
                detail: detail.to_owned(),
            };
            let results = response["results"]
                .as_array()
                .ok_or_else(|| unexpected("no results list"))?;
            for mut result in results.iter().cloned() {
                if result["object"].as_str() != Some("page") {
                    continue;
                }
                let id = result["id"]
                    .as_str()
                    .and_then(|id| NotionId::parse(id).ok())
                    .ok_or_else(|| unexpected("a page without an id"))?;
                let created = result["created_time"]
                    .as_str()
                    .ok_or_else(|| unexpected("a page without created_time"))?
                    .to_owned();
                in_window += 1;
                first_in_window.get_or_insert_with(|| created.clone());
                if last_time.as_deref() == Some(created.as_str()) {
                    if !at_last_time.insert(id) {
                        continue; // read in the window before
                    }
                } else {
                    last_time = Some(created);
                    at_last_time.clear();
                    at_last_time.insert(id);
                }
                if result["in_trash"].as_bool() == Some(true) {
                    continue;
                }
                for (name, property_id) in truncated_properties(&result) {
                    if !compared.contains(name.as_str()) {
                        continue;
                    }
                    let items = read_property_items(shared, 0, id, &property_id)
                        .await
                        .map_err(|f| {
                            failure(f, request.schema, &format!("GET /v1/pages/{id}/properties"))
                        })?;
                    done.completions += 1;
                    complete(&mut result, &name, items);
                }
                page(result).map_err(ScanError::Page)?;
                done.pages += 1;
            }
            progress(&done);
            if request.budget.is_some_and(|b| done.queries >= b)
                && response["has_more"].as_bool() == Some(true)
            {
                return Ok(done);
            }
            let incomplete = response
                .pointer("/request_status/type")
                .and_then(Value::as_str)
                == Some("incomplete");
            match (
                response["has_more"].as_bool(),
                response["next_cursor"].as_str(),
            ) {
                (Some(true), Some(next)) => cursor = Some(next.to_owned()),
                (Some(true), None) => return Err(unexpected("has_more without a next_cursor")),
                _ => break incomplete,
            }
        };
        if !capped {
            done.complete = true;
            return Ok(done);
        }
        // Capped: the next window starts at the last result's created_time.
        let Some(last) = last_time.clone() else {
            return Err(ScanError::Stuck {
                created_time: on_or_after.unwrap_or_else(|| "the start".into()),
                count: in_window,
            });
        };
        if first_in_window.as_deref() == Some(last.as_str()) {
            return Err(ScanError::Stuck {
                created_time: last,
                count: in_window,
            });
        }
        on_or_after = Some(last);
        done.windows += 1;
    }
}

/// The fields to compare: those the rows can write (`keys`, by name or id; a page-level key
/// for `@icon` and the like), or, when rows may write anything (JSONL), every writable one.
pub fn compared_fields(schema: &Schema, keys: Option<Vec<String>>) -> Vec<Field> {
    let Some(keys) = keys else {
        return Field::all(schema);
    };
    let mut fields: Vec<Field> = Vec::new();
    for key in keys {
        let field = schema
            .property(&key)
            .and_then(Field::property)
            .or_else(|| Field::page_level(&key));
        if let Some(field) = field {
            if !fields.iter().any(|f| f.name == field.name) {
                fields.push(field);
            }
        }
    }
    fields
}

/// Scans into an index of the compared fields.
pub async fn build_index(
    shared: &Shared,
    schema: &Schema,
    version: Version,
    fields: Vec<Field>,
    progress: &mut dyn FnMut(&ScanProgress),
) -> Result<(Index, ScanProgress), ScanError> {
    let mut index = Index::new(fields.clone());
    let request = ScanRequest {
        schema,
        version,
        fields: &fields,
        filter: None,
        key: None,
        budget: None,
    };
    let done = scan(shared, &request, &mut |page| index.insert(&page), progress).await?;
    Ok((index, done))
}

impl ScanProgress {
    fn plus(&self, other: &ScanProgress) -> ScanProgress {
        ScanProgress {
            pages: self.pages + other.pages,
            queries: self.queries + other.queries,
            windows: self.windows + other.windows,
            completions: self.completions + other.completions,
            complete: other.complete,
        }
    }
}

fn failure(f: ReadFailure, schema: &Schema, endpoint: &str) -> ScanError {
    if f.stopped {
        return ScanError::Stopped("the run is stopping".into());
    }
    match f.status() {
        Some(404 | 403) => ScanError::NotShared {
            id: schema.data_source_id.clone(),
            endpoint: endpoint.to_owned(),
            answer: f.answer(),
        },
        Some(401) => ScanError::Stopped("the server refused the token (401 unauthorized)".into()),
        Some(400) => ScanError::Refused {
            endpoint: endpoint.to_owned(),
            answer: f.answer(),
        },
        _ => ScanError::Failed {
            id: schema.data_source_id.clone(),
            endpoint: endpoint.to_owned(),
            answer: f.answer(),
            attempts: f.attempts,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_join_the_filter_with_and() {
        assert_eq!(window_filter(None, None), None);
        let w = json!({"timestamp": "created_time", "created_time": {"on_or_after": "T"}});
        assert_eq!(window_filter(None, Some("T")), Some(w.clone()));
        let leaf = json!({"property": "Done", "checkbox": {"equals": true}});
        assert_eq!(
            window_filter(Some(&leaf), Some("T")),
            Some(json!({"and": [leaf, w]}))
        );
        let and = json!({"and": [leaf]});
        assert_eq!(
            window_filter(Some(&and), Some("T")),
            Some(json!({"and": [leaf, w]}))
        );
    }

    #[test]
    fn filter_properties_are_repeated_and_not_encoded_again() {
        let schema: Schema = serde_json::from_value(json!({
            "format": 1, "data_source_id": "ds", "title": "T",
            "properties": [{"id": "title", "name": "Name", "type": "title"},
                           {"id": "a%3Fb", "name": "Status", "type": "status"}]
        }))
        .unwrap();
        let fields = Field::all(&schema);
        assert_eq!(
            query_path(&schema, Version::V2025_09_03, &fields, None),
            "/v1/data_sources/ds/query?filter_properties=title&filter_properties=a%3Fb"
        );
        assert_eq!(
            query_path(&schema, Version::V2022_06_28, &fields[1..2], None),
            "/v1/databases/ds/query?filter_properties=a%3Fb"
        );
        assert_eq!(
            query_path(&schema, Version::V2022_06_28, &[], None),
            "/v1/databases/ds/query?filter_properties=title"
        );
    }
}
