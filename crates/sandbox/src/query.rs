//! Data source queries from the API's side: the body of `POST /v1/data_sources/{id}/query` (and
//! of the 2022-06-28 database query) checked and parsed against the data source's schema into a
//! [`Query`] — property and timestamp filters, `and`/`or` two levels deep, sorts, `page_size`,
//! `start_cursor` — and evaluated against pages: which match, in which order, where a cursor
//! resumes. It reads pages through a [`Workspace`] and knows nothing of how the store keeps them.

use super::canonical::canonical_json;
use super::error::ApiError;
use super::model::{
    normalize_id, parse_date, plain_text, DataSource, Page, PropSchema, PropType, Workspace,
    STATUS_GROUPS,
};
use super::validate::{array, boolean, object, one_of, only_keys, required, string, trash_flag};
use super::version::ApiVersion;
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;

/// Most results one query pages through (Notion's cap since 2026-04).
pub(crate) const DEFAULT_QUERY_CAP: usize = 10_000;
/// Default and largest `page_size`.
const MAX_PAGE_SIZE: usize = 100;
/// The most filters one `and` or `or` holds.
const MAX_FILTER_ITEMS: usize = 100;

/// A checked query on one data source.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    data_source_id: String,
    filter: Option<Filter>,
    sorts: Vec<Sort>,
    pub(crate) page_size: usize,
    /// The cursor as sent (a UUID, dashed).
    start_cursor: Option<String>,
    /// Pages in the trash instead of the others (`in_trash: true`, or `archived: true`).
    in_trash: bool,
    /// `result_type: "data_source"`: only child data sources, of which there are none.
    data_sources_only: bool,
    /// XORed with a page id to make a cursor; derived from what defines the query.
    mask: [u8; 16],
    /// Whether a relative date condition makes the results depend on the time of asking.
    uses_now: bool,
}

#[derive(Debug, Clone)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Leaf(Leaf),
}

#[derive(Debug, Clone)]
struct Leaf {
    target: Target,
    cond: Cond,
}

/// What a leaf filter reads.
#[derive(Debug, Clone)]
enum Target {
    Property {
        id: String,
        kind: PropType,
        /// formula: the result type the sub-filter names (`string`, `checkbox`, `number`, `date`).
        formula: Option<&'static str>,
    },
    CreatedTime,
    LastEditedTime,
}

/// A condition on a [`Cell`].
#[derive(Debug, Clone)]
enum Cond {
    Text(TextOp, String),
    Number(NumOp, f64),
    Checkbox(bool),
    /// select/status `equals` (any of the names) or `does_not_equal` (none of them).
    Option {
        names: Vec<String>,
        negate: bool,
    },
    /// multi_select `contains` (any of the names) or `does_not_contain` (none of them).
    Contains {
        names: Vec<String>,
        negate: bool,
    },
    /// people/relation `contains` or `does_not_contain` an id.
    Id {
        id: String,
        negate: bool,
    },
    Date(DateCond),
    /// `is_empty` (true) or `is_not_empty` (false).
    Empty(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TextOp {
    Equals,
    DoesNotEqual,
    Contains,
    DoesNotContain,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NumOp {
    Equals,
    DoesNotEqual,
    GreaterThan,
    LessThan,
    GreaterThanOrEqualTo,
    LessThanOrEqualTo,
}

#[derive(Debug, Clone)]
enum DateCond {
    /// equals, before, after, on_or_before, on_or_after: the value's start compared with a day
    /// (a date-only filter value, in UTC) or an instant (millisecond precision).
    Compare(Ordering, bool, DateBound),
    /// The relative conditions (`past_week`, `this_week`, …): start within `[from, to]`.
    Within(DateTime<Utc>, DateTime<Utc>),
}

#[derive(Debug, Clone, Copy)]
enum DateBound {
    Day(NaiveDate),
    Instant(DateTime<Utc>),
}

#[derive(Debug, Clone)]
struct Sort {
    target: SortTarget,
    descending: bool,
}

#[derive(Debug, Clone)]
enum SortTarget {
    Property(String),
    CreatedTime,
    LastEditedTime,
}

/// A page's value as filters see it.
enum Cell {
    Text(String),
    Number(Option<f64>),
    Bool(bool),
    Names(Vec<String>),
    Date(Option<DateTime<Utc>>),
    Ids(Vec<String>),
    Count(usize),
}

const TEXT_OPS: [&str; 8] = [
    "equals",
    "does_not_equal",
    "contains",
    "does_not_contain",
    "starts_with",
    "ends_with",
    "is_empty",
    "is_not_empty",
];
const NUMBER_OPS: [&str; 8] = [
    "equals",
    "does_not_equal",
    "greater_than",
    "less_than",
    "greater_than_or_equal_to",
    "less_than_or_equal_to",
    "is_empty",
    "is_not_empty",
];
const CHECKBOX_OPS: [&str; 2] = ["equals", "does_not_equal"];
const OPTION_OPS: [&str; 4] = ["equals", "does_not_equal", "is_empty", "is_not_empty"];
const CONTAINS_OPS: [&str; 4] = ["contains", "does_not_contain", "is_empty", "is_not_empty"];
const EXISTENCE_OPS: [&str; 2] = ["is_empty", "is_not_empty"];
const DATE_OPS: [&str; 14] = [
    "equals",
    "before",
    "after",
    "on_or_before",
    "on_or_after",
    "this_week",
    "past_week",
    "past_month",
    "past_year",
    "next_week",
    "next_month",
    "next_year",
    "is_empty",
    "is_not_empty",
];
const FORMULA_KINDS: [&str; 4] = ["string", "checkbox", "number", "date"];

/// Every filter key a property filter may carry (the property types filters know).
const FILTER_KEYS: [&str; 22] = [
    "title",
    "rich_text",
    "number",
    "checkbox",
    "select",
    "multi_select",
    "status",
    "date",
    "people",
    "files",
    "url",
    "email",
    "phone_number",
    "relation",
    "created_by",
    "created_time",
    "last_edited_by",
    "last_edited_time",
    "formula",
    "unique_id",
    "rollup",
    "verification",
];

/// A property named in a filter, a sort or `filter_properties` that the data source lacks.
pub(crate) fn unknown_property(name: &str) -> ApiError {
    ApiError::validation(format!("Could not find property with name or id: {name}"))
}

impl Query {
    /// Check a query body for `ds` under `version`; relative date filters are taken from `now`.
    pub(crate) fn parse(
        body: &Value,
        ds: &DataSource,
        version: ApiVersion,
        now: DateTime<Utc>,
    ) -> Result<Query, ApiError> {
        let m = object(body, "body")?;
        let mut allowed = vec!["filter", "sorts", "start_cursor", "page_size", "in_trash"];
        if version.has_archived() {
            allowed.push("archived");
        }
        if version.has_data_sources() {
            allowed.push("result_type");
        }
        only_keys(m, &allowed, "body")?;

        let filter = match m.get("filter") {
            None => None,
            Some(f) => Some(parse_filter(f, ds, "body.filter", 0, version, now)?),
        };
        let uses_now = filter.as_ref().is_some_and(Filter::uses_now);
        let sorts = match m.get("sorts") {
            None => Vec::new(),
            Some(s) => {
                let items = array(s, "body.sorts")?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(parse_sort(item, ds, &format!("body.sorts[{i}]"))?);
                }
                out
            }
        };
        let page_size = match m.get("page_size") {
            None => MAX_PAGE_SIZE,
            Some(v) => {
                let n = v
                    .as_f64()
                    .ok_or_else(|| ApiError::body("body.page_size", "a number", Some(v)))?;
                if n.fract() != 0.0 {
                    return Err(ApiError::body("body.page_size", "an integer", Some(v)));
                }
                if n < 1.0 {
                    return Err(ApiError::body("body.page_size", "≥ `1`", Some(v)));
                }
                if n > MAX_PAGE_SIZE as f64 {
                    return Err(ApiError::body("body.page_size", "≤ `100`", Some(v)));
                }
                n as usize
            }
        };
        let start_cursor =
            match m.get("start_cursor") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let s = string(v, "body.start_cursor")?;
                    Some(normalize_id(s).ok_or_else(|| {
                        ApiError::body("body.start_cursor", "a valid uuid", Some(v))
                    })?)
                }
            };
        let in_trash = trash_flag(m)?.unwrap_or(false);
        let data_sources_only = match m.get("result_type") {
            None => false,
            Some(v) => match string(v, "body.result_type")? {
                "page" => false,
                "data_source" => true,
                _ => {
                    return Err(ApiError::body(
                        "body.result_type",
                        &one_of(&["page", "data_source"]),
                        Some(v),
                    ))
                }
            },
        };
        // A query is defined by its filter and sorts (and what it selects from), not by its
        // page size or cursor: cursors are valid only for the query that gave them.
        let defining = json!({
            "data_source": ds.id,
            // Status groups match under some versions only: the same filter can select
            // other pages.
            "version": version.as_str(),
            "filter": m.get("filter"),
            "sorts": m.get("sorts"),
            "in_trash": in_trash,
            "result_type": m.get("result_type"),
        });
        let digest = Sha256::digest(canonical_json(&defining).as_bytes());
        let mut mask = [0u8; 16];
        mask.copy_from_slice(&digest[..16]);
        Ok(Query {
            data_source_id: ds.id.clone(),
            filter,
            sorts,
            page_size,
            start_cursor,
            in_trash,
            data_sources_only,
            mask,
            uses_now,
        })
    }

    /// The cursor that resumes this query at `page`.
    pub(crate) fn cursor(&self, page: &Page) -> String {
        let hex: String = uuid_bytes(&page.id)
            .iter()
            .zip(self.mask)
            .map(|(b, m)| format!("{:02x}", b ^ m))
            .collect();
        normalize_id(&hex).unwrap_or(hex)
    }

    /// The page a cursor of this query names, if it is one.
    fn cursor_page<'w>(&self, ws: &'w dyn Workspace, cursor: &str) -> Option<&'w Page> {
        let hex: String = uuid_bytes(cursor)
            .iter()
            .zip(self.mask)
            .map(|(b, m)| format!("{:02x}", b ^ m))
            .collect();
        let id = normalize_id(&hex)?;
        ws.page(&id)
            .filter(|p| p.data_source_id == self.data_source_id)
    }

    /// The pages that match, in the query's order: by the sorts, then by a hash of the page id
    /// (so that unsorted results have no relation to the order pages were made in).
    pub(crate) fn run<'p>(
        &self,
        ws: &dyn Workspace,
        pages: impl Iterator<Item = &'p Page>,
    ) -> Vec<Ranked> {
        if self.data_sources_only {
            return Vec::new();
        }
        let Some(ds) = ws.data_source(&self.data_source_id) else {
            return Vec::new();
        };
        let mut out: Vec<Ranked> = pages
            .filter(|p| p.data_source_id == self.data_source_id && p.in_trash == self.in_trash)
            .filter(|p| self.filter.as_ref().is_none_or(|f| f.matches(ds, p)))
            .map(|p| self.rank(ws, ds, p))
            .collect();
        out.sort_by(|a, b| self.compare(a, b));
        out
    }

    /// Where the query resumes in `ranked` (the result of [`Query::run`]): 0 without a cursor,
    /// else the position of the cursor's page (or where it would be, had it changed since).
    pub(crate) fn start(&self, ws: &dyn Workspace, ranked: &[Ranked]) -> Result<usize, ApiError> {
        let Some(cursor) = &self.start_cursor else {
            return Ok(0);
        };
        let page = self.cursor_page(ws, cursor).ok_or_else(|| {
            ApiError::validation(format!("The start_cursor provided is invalid: {cursor}"))
        })?;
        let Some(ds) = ws.data_source(&self.data_source_id) else {
            return Ok(ranked.len());
        };
        let at = self.rank(ws, ds, page);
        Ok(ranked.partition_point(|r| self.compare(r, &at) == Ordering::Less))
    }

    fn rank(&self, ws: &dyn Workspace, ds: &DataSource, page: &Page) -> Ranked {
        let keys = self
            .sorts
            .iter()
            .map(|s| match &s.target {
                SortTarget::CreatedTime => Key::Time(page.created_time.timestamp_millis()),
                SortTarget::LastEditedTime => Key::Time(page.last_edited_time.timestamp_millis()),
                SortTarget::Property(id) => ds
                    .properties
                    .iter()
                    .find(|p| &p.id == id)
                    .map_or(Key::Missing, |prop| sort_key(ws, page, prop)),
            })
            .collect();
        Ranked {
            keys,
            hash: id_hash(&page.id),
            id: page.id.clone(),
        }
    }

    fn compare(&self, a: &Ranked, b: &Ranked) -> Ordering {
        for (i, sort) in self.sorts.iter().enumerate() {
            let ord = match (&a.keys[i], &b.keys[i]) {
                (Key::Missing, Key::Missing) => Ordering::Equal,
                // Empty values come last whichever the direction, as in Notion's views.
                (Key::Missing, _) => Ordering::Greater,
                (_, Key::Missing) => Ordering::Less,
                (x, y) => {
                    let ord = x.cmp_present(y);
                    if sort.descending {
                        ord.reverse()
                    } else {
                        ord
                    }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.hash.cmp(&b.hash).then_with(|| a.id.cmp(&b.id))
    }
}

/// A matching page (by id) with its sort keys.
#[derive(Debug)]
pub(crate) struct Ranked {
    keys: Vec<Key>,
    hash: u64,
    pub(crate) id: String,
}

/// How many queries' results [`Cache`] keeps.
const CACHED_QUERIES: usize = 8;

/// Which version of the pages results were computed for: a counter of changes and the number
/// of pages.
pub(crate) type PagesVersion = (u64, usize);

/// The ordered results of recent queries, so that paging through a large data source costs a
/// lookup per request rather than a filter and a sort. An entry is valid for one version of the
/// pages, which the caller names; a query with a relative date condition is never kept, as its
/// results move with the clock.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    version: PagesVersion,
    entries: VecDeque<([u8; 16], Arc<Vec<Ranked>>)>,
}

impl Cache {
    /// The results of `query` for pages at `version`, from the cache or from `run`.
    pub(crate) fn results(
        &mut self,
        query: &Query,
        version: PagesVersion,
        run: impl FnOnce() -> Vec<Ranked>,
    ) -> Arc<Vec<Ranked>> {
        if query.uses_now {
            return Arc::new(run());
        }
        if self.version != version {
            self.entries.clear();
            self.version = version;
        }
        if let Some((_, hit)) = self.entries.iter().find(|(mask, _)| *mask == query.mask) {
            return hit.clone();
        }
        let fresh = Arc::new(run());
        if self.entries.len() == CACHED_QUERIES {
            self.entries.pop_front();
        }
        self.entries.push_back((query.mask, fresh.clone()));
        fresh
    }
}

/// One sort key of a page.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Missing,
    Number(f64),
    Text(String),
    Time(i64),
}

impl Key {
    fn cmp_present(&self, other: &Key) -> Ordering {
        match (self, other) {
            (Key::Number(a), Key::Number(b)) => a.total_cmp(b),
            (Key::Text(a), Key::Text(b)) => a.cmp(b),
            (Key::Time(a), Key::Time(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }
}

/// The 16 bytes of a dashed UUID (zeros for anything else).
fn uuid_bytes(id: &str) -> [u8; 16] {
    let hex: Vec<u8> = id.bytes().filter(|b| *b != b'-').collect();
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).take(16).enumerate() {
        out[i] = std::str::from_utf8(pair)
            .ok()
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .unwrap_or(0);
    }
    out
}

/// A stable 64-bit hash of a page id (FNV-1a, then a mixing finaliser).
fn id_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The property ids `filter_properties` names in a raw query string, in schema order; `None`
/// when it names none. Each value is percent-decoded once, as a query string is, and must then
/// be a property name or a property id decoded (ids arrive as the API shows them, already
/// URL-encoded: `a%3Fb` names the property whose id is shown as `a%3Fb`, while `a%253Fb` names
/// nothing). Both `filter_properties=` and `filter_properties[]=` are accepted; any other
/// parameter is refused, as Notion refuses `start_cursor` in the query string.
pub(crate) fn filter_properties(
    raw: Option<&str>,
    ds: &DataSource,
) -> Result<Option<Vec<String>>, ApiError> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut wanted: Vec<String> = Vec::new();
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (decode(key), decode(value));
        if key != "filter_properties" && key != "filter_properties[]" {
            return Err(ApiError::validation(format!(
                "query failed validation: query.{key} should be not present, instead was `{}`.",
                Value::String(value)
            )));
        }
        let prop = ds
            .properties
            .iter()
            .find(|p| p.name == value)
            .or_else(|| {
                ds.properties.iter().find(|p| {
                    percent_decode_str(&p.id)
                        .decode_utf8()
                        .is_ok_and(|id| id == value)
                })
            })
            .ok_or_else(|| unknown_property(&value))?;
        if !wanted.contains(&prop.id) {
            wanted.push(prop.id.clone());
        }
    }
    if wanted.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        ds.properties
            .iter()
            .filter(|p| wanted.contains(&p.id))
            .map(|p| p.id.clone())
            .collect(),
    ))
}

// ---- parsing ----

fn parse_filter(
    v: &Value,
    ds: &DataSource,
    path: &str,
    depth: usize,
    version: ApiVersion,
    now: DateTime<Utc>,
) -> Result<Filter, ApiError> {
    let m = object(v, path)?;
    for (key, make) in [
        ("and", Filter::And as fn(Vec<Filter>) -> Filter),
        ("or", Filter::Or),
    ] {
        let Some(items) = m.get(key) else { continue };
        let items_path = format!("{path}.{key}");
        if depth >= 2 {
            // The root and one group hold compound filters; a third level is not accepted.
            return Err(ApiError::body(
                &items_path,
                "not present (filters nest at most two levels deep)",
                Some(items),
            ));
        }
        only_keys(m, &[key], path)?;
        let items = array(items, &items_path)?;
        if items.len() > MAX_FILTER_ITEMS {
            // Notion's `groupFilterOperatorArray` has `maxItems: 100`, as every array of a request.
            return Err(ApiError::validation(format!(
                "body failed validation: {items_path}.length should be ≤ `{MAX_FILTER_ITEMS}`, instead was `{}`.",
                items.len()
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(parse_filter(
                item,
                ds,
                &format!("{items_path}[{i}]"),
                depth + 1,
                version,
                now,
            )?);
        }
        return Ok(make(out));
    }
    if let Some(t) = m.get("timestamp") {
        return parse_timestamp_filter(m, t, path, now).map(Filter::Leaf);
    }
    if m.contains_key("property") {
        return parse_property_filter(m, ds, path, version, now).map(Filter::Leaf);
    }
    let expected = if depth >= 2 {
        "an object with one of `property`, `timestamp`"
    } else {
        "an object with one of `and`, `or`, `property`, `timestamp`"
    };
    Err(ApiError::body(path, expected, Some(v)))
}

fn parse_timestamp_filter(
    m: &Map<String, Value>,
    t: &Value,
    path: &str,
    now: DateTime<Utc>,
) -> Result<Leaf, ApiError> {
    let key = match string(t, &format!("{path}.timestamp"))? {
        "created_time" => "created_time",
        "last_edited_time" => "last_edited_time",
        _ => {
            return Err(ApiError::body(
                &format!("{path}.timestamp"),
                &one_of(&["created_time", "last_edited_time"]),
                Some(t),
            ))
        }
    };
    only_keys(m, &["timestamp", key, "type"], path)?;
    check_type_key(m, key, path)?;
    let inner_path = format!("{path}.{key}");
    let cond = parse_date_cond(required(m, key, path)?, &inner_path, now)?;
    let target = if key == "created_time" {
        Target::CreatedTime
    } else {
        Target::LastEditedTime
    };
    Ok(Leaf { target, cond })
}

fn check_type_key(m: &Map<String, Value>, key: &'static str, path: &str) -> Result<(), ApiError> {
    match m.get("type") {
        Some(t) if t.as_str() != Some(key) => Err(ApiError::body(
            &format!("{path}.type"),
            &format!("`\"{key}\"`"),
            Some(t),
        )),
        _ => Ok(()),
    }
}

fn parse_property_filter(
    m: &Map<String, Value>,
    ds: &DataSource,
    path: &str,
    version: ApiVersion,
    now: DateTime<Utc>,
) -> Result<Leaf, ApiError> {
    let name_value = required(m, "property", path)?;
    let name = string(name_value, &format!("{path}.property"))?;
    let mut allowed = vec!["property", "type"];
    allowed.extend(FILTER_KEYS);
    only_keys(m, &allowed, path)?;
    let given: Vec<&'static str> = FILTER_KEYS
        .iter()
        .copied()
        .filter(|k| m.contains_key(*k))
        .collect();
    let key = match given.as_slice() {
        [one] => *one,
        _ => {
            let keys: Vec<String> = FILTER_KEYS.iter().map(|k| format!("`{k}`")).collect();
            return Err(ApiError::body(
                path,
                &format!("an object with exactly one of {}", keys.join(", ")),
                Some(&Value::Object(m.clone())),
            ));
        }
    };
    check_type_key(m, key, path)?;
    let prop = ds.property(name).ok_or_else(|| unknown_property(name))?;
    if prop.kind.as_str() != key {
        return Err(ApiError::validation(format!(
            "database property {} does not match filter {key}",
            prop.kind.as_str()
        )));
    }
    let inner = &m[key];
    let inner_path = format!("{path}.{key}");
    let (cond, formula) = parse_cond(prop, inner, &inner_path, now)?;
    let cond = match cond {
        Cond::Option { names, negate }
            if prop.kind == PropType::Status && version.status_equals_matches_groups() =>
        {
            Cond::Option {
                names: with_status_groups(prop, names),
                negate,
            }
        }
        cond => cond,
    };
    Ok(Leaf {
        target: Target::Property {
            id: prop.id.clone(),
            kind: prop.kind,
            formula,
        },
        cond,
    })
}

/// The names of a status `equals` / `does_not_equal` as versions before 2026-12-01 read them:
/// a name that is no option of the property but a status group's name (`In progress`) stands
/// for every option of that group. An option's name always names the option alone.
fn with_status_groups(prop: &PropSchema, names: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let group = STATUS_GROUPS
            .iter()
            .find(|(_, group_name, _)| *group_name == name)
            .filter(|_| !prop.options.iter().any(|o| o.name == name));
        match group {
            Some((key, _, _)) => out.extend(
                prop.options
                    .iter()
                    .filter(|o| o.group.as_deref() == Some(*key))
                    .map(|o| o.name.clone()),
            ),
            None => out.push(name),
        }
    }
    out
}

/// The condition of a property filter, by the property's type.
fn parse_cond(
    prop: &PropSchema,
    v: &Value,
    path: &str,
    now: DateTime<Utc>,
) -> Result<(Cond, Option<&'static str>), ApiError> {
    let cond = match prop.kind {
        PropType::Title
        | PropType::RichText
        | PropType::Url
        | PropType::Email
        | PropType::PhoneNumber => parse_text_cond(v, path)?,
        PropType::Number | PropType::UniqueId => parse_number_cond(v, path)?,
        PropType::Checkbox => parse_checkbox_cond(v, path)?,
        PropType::Select | PropType::Status => {
            let (op, value) = operator(v, path, &OPTION_OPS)?;
            match op {
                "is_empty" | "is_not_empty" => existence(op, value, path)?,
                _ => Cond::Option {
                    names: names(value, &format!("{path}.{op}"))?,
                    negate: op == "does_not_equal",
                },
            }
        }
        PropType::MultiSelect => {
            let (op, value) = operator(v, path, &CONTAINS_OPS)?;
            match op {
                "is_empty" | "is_not_empty" => existence(op, value, path)?,
                _ => Cond::Contains {
                    names: names(value, &format!("{path}.{op}"))?,
                    negate: op == "does_not_contain",
                },
            }
        }
        PropType::People | PropType::Relation | PropType::CreatedBy | PropType::LastEditedBy => {
            let (op, value) = operator(v, path, &CONTAINS_OPS)?;
            match op {
                "is_empty" | "is_not_empty" => existence(op, value, path)?,
                _ => {
                    let op_path = format!("{path}.{op}");
                    let id = normalize_id(string(value, &op_path)?)
                        .ok_or_else(|| ApiError::body(&op_path, "a valid uuid", Some(value)))?;
                    Cond::Id {
                        id,
                        negate: op == "does_not_contain",
                    }
                }
            }
        }
        PropType::Files => {
            let (op, value) = operator(v, path, &EXISTENCE_OPS)?;
            existence(op, value, path)?
        }
        PropType::Date | PropType::CreatedTime | PropType::LastEditedTime => {
            parse_date_cond(v, path, now)?
        }
        PropType::Formula => {
            let (kind, sub) = operator(v, path, &FORMULA_KINDS)?;
            let sub_path = format!("{path}.{kind}");
            let cond = match kind {
                "string" => parse_text_cond(sub, &sub_path)?,
                "checkbox" => parse_checkbox_cond(sub, &sub_path)?,
                "number" => parse_number_cond(sub, &sub_path)?,
                _ => parse_date_cond(sub, &sub_path, now)?,
            };
            return Ok((cond, Some(kind)));
        }
        _ => {
            return Err(ApiError::validation(format!(
                "Filtering on a {} property is not supported by the sandbox.",
                prop.kind.as_str()
            )))
        }
    };
    Ok((cond, None))
}

/// The one operator of a condition object, among `ops`, with its value.
fn operator<'v>(
    v: &'v Value,
    path: &str,
    ops: &[&'static str],
) -> Result<(&'static str, &'v Value), ApiError> {
    let m = object(v, path)?;
    only_keys(m, ops, path)?;
    let mut given = ops.iter().copied().filter(|k| m.contains_key(*k));
    match (given.next(), given.next()) {
        (Some(op), None) => Ok((op, &m[op])),
        _ => {
            let keys: Vec<String> = ops.iter().map(|k| format!("`{k}`")).collect();
            Err(ApiError::body(
                path,
                &format!("an object with exactly one of {}", keys.join(", ")),
                Some(v),
            ))
        }
    }
}

fn existence(op: &str, value: &Value, path: &str) -> Result<Cond, ApiError> {
    if value != &Value::Bool(true) {
        return Err(ApiError::body(
            &format!("{path}.{op}"),
            "`true`",
            Some(value),
        ));
    }
    Ok(Cond::Empty(op == "is_empty"))
}

fn parse_text_cond(v: &Value, path: &str) -> Result<Cond, ApiError> {
    let (name, value) = operator(v, path, &TEXT_OPS)?;
    let op = match name {
        "is_empty" | "is_not_empty" => return existence(name, value, path),
        "equals" => TextOp::Equals,
        "does_not_equal" => TextOp::DoesNotEqual,
        "contains" => TextOp::Contains,
        "does_not_contain" => TextOp::DoesNotContain,
        "starts_with" => TextOp::StartsWith,
        _ => TextOp::EndsWith,
    };
    let text = string(value, &format!("{path}.{name}"))?;
    Ok(Cond::Text(op, text.to_string()))
}

fn parse_number_cond(v: &Value, path: &str) -> Result<Cond, ApiError> {
    let (op, value) = operator(v, path, &NUMBER_OPS)?;
    let num_op = match op {
        "is_empty" | "is_not_empty" => return existence(op, value, path),
        "equals" => NumOp::Equals,
        "does_not_equal" => NumOp::DoesNotEqual,
        "greater_than" => NumOp::GreaterThan,
        "less_than" => NumOp::LessThan,
        "greater_than_or_equal_to" => NumOp::GreaterThanOrEqualTo,
        _ => NumOp::LessThanOrEqualTo,
    };
    let n = value
        .as_f64()
        .ok_or_else(|| ApiError::body(&format!("{path}.{op}"), "a number", Some(value)))?;
    Ok(Cond::Number(num_op, n))
}

fn parse_checkbox_cond(v: &Value, path: &str) -> Result<Cond, ApiError> {
    let (op, value) = operator(v, path, &CHECKBOX_OPS)?;
    let b = boolean(value, &format!("{path}.{op}"))?;
    Ok(Cond::Checkbox(if op == "equals" { b } else { !b }))
}

/// A name or a list of names (select, status and multi_select take either).
fn names(v: &Value, path: &str) -> Result<Vec<String>, ApiError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(_) => {
            let items = array(v, path)?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| string(item, &format!("{path}[{i}]")).map(str::to_string))
                .collect()
        }
        _ => Err(ApiError::body(
            path,
            "a string or an array of strings",
            Some(v),
        )),
    }
}

fn parse_date_cond(v: &Value, path: &str, now: DateTime<Utc>) -> Result<Cond, ApiError> {
    let (op, value) = operator(v, path, &DATE_OPS)?;
    let op_path = format!("{path}.{op}");
    let compare = |ord: Ordering, or_equal: bool| -> Result<Cond, ApiError> {
        let text = string(value, &op_path)?;
        let bound = match parse_date(text) {
            Some((t, true)) => DateBound::Day(t.date_naive()),
            Some((t, false)) => DateBound::Instant(t),
            None => {
                return Err(ApiError::body(
                    &op_path,
                    "an ISO 8601 date or date-time",
                    Some(value),
                ))
            }
        };
        Ok(Cond::Date(DateCond::Compare(ord, or_equal, bound)))
    };
    let relative = |from: DateTime<Utc>, to: DateTime<Utc>| -> Result<Cond, ApiError> {
        if value.as_object().is_none_or(|m| !m.is_empty()) {
            return Err(ApiError::body(&op_path, "an empty object", Some(value)));
        }
        Ok(Cond::Date(DateCond::Within(from, to)))
    };
    let months = |n: u32, forward: bool| {
        if forward {
            now.checked_add_months(Months::new(n)).unwrap_or(now)
        } else {
            now.checked_sub_months(Months::new(n)).unwrap_or(now)
        }
    };
    match op {
        "is_empty" | "is_not_empty" => existence(op, value, path),
        "equals" => compare(Ordering::Equal, true),
        "before" => compare(Ordering::Less, false),
        "after" => compare(Ordering::Greater, false),
        "on_or_before" => compare(Ordering::Less, true),
        "on_or_after" => compare(Ordering::Greater, true),
        "this_week" => {
            let monday =
                now.date_naive() - Duration::days(i64::from(now.weekday().num_days_from_monday()));
            let from = monday.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            relative(from, from + Duration::days(7) - Duration::milliseconds(1))
        }
        "past_week" => relative(now - Duration::days(7), now),
        "past_month" => relative(months(1, false), now),
        "past_year" => relative(months(12, false), now),
        "next_week" => relative(now, now + Duration::days(7)),
        "next_month" => relative(now, months(1, true)),
        _ => relative(now, months(12, true)),
    }
}

fn parse_sort(v: &Value, ds: &DataSource, path: &str) -> Result<Sort, ApiError> {
    let m = object(v, path)?;
    let direction = required(m, "direction", path)?;
    let descending = match string(direction, &format!("{path}.direction"))? {
        "ascending" => false,
        "descending" => true,
        _ => {
            return Err(ApiError::body(
                &format!("{path}.direction"),
                &one_of(&["ascending", "descending"]),
                Some(direction),
            ))
        }
    };
    let target = if let Some(t) = m.get("timestamp") {
        only_keys(m, &["timestamp", "direction"], path)?;
        match string(t, &format!("{path}.timestamp"))? {
            "created_time" => SortTarget::CreatedTime,
            "last_edited_time" => SortTarget::LastEditedTime,
            _ => {
                return Err(ApiError::body(
                    &format!("{path}.timestamp"),
                    &one_of(&["created_time", "last_edited_time"]),
                    Some(t),
                ))
            }
        }
    } else {
        only_keys(m, &["property", "direction"], path)?;
        let p = required(m, "property", path)?;
        let name = string(p, &format!("{path}.property"))?;
        let prop = ds.property(name).ok_or_else(|| {
            ApiError::validation(format!(
                "Could not find sort property with name or id: {name}"
            ))
        })?;
        SortTarget::Property(prop.id.clone())
    };
    Ok(Sort { target, descending })
}

// ---- evaluation ----

impl Filter {
    fn uses_now(&self) -> bool {
        match self {
            Filter::And(items) | Filter::Or(items) => items.iter().any(Filter::uses_now),
            Filter::Leaf(leaf) => matches!(leaf.cond, Cond::Date(DateCond::Within(..))),
        }
    }

    fn matches(&self, ds: &DataSource, page: &Page) -> bool {
        match self {
            Filter::And(items) => items.iter().all(|f| f.matches(ds, page)),
            Filter::Or(items) => items.iter().any(|f| f.matches(ds, page)),
            Filter::Leaf(leaf) => leaf.cond.holds(&leaf.cell(ds, page)),
        }
    }
}

impl Leaf {
    fn cell(&self, ds: &DataSource, page: &Page) -> Cell {
        let (id, kind, formula) = match &self.target {
            Target::CreatedTime => return Cell::Date(Some(page.created_time)),
            Target::LastEditedTime => return Cell::Date(Some(page.last_edited_time)),
            Target::Property { id, kind, formula } => (id, *kind, *formula),
        };
        let Some(prop) = ds.properties.iter().find(|p| &p.id == id) else {
            return Cell::Count(0);
        };
        let value = page.value(prop);
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let ids = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.get("id").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        match kind {
            PropType::Title | PropType::RichText => Cell::Text(plain_text(&value)),
            PropType::Url | PropType::Email | PropType::PhoneNumber => Cell::Text(text(&value)),
            PropType::Number => Cell::Number(value.as_f64()),
            PropType::UniqueId => Cell::Number(value.get("number").and_then(Value::as_f64)),
            PropType::Checkbox => Cell::Bool(value.as_bool().unwrap_or(false)),
            PropType::Select | PropType::Status => Cell::Names(
                value
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .into_iter()
                    .collect(),
            ),
            PropType::MultiSelect => Cell::Names(
                value
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| i.get("name").and_then(Value::as_str))
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            PropType::Date => Cell::Date(date_start(&value)),
            PropType::CreatedTime => Cell::Date(Some(page.created_time)),
            PropType::LastEditedTime => Cell::Date(Some(page.last_edited_time)),
            PropType::People | PropType::Relation => Cell::Ids(ids(&value)),
            PropType::CreatedBy => Cell::Ids(vec![page.created_by.clone()]),
            PropType::LastEditedBy => Cell::Ids(vec![page.last_edited_by.clone()]),
            PropType::Files => Cell::Count(value.as_array().map_or(0, Vec::len)),
            PropType::Formula => {
                let result = value
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(|t| value.get(t))
                    .cloned()
                    .unwrap_or(Value::Null);
                let same = value.get("type").and_then(Value::as_str)
                    == Some(match formula {
                        Some("checkbox") => "boolean",
                        Some(other) => other,
                        None => "",
                    });
                let result = if same { result } else { Value::Null };
                match formula {
                    Some("checkbox") => Cell::Bool(result.as_bool().unwrap_or(false)),
                    Some("number") => Cell::Number(result.as_f64()),
                    Some("date") => Cell::Date(date_start(&result)),
                    _ => Cell::Text(text(&result)),
                }
            }
            _ => Cell::Count(0),
        }
    }
}

/// The start of a date value (`{start, end, time_zone}`), as an instant.
fn date_start(value: &Value) -> Option<DateTime<Utc>> {
    value
        .get("start")
        .and_then(Value::as_str)
        .and_then(parse_date)
        .map(|(t, _)| t)
}

impl Cond {
    fn holds(&self, cell: &Cell) -> bool {
        match (self, cell) {
            (Cond::Empty(empty), cell) => cell_is_empty(cell) == *empty,
            (Cond::Text(op, want), Cell::Text(have)) => match op {
                TextOp::Equals => have == want,
                TextOp::DoesNotEqual => have != want,
                TextOp::Contains => have.contains(want.as_str()),
                TextOp::DoesNotContain => !have.contains(want.as_str()),
                TextOp::StartsWith => have.starts_with(want.as_str()),
                TextOp::EndsWith => have.ends_with(want.as_str()),
            },
            (Cond::Number(op, want), Cell::Number(have)) => match (op, have) {
                (NumOp::DoesNotEqual, None) => true,
                (_, None) => false,
                (NumOp::Equals, Some(h)) => h == want,
                (NumOp::DoesNotEqual, Some(h)) => h != want,
                (NumOp::GreaterThan, Some(h)) => h > want,
                (NumOp::LessThan, Some(h)) => h < want,
                (NumOp::GreaterThanOrEqualTo, Some(h)) => h >= want,
                (NumOp::LessThanOrEqualTo, Some(h)) => h <= want,
            },
            (Cond::Checkbox(want), Cell::Bool(have)) => have == want,
            (Cond::Option { names, negate }, Cell::Names(have))
            | (Cond::Contains { names, negate }, Cell::Names(have)) => {
                names.iter().any(|n| have.contains(n)) != *negate
            }
            (Cond::Id { id, negate }, Cell::Ids(have)) => have.contains(id) != *negate,
            (Cond::Date(cond), Cell::Date(Some(have))) => match cond {
                DateCond::Within(from, to) => from <= have && have <= to,
                DateCond::Compare(ord, or_equal, bound) => {
                    let got = match bound {
                        DateBound::Day(d) => have.date_naive().cmp(d),
                        DateBound::Instant(t) => have.cmp(t),
                    };
                    got == *ord || (*or_equal && got == Ordering::Equal)
                }
            },
            _ => false,
        }
    }
}

fn cell_is_empty(cell: &Cell) -> bool {
    match cell {
        Cell::Text(s) => s.is_empty(),
        Cell::Number(n) => n.is_none(),
        Cell::Bool(_) => false,
        Cell::Names(v) | Cell::Ids(v) => v.is_empty(),
        Cell::Date(d) => d.is_none(),
        Cell::Count(n) => *n == 0,
    }
}

/// A page's sort key for a property.
fn sort_key(ws: &dyn Workspace, page: &Page, prop: &PropSchema) -> Key {
    let value = page.value(prop);
    let text = |s: String| {
        if s.is_empty() {
            Key::Missing
        } else {
            Key::Text(s)
        }
    };
    let joined = |field: &str| {
        let parts: Vec<String> = value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.get(field).and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        text(parts.join(","))
    };
    let time =
        |t: Option<DateTime<Utc>>| t.map_or(Key::Missing, |t| Key::Time(t.timestamp_millis()));
    match prop.kind {
        PropType::Title | PropType::RichText => text(plain_text(&value)),
        PropType::Url | PropType::Email | PropType::PhoneNumber => {
            text(value.as_str().unwrap_or_default().to_string())
        }
        PropType::Number => value.as_f64().map_or(Key::Missing, Key::Number),
        PropType::UniqueId => value
            .get("number")
            .and_then(Value::as_f64)
            .map_or(Key::Missing, Key::Number),
        PropType::Checkbox => Key::Number(if value.as_bool() == Some(true) {
            1.0
        } else {
            0.0
        }),
        // Options sort in the schema's order, as in Notion.
        PropType::Select | PropType::Status => value
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| prop.options.iter().position(|o| o.id == id))
            .map_or(Key::Missing, |i| Key::Number(i as f64)),
        PropType::MultiSelect => joined("name"),
        PropType::Date => time(date_start(&value)),
        PropType::CreatedTime => Key::Time(page.created_time.timestamp_millis()),
        PropType::LastEditedTime => Key::Time(page.last_edited_time.timestamp_millis()),
        PropType::People => {
            let names: Vec<String> = value
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.get("id").and_then(Value::as_str))
                        .map(|id| user_name(ws, id))
                        .collect()
                })
                .unwrap_or_default();
            text(names.join(","))
        }
        PropType::CreatedBy => text(user_name(ws, &page.created_by)),
        PropType::LastEditedBy => text(user_name(ws, &page.last_edited_by)),
        PropType::Relation => joined("id"),
        PropType::Files => joined("name"),
        PropType::Formula => match value.get("type").and_then(Value::as_str) {
            Some("number") => value["number"].as_f64().map_or(Key::Missing, Key::Number),
            Some("boolean") => value["boolean"]
                .as_bool()
                .map_or(Key::Missing, |b| Key::Number(if b { 1.0 } else { 0.0 })),
            Some("date") => time(date_start(&value["date"])),
            Some("string") => text(value["string"].as_str().unwrap_or_default().to_string()),
            _ => Key::Missing,
        },
        _ => Key::Missing,
    }
}

fn user_name(ws: &dyn Workspace, id: &str) -> String {
    ws.user(id).map_or(id.to_string(), |u| u.name.clone())
}
