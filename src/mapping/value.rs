//! Typed property values, one variant per writable Notion type, and the one place that turns
//! them into the JSON Notion expects in a PATCH body.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::notion::{NotionId, PropertyType};

/// A value to write to one property. Clearing is the variant's empty form (`None` or an empty
/// list; `false` for a checkbox), as SPEC §3's table says.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    /// Text already split into pieces of at most 2000 UTF-16 units.
    Title(Vec<String>),
    RichText(Vec<String>),
    Number(Option<serde_json::Number>),
    Select(Option<String>),
    Status(Option<String>),
    MultiSelect(Vec<String>),
    Date(Option<DateValue>),
    Checkbox(bool),
    Url(Option<String>),
    Email(Option<String>),
    PhoneNumber(Option<String>),
    People(Vec<NotionId>),
    Relation(Vec<NotionId>),
    Files(Vec<FileItem>),
    /// A wiki page's verification.
    Verification(Verification),
    /// Items added to or removed from a multi-valued property (`Tags+`, `Tags-`): the list to
    /// send is only known against the page's current one (`gate::edit`), which replaces this
    /// with the whole new list before the row is sent.
    Edit(Box<ItemEdit>),
}

/// What an add (`Tags+`) or remove (`Tags-`) column asks of a multi_select, relation, people or
/// files property: its items, as list values of that type (both of the same type).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemEdit {
    pub add: PropertyValue,
    pub remove: PropertyValue,
}

/// Whether a column's cells set a property's whole value, or add or remove items of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOp {
    Add,
    Remove,
}

impl EditOp {
    /// The suffix a header or flat JSONL key ends with: `+` or `-`.
    pub fn suffix(self) -> char {
        match self {
            EditOp::Add => '+',
            EditOp::Remove => '-',
        }
    }

    /// `Tags+` -> (`Tags`, Add); `None` when the name ends in neither.
    pub fn split(name: &str) -> Option<(&str, EditOp)> {
        let op = match name.chars().last()? {
            '+' => EditOp::Add,
            '-' => EditOp::Remove,
            _ => return None,
        };
        Some((&name[..name.len() - 1], op))
    }
}

impl ItemEdit {
    /// The edit of one column: `items` (a list value) added or removed.
    pub fn of(op: EditOp, items: PropertyValue) -> ItemEdit {
        let none = PropertyValue::cleared(items.property_type()).expect("a list type");
        match op {
            EditOp::Add => ItemEdit {
                add: items,
                remove: none,
            },
            EditOp::Remove => ItemEdit {
                add: none,
                remove: items,
            },
        }
    }

    /// Another column's edit of the same property, in the same row (`Tags+` and `Tags-`).
    pub fn merge(&mut self, other: ItemEdit) {
        extend(&mut self.add, other.add);
        extend(&mut self.remove, other.remove);
    }
}

/// Appends the items of `more` to `list` (two list values of one type).
fn extend(list: &mut PropertyValue, more: PropertyValue) {
    match (list, more) {
        (PropertyValue::MultiSelect(a), PropertyValue::MultiSelect(b)) => a.extend(b),
        (PropertyValue::People(a), PropertyValue::People(b))
        | (PropertyValue::Relation(a), PropertyValue::Relation(b)) => a.extend(b),
        (PropertyValue::Files(a), PropertyValue::Files(b)) => a.extend(b),
        (list, more) => unreachable!("edits of one property have one type: {list:?}, {more:?}"),
    }
}

/// What a verification cell writes: `verified`, with an optional date or range (until when
/// the page counts as verified), or `unverified` (also what clearing writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Unverified,
    Verified(Option<DateValue>),
}

/// A date or date range; `time_zone` is set only for date-times written without an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateValue {
    pub start: String,
    pub end: Option<String>,
    pub time_zone: Option<String>,
}

/// A file of a files property, by URL: a link to a file hosted elsewhere, or a file Notion
/// hosts (its signed link), which is sent back as a `file` object so that Notion keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileItem {
    pub name: String,
    pub url: String,
    pub hosted: bool,
    /// A file the run copies into Notion (a local path, or `upload:` URL): sent as a
    /// `file_upload` once uploaded (`crate::mapping::file`).
    pub upload: Option<crate::mapping::file::Upload>,
}

impl FileItem {
    /// What names a Notion-hosted file across reads: its URL without the signature's query
    /// string, which changes with every read and expires within an hour.
    pub fn identity(url: &str) -> &str {
        url.split_once('?').map_or(url, |(base, _)| base)
    }

    /// A link Notion signed for a file it hosts: on its file hosts, or an S3 link signed with
    /// `X-Amz-Signature`. Written as an external link, it would stop working within an hour.
    pub fn is_notion_hosted(url: &str) -> bool {
        let Ok(parsed) = url::Url::parse(url) else {
            return false;
        };
        let host = parsed.host_str().unwrap_or_default();
        let signed = parsed
            .query_pairs()
            .any(|(k, _)| k.eq_ignore_ascii_case("X-Amz-Signature"));
        matches!(
            host,
            "prod-files-secure.s3.us-west-2.amazonaws.com" | "file.notion.so"
        ) || (host.ends_with(".amazonaws.com") && signed)
    }
}

impl PropertyValue {
    /// The cleared value of a writable type; `None` for read-only types.
    pub fn cleared(ty: PropertyType) -> Option<PropertyValue> {
        Some(match ty {
            PropertyType::Title => PropertyValue::Title(vec![]),
            PropertyType::RichText => PropertyValue::RichText(vec![]),
            PropertyType::Number => PropertyValue::Number(None),
            PropertyType::Select => PropertyValue::Select(None),
            PropertyType::Status => PropertyValue::Status(None),
            PropertyType::MultiSelect => PropertyValue::MultiSelect(vec![]),
            PropertyType::Date => PropertyValue::Date(None),
            PropertyType::Checkbox => PropertyValue::Checkbox(false),
            PropertyType::Url => PropertyValue::Url(None),
            PropertyType::Email => PropertyValue::Email(None),
            PropertyType::PhoneNumber => PropertyValue::PhoneNumber(None),
            PropertyType::People => PropertyValue::People(vec![]),
            PropertyType::Relation => PropertyValue::Relation(vec![]),
            PropertyType::Files => PropertyValue::Files(vec![]),
            PropertyType::Verification => PropertyValue::Verification(Verification::Unverified),
            _ => return None,
        })
    }

    /// The property type this value writes.
    pub fn property_type(&self) -> PropertyType {
        match self {
            PropertyValue::Title(_) => PropertyType::Title,
            PropertyValue::RichText(_) => PropertyType::RichText,
            PropertyValue::Number(_) => PropertyType::Number,
            PropertyValue::Select(_) => PropertyType::Select,
            PropertyValue::Status(_) => PropertyType::Status,
            PropertyValue::MultiSelect(_) => PropertyType::MultiSelect,
            PropertyValue::Date(_) => PropertyType::Date,
            PropertyValue::Checkbox(_) => PropertyType::Checkbox,
            PropertyValue::Url(_) => PropertyType::Url,
            PropertyValue::Email(_) => PropertyType::Email,
            PropertyValue::PhoneNumber(_) => PropertyType::PhoneNumber,
            PropertyValue::People(_) => PropertyType::People,
            PropertyValue::Relation(_) => PropertyType::Relation,
            PropertyValue::Files(_) => PropertyType::Files,
            PropertyValue::Verification(_) => PropertyType::Verification,
            PropertyValue::Edit(edit) => edit.add.property_type(),
        }
    }
}

/// `{"<type>": <value>}`: the value object Notion takes under `properties.<name>`. An edit not
/// yet made against the page shows as `{"<type>": {"add": [...], "remove": [...]}}`, which
/// `plan` prints and Notion would refuse (it is never sent).
impl Serialize for PropertyValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.property_type().as_str(), &Inner(self))?;
        map.end()
    }
}

/// The value under its type's key.
struct Inner<'a>(&'a PropertyValue);

impl Serialize for Inner<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            PropertyValue::Title(pieces) | PropertyValue::RichText(pieces) => {
                RichTextItems(pieces).serialize(serializer)
            }
            PropertyValue::Number(n) => n.serialize(serializer),
            PropertyValue::Select(name) | PropertyValue::Status(name) => {
                name.as_deref().map(Named).serialize(serializer)
            }
            PropertyValue::MultiSelect(names) => NamedList(names).serialize(serializer),
            PropertyValue::Date(date) => date.serialize(serializer),
            PropertyValue::Checkbox(b) => b.serialize(serializer),
            PropertyValue::Url(s) | PropertyValue::Email(s) | PropertyValue::PhoneNumber(s) => {
                s.serialize(serializer)
            }
            PropertyValue::People(ids) | PropertyValue::Relation(ids) => {
                IdList(ids).serialize(serializer)
            }
            PropertyValue::Files(files) => files.serialize(serializer),
            PropertyValue::Verification(v) => v.serialize(serializer),
            PropertyValue::Edit(edit) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("add", &Inner(&edit.add))?;
                map.serialize_entry("remove", &Inner(&edit.remove))?;
                map.end()
            }
        }
    }
}

/// `[{"name": ...}, ...]`
struct NamedList<'a>(&'a [String]);

impl Serialize for NamedList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|n| Named(n)))
    }
}

/// `[{"id": ...}, ...]`
struct IdList<'a>(&'a [NotionId]);

impl Serialize for IdList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|id| IdRef(*id)))
    }
}

/// `[{"type":"text","text":{"content":"..."}}, ...]`
struct RichTextItems<'a>(&'a [String]);

impl Serialize for RichTextItems<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|piece| TextItem(piece)))
    }
}

struct TextItem<'a>(&'a str);

impl Serialize for TextItem<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", "text")?;
        map.serialize_entry("text", &Content(self.0))?;
        map.end()
    }
}

struct Content<'a>(&'a str);

impl Serialize for Content<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("content", self.0)?;
        map.end()
    }
}

/// `{"name": "..."}`
struct Named<'a>(&'a str);

impl Serialize for Named<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("name", self.0)?;
        map.end()
    }
}

/// `{"id": "<dashed id>"}`
struct IdRef(NotionId);

impl Serialize for IdRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("id", &self.0)?;
        map.end()
    }
}

impl Serialize for DateValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("start", &self.start)?;
        map.serialize_entry("end", &self.end)?;
        if let Some(tz) = &self.time_zone {
            map.serialize_entry("time_zone", tz)?;
        }
        map.end()
    }
}

/// `{"state": "verified", "date"?: {…}}` or `{"state": "unverified"}`.
impl Serialize for Verification {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self {
            Verification::Unverified => map.serialize_entry("state", "unverified")?,
            Verification::Verified(date) => {
                map.serialize_entry("state", "verified")?;
                if let Some(date) = date {
                    map.serialize_entry("date", date)?;
                }
            }
        }
        map.end()
    }
}

impl Serialize for FileItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("name", &self.name)?;
        if let Some(upload) = &self.upload {
            map.serialize_entry("type", "file_upload")?;
            map.serialize_entry("file_upload", &upload.placeholder())?;
            return map.end();
        }
        let ty = if self.hosted { "file" } else { "external" };
        map.serialize_entry("type", ty)?;
        map.serialize_entry(ty, &Url(&self.url))?;
        map.end()
    }
}

/// `{"url": "..."}`
struct Url<'a>(&'a str);

impl Serialize for Url<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("url", self.0)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(n: u128) -> NotionId {
        NotionId::from_u128(n)
    }

    #[test]
    fn every_type_serialises_set_and_clear() {
        let cases = [
            (
                PropertyValue::Title(vec!["a".into(), "b".into()]),
                json!({"title": [{"type":"text","text":{"content":"a"}},{"type":"text","text":{"content":"b"}}]}),
            ),
            (
                PropertyValue::RichText(vec!["x".into()]),
                json!({"rich_text": [{"type":"text","text":{"content":"x"}}]}),
            ),
            (
                PropertyValue::Number(Some(42.into())),
                json!({"number": 42}),
            ),
            (
                PropertyValue::Select(Some("High".into())),
                json!({"select": {"name": "High"}}),
            ),
            (
                PropertyValue::Status(Some("Done".into())),
                json!({"status": {"name": "Done"}}),
            ),
            (
                PropertyValue::MultiSelect(vec!["a".into(), "b".into()]),
                json!({"multi_select": [{"name":"a"},{"name":"b"}]}),
            ),
            (
                PropertyValue::Date(Some(DateValue {
                    start: "2024-05-01".into(),
                    end: Some("2024-05-03".into()),
                    time_zone: None,
                })),
                json!({"date": {"start": "2024-05-01", "end": "2024-05-03"}}),
            ),
            (
                PropertyValue::Date(Some(DateValue {
                    start: "2024-05-01T09:00".into(),
                    end: None,
                    time_zone: Some("Europe/Paris".into()),
                })),
                json!({"date": {"start": "2024-05-01T09:00", "end": null, "time_zone": "Europe/Paris"}}),
            ),
            (PropertyValue::Checkbox(true), json!({"checkbox": true})),
            (
                PropertyValue::Url(Some("https://x.y".into())),
                json!({"url": "https://x.y"}),
            ),
            (
                PropertyValue::Email(Some("a@b.c".into())),
                json!({"email": "a@b.c"}),
            ),
            (
                PropertyValue::PhoneNumber(Some("+1 555".into())),
                json!({"phone_number": "+1 555"}),
            ),
            (
                PropertyValue::People(vec![id(1)]),
                json!({"people": [{"id": "00000000-0000-0000-0000-000000000001"}]}),
            ),
            (
                PropertyValue::Relation(vec![id(2)]),
                json!({"relation": [{"id": "00000000-0000-0000-0000-000000000002"}]}),
            ),
            (
                PropertyValue::Files(vec![FileItem {
                    name: "a.pdf".into(),
                    url: "https://x.y/a.pdf".into(),
                    hosted: false,
                    upload: None,
                }]),
                json!({"files": [{"name": "a.pdf", "type": "external", "external": {"url": "https://x.y/a.pdf"}}]}),
            ),
            (
                PropertyValue::Verification(Verification::Verified(None)),
                json!({"verification": {"state": "verified"}}),
            ),
            (
                PropertyValue::Verification(Verification::Verified(Some(DateValue {
                    start: "2026-12-01".into(),
                    end: Some("2027-06-01".into()),
                    time_zone: None,
                }))),
                json!({"verification": {"state": "verified", "date": {"start": "2026-12-01", "end": "2027-06-01"}}}),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(serde_json::to_value(&value).unwrap(), expected);
            let cleared = PropertyValue::cleared(value.property_type()).unwrap();
            assert_eq!(cleared.property_type(), value.property_type());
        }
        let clears = [
            (PropertyType::Title, json!({"title": []})),
            (PropertyType::RichText, json!({"rich_text": []})),
            (PropertyType::Number, json!({"number": null})),
            (PropertyType::Select, json!({"select": null})),
            (PropertyType::Status, json!({"status": null})),
            (PropertyType::MultiSelect, json!({"multi_select": []})),
            (PropertyType::Date, json!({"date": null})),
            (PropertyType::Checkbox, json!({"checkbox": false})),
            (PropertyType::Url, json!({"url": null})),
            (PropertyType::Email, json!({"email": null})),
            (PropertyType::PhoneNumber, json!({"phone_number": null})),
            (PropertyType::People, json!({"people": []})),
            (PropertyType::Relation, json!({"relation": []})),
            (PropertyType::Files, json!({"files": []})),
            (
                PropertyType::Verification,
                json!({"verification": {"state": "unverified"}}),
            ),
        ];
        for (ty, expected) in clears {
            let value = PropertyValue::cleared(ty).unwrap();
            assert_eq!(serde_json::to_value(&value).unwrap(), expected, "{ty}");
        }
        assert_eq!(PropertyValue::cleared(PropertyType::Formula), None);
    }
}
