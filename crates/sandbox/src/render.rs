//! The JSON shapes the API returns: pages, property items, data sources, databases and users,
//! as each API version shows them.

use super::error::ApiError;
use super::model::{
    DataSource, Database, Page, PropSchema, PropType, User, Workspace, INTEGRATION_BOT_ID,
    STATUS_GROUPS,
};
use super::store::Store;
use super::version::ApiVersion;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// Most items of a list value a page read shows.
pub(crate) const PAGE_READ_ITEMS: usize = 25;
/// Default and largest `page_size` of the paginated endpoints.
pub(crate) const MAX_PAGE_SIZE: usize = 100;

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn partial_user(id: &str) -> Value {
    json!({"object": "user", "id": id})
}

fn rich_text(text: &str) -> Value {
    json!([{
        "type": "text",
        "text": {"content": text, "link": null},
        "annotations": {"bold": false, "italic": false, "strikethrough": false,
                        "underline": false, "code": false, "color": "default"},
        "plain_text": text,
        "href": null,
    }])
}

fn notion_url(title: &str, id: &str) -> String {
    let slug: String = title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let bare = id.replace('-', "");
    if slug.is_empty() {
        format!("https://www.notion.so/{bare}")
    } else {
        format!("https://www.notion.so/{slug}-{bare}")
    }
}

/// A full user object.
pub(crate) fn user(u: &User) -> Value {
    if u.is_bot {
        json!({"object": "user", "id": u.id, "name": u.name, "avatar_url": null, "type": "bot", "bot": {}})
    } else {
        let person = match &u.email {
            Some(e) => json!({ "email": e }),
            None => json!({}),
        };
        json!({"object": "user", "id": u.id, "name": u.name, "avatar_url": null, "type": "person", "person": person})
    }
}

/// The integration's own bot user (`GET /v1/users/me`, and in `GET /v1/users` when the seed
/// lists it), with its workspace's per-file upload limit.
pub(crate) fn integration_bot(store: &Store) -> Value {
    let name = store
        .user(INTEGRATION_BOT_ID)
        .map_or("Sandbox integration", |u| u.name.as_str());
    json!({
        "object": "user",
        "id": INTEGRATION_BOT_ID,
        "name": name,
        "avatar_url": null,
        "type": "bot",
        "bot": {
            "owner": {"type": "workspace", "workspace": true},
            "workspace_id": WORKSPACE_ID,
            "workspace_name": "Sandbox",
            "workspace_limits": {"max_file_upload_size_in_bytes": store.uploads.max_size},
        },
    })
}

/// The sandbox workspace's id.
const WORKSPACE_ID: &str = "5a4dba00-0000-4000-8000-00000000000a";

/// A people item with the user expanded when known.
fn people_item(store: &Store, item: &Value) -> Value {
    item.get("id")
        .and_then(Value::as_str)
        .filter(|_| item.get("object").and_then(Value::as_str) == Some("user"))
        .and_then(|id| store.user(id))
        .map_or_else(|| item.clone(), user)
}

/// The inner value of a property as a page read shows it, with all items.
fn full_value(store: &Store, page: &Page, prop: &PropSchema) -> Value {
    match prop.kind {
        PropType::CreatedTime => Value::String(time(page.created_time)),
        PropType::LastEditedTime => Value::String(time(page.last_edited_time)),
        PropType::CreatedBy => partial_user(&page.created_by),
        PropType::LastEditedBy => partial_user(&page.last_edited_by),
        PropType::People => match page.value(prop) {
            Value::Array(items) => items.iter().map(|i| people_item(store, i)).collect(),
            other => other,
        },
        _ => page.value(prop),
    }
}

/// The value an API read shows: a Notion-hosted file's link signed afresh.
fn read_value(store: &Store, page: &Page, prop: &PropSchema) -> Value {
    match (prop.kind, full_value(store, page, prop)) {
        (PropType::Files, Value::Array(items)) => items.into_iter().map(signed_file).collect(),
        (_, value) => value,
    }
}

/// Reads of a Notion-hosted file so far: each read signs its link afresh.
static SIGNATURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A Notion-hosted file as a read shows it: its link signed for an hour, with a signature of
/// its own (as S3 signs Notion's links), and when that expires.
fn signed_file(mut item: Value) -> Value {
    if item["type"] != "file" {
        return item;
    }
    let n = SIGNATURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = item["file"]["url"].as_str().unwrap_or_default().to_owned();
    item["file"] = json!({
        "url": format!(
            "{base}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature={:016x}",
            n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ),
        "expiry_time": time(Utc::now() + chrono::Duration::hours(1)),
    });
    item
}

/// One property value of a page: `{id, type, <type>: …}`. As an API read shows it (`read`):
/// lists cut at 25 items, `has_more` on relations, hosted files' links signed; else (the
/// sandbox's state) as stored.
fn property_value(store: &Store, page: &Page, prop: &PropSchema, read: bool) -> Value {
    let kind = prop.kind.as_str();
    let mut value = match read {
        true => read_value(store, page, prop),
        false => full_value(store, page, prop),
    };
    let mut has_more = false;
    if read && prop.kind.is_paginated() {
        if let Value::Array(items) = &mut value {
            has_more = items.len() > PAGE_READ_ITEMS;
            items.truncate(PAGE_READ_ITEMS);
        }
    }
    let mut out = json!({"id": prop.id, "type": kind, kind: value});
    if prop.kind == PropType::Relation {
        out["has_more"] = Value::Bool(has_more);
    }
    out
}

/// A page object as GET and PATCH /v1/pages/{id} return it.
pub(crate) fn page(store: &Store, page: &Page, version: ApiVersion) -> Value {
    page_object(store, page, version, true, None)
}

/// A page of query results: `{object: "list", results, next_cursor, has_more, type, …}`, each
/// page as a page read shows it, with only the properties of `only` (ids) when given (from
/// 2026-12-01, only the title when not); and
/// `request_status` when the query was cut at its cap.
pub(crate) fn query_results(
    store: &Store,
    pages: &[&Page],
    version: ApiVersion,
    only: Option<&[String]>,
    next_cursor: Option<String>,
    capped: bool,
) -> Value {
    // From 2026-12-01, without `filter_properties` a page shows its title alone.
    let title_only: Option<Vec<String>> = match (only, version.lists_title_only()) {
        (None, true) => pages.first().map(|p| {
            store
                .data_source(&p.data_source_id)
                .and_then(|ds| ds.title_property())
                .map(|t| vec![t.id.clone()])
                .unwrap_or_default()
        }),
        _ => None,
    };
    let only = only.or(title_only.as_deref());
    let results: Vec<Value> = pages
        .iter()
        .map(|p| page_object(store, p, version, true, only))
        .collect();
    let kind = if version.has_data_sources() {
        "page_or_data_source"
    } else {
        "page_or_database"
    };
    let mut out = json!({
        "object": "list",
        "results": results,
        "next_cursor": next_cursor,
        "has_more": next_cursor.is_some(),
        "type": kind,
        kind: {},
    });
    if capped {
        out["request_status"] =
            json!({"type": "incomplete", "incomplete_reason": "query_result_limit_reached"});
    }
    out
}

fn page_object(
    store: &Store,
    page: &Page,
    version: ApiVersion,
    truncate: bool,
    only: Option<&[String]>,
) -> Value {
    let ds = store.data_source(&page.data_source_id);
    let database_id = ds.map(|d| d.database_id.clone()).unwrap_or_default();
    let parent = if version.has_data_sources() {
        json!({"type": "data_source_id", "data_source_id": page.data_source_id, "database_id": database_id})
    } else {
        json!({"type": "database_id", "database_id": database_id})
    };
    let properties: Map<String, Value> = ds
        .map(|d| {
            d.properties
                .iter()
                .filter(|p| only.is_none_or(|ids| ids.contains(&p.id)))
                .map(|p| (p.name.clone(), property_value(store, page, p, truncate)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Map::new();
    out.insert("object".into(), json!("page"));
    out.insert("id".into(), json!(page.id));
    out.insert("created_time".into(), json!(time(page.created_time)));
    out.insert(
        "last_edited_time".into(),
        json!(time(page.last_edited_time)),
    );
    out.insert("created_by".into(), partial_user(&page.created_by));
    out.insert("last_edited_by".into(), partial_user(&page.last_edited_by));
    // A hosted icon or cover (an attached upload) is signed afresh by each read, as files are.
    let media = |v: &Value| match truncate {
        true => signed_file(v.clone()),
        false => v.clone(),
    };
    out.insert("cover".into(), media(&page.cover));
    out.insert("icon".into(), media(&page.icon));
    out.insert("parent".into(), parent);
    if version.has_archived() {
        out.insert("archived".into(), json!(page.in_trash));
    }
    out.insert("in_trash".into(), json!(page.in_trash));
    if version.has_data_sources() {
        out.insert("is_locked".into(), json!(page.is_locked));
    }
    out.insert("properties".into(), Value::Object(properties));
    out.insert(
        "url".into(),
        json!(notion_url(&store.page_title(page), &page.id)),
    );
    out.insert("public_url".into(), Value::Null);
    Value::Object(out)
}

/// GET /v1/pages/{id}/properties/{property_id}: a paginated list for title, rich_text, people
/// and relation; one property item otherwise.
pub(crate) fn property_item(
    store: &Store,
    page: &Page,
    prop: &PropSchema,
    start_cursor: Option<&str>,
    page_size: Option<&str>,
) -> Result<Value, ApiError> {
    let kind = prop.kind.as_str();
    if !prop.kind.is_paginated() {
        return Ok(json!({
            "object": "property_item",
            "id": prop.id,
            "type": kind,
            kind: read_value(store, page, prop),
        }));
    }
    let size = parse_page_size(page_size)?;
    let items = match full_value(store, page, prop) {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    let start = parse_cursor(start_cursor, items.len())?;
    let end = (start + size).min(items.len());
    let results: Vec<Value> = items[start..end]
        .iter()
        .map(|item| json!({"object": "property_item", "id": prop.id, "type": kind, kind: item}))
        .collect();
    let has_more = end < items.len();
    let next_cursor = if has_more {
        Value::String(cursor(end))
    } else {
        Value::Null
    };
    Ok(json!({
        "object": "list",
        "results": results,
        "next_cursor": next_cursor,
        "has_more": has_more,
        "type": "property_item",
        "property_item": {"id": prop.id, "next_url": null, "type": kind, kind: {}},
    }))
}

pub(crate) fn parse_page_size(text: Option<&str>) -> Result<usize, ApiError> {
    let Some(text) = text else {
        return Ok(MAX_PAGE_SIZE);
    };
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or_else(|| {
            ApiError::validation(format!(
                "query failed validation: query.page_size should be a number between 1 and 100, instead was `\"{text}\"`."
            ))
        })
}

/// Cursors are opaque to clients; here they encode the offset of the next item.
pub(crate) fn cursor(offset: usize) -> String {
    format!("sandbox-cursor-{offset}")
}

pub(crate) fn parse_cursor(text: Option<&str>, len: usize) -> Result<usize, ApiError> {
    let Some(text) = text else { return Ok(0) };
    text.strip_prefix("sandbox-cursor-")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n <= len)
        .ok_or_else(|| {
            ApiError::validation(format!(
                "query failed validation: query.start_cursor should be a cursor this endpoint returned, instead was `\"{text}\"`."
            ))
        })
}

/// The schema of a property as a data source (or an old database) shows it.
fn property_config(store: &Store, prop: &PropSchema) -> Value {
    let kind = prop.kind.as_str();
    let options = || -> Vec<Value> {
        prop.options
            .iter()
            .map(|o| json!({"id": o.id, "name": o.name, "color": o.color, "description": o.description}))
            .collect()
    };
    let config = match prop.kind {
        PropType::Select | PropType::MultiSelect => json!({ "options": options() }),
        PropType::Status => {
            let groups: Vec<Value> = STATUS_GROUPS
                .iter()
                .map(|(key, name, color)| {
                    let ids: Vec<&str> = prop
                        .options
                        .iter()
                        .filter(|o| o.group.as_deref() == Some(key))
                        .map(|o| o.id.as_str())
                        .collect();
                    json!({"id": key, "name": name, "color": color, "option_ids": ids})
                })
                .collect();
            json!({"options": options(), "groups": groups})
        }
        PropType::Number => json!({ "format": prop.format }),
        PropType::Relation => {
            let target = prop.relation_data_source.clone().unwrap_or_default();
            let database_id = store.data_source(&target).map(|d| d.database_id.clone());
            json!({"database_id": database_id, "data_source_id": target, "type": "single_property", "single_property": {}})
        }
        PropType::Formula => json!({ "expression": prop.expression }),
        PropType::UniqueId => json!({ "prefix": prop.prefix }),
        _ => json!({}),
    };
    json!({"id": prop.id, "name": prop.name, "description": prop.description, "type": kind, kind: config})
}

fn properties(store: &Store, ds: &DataSource) -> Value {
    Value::Object(
        ds.properties
            .iter()
            .map(|p| (p.name.clone(), property_config(store, p)))
            .collect(),
    )
}

/// GET /v1/data_sources/{id}.
pub(crate) fn data_source(store: &Store, ds: &DataSource, version: ApiVersion) -> Value {
    let mut out = json!({
        "object": "data_source",
        "id": ds.id,
        "created_time": time(ds.created_time),
        "last_edited_time": time(ds.last_edited_time),
        "created_by": partial_user(INTEGRATION_BOT_ID),
        "last_edited_by": partial_user(INTEGRATION_BOT_ID),
        "title": rich_text(&ds.title),
        "description": [],
        "icon": ds.icon,
        "cover": null,
        "parent": {"type": "database_id", "database_id": ds.database_id},
        "database_parent": {"type": "workspace", "workspace": true},
        "is_inline": false,
        "in_trash": false,
        "properties": properties(store, ds),
        "url": notion_url(&ds.title, &ds.id),
        "public_url": null,
    });
    if version.has_archived() {
        out["archived"] = json!(false);
    }
    out
}

/// GET /v1/databases/{id}: with `properties` under 2022-06-28 (refused for several data
/// sources), with `data_sources` after.
pub(crate) fn database(
    store: &Store,
    db: &Database,
    version: ApiVersion,
) -> Result<Value, ApiError> {
    let mut out = json!({
        "object": "database",
        "id": db.id,
        "created_time": time(db.created_time),
        "last_edited_time": time(db.created_time),
        "title": rich_text(&db.title),
        "description": [],
        "icon": null,
        "cover": null,
        "parent": {"type": "workspace", "workspace": true},
        "is_inline": false,
        "in_trash": false,
        "url": notion_url(&db.title, &db.id),
        "public_url": null,
    });
    if version.has_archived() {
        out["archived"] = json!(false);
    }
    if version.has_data_sources() {
        out["is_locked"] = json!(false);
        let sources: Vec<Value> = db
            .data_sources
            .iter()
            .filter_map(|id| store.data_source(id))
            .map(|ds| json!({"id": ds.id, "name": ds.title}))
            .collect();
        out["data_sources"] = Value::Array(sources);
        return Ok(out);
    }
    match db.data_sources.as_slice() {
        [only] => {
            let ds = store
                .data_source(only)
                .ok_or_else(|| ApiError::not_found("database", &db.id))?;
            out["properties"] = properties(store, ds);
            Ok(out)
        }
        _ => Err(ApiError::validation(format!(
            "Database {} has {} data sources. Retrieving a database with multiple data sources is not supported in API version {}; use version 2025-09-03 or later.",
            db.id,
            db.data_sources.len(),
            version
        ))),
    }
}

/// GET /v1/users: a page of the workspace's users.
pub(crate) fn users(
    store: &Store,
    start_cursor: Option<&str>,
    page_size: Option<&str>,
) -> Result<Value, ApiError> {
    let size = parse_page_size(page_size)?;
    let start = parse_cursor(start_cursor, store.users.len())?;
    let end = (start + size).min(store.users.len());
    let has_more = end < store.users.len();
    Ok(json!({
        "object": "list",
        "results": store.users[start..end]
            .iter()
            .map(|u| match u.id == INTEGRATION_BOT_ID {
                true => integration_bot(store),
                false => user(u),
            })
            .collect::<Vec<_>>(),
        "next_cursor": if has_more { Value::String(cursor(end)) } else { Value::Null },
        "has_more": has_more,
        "type": "user",
        "user": {},
    }))
}

/// `/__sandbox/state`: every page in seed order, untruncated, values keyed by property name,
/// as the latest API version shows them; plus each data source's options.
pub(crate) fn state(store: &Store) -> Value {
    let pages: Vec<Value> = store
        .page_order
        .iter()
        .filter_map(|id| store.pages.get(id))
        .map(|p| page_object(store, p, ApiVersion::V2026_03_11, false, None))
        .collect();
    let data_sources: Vec<Value> = store
        .data_sources
        .iter()
        .map(|ds| data_source(store, ds, ApiVersion::V2026_03_11))
        .collect();
    json!({"pages": pages, "data_sources": data_sources})
}
