//! Notion filter objects from `--where` (SPEC §9's export, §11's filter-selected edits): a
//! filter object written inline as JSON or read from `@file.json`, or `NAME = VALUE` for the
//! common equality, typed by the schema; several clauses are joined with `and`. Notion itself
//! judges the filter: one it refuses comes back as a 400, which the scan turns into exit 2.

use serde_json::{json, Value};

use crate::mapping::cell::{parse_bool, parse_number};
use crate::notion::schema::{Schema, SchemaType};
use crate::notion::PropertyType;

/// One `--where` as written: text from the command line, or a filter object from a job file.
#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    Text(String),
    Json(Value),
}

/// The filter the clauses make together: one alone as it is, several joined with `and` (an
/// `and` among them is spliced in, so that joining adds no level of nesting).
pub fn parse(clauses: &[Clause], schema: &Schema) -> Result<Value, String> {
    let mut parts = Vec::with_capacity(clauses.len());
    for clause in clauses {
        parts.push(match clause {
            Clause::Text(text) => parse_text(text, schema)?,
            Clause::Json(value) => value.clone(),
        });
    }
    if parts.len() == 1 {
        return Ok(parts.pop().expect("one part"));
    }
    if parts.is_empty() {
        return Err("no filter: write --where 'NAME = VALUE' or a Notion filter object".into());
    }
    let mut joined = Vec::new();
    for part in parts {
        match part {
            Value::Object(map) if map.len() == 1 && map.get("and").is_some_and(Value::is_array) => {
                if let Some(Value::Array(items)) = map.into_iter().next().map(|(_, v)| v) {
                    joined.extend(items);
                }
            }
            other => joined.push(other),
        }
    }
    Ok(json!({ "and": joined }))
}

/// One clause of text: a filter object (inline JSON or `@file.json`), or `NAME = VALUE` typed
/// by the schema.
fn parse_text(text: &str, schema: &Schema) -> Result<Value, String> {
    let text = text.trim();
    if let Some(path) = text.strip_prefix('@') {
        let body = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        return serde_json::from_str(&body).map_err(|e| format!("{path} is not JSON: {e}"));
    }
    if text.starts_with('{') {
        return serde_json::from_str(text).map_err(|e| format!("not a JSON filter: {e}"));
    }
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!(
            "{text:?} is neither a JSON filter nor NAME = VALUE (e.g. --where 'Status = Done')"
        ));
    };
    let (name, value) = (name.trim(), value.trim());
    let names = || schema.properties.iter().map(|p| p.name.as_str());
    let property = schema.property(name).ok_or_else(|| {
        let hint = crate::spelling::closest(name, names())
            .map(|n| format!(" Did you mean {}?", crate::spelling::mention(name, n)))
            .unwrap_or_default();
        format!("the data source has no property {name:?}.{hint}")
    })?;
    let SchemaType::Known(ty) = property.ty else {
        return Err(format!("{name:?} cannot be filtered on"));
    };
    if ty == PropertyType::Status && !property.options.iter().any(|o| o == value) {
        let hint = crate::spelling::closest(value, property.options.iter().map(String::as_str))
            .map(|n| format!(" Did you mean {}?", crate::spelling::mention(value, n)))
            .unwrap_or_default();
        return Err(format!(
            "status {:?} has no option {value:?}.{hint} Its options are: {}",
            property.name,
            property.options.join(", ")
        ));
    }
    let condition = match ty {
        PropertyType::Number => json!({"equals": parse_number(value)?}),
        PropertyType::Checkbox => json!({"equals": parse_bool(value)?}),
        // Notion filters a unique id by its number; the prefix is not filterable.
        PropertyType::UniqueId => {
            let digits = value.rsplit('-').next().unwrap_or(value);
            json!({"equals": parse_number(digits)?})
        }
        PropertyType::MultiSelect | PropertyType::People | PropertyType::Relation => {
            json!({"contains": value})
        }
        _ => json!({ "equals": value }),
    };
    Ok(json!({"property": property.name, ty.as_str(): condition}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        serde_json::from_value(json!({
            "format": 1, "data_source_id": "ds", "title": "Tasks",
            "properties": [
                {"id": "title", "name": "Name", "type": "title"},
                {"id": "s", "name": "Status", "type": "status", "options": ["Not started", "Done"]},
                {"id": "t", "name": "Tags", "type": "multi_select"},
                {"id": "e", "name": "Estimate", "type": "number"},
                {"id": "i", "name": "Task ID", "type": "unique_id"},
            ]
        }))
        .unwrap()
    }

    fn text(t: &str) -> Clause {
        Clause::Text(t.into())
    }

    #[test]
    fn equalities_are_typed_by_the_schema_and_joined_with_and() {
        let s = schema();
        assert_eq!(
            parse(&[text("Status = Done")], &s).unwrap(),
            json!({"property": "Status", "status": {"equals": "Done"}})
        );
        assert_eq!(
            parse(
                &[
                    text("Estimate = 12.50"),
                    text("Tags = urgent"),
                    text("Task ID = TASK-42")
                ],
                &s
            )
            .unwrap(),
            json!({"and": [
                {"property": "Estimate", "number": {"equals": 12.5}},
                {"property": "Tags", "multi_select": {"contains": "urgent"}},
                {"property": "Task ID", "unique_id": {"equals": 42}},
            ]})
        );
        // An `and` among the clauses is spliced in: no extra level of nesting.
        let and = Clause::Json(json!({"and": [{"property": "Name", "title": {"is_empty": true}}]}));
        assert_eq!(
            parse(&[and, text("Status = Done")], &s).unwrap()["and"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn unknown_names_and_options_say_what_exists() {
        let s = schema();
        let err = parse(&[text("Staus = Done")], &s).unwrap_err();
        assert!(err.contains("Did you mean \"Status\"?"), "{err}");
        let err = parse(&[text("Status = Dnoe")], &s).unwrap_err();
        assert!(err.contains("Did you mean \"Done\"?"), "{err}");
        let err = parse(&[text("Status")], &s).unwrap_err();
        assert!(err.contains("NAME = VALUE"), "{err}");
        let err = parse(&[text("{nope")], &s).unwrap_err();
        assert!(err.contains("not a JSON filter"), "{err}");
    }
}
