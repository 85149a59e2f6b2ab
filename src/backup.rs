//! `--backup`: before a row is sent, the page's current values of the fields it changes are
//! appended to a native JSONL file and made durable, once per (page, field) across every run
//! sharing the file, so that `apply BACKUP` puts them back. Values are request-shaped
//! (`notion::page_read`): no `plain_text`, no `href`, complete past the 25 items a page read
//! returns.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::mapping::{Body, Properties};
use crate::notion::page_read::{find_property, page_level, plain_text, request_value};
use crate::notion::NotionId;
use crate::stop::WriteFailure;

/// Where a backup notes the related pages it is about to create: `PATH.creates`.
fn creates_path(backup: &Path) -> PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(".creates");
    PathBuf::from(name)
}

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
    /// The related pages an earlier run was about to create (`PATH.creates`: data source and
    /// canonical key), so that a page whose create was answered after a kill is recorded when
    /// a rerun finds it.
    creates: Mutex<HashSet<(String, String)>>,
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
        let mut creates = HashSet::new();
        let intents = creates_path(path);
        if intents.exists() {
            crate::outcome::drop_partial_last_line(&intents)?;
            for line in crate::outcome::whole_lines(&intents)?.lines() {
                let value: Value = serde_json::from_str(&line?).unwrap_or_default();
                if let (Some(ds), Some(key)) =
                    (value["data_source"].as_str(), value["key"].as_str())
                {
                    creates.insert((ds.to_owned(), key.to_owned()));
                }
            }
        }
        Ok(Backup {
            path: path.to_owned(),
            file: Mutex::new(file),
            held: Mutex::new(held),
            failed: Mutex::new(None),
            creates: Mutex::new(creates),
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

    /// Before a related page is created: notes, durably, that a page of `key` in
    /// `data_source` is being created, so that a run killed before the answer still records
    /// the page when the rerun's lookups find it ([`Backup::was_creating`]).
    pub fn creating(&self, data_source: &str, key: &str) -> Result<(), WriteFailure> {
        let path = creates_path(&self.path);
        let failure = |e: io::Error| WriteFailure {
            file: format!(
                "the backup's note of pages being created {}",
                path.display()
            ),
            error: e.to_string(),
        };
        let mut line =
            serde_json::to_vec(&json!({"data_source": data_source, "key": key})).expect("JSON");
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(failure)?;
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(failure)?;
        self.creates
            .lock()
            .expect("backup lock")
            .insert((data_source.to_owned(), key.to_owned()));
        Ok(())
    }

    /// Whether an earlier run noted that it was creating a page of `key` in `data_source`.
    pub fn was_creating(&self, data_source: &str, key: &str) -> bool {
        let creates = self.creates.lock().expect("backup lock");
        creates.contains(&(data_source.to_owned(), key.to_owned()))
    }

    /// A page this run created (`--create-missing-related`): a line that puts it in the trash,
    /// so that applying the backup undoes the create too. Saved once per page, durably,
    /// right after the create was answered.
    pub fn created(&self, page_id: NotionId) -> Result<(), WriteFailure> {
        let field = (page_id, Field::InTrash);
        if self.held.lock().expect("backup lock").contains(&field) {
            return Ok(());
        }
        let mut text =
            serde_json::to_vec(&json!({"page_id": page_id.to_string(), "in_trash": true}))
                .expect("JSON");
        text.push(b'\n');
        self.append(&text)?;
        self.held.lock().expect("backup lock").insert(field);
        Ok(())
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

    /// The notion crate's page read: a title, a status, a number, a hosted file, a relation
    /// cut short.
    fn page() -> Value {
        serde_json::from_str(include_str!("../crates/notion/testdata/page.json")).unwrap()
    }
    use std::sync::Arc;

    fn body(values: Vec<(&str, PropertyValue)>) -> Body {
        Body {
            properties: Properties::Typed(
                values.into_iter().map(|(k, v)| (Arc::from(k), v)).collect(),
            ),
            ..Body::default()
        }
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
}
