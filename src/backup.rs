//! `--backup`: before a row is sent, the page's current values of the fields it changes are
//! appended to a native JSONL file and made durable, once per (page, field) across every run
//! sharing the file, so that `apply BACKUP` puts them back. Values are request-shaped: no
//! `plain_text`, no `href`, complete past the 25 items a page read returns.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::mapping::{Body, Properties};
use crate::notion::NotionId;
use crate::stop::WriteFailure;

/// Types whose values a page read cuts at 25 items.
const TRUNCATED: [&str; 4] = ["title", "rich_text", "people", "relation"];
const PAGE_READ_LIMIT: usize = 25;

/// A page-level field or a property, as the backup names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// By the property's name (as the page read gives it).
    Property(String),
    Icon,
    Cover,
    InTrash,
    IsLocked,
}

/// The backup file and what it already holds.
pub struct Backup {
    path: PathBuf,
    file: Mutex<File>,
    held: Mutex<HashSet<(NotionId, Field)>>,
    /// The first write that failed: no row is sent without its backup after it.
    failed: Mutex<Option<WriteFailure>>,
}

/// Why a row's current values were not saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    /// This row's values cannot be saved (the page lacks a property, a value has no request
    /// form).
    #[error("{0}")]
    Row(String),
    /// The file could not be written (a full disk): the run stops taking rows.
    #[error("{0}")]
    Write(WriteFailure),
}

/// What the backup decided for one row.
#[derive(Debug, PartialEq)]
pub enum Prepared {
    /// Every field already has the row's value: nothing to send.
    Unchanged,
    /// Saved (or already held): send the row.
    Send,
}

impl Backup {
    /// Opens (or creates) the backup, reading what earlier runs saved. A last line cut short
    /// (a run killed while writing it) is dropped: its row was never sent, since a row is sent
    /// only once its line is durable.
    pub fn open(path: &Path) -> io::Result<Backup> {
        let mut held = HashSet::new();
        if path.exists() {
            crate::outcome::drop_partial_last_line(path)?;
            for (n, line) in crate::outcome::whole_lines(path)?.lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let value: Value = serde_json::from_str(&line).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} line {}: not a backup line: {e}", path.display(), n + 1),
                    )
                })?;
                let Some(page) = value["page_id"]
                    .as_str()
                    .and_then(|p| NotionId::parse(p).ok())
                else {
                    continue;
                };
                for field in fields_of_line(&value) {
                    held.insert((page, field));
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Backup {
            path: path.to_owned(),
            file: Mutex::new(file),
            held: Mutex::new(held),
            failed: Mutex::new(None),
        })
    }

    /// Given the page as read now (`page`: the page object, its truncated arrays completed by
    /// `complete`), saves the current values of the fields `body` changes that the backup
    /// lacks, durably, and says whether the row changes anything at all.
    pub fn prepare(
        &self,
        page_id: NotionId,
        page: &Value,
        body: &Body,
    ) -> Result<Prepared, BackupError> {
        let properties = page["properties"].as_object().cloned().unwrap_or_default();
        let mut changed = false;
        let mut line = Map::new();
        line.insert("page_id".into(), json!(page_id.to_string()));
        let mut saved_properties = Map::new();
        let mut new_fields = Vec::new();
        let held = self.held.lock().expect("backup lock").clone();
        let written: Vec<(String, Value)> = match &body.properties {
            Properties::Typed(values) => values
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        serde_json::to_value(v).expect("a value serialises"),
                    )
                })
                .collect(),
            Properties::Native(map, _) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        for (key, new_value) in written {
            let Some((name, current)) = find_property(&properties, &key) else {
                return Err(BackupError::Row(format!(
                    "the page has no property {key:?} to back up"
                )));
            };
            let current = request_value(current)
                .map_err(|e| BackupError::Row(format!("property {name:?}: {e}")))?;
            if same(&current, &new_value) {
                continue;
            }
            changed = true;
            let field = Field::Property(name.clone());
            if !held.contains(&(page_id, field.clone())) {
                saved_properties.insert(name.clone(), current);
                new_fields.push(field);
            }
        }
        for (field, key, wanted) in [
            (Field::Icon, "icon", body.icon.clone()),
            (Field::Cover, "cover", body.cover.clone()),
            (Field::InTrash, "in_trash", body.in_trash.map(Value::Bool)),
            (
                Field::IsLocked,
                "is_locked",
                body.is_locked.map(Value::Bool),
            ),
        ] {
            let Some(wanted) = wanted else { continue };
            let current =
                page_level(page, key).map_err(|e| BackupError::Row(format!("{key}: {e}")))?;
            if same(&current, &wanted) {
                continue;
            }
            changed = true;
            if !held.contains(&(page_id, field.clone())) {
                line.insert(key.into(), current);
                new_fields.push(field);
            }
        }
        if body.template.is_some() || body.erase_content.is_some() {
            changed = true;
        }
        if !changed {
            return Ok(Prepared::Unchanged);
        }
        if new_fields.is_empty() {
            return Ok(Prepared::Send);
        }
        if !saved_properties.is_empty() {
            line.insert("properties".into(), Value::Object(saved_properties));
        }
        let mut text = serde_json::to_vec(&Value::Object(line)).expect("JSON");
        text.push(b'\n');
        self.append(&text).map_err(BackupError::Write)?;
        let mut held = self.held.lock().expect("backup lock");
        for field in new_fields {
            held.insert((page_id, field));
        }
        Ok(Prepared::Send)
    }

    /// Appends one line and makes it durable. A write that fails is taken back to the last
    /// whole line (so that the next run can read the file), and every later one fails with it.
    fn append(&self, line: &[u8]) -> Result<(), WriteFailure> {
        let mut failed = self.failed.lock().expect("backup lock");
        if let Some(failure) = failed.as_ref() {
            return Err(failure.clone());
        }
        let mut file = self.file.lock().expect("backup lock");
        let written = file.metadata().and_then(|m| {
            let whole = m.len();
            file.write_all(line)
                .and_then(|()| file.sync_data())
                .inspect_err(|_| {
                    let _ = file.set_len(whole);
                })
        });
        written.map_err(|e| {
            let failure = WriteFailure::new("the backup", &self.path, &e);
            *failed = Some(failure.clone());
            failure
        })
    }
}

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

fn find_property<'a>(properties: &'a Map<String, Value>, key: &str) -> Option<(String, &'a Value)> {
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
        other => {
            return Err(format!(
                "{other} values cannot be written back, so they cannot be backed up"
            ))
        }
    };
    Ok(json!({ ty: shaped }))
}

pub(crate) fn rich_text_item(item: &Value) -> Value {
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

fn page_level(page: &Value, key: &str) -> Result<Value, String> {
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

/// Whether two request-shaped values mean the same thing (text compared as plain text when both
/// are plain, numbers as numbers, ids whatever their dashes).
fn same(a: &Value, b: &Value) -> bool {
    normal(a) == normal(b)
}

fn normal(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            // Property values: {"<type>": value} with an optional "type".
            let mut map = map.clone();
            map.remove("type");
            if map.len() == 1 {
                let (ty, inner) = map
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .expect("one entry");
                if ty == "title" || ty == "rich_text" {
                    if let Some(text) = plain_text(&inner) {
                        return json!({ ty: text });
                    }
                }
                if ty == "id" {
                    if let Some(id) = inner.as_str().and_then(|s| NotionId::parse(s).ok()) {
                        return json!({"id": id.to_string()});
                    }
                }
                if ty == "number" {
                    if let Some(n) = inner.as_f64() {
                        return json!({"number": n});
                    }
                }
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, normal(&v)))
                    .filter(|(k, v)| !((k == "end" || k == "link") && v.is_null()))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(normal).collect()),
        other => other.clone(),
    }
}

/// The text of plain rich-text items (no links, mentions or styling), else `None`.
pub(crate) fn plain_text(items: &Value) -> Option<String> {
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

fn fields_of_line(line: &Value) -> Vec<Field> {
    let mut fields: Vec<Field> = line["properties"]
        .as_object()
        .map(|m| m.keys().map(|k| Field::Property(k.clone())).collect())
        .unwrap_or_default();
    for (key, field) in [
        ("icon", Field::Icon),
        ("cover", Field::Cover),
        ("in_trash", Field::InTrash),
        ("is_locked", Field::IsLocked),
    ] {
        if line.get(key).is_some() {
            fields.push(field);
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::PropertyValue;
    use std::sync::Arc;

    fn page() -> Value {
        json!({
            "object": "page",
            "icon": {"type": "emoji", "emoji": "🚀"},
            "cover": null,
            "in_trash": false,
            "properties": {
                "Name": {"id": "title", "type": "title", "title": [{"type": "text", "text": {"content": "Ship", "link": null}, "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": "Ship", "href": null}]},
                "Status": {"id": "a%3Fb", "type": "status", "status": {"id": "s1", "name": "In progress", "color": "blue"}},
                "Estimate": {"id": "e", "type": "number", "number": 3},
                "Files": {"id": "f", "type": "files", "files": [{"name": "x", "type": "file", "file": {"url": "https://s3/x?sig", "expiry_time": "..."}}]},
                "Blocked by": {"id": "r", "type": "relation", "relation": [{"id": "8d116ece-1738-47d9-bd9c-172411e20b8f"}], "has_more": true}
            }
        })
    }

    fn body(values: Vec<(&str, PropertyValue)>) -> Body {
        Body {
            properties: Properties::Typed(
                values.into_iter().map(|(k, v)| (Arc::from(k), v)).collect(),
            ),
            ..Body::default()
        }
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
    fn saves_each_field_once_and_skips_rows_that_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup.jsonl");
        let backup = Backup::open(&path).unwrap();
        let page_id = NotionId::from_u128(7);
        // The same values: nothing to send, nothing saved.
        let same_body = body(vec![
            ("Name", PropertyValue::Title(vec!["Ship".into()])),
            ("a%3Fb", PropertyValue::Status(Some("In progress".into()))),
            ("Estimate", PropertyValue::Number(Some(3.into()))),
        ]);
        assert_eq!(
            backup.prepare(page_id, &page(), &same_body).unwrap(),
            Prepared::Unchanged
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        // A change: the old value is saved, by the property's name.
        let change = body(vec![
            ("a%3Fb", PropertyValue::Status(Some("Done".into()))),
            ("Estimate", PropertyValue::Number(Some(3.into()))),
        ]);
        assert_eq!(
            backup.prepare(page_id, &page(), &change).unwrap(),
            Prepared::Send
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{{\"page_id\":\"{page_id}\",\"properties\":{{\"Status\":{{\"status\":{{\"name\":\"In progress\"}}}}}}}}\n"));
        // Again (a later row, or a later run): already held, not saved twice.
        assert_eq!(
            backup.prepare(page_id, &page(), &change).unwrap(),
            Prepared::Send
        );
        let reopened = Backup::open(&path).unwrap();
        assert_eq!(
            reopened.prepare(page_id, &page(), &change).unwrap(),
            Prepared::Send
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        // Page-level fields too.
        let trash = Body {
            in_trash: Some(true),
            icon: Some(Value::Null),
            ..Body::default()
        };
        backup.prepare(page_id, &page(), &trash).unwrap();
        let last = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned();
        assert_eq!(
            serde_json::from_str::<Value>(&last).unwrap(),
            json!({"page_id": page_id.to_string(), "icon": {"type": "emoji", "emoji": "🚀"}, "in_trash": false})
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
