//! A compared value in its canonical form (SPEC §9's equality rules), small enough to keep
//! for every page of a large data source: what the scan keeps of a page read, and what a row's
//! value becomes before the two are compared. The same form renders back as a request value
//! (for `--backup` and the JSONL export), a CSV cell (for the CSV export) and a plain JSON
//! value (for `plan`'s changes).

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::{json, Value};

use crate::mapping::body::canonical_json;
use crate::notion::page_read::{plain_text, rich_text_item};
use crate::notion::{NotionId, PropertyType};

/// What a compared field is: a property of a type, or a page-level field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Property(PropertyType),
    Icon,
    Cover,
    InTrash,
    IsLocked,
}

/// One value in canonical form. Kept small (24 bytes plus its text) for SPEC §8.6.
#[derive(Debug, Clone, PartialEq)]
pub enum Current {
    /// title / rich_text made only of plain text runs: the text.
    Text(Box<str>),
    /// title / rich_text with formatting, links, mentions or equations: the plain text, and
    /// the items in request shape (canonical JSON).
    Rich(Box<(Box<str>, Box<str>)>),
    Number(Option<f64>),
    /// select / status: `name` NUL `id` (either may be empty); `None`: no option.
    Choice(Option<Box<str>>),
    /// multi_select: option names, in the page's order.
    Names(Box<[Box<str>]>),
    Date(Option<Box<DateCur>>),
    Bool(bool),
    /// url, email, phone_number; an empty string is `None`.
    Str(Option<Box<str>>),
    /// people, relation, in the page's order.
    Ids(Box<[NotionId]>),
    Files(Box<[FileCur]>),
    /// icon, cover: the request shape as canonical JSON; `None`: none.
    Json(Option<Box<str>>),
    /// verification: verified, with its date when it has one (Notion's `expired` is a
    /// verification whose date has passed: verified with that date).
    Verified(Option<Box<DateCur>>),
    /// verification: unverified (also a page that never had one).
    Unverified,
    /// A row already sent writes this field, so its value is no longer known: never equal.
    Unknown,
}

/// A date value as Notion holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateCur {
    pub start: Box<str>,
    pub end: Option<Box<str>>,
    pub time_zone: Option<Box<str>>,
}

/// One file of a files property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCur {
    pub name: Box<str>,
    pub url: Box<str>,
    /// Hosted by Notion: its URL's signature changes with every read and expires, so it is
    /// compared by its URL without the signature.
    pub hosted: bool,
}

impl FileCur {
    /// What names the file across reads: the URL, without its signature when Notion hosts it.
    pub fn identity(&self) -> &str {
        match self.hosted {
            true => crate::mapping::FileItem::identity(&self.url),
            false => &self.url,
        }
    }
}

impl Current {
    /// Reads a value in the shape a page read returns it or a request sends it: for a
    /// property, the value under its type's key (`page.properties.Status.status`); for a
    /// page-level field, the field's value.
    pub fn read(kind: Kind, value: &Value) -> Result<Current, String> {
        let ty = match kind {
            Kind::Icon | Kind::Cover => return Ok(Current::Json(image(value))),
            Kind::InTrash | Kind::IsLocked => {
                return Ok(Current::Bool(value.as_bool() == Some(true)))
            }
            Kind::Property(ty) => ty,
        };
        let list = || value.as_array().map(Vec::as_slice).unwrap_or_default();
        Ok(match ty {
            PropertyType::Title | PropertyType::RichText => rich(list()),
            PropertyType::Number => Current::Number(value.as_f64()),
            PropertyType::Select | PropertyType::Status => Current::Choice(match value {
                Value::Null => None,
                v => Some(
                    format!(
                        "{}\0{}",
                        v["name"].as_str().unwrap_or_default(),
                        v["id"].as_str().unwrap_or_default()
                    )
                    .into(),
                ),
            }),
            PropertyType::MultiSelect => Current::Names(
                list()
                    .iter()
                    .map(|o| o["name"].as_str().unwrap_or_default().into())
                    .collect(),
            ),
            PropertyType::Date => Current::Date(date_cur(value)?),
            PropertyType::Verification => match value["state"].as_str() {
                Some("verified") | Some("expired") => Current::Verified(date_cur(&value["date"])?),
                _ => Current::Unverified,
            },
            PropertyType::Checkbox => Current::Bool(value.as_bool() == Some(true)),
            PropertyType::Url | PropertyType::Email | PropertyType::PhoneNumber => {
                Current::Str(value.as_str().filter(|s| !s.is_empty()).map(Into::into))
            }
            PropertyType::People | PropertyType::Relation => Current::Ids(
                list()
                    .iter()
                    .map(|o| {
                        o["id"]
                            .as_str()
                            .and_then(|id| NotionId::parse(id).ok())
                            .ok_or_else(|| format!("an item without an id: {o}"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            PropertyType::Files => Current::Files(list().iter().map(file).collect()),
            other => return Err(format!("{other} values are not compared (read-only)")),
        })
    }

    /// Whether a row's value (`self`) equals the current one. `native`: the row's value came
    /// from a native JSONL line, so text is compared with its links and annotations; from a
    /// CSV cell or a flat value, text is compared as plain text.
    pub fn same(&self, current: &Current, native: bool) -> bool {
        use Current::*;
        match (self, current) {
            (Unknown, _) | (_, Unknown) => false,
            (Text(a), Text(b)) => a == b,
            (Text(a), Rich(b)) if !native => **a == *b.0,
            (Rich(a), Rich(b)) if native => a.1 == b.1,
            (Rich(a), Rich(b)) => a.0 == b.0,
            (Rich(a), Text(b)) if !native => *a.0 == **b,
            (Number(a), Number(b)) => a == b,
            (Choice(a), Choice(b)) => match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => {
                    let (an, ai) = a.split_once('\0').unwrap_or((a, ""));
                    let (bn, bi) = b.split_once('\0').unwrap_or((b, ""));
                    if !an.is_empty() {
                        an == bn
                    } else {
                        !ai.is_empty() && ai == bi
                    }
                }
                _ => false,
            },
            (Names(a), Names(b)) => sorted(a) == sorted(b),
            (Ids(a), Ids(b)) => sorted(a) == sorted(b),
            (Date(a), Date(b)) | (Verified(a), Verified(b)) => same_date(a, b),
            (Unverified, Unverified) => true,
            (Files(a), Files(b)) => {
                a.len() == b.len()
                    && a.iter().zip(b.iter()).all(|(x, y)| {
                        x.name == y.name && x.hosted == y.hosted && x.identity() == y.identity()
                    })
            }
            (Bool(a), Bool(b)) => a == b,
            (Str(a), Str(b)) => a == b,
            (Json(a), Json(b)) => a == b,
            _ => false,
        }
    }

    /// The value in the shape a request sends it (under the type's key for a property), and
    /// that a page read's `request_value` leaves as it is.
    pub fn to_request(&self) -> Value {
        match self {
            Current::Text(text) => {
                let pieces = crate::mapping::text::split_text(text);
                Value::Array(
                    pieces
                        .into_iter()
                        .map(|p| json!({"type": "text", "text": {"content": p}}))
                        .collect(),
                )
            }
            Current::Rich(rich) => serde_json::from_str(&rich.1).expect("stored as JSON"),
            Current::Number(n) => match n {
                None => Value::Null,
                // Whole numbers as integers (Notion writes 7, not 7.0).
                Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => json!(*n as i64),
                Some(n) => json!(n),
            },
            Current::Choice(c) => match c {
                None => Value::Null,
                Some(c) => {
                    let (name, id) = c.split_once('\0').unwrap_or((c, ""));
                    if name.is_empty() {
                        json!({ "id": id })
                    } else {
                        json!({ "name": name })
                    }
                }
            },
            Current::Names(names) => names.iter().map(|n| json!({ "name": &**n })).collect(),
            Current::Date(d) => d.as_deref().map_or(Value::Null, date_request),
            Current::Verified(d) => {
                let mut v = json!({"state": "verified"});
                if let Some(d) = d {
                    v["date"] = date_request(d);
                }
                v
            }
            Current::Unverified => json!({"state": "unverified"}),
            Current::Bool(b) => json!(b),
            Current::Str(s) => s.as_deref().map_or(Value::Null, |s| json!(s)),
            Current::Ids(ids) => ids.iter().map(|id| json!({"id": id.to_string()})).collect(),
            Current::Files(files) => files
                .iter()
                .map(|f| {
                    if f.hosted {
                        json!({"name": &*f.name, "type": "file", "file": {"url": &*f.url}})
                    } else {
                        json!({"name": &*f.name, "type": "external", "external": {"url": &*f.url}})
                    }
                })
                .collect(),
            Current::Json(j) => j.as_deref().map_or(Value::Null, |j| {
                serde_json::from_str(j).expect("stored as JSON")
            }),
            Current::Unknown => Value::Null,
        }
    }

    /// A plain JSON form for people reading `plan`: text as text, options by name, lists as
    /// lists, a date as `start[/end][ time zone]`.
    pub fn display(&self) -> Value {
        match self {
            Current::Text(t) => json!(&**t),
            Current::Rich(r) => json!(&*r.0),
            Current::Choice(Some(c)) => {
                let (name, id) = c.split_once('\0').unwrap_or((c, ""));
                json!(if name.is_empty() { id } else { name })
            }
            Current::Names(n) => n.iter().map(|n| json!(&**n)).collect(),
            Current::Ids(ids) => ids.iter().map(|id| json!(id.to_string())).collect(),
            Current::Files(f) => f.iter().map(|f| json!(&*f.name)).collect(),
            Current::Date(Some(_)) | Current::Verified(_) | Current::Unverified => {
                json!(self.cell(';'))
            }
            Current::Json(Some(j)) => serde_json::from_str(j).expect("stored as JSON"),
            Current::Unknown => json!("(changed by an earlier row)"),
            other => other.to_request(),
        }
    }

    /// The value as a CSV cell in SPEC §3's syntax, which the CSV mapper reads back to an
    /// equal value. A date-time with a time zone is written `start[/end][Zone]`.
    pub fn cell(&self, separator: char) -> String {
        let join = |items: Vec<String>| items.join(&separator.to_string());
        match self {
            Current::Text(t) => t.to_string(),
            Current::Rich(r) => r.0.to_string(),
            Current::Number(n) => n.map(|n| n.to_string()).unwrap_or_default(),
            Current::Choice(Some(c)) => c.split_once('\0').map_or(&**c, |(n, _)| n).to_owned(),
            Current::Names(n) => join(n.iter().map(|n| n.to_string()).collect()),
            Current::Date(Some(d)) => date_cell(d),
            Current::Verified(None) => "verified".to_owned(),
            Current::Verified(Some(d)) => format!("verified {}", date_cell(d)),
            Current::Unverified => "unverified".to_owned(),
            Current::Bool(b) => b.to_string(),
            Current::Str(s) => s.as_deref().unwrap_or_default().to_owned(),
            Current::Ids(ids) => join(ids.iter().map(|i| i.to_string()).collect()),
            Current::Files(f) => join(f.iter().map(|f| f.url.to_string()).collect()),
            _ => String::new(),
        }
    }
}

/// A date as a page read or a request holds it (`{start, end?, time_zone?}`, or null).
fn date_cur(value: &Value) -> Result<Option<Box<DateCur>>, String> {
    Ok(match value {
        Value::Null => None,
        v => Some(Box::new(DateCur {
            start: v["start"].as_str().ok_or("a date without a start")?.into(),
            end: v["end"].as_str().map(Into::into),
            time_zone: v["time_zone"].as_str().map(Into::into),
        })),
    })
}

/// Two dates (or none) by SPEC §9's rules: each end by its instant, the time zone as written.
fn same_date(a: &Option<Box<DateCur>>, b: &Option<Box<DateCur>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            same_point(&a.start, &b.start)
                && match (&a.end, &b.end) {
                    (None, None) => true,
                    (Some(x), Some(y)) => same_point(x, y),
                    _ => false,
                }
                && a.time_zone == b.time_zone
        }
        _ => false,
    }
}

/// A date in request shape: `{start, end}`, with `time_zone` when it has one.
fn date_request(d: &DateCur) -> Value {
    let mut v = json!({"start": &*d.start, "end": d.end.as_deref()});
    if let Some(tz) = &d.time_zone {
        v["time_zone"] = json!(&**tz);
    }
    v
}

/// A date as a cell: `start[/end][Zone]`.
fn date_cell(d: &DateCur) -> String {
    let mut text = d.start.to_string();
    if let Some(end) = &d.end {
        text.push('/');
        text.push_str(end);
    }
    if let Some(tz) = &d.time_zone {
        text.push('[');
        text.push_str(tz);
        text.push(']');
    }
    text
}

/// Title and rich text: plain runs keep only their text; anything else keeps its items.
fn rich(items: &[Value]) -> Current {
    let plain: String = items
        .iter()
        .map(|i| {
            i["plain_text"]
                .as_str()
                .or_else(|| i["text"]["content"].as_str())
                .or_else(|| i["equation"]["expression"].as_str())
                .unwrap_or_default()
        })
        .collect();
    let array = Value::Array(items.to_vec());
    if plain_text(&array).is_some() {
        return Current::Text(plain.into());
    }
    let shaped: Vec<Value> = items.iter().map(rich_text_item).collect();
    Current::Rich(Box::new((
        plain.into(),
        canonical_json(&Value::Array(shaped)).into(),
    )))
}

fn file(f: &Value) -> FileCur {
    let name = f["name"].as_str().unwrap_or_default().into();
    match (f.get("external"), f.get("file")) {
        (Some(e), _) if !e.is_null() => FileCur {
            name,
            url: e["url"].as_str().unwrap_or_default().into(),
            hosted: false,
        },
        (_, Some(h)) if !h.is_null() => FileCur {
            name,
            url: h["url"].as_str().unwrap_or_default().into(),
            hosted: true,
        },
        _ => FileCur {
            name,
            url: "".into(),
            hosted: true,
        },
    }
}

/// An icon or cover as `{"type": T, T: ...}` (a Notion-hosted image by its URL alone).
fn image(value: &Value) -> Option<Box<str>> {
    let map = value.as_object()?;
    let ty = map
        .get("type")
        .and_then(Value::as_str)
        .or_else(|| map.keys().find(|k| *k != "type").map(String::as_str))?;
    let inner = match ty {
        "file" => json!({"url": map[ty]["url"]}),
        _ => map.get(ty).cloned().unwrap_or(Value::Null),
    };
    Some(canonical_json(&json!({"type": ty, ty: inner})).into())
}

fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort();
    v.dedup();
    v
}

/// One end of a date: a day, an instant (with an offset), or a local time (no offset).
#[derive(Debug, PartialEq, Eq)]
enum Point {
    Day(NaiveDate),
    Instant(i64, u32),
    Local(NaiveDateTime),
}

fn point(text: &str) -> Option<Point> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(Point::Day(day));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(Point::Instant(t.timestamp(), t.timestamp_subsec_nanos()));
    }
    let text = text.replace(' ', "T");
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&text, format) {
            return Some(Point::Local(t));
        }
    }
    None
}

fn same_point(a: &str, b: &str) -> bool {
    match (point(a), point(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(ty: PropertyType, v: Value) -> Current {
        Current::read(Kind::Property(ty), &v).unwrap()
    }

    #[test]
    fn numbers_by_value() {
        let a = read(PropertyType::Number, json!(12.5));
        let b = read(PropertyType::Number, json!(12.50));
        assert!(a.same(&b, false));
        assert!(!a.same(&read(PropertyType::Number, json!(12.4)), false));
        assert!(!a.same(&read(PropertyType::Number, Value::Null), false));
    }

    #[test]
    fn text_plain_from_cells_and_exact_from_native_lines() {
        let formatted = read(
            PropertyType::Title,
            json!([{"type": "text", "text": {"content": "Ship", "link": null}, "annotations": {"bold": true, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": "Ship", "href": null}, {"type": "text", "text": {"content": " it"}, "plain_text": " it"}]),
        );
        let cell = read(
            PropertyType::Title,
            json!([{"type": "text", "text": {"content": "Ship it"}}]),
        );
        assert!(cell.same(&formatted, false));
        assert!(!cell.same(&formatted, true));
        let native = read(PropertyType::Title, formatted.to_request());
        assert!(native.same(&formatted, true));
        let plain = read(
            PropertyType::RichText,
            json!([{"type": "text", "text": {"content": "a"}, "plain_text": "a"}]),
        );
        assert_eq!(plain, Current::Text("a".into()));
    }

    #[test]
    fn sets_dates_files_and_empty_strings() {
        let tags = |t: &[&str]| {
            read(
                PropertyType::MultiSelect,
                t.iter().map(|n| json!({"name": n})).collect(),
            )
        };
        assert!(tags(&["a", "b"]).same(&tags(&["b", "a"]), false));
        assert!(!tags(&["a"]).same(&tags(&["a", "b"]), false));
        let date = |s: &str, tz: Option<&str>| {
            read(
                PropertyType::Date,
                json!({"start": s, "end": null, "time_zone": tz}),
            )
        };
        assert!(date("2024-05-01T09:00:00+02:00", None)
            .same(&date("2024-05-01T07:00:00.000Z", None), false));
        assert!(!date("2024-05-01T09:00:00+02:00", None)
            .same(&date("2024-05-01T09:00:00Z", None), false));
        assert!(date("2024-05-01", None).same(&date("2024-05-01", None), false));
        assert!(!date("2024-05-01", None).same(&date("2024-05-01T00:00:00Z", None), false));
        assert!(!date("2024-05-01T09:00", Some("Europe/Paris"))
            .same(&date("2024-05-01T09:00", Some("Europe/Berlin")), false));
        let url = |v: Value| read(PropertyType::Url, v);
        assert!(url(json!("")).same(&url(Value::Null), false));
        let hosted = read(
            PropertyType::Files,
            json!([{"name": "a.pdf", "type": "file", "file": {"url": "https://s3/a?sig=1", "expiry_time": "x"}}]),
        );
        let again = read(
            PropertyType::Files,
            json!([{"name": "a.pdf", "type": "file", "file": {"url": "https://s3/a?sig=2"}}]),
        );
        assert!(again.same(&hosted, true));
        let select = |v: Value| read(PropertyType::Select, v);
        assert!(select(json!({"id": "x"})).same(&select(json!({"name": "High", "id": "x"})), false));
        assert!(select(json!({"name": "High"}))
            .same(&select(json!({"name": "High", "id": "x"})), false));
    }

    #[test]
    fn cells_read_back() {
        let d = read(
            PropertyType::Date,
            json!({"start": "2024-05-01T09:00", "end": "2024-05-01T10:00", "time_zone": "Europe/Paris"}),
        );
        assert_eq!(
            d.cell(';'),
            "2024-05-01T09:00/2024-05-01T10:00[Europe/Paris]"
        );
        assert_eq!(read(PropertyType::Number, json!(3)).cell(';'), "3");
        assert_eq!(read(PropertyType::Number, json!(12.5)).cell(';'), "12.5");
        let verified = read(
            PropertyType::Verification,
            json!({"state": "expired", "verified_by": {"object": "user", "id": "x"}, "date": {"start": "2026-01-01", "end": "2026-02-01", "time_zone": null}}),
        );
        assert_eq!(verified.cell(';'), "verified 2026-01-01/2026-02-01");
        let sent = read(PropertyType::Verification, verified.to_request());
        assert!(sent.same(&verified, false));
        let unverified = read(PropertyType::Verification, Value::Null);
        assert_eq!(unverified.cell(';'), "unverified");
        assert!(!unverified.same(
            &read(PropertyType::Verification, json!({"state": "verified"})),
            false
        ));
    }
}
