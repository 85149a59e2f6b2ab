//! Native JSONL lines: objects shaped like the official SDK's `pages.update()` argument. They
//! are sent as given, after the version rules, Notion's rules that the OpenAPI schema does not
//! express (the same ones CSV cells get: option names without commas and of at most 100
//! characters, texts of at most 2000 UTF-16 units, at most 100 items per array), the schema's
//! checks when there is one (through [`PropertyCheck`], which the mapper provides), and
//! validation against the official `patch-page` request schema.

use std::sync::{Arc, OnceLock};

use jsonschema::Validator;
use serde_json::{Map, Value};

use crate::mapping::body::{Body, Properties};
use crate::mapping::cell::option_name_problem;
use crate::mapping::text::{utf16_len, MAX_ARRAY_ITEMS, MAX_TEXT_UNITS};
use crate::mapping::Problem;
use crate::notion::{NotionId, PropertyType, Version, PATCH_PAGE_SCHEMA};

/// The keys a native line may carry.
pub const NATIVE_KEYS: [&str; 9] = [
    "page_id",
    "properties",
    "icon",
    "cover",
    "in_trash",
    "archived",
    "is_locked",
    "template",
    "erase_content",
];

/// What the data source's schema says of one property of a native line (its key, its value's
/// type, its value): the name to send it under (the schema's name, so that a property named by
/// id and by name is one field), or why it is refused. Without a schema: the key as given.
pub type PropertyCheck<'a> =
    &'a mut dyn FnMut(&str, PropertyType, &Value) -> Result<Arc<str>, String>;

/// Turns a native line into its page and body, or says everything wrong with it.
pub fn native_body(
    mut line: Map<String, Value>,
    version: Version,
    check: PropertyCheck,
) -> Result<(NotionId, Body), (Option<NotionId>, Vec<Problem>)> {
    let mut problems = Vec::new();
    let page_id = match line.remove("page_id") {
        Some(Value::String(text)) => match NotionId::parse(&text) {
            Ok(id) => Some(id),
            Err(e) => {
                problems.push(Problem::at("page_id", e.to_string()));
                None
            }
        },
        Some(other) => {
            problems.push(Problem::at(
                "page_id",
                format!("expected a string, found {other}"),
            ));
            None
        }
        None => {
            problems.push(Problem::at(
                "page_id",
                "missing: every line needs the page to update",
            ));
            None
        }
    };
    for key in line.keys() {
        if !NATIVE_KEYS.contains(&key.as_str()) {
            problems.push(Problem::at(
                key,
                format!(
                    "unknown key {key:?}: a native line takes {}",
                    NATIVE_KEYS.join(", ")
                ),
            ));
        }
    }
    let mut take_bool = |key: &str, problems: &mut Vec<Problem>| match line.remove(key) {
        None => None,
        Some(Value::Bool(b)) => Some(b),
        Some(other) => {
            problems.push(Problem::at(
                key,
                format!("expected true or false, found {other}"),
            ));
            None
        }
    };
    let in_trash = take_bool("in_trash", &mut problems);
    let archived = take_bool("archived", &mut problems);
    let is_locked = take_bool("is_locked", &mut problems);
    let erase_content = take_bool("erase_content", &mut problems);
    let in_trash = match (in_trash, archived) {
        (Some(a), Some(b)) if a != b => {
            problems.push(Problem::at(
                "archived",
                "in_trash and archived disagree; archived is an old name for in_trash: give one",
            ));
            None
        }
        (a, b) => a.or(b),
    };
    let template = line.remove("template");
    if !version.has_page_locking_and_templates() {
        for (key, present) in [
            ("is_locked", is_locked.is_some()),
            ("template", template.is_some()),
            ("erase_content", erase_content.is_some()),
        ] {
            if present {
                problems.push(Problem::at(
                    key,
                    format!(
                        "{key} needs Notion-Version 2025-09-03 or later; this run uses {version}"
                    ),
                ));
            }
        }
    }
    let properties = match line.remove("properties") {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            problems.push(Problem::at(
                "properties",
                format!("expected an object of property values, found {other}"),
            ));
            Map::new()
        }
    };
    // Sent under the key as given (an id survives a rename of the property during a long
    // run, a name does not); known by the schema's name.
    let mut given = Map::new();
    let mut seen: Vec<Arc<str>> = Vec::new();
    let mut renamed = Vec::new();
    for (key, value) in properties {
        let name = check_property(&value).and_then(|ty| check(&key, ty, &value));
        match name {
            Err(reason) => problems.push(Problem::property(&key, reason)),
            Ok(name) if seen.contains(&name) => problems.push(Problem::property(
                &key,
                format!("the line sets property {name:?} twice (by name and by id): keep one"),
            )),
            Ok(name) => {
                if *name != *key {
                    renamed.push((key.clone(), name.clone()));
                }
                seen.push(name);
                given.insert(key, value);
            }
        }
    }
    let body = Body {
        properties: Properties::Native(given, renamed),
        icon: line.remove("icon"),
        cover: line.remove("cover"),
        in_trash,
        is_locked,
        template,
        erase_content,
    };
    if problems.is_empty() {
        if let Some(problem) = schema_problem(&body.to_value()) {
            problems.push(problem);
        }
    }
    match (page_id, problems.is_empty()) {
        (Some(id), true) => Ok((id, body)),
        (id, _) => Err((id, problems)),
    }
}

/// One property value: a known writable type, and Notion's rules the official schema does not
/// express: texts within the UTF-16 limit, option names without commas and of at most 100
/// characters, at most 100 items in an array. Gives the value's type.
fn check_property(value: &Value) -> Result<PropertyType, String> {
    let Value::Object(map) = value else {
        return Err(format!(
            "expected an object like {{\"select\": {{\"name\": \"…\"}}}}, found {value}"
        ));
    };
    let type_key = map
        .keys()
        .find(|k| k.as_str() != "type" && k.as_str() != "id")
        .map(String::as_str)
        .unwrap_or_default();
    let ty: Option<PropertyType> = type_key
        .parse()
        .ok()
        .filter(|t: &PropertyType| t.as_str() == type_key);
    let ty = match ty {
        Some(t) if t.is_read_only() => return Err(crate::mapping::cell::read_only_reason(t)),
        Some(t) => t,
        None => {
            return Err(format!(
                "{type_key:?} is not a writable property type; a value looks like {{\"<type>\": …}} with type one of title, rich_text, number, select, status, multi_select, date, checkbox, url, email, phone_number, people, relation, files, verification"
            ))
        }
    };
    if ty == PropertyType::Verification {
        verification_problem(&map[type_key]).map_err(|e| format!("verification: {e}"))?;
    }
    match map.get(type_key) {
        Some(Value::Array(items)) => {
            if items.len() > MAX_ARRAY_ITEMS {
                return Err(format!(
                    "{type_key} has {} items; Notion takes at most {MAX_ARRAY_ITEMS} in one property",
                    items.len()
                ));
            }
            for (i, item) in items.iter().enumerate() {
                if let Some(Value::String(content)) = item.pointer("/text/content") {
                    let units = utf16_len(content);
                    if units > MAX_TEXT_UNITS {
                        return Err(format!(
                            "{type_key}[{i}].text.content is {units} UTF-16 units long; Notion takes at most {MAX_TEXT_UNITS} per item"
                        ));
                    }
                }
                if ty == PropertyType::MultiSelect {
                    if let Some(problem) = option_name_of(item) {
                        return Err(format!("{type_key}[{i}]: {problem}"));
                    }
                }
            }
        }
        Some(option) if matches!(ty, PropertyType::Select | PropertyType::Status) => {
            if let Some(problem) = option_name_of(option) {
                return Err(format!("{type_key}: {problem}"));
            }
        }
        _ => {}
    }
    Ok(ty)
}

/// Notion's rules for a verification value, which the bundled schema (from before 2026-03-25)
/// does not know: `{"state": "verified", "date"?: {start, end?, time_zone?}}` or
/// `{"state": "unverified"}`.
fn verification_problem(value: &Value) -> Result<(), String> {
    let Value::Object(m) = value else {
        return Err(format!(
            "expected {{\"state\": \"verified\"}} or {{\"state\": \"unverified\"}}, found {value}"
        ));
    };
    if let Some(key) = m.keys().find(|k| !matches!(k.as_str(), "state" | "date")) {
        return Err(format!(
            "unknown key {key:?}: a verification takes state and date"
        ));
    }
    let date = m.get("date").filter(|d| !d.is_null());
    match (m.get("state").and_then(Value::as_str), date) {
        (Some("unverified"), Some(_)) => {
            Err("a date goes with state \"verified\" only: an unverified page has no date".into())
        }
        (Some("unverified"), None) | (Some("verified"), None) => Ok(()),
        (Some("verified"), Some(d)) => match d.get("start") {
            Some(Value::String(start)) if !start.is_empty() => {
                for key in ["end", "time_zone"] {
                    if d.get(key).is_some_and(|v| !v.is_null() && !v.is_string()) {
                        return Err(format!("date.{key} should be a string or null"));
                    }
                }
                Ok(())
            }
            _ => Err(format!(
                "date should be {{\"start\": \"2026-12-01\", …}}, found {d}"
            )),
        },
        _ => Err(format!(
            "state should be \"verified\" or \"unverified\", found {}",
            m.get("state")
                .map_or("nothing".to_owned(), Value::to_string)
        )),
    }
}

/// The option names a native value gives (`{"name": …}`; by id, or none, gives none).
pub fn option_names(ty: PropertyType, value: &Value) -> Vec<&str> {
    let Some(inner) = value.get(ty.as_str()) else {
        return Vec::new();
    };
    match inner {
        Value::Array(items) => items.iter().filter_map(option_name).collect(),
        single => option_name(single).into_iter().collect(),
    }
}

fn option_name(option: &Value) -> Option<&str> {
    option.get("name").and_then(Value::as_str)
}

fn option_name_of(option: &Value) -> Option<String> {
    option_name(option).and_then(option_name_problem)
}

/// The first way `body` breaks the official schema, named by its path in Notion's style.
pub fn schema_problem(body: &Value) -> Option<Problem> {
    // Verification values are newer than the bundled schema: checked by
    // `verification_problem`, left out here.
    let is_verification = |v: &Value| v.get("verification").is_some();
    let without;
    let body = match body["properties"].as_object() {
        Some(properties) if properties.values().any(is_verification) => {
            let mut copy = body.clone();
            if let Some(p) = copy["properties"].as_object_mut() {
                p.retain(|_, v| !is_verification(v));
            }
            without = copy;
            &without
        }
        _ => body,
    };
    let validator = patch_page_validator();
    let error = validator.iter_errors(body).next()?;
    let path = error.instance_path().to_string();
    let mut segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("~1", "/").replace("~0", "~"));
    let top = segments.next();
    let is_property = top.as_deref() == Some("properties");
    let column = match top.as_deref() {
        Some("properties") => segments.next(),
        other => other.map(str::to_owned),
    };
    let location = if path.is_empty() {
        "body".to_owned()
    } else {
        format!("body{}", path.replace('/', "."))
    };
    Some(Problem {
        is_property: is_property && column.is_some(),
        column,
        reason: format!("{location} does not match Notion's schema: {error}"),
        code: None,
    })
}

/// The compiled `patch-page` request schema (formats not asserted: its date fields say `date`
/// but Notion takes date-times).
pub fn patch_page_validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value =
            serde_json::from_str(PATCH_PAGE_SCHEMA).expect("the bundled schema is JSON");
        jsonschema::options()
            .should_validate_formats(false)
            .build(&schema)
            .expect("the bundled schema compiles")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PAGE: &str = "8d116ece-1738-47d9-bd9c-172411e20b8f";

    fn native(line: Value, version: Version) -> Result<Value, Vec<Problem>> {
        let Value::Object(map) = line else { panic!() };
        native_body(map, version, &mut |key, _, _| Ok(Arc::from(key)))
            .map(|(_, body)| body.to_value())
            .map_err(|(_, problems)| problems)
    }

    #[test]
    fn a_valid_line_is_sent_as_given_with_archived_renamed() {
        let line = json!({
            "page_id": PAGE,
            "properties": {"Status": {"status": {"name": "Done"}}, "Notes": {"rich_text": [{"text": {"content": "hi"}, "annotations": {"bold": true}}]}},
            "icon": {"emoji": "✅"},
            "archived": false
        });
        let body = native(line, Version::V2025_09_03).unwrap();
        assert_eq!(
            body,
            json!({
                "properties": {"Status": {"status": {"name": "Done"}}, "Notes": {"rich_text": [{"text": {"content": "hi"}, "annotations": {"bold": true}}]}},
                "icon": {"emoji": "✅"},
                "in_trash": false
            })
        );
    }

    #[test]
    fn unknown_keys_read_only_types_and_bad_shapes_are_named() {
        let problems = native(
            json!({"page_id": PAGE, "colour": "red"}),
            Version::V2025_09_03,
        )
        .unwrap_err();
        assert_eq!(problems[0].column.as_deref(), Some("colour"));
        assert!(problems[0].reason.contains("unknown key"), "{problems:?}");

        let problems = native(
            json!({"page_id": PAGE, "properties": {"Score": {"formula": {"number": 1}}}}),
            Version::V2025_09_03,
        )
        .unwrap_err();
        assert!(problems[0].reason.contains("read-only"), "{problems:?}");

        let problems = native(
            json!({"page_id": PAGE, "properties": {"Status": {"status": {"nam": "Done"}}}}),
            Version::V2025_09_03,
        )
        .unwrap_err();
        assert_eq!(problems[0].column.as_deref(), Some("Status"));
        assert!(
            problems[0].reason.contains("body.properties.Status"),
            "{problems:?}"
        );

        let problems = native(json!({"page_id": "nope"}), Version::V2025_09_03).unwrap_err();
        assert!(
            problems[0].reason.contains("not a Notion page id"),
            "{problems:?}"
        );
    }

    #[test]
    fn text_limits_count_utf16_units() {
        let ok = "😀".repeat(1000);
        let too_long = "😀".repeat(1001); // 1001 code points pass JSON Schema, 2002 units do not.
        assert!(native(json!({"page_id": PAGE, "properties": {"Name": {"title": [{"text": {"content": ok}}]}}}), Version::V2025_09_03).is_ok());
        let problems = native(json!({"page_id": PAGE, "properties": {"Name": {"title": [{"text": {"content": too_long}}]}}}), Version::V2025_09_03).unwrap_err();
        assert!(
            problems[0].reason.contains("2002 UTF-16 units"),
            "{problems:?}"
        );
    }

    #[test]
    fn version_rules() {
        for key in ["is_locked", "erase_content"] {
            let problems =
                native(json!({"page_id": PAGE, key: true}), Version::V2022_06_28).unwrap_err();
            assert!(
                problems[0].reason.contains("2025-09-03 or later"),
                "{problems:?}"
            );
            assert!(native(json!({"page_id": PAGE, key: true}), Version::V2025_09_03).is_ok());
        }
        let problems = native(
            json!({"page_id": PAGE, "template": {"type": "default"}}),
            Version::V2022_06_28,
        )
        .unwrap_err();
        assert_eq!(problems[0].column.as_deref(), Some("template"));
        let problems = native(
            json!({"page_id": PAGE, "in_trash": true, "archived": false}),
            Version::V2026_03_11,
        )
        .unwrap_err();
        assert!(problems[0].reason.contains("disagree"), "{problems:?}");
    }
}
