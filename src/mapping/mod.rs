//! Row -> validated PATCH body. A [`Mapper`] is built once from the header (CSV) or the
//! options (JSONL); after that, each input row becomes exactly one [`Mapped`]: an update to
//! send, a row that changes nothing (`skipped`), or an invalid row with every problem named.

pub mod body;
pub mod cell;
pub mod column;
pub mod file;
pub mod key;
pub mod native;
pub mod page;
pub mod related;
pub mod text;
pub mod value;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

pub use body::{Body, Field, Properties};
pub use column::{ColumnMapping, ColumnPlan, HeaderError, PropertyColumn, RelationKey};
pub use related::{Related, RelatedPage};
pub use value::{EditOp, FileItem, ItemEdit, PropertyValue, Verification};

use crate::mapping::key::{KeySpec, RowKey};
use crate::notion::{NotionId, PropertyType, Schema, Version};
use crate::source::{InputFile, Record, Source, SourceError, SourceRow};
use cell::CellRules;

/// What an empty CSV cell (or empty flat-JSONL string) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmptyCells {
    /// Leave the property as it is.
    #[default]
    Skip,
    /// Clear the property.
    Clear,
}

/// Everything the mapper needs to know, from the flags and the job file.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingOptions {
    pub version: Version,
    pub id_column: String,
    pub separator: char,
    pub empty: EmptyCells,
    /// IANA time zone for date-times written without an offset, for every date column.
    pub time_zone: Option<String>,
    pub columns: Vec<ColumnMapping>,
    /// The target data source's schema: types for plain headers, names and options checked.
    pub schema: Option<Arc<Schema>>,
    /// The workspace's users by lowercase email (from the schema), for people cells.
    pub users_by_email: Option<Arc<cell::Users>>,
    /// `--add-missing-options`: an option the schema lacks (status too) is noted to be added
    /// before the run, not refused.
    pub add_missing_options: bool,
    /// Values written to every row that is sent, keyed like a flat JSONL key (`Done`,
    /// `"Migrated:checkbox"`), in the order of their keys.
    pub constants: Vec<(String, Value)>,
    /// How number cells write decimals and thousands (`--decimal-comma`).
    pub numbers: cell::NumberFormat,
    /// `--columns`: the only input columns (or flat JSONL keys) to use, besides the id column;
    /// every other one is ignored. `None`: every column is used.
    pub columns_only: Option<Vec<String>>,
    /// `--match-on`: rows name their page by this key property, not by a page id.
    pub match_on: Option<Arc<KeySpec>>,
    /// Files cells' local paths and the largest file (issue 21).
    pub files: file::FileRules,
}

impl MappingOptions {
    /// Uses this schema (and its users, if it has them) from now on.
    pub fn set_schema(&mut self, schema: Schema) {
        self.users_by_email = schema.users_by_email().map(Arc::new);
        self.schema = Some(Arc::new(schema));
    }
}

impl Default for MappingOptions {
    fn default() -> MappingOptions {
        MappingOptions {
            version: Version::default(),
            id_column: "page_id".into(),
            separator: ';',
            empty: EmptyCells::Skip,
            time_zone: None,
            columns: Vec::new(),
            schema: None,
            users_by_email: None,
            add_missing_options: false,
            constants: Vec::new(),
            numbers: cell::NumberFormat::default(),
            columns_only: None,
            match_on: None,
            files: file::FileRules::default(),
        }
    }
}

/// One thing wrong with a row: the column (or key, or a native line's property) and the
/// reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub column: Option<String>,
    pub reason: String,
    /// `column` names a property of a native line's `properties`, not a column or key.
    pub is_property: bool,
    /// The report's `code` for a row invalid for this reason (`ambiguous_key`, `no_match`).
    pub code: Option<&'static str>,
}

impl Problem {
    pub fn at(column: &str, reason: impl Into<String>) -> Problem {
        Problem {
            column: Some(column.to_owned()),
            reason: reason.into(),
            is_property: false,
            code: None,
        }
    }

    /// A problem with one property of a native line.
    pub fn property(name: &str, reason: impl Into<String>) -> Problem {
        Problem {
            is_property: true,
            ..Problem::at(name, reason)
        }
    }

    pub fn row(reason: impl Into<String>) -> Problem {
        Problem {
            column: None,
            reason: reason.into(),
            is_property: false,
            code: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) if self.is_property => write!(f, "property {c:?}: {}", self.reason),
            Some(c) => write!(f, "column {c:?}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// An input row that cannot be sent, with everything wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    pub row: u64,
    pub line: u64,
    pub page_id: Option<NotionId>,
    /// With `--match-on`: the row's key, if it could be read.
    pub key: Option<RowKey>,
    pub problems: Vec<Problem>,
}

impl RowError {
    /// The report's `code`: the first problem's that has one.
    pub fn code(&self) -> Option<&'static str> {
        self.problems.iter().find_map(|p| p.code)
    }

    /// The problems without the row: what goes in the report's `message`.
    pub fn message(&self) -> String {
        self.problems
            .iter()
            .map(Problem::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row {} (line {}): {}",
            self.row,
            self.line,
            self.message()
        )
    }
}

/// A row that became a request.
#[derive(Debug, Clone, PartialEq)]
pub struct PageUpdate {
    pub row: u64,
    pub line: u64,
    /// The page; with `--match-on`, [`NotionId::UNMATCHED`] until the matcher finds it.
    pub page_id: NotionId,
    /// With `--match-on`: the row's key.
    pub key: Option<RowKey>,
    pub body: Body,
}

/// Which page a row is for, as the mapper reads it: its id, or (`--match-on`) its key.
#[derive(Debug, Clone, Default)]
struct Target {
    page_id: Option<NotionId>,
    key: Option<RowKey>,
}

/// The one result of mapping one input row.
// Most rows are updates: boxing the large variant would cost an allocation per row.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Update(PageUpdate),
    /// The row changes nothing and is not sent.
    Skipped {
        row: u64,
        page_id: NotionId,
        key: Option<RowKey>,
    },
    /// With a data source: the page already has every value the row writes (SPEC §9); not
    /// sent.
    Unchanged {
        row: u64,
        page_id: NotionId,
        key: Option<RowKey>,
    },
    /// With `--match-on`: no page has the row's key (`pages` empty), or several have it
    /// (SPEC §10); nothing is sent.
    Unmatched {
        row: u64,
        key: RowKey,
        /// The key property, for the message.
        property: Arc<str>,
        pages: Vec<NotionId>,
        /// How many pages of the data source have a key Notion could not compute (formula or
        /// rollup values of type `unsupported`): with no page found, one of them may hold it.
        unreadable: u64,
    },
    Invalid(RowError),
}

impl Mapped {
    pub fn row(&self) -> u64 {
        match self {
            Mapped::Update(u) => u.row,
            Mapped::Skipped { row, .. }
            | Mapped::Unchanged { row, .. }
            | Mapped::Unmatched { row, .. } => *row,
            Mapped::Invalid(e) => e.row,
        }
    }

    /// The row's page, when it is known.
    pub fn page_id(&self) -> Option<NotionId> {
        let id = match self {
            Mapped::Update(u) => Some(u.page_id),
            Mapped::Skipped { page_id, .. } | Mapped::Unchanged { page_id, .. } => Some(*page_id),
            Mapped::Unmatched { .. } => None,
            Mapped::Invalid(e) => e.page_id,
        };
        id.filter(|id| *id != NotionId::UNMATCHED)
    }

    /// With `--match-on`: the row's key.
    pub fn key(&self) -> Option<&RowKey> {
        match self {
            Mapped::Update(u) => u.key.as_ref(),
            Mapped::Skipped { key, .. } | Mapped::Unchanged { key, .. } => key.as_ref(),
            Mapped::Unmatched { key, .. } => Some(key),
            Mapped::Invalid(e) => e.key.as_ref(),
        }
    }
}

/// Turns input rows into [`Mapped`] results.
#[derive(Debug)]
pub struct Mapper {
    options: MappingOptions,
    /// For CSV: one plan per column, resolved from the header.
    columns: Vec<ColumnPlan>,
    /// For flat JSONL: keys resolved so far (`None`: the key has no type).
    keys: HashMap<String, Result<Option<ColumnPlan>, String>>,
    /// The job file's constants, converted once.
    constants: Vec<(Arc<str>, PropertyValue)>,
    /// Select and multi-select options the schema does not have yet, each noted once.
    new_options: RefCell<NewOptions>,
    /// The row being mapped, for [`NewOption::row`] (0 while reading constants).
    row: Cell<u64>,
    /// Relation columns by key: what their keys found ([`Mapper::set_related`]).
    related: HashMap<RelationKey, Arc<Related>>,
    /// While [`Mapper::relation_keys`] reads ahead: the distinct keys of each.
    probe: RefCell<Option<HashMap<RelationKey, KeysAhead>>>,
    /// The row's problems that carry a code (a relation key that found no page or several).
    coded: RefCell<Vec<Problem>>,
}

/// The distinct keys of one relation column read ahead: those seen (canonical), and each key
/// in input order.
type KeysAhead = (HashSet<Arc<str>>, Vec<RowKey>);

/// Options written that the schema lacks: every one seen, and those not yet taken.
#[derive(Debug, Default)]
struct NewOptions {
    seen: HashSet<(Arc<str>, String)>,
    pending: Vec<NewOption>,
}

/// A select or multi-select option that is not in the schema yet: Notion adds it on the first
/// write when the integration may edit the data source's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOption {
    pub property: Arc<str>,
    /// select, multi_select or status.
    pub ty: PropertyType,
    pub option: String,
    /// A status option's group, as the header names it (`None`: To-do).
    pub group: Option<Arc<str>>,
    /// The first row that writes it.
    pub row: u64,
    /// An existing option close to it (a typo, or the same text with other code points), as
    /// [`spelling::mention`](crate::spelling::mention) shows it.
    pub near: Option<String>,
}

impl fmt::Display for NewOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut place = match self.row {
            0 => "set by a constant".to_string(),
            row => format!("first in row {row}"),
        };
        if let Some(near) = &self.near {
            place += &format!("; did you mean {near}?");
        }
        write!(
            f,
            "{:?} is not yet an option of {:?} ({place}): Notion adds it on the first write if \
             the integration may edit the data source's schema, else those rows fail",
            self.option, self.property
        )
    }
}

impl Mapper {
    /// A mapper for a CSV file with this header.
    pub fn for_csv(headers: &[String], options: MappingOptions) -> Result<Mapper, HeaderError> {
        let columns = column::resolve_header(headers, &options)?;
        Mapper::new(options, columns)
    }

    /// A mapper for what `source` reads: CSV with its header, or JSONL.
    pub fn for_source(source: &Source, options: MappingOptions) -> Result<Mapper, HeaderError> {
        match source.headers() {
            Some(headers) => Mapper::for_csv(headers, options),
            None => Mapper::for_jsonl(options),
        }
    }

    /// A mapper for JSONL lines.
    pub fn for_jsonl(options: MappingOptions) -> Result<Mapper, HeaderError> {
        for m in &options.columns {
            column::resolve(&m.column, &options).map_err(HeaderError)?;
        }
        Mapper::new(options, Vec::new())
    }

    fn new(options: MappingOptions, columns: Vec<ColumnPlan>) -> Result<Mapper, HeaderError> {
        let mut mapper = Mapper {
            options,
            columns,
            keys: HashMap::new(),
            constants: Vec::new(),
            new_options: RefCell::default(),
            row: Cell::new(0),
            related: HashMap::new(),
            probe: RefCell::new(None),
            coded: RefCell::default(),
        };
        mapper.constants = mapper.resolve_constants()?;
        Ok(mapper)
    }

    /// Converts each constant once, as a flat JSONL key and value; any problem is a config
    /// error. A CSV column that writes the same property is one too.
    fn resolve_constants(&self) -> Result<Vec<(Arc<str>, PropertyValue)>, HeaderError> {
        let mut out: Vec<(Arc<str>, PropertyValue)> = Vec::new();
        for (key, value) in &self.options.constants {
            let bad = |reason: String| HeaderError(format!("constant {key:?}: {reason}"));
            let plan = column::resolve(key, &self.options).map_err(bad)?;
            let Some(ColumnPlan::Property(p)) = &plan else {
                return Err(bad(match plan {
                    None => format!(
                        "no type: write it as \"{key}:<type>\" (e.g. \"{key}:checkbox\") or give a schema"
                    ),
                    Some(_) => "constants set properties; page-level fields and the id cannot be constants".into(),
                }));
            };
            let mut values = Vec::new();
            let (mut target, mut body) = (Target::default(), Body::default());
            let plan = ColumnPlan::Property(p.clone());
            self.apply_json(&plan, value, &mut target, &mut body, &mut values)
                .map_err(bad)?;
            if values.is_empty() {
                return Err(bad(
                    "it is empty, so it would write nothing (an empty value means --empty): \
                     remove it, or run with --empty clear to clear the property on every row"
                        .into(),
                ));
            }
            let clash = self.columns.iter().find_map(|c| match c {
                ColumnPlan::Property(c) if c.property == p.property => Some(c.column.clone()),
                _ => None,
            });
            if let Some(column) = clash {
                return Err(bad(format!(
                    "column {column:?} also writes property {:?}: drop the column or the constant",
                    p.property
                )));
            }
            if out.iter().any(|(name, _)| *name == p.property) {
                return Err(bad(format!(
                    "another constant also writes property {:?}",
                    p.property
                )));
            }
            out.extend(values);
        }
        Ok(out)
    }

    /// The select and multi-select options not in the schema seen since the last call, each
    /// (property, option) once per run. Callers print them as warnings.
    pub fn take_new_options(&self) -> Vec<NewOption> {
        std::mem::take(&mut self.new_options.borrow_mut().pending)
    }

    /// A mapper of its own (with these options) over a fresh read of `input`, to read the rows
    /// ahead before the run (keys to look up, options to add). `Err`: why the input cannot be
    /// read again.
    pub fn read_ahead(&self, input: InputFile<'_>) -> Result<(Source, Mapper), String> {
        let source =
            Source::open(input.path, input.format, input.encoding).map_err(|e| e.to_string())?;
        let mapper =
            Mapper::for_source(&source, self.options.clone()).map_err(|e| e.to_string())?;
        Ok((source, mapper))
    }

    /// `--add-missing-options`: every option the rows of `source` (and the constants) name
    /// that the schema lacks, each once, in the order first met. The rows are mapped as the run
    /// will map them, by this mapper of their own, before anything is written.
    pub fn options_to_add(&mut self, source: &mut Source) -> Result<Vec<NewOption>, SourceError> {
        let mut all = self.take_new_options();
        let mut row = source.empty_row();
        while source.read(&mut row)? {
            self.map(&row);
            all.extend(self.take_new_options());
        }
        Ok(all)
    }

    /// The relation columns whose cells are keys (each related data source and key property
    /// once, in column order).
    pub fn relation_columns(&self) -> Vec<RelationKey> {
        let mut out: Vec<RelationKey> = Vec::new();
        for c in &self.columns {
            if let ColumnPlan::Property(PropertyColumn {
                relation_key: Some(k),
                ..
            }) = c
            {
                if !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
        out
    }

    /// What the keys of a relation column found (with an empty [`Related::pages`] before the
    /// lookups, for [`Mapper::relation_keys`]).
    pub fn set_related(&mut self, key: RelationKey, related: Related) {
        self.related.insert(key, Arc::new(related));
    }

    /// The distinct keys every row of `source` names in each relation column, in input order,
    /// read ahead by this mapper (its [`Related`] set, their pages not yet known).
    pub fn relation_keys(
        &mut self,
        source: &mut Source,
    ) -> Result<HashMap<RelationKey, Vec<RowKey>>, SourceError> {
        *self.probe.borrow_mut() = Some(HashMap::new());
        let mut row = source.empty_row();
        while source.read(&mut row)? {
            self.map(&row);
        }
        let probe = self.probe.borrow_mut().take().unwrap_or_default();
        Ok(probe.into_iter().map(|(k, (_, keys))| (k, keys)).collect())
    }

    /// Whether a column of the header is a files property (whose cells may name files to
    /// upload); flat JSONL keys are only known row by row.
    pub fn has_files_columns(&self) -> bool {
        self.columns
            .iter()
            .any(|c| matches!(c, ColumnPlan::Property(p) if p.ty == PropertyType::Files))
    }

    /// The largest file the workspace takes, as its bot user says.
    pub fn set_file_limit(&mut self, bytes: u64, from: &'static str) {
        self.options.files.max_bytes = bytes;
        self.options.files.limit_from = from;
    }

    pub fn options(&self) -> &MappingOptions {
        &self.options
    }

    /// The body keys this mapper's rows can write (property names, then `icon`, `cover`,
    /// `in_trash`, `is_locked`), known from a CSV header and the constants; `None` for JSONL,
    /// whose lines may write anything.
    pub fn written_keys(&self) -> Option<Vec<String>> {
        if self.columns.is_empty() {
            return None;
        }
        let mut keys: Vec<String> = Vec::new();
        let properties = self.columns.iter().filter_map(|c| match c {
            ColumnPlan::Property(p) => Some(p.property.to_string()),
            _ => None,
        });
        let constants = self.constants.iter().map(|(name, _)| name.to_string());
        let pages = self.columns.iter().filter_map(|c| match c {
            ColumnPlan::Page(PageField::Icon) => Some("icon".to_owned()),
            ColumnPlan::Page(PageField::Cover) => Some("cover".to_owned()),
            ColumnPlan::Page(PageField::InTrash | PageField::Archived) => {
                Some("in_trash".to_owned())
            }
            ColumnPlan::Page(PageField::IsLocked) => Some("is_locked".to_owned()),
            _ => None,
        });
        for key in properties.chain(constants).chain(pages) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        Some(keys)
    }

    /// Which field each part of a raw record sets, for `--failed-out`.
    pub fn locator(&self) -> Locator {
        Locator {
            columns: self
                .columns
                .iter()
                .map(|plan| match plan {
                    ColumnPlan::Property(p) => {
                        Some((Field::Property(p.property.clone()), p.edit.is_some()))
                    }
                    ColumnPlan::Page(f) => Some((f.field(), f.empty_is_unchanged())),
                    // The key finds the page: --failed-out always keeps it.
                    ColumnPlan::Id | ColumnPlan::Ignore | ColumnPlan::Key(_) => None,
                })
                .collect(),
            options: self.options.clone(),
        }
    }

    /// Maps one row.
    pub fn map(&mut self, source: &SourceRow) -> Mapped {
        self.row.set(source.row);
        let result = match &source.record {
            Record::Csv(record) => self.map_csv(record),
            Record::Json(line) => self.map_json(line),
        };
        let result = result.and_then(|(target, body)| self.add_constants(target, body));
        match result {
            Ok((target, body)) if body.is_empty() => Mapped::Skipped {
                row: source.row,
                page_id: target.page_id.unwrap_or(NotionId::UNMATCHED),
                key: target.key,
            },
            Ok((target, body)) => Mapped::Update(PageUpdate {
                row: source.row,
                line: source.line,
                page_id: target.page_id.unwrap_or(NotionId::UNMATCHED),
                key: target.key,
                body,
            }),
            Err((target, problems)) => Mapped::Invalid(RowError {
                row: source.row,
                line: source.line,
                page_id: target.page_id,
                key: target.key,
                problems,
            }),
        }
    }

    fn map_csv(&self, record: &csv::ByteRecord) -> Result<(Target, Body), (Target, Vec<Problem>)> {
        if record.len() != self.columns.len() {
            return Err((
                Target::default(),
                vec![Problem::row(format!(
                    "the line has {} fields but the header has {}: check for an unquoted delimiter or a stray quote",
                    record.len(),
                    self.columns.len(),
                ))],
            ));
        }
        let mut problems = Vec::new();
        let mut target = Target::default();
        let mut body = Body::default();
        let mut values = Vec::with_capacity(self.columns.len());
        for (plan, raw) in self.columns.iter().zip(record.iter()) {
            let header = || column_name(plan, &self.options);
            let cell = match std::str::from_utf8(raw) {
                Ok(cell) => cell,
                Err(e) => {
                    problems.push(Problem::at(
                        &header(),
                        format!(
                            "the cell is not valid UTF-8 (bad byte at offset {}): save the file as UTF-8, or name its encoding with --encoding (e.g. windows-1252)",
                            e.valid_up_to()
                        ),
                    ));
                    continue;
                }
            };
            if let Err(reason) = self.apply_text(plan, cell, &mut target, &mut body, &mut values) {
                problems.push(Problem::at(&header(), reason));
            }
        }
        body.properties = Properties::Typed(values);
        problems.extend(self.coded.borrow_mut().drain(..));
        checked(target, body, problems, &self.options)
    }

    /// Applies one cell's text to the row being built.
    fn apply_text(
        &self,
        plan: &ColumnPlan,
        cell: &str,
        target: &mut Target,
        body: &mut Body,
        values: &mut Vec<(std::sync::Arc<str>, PropertyValue)>,
    ) -> Result<(), String> {
        let empty = cell.trim().is_empty();
        match plan {
            ColumnPlan::Ignore => {}
            ColumnPlan::Id => {
                target.page_id = Some(NotionId::parse(cell).map_err(|e| e.to_string())?);
            }
            ColumnPlan::Key(k) => {
                let spec = self
                    .options
                    .match_on
                    .as_deref()
                    .expect("a key column has a key");
                let Some(key) = spec.row_key(cell, self.options.numbers)? else {
                    return Err(no_key(&spec.property));
                };
                if let Some(p) = &k.value {
                    let plan = ColumnPlan::Property(p.clone());
                    self.apply_text(&plan, &key.text, target, body, values)?;
                }
                target.key = Some(key);
            }
            ColumnPlan::Page(field) if empty => {
                if self.options.empty == EmptyCells::Clear {
                    field.clear(body);
                }
            }
            ColumnPlan::Page(field) => {
                field.apply(cell, body, self.options.version, &self.options.files)?
            }
            // An empty add or remove cell has no items: it changes nothing, whatever --empty says.
            ColumnPlan::Property(p) if empty && p.edit.is_some() => {}
            ColumnPlan::Property(p) if !empty && p.relation_key.is_some() => {
                self.apply_related(p, cell, values)?;
            }
            ColumnPlan::Property(p) if empty => {
                if self.options.empty == EmptyCells::Clear {
                    let value =
                        PropertyValue::cleared(p.ty).ok_or_else(|| cell::read_only_reason(p.ty))?;
                    values.push((p.property.clone(), value));
                }
            }
            ColumnPlan::Property(p) => {
                let rules = CellRules {
                    separator: p.separator,
                    time_zone: p.time_zone.as_deref(),
                    users: self.options.users_by_email.as_deref(),
                    numbers: self.options.numbers,
                    files: Some(&self.options.files),
                };
                let value = cell::parse_cell(p.ty, cell, rules)?;
                self.push_checked(p, value, values)?;
            }
        }
        Ok(())
    }

    /// A relation cell of keys (`Parts:relation[SKU]`): each item's page, as the lookups found
    /// it (an item in Notion's export form, `Title (URL)`, by its URL). A key that found no page
    /// or several is a coded problem of the row; while reading ahead, the keys are only noted.
    fn apply_related(
        &self,
        p: &PropertyColumn,
        cell: &str,
        values: &mut Vec<(Arc<str>, PropertyValue)>,
    ) -> Result<(), String> {
        let rk = p.relation_key.as_ref().expect("a relation key column");
        let related = self
            .related
            .get(rk)
            .ok_or_else(|| format!("the pages {:?} names were not looked up", rk.property))?;
        let items: Vec<&str> = cell
            .split(p.separator)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.len() > text::MAX_ARRAY_ITEMS {
            return Err(format!(
                "{} values; Notion takes at most {} in one relation property",
                items.len(),
                text::MAX_ARRAY_ITEMS
            ));
        }
        let mut probe = self.probe.borrow_mut();
        let mut ids = Vec::with_capacity(items.len());
        let mut unresolved = Vec::new();
        for item in items {
            if let Some(id) = related::export_form_id(item) {
                ids.push(id);
                continue;
            }
            let Some(key) = related.spec.row_key(item, self.options.numbers)? else {
                continue;
            };
            if let Some(probe) = probe.as_mut() {
                let (seen, keys) = probe.entry(rk.clone()).or_default();
                if seen.insert(key.canonical.clone()) {
                    keys.push(key);
                }
                continue;
            }
            match related.page(&key.text, &key.canonical) {
                Ok(id) => ids.push(id),
                Err((reason, code)) => unresolved.push(Problem {
                    code: Some(code),
                    ..Problem::at(&p.column, reason)
                }),
            }
        }
        if probe.is_some() {
            return Ok(());
        }
        if !unresolved.is_empty() {
            self.coded.borrow_mut().extend(unresolved);
            return Ok(());
        }
        self.push_checked(p, PropertyValue::Relation(ids), values)
    }

    fn map_json(&mut self, line: &[u8]) -> Result<(Target, Body), (Target, Vec<Problem>)> {
        let text = std::str::from_utf8(line).map_err(|e| {
            (
                Target::default(),
                vec![Problem::row(format!(
                    "the line is not valid UTF-8 (bad byte at offset {}): save the file as UTF-8, or name its encoding with --encoding (e.g. windows-1252)",
                    e.valid_up_to()
                ))],
            )
        })?;
        let object: Map<String, Value> = match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err((
                    Target::default(),
                    vec![Problem::row(format!(
                        "expected a JSON object per line, found {}",
                        json_kind(&other)
                    ))],
                ))
            }
            Err(e) => {
                return Err((
                    Target::default(),
                    vec![Problem::row(format!("the line is not valid JSON: {e}"))],
                ))
            }
        };
        let is_native = object.contains_key("properties")
            || object
                .keys()
                .all(|k| native::NATIVE_KEYS.contains(&k.as_str()));
        if is_native {
            if let Some(key) = &self.options.match_on {
                return Err((
                    Target::default(),
                    vec![Problem::row(format!(
                        "this line is in Notion's own shape (\"properties\"), which names its page by \
                         page_id: --match-on {:?} reads CSV rows and flat JSONL lines ({{\"{}\": \"…\", …}})",
                        key.property, key.property
                    ))],
                ));
            }
            let this = &*self;
            return native::native_body(object, this.options.version, &mut |key, ty, value| {
                this.check_native(key, ty, value)
            })
            .map(|(page_id, body)| {
                let target = Target {
                    page_id: Some(page_id),
                    key: None,
                };
                (target, body)
            })
            .map_err(|(page_id, problems)| (Target { page_id, key: None }, problems));
        }
        self.map_flat(object)
    }

    fn map_flat(
        &mut self,
        object: Map<String, Value>,
    ) -> Result<(Target, Body), (Target, Vec<Problem>)> {
        let mut problems = Vec::new();
        let mut target = Target::default();
        let mut body = Body::default();
        let mut values = Vec::new();
        for (key, value) in &object {
            let plan = match self.key_plan(key) {
                Ok(Some(plan)) => plan,
                Ok(None) => {
                    problems.push(Problem::at(key, format!(
                        "no type for key {key:?}: write it as \"{key}:<type>\" (e.g. \"{key}:select\") or map it in the job file's [columns]"
                    )));
                    continue;
                }
                Err(reason) => {
                    problems.push(Problem::at(key, reason));
                    continue;
                }
            };
            let result = self.apply_json(&plan, value, &mut target, &mut body, &mut values);
            if let Err(reason) = result {
                problems.push(Problem::at(key, reason));
            }
        }
        body.properties = Properties::Typed(values);
        problems.extend(self.coded.borrow_mut().drain(..));
        checked(target, body, problems, &self.options)
    }

    /// Applies one flat JSONL value (or constant) to the row being built.
    fn apply_json(
        &self,
        plan: &ColumnPlan,
        value: &Value,
        target: &mut Target,
        body: &mut Body,
        values: &mut Vec<(Arc<str>, PropertyValue)>,
    ) -> Result<(), String> {
        match (plan, value) {
            // An ignored key's value is not looked at, whatever it is.
            (ColumnPlan::Ignore, _) => Ok(()),
            (ColumnPlan::Property(p), Value::Null) if p.edit.is_some() => Ok(()),
            (ColumnPlan::Property(p), Value::Null) => PropertyValue::cleared(p.ty)
                .ok_or_else(|| cell::read_only_reason(p.ty))
                .map(|v| values.push((p.property.clone(), v))),
            (ColumnPlan::Property(p), Value::Array(items)) if p.ty.is_multi_valued() => {
                let value = json_strings(items).and_then(|items| {
                    cell::parse_items(
                        p.ty,
                        items.into_iter(),
                        self.options.users_by_email.as_deref(),
                        Some(&self.options.files),
                    )
                })?;
                self.push_checked(p, value, values)
            }
            (ColumnPlan::Page(field), Value::Null) => {
                field.clear(body);
                Ok(())
            }
            // A JSON number is unambiguous whatever --decimal-comma says.
            (ColumnPlan::Property(p), Value::Number(n)) if p.ty == PropertyType::Number => {
                let n = cell::without_negative_zero(n.clone());
                self.push_checked(p, PropertyValue::Number(Some(n)), values)
            }
            (_, Value::String(text)) => self.apply_text(plan, text, target, body, values),
            (_, Value::Number(n)) => self.apply_text(plan, &n.to_string(), target, body, values),
            (_, Value::Bool(b)) => self.apply_text(
                plan,
                if *b { "true" } else { "false" },
                target,
                body,
                values,
            ),
            (ColumnPlan::Id, Value::Null) => {
                Err("the page id cannot be null: give the page's id or URL".into())
            }
            (ColumnPlan::Key(k), Value::Null) => Err(format!(
                "the key {:?} cannot be null: it finds the row's page; give its value",
                k.column
            )),
            (plan, other) => Err(format!(
                "expected {}, found {}",
                json_takes(plan),
                json_kind(other)
            )),
        }
    }

    /// Adds a converted value after checking its options against the schema: a status must
    /// be an existing option; a select or multi-select option the schema lacks is noted.
    fn push_checked(
        &self,
        p: &PropertyColumn,
        value: PropertyValue,
        values: &mut Vec<(Arc<str>, PropertyValue)>,
    ) -> Result<(), String> {
        if let Some(choices) = p
            .choices
            .as_ref()
            .filter(|_| p.edit != Some(EditOp::Remove))
        {
            let names: Vec<&str> = match &value {
                PropertyValue::Status(Some(name)) | PropertyValue::Select(Some(name)) => {
                    vec![name]
                }
                PropertyValue::MultiSelect(names) => names.iter().map(String::as_str).collect(),
                _ => Vec::new(),
            };
            self.check_options(&p.property, p.ty, choices, &names, p.group.as_ref())?;
        }
        let Some(op) = p.edit else {
            values.push((p.property.clone(), value));
            return Ok(());
        };
        // `Tags+` and `Tags-` of one row make one edit of `Tags`.
        let edit = ItemEdit::of(op, value);
        match values.iter_mut().find(|(name, _)| *name == p.property) {
            Some((_, PropertyValue::Edit(earlier))) => earlier.merge(edit),
            _ => values.push((p.property.clone(), PropertyValue::Edit(Box::new(edit)))),
        }
        Ok(())
    }

    /// The options a value names, against the schema's: a status must be one of them (else
    /// the reason); a new select or multi-select option is noted for a warning.
    fn check_options(
        &self,
        property: &Arc<str>,
        ty: PropertyType,
        choices: &[String],
        names: &[&str],
        group: Option<&Arc<str>>,
    ) -> Result<(), String> {
        for name in names {
            if choices.iter().any(|c| c == name) {
                continue;
            }
            if ty == PropertyType::Status && !self.options.add_missing_options {
                let hint = crate::spelling::closest(name, choices.iter().map(String::as_str))
                    .map(|n| format!(" Did you mean {}?", crate::spelling::mention(name, n)))
                    .unwrap_or_default();
                return Err(format!(
                    "status {property:?} has no option {name:?}.{hint} Its options are: {}. A \
                     status option must exist before a page can take it: add it in Notion, fix \
                     the value, or run with --add-missing-options",
                    choices.join(", ")
                ));
            }
            let mut new = self.new_options.borrow_mut();
            if new.seen.insert((property.clone(), (*name).to_owned())) {
                new.pending.push(NewOption {
                    property: property.clone(),
                    ty,
                    option: (*name).to_owned(),
                    group: group.cloned(),
                    row: self.row.get(),
                    near: crate::spelling::closest(name, choices.iter().map(String::as_str))
                        .map(|n| crate::spelling::mention(name, n)),
                });
            }
        }
        Ok(())
    }

    /// A native line's property against the schema, as a CSV header or flat key is checked
    /// (`column::schema_property`): its name or id, a writable type that is the property's,
    /// and its options. Gives the name to send it under: the schema's.
    fn check_native(&self, key: &str, ty: PropertyType, value: &Value) -> Result<Arc<str>, String> {
        use column::SchemaMismatch;
        let Some(schema) = self.options.schema.as_deref() else {
            return Ok(Arc::from(key));
        };
        let (found, actual) = column::schema_property(schema, key, None).map_err(|m| match m {
            SchemaMismatch::Unknown { hint, names } => format!(
                "the data source {:?} has no property {key:?}.{} Its properties are: {}. Name \
                     the property by its name or id (as `notion-bulk schema` prints them).",
                schema.title,
                SchemaMismatch::did_you_mean(&hint),
                names.join(", ")
            ),
            SchemaMismatch::Unsupported { property, ty } => format!(
                "{property:?} is a {ty} property, which Notion's API cannot set: drop it from \
                     the line"
            ),
            SchemaMismatch::ReadOnly { property, ty } => format!(
                "{property:?} is a {ty} property: read-only, Notion computes it and a page \
                     update cannot set it; drop it from the line"
            ),
            SchemaMismatch::WrongType { .. } => unreachable!("no type was declared"),
        })?;
        if actual != ty {
            return Err(format!(
                "the value is a {ty} value, but {:?} is a {actual} property in the schema of \
                 {:?}: write it as {{\"{actual}\": …}}",
                found.name, schema.title
            ));
        }
        let name: Arc<str> = Arc::from(found.name.as_str());
        if matches!(
            ty,
            PropertyType::Select | PropertyType::MultiSelect | PropertyType::Status
        ) {
            let names = native::option_names(ty, value);
            self.check_options(&name, ty, &found.options, &names, None)?;
        }
        Ok(name)
    }

    /// Adds the constants to a row that changes something; a row that changes nothing stays
    /// skipped.
    fn add_constants(
        &self,
        target: Target,
        mut body: Body,
    ) -> Result<(Target, Body), (Target, Vec<Problem>)> {
        if self.constants.is_empty() || body.is_empty() {
            return Ok((target, body));
        }
        let Properties::Typed(values) = &mut body.properties else {
            return Ok((target, body));
        };
        for (name, value) in &self.constants {
            if values.iter().any(|(n, _)| n == name) {
                return Err((
                    target,
                    vec![Problem::at(
                        name,
                        "the row sets this property and the job file's [constants] sets it too: drop one",
                    )],
                ));
            }
            values.push((name.clone(), value.clone()));
        }
        Ok((target, body))
    }

    fn key_plan(&mut self, key: &str) -> Result<Option<ColumnPlan>, String> {
        if !self.keys.contains_key(key) {
            let plan = column::resolve(key, &self.options);
            self.keys.insert(key.to_owned(), plan);
        }
        self.keys[key].clone()
    }
}

/// Which field each part of a raw input record sets, so that `--failed-out` can write a row
/// without the fields a later row of its page already set, in the input's own format.
#[derive(Debug, Clone)]
pub struct Locator {
    /// For CSV: the field each column sets, and whether an empty cell leaves it unchanged even
    /// under `--empty clear` (the page booleans).
    columns: Vec<Option<(Field, bool)>>,
    options: MappingOptions,
}

impl Locator {
    /// For CSV: the field each column sets (`None`: the id, an ignored column).
    pub fn csv_fields(&self) -> &[Option<(Field, bool)>] {
        &self.columns
    }

    pub fn empty(&self) -> EmptyCells {
        self.options.empty
    }

    /// A JSONL line (native or flat) without the keys that set a field `drop` picks.
    pub fn reduce_json(&self, line: &[u8], drop: &dyn Fn(&Field) -> bool) -> Reduced {
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(line) else {
            return Reduced::AsIs;
        };
        let native = object.contains_key("properties")
            || object
                .keys()
                .all(|k| native::NATIVE_KEYS.contains(&k.as_str()));
        let schema = self.options.schema.as_deref();
        let mut dropped = false;
        let mut keep = |field: Option<Field>| {
            let gone = field.is_some_and(|f| drop(&f));
            dropped |= gone;
            !gone
        };
        if native {
            if let Some(Value::Object(properties)) = object.get_mut("properties") {
                properties.retain(|key, _| {
                    let name = schema
                        .and_then(|s| s.property(key))
                        .map_or(key.as_str(), |p| p.name.as_str());
                    keep(Some(Field::Property(Arc::from(name))))
                });
            }
            object.retain(|key, _| {
                let field = match key.as_str() {
                    "icon" => Some(Field::Icon),
                    "cover" => Some(Field::Cover),
                    "in_trash" | "archived" => Some(Field::InTrash),
                    "is_locked" => Some(Field::IsLocked),
                    _ => None,
                };
                keep(field)
            });
        } else {
            object.retain(|key, _| {
                let field = match column::resolve(key, &self.options) {
                    Ok(Some(ColumnPlan::Property(p))) => Some(Field::Property(p.property)),
                    Ok(Some(ColumnPlan::Page(f))) => Some(f.field()),
                    _ => None,
                };
                keep(field)
            });
        }
        if !dropped {
            return Reduced::AsIs;
        }
        let changes = object.iter().any(|(key, value)| match key.as_str() {
            "page_id" => false,
            "properties" => value.as_object().is_some_and(|p| !p.is_empty()),
            k if k == self.options.id_column => false,
            _ => true,
        });
        match changes {
            true => Reduced::Line(serde_json::to_vec(&object).expect("JSON serialises")),
            false => Reduced::Nothing,
        }
    }
}

/// What [`Locator::reduce_json`] left of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reduced {
    /// The line without the dropped keys.
    Line(Vec<u8>),
    /// Nothing is left to change: the row is not written.
    Nothing,
    /// Nothing was dropped (or the line is not a JSON object): write it as it is.
    AsIs,
}

/// A row with every problem its cells had, and the page it names (an id, or with
/// `--match-on` a key): an error if it had a problem or names no page.
fn checked(
    target: Target,
    body: Body,
    mut problems: Vec<Problem>,
    options: &MappingOptions,
) -> Result<(Target, Body), (Target, Vec<Problem>)> {
    let found = match &options.match_on {
        Some(_) => target.key.is_some(),
        None => target.page_id.is_some(),
    };
    if !found {
        let (column, reason) = match &options.match_on {
            Some(key) => (key.property.to_string(), no_key(&key.property)),
            None => (
                options.id_column.clone(),
                "empty: every row needs the page to update".to_owned(),
            ),
        };
        if !problems
            .iter()
            .any(|p| p.column.as_deref() == Some(&column))
        {
            problems.insert(0, Problem::at(&column, reason));
        }
    }
    if problems.is_empty() {
        Ok((target, body))
    } else {
        Err((target, problems))
    }
}

/// The reason a row without its key is invalid.
fn no_key(property: &str) -> String {
    format!("empty: with --match-on {property:?} every row needs its key to find its page")
}

fn column_name(plan: &ColumnPlan, options: &MappingOptions) -> String {
    match plan {
        ColumnPlan::Id => options.id_column.clone(),
        ColumnPlan::Property(p) => p.column.to_string(),
        ColumnPlan::Key(k) => k.column.to_string(),
        ColumnPlan::Page(f) => PageField::ALL
            .iter()
            .find(|(_, x)| x == f)
            .map(|(n, _)| n.to_string())
            .unwrap_or_default(),
        ColumnPlan::Ignore => String::new(),
    }
}

fn json_strings(items: &[Value]) -> Result<Vec<&str>, String> {
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.as_str()),
            other => Err(format!(
                "expected a list of strings, found {} in it",
                json_kind(other)
            )),
        })
        .collect()
}

/// What a flat JSONL key takes, for the message about a value it does not (a list where one
/// value goes, an object anywhere).
fn json_takes(plan: &ColumnPlan) -> String {
    match plan {
        ColumnPlan::Id => "the page's id or URL, as a string".into(),
        ColumnPlan::Key(_) => "the key's value, as a string or number".into(),
        ColumnPlan::Page(_) => "a string or a boolean, or null to clear it".into(),
        ColumnPlan::Property(p) if p.ty.is_multi_valued() => {
            "a list of strings, a string, or null to clear it".into()
        }
        ColumnPlan::Property(p) => format!(
            "a string, number or boolean, or null to clear it (a {} property takes one value)",
            p.ty
        ),
        ColumnPlan::Ignore => "nothing (the key is ignored)".into(),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

use page::PageField;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PAGE: &str = "8d116ece-1738-47d9-bd9c-172411e20b8f";

    fn options_with_schema() -> MappingOptions {
        let schema: Schema = serde_json::from_value(json!({
            "format": 1, "data_source_id": "ds", "title": "Tasks",
            "properties": [
                {"id": "title", "name": "Name", "type": "title"},
                {"id": "s", "name": "Status", "type": "status", "options": ["Done", "Not started"]},
                {"id": "t", "name": "Tags", "type": "multi_select", "options": ["a"]},
                {"id": "d", "name": "Done", "type": "checkbox"},
            ]
        }))
        .unwrap();
        let mut options = MappingOptions::default();
        options.set_schema(schema);
        options
    }

    fn csv_row(row: u64, cells: &[&str]) -> SourceRow {
        SourceRow {
            row,
            line: row + 1,
            record: Record::Csv(csv::ByteRecord::from(cells.to_vec())),
        }
    }

    fn headers(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_add_and_a_remove_column_make_one_edit_and_an_empty_one_clears_nothing() {
        let mut options = options_with_schema();
        options.empty = EmptyCells::Clear;
        let mut mapper =
            Mapper::for_csv(&headers(&["page_id", "Tags+", "Tags-", "Done"]), options).unwrap();
        let names = |list: &[&str]| {
            PropertyValue::MultiSelect(list.iter().map(|s| s.to_string()).collect())
        };
        let Mapped::Update(u) = mapper.map(&csv_row(1, &[PAGE, "b;c", "a", "yes"])) else {
            panic!("an update")
        };
        let Properties::Typed(values) = &u.body.properties else {
            panic!("typed")
        };
        let mut edit = ItemEdit::of(EditOp::Add, names(&["b", "c"]));
        edit.merge(ItemEdit::of(EditOp::Remove, names(&["a"])));
        assert_eq!(
            values[0],
            (Arc::from("Tags"), PropertyValue::Edit(Box::new(edit)))
        );
        // New options are noted for an add, never for a remove.
        let noted: Vec<String> = mapper
            .take_new_options()
            .into_iter()
            .map(|o| o.option)
            .collect();
        assert_eq!(noted, ["b", "c"]);
        // Empty edit cells under --empty clear: Tags is left alone, Done is cleared.
        let Mapped::Update(u) = mapper.map(&csv_row(2, &[PAGE, "", " ", ""])) else {
            panic!("an update")
        };
        assert_eq!(
            u.body.to_value(),
            json!({"properties": {"Done": {"checkbox": false}}})
        );
    }

    #[test]
    fn status_must_exist_and_new_options_are_noted_once() {
        let mut mapper = Mapper::for_csv(
            &headers(&["page_id", "Status", "Tags"]),
            options_with_schema(),
        )
        .unwrap();
        let Mapped::Invalid(error) = mapper.map(&csv_row(1, &[PAGE, "Dnoe", "a"])) else {
            panic!("an unknown status is invalid")
        };
        assert!(
            error.message().contains("Did you mean \"Done\"?"),
            "{error}"
        );
        assert!(matches!(
            mapper.map(&csv_row(2, &[PAGE, "Done", "a;b;c"])),
            Mapped::Update(_)
        ));
        assert!(matches!(
            mapper.map(&csv_row(3, &[PAGE, "Done", "b"])),
            Mapped::Update(_)
        ));
        let new: Vec<(String, u64)> = mapper
            .take_new_options()
            .into_iter()
            .map(|n| (n.option, n.row))
            .collect();
        assert_eq!(new, [("b".to_string(), 2), ("c".to_string(), 2)]);
        assert!(mapper.take_new_options().is_empty());
    }

    #[test]
    fn constants_go_to_rows_that_change_something() {
        let mut options = options_with_schema();
        options.constants = vec![("Done".into(), json!(true))];
        let mut mapper =
            Mapper::for_csv(&headers(&["page_id", "Status"]), options.clone()).unwrap();
        let Mapped::Update(update) = mapper.map(&csv_row(1, &[PAGE, "Done"])) else {
            panic!("an update")
        };
        assert_eq!(
            serde_json::to_value(&update.body).unwrap(),
            json!({"properties": {"Status": {"status": {"name": "Done"}}, "Done": {"checkbox": true}}})
        );
        assert!(matches!(
            mapper.map(&csv_row(2, &[PAGE, ""])),
            Mapped::Skipped { .. }
        ));
        // A column and a constant for one property, or a constant the schema lacks.
        let err = Mapper::for_csv(&headers(&["page_id", "Done"]), options.clone()).unwrap_err();
        assert!(err.0.contains("also writes property \"Done\""), "{err}");
        options.constants = vec![("Done".into(), json!(""))];
        let err = Mapper::for_jsonl(options.clone()).unwrap_err();
        assert!(err.0.contains("it is empty"), "{err}");
        options.constants = vec![("Dnoe".into(), json!(true))];
        let err = Mapper::for_jsonl(options).unwrap_err();
        assert!(err.0.contains("Did you mean \"Done\"?"), "{err}");
    }
}
