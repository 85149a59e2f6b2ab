//! The index a scan builds: per page, its id and the compared fields' values in canonical
//! form ([`Current`]), never the page JSON; with `--match-on`, the pages of each key (SPEC
//! §10).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::mapping::key::KeySpec;
use crate::notion::schema::{SchemaProperty, SchemaType};
use crate::notion::{NotionId, Schema};
use crate::scan::current::{Current, Kind};

/// A field the scan reads and the matcher compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The property's name (page-level fields: `icon`, `cover`, `in_trash`, `is_locked`).
    pub name: Arc<str>,
    /// The property's id as the schema gives it (already URL-encoded); empty for page-level
    /// fields.
    pub id: String,
    pub kind: Kind,
}

impl Field {
    /// The field of a writable schema property; `None` for read-only and unsupported ones.
    pub fn property(p: &SchemaProperty) -> Option<Field> {
        match &p.ty {
            SchemaType::Known(ty) if !ty.is_read_only() => Some(Field {
                name: p.name.as_str().into(),
                id: p.id.clone(),
                kind: Kind::Property(*ty),
            }),
            _ => None,
        }
    }

    /// The page-level fields, by their body key.
    pub fn page_level(key: &str) -> Option<Field> {
        let kind = match key {
            "icon" => Kind::Icon,
            "cover" => Kind::Cover,
            "in_trash" => Kind::InTrash,
            "is_locked" => Kind::IsLocked,
            _ => return None,
        };
        Some(Field {
            name: key.into(),
            id: String::new(),
            kind,
        })
    }

    /// Every writable property of the schema, then the page-level fields.
    pub fn all(schema: &Schema) -> Vec<Field> {
        let mut fields: Vec<Field> = schema
            .properties
            .iter()
            .filter_map(Field::property)
            .collect();
        fields.extend(
            ["icon", "cover", "in_trash", "is_locked"]
                .into_iter()
                .filter_map(Field::page_level),
        );
        fields
    }

    /// Every field's value in a page object, in the order of `fields`; an error names the page
    /// (`id`) and the field.
    pub fn read_all<C: FromIterator<Current>>(
        fields: &[Field],
        page: &Value,
        id: &dyn std::fmt::Display,
    ) -> Result<C, String> {
        fields
            .iter()
            .map(|f| {
                f.read(page)
                    .map_err(|e| format!("page {id}: {}: {e}", f.name))
            })
            .collect()
    }

    /// The field's value in a page object.
    pub fn read(&self, page: &Value) -> Result<Current, String> {
        match self.kind {
            Kind::Property(ty) => {
                let properties = page["properties"].as_object();
                let property = properties
                    .and_then(|p| p.get(&*self.name))
                    .or_else(|| {
                        properties?
                            .values()
                            .find(|v| v["id"].as_str() == Some(self.id.as_str()))
                    })
                    .ok_or_else(|| format!("the page has no property {:?}", self.name))?;
                Current::read(self.kind, &property[ty.as_str()])
            }
            _ => Current::read(self.kind, &page[&*self.name]),
        }
    }
}

/// One page of the index.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The compared fields' values, in the index's field order.
    pub values: Box<[Current]>,
}

/// Pages by id, with the fields compared; with a key, the pages by key.
#[derive(Debug, Default)]
pub struct Index {
    fields: Vec<Field>,
    pages: HashMap<NotionId, Entry>,
    key: Option<Arc<KeySpec>>,
    /// With a key: every page (not in the trash) by its key in canonical form.
    by_key: HashMap<Box<str>, Vec<NotionId>>,
    /// With a key: the pages whose key came back `unsupported` (a formula Notion could not
    /// compute), which are in no list of `by_key`.
    unreadable_keys: u64,
}

impl Index {
    pub fn new(fields: Vec<Field>) -> Index {
        Index {
            fields,
            ..Index::default()
        }
    }

    /// An index that also knows the pages of each key.
    pub fn with_key(fields: Vec<Field>, key: Arc<KeySpec>) -> Index {
        Index {
            key: Some(key),
            ..Index::new(fields)
        }
    }

    pub fn key(&self) -> Option<&KeySpec> {
        self.key.as_deref()
    }

    /// The pages whose key is `canonical` (none, one, or several: ambiguous).
    pub fn pages_of(&self, canonical: &str) -> &[NotionId] {
        self.by_key.get(canonical).map_or(&[], Vec::as_slice)
    }

    /// Every key a page has (canonical form) and its pages, in no particular order.
    pub fn keyed_pages(&self) -> impl Iterator<Item = (&str, &[NotionId])> {
        self.by_key
            .iter()
            .map(|(k, pages)| (&**k, pages.as_slice()))
    }

    /// How many pages' keys could not be read (formula or rollup values of type `unsupported`).
    pub fn unreadable_keys(&self) -> u64 {
        self.unreadable_keys
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The position of the field a body key names (a property's name or id, or a page-level
    /// key).
    pub fn field(&self, key: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| &*f.name == key)
            .or_else(|| {
                let decoded = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
                self.fields.iter().position(|f| {
                    !f.id.is_empty()
                        && (f.id == key
                            || percent_encoding::percent_decode_str(&f.id).decode_utf8_lossy()
                                == decoded)
                })
            })
    }

    /// Keeps what the matcher needs of one page read.
    pub fn insert(&mut self, page: &Value) -> Result<(), String> {
        let id = page["id"]
            .as_str()
            .and_then(|id| NotionId::parse(id).ok())
            .ok_or("a result without a page id")?;
        let values: Box<[Current]> = Field::read_all(&self.fields, page, &id)?;
        if let Some(spec) = self.key.as_deref() {
            match spec.of_page(page) {
                Some(key) => {
                    let pages = self.by_key.entry(key.into_boxed_str()).or_default();
                    if !pages.contains(&id) {
                        pages.push(id);
                    }
                }
                None if spec.is_unreadable(page) && !self.pages.contains_key(&id) => {
                    self.unreadable_keys += 1;
                }
                None => {}
            }
        }
        self.pages.insert(id, Entry { values });
        Ok(())
    }

    pub fn get(&self, page: &NotionId) -> Option<&Entry> {
        self.pages.get(page)
    }

    pub fn get_mut(&mut self, page: &NotionId) -> Option<&mut Entry> {
        self.pages.get_mut(page)
    }

    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// A page object holding these fields' values (request-shaped, as a page read would give
    /// them after `page_read::request_value`), for `--backup`.
    pub fn page_image(&self, entry: &Entry, fields: &[usize]) -> Value {
        let mut properties = Map::new();
        let mut page = Map::new();
        for &i in fields {
            let field = &self.fields[i];
            let value = entry.values[i].to_request();
            match field.kind {
                Kind::Property(ty) => {
                    properties.insert(
                        field.name.to_string(),
                        json!({"id": field.id, "type": ty.as_str(), ty.as_str(): value}),
                    );
                }
                _ => {
                    page.insert(field.name.to_string(), value);
                }
            }
        }
        page.insert("properties".into(), Value::Object(properties));
        Value::Object(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notion::PropertyType;

    #[test]
    fn an_index_entry_is_small() {
        // SPEC §8.6: 100,000 pages x 10 properties under 100 MB.
        assert!(
            std::mem::size_of::<Current>() <= 24,
            "{}",
            std::mem::size_of::<Current>()
        );
        let mut index = Index::new(vec![
            Field {
                name: "Status".into(),
                id: "a%3Fb".into(),
                kind: Kind::Property(PropertyType::Status),
            },
            Field::page_level("in_trash").unwrap(),
        ]);
        let page = json!({"id": "8d116ece-1738-47d9-bd9c-172411e20b8f", "in_trash": false,
            "properties": {"Status": {"id": "a%3Fb", "type": "status", "status": {"name": "Done", "id": "s"}}}});
        index.insert(&page).unwrap();
        let id = NotionId::parse("8d116ece173847d9bd9c172411e20b8f").unwrap();
        assert_eq!(index.get(&id).unwrap().values[1], Current::Bool(false));
        assert_eq!(index.field("a?b"), Some(0));
        let image = index.page_image(index.get(&id).unwrap(), &[0, 1]);
        assert_eq!(
            image["properties"]["Status"]["status"],
            json!({"name": "Done"})
        );
        assert_eq!(image["in_trash"], json!(false));
    }
}
