//! The workspace's shapes: property types and schemas, data sources, databases, users and
//! pages, ids, and [`Workspace`], the read-only view of them that validation and rendering
//! take. The store owns the data; nothing here knows how it is kept.

use super::upload::Hosted;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The user the sandbox's integration acts as (`last_edited_by` after a PATCH).
pub(crate) const INTEGRATION_BOT_ID: &str = "5a4dba00-0000-4000-8000-000000000b07";

/// Colours an option may have.
pub(crate) const OPTION_COLORS: [&str; 10] = [
    "default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red",
];

/// The groups of every status property, in order: key (also the group's id), name, color.
pub(crate) const STATUS_GROUPS: [(&str, &str, &str); 3] = [
    ("to_do", "To-do", "gray"),
    ("in_progress", "In progress", "blue"),
    ("complete", "Complete", "green"),
];

/// Every property type the sandbox knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PropType {
    Title,
    RichText,
    Number,
    Select,
    MultiSelect,
    Status,
    Date,
    People,
    Files,
    Checkbox,
    Url,
    Email,
    PhoneNumber,
    Relation,
    Place,
    Formula,
    Rollup,
    CreatedTime,
    CreatedBy,
    LastEditedTime,
    LastEditedBy,
    UniqueId,
    Verification,
    Button,
}

impl PropType {
    pub(crate) const ALL: [PropType; 24] = [
        PropType::Title,
        PropType::RichText,
        PropType::Number,
        PropType::Select,
        PropType::MultiSelect,
        PropType::Status,
        PropType::Date,
        PropType::People,
        PropType::Files,
        PropType::Checkbox,
        PropType::Url,
        PropType::Email,
        PropType::PhoneNumber,
        PropType::Relation,
        PropType::Place,
        PropType::Formula,
        PropType::Rollup,
        PropType::CreatedTime,
        PropType::CreatedBy,
        PropType::LastEditedTime,
        PropType::LastEditedBy,
        PropType::UniqueId,
        PropType::Verification,
        PropType::Button,
    ];

    pub(crate) fn parse(name: &str) -> Option<PropType> {
        PropType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PropType::Title => "title",
            PropType::RichText => "rich_text",
            PropType::Number => "number",
            PropType::Select => "select",
            PropType::MultiSelect => "multi_select",
            PropType::Status => "status",
            PropType::Date => "date",
            PropType::People => "people",
            PropType::Files => "files",
            PropType::Checkbox => "checkbox",
            PropType::Url => "url",
            PropType::Email => "email",
            PropType::PhoneNumber => "phone_number",
            PropType::Relation => "relation",
            PropType::Place => "place",
            PropType::Formula => "formula",
            PropType::Rollup => "rollup",
            PropType::CreatedTime => "created_time",
            PropType::CreatedBy => "created_by",
            PropType::LastEditedTime => "last_edited_time",
            PropType::LastEditedBy => "last_edited_by",
            PropType::UniqueId => "unique_id",
            PropType::Verification => "verification",
            PropType::Button => "button",
        }
    }

    /// Types the API refuses to write (verification is writable since 2026-03-25).
    pub(crate) fn is_read_only(self) -> bool {
        matches!(
            self,
            PropType::Formula
                | PropType::Rollup
                | PropType::CreatedTime
                | PropType::CreatedBy
                | PropType::LastEditedTime
                | PropType::LastEditedBy
                | PropType::UniqueId
                | PropType::Button
        )
    }

    /// Types whose values are lists, paginated by the property-item endpoint and cut at 25
    /// items in a page read.
    pub(crate) fn is_paginated(self) -> bool {
        matches!(
            self,
            PropType::Title | PropType::RichText | PropType::People | PropType::Relation
        )
    }

    /// Types whose schema holds options.
    pub(crate) fn has_options(self) -> bool {
        matches!(
            self,
            PropType::Select | PropType::MultiSelect | PropType::Status
        )
    }

    /// The value a page has when nothing was set.
    pub(crate) fn empty_value(self) -> Value {
        match self {
            PropType::Title
            | PropType::RichText
            | PropType::MultiSelect
            | PropType::People
            | PropType::Files
            | PropType::Relation => json!([]),
            PropType::Checkbox => json!(false),
            PropType::Formula => json!({"type": "string", "string": null}),
            PropType::Rollup => json!({"type": "array", "array": [], "function": "show_original"}),
            PropType::Verification => {
                json!({"state": "unverified", "verified_by": null, "date": null})
            }
            PropType::Button => json!({}),
            _ => Value::Null,
        }
    }
}

/// An option of a select, multi_select or status property.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SelectOption {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) color: String,
    pub(crate) description: Option<String>,
    /// status only: `to_do`, `in_progress` or `complete`.
    pub(crate) group: Option<String>,
}

impl SelectOption {
    /// The option as a page value carries it.
    pub(crate) fn to_value(&self) -> Value {
        json!({"id": self.id, "name": self.name, "color": self.color})
    }
}

/// One property of a data source's schema.
#[derive(Debug, Clone)]
pub(crate) struct PropSchema {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) kind: PropType,
    pub(crate) description: Option<String>,
    pub(crate) options: Vec<SelectOption>,
    pub(crate) format: String,
    pub(crate) relation_data_source: Option<String>,
    pub(crate) expression: String,
    pub(crate) prefix: Option<String>,
}

impl PropSchema {
    /// Whether a key of a body's `properties` (a name, an id, or a decoded id) names this property.
    pub(crate) fn is_named(&self, key: &str) -> bool {
        key == self.name
            || key == self.id
            || percent_decode_str(&self.id)
                .decode_utf8()
                .is_ok_and(|d| d == key)
    }
}

/// A data source with its schema.
#[derive(Debug, Clone)]
pub(crate) struct DataSource {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) database_id: String,
    pub(crate) properties: Vec<PropSchema>,
    /// `null`, or an icon in the shape reads show it (set by a data source PATCH).
    pub(crate) icon: Value,
    pub(crate) created_time: DateTime<Utc>,
    pub(crate) last_edited_time: DateTime<Utc>,
}

impl DataSource {
    pub(crate) fn property(&self, key: &str) -> Option<&PropSchema> {
        // A name wins over an id, as names are what users write.
        self.properties
            .iter()
            .find(|p| p.name == key)
            .or_else(|| self.properties.iter().find(|p| p.is_named(key)))
    }

    pub(crate) fn title_property(&self) -> Option<&PropSchema> {
        self.properties.iter().find(|p| p.kind == PropType::Title)
    }

    /// How many options its properties hold, all together.
    pub(crate) fn option_count(&self) -> usize {
        self.properties.iter().map(|p| p.options.len()).sum()
    }
}

/// A database: a container of data sources.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) data_sources: Vec<String>,
    pub(crate) created_time: DateTime<Utc>,
}

/// A workspace user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) is_bot: bool,
    pub(crate) email: Option<String>,
}

/// A page, its values stored by property id in the shape a page read returns them.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub(crate) id: String,
    pub(crate) data_source_id: String,
    pub(crate) created_time: DateTime<Utc>,
    pub(crate) last_edited_time: DateTime<Utc>,
    pub(crate) created_by: String,
    pub(crate) last_edited_by: String,
    pub(crate) icon: Value,
    pub(crate) cover: Value,
    pub(crate) in_trash: bool,
    pub(crate) is_locked: bool,
    pub(crate) values: HashMap<String, Value>,
}

impl Page {
    /// The stored value of a property (its empty value when never set).
    pub(crate) fn value(&self, prop: &PropSchema) -> Value {
        self.values
            .get(&prop.id)
            .cloned()
            .unwrap_or_else(|| prop.kind.empty_value())
    }
}

/// A page id, dashed or not, as the lowercase dashed form; `None` if it is not 32 hex digits.
pub fn normalize_id(text: &str) -> Option<String> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// A fresh random (version 4) UUID, dashed: a new page's id, a request id.
pub(crate) fn random_uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    normalize_id(&hex).unwrap_or(hex)
}

/// A short id derived from `parts`, four characters from Notion's short-id alphabet.
pub(crate) fn short_id(parts: &[&str], url_encoded: bool) -> String {
    const ALPHABET: &[u8] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789;:?@[]{}|^~";
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let raw: String = digest[..4]
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    if url_encoded {
        utf8_percent_encode(&raw, NON_ALPHANUMERIC).to_string()
    } else {
        raw
    }
}

/// What checking a body may look up elsewhere in the workspace: the page's data source (or a new
/// page's parent database), the pages a relation or mention names, the users a people value names.
pub(crate) trait Workspace {
    fn database(&self, id: &str) -> Option<&Database>;
    fn data_source(&self, id: &str) -> Option<&DataSource>;
    fn page(&self, id: &str) -> Option<&Page>;
    fn user(&self, id: &str) -> Option<&User>;

    /// The most options a data source may hold (`--max-schema-options`); `None`: no ceiling.
    fn max_schema_options(&self) -> Option<usize>;

    /// The hosted file that file upload `id` becomes when attached, or why it cannot be
    /// attached (unknown, pending, expired, failed).
    fn hosted_upload(&self, id: &str) -> Result<Hosted, String>;

    /// The plain text of a page's title.
    fn page_title(&self, page: &Page) -> String {
        let Some(prop) = self
            .data_source(&page.data_source_id)
            .and_then(DataSource::title_property)
        else {
            return String::new();
        };
        plain_text(&page.value(prop))
    }
}

/// The plain text of a stored title or rich_text value: its items' `plain_text`, joined.
pub(crate) fn plain_text(items: &Value) -> String {
    items
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("plain_text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// An ISO 8601 date (`2026-12-01`) or date-time (with an offset, or without one and then in
/// UTC) as its instant, and whether it was a date only.
pub(crate) fn parse_date(text: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some((d.and_hms_opt(0, 0, 0)?.and_utc(), true));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some((t.with_timezone(&Utc), false));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| (t.and_utc(), false))
}
