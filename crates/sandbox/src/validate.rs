//! Checking page bodies from the API's side: PATCH /v1/pages/{id} (the `patch-page` request
//! schema) and POST /v1/pages (`post-page`: the parent, then the same properties, icon and cover
//! checks), the size limits, the version rules, and the data source's schema. Errors carry
//! Notion's wording and name the offending path. Nothing here is shared with the tool's own
//! mapping.

use super::error::ApiError;
use super::model::{
    normalize_id, parse_date, short_id, DataSource, Page, PropSchema, PropType, SelectOption,
    Workspace, INTEGRATION_BOT_ID, OPTION_COLORS,
};
use super::upload::Hosted;
use super::version::ApiVersion;
use serde_json::{json, Map, Value};

/// Most characters (UTF-16 code units) in a rich text `text.content` or a link URL.
pub(crate) const MAX_TEXT: usize = 2000;
/// Most characters in an equation expression.
pub(crate) const MAX_EQUATION: usize = 1000;
/// Most characters in a URL value.
pub(crate) const MAX_URL: usize = 2000;
/// Most characters in an email or phone number (the OpenAPI's `stringRequest`).
pub(crate) const MAX_SHORT: usize = 100;
/// Most characters in a new select option name.
pub(crate) const MAX_OPTION_NAME: usize = 100;
/// Most items in any array of the body.
pub(crate) const MAX_ITEMS: usize = 100;
/// What Notion answers when a schema would grow past its ceiling (the wording users report,
/// dvanoni/notero#725).
pub(crate) const SCHEMA_TOO_LARGE: &str = "Your database schema has exceeded the maximum size";

/// Colours of rich text annotations.
const API_COLORS: [&str; 20] = [
    "default",
    "gray",
    "brown",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "red",
    "default_background",
    "gray_background",
    "brown_background",
    "orange_background",
    "yellow_background",
    "green_background",
    "blue_background",
    "purple_background",
    "pink_background",
    "red_background",
];

/// A checked update, ready to apply: values in stored shape, keyed by property id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Update {
    pub(crate) values: Vec<(String, Value)>,
    /// Select and multi_select options to add to the schema: (property id, option).
    pub(crate) new_options: Vec<(String, SelectOption)>,
    pub(crate) icon: Option<Value>,
    pub(crate) cover: Option<Value>,
    pub(crate) in_trash: Option<bool>,
    pub(crate) is_locked: Option<bool>,
    /// File uploads the update attaches (files values, icon, cover), by id.
    pub(crate) uploads: Vec<String>,
}

/// What checking a value may read and the options it creates.
pub(crate) struct ValueContext<'a> {
    pub(crate) store: &'a dyn Workspace,
    pub(crate) data_source: &'a DataSource,
    pub(crate) new_options: &'a mut Vec<(String, SelectOption)>,
    /// File uploads the values attach, by id.
    pub(crate) uploads: &'a mut Vec<String>,
}

/// A checked create: the data source the page goes in, and its first values, icon and cover.
#[derive(Debug, Clone)]
pub(crate) struct NewPage {
    pub(crate) data_source_id: String,
    pub(crate) update: Update,
}

/// Top-level keys of a create body that ask for page content, which the sandbox does not keep.
const CONTENT_KEYS: [&str; 4] = ["children", "content", "markdown", "position"];

/// Check a whole PATCH body against `page` under `version`.
pub(crate) fn check_patch(
    store: &dyn Workspace,
    page: &Page,
    body: &Value,
    version: ApiVersion,
) -> Result<Update, ApiError> {
    let m = object(body, "body")?;
    let mut allowed = vec!["properties", "icon", "cover", "in_trash"];
    if version.has_archived() {
        allowed.push("archived");
    }
    if version.has_data_sources() {
        allowed.extend(["is_locked", "template", "erase_content"]);
    }
    only_keys(m, &allowed, "body")?;

    let mut update = Update {
        in_trash: trash_flag(m)?,
        ..Update::default()
    };
    update.is_locked = m
        .get("is_locked")
        .map(|v| boolean(v, "body.is_locked"))
        .transpose()?;
    let erase = m
        .get("erase_content")
        .map(|v| boolean(v, "body.erase_content"))
        .transpose()?;
    if let Some(t) = m.get("template") {
        check_template(t, "body.template", &["default", "template_id"])?;
    }
    check_icon_and_cover(store, m, &mut update)?;
    let properties = body_properties(m)?;

    let edits = properties.is_some_and(|p| !p.is_empty())
        || update.icon.is_some()
        || update.cover.is_some()
        || update.is_locked.is_some()
        || m.contains_key("template")
        || erase == Some(true);
    if page.in_trash && update.in_trash != Some(false) && edits {
        return Err(ApiError::validation(
            "Can't edit block that is archived. You must unarchive the block before editing.",
        ));
    }

    let Some(data_source) = store.data_source(&page.data_source_id) else {
        return Err(ApiError::validation(
            "The page's data source no longer exists.",
        ));
    };
    check_properties(store, data_source, properties, &mut update)?;
    Ok(update)
}

/// Check a whole POST /v1/pages body under `version`: its parent must be a data source (or a
/// database with one), and its properties, icon and cover are checked as a PATCH checks them.
/// The `post-page` schema has no `in_trash`, `archived` or `is_locked`, so they are refused.
pub(crate) fn check_create(
    store: &dyn Workspace,
    body: &Value,
    version: ApiVersion,
) -> Result<NewPage, ApiError> {
    let m = object(body, "body")?;
    let mut allowed = vec!["parent", "properties", "icon", "cover"];
    allowed.extend(CONTENT_KEYS);
    if version.has_data_sources() {
        allowed.push("template");
    }
    only_keys(m, &allowed, "body")?;
    if let Some(key) = CONTENT_KEYS.iter().find(|k| m.contains_key(**k)) {
        return Err(ApiError::validation(format!(
            "body.{key} is not supported by the sandbox, which keeps no page content."
        )));
    }
    if let Some(t) = m.get("template") {
        check_template(t, "body.template", &["none", "default", "template_id"])?;
    }
    let mut update = Update::default();
    check_icon_and_cover(store, m, &mut update)?;
    let properties = body_properties(m)?;
    let data_source = parent_data_source(store, m.get("parent"), version)?;
    check_properties(store, data_source, properties, &mut update)?;
    Ok(NewPage {
        data_source_id: data_source.id.clone(),
        update,
    })
}

/// The data source a create's `parent` names: `{data_source_id}` (2025-09-03 and later) or
/// `{database_id}` of a database with one data source, each with an optional `type`.
fn parent_data_source<'s>(
    store: &'s dyn Workspace,
    parent: Option<&Value>,
    version: ApiVersion,
) -> Result<&'s DataSource, ApiError> {
    let unsupported = |what: &str| {
        ApiError::validation(format!(
            "The sandbox creates pages in data sources only: {what} is not supported; give parent {}.",
            if version.has_data_sources() {
                "`data_source_id` or `database_id`"
            } else {
                "`database_id`"
            }
        ))
    };
    let path = "body.parent";
    let Some(parent) = parent else {
        return Err(unsupported(
            "a page without a parent (a private page of the workspace)",
        ));
    };
    let m = object(parent, path)?;
    let kinds: &[&'static str] = if version.has_data_sources() {
        &["data_source_id", "database_id", "page_id", "workspace"]
    } else {
        &["database_id", "page_id", "workspace"]
    };
    let kind = variant(m, path, kinds)?;
    only_keys(m, &[kind, "type"], path)?;
    match kind {
        "data_source_id" => {
            let id = uuid_at(m, kind, path)?;
            store
                .data_source(&id)
                .ok_or_else(|| ApiError::not_found("data source", &id))
        }
        "database_id" => {
            let id = uuid_at(m, kind, path)?;
            let db = store
                .database(&id)
                .ok_or_else(|| ApiError::not_found("database", &id))?;
            match db.data_sources.as_slice() {
                [only] => store
                    .data_source(only)
                    .ok_or_else(|| ApiError::not_found("database", &id)),
                several => Err(ApiError::validation(format!(
                    "Database {id} has {} data sources. Creating a page with a database_id parent needs a database with one data source; {}",
                    several.len(),
                    if version.has_data_sources() {
                        "give the data source as parent `data_source_id`."
                    } else {
                        "use version 2025-09-03 or later and parent `data_source_id`."
                    }
                ))),
            }
        }
        _ => Err(unsupported(&format!("parent `{kind}`"))),
    }
}

/// A body's `properties`, if given: an object.
fn body_properties(m: &Map<String, Value>) -> Result<Option<&Map<String, Value>>, ApiError> {
    m.get("properties")
        .map(|v| object(v, "body.properties"))
        .transpose()
}

/// A body's `icon` and `cover`, when given, into `update` (PATCH and create alike).
fn check_icon_and_cover(
    store: &dyn Workspace,
    m: &Map<String, Value>,
    update: &mut Update,
) -> Result<(), ApiError> {
    update.icon = m
        .get("icon")
        .map(|v| check_icon(store, v, "body.icon", &mut update.uploads))
        .transpose()?;
    update.cover = m
        .get("cover")
        .map(|v| check_cover(store, v, "body.cover", &mut update.uploads))
        .transpose()?;
    Ok(())
}

/// A body's `properties` against `data_source`'s schema, into `update`'s values and new options
/// (PATCH and create alike): each key names a property, no read-only type, each value checked.
fn check_properties(
    store: &dyn Workspace,
    data_source: &DataSource,
    properties: Option<&Map<String, Value>>,
    update: &mut Update,
) -> Result<(), ApiError> {
    let mut cx = ValueContext {
        store,
        data_source,
        new_options: &mut update.new_options,
        uploads: &mut update.uploads,
    };
    for (key, value) in properties.into_iter().flatten() {
        let prop = data_source
            .property(key)
            .ok_or_else(|| ApiError::validation(format!("{key} is not a property that exists.")))?;
        if prop.kind.is_read_only() {
            return Err(ApiError::validation(format!(
                "{} is a {} property, which cannot be updated via the API.",
                prop.name,
                prop.kind.as_str()
            )));
        }
        let stored = check_value(&mut cx, prop, value, &format!("body.properties.{key}"))?;
        update.values.retain(|(id, _)| id != &prop.id);
        update.values.push((prop.id.clone(), stored));
    }
    let total = data_source.option_count() + update.new_options.len();
    check_schema_size(store, total, !update.new_options.is_empty())
}

/// Notion's ceiling on a schema's size, modelled as a number of options per data source
/// (`--max-schema-options`): a write that adds options (`adds`) and would leave the data source
/// with `total` options, more than the ceiling, is refused.
pub(crate) fn check_schema_size(
    store: &dyn Workspace,
    total: usize,
    adds: bool,
) -> Result<(), ApiError> {
    match store.max_schema_options() {
        Some(max) if adds && total > max => Err(ApiError::validation(SCHEMA_TOO_LARGE)),
        _ => Ok(()),
    }
}

/// Check one property value (`{"<type>": …, "type"?: …}`) for `prop` and return it in the shape a
/// page read returns.
pub(crate) fn check_value(
    cx: &mut ValueContext<'_>,
    prop: &PropSchema,
    value: &Value,
    path: &str,
) -> Result<Value, ApiError> {
    let m = object(value, path)?;
    let kind = prop.kind.as_str();
    let expected = || ApiError::validation(format!("{} is expected to be {kind}.", prop.name));
    if let Some(t) = m.get("type") {
        let t = string(t, &format!("{path}.type"))?;
        match PropType::parse(t) {
            Some(other) if other == prop.kind => {}
            Some(other) if !other.is_read_only() => return Err(expected()),
            _ => {
                return Err(ApiError::body(
                    &format!("{path}.type"),
                    &format!("`\"{kind}\"`"),
                    m.get("type"),
                ))
            }
        }
    }
    if m.keys()
        .filter_map(|k| PropType::parse(k))
        .any(|t| t != prop.kind && !t.is_read_only())
    {
        return Err(expected());
    }
    let inner = required(m, kind, path)?;
    only_keys(m, &[kind, "type"], path)?;
    let path = format!("{path}.{kind}");
    let path = path.as_str();
    Ok(match prop.kind {
        PropType::Title | PropType::RichText => {
            let items = array(inner, path)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(rich_text_item(cx.store, item, &format!("{path}[{i}]"))?);
            }
            Value::Array(out)
        }
        PropType::Number => match inner {
            Value::Null | Value::Number(_) => inner.clone(),
            _ => return Err(ApiError::body(path, "a number or `null`", Some(inner))),
        },
        PropType::Url => nullable_text(inner, path, MAX_URL)?,
        PropType::Email | PropType::PhoneNumber => nullable_text(inner, path, MAX_SHORT)?,
        PropType::Checkbox => Value::Bool(boolean(inner, path)?),
        PropType::Select | PropType::Status => match inner {
            Value::Null => Value::Null,
            _ => option_ref(cx, prop, inner, path)?,
        },
        PropType::MultiSelect => {
            let items = array(inner, path)?;
            let mut out: Vec<Value> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let option = option_ref(cx, prop, item, &format!("{path}[{i}]"))?;
                if !out.iter().any(|o| o["id"] == option["id"]) {
                    out.push(option);
                }
            }
            Value::Array(out)
        }
        PropType::Date => match inner {
            Value::Null => Value::Null,
            _ => check_date(inner, path)?,
        },
        PropType::People => {
            let items = array(inner, path)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(person(cx.store, item, &format!("{path}[{i}]"))?);
            }
            Value::Array(out)
        }
        PropType::Relation => {
            let items = array(inner, path)?;
            let mut out: Vec<Value> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                let im = object(item, &item_path)?;
                let id = uuid_at(im, "id", &item_path)?;
                if cx.store.page(&id).is_none() {
                    return Err(ApiError::body(
                        &format!("{item_path}.id"),
                        "the id of an existing page",
                        im.get("id"),
                    ));
                }
                let v = json!({ "id": id });
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Value::Array(out)
        }
        PropType::Files => {
            let items = array(inner, path)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(file_item(cx, item, &format!("{path}[{i}]"))?);
            }
            Value::Array(out)
        }
        PropType::Place => match inner {
            Value::Null => Value::Null,
            _ => {
                let pm = object(inner, path)?;
                for k in ["lat", "lon"] {
                    let v = required(pm, k, path)?;
                    if !v.is_number() {
                        return Err(ApiError::body(&format!("{path}.{k}"), "a number", Some(v)));
                    }
                }
                for k in ["name", "address", "aws_place_id", "google_place_id"] {
                    if let Some(v) = pm.get(k).filter(|v| !v.is_null() && !v.is_string()) {
                        return Err(ApiError::body(
                            &format!("{path}.{k}"),
                            "a string or `null`",
                            Some(v),
                        ));
                    }
                }
                inner.clone()
            }
        },
        PropType::Verification => check_verification(inner, path)?,
        // Refused before this point; kept total for the seed path.
        _ => {
            return Err(ApiError::validation(format!(
                "{} cannot be written.",
                prop.name
            )))
        }
    })
}

/// A select/status/multi_select option given by id or name, resolved against the schema; an
/// unknown select or multi_select name becomes a new option.
fn option_ref(
    cx: &mut ValueContext<'_>,
    prop: &PropSchema,
    v: &Value,
    path: &str,
) -> Result<Value, ApiError> {
    let m = object(v, path)?;
    only_keys(m, &["id", "name", "color", "description"], path)?;
    let id = m
        .get("id")
        .map(|x| text(x, &format!("{path}.id"), 1, MAX_SHORT))
        .transpose()?;
    let name = m
        .get("name")
        .map(|x| text(x, &format!("{path}.name"), 1, MAX_TEXT))
        .transpose()?;
    let color = match m.get("color") {
        None => None,
        Some(c) => {
            let s = string(c, &format!("{path}.color"))?;
            if !OPTION_COLORS.contains(&s) {
                return Err(ApiError::body(
                    &format!("{path}.color"),
                    &one_of(&OPTION_COLORS),
                    Some(c),
                ));
            }
            Some(s)
        }
    };
    let description = match m.get("description") {
        None | Some(Value::Null) => None,
        Some(d) => Some(text(d, &format!("{path}.description"), 1, MAX_TEXT)?.to_string()),
    };
    let pending: Vec<&SelectOption> = cx
        .new_options
        .iter()
        .filter(|(p, _)| p == &prop.id)
        .map(|(_, o)| o)
        .collect();
    let known = || prop.options.iter().chain(pending.iter().copied());
    if let Some(id) = id {
        return match known().find(|o| o.id == id) {
            Some(o) => Ok(o.to_value()),
            None => Err(ApiError::body(
                &format!("{path}.id"),
                &format!("the id of an option of `{}`", prop.name),
                m.get("id"),
            )),
        };
    }
    let Some(name) = name else {
        return Err(ApiError::body(&format!("{path}.name"), "defined", None));
    };
    if let Some(o) = known().find(|o| o.name == name) {
        return Ok(o.to_value());
    }
    if prop.kind == PropType::Status {
        let names: Vec<String> = prop
            .options
            .iter()
            .map(|o| format!("\"{}\"", o.name))
            .collect();
        return Err(ApiError::body(
            &format!("{path}.name"),
            &format!(
                "one of the options of `{}` ({})",
                prop.name,
                names.join(", ")
            ),
            m.get("name"),
        ));
    }
    let len = utf16_len(name);
    if len > MAX_OPTION_NAME {
        return Err(ApiError::length(
            &format!("{path}.name"),
            "≤",
            MAX_OPTION_NAME,
            len,
        ));
    }
    if name.contains(',') {
        return Err(ApiError::body(
            &format!("{path}.name"),
            "an option name without commas",
            m.get("name"),
        ));
    }
    let option = SelectOption {
        id: short_id(&[&cx.data_source.id, &prop.id, name], false),
        name: name.to_string(),
        color: color.unwrap_or("default").to_string(),
        description,
        group: None,
    };
    let value = option.to_value();
    cx.new_options.push((prop.id.clone(), option));
    Ok(value)
}

/// One rich text item (text, mention or equation) in response shape.
pub(crate) fn rich_text_item(
    store: &dyn Workspace,
    v: &Value,
    path: &str,
) -> Result<Value, ApiError> {
    let m = object(v, path)?;
    let kind = variant(m, path, &["text", "mention", "equation"])?;
    let annotations = annotations(m.get("annotations"), &format!("{path}.annotations"))?;
    let inner_path = format!("{path}.{kind}");
    let inner = object(required(m, kind, path)?, &inner_path)?;
    Ok(match kind {
        "text" => {
            only_keys(inner, &["content", "link"], &inner_path)?;
            let content_path = format!("{inner_path}.content");
            let content = string(required(inner, "content", &inner_path)?, &content_path)?;
            max_len(content, &content_path, MAX_TEXT)?;
            let link = match inner.get("link") {
                None | Some(Value::Null) => Value::Null,
                Some(l) => {
                    let link_path = format!("{inner_path}.link");
                    let lm = object(l, &link_path)?;
                    let url_path = format!("{link_path}.url");
                    let url = string(required(lm, "url", &link_path)?, &url_path)?;
                    max_len(url, &url_path, MAX_URL)?;
                    json!({ "url": url })
                }
            };
            let href = link.get("url").cloned().unwrap_or(Value::Null);
            json!({
                "type": "text",
                "text": {"content": content, "link": link},
                "annotations": annotations,
                "plain_text": content,
                "href": href,
            })
        }
        "equation" => {
            let expr_path = format!("{inner_path}.expression");
            let expression = string(required(inner, "expression", &inner_path)?, &expr_path)?;
            max_len(expression, &expr_path, MAX_EQUATION)?;
            json!({
                "type": "equation",
                "equation": {"expression": expression},
                "annotations": annotations,
                "plain_text": expression,
                "href": null,
            })
        }
        _ => {
            let mk = variant(
                inner,
                &inner_path,
                &[
                    "user",
                    "date",
                    "page",
                    "database",
                    "template_mention",
                    "custom_emoji",
                ],
            )?;
            let target_path = format!("{inner_path}.{mk}");
            let target = required(inner, mk, &inner_path)?;
            let (stored, plain) = match mk {
                "date" => {
                    let d = check_date(target, &target_path)?;
                    let plain = d["start"].as_str().unwrap_or_default().to_string();
                    (d, plain)
                }
                "template_mention" => (
                    object(target, &target_path).map(|t| Value::Object(t.clone()))?,
                    String::new(),
                ),
                _ => {
                    let tm = object(target, &target_path)?;
                    let id = string(
                        required(tm, "id", &target_path)?,
                        &format!("{target_path}.id"),
                    )?;
                    match mk {
                        "user" => {
                            let norm = normalize_id(id).unwrap_or_else(|| id.to_string());
                            let name = store
                                .user(&norm)
                                .map_or("Unknown user".to_string(), |u| u.name.clone());
                            (json!({"object": "user", "id": norm}), format!("@{name}"))
                        }
                        "page" | "database" => {
                            let norm = normalize_id(id).ok_or_else(|| {
                                ApiError::body(
                                    &format!("{target_path}.id"),
                                    "a valid uuid",
                                    tm.get("id"),
                                )
                            })?;
                            let plain = store
                                .page(&norm)
                                .map(|p| store.page_title(p))
                                .unwrap_or_else(|| "Untitled".into());
                            (json!({ "id": norm }), plain)
                        }
                        _ => (Value::Object(tm.clone()), String::new()),
                    }
                }
            };
            json!({
                "type": "mention",
                "mention": {"type": mk, mk: stored},
                "annotations": annotations,
                "plain_text": plain,
                "href": null,
            })
        }
    })
}

fn annotations(v: Option<&Value>, path: &str) -> Result<Value, ApiError> {
    let mut out = json!({
        "bold": false, "italic": false, "strikethrough": false,
        "underline": false, "code": false, "color": "default",
    });
    let Some(v) = v else { return Ok(out) };
    let m = object(v, path)?;
    for k in ["bold", "italic", "strikethrough", "underline", "code"] {
        if let Some(b) = m.get(k) {
            out[k] = Value::Bool(boolean(b, &format!("{path}.{k}"))?);
        }
    }
    if let Some(c) = m.get("color") {
        let s = string(c, &format!("{path}.color"))?;
        if !API_COLORS.contains(&s) {
            return Err(ApiError::body(
                &format!("{path}.color"),
                &one_of(&API_COLORS),
                Some(c),
            ));
        }
        out["color"] = c.clone();
    }
    Ok(out)
}

/// A verification write, `{"state": "verified", "date"?: {start, end?, time_zone?}}` or
/// `{"state": "unverified"}` (a date only with `verified`), stored as a read shows it: the
/// integration as `verified_by`.
fn check_verification(v: &Value, path: &str) -> Result<Value, ApiError> {
    let m = object(v, path)?;
    only_keys(m, &["state", "date"], path)?;
    let state_path = format!("{path}.state");
    let state = required(m, "state", path)?;
    let date = m.get("date").filter(|d| !d.is_null());
    match string(state, &state_path)? {
        "unverified" if date.is_some() => Err(ApiError::body(
            &format!("{path}.date"),
            "not present when state is `\"unverified\"`",
            date,
        )),
        "unverified" => Ok(json!({"state": "unverified", "verified_by": null, "date": null})),
        "verified" => {
            let date = match date {
                None => Value::Null,
                Some(d) => check_date(d, &format!("{path}.date"))?,
            };
            Ok(json!({
                "state": "verified",
                "verified_by": {"object": "user", "id": INTEGRATION_BOT_ID},
                "date": date,
            }))
        }
        _ => Err(ApiError::body(
            &state_path,
            &one_of(&["verified", "unverified"]),
            Some(state),
        )),
    }
}

/// `{start, end?, time_zone?}` with ISO 8601 dates or date-times.
fn check_date(v: &Value, path: &str) -> Result<Value, ApiError> {
    let m = object(v, path)?;
    only_keys(m, &["start", "end", "time_zone"], path)?;
    let start_path = format!("{path}.start");
    let start = string(required(m, "start", path)?, &start_path)?;
    if !is_date_or_date_time(start) {
        return Err(ApiError::body(
            &start_path,
            "an ISO 8601 date or date-time",
            m.get("start"),
        ));
    }
    let end = match m.get("end") {
        None | Some(Value::Null) => Value::Null,
        Some(e) => {
            let end_path = format!("{path}.end");
            let s = string(e, &end_path)?;
            if !is_date_or_date_time(s) {
                return Err(ApiError::body(
                    &end_path,
                    "an ISO 8601 date or date-time, or `null`",
                    Some(e),
                ));
            }
            e.clone()
        }
    };
    let time_zone = match m.get("time_zone") {
        None | Some(Value::Null) => Value::Null,
        Some(t) => Value::String(text(t, &format!("{path}.time_zone"), 1, MAX_SHORT)?.to_string()),
    };
    Ok(json!({"start": start, "end": end, "time_zone": time_zone}))
}

fn is_date_or_date_time(s: &str) -> bool {
    parse_date(s).is_some()
}

/// A user (`{id, object?: "user"}`) or group (`{id, object: "group", name?}`) reference.
fn person(store: &dyn Workspace, v: &Value, path: &str) -> Result<Value, ApiError> {
    let m = object(v, path)?;
    let id = uuid_at(m, "id", path)?;
    match m.get("object").map(|o| o.as_str()) {
        None | Some(Some("user")) => {
            if store.user(&id).is_none() {
                return Err(ApiError::body(
                    &format!("{path}.id"),
                    "the id of a user in the workspace",
                    m.get("id"),
                ));
            }
            Ok(json!({"object": "user", "id": id}))
        }
        Some(Some("group")) => {
            only_keys(m, &["id", "name", "object"], path)?;
            let name = match m.get("name") {
                None | Some(Value::Null) => Value::Null,
                Some(n) => Value::String(string(n, &format!("{path}.name"))?.to_string()),
            };
            Ok(json!({"object": "group", "id": id, "name": name}))
        }
        _ => Err(ApiError::body(
            &format!("{path}.object"),
            "`\"user\"` or `\"group\"`",
            m.get("object"),
        )),
    }
}

/// A file of a files property: external, Notion-hosted (kept), or a file upload (which must be
/// `uploaded`; it becomes the hosted file it names, by default under the upload's filename).
fn file_item(cx: &mut ValueContext<'_>, v: &Value, path: &str) -> Result<Value, ApiError> {
    let m = object(v, path)?;
    let kind = variant(m, path, &["external", "file", "file_upload"])?;
    only_keys(m, &[kind, "name", "type"], path)?;
    let inner_path = format!("{path}.{kind}");
    let inner = object(required(m, kind, path)?, &inner_path)?;
    let name = match m.get("name") {
        None if kind == "file_upload" => None,
        None => return Err(ApiError::body(&format!("{path}.name"), "defined", None)),
        Some(n) => Some(text(n, &format!("{path}.name"), 1, MAX_SHORT)?),
    };
    match kind {
        "external" => {
            only_keys(inner, &["url"], &inner_path)?;
            let url = text(
                required(inner, "url", &inner_path)?,
                &format!("{inner_path}.url"),
                1,
                MAX_URL,
            )?;
            Ok(json!({"name": name, "type": "external", "external": {"url": url}}))
        }
        "file" => {
            only_keys(inner, &["url", "expiry_time"], &inner_path)?;
            let url = string(
                required(inner, "url", &inner_path)?,
                &format!("{inner_path}.url"),
            )?;
            // Kept as the file it names: the link without the signature a read gave it (a
            // read signs it afresh, see `render`).
            let url = url.split_once('?').map_or(url, |(base, _)| base);
            Ok(json!({"name": name, "type": "file", "file": {"url": url, "expiry_time": null}}))
        }
        _ => {
            only_keys(inner, &["id"], &inner_path)?;
            let hosted = attach_upload(cx.store, inner, &inner_path, cx.uploads)?;
            Ok(json!({
                "name": name.unwrap_or(&hosted.filename),
                "type": "file",
                "file": {"url": hosted.url, "expiry_time": null},
            }))
        }
    }
}

/// A `file_upload: {id}` a body attaches: the upload must be `uploaded` (and so not expired);
/// its id joins `attached`, and the hosted file it becomes is returned.
fn attach_upload(
    store: &dyn Workspace,
    inner: &Map<String, Value>,
    inner_path: &str,
    attached: &mut Vec<String>,
) -> Result<Hosted, ApiError> {
    let id_path = format!("{inner_path}.id");
    let id = string(required(inner, "id", inner_path)?, &id_path)?;
    let hosted = store.hosted_upload(id).map_err(|why| {
        ApiError::validation(format!(
            "body failed validation: {id_path} names file upload `{id}`, which {why}."
        ))
    })?;
    attached.push(hosted.id.clone());
    Ok(hosted)
}

/// A page icon request (or null), in the shape the page then returns.
pub(crate) fn check_icon(
    store: &dyn Workspace,
    v: &Value,
    path: &str,
    attached: &mut Vec<String>,
) -> Result<Value, ApiError> {
    page_media(
        store,
        v,
        path,
        &["emoji", "external", "file_upload", "custom_emoji"],
        attached,
    )
}

/// A page cover request (or null).
pub(crate) fn check_cover(
    store: &dyn Workspace,
    v: &Value,
    path: &str,
    attached: &mut Vec<String>,
) -> Result<Value, ApiError> {
    page_media(store, v, path, &["external", "file_upload"], attached)
}

/// An icon or cover of one of `kinds`, in the shape the page then returns: a file upload
/// becomes the hosted `file` it names.
fn page_media(
    store: &dyn Workspace,
    v: &Value,
    path: &str,
    kinds: &[&'static str],
    attached: &mut Vec<String>,
) -> Result<Value, ApiError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let m = object(v, path)?;
    let kind = variant(m, path, kinds)?;
    let inner_path = format!("{path}.{kind}");
    let inner = required(m, kind, path)?;
    let stored = match kind {
        "emoji" => Value::String(text(inner, &inner_path, 1, MAX_SHORT)?.to_string()),
        "external" => {
            let im = object(inner, &inner_path)?;
            let url = text(
                required(im, "url", &inner_path)?,
                &format!("{inner_path}.url"),
                1,
                MAX_URL,
            )?;
            json!({ "url": url })
        }
        "file_upload" => {
            let im = object(inner, &inner_path)?;
            let hosted = attach_upload(store, im, &inner_path, attached)?;
            return Ok(json!({"type": "file", "file": {"url": hosted.url, "expiry_time": null}}));
        }
        _ => {
            let im = object(inner, &inner_path)?;
            string(
                required(im, "id", &inner_path)?,
                &format!("{inner_path}.id"),
            )?;
            inner.clone()
        }
    };
    Ok(json!({"type": kind, kind: stored}))
}

/// A `template` of one of `kinds` (`none` exists on create only).
fn check_template(v: &Value, path: &str, kinds: &[&str]) -> Result<(), ApiError> {
    let m = object(v, path)?;
    let type_path = format!("{path}.type");
    let t = string(required(m, "type", path)?, &type_path)?;
    if !kinds.contains(&t) {
        return Err(ApiError::body(&type_path, &one_of(kinds), m.get("type")));
    }
    if t == "template_id" {
        string(
            required(m, "template_id", path)?,
            &format!("{path}.template_id"),
        )?;
    }
    if let Some(tz) = m.get("timezone") {
        string(tz, &format!("{path}.timezone"))?;
    }
    Ok(())
}

/// Turn a seed's simple value (a string for text or an option, a list of names or ids, …) into
/// the request shape `{"<type>": …}`; request-shaped values pass through.
pub(crate) fn simple_to_request(kind: PropType, simple: &Value) -> Value {
    let key = kind.as_str();
    if simple.as_object().is_some_and(|m| m.contains_key(key)) {
        return simple.clone();
    }
    let text_item = |s: &str| json!({"type": "text", "text": {"content": s}});
    let map_strings = |v: &Value, f: &dyn Fn(&str) -> Value| match v {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.clone(), f))
                .collect(),
        ),
        Value::String(s) => Value::Array(vec![f(s)]),
        other => other.clone(),
    };
    let inner = match kind {
        PropType::Title | PropType::RichText => map_strings(simple, &text_item),
        PropType::Verification => match simple {
            Value::String(s) => json!({ "state": s }),
            other => other.clone(),
        },
        PropType::Select | PropType::Status => match simple {
            Value::String(s) => json!({ "name": s }),
            other => other.clone(),
        },
        PropType::MultiSelect => map_strings(simple, &|s| json!({ "name": s })),
        PropType::People | PropType::Relation => map_strings(simple, &|s| json!({ "id": s })),
        PropType::Files => map_strings(
            simple,
            &|url| json!({"name": file_name(url), "external": {"url": url}}),
        ),
        PropType::Date => match simple {
            Value::String(s) => json!({ "start": s }),
            other => other.clone(),
        },
        _ => simple.clone(),
    };
    json!({ key: inner })
}

/// The last non-empty path segment of a URL, else the whole URL, cut to 100 characters.
fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(url);
    name.chars().take(MAX_SHORT).collect()
}

/// A body's `in_trash`, or `archived` (its older name), which must agree when both are given.
pub(crate) fn trash_flag(m: &Map<String, Value>) -> Result<Option<bool>, ApiError> {
    let in_trash = m
        .get("in_trash")
        .map(|v| boolean(v, "body.in_trash"))
        .transpose()?;
    let archived = m
        .get("archived")
        .map(|v| boolean(v, "body.archived"))
        .transpose()?;
    match (in_trash, archived) {
        (Some(a), Some(b)) if a != b => Err(ApiError::body(
            "body.archived",
            &format!("`{a}` like body.in_trash"),
            m.get("archived"),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

// ---- shape helpers, each failing with Notion's message for `path` ----

pub(crate) fn object<'v>(v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, ApiError> {
    v.as_object()
        .ok_or_else(|| ApiError::body(path, "an object", Some(v)))
}

pub(crate) fn string<'v>(v: &'v Value, path: &str) -> Result<&'v str, ApiError> {
    v.as_str()
        .ok_or_else(|| ApiError::body(path, "a string", Some(v)))
}

pub(crate) fn boolean(v: &Value, path: &str) -> Result<bool, ApiError> {
    v.as_bool()
        .ok_or_else(|| ApiError::body(path, "a boolean", Some(v)))
}

pub(crate) fn array<'v>(v: &'v Value, path: &str) -> Result<&'v Vec<Value>, ApiError> {
    let items = v
        .as_array()
        .ok_or_else(|| ApiError::body(path, "an array", Some(v)))?;
    if items.len() > MAX_ITEMS {
        return Err(ApiError::length(path, "≤", MAX_ITEMS, items.len()));
    }
    Ok(items)
}

pub(crate) fn required<'v>(
    m: &'v Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'v Value, ApiError> {
    m.get(key)
        .ok_or_else(|| ApiError::body(&format!("{path}.{key}"), "defined", None))
}

/// The UUID at `m[key]` (dashed or not), dashed and lowercase.
fn uuid_at(m: &Map<String, Value>, key: &str, path: &str) -> Result<String, ApiError> {
    let key_path = format!("{path}.{key}");
    let raw = string(required(m, key, path)?, &key_path)?;
    normalize_id(raw).ok_or_else(|| ApiError::body(&key_path, "a valid uuid", m.get(key)))
}

pub(crate) fn only_keys(
    m: &Map<String, Value>,
    allowed: &[&str],
    path: &str,
) -> Result<(), ApiError> {
    match m.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, v)) => Err(ApiError::body(
            &format!("{path}.{k}"),
            "not present",
            Some(v),
        )),
        None => Ok(()),
    }
}

/// The variant an object takes: its `type` if given (which must be one of `kinds`), else the
/// first of `kinds` present as a key.
fn variant(
    m: &Map<String, Value>,
    path: &str,
    kinds: &[&'static str],
) -> Result<&'static str, ApiError> {
    if let Some(t) = m.get("type") {
        let s = string(t, &format!("{path}.type"))?;
        return kinds
            .iter()
            .copied()
            .find(|k| *k == s)
            .ok_or_else(|| ApiError::body(&format!("{path}.type"), &one_of(kinds), Some(t)));
    }
    kinds
        .iter()
        .copied()
        .find(|k| m.contains_key(*k))
        .ok_or_else(|| {
            let keys: Vec<String> = kinds.iter().map(|k| format!("`{k}`")).collect();
            ApiError::body(
                path,
                &format!("an object with one of {}", keys.join(", ")),
                Some(&Value::Object(m.clone())),
            )
        })
}

/// A string of `min..=max` UTF-16 code units.
pub(crate) fn text<'v>(
    v: &'v Value,
    path: &str,
    min: usize,
    max: usize,
) -> Result<&'v str, ApiError> {
    let s = string(v, path)?;
    let len = utf16_len(s);
    if len < min {
        return Err(ApiError::length(path, "≥", min, len));
    }
    if len > max {
        return Err(ApiError::length(path, "≤", max, len));
    }
    Ok(s)
}

fn nullable_text(v: &Value, path: &str, max: usize) -> Result<Value, ApiError> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(_) => Ok(Value::String(text(v, path, 1, max)?.to_string())),
        _ => Err(ApiError::body(path, "a string or `null`", Some(v))),
    }
}

fn max_len(s: &str, path: &str, max: usize) -> Result<(), ApiError> {
    let len = utf16_len(s);
    if len > max {
        return Err(ApiError::length(path, "≤", max, len));
    }
    Ok(())
}

/// Length as Notion counts it: UTF-16 code units.
pub(crate) fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

pub(crate) fn one_of(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("`\"{v}\"`")).collect();
    format!("one of {}", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_counts_surrogate_pairs_twice() {
        assert_eq!(utf16_len("abc"), 3);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("😀"), 2);
    }

    #[test]
    fn simple_values_become_request_shapes() {
        assert_eq!(
            simple_to_request(PropType::Title, &json!("Hi")),
            json!({"title": [{"type": "text", "text": {"content": "Hi"}}]})
        );
        assert_eq!(
            simple_to_request(PropType::MultiSelect, &json!(["a", {"name": "b"}])),
            json!({"multi_select": [{"name": "a"}, {"name": "b"}]})
        );
        assert_eq!(
            simple_to_request(
                PropType::Files,
                &json!(["https://x.test/a/report%20q1.pdf?x=1"])
            ),
            json!({"files": [{"name": "report%20q1.pdf", "external": {"url": "https://x.test/a/report%20q1.pdf?x=1"}}]})
        );
        assert_eq!(
            simple_to_request(PropType::Status, &json!({"status": {"name": "Done"}})),
            json!({"status": {"name": "Done"}})
        );
    }

    #[test]
    fn dates_and_date_times_are_accepted() {
        for ok in [
            "2024-02-29",
            "2024-02-29T10:00:00Z",
            "2024-02-29T10:00:00.123+02:00",
            "2024-02-29T10:00",
        ] {
            assert!(is_date_or_date_time(ok), "{ok}");
        }
        for bad in ["2023-02-29", "tomorrow", "2024-13-01", ""] {
            assert!(!is_date_or_date_time(bad), "{bad}");
        }
    }
}
