//! Preconditions (SPEC §11, seed 003's `atomicStatusTransition`): the value a property must
//! have now for a row to be written. A column headed `if:PROPERTY` (or a flat JSONL key
//! `"if:PROPERTY"`) gives one per row, a job file's `[expect]` table one for every row.
//! Expected values are cells like any other: typed by the schema and converted by a mapper of
//! their own (over the `if:` columns alone), then compared with §9's equality rules
//! ([`Current::same`]). They are judged against the scan when it knows the values; with
//! `--recheck`, without a data source, or for a field an earlier row of the page writes, against
//! a read of the page just before its write (in the worker, after the page's earlier rows have
//! ended). A row whose precondition does not hold ends `skipped`, code `precondition_failed`,
//! its message giving the current value; nothing is sent for it, and the later rows of its page
//! go on. A row that would change nothing ends `unchanged` whatever its precondition: nothing
//! is written, so there is nothing to guard.
//!
//! Notion has no conditional write: between the read and the write another client can change
//! the page. Judged against the scan, that window is as long as the run; with `--recheck` it is
//! one round trip. It is never zero.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::mapping::{
    column, Body, ColumnPlan, HeaderError, Mapped, Mapper, MappingOptions, Problem, RowError,
};
use crate::notion::{NotionId, PropertyType, Schema};
use crate::outcome::{Outcome, RowResult};
use crate::scan::{Current, Field, Index, Kind};
use crate::source::{Record, Source, SourceRow};

/// The report code of a row whose precondition does not hold.
pub const CODE: &str = "precondition_failed";

pub use crate::mapping::column::PREFIX;

/// One expected value.
#[derive(Debug, Clone, PartialEq)]
struct Check {
    field: Field,
    expected: Current,
}

impl Check {
    /// `"Status" is "Done", expected "In progress"`.
    fn failure(&self, current: &Current) -> String {
        format!(
            "{} is {}, expected {}",
            self.name(),
            current.display(),
            self.expected.display()
        )
    }

    fn name(&self) -> String {
        match self.field.kind {
            Kind::Property(_) => format!("{:?}", self.field.name),
            _ => self.field.name.to_string(),
        }
    }
}

/// A row's precondition: every expected value must hold for the row to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Precondition {
    checks: Vec<Check>,
}

/// What is known of a row's precondition when it is read.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// It holds as the scan read the page: the row is written without another read.
    Holds,
    /// It does not hold as the scan read the page: the row ends skipped, with this message.
    Fails(String),
    /// It is judged against a read of the page just before the write.
    Read(Arc<Precondition>),
}

impl Precondition {
    /// Against the scan's index: `None` when a value is not known there (the page was not
    /// scanned, or an earlier row of this run writes the field).
    fn against_index(&self, index: &Index, page: NotionId) -> Option<Result<(), String>> {
        let entry = index.get(&page)?;
        let mut failed = Vec::new();
        for check in &self.checks {
            let current = &entry.values[index.field(&check.field.name)?];
            if *current == Current::Unknown {
                return None;
            }
            if !check.expected.same(current, false) {
                failed.push(check.failure(current));
            }
        }
        Some(match failed.is_empty() {
            true => Ok(()),
            false => Err(failed.join("; ")),
        })
    }

    /// Against a page object just read.
    pub fn against_page(&self, page: &Value) -> Result<(), String> {
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter_map(|check| match check.field.read(page) {
                Ok(current) if check.expected.same(&current, false) => None,
                Ok(current) => Some(check.failure(&current)),
                Err(e) => Some(format!("{}: {e}", check.name())),
            })
            .collect();
        match failed.is_empty() {
            true => Ok(()),
            false => Err(failed.join("; ")),
        }
    }

    /// The verdict before dispatch: against `index` (the scan; `None` with `--recheck` or
    /// without a data source) when it knows every value, else a read before the write.
    pub fn verdict(self: Arc<Self>, index: Option<&Index>, page: NotionId) -> Verdict {
        match index.and_then(|i| self.against_index(i, page)) {
            Some(Ok(())) => Verdict::Holds,
            Some(Err(why)) => Verdict::Fails(format!(
                "precondition failed (as the scan read the page): {why}; not sent"
            )),
            None => Verdict::Read(self),
        }
    }

    /// For `plan`: each expected value, and with a scan the current one and whether it
    /// holds: `{"Status": {"expected": "In progress", "current": "Done", "holds": false}}`.
    pub fn describe(&self, index: Option<&Index>, page: NotionId) -> Value {
        let entry = index.and_then(|i| i.get(&page).map(|e| (i, e)));
        let mut out = Map::new();
        for check in &self.checks {
            let mut shown = json!({"expected": check.expected.display()});
            let current = entry.and_then(|(i, e)| Some(&e.values[i.field(&check.field.name)?]));
            if let Some(current) = current.filter(|c| **c != Current::Unknown) {
                shown["current"] = current.display();
                shown["holds"] = json!(check.expected.same(current, false));
            }
            out.insert(check.field.name.to_string(), shown);
        }
        Value::Object(out)
    }
}

/// Where rows' preconditions come from: the `if:` columns of a CSV header (or `if:` keys of
/// flat JSONL lines), and the job file's `[expect]`.
#[derive(Debug)]
pub struct Expectations {
    /// Maps a row's expected values: a CSV header with the `if:` prefixes taken off and every
    /// other column ignored, or the `if:` keys of a JSONL line without their prefix.
    mapper: Mapper,
    /// Rows can have expected values of their own.
    per_row: bool,
    /// `[expect]`, converted once.
    every_row: Vec<Check>,
    schema: Option<Arc<Schema>>,
    id_column: String,
    /// With `--match-on`: the column holding the key, as problems name it.
    key_column: Option<String>,
}

impl Expectations {
    /// The preconditions of this input's rows (its `if:` columns and `[expect]`); `None` when
    /// it has none. A precondition is about a page that exists: with `--create-missing` it is
    /// refused.
    pub fn for_input(
        source: &Source,
        options: &MappingOptions,
        expect: &[(String, Value)],
        create_missing: bool,
    ) -> Result<Option<Expectations>, HeaderError> {
        let expectations = Expectations::new(source, options, expect)?;
        if expectations.is_some() && create_missing {
            return Err(HeaderError(
                "preconditions (if: columns, [expect]) say what a page must hold before it is \
                 written, and --create-missing writes pages that do not exist yet: run the \
                 creates without the preconditions, then the rows with them"
                    .into(),
            ));
        }
        Ok(expectations)
    }

    /// Resolves the precondition columns and `[expect]` once (a problem exits 2 before any
    /// row is read). `None` when no row can have a precondition.
    pub fn new(
        source: &Source,
        options: &MappingOptions,
        expect: &[(String, Value)],
    ) -> Result<Option<Expectations>, HeaderError> {
        let mut own = options.clone();
        own.constants.clear();
        own.columns_only = None;
        let (mapper, per_row) = match source.headers() {
            Some(headers) => {
                // Every `if:` column is read, whatever `--columns` names: it writes nothing,
                // and dropping it would write rows whose precondition fails.
                let wanted: Vec<String> = headers
                    .iter()
                    .filter_map(|h| Some(h.strip_prefix(PREFIX)?.trim().to_owned()))
                    .collect();
                if wanted.is_empty() && expect.is_empty() {
                    return Ok(None);
                }
                // With `--match-on`, the key column keeps its name (the row names its page by
                // it); every other column gets a name no property has and is ignored.
                let key_column = |h: &String| {
                    matches!(column::resolve(h, options), Ok(Some(ColumnPlan::Key(_))))
                };
                let renamed: Vec<String> = headers
                    .iter()
                    .enumerate()
                    .map(|(i, h)| match h.strip_prefix(PREFIX) {
                        Some(name) => name.trim().to_owned(),
                        None if *h == options.id_column || key_column(h) => h.clone(),
                        None => format!("\u{0}{i}"),
                    })
                    .collect();
                let mut columns = own.clone();
                columns.columns.retain(|m| {
                    wanted.contains(&m.column)
                        || headers.iter().any(|h| *h == m.column && key_column(h))
                });
                columns.columns_only = Some(wanted.clone());
                let mapper = Mapper::for_csv(&renamed, columns)
                    .map_err(|e| HeaderError(format!("precondition (if:) columns: {e}")))?;
                (mapper, !wanted.is_empty())
            }
            None => (Mapper::for_jsonl(own.clone())?, true),
        };
        let schema = options.schema.clone();
        let every_row = match expect.is_empty() {
            true => Vec::new(),
            false => every_row(&own, expect, schema.as_deref())?,
        };
        let per_row_keys = mapper.written_keys().unwrap_or_default();
        if let Some(both) = every_row
            .iter()
            .find(|c| per_row_keys.iter().any(|k| **k == *c.field.name))
        {
            return Err(HeaderError(format!(
                "column \"{PREFIX}{}\" and the job file's [expect] both give {} a precondition: drop one",
                both.field.name,
                both.name()
            )));
        }
        Ok(Some(Expectations {
            mapper,
            per_row,
            every_row,
            schema,
            id_column: options.id_column.clone(),
            key_column: options.match_on.as_ref().map(|k| k.property.to_string()),
        }))
    }

    /// The properties (and page-level fields) preconditions compare: a scan reads them too.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = self.mapper.written_keys().unwrap_or_default();
        keys.extend(self.every_row.iter().map(|c| c.field.name.to_string()));
        keys
    }

    /// A mapped row with its precondition: the row stays as it is, or becomes invalid (with
    /// its other problems, if any) when an expected value is.
    pub fn precondition(
        &mut self,
        mapped: Mapped,
        row: &SourceRow,
    ) -> (Mapped, Option<Arc<Precondition>>) {
        match self.of_row(row) {
            Ok(precondition) if matches!(mapped, Mapped::Update(_)) => {
                (mapped, precondition.map(Arc::new))
            }
            Ok(_) => (mapped, None),
            Err(problems) => {
                let invalid = match mapped {
                    Mapped::Invalid(mut error) => {
                        error.problems.extend(problems);
                        error
                    }
                    other => RowError {
                        row: row.row,
                        line: row.line,
                        page_id: other.page_id(),
                        key: other.key().cloned(),
                        problems,
                    },
                };
                (Mapped::Invalid(invalid), None)
            }
        }
    }

    /// The row's expected values and `[expect]`'s; `Ok(None)` when it has none.
    fn of_row(&mut self, row: &SourceRow) -> Result<Option<Precondition>, Vec<Problem>> {
        let mut checks = Vec::new();
        let own = match (&row.record, self.per_row) {
            (_, false) => None,
            (Record::Csv(_), true) => Some(self.mapper.map(row)),
            (Record::Json(line), true) => self.flat_line(row, line),
        };
        match own {
            Some(Mapped::Update(update)) => {
                checks = checks_of(&update.body, self.schema.as_deref());
                // The key column is mapped with the `if:` columns only to name the row's page:
                // it is not an expected value (the page was found by it).
                checks.retain(|c| Some(&*c.field.name) != self.key_column.as_deref());
            }
            Some(Mapped::Invalid(error)) => {
                let problems: Vec<Problem> = error
                    .problems
                    .into_iter()
                    // The page (its id or key) is the row's own mapping's to check.
                    .filter(|p| {
                        p.column.as_ref().is_some_and(|c| {
                            *c != self.id_column && Some(c.as_str()) != self.key_column.as_deref()
                        })
                    })
                    .map(|mut p| {
                        p.column = p.column.map(|c| format!("{PREFIX}{c}"));
                        p
                    })
                    .collect();
                if !problems.is_empty() {
                    return Err(problems);
                }
            }
            _ => {}
        }
        for check in &self.every_row {
            if checks
                .iter()
                .any(|c: &Check| c.field.name == check.field.name)
            {
                return Err(vec![Problem::at(
                    &format!("{PREFIX}{}", check.field.name),
                    "the row gives this property a precondition and the job file's [expect] does too: drop one",
                )]);
            }
            checks.push(check.clone());
        }
        Ok((!checks.is_empty()).then_some(Precondition { checks }))
    }

    /// The `if:` keys of a flat JSONL line, without their prefix, mapped as a line of their
    /// own; `None` when the line has none (or is not an object: the row's mapper says so).
    fn flat_line(&mut self, row: &SourceRow, line: &[u8]) -> Option<Mapped> {
        let marker = format!("\"{PREFIX}");
        if !line.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            return None;
        }
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(line) else {
            return None;
        };
        let mut own = Map::new();
        for (key, value) in object {
            let names_page = key == self.id_column
                || matches!(
                    column::resolve(&key, self.mapper.options()),
                    Ok(Some(ColumnPlan::Key(_)))
                );
            if names_page {
                own.insert(key, value);
            } else if let Some(name) = key.strip_prefix(PREFIX) {
                own.insert(name.trim().to_owned(), value);
            }
        }
        let bytes = serde_json::to_vec(&own).expect("JSON serialises");
        let expected = SourceRow {
            record: Record::Json(bytes),
            ..row.clone()
        };
        Some(self.mapper.map(&expected))
    }
}

/// `[expect]`'s values converted once, as the keys of a flat JSONL line.
fn every_row(
    options: &MappingOptions,
    expect: &[(String, Value)],
    schema: Option<&Schema>,
) -> Result<Vec<Check>, HeaderError> {
    let mut mapper = Mapper::for_jsonl(options.clone())?;
    let mut line = Map::new();
    line.insert(
        options.id_column.clone(),
        json!(NotionId::from_u128(0).to_string()),
    );
    line.extend(expect.iter().cloned());
    let row = SourceRow {
        row: 0,
        line: 0,
        record: Record::Json(serde_json::to_vec(&line).expect("JSON serialises")),
    };
    match mapper.map(&row) {
        Mapped::Update(update) => Ok(checks_of(&update.body, schema)),
        Mapped::Invalid(error) => Err(HeaderError(format!("[expect]: {}", error.message()))),
        _ => Err(HeaderError(
            "[expect] expects nothing (its values are empty): give each property the value it must have, or drop the table".into(),
        )),
    }
}

/// The checks a body of expected values makes: each property (by the schema's field when
/// there is a schema) and each page-level field it sets.
fn checks_of(body: &Body, schema: Option<&Schema>) -> Vec<Check> {
    let value = body.to_value();
    let mut checks = Vec::new();
    for (name, property) in value["properties"].as_object().into_iter().flatten() {
        let Some((ty, inner)) = property.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        let Ok(ty) = ty.parse::<PropertyType>() else {
            continue;
        };
        let field = schema
            .and_then(|s| s.property(name))
            .and_then(Field::property)
            .unwrap_or_else(|| Field {
                name: name.as_str().into(),
                id: String::new(),
                kind: Kind::Property(ty),
            });
        if let Ok(expected) = Current::read(field.kind, inner) {
            checks.push(Check { field, expected });
        }
    }
    for key in ["icon", "cover", "in_trash", "is_locked"] {
        let (Some(v), Some(field)) = (value.get(key), Field::page_level(key)) else {
            continue;
        };
        if let Ok(expected) = Current::read(field.kind, v) {
            checks.push(Check { field, expected });
        }
    }
    checks
}

/// The result of a row whose precondition does not hold: skipped, nothing sent.
pub fn skipped(row: u64, page: NotionId, source: SourceRow, message: String) -> RowResult {
    let mut result = RowResult::unsent(row, Some(page), Outcome::Skipped, message, source);
    result.code = Some(CODE.into());
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::source::tests::rows;
    use crate::source::{InputEncoding, InputFormat, InputPath};

    /// Options with a schema of a title, a status, tags and a read-only unique id.
    pub(crate) fn options() -> MappingOptions {
        let schema: Schema = serde_json::from_value(json!({
            "format": 1, "data_source_id": "ds", "title": "Tasks",
            "properties": [
                {"id": "title", "name": "Name", "type": "title"},
                {"id": "s", "name": "Status", "type": "status", "options": ["Not started", "In progress", "Done"]},
                {"id": "t", "name": "Tags", "type": "multi_select", "options": ["a", "b"]},
                {"id": "i", "name": "Task ID", "type": "unique_id"},
            ]
        }))
        .unwrap();
        let mut options = MappingOptions::default();
        options.set_schema(schema);
        options
    }

    fn csv_source(text: &str) -> (tempfile::NamedTempFile, Source) {
        use std::io::Write;
        let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let source = Source::open(
            &InputPath::File(f.path().into()),
            InputFormat::Csv { delimiter: b',' },
            InputEncoding::Utf8,
        )
        .unwrap();
        (f, source)
    }

    fn index(status: &str, tags: &[&str]) -> Index {
        let options = options();
        let schema = options.schema.as_deref().unwrap();
        let mut index = Index::new(Field::all(schema));
        index
            .insert(&json!({"id": NotionId::from_u128(1).to_string(), "in_trash": false,
                "icon": null, "cover": null, "is_locked": false, "properties": {
                "Name": {"id": "title", "type": "title", "title": []},
                "Status": {"id": "s", "type": "status", "status": {"name": status}},
                "Tags": {"id": "t", "type": "multi_select", "multi_select": tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>()}}}))
            .unwrap();
        index
    }

    #[test]
    fn if_columns_are_cells_typed_by_the_schema_and_compared_by_the_scan_rules() {
        let page = NotionId::from_u128(1);
        let (_f, mut source) = csv_source(&format!(
            "page_id,Status,if:Status,if:Tags\n{page},Done,In progress,b;a\n{page},Done,,\n"
        ));
        let options = options();
        let mut mapper = Mapper::for_source(&source, options.clone()).unwrap();
        let mut e = Expectations::new(&source, &options, &[]).unwrap().unwrap();
        assert_eq!(e.keys(), ["Status", "Tags"]);
        let rows = rows(&mut source);
        let (mapped, p) = e.precondition(mapper.map(&rows[0]), &rows[0]);
        // The main mapper ignores the if: columns: the body writes Status alone.
        let Mapped::Update(u) = &mapped else {
            panic!("{mapped:?}")
        };
        assert_eq!(
            u.body.to_value(),
            json!({"properties": {"Status": {"status": {"name": "Done"}}}})
        );
        let p = p.unwrap();
        // Tags as a set: "b;a" equals [a, b].
        assert!(matches!(
            p.clone()
                .verdict(Some(&index("In progress", &["a", "b"])), page),
            Verdict::Holds
        ));
        let Verdict::Fails(why) = p.clone().verdict(Some(&index("Done", &["a", "b"])), page) else {
            panic!("fails")
        };
        assert!(
            why.contains("\"Status\" is \"Done\", expected \"In progress\""),
            "{why}"
        );
        assert!(matches!(p.clone().verdict(None, page), Verdict::Read(_)));
        assert_eq!(
            p.describe(Some(&index("Done", &["a", "b"])), page)["Status"],
            json!({"expected": "In progress", "current": "Done", "holds": false})
        );
        // An empty if: cell expects nothing (as an empty cell writes nothing).
        let (_, none) = e.precondition(mapper.map(&rows[1]), &rows[1]);
        assert_eq!(none, None);
    }

    #[test]
    fn expect_applies_to_every_row_and_bad_expectations_are_caught() {
        let page = NotionId::from_u128(1);
        let (_f, mut source) = csv_source(&format!("page_id,Status\n{page},Done\n"));
        let options = options();
        let mut mapper = Mapper::for_source(&source, options.clone()).unwrap();
        let expect = [("Status".to_string(), json!("In progress"))];
        let mut e = Expectations::new(&source, &options, &expect)
            .unwrap()
            .unwrap();
        let row = &rows(&mut source)[0];
        let (_, p) = e.precondition(mapper.map(row), row);
        assert!(matches!(
            p.unwrap().verdict(Some(&index("In progress", &[])), page),
            Verdict::Holds
        ));
        let err =
            Expectations::new(&source, &options, &[("Status".into(), json!("Dnoe"))]).unwrap_err();
        assert!(err.0.contains("Did you mean \"Done\"?"), "{err}");
        let (_f, clash) = csv_source("page_id,if:Status\n");
        let err = Expectations::new(&clash, &options, &expect).unwrap_err();
        assert!(err.0.contains("both give \"Status\""), "{err}");
        let (_f, typo) = csv_source("page_id,if:Staus\n");
        let err = Expectations::new(&typo, &options, &[]).unwrap_err();
        assert!(err.0.contains("Did you mean \"Status\"?"), "{err}");
        let (_f, plain) = csv_source("page_id,Status\n");
        assert!(Expectations::new(&plain, &options, &[]).unwrap().is_none());
    }

    #[test]
    fn flat_jsonl_lines_carry_their_own_and_a_bad_one_makes_the_row_invalid() {
        let page = NotionId::from_u128(1);
        let options = options();
        let source = Source::selection(Vec::new(), "page_id", "");
        let mut mapper = Mapper::for_jsonl(options.clone()).unwrap();
        let mut e = Expectations::new(&source, &options, &[]).unwrap().unwrap();
        let row = |line: String| SourceRow {
            row: 1,
            line: 1,
            record: Record::Json(line.into_bytes()),
        };
        let good = row(format!(
            r#"{{"page_id":"{page}","Status":"Done","if:Status":"In progress"}}"#
        ));
        let (mapped, p) = e.precondition(mapper.map(&good), &good);
        assert!(matches!(mapped, Mapped::Update(_)), "{mapped:?}");
        assert!(matches!(
            p.unwrap().verdict(Some(&index("Not started", &[])), page),
            Verdict::Fails(_)
        ));
        let bad = row(format!(
            r#"{{"page_id":"{page}","Status":"Done","if:Status":"Dnoe"}}"#
        ));
        let (mapped, _) = e.precondition(mapper.map(&bad), &bad);
        let Mapped::Invalid(error) = mapped else {
            panic!("invalid")
        };
        assert!(
            error.message().starts_with("column \"if:Status\""),
            "{error}"
        );
    }
}
