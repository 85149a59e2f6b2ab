//! A page as Notion reads it (`GET /v1/pages/{id}`, a query's results) turned into the shape a
//! request takes: which properties a read may have cut at 25 items, and putting the complete
//! lists back; a property found by name or id; a property's value, a rich-text item and a
//! page-level field in request shape; the text of plain rich text. Pure JSON: the reads
//! themselves are the scan's and the workers'. Used by the scan (`current`, completing
//! truncated lists), `export` (native lines) and `--backup` (before-images).

use serde_json::{json, Map, Value};

/// Types whose values a page read cuts at 25 items.
const TRUNCATED: [&str; 4] = ["title", "rich_text", "people", "relation"];
const PAGE_READ_LIMIT: usize = 25;

/// The properties of `page` whose arrays a page read may have cut (25 items): (name, id).
pub fn truncated_properties(page: &Value) -> Vec<(String, String)> {
    let Some(properties) = page["properties"].as_object() else {
        return vec![];
    };
    properties
        .iter()
        .filter(|(_, p)| {
            let ty = p["type"].as_str().unwrap_or_default();
            TRUNCATED.contains(&ty)
                && (p["has_more"].as_bool() == Some(true)
                    || p[ty].as_array().is_some_and(|a| a.len() >= PAGE_READ_LIMIT))
        })
        .filter_map(|(name, p)| Some((name.clone(), p["id"].as_str()?.to_owned())))
        .collect()
}

/// Puts the complete list of a property's items (from the property-item endpoint's pages of
/// `results`) into the page object, in the page read's shape.
pub fn complete(page: &mut Value, name: &str, results: Vec<Value>) {
    let Some(property) = page["properties"].get_mut(name) else {
        return;
    };
    let ty = property["type"].as_str().unwrap_or_default().to_owned();
    let items: Vec<Value> = results
        .into_iter()
        .map(|r| r[ty.as_str()].clone())
        .collect();
    property[ty.as_str()] = Value::Array(items);
    if let Some(map) = property.as_object_mut() {
        map.remove("has_more");
    }
}

/// A property of a page read by the key a row names it with: its name, else its id (as
/// Notion shows it or percent-decoded); with the name the page read gives it.
pub fn find_property<'a>(
    properties: &'a Map<String, Value>,
    key: &str,
) -> Option<(String, &'a Value)> {
    properties
        .get_key_value(key)
        .map(|(k, v)| (k.clone(), v))
        .or_else(|| {
            let decoded = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
            properties
                .iter()
                .find(|(_, v)| {
                    v["id"].as_str().is_some_and(|id| {
                        id == key
                            || percent_encoding::percent_decode_str(id).decode_utf8_lossy()
                                == decoded
                    })
                })
                .map(|(k, v)| (k.clone(), v))
        })
}

/// A page read's property value in the shape a PATCH takes.
pub fn request_value(property: &Value) -> Result<Value, String> {
    let ty = property["type"]
        .as_str()
        .ok_or("no type in the page read")?;
    let value = &property[ty];
    let shaped = match ty {
        "title" | "rich_text" => Value::Array(
            value
                .as_array()
                .map(|items| items.iter().map(rich_text_item).collect())
                .unwrap_or_default(),
        ),
        "number" | "checkbox" | "url" | "email" | "phone_number" => value.clone(),
        "select" | "status" => match value {
            Value::Null => Value::Null,
            v => json!({"name": v["name"]}),
        },
        "multi_select" => Value::Array(
            value
                .as_array()
                .map(|a| a.iter().map(|o| json!({"name": o["name"]})).collect())
                .unwrap_or_default(),
        ),
        "date" => match value {
            Value::Null => Value::Null,
            v => {
                let mut d = json!({"start": v["start"], "end": v["end"]});
                if !v["time_zone"].is_null() {
                    d["time_zone"] = v["time_zone"].clone();
                }
                d
            }
        },
        "people" | "relation" => Value::Array(
            value
                .as_array()
                .map(|a| a.iter().map(|o| json!({"id": o["id"]})).collect())
                .unwrap_or_default(),
        ),
        "files" => Value::Array(
            value
                .as_array()
                .map(|a| a.iter().map(file_item).collect::<Result<_, _>>())
                .transpose()?
                .unwrap_or_default(),
        ),
        "verification" => verification_request(value),
        other => {
            return Err(format!(
                "{other} values cannot be written back, so they cannot be backed up"
            ))
        }
    };
    Ok(json!({ ty: shaped }))
}

/// A verification as a page read shows it (`{state, verified_by, date}`, `null` on pages that
/// never had one) in the shape a request takes: `{"state": "verified", "date"?: …}` or
/// `{"state": "unverified"}`. Notion shows a verification whose date range has ended as
/// `expired`; written back, it is the same verification, so it is sent as `verified`.
pub fn verification_request(value: &Value) -> Value {
    match value["state"].as_str() {
        Some("verified") | Some("expired") => {
            let mut out = json!({"state": "verified"});
            let date = &value["date"];
            if !date.is_null() {
                let mut d = json!({"start": date["start"], "end": date["end"]});
                if !date["time_zone"].is_null() {
                    d["time_zone"] = date["time_zone"].clone();
                }
                out["date"] = d;
            }
            out
        }
        _ => json!({"state": "unverified"}),
    }
}

/// A rich-text item of a page read in the shape a request takes: no `plain_text` or `href`,
/// no `link: null`, no default annotations.
pub fn rich_text_item(item: &Value) -> Value {
    let ty = item["type"].as_str().unwrap_or("text");
    let mut out = Map::new();
    out.insert("type".into(), json!(ty));
    let mut inner = item[ty].clone();
    if ty == "text" && inner["link"].is_null() {
        if let Some(map) = inner.as_object_mut() {
            map.remove("link");
        }
    }
    out.insert(ty.into(), inner);
    if let Some(annotations) = item
        .get("annotations")
        .filter(|a| !is_default_annotations(a))
    {
        out.insert("annotations".into(), annotations.clone());
    }
    Value::Object(out)
}

fn is_default_annotations(a: &Value) -> bool {
    ["bold", "italic", "strikethrough", "underline", "code"]
        .iter()
        .all(|k| a[*k].as_bool() != Some(true))
        && a["color"].as_str().is_none_or(|c| c == "default")
}

fn file_item(file: &Value) -> Result<Value, String> {
    match file["type"].as_str() {
        Some("external") => Ok(json!({"name": file["name"], "external": {"url": file["external"]["url"]}})),
        _ => Err(format!(
            "{:?} is a file hosted by Notion; its link expires, so it cannot be backed up and restored: \
             leave this column out or run without --backup",
            file["name"].as_str().unwrap_or("a file")
        )),
    }
}

/// A page-level field of a page read (`icon`, `cover`, `in_trash`, `is_locked`) in the shape a
/// request takes; a Notion-hosted image has none.
pub fn page_level(page: &Value, key: &str) -> Result<Value, String> {
    let value = page.get(key).cloned().unwrap_or(Value::Null);
    match key {
        "icon" | "cover" => match value["type"].as_str() {
            None => Ok(Value::Null),
            Some("file") => {
                Err("a Notion-hosted image: its link expires, so it cannot be backed up".into())
            }
            Some(ty) => Ok(json!({"type": ty, ty: value[ty]})),
        },
        _ => Ok(value),
    }
}

/// The text of plain rich-text items (no links, mentions or styling), else `None`.
pub fn plain_text(items: &Value) -> Option<String> {
    let mut text = String::new();
    for item in items.as_array()? {
        if item
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "text")
            || !item["text"]["link"].is_null()
            || item
                .get("annotations")
                .is_some_and(|a| !is_default_annotations(a))
        {
            return None;
        }
        text.push_str(item["text"]["content"].as_str()?);
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NotionId;

    /// A page read with a title, a status, a number, a hosted file and a relation cut short
    /// (`testdata/page.json`; the tool's backup tests read it too).
    fn page() -> Value {
        serde_json::from_str(include_str!("../testdata/page.json")).unwrap()
    }

    #[test]
    fn request_shapes_drop_read_only_decoration() {
        let p = page();
        assert_eq!(
            request_value(&p["properties"]["Name"]).unwrap(),
            json!({"title": [{"type": "text", "text": {"content": "Ship"}}]})
        );
        assert_eq!(
            request_value(&p["properties"]["Status"]).unwrap(),
            json!({"status": {"name": "In progress"}})
        );
        let err = request_value(&p["properties"]["Files"]).unwrap_err();
        assert!(err.contains("hosted by Notion"), "{err}");
        assert_eq!(
            truncated_properties(&p),
            vec![("Blocked by".to_owned(), "r".to_owned())]
        );
    }

    #[test]
    fn completing_a_truncated_relation() {
        let mut p = page();
        let results: Vec<Value> = (0..30u128).map(|i| json!({"object": "property_item", "type": "relation", "relation": {"id": NotionId::from_u128(i).to_string()}})).collect();
        complete(&mut p, "Blocked by", results);
        let value = request_value(&p["properties"]["Blocked by"]).unwrap();
        assert_eq!(value["relation"].as_array().unwrap().len(), 30);
    }
}
