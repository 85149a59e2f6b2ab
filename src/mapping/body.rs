//! The PATCH body of one row, its JSON form, its hash over sorted keys (SPEC §6
//! `body_hash`), and the fields it sets, by which `--resume` and `--failed-out` reduce a row to
//! what no later row of its page has already set.

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::mapping::value::PropertyValue;

/// What one row asks Notion to change on one page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Body {
    pub properties: Properties,
    /// `Some(Value::Null)` removes the icon.
    pub icon: Option<Value>,
    /// `Some(Value::Null)` removes the cover.
    pub cover: Option<Value>,
    pub in_trash: Option<bool>,
    pub is_locked: Option<bool>,
    pub template: Option<Value>,
    pub erase_content: Option<bool>,
}

/// Property values keyed by property name (or id), in input order.
#[derive(Debug, Clone, PartialEq)]
pub enum Properties {
    /// Built from CSV cells or flat JSONL values.
    Typed(Vec<(Arc<str>, PropertyValue)>),
    /// A native JSONL line's `properties`, validated and sent as given: each key a property's
    /// name or id. With a schema, the keys that are not the schema's name of their property,
    /// each with that name (what [`Body::fields`] says the body sets).
    Native(Map<String, Value>, Vec<(String, Arc<str>)>),
}

/// The field a native line's key sets: the schema's name of the property it names.
fn native_field(key: &str, names: &[(String, Arc<str>)]) -> Arc<str> {
    names
        .iter()
        .find(|(k, _)| k == key)
        .map_or_else(|| Arc::from(key), |(_, name)| name.clone())
}

impl Default for Properties {
    fn default() -> Properties {
        Properties::Typed(Vec::new())
    }
}

impl Properties {
    pub fn is_empty(&self) -> bool {
        match self {
            Properties::Typed(values) => values.is_empty(),
            Properties::Native(map, _) => map.is_empty(),
        }
    }
}

/// One thing a body sets on a page: a property (by the name, or id, it is written with; with
/// a schema always the schema's name) or a page-level field. `template` and `erase_content`
/// act on the page's content, not on a field, and are not fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Property(Arc<str>),
    Icon,
    Cover,
    InTrash,
    IsLocked,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Property(name) => write!(f, "{name:?}"),
            Field::Icon => f.write_str("icon"),
            Field::Cover => f.write_str("cover"),
            Field::InTrash => f.write_str("in_trash"),
            Field::IsLocked => f.write_str("is_locked"),
        }
    }
}

impl Body {
    /// The fields the body sets, properties first in body order, then the page-level ones.
    pub fn fields(&self) -> Vec<Field> {
        let mut out: Vec<Field> = match &self.properties {
            Properties::Typed(values) => values
                .iter()
                .map(|(name, _)| Field::Property(name.clone()))
                .collect(),
            Properties::Native(map, names) => map
                .keys()
                .map(|k| Field::Property(native_field(k, names)))
                .collect(),
        };
        for (set, field) in [
            (self.icon.is_some(), Field::Icon),
            (self.cover.is_some(), Field::Cover),
            (self.in_trash.is_some(), Field::InTrash),
            (self.is_locked.is_some(), Field::IsLocked),
        ] {
            if set {
                out.push(field);
            }
        }
        out
    }

    /// Removes the fields `drop` picks; returns them, in [`Body::fields`] order.
    pub fn drop_fields(&mut self, drop: impl Fn(&Field) -> bool) -> Vec<Field> {
        let dropped: Vec<Field> = self.fields().into_iter().filter(|f| drop(f)).collect();
        if dropped.is_empty() {
            return dropped;
        }
        let gone = |name: &str| dropped.contains(&Field::Property(Arc::from(name)));
        match &mut self.properties {
            Properties::Typed(values) => values.retain(|(name, _)| !gone(name)),
            Properties::Native(map, names) => map.retain(|key, _| !gone(&native_field(key, names))),
        }
        for field in &dropped {
            match field {
                Field::Property(_) => {}
                Field::Icon => self.icon = None,
                Field::Cover => self.cover = None,
                Field::InTrash => self.in_trash = None,
                Field::IsLocked => self.is_locked = None,
            }
        }
        dropped
    }

    /// A body that changes nothing is not sent: its row is `skipped`.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
            && self.icon.is_none()
            && self.cover.is_none()
            && self.in_trash.is_none()
            && self.is_locked.is_none()
            && self.template.is_none()
            && self.erase_content.is_none()
    }

    /// Whether the body names a file to copy into Notion (a files item's upload).
    pub fn has_uploads(&self) -> bool {
        let media = [&self.icon, &self.cover];
        if media
            .iter()
            .any(|m| m.as_ref().is_some_and(|v| v["type"] == "file_upload"))
        {
            return true;
        }
        let Properties::Typed(values) = &self.properties else {
            return false;
        };
        values.iter().any(|(_, v)| match v {
            PropertyValue::Files(items) => items.iter().any(|i| i.upload.is_some()),
            _ => false,
        })
    }

    /// The body as a JSON value (for hashing and tests; the hot path serialises directly).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a body always serialises")
    }

    /// SHA-256 (hex) of the body serialised with sorted keys and no white space.
    pub fn hash(&self) -> String {
        canonical_hash(&self.to_value())
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match &self.properties {
            Properties::Typed(values) if !values.is_empty() => {
                map.serialize_entry("properties", &TypedProperties(values))?
            }
            Properties::Native(values, _) if !values.is_empty() => {
                map.serialize_entry("properties", values)?
            }
            _ => {}
        }
        if let Some(icon) = &self.icon {
            map.serialize_entry("icon", icon)?;
        }
        if let Some(cover) = &self.cover {
            map.serialize_entry("cover", cover)?;
        }
        if let Some(v) = self.in_trash {
            map.serialize_entry("in_trash", &v)?;
        }
        if let Some(v) = self.is_locked {
            map.serialize_entry("is_locked", &v)?;
        }
        if let Some(v) = &self.template {
            map.serialize_entry("template", v)?;
        }
        if let Some(v) = self.erase_content {
            map.serialize_entry("erase_content", &v)?;
        }
        map.end()
    }
}

struct TypedProperties<'a>(&'a [(Arc<str>, PropertyValue)]);

impl Serialize for TypedProperties<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(&**name, value)?;
        }
        map.end()
    }
}

/// SHA-256 (lowercase hex) of `value` written with every object's keys sorted, no white space,
/// and serde_json's formatting of strings and numbers.
pub fn canonical_hash(value: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    let digest = Sha256::digest(&out);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `value` written with every object's keys sorted and no white space (what
/// [`canonical_hash`] hashes).
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(64);
    write_canonical(value, &mut out);
    String::from_utf8(out).expect("JSON is UTF-8")
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key).expect("writing to a Vec");
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("writing to a Vec"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialises_only_what_is_set_in_a_fixed_order() {
        let body = Body {
            properties: Properties::Typed(vec![("Done".into(), PropertyValue::Checkbox(true))]),
            icon: Some(Value::Null),
            in_trash: Some(false),
            ..Body::default()
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"properties":{"Done":{"checkbox":true}},"icon":null,"in_trash":false}"#
        );
        assert!(!body.is_empty());
        assert!(Body::default().is_empty());
        assert_eq!(serde_json::to_string(&Body::default()).unwrap(), "{}");
    }

    #[test]
    fn fields_are_listed_and_dropped_properties_and_page_fields_alike() {
        let mut body = Body {
            properties: Properties::Typed(vec![
                ("Done".into(), PropertyValue::Checkbox(true)),
                ("Estimate".into(), PropertyValue::Number(Some(2.into()))),
            ]),
            icon: Some(Value::Null),
            in_trash: Some(false),
            erase_content: Some(true),
            ..Body::default()
        };
        assert_eq!(
            body.fields(),
            [
                Field::Property("Done".into()),
                Field::Property("Estimate".into()),
                Field::Icon,
                Field::InTrash
            ]
        );
        let dropped = body
            .drop_fields(|f| matches!(f, Field::InTrash) || *f == Field::Property("Done".into()));
        assert_eq!(dropped, [Field::Property("Done".into()), Field::InTrash]);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"properties":{"Estimate":{"number":2}},"icon":null,"erase_content":true}"#
        );
        let mut native = Body {
            properties: Properties::Native(
                serde_json::from_value(
                    json!({"A": {"checkbox": true}, "b%3F": {"checkbox": false}}),
                )
                .unwrap(),
                vec![("b%3F".to_owned(), Arc::from("B"))],
            ),
            ..Body::default()
        };
        native.drop_fields(|f| *f != Field::Property("B".into()));
        // Sent by the id it was given, known as the schema's name.
        assert_eq!(
            native.to_value(),
            json!({"properties": {"b%3F": {"checkbox": false}}})
        );
        native.drop_fields(|_| true);
        assert!(native.is_empty());
    }

    #[test]
    fn hash_ignores_key_order_but_not_values() {
        let a = json!({"b": 1, "a": {"y": [1, {"q": true, "p": null}], "x": "s"}});
        let b = json!({"a": {"x": "s", "y": [1, {"p": null, "q": true}]}, "b": 1});
        let c = json!({"a": {"x": "s", "y": [{"p": null, "q": true}, 1]}, "b": 1});
        assert_eq!(canonical_hash(&a), canonical_hash(&b));
        assert_ne!(canonical_hash(&a), canonical_hash(&c));
        // Known value: sha256 of `{"a":1}`.
        assert_eq!(
            canonical_hash(&json!({"a": 1})),
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }
}
