//! Matching rows to pages by a key property (SPEC §10): which properties can be keys, a key's
//! canonical form (what two keys are compared by), a page's key, and the query filter that
//! looks keys up. Notion's `equals` is only a pre-filter (its case and white-space rules are
//! not documented): whatever a query returns is compared again here, in canonical form.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::mapping::cell::{parse_number_as, NumberFormat};
use crate::notion::schema::{plain_text, SchemaType};
use crate::notion::{PropertyType, Schema};

/// The property types a key can be.
pub const KEY_TYPES: [PropertyType; 8] = [
    PropertyType::Title,
    PropertyType::RichText,
    PropertyType::Number,
    PropertyType::Email,
    PropertyType::PhoneNumber,
    PropertyType::Url,
    PropertyType::UniqueId,
    PropertyType::Formula,
];

/// Keys per lookup query: Notion's limit on one `or` array.
pub const KEYS_PER_LOOKUP: usize = 100;

/// A row's key: as written (trimmed), and its canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowKey {
    /// The key as the input wrote it, trimmed: what the report shows and a lookup sends.
    pub text: Arc<str>,
    /// What keys are compared by (see [`KeySpec::row_key`]).
    pub canonical: Arc<str>,
}

impl RowKey {
    /// A made-up page id for the key's rows while their page is not known (the lane a created
    /// page's rows run in, the template gate): the same for every row of the key, never sent.
    pub fn lane(&self) -> crate::notion::NotionId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("key:{}", self.canonical).as_bytes());
        let mut lane = [0u8; 16];
        lane.copy_from_slice(&digest[..16]);
        crate::notion::NotionId::from_u128(u128::from_be_bytes(lane))
    }
}

/// The key property of `--match-on` and how its values compare.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySpec {
    /// The property's name in the schema.
    pub property: Arc<str>,
    /// Its id (already URL-encoded), for `filter_properties`.
    pub id: String,
    pub ty: PropertyType,
    /// `--match-ignore-case`.
    pub ignore_case: bool,
    /// A unique_id property's prefix (`PRD` of `PRD-42`).
    pub prefix: Option<String>,
}

impl KeySpec {
    /// The key property `name` of the schema. The error says what is wrong and what would do.
    pub fn from_schema(schema: &Schema, name: &str, ignore_case: bool) -> Result<KeySpec, String> {
        let Some(property) = schema.property(name) else {
            let names = schema.properties.iter().map(|p| p.name.as_str());
            let hint = crate::spelling::closest(name, names.clone())
                .map(|n| format!(" Did you mean {}?", crate::spelling::mention(name, n)))
                .unwrap_or_default();
            return Err(format!(
                "--match-on {name:?}: the data source {:?} has no such property.{hint} Its properties are: {}",
                schema.title,
                names.collect::<Vec<_>>().join(", ")
            ));
        };
        let ty = match &property.ty {
            SchemaType::Known(ty) if KEY_TYPES.contains(ty) => *ty,
            other => {
                let shown = match other {
                    SchemaType::Known(ty) => ty.as_str().to_owned(),
                    SchemaType::Unsupported(name) => name.clone(),
                };
                let candidates: Vec<&str> = schema
                    .properties
                    .iter()
                    .filter(|p| matches!(&p.ty, SchemaType::Known(t) if KEY_TYPES.contains(t)))
                    .map(|p| p.name.as_str())
                    .collect();
                return Err(format!(
                    "--match-on {name:?}: {:?} is a {shown} property, which cannot be a key. A key \
                     is a title, rich_text, number, email, phone_number, url, unique_id or formula \
                     property; in this data source: {}",
                    property.name,
                    if candidates.is_empty() {
                        "none".to_owned()
                    } else {
                        candidates.join(", ")
                    }
                ));
            }
        };
        Ok(KeySpec {
            property: property.name.as_str().into(),
            id: property.id.clone(),
            ty,
            ignore_case,
            prefix: property.prefix.clone(),
        })
    }

    /// Whether rows can write the key (so that a created page carries it).
    pub fn writable(&self) -> bool {
        !self.ty.is_read_only()
    }

    /// Whether a query filter can find every page a scan would match. With
    /// `--match-ignore-case` it cannot (Notion's `equals` may not ignore case), nor for a
    /// formula (its result type is not in the schema).
    pub fn lookups_possible(&self) -> bool {
        !self.ignore_case && self.ty != PropertyType::Formula
    }

    /// A key cell's key; `Ok(None)` when the cell is empty. Numbers are read as the number
    /// columns read them (`--decimal-comma`); a unique_id is `PREFIX-42` or `42`.
    pub fn row_key(&self, cell: &str, numbers: NumberFormat) -> Result<Option<RowKey>, String> {
        let text = cell.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let canonical = match self.ty {
            PropertyType::Number => parse_number_as(text, numbers)
                .map_err(|e| format!("the key is not a number: {e}"))?
                .as_f64()
                .map(number_text)
                .unwrap_or_default(),
            PropertyType::UniqueId => self.unique_id_number(text)?.to_string(),
            _ => self.fold(text),
        };
        Ok(Some(RowKey {
            text: text.into(),
            canonical: canonical.into(),
        }))
    }

    /// `PRD-42` or `42` as the number of a unique_id whose prefix is the property's.
    fn unique_id_number(&self, text: &str) -> Result<u64, String> {
        let (prefix, digits) = match text.rsplit_once('-') {
            Some((prefix, digits)) => (Some(prefix.trim()), digits.trim()),
            None => (None, text),
        };
        let number: u64 = digits.parse().map_err(|_| {
            format!(
                "{text:?} is not a unique ID: write it as {}-42 or 42",
                self.prefix.as_deref().unwrap_or("PREFIX")
            )
        })?;
        match (prefix, self.prefix.as_deref()) {
            (None, _) => Ok(number),
            (Some(given), Some(own)) if given.eq_ignore_ascii_case(own) => Ok(number),
            (Some(given), own) => Err(format!(
                "the key {text:?} has the prefix {given:?}, but {:?} numbers its pages {}",
                self.property,
                match own {
                    Some(own) => format!("{own}-1, {own}-2, …"),
                    None => "with no prefix (1, 2, …)".to_owned(),
                }
            )),
        }
    }

    fn fold(&self, text: &str) -> String {
        if self.ignore_case {
            text.to_lowercase()
        } else {
            text.to_owned()
        }
    }

    /// A page's key in canonical form (`None`: the page has no key, which never matches).
    pub fn of_page(&self, page: &Value) -> Option<String> {
        let properties = page["properties"].as_object()?;
        let value = properties.get(&*self.property).or_else(|| {
            properties
                .values()
                .find(|v| v["id"].as_str() == Some(self.id.as_str()))
        })?;
        let inner = &value[self.ty.as_str()];
        let text = match self.ty {
            PropertyType::Title | PropertyType::RichText => plain_text(inner),
            PropertyType::Number => return inner.as_f64().map(number_text),
            PropertyType::UniqueId => return inner["number"].as_u64().map(|n| n.to_string()),
            PropertyType::Formula => match inner["type"].as_str() {
                Some("number") => return inner["number"].as_f64().map(number_text),
                Some("string") => inner["string"].as_str()?.to_owned(),
                _ => return None,
            },
            _ => inner.as_str()?.to_owned(),
        };
        let text = text.trim();
        (!text.is_empty()).then(|| self.fold(text))
    }

    /// Whether the page's key came back as a formula or rollup of type `unsupported` (Notion
    /// could not compute it, "when their dependency graph is too complex"): the page may hold
    /// any key, so a row that finds no page cannot say that none has it.
    pub fn is_unreadable(&self, page: &Value) -> bool {
        let Some(properties) = page["properties"].as_object() else {
            return false;
        };
        let value = properties.get(&*self.property).or_else(|| {
            properties
                .values()
                .find(|v| v["id"].as_str() == Some(self.id.as_str()))
        });
        value.is_some_and(|v| v[self.ty.as_str()]["type"] == "unsupported")
    }

    /// Whether Notion may hold this key with spaces around it, which an `equals` lookup does
    /// not find (and [`KeySpec::of_page`] trims): a text key.
    pub fn may_have_spaces(&self) -> bool {
        !matches!(
            self.ty,
            PropertyType::Number | PropertyType::UniqueId | PropertyType::Formula
        )
    }

    /// A lookup that also finds keys Notion holds with spaces around them: an `or` of one
    /// `contains` per key (the pages it finds are kept by their trimmed key, so a page whose
    /// key merely contains another is no match).
    pub fn contains_filter<'k>(&self, keys: impl IntoIterator<Item = &'k RowKey>) -> Value {
        let leaves: Vec<Value> = keys
            .into_iter()
            .map(|key| json!({"property": self.id, self.ty.as_str(): {"contains": key.text.to_string()}}))
            .collect();
        json!({ "or": leaves })
    }

    /// The filter of one lookup: an `or` of one `equals` per key (at most
    /// [`KEYS_PER_LOOKUP`]).
    pub fn lookup_filter<'k>(&self, keys: impl IntoIterator<Item = &'k RowKey>) -> Value {
        let leaves: Vec<Value> = keys
            .into_iter()
            .map(|key| {
                let value = match self.ty {
                    PropertyType::UniqueId => key
                        .canonical
                        .parse::<u64>()
                        .map(Value::from)
                        .unwrap_or(Value::Null),
                    PropertyType::Number => key
                        .canonical
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                        .unwrap_or(Value::Null),
                    _ => Value::String(key.text.to_string()),
                };
                json!({"property": self.id, self.ty.as_str(): {"equals": value}})
            })
            .collect();
        json!({ "or": leaves })
    }
}

/// `--match-on` and its companions, as given; the key property is checked against the schema
/// once it is read ([`KeySpec::from_schema`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchConfig {
    pub property: String,
    pub ignore_case: bool,
    pub create_missing: bool,
    pub lookup: KeyLookup,
}

/// How pages are found by key (`--key-lookup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyLookup {
    /// Whichever costs fewer requests: the scan, or queries of up to 100 keys.
    #[default]
    Auto,
    /// Read every page.
    Scan,
    /// Queries of up to 100 keys each.
    Batch,
}

/// Sets the mapping's key from `--match-on`, once the schema is known: the property must be
/// one a key can be, and `--create-missing` needs a key a created page can carry.
pub fn use_key(
    mapping: &mut crate::mapping::MappingOptions,
    matching: Option<&MatchConfig>,
) -> Result<(), String> {
    let Some(matching) = matching else {
        return Ok(());
    };
    let schema = mapping
        .schema
        .as_deref()
        .expect("--match-on goes with --data-source, which reads the schema");
    let key = KeySpec::from_schema(schema, &matching.property, matching.ignore_case)?;
    if matching.create_missing && !key.writable() {
        return Err(format!(
            "--create-missing cannot create pages found by {:?}: it is a {} property, which \
             Notion fills in itself, so a created page would not carry the row's key and the next \
             run would create it again. Match on a title, rich_text, number, email, \
             phone_number or url property to create pages, or drop --create-missing",
            key.property, key.ty
        ));
    }
    mapping.match_on = Some(Arc::new(key));
    Ok(())
}

/// A number as keys compare it: `42` for 42 and 42.0, `12.5`.
fn number_text(n: f64) -> String {
    format!("{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        serde_json::from_value(json!({
            "format": 1, "data_source_id": "ds", "title": "Products",
            "properties": [
                {"id": "title", "name": "Name", "type": "title"},
                {"id": "s%3Fk", "name": "SKU", "type": "rich_text"},
                {"id": "n", "name": "Code", "type": "number"},
                {"id": "u", "name": "ID", "type": "unique_id", "prefix": "PRD"},
                {"id": "f", "name": "Slug", "type": "formula"},
                {"id": "st", "name": "Status", "type": "status", "options": ["Done"]},
            ]
        }))
        .unwrap()
    }

    fn spec(name: &str, ignore_case: bool) -> KeySpec {
        KeySpec::from_schema(&schema(), name, ignore_case).unwrap()
    }

    #[test]
    fn only_key_types_can_be_keys_and_unknown_names_get_the_closest() {
        let err = KeySpec::from_schema(&schema(), "SKUs", false).unwrap_err();
        assert!(err.contains("Did you mean \"SKU\"?"), "{err}");
        let err = KeySpec::from_schema(&schema(), "Status", false).unwrap_err();
        assert!(
            err.contains("a status property, which cannot be a key")
                && err.contains("Name, SKU, Code, ID, Slug"),
            "{err}"
        );
        assert_eq!(spec("ID", false).prefix.as_deref(), Some("PRD"));
    }

    #[test]
    fn keys_are_trimmed_and_compared_in_canonical_form() {
        let numbers = NumberFormat::default();
        let key = |s: &KeySpec, cell: &str| s.row_key(cell, numbers).unwrap().unwrap().canonical;
        assert_eq!(&*key(&spec("SKU", false), "  AB-1 "), "AB-1");
        assert_eq!(&*key(&spec("SKU", true), "  AB-1 "), "ab-1");
        assert_eq!(spec("SKU", false).row_key("   ", numbers).unwrap(), None);
        assert_eq!(&*key(&spec("Code", false), "42.0"), "42");
        let comma = NumberFormat {
            decimal_comma: true,
            thousands: None,
        };
        let code = spec("Code", false).row_key("12,5", comma).unwrap().unwrap();
        assert_eq!(&*code.canonical, "12.5");
        let id = spec("ID", false);
        assert_eq!(&*key(&id, "PRD-42"), "42");
        assert_eq!(&*key(&id, "prd-42"), "42");
        assert_eq!(&*key(&id, "42"), "42");
        let err = id.row_key("TASK-42", numbers).unwrap_err();
        assert!(
            err.contains("prefix \"TASK\"") && err.contains("PRD-1"),
            "{err}"
        );
        assert!(id.row_key("PRD-x", numbers).is_err());
    }

    #[test]
    fn a_page_key_is_read_from_every_key_type() {
        let page = json!({"properties": {
            "Name": {"id": "title", "type": "title", "title": [{"plain_text": " Mug "}]},
            "SKU": {"id": "s%3Fk", "type": "rich_text", "rich_text": [{"plain_text": "AB"}, {"plain_text": "-1"}]},
            "Code": {"id": "n", "type": "number", "number": 42.0},
            "ID": {"id": "u", "type": "unique_id", "unique_id": {"prefix": "PRD", "number": 7}},
            "Slug": {"id": "f", "type": "formula", "formula": {"type": "string", "string": "mug"}},
        }});
        assert_eq!(spec("Name", false).of_page(&page).as_deref(), Some("Mug"));
        assert_eq!(spec("Name", true).of_page(&page).as_deref(), Some("mug"));
        assert_eq!(spec("SKU", false).of_page(&page).as_deref(), Some("AB-1"));
        assert_eq!(spec("Code", false).of_page(&page).as_deref(), Some("42"));
        assert_eq!(spec("ID", false).of_page(&page).as_deref(), Some("7"));
        assert_eq!(spec("Slug", false).of_page(&page).as_deref(), Some("mug"));
        let empty =
            json!({"properties": {"SKU": {"id": "s%3Fk", "type": "rich_text", "rich_text": []}}});
        assert_eq!(spec("SKU", false).of_page(&empty), None);
    }

    #[test]
    fn a_lookup_is_an_or_of_equals_by_property_id() {
        let numbers = NumberFormat::default();
        let sku = spec("SKU", false);
        let keys: Vec<RowKey> = ["A", "B"]
            .iter()
            .map(|k| sku.row_key(k, numbers).unwrap().unwrap())
            .collect();
        assert_eq!(
            sku.lookup_filter(&keys),
            json!({"or": [
                {"property": "s%3Fk", "rich_text": {"equals": "A"}},
                {"property": "s%3Fk", "rich_text": {"equals": "B"}},
            ]})
        );
        let id = spec("ID", false);
        let key = id.row_key("PRD-42", numbers).unwrap().unwrap();
        assert_eq!(
            id.lookup_filter([&key]),
            json!({"or": [{"property": "u", "unique_id": {"equals": 42}}]})
        );
        assert!(!spec("SKU", true).lookups_possible());
        assert!(!spec("Slug", false).lookups_possible());
    }
}
