//! Edits selected by a filter (SPEC §11, seed 003's "archive pages in bulk"): `apply
//! --data-source DS --where FILTER --set PROPERTY=VALUE`, with no input file. The scan of §9
//! reads only the pages the filter selects; each becomes one row, a flat JSONL line of its id
//! and the values to set ([`Source::selection`]), which the mapper, the matcher (changes only),
//! the dispatcher and the report take like any other row. The values are mapped once before
//! anything is read, so a property the schema lacks or cannot write exits 2 first; a selection
//! of more than `--max-rows` pages stops before any write, naming the count. A page keeps its
//! row number across resumed runs (the report says which row each page had), so `--resume`
//! keeps its promises even when the selection changed: pages already edited may no longer
//! match, others may have started to.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::mapping::key::MatchConfig;
use crate::mapping::page::PageField;
use crate::mapping::{self, Mapped, Mapper, MappingOptions};
use crate::notion::{NotionId, Schema, Version};
use crate::outcome::visit_report;
use crate::scan::{self, Index, ScanError, ScanProgress, ScanRequest};
use crate::source::InputFile;
use crate::source::{Source, SourceRow};
use crate::transport::Shared;

/// A selection checked against the schema, ready to scan.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The Notion filter the clauses make.
    pub filter: Value,
    /// The values every page gets, as the members of a flat JSONL line after its id.
    rest: String,
    /// The body keys they write (for the fields the scan reads).
    keys: Vec<String>,
    /// The key of the page id in each row's line.
    id_column: String,
    pub max_rows: u64,
    /// The options the values name that the schema lacks (for `--add-missing-options`).
    pub new_options: Vec<mapping::NewOption>,
}

/// Checks a selection before anything is read: the filter (its `NAME = VALUE` clauses typed
/// by the schema) and the values to set, mapped once as every row will be. `Err`: the reason
/// (exit 2, nothing sent).
pub fn prepare(config: &SelectionConfig, options: &MappingOptions) -> Result<Prepared, String> {
    let schema = options
        .schema
        .as_deref()
        .ok_or("--where needs the data source's schema")?;
    let filter =
        crate::filter::parse(&config.clauses, schema).map_err(|e| format!("--where: {e}"))?;
    let set = prepare_set(&config.set, options, "--set")?;
    Ok(Prepared {
        filter,
        rest: set.rest,
        keys: set.keys,
        id_column: options.id_column.clone(),
        max_rows: config.max_rows,
        new_options: set.new_options,
    })
}

/// Values every page of a set of pages gets, mapped once as each page's row will be.
#[derive(Debug, Clone)]
pub struct PreparedSet {
    /// The members of a flat JSONL line after its id.
    pub rest: String,
    /// The body keys they write (for the fields the scan reads).
    pub keys: Vec<String>,
    /// The options the values name that the schema lacks.
    pub new_options: Vec<mapping::NewOption>,
}

/// Maps `set` (keyed like flat JSONL keys, `@` for page-level fields) once, through a flat
/// JSONL mapper of `options`, as each page's row will be mapped: a property the schema lacks
/// or cannot write, or a bad value, is refused with the reason, named after `flag`. Shared by
/// `--set` and `--missing-pages set:`.
pub fn prepare_set(
    set: &[(String, Value)],
    options: &MappingOptions,
    flag: &str,
) -> Result<PreparedSet, String> {
    let schema = options
        .schema
        .as_deref()
        .ok_or_else(|| format!("{flag} needs the data source's schema"))?;
    if let Some((key, _)) = set.iter().find(|(k, _)| *k == options.id_column) {
        return Err(format!(
            "{flag} {key}: the page id is not a value to set (the pages are chosen for you)"
        ));
    }
    // `in_trash` without its @ would name a property (or make the line a native one).
    let page_level = set.iter().find(|(k, _)| {
        PageField::from_header(&format!("@{k}")).is_some() && schema.property(k).is_none()
    });
    if let Some((key, _)) = page_level {
        return Err(format!(
            "{flag} {key}=…: {key:?} is a page-level field, written with @: {flag} @{key}=…"
        ));
    }
    let map: Map<String, Value> = set.iter().cloned().collect();
    let text = serde_json::to_string(&map).expect("JSON serialises");
    let rest = text[1..text.len() - 1].to_owned();
    let mut mapper = Mapper::for_jsonl(options.clone()).map_err(|e| e.to_string())?;
    let probe = Source::selection(vec![(1, NotionId::from_u128(0))], &options.id_column, &rest);
    let mapped = first_row(probe, &mut mapper);
    let new_options = mapper.take_new_options();
    let body = match mapped {
        Some(Mapped::Update(update)) => update.body,
        Some(Mapped::Invalid(error)) => return Err(format!("{flag}: {}", error.message())),
        _ => {
            return Err(format!(
                "{flag} changes nothing (its values are empty): give each property its new value"
            ))
        }
    };
    let keys = body
        .fields()
        .iter()
        .map(|f| match f {
            mapping::Field::Property(name) => name.to_string(),
            mapping::Field::Icon => "icon".into(),
            mapping::Field::Cover => "cover".into(),
            mapping::Field::InTrash => "in_trash".into(),
            mapping::Field::IsLocked => "is_locked".into(),
        })
        .collect();
    Ok(PreparedSet {
        rest,
        keys,
        new_options,
    })
}

/// The first row a source reads, mapped.
fn first_row(mut source: Source, mapper: &mut Mapper) -> Option<Mapped> {
    let mut row: SourceRow = source.empty_row();
    matches!(source.read(&mut row), Ok(true)).then(|| mapper.map(&row))
}

/// What a selection's scan gives besides the index: the rows, each page's title (for
/// `plan`'s listing), and the line that says what the filter selected.
pub struct Selection {
    pub rows: Source,
    pub titles: HashMap<NotionId, String>,
    /// Pages the filter selects.
    pub count: u64,
    /// `selection: 120 pages of "Tasks" match the filter {…}`.
    pub summary: String,
}

/// Edits selected by a filter (`--where`, `--set`, `--max-rows`; job file `where`,
/// `[constants]`, `max_rows`).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionConfig {
    /// The filter's clauses, joined with `and`.
    pub clauses: Vec<crate::filter::Clause>,
    /// What every selected page gets, keyed like flat JSONL keys (`Status`, `@in_trash`); a
    /// value is a cell's text (typed by the schema) or, from a job file, a JSON value.
    pub set: Vec<(String, serde_json::Value)>,
    /// The most pages the filter may select before anything is written.
    pub max_rows: u64,
}

/// What the scan stage of `apply` and `plan` reads, and for what.
pub struct Scope<'a> {
    pub schema: &'a Schema,
    pub version: Version,
    /// The keys the rows write (`None`: any; every field is read).
    pub written: Option<Vec<String>>,
    /// The fields the rows' preconditions compare (`Expectations::keys`): read too.
    pub compared: Vec<String>,
    /// `--where`: only the pages it selects are read, and they are the rows.
    pub selection: Option<&'a Prepared>,
    /// With `--resume`: the report whose rows the selected pages keep.
    pub resumed: Option<&'a Path>,
    /// With `--match-on`: how, the input whose keys' pages are read, and its mapper
    /// ([`crate::scan::read_index`]).
    pub keyed: Option<(&'a MatchConfig, InputFile<'a>, &'a crate::mapping::Mapper)>,
}

/// The scan stage's read: the whole data source into the index the matcher compares rows with
/// (§9), with `--match-on` the pages of the input's keys (§10, `say` gets the line telling how
/// they were read), or with a selection only the pages it selects, which are then the rows
/// (§11).
pub async fn read(
    shared: &Shared,
    scope: Scope<'_>,
    progress: &mut dyn FnMut(&ScanProgress),
    say: &mut dyn FnMut(String),
) -> Result<(Index, ScanProgress, Option<Selection>), SelectError> {
    let Some(prepared) = scope.selection else {
        let keys = scan_keys(scope.written, &scope.compared);
        if let Some((matching, input, mapper)) = scope.keyed {
            let (index, done) =
                crate::scan::read_index(shared, matching, input, mapper, keys, progress, say)
                    .await?;
            return Ok((index, done, None));
        }
        let fields = scan::compared_fields(scope.schema, keys);
        let (index, done) =
            scan::build_index(shared, scope.schema, scope.version, fields, progress).await?;
        return Ok((index, done, None));
    };
    let extra = scope.compared.clone();
    select(shared, &scope, prepared, extra, progress).await
}

/// The fields a scan reads: those the rows write and those preconditions compare. `None`
/// (every field) stays `None`.
fn scan_keys(written: Option<Vec<String>>, compared: &[String]) -> Option<Vec<String>> {
    let mut keys = written?;
    for key in compared {
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    Some(keys)
}

/// Why a selection cannot be edited. Nothing has been written when it happens.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(
        "the filter selects {count} pages, more than --max-rows {max}: nothing was sent. Check \
         the filter (plan lists the pages it selects), or raise --max-rows if every one of them \
         is meant"
    )]
    TooMany { count: u64, max: u64 },
    #[error("cannot read the report {path} to give each page the row it had: {source}")]
    Report {
        path: String,
        source: std::io::Error,
    },
}

impl SelectError {
    /// Whether the cause is in the input or the setup (exit 2), not a server failure.
    pub fn is_usage(&self) -> bool {
        match self {
            SelectError::Scan(e) => e.is_usage(),
            SelectError::TooMany { .. } | SelectError::Report { .. } => true,
        }
    }
}

/// Scans the pages the filter selects (every query through the run's limiter and retries, as
/// the scan of §9) and makes them rows, numbered as the earlier run in `scope.resumed` (the
/// report of a `--resume`) numbered them. `extra`: the keys preconditions compare.
async fn select(
    shared: &Shared,
    scope: &Scope<'_>,
    prepared: &Prepared,
    extra: Vec<String>,
    progress: &mut dyn FnMut(&ScanProgress),
) -> Result<(Index, ScanProgress, Option<Selection>), SelectError> {
    let (schema, version, resumed) = (scope.schema, scope.version, scope.resumed);
    let mut keys = prepared.keys.clone();
    keys.extend(extra);
    // The title too, to name the pages in plan's listing.
    keys.extend(schema.title_property().map(|p| p.name.clone()));
    let fields = scan::compared_fields(schema, Some(keys));
    let title = schema
        .title_property()
        .and_then(|t| fields.iter().position(|f| *f.name == *t.name));
    let mut index = Index::new(fields.clone());
    let mut pages: Vec<NotionId> = Vec::new();
    let mut titles = HashMap::new();
    let mut count = 0u64;
    let request = ScanRequest {
        schema,
        version,
        fields: &fields,
        filter: Some(prepared.filter.clone()),
        key: None,
        budget: None,
    };
    let done = scan::scan(
        shared,
        &request,
        &mut |page| {
            count += 1;
            if count > prepared.max_rows {
                return Ok(()); // counted only: the run stops before any write
            }
            index.insert(&page)?;
            let id = NotionId::parse(page["id"].as_str().unwrap_or_default())
                .map_err(|e| e.to_string())?;
            if let (Some(i), Some(entry)) = (title, index.get(&id)) {
                let shown = entry.values[i].display();
                titles.insert(id, shown.as_str().unwrap_or_default().to_owned());
            }
            pages.push(id);
            Ok(())
        },
        progress,
    )
    .await?;
    if count > prepared.max_rows {
        return Err(SelectError::TooMany {
            count,
            max: prepared.max_rows,
        });
    }
    let numbered = number(&pages, resumed, 0).map_err(|source| SelectError::Report {
        path: resumed.map(|p| p.display().to_string()).unwrap_or_default(),
        source,
    })?;
    let summary = format!(
        "selection: {count} pages of {:?} match the filter {}",
        schema.title, prepared.filter
    );
    let selection = Selection {
        rows: Source::selection(numbered, &prepared.id_column, &prepared.rest),
        titles,
        count,
        summary,
    };
    Ok((index, done, Some(selection)))
}

/// Each page's row: the row an earlier run recorded for it in `report` (with `--resume`), else
/// the next after the highest row the report has (and after `after`); in the selection's order.
pub fn number(
    pages: &[NotionId],
    report: Option<&Path>,
    after: u64,
) -> std::io::Result<Vec<(u64, NotionId)>> {
    let mut earlier: HashMap<NotionId, u64> = HashMap::new();
    let mut last = after;
    if let Some(path) = report.filter(|p| p.exists()) {
        visit_report(path, |line| {
            last = last.max(line.row);
            if let Some(page) = line
                .page_id
                .as_deref()
                .and_then(|p| NotionId::parse(p).ok())
            {
                earlier.insert(page, line.row);
            }
        })?;
    }
    Ok(pages
        .iter()
        .map(|page| match earlier.get(page) {
            Some(row) => (*row, *page),
            None => {
                last += 1;
                (last, *page)
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Clause;
    use crate::gate::precondition::tests::options;
    use serde_json::json;

    fn config(set: &[(&str, Value)]) -> SelectionConfig {
        SelectionConfig {
            clauses: vec![Clause::Text("Status = Done".into())],
            set: set
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            max_rows: 10,
        }
    }

    #[test]
    fn set_values_are_mapped_once_and_bad_ones_refused() {
        let p = prepare(&config(&[("@in_trash", json!("true"))]), &options()).unwrap();
        assert_eq!(p.keys, ["in_trash"]);
        assert_eq!(
            p.filter,
            json!({"property": "Status", "status": {"equals": "Done"}})
        );
        let p = prepare(&config(&[("Status", json!("Not started"))]), &options()).unwrap();
        assert_eq!(p.keys, ["Status"]);
        for (set, expected) in [
            (("Staus", json!("Done")), "Did you mean \"Status\"?"),
            (("Task ID", json!("3")), "read-only"),
            (("Status", json!("Blocked")), "has no option \"Blocked\""),
            (("page_id", json!("x")), "the page id is not a value to set"),
            (
                ("in_trash", json!("true")),
                "written with @: --set @in_trash=…",
            ),
        ] {
            let err = prepare(&config(std::slice::from_ref(&set)), &options()).unwrap_err();
            assert!(err.contains(expected), "{set:?}: {err}");
        }
    }

    #[test]
    fn pages_keep_the_rows_an_earlier_run_gave_them() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.jsonl");
        let (a, b, c) = (
            NotionId::from_u128(1),
            NotionId::from_u128(2),
            NotionId::from_u128(3),
        );
        let mut writer = crate::report::ReportWriter::open(&report).unwrap();
        for (row, page) in [(1, a), (2, b)] {
            let line = crate::outcome::ReportLine::unsent(
                row,
                Some(page.to_string()),
                crate::outcome::Outcome::Ok,
                None,
            );
            writer.write(&line).unwrap();
        }
        // `a` no longer matches; `c` is new; `b` keeps row 2.
        assert_eq!(number(&[c, b], Some(&report), 0).unwrap(), [(3, c), (2, b)]);
        assert_eq!(number(&[c, b], None, 0).unwrap(), [(1, c), (2, b)]);
    }
}
