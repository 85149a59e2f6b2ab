//! `notion-bulk plan`: read, map and validate every row offline and print the bodies that
//! `apply` would send. Nothing is written to Notion.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::config::PlanConfig;
use crate::exit::Exit;
use crate::gate::matcher::{Change, Creation, Matcher};
use crate::gate::precondition::{self, Expectations, Verdict};
use crate::gate::{Decided, Gates, TemplateGate};
use crate::mapping::key::RowKey;
use crate::mapping::{Body, Mapped, Mapper, PageUpdate};
use crate::notion::NotionId;
use crate::outcome::{unsent_outcome, Outcome, ReportLine, RowAction};
use crate::report::progress::{Progress, ProgressMode};
use crate::report::ReportWriter;
use crate::scan::schema::load_schema_blocking;
use crate::select::{self, Selection};
use crate::source::Source;
use crate::transport::Shared;

/// Counts of a plan, by what became of the rows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PlanCounts {
    pub read: u64,
    pub valid: u64,
    pub invalid: u64,
    pub skipped: u64,
    /// With a data source: rows whose page already has every value.
    pub unchanged: u64,
    /// With a data source: properties (and page-level fields) the rows to send change.
    pub properties: u64,
    /// With a data source: whether the counts above come from a comparison.
    pub compared: bool,
    /// With `--match-on --create-missing`: rows that would create their page.
    pub created: u64,
    /// With `--match-on`: rows whose key no page has, or several pages have.
    pub no_match: u64,
    pub ambiguous: u64,
    /// With `--match-on`.
    pub keyed: bool,
    /// Rows with a precondition (SPEC §11), and of them those that do not hold as the scan
    /// read the pages (not sent).
    pub preconditions: u64,
    pub precondition_failed: u64,
}

/// One stdout line: the row, its page and exactly the body `apply` would send.
#[derive(Serialize)]
struct PlanLine<'a> {
    row: u64,
    /// `null` for a page `--create-missing` would create (and the rows that follow it).
    page_id: Option<NotionId>,
    /// With `--match-on`: the row's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a Body>,
    /// With a data source: `updated` or `unchanged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    /// With a data source: each property that changes, `{"from": …, "to": …}`; `null` for a
    /// page the scan did not find (its row is sent whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<Value>,
    /// With `--match-on`, a row that would fail: `no_match` or `ambiguous_key`, and the pages
    /// that have its key.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pages: Option<&'a [NotionId]>,
    /// The row's precondition: each expected value, and with a data source the current one
    /// and whether it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    precondition: Option<Value>,
}

/// `{"Status": {"from": "In progress", "to": "Done"}}`, or `null` when not compared.
fn changes_json(changes: &Option<Vec<Change>>) -> Value {
    match changes {
        None => Value::Null,
        Some(list) => Value::Object(
            list.iter()
                .map(|c| (c.field.to_string(), json!({"from": c.from, "to": c.to})))
                .collect::<Map<String, Value>>(),
        ),
    }
}

/// The closing line of a plan stopped before anything was read.
const NOTHING_READ: &str = "Nothing was read; fix it and run plan again.";

/// What the scan stage gives: the matcher (with a data source) and a selection's rows.
type Scanned = (
    Option<Matcher>,
    Option<Selection>,
    Option<crate::mirror::Missing>,
);

/// With `--data-source`: scans it into the matcher's index (with `--match-on`, the pages of
/// the input's keys; with `--where`, only the pages it selects, which are then the rows).
/// `Err`: the exit, its closing line printed (no row read).
fn scan_stage(
    config: &PlanConfig,
    reads: Option<Shared>,
    mapper: &Mapper,
    expectations: Option<&Expectations>,
    selection: Option<&select::Prepared>,
    mirror: Option<&crate::mirror::Prepared>,
    err: &mut dyn Write,
) -> anyhow::Result<Result<Scanned, Exit>> {
    if config.input.data_source.is_none() {
        return Ok(Ok((None, None, None)));
    }
    let version = config.input.mapping.version;
    // The limiter that read the schema, so that the scan's first burst does not come on top of
    // those reads (it could draw a 429).
    let shared = match reads {
        Some(reads) => reads,
        None => match config.connection.client(version) {
            Ok(client) => Shared::for_reads(client, config.rate, config.burst),
            Err(e) => {
                writeln!(err, "error: {e}")?;
                writeln!(err, "{NOTHING_READ}")?;
                return Ok(Err(Exit::Usage));
            }
        },
    };
    let progress = Progress::new(ProgressMode::Log(std::time::Duration::from_secs(10)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stats = shared.stats.clone();
    let schema = mapper
        .options()
        .schema
        .clone()
        .expect("--data-source brings its schema");
    let scope = select::Scope {
        schema: &schema,
        version,
        written: mapper.written_keys(),
        compared: {
            let mut keys = expectations.map(Expectations::keys).unwrap_or_default();
            keys.extend(mirror.iter().flat_map(|m| m.keys().iter().cloned()));
            keys
        },
        selection,
        resumed: None,
        keyed: (config.input.matching.as_ref()).map(|m| (m, config.input.file(), mapper)),
    };
    let mut said = Vec::new();
    let mut pages_read = 0;
    let result = runtime.block_on(select::read(
        &shared,
        scope,
        &mut |p| {
            pages_read = p.pages;
            progress.scan(p, &stats, false, err)
        },
        &mut |line| said.push(line),
    ));
    for line in said {
        writeln!(err, "{line}")?;
    }
    match result {
        Ok((index, done, selected)) => {
            progress.scan(&done, &stats, true, err);
            if let Some(s) = &selected {
                writeln!(err, "{}", s.summary)?;
            }
            let matcher = Matcher::new(index, false, false).creating(config.input.create_missing());
            let missing = match mirror {
                Some(prepared) => {
                    match super::missing_pages(&config.input, mapper, matcher.index(), prepared) {
                        Ok(missing) => Some(missing),
                        Err(e) => {
                            writeln!(err, "error: --missing-pages: {e}")?;
                            return Ok(Err(Exit::Usage));
                        }
                    }
                }
                None => None,
            };
            Ok(Ok((Some(matcher), selected, missing)))
        }
        Err(e) => {
            writeln!(err, "error: {e}")?;
            Ok(Err(scan_failed(err, pages_read, e.is_usage())?))
        }
    }
}

/// Relation columns of keys: the lookups `apply` makes, on a current-thread runtime, before
/// the rows. Each column is one JSON line on stdout (`relations`: the related data source,
/// the key, the queries, each key's page, the keys to create and those on several pages) and
/// a line on stderr. `Err`: the exit, its closing line written.
fn relations(
    config: &PlanConfig,
    reads: Option<&Shared>,
    mapper: &mut Mapper,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Result<(), Exit>> {
    let Some(reads) = reads else {
        writeln!(err, "error: relation cells of keys are looked up in Notion: give --data-source or --schema-from (a schema file cannot look pages up)")?;
        writeln!(err, "{NOTHING_READ}")?;
        return Ok(Err(Exit::Usage));
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let missing = super::MissingRelated::Plan {
        create: config.input.create_missing_related,
    };
    let mut said = Vec::new();
    let done = runtime.block_on(super::relations(
        reads,
        mapper,
        &config.input,
        missing,
        &mut |l| said.push(l),
    ));
    for line in said {
        writeln!(err, "{line}")?;
    }
    let reads = match done {
        Ok(reads) => reads,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(Err(Exit::Aborted));
        }
    };
    for read in reads {
        let mut found = serde_json::Map::new();
        let (mut create, mut several) = (Vec::new(), serde_json::Map::new());
        for (key, page) in &read.related.pages {
            match page {
                crate::mapping::RelatedPage::One(id) => {
                    found.insert(key.to_string(), serde_json::json!(id.to_string()));
                }
                crate::mapping::RelatedPage::ToCreate(_) => create.push(key.to_string()),
                crate::mapping::RelatedPage::Several(ids) => {
                    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                    several.insert(key.to_string(), serde_json::json!(ids));
                }
                crate::mapping::RelatedPage::NotCreated(_) => {}
            }
        }
        create.sort();
        let missing: Vec<&str> = read.missing.iter().map(|k| &*k.text).collect();
        let line = serde_json::json!({"relations": {
            "data_source": &*read.key.data_source, "title": read.related.title,
            "key": &*read.related.spec.property, "keys": read.keys, "queries": read.queries,
            "found": found, "several": several, "create": create,
            "missing": if config.input.create_missing_related { Vec::new() } else { missing },
        }});
        writeln!(out, "{line}")?;
    }
    Ok(Ok(()))
}

/// `--add-missing-options`: the schema change `apply` makes before any row, listed first: one
/// JSON line on stdout (`schema_change`: the request, each option with its property, type and
/// group) and a line on stderr. `Err`: a property would hold too many options.
fn schema_change(
    config: &PlanConfig,
    mapper: &Mapper,
    prepared: Option<&select::Prepared>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Result<(), String>> {
    let new = match super::options_to_add(&config.input, mapper, prepared) {
        Ok(new) => new,
        Err(e) => return Ok(Err(e)),
    };
    let schema = mapper
        .options()
        .schema
        .as_deref()
        .expect("checked by config");
    if new.is_empty() {
        writeln!(err, "{}", super::nothing_to_add(schema))?;
        return Ok(Ok(()));
    }
    let request = format!("PATCH /v1/data_sources/{}", schema.data_source_id);
    let options: Vec<serde_json::Value> = new
        .iter()
        .map(|n| {
            serde_json::json!({"property": &*n.property, "type": n.ty.as_str(),
                "option": n.option, "group": n.group.as_deref()})
        })
        .collect();
    let line = serde_json::json!({"schema_change": {"request": request, "add_options": options}});
    writeln!(out, "{line}")?;
    let list: Vec<String> = new.iter().map(super::describe_option).collect();
    writeln!(
        err,
        "schema change first: {request} adds {} options to {:?}: {}",
        new.len(),
        schema.title,
        list.join(", ")
    )?;
    Ok(Ok(()))
}

/// After a scan that failed having read `pages_read` pages: its closing line, and the exit.
fn scan_failed(err: &mut dyn Write, pages_read: u64, usage: bool) -> io::Result<Exit> {
    match pages_read {
        0 => writeln!(err, "{NOTHING_READ}")?,
        n => writeln!(
            err,
            "The scan read {n} pages of the data source; no row was planned. Fix it and run \
             plan again."
        )?,
    }
    Ok(match usage {
        true => Exit::Usage,
        false => Exit::Aborted,
    })
}

/// What `plan` reads its rows with once the schema and the header are settled.
struct Opened {
    source: Source,
    mapper: Mapper,
    expectations: Option<Expectations>,
    /// With `--where`: the selection, checked against the schema.
    prepared: Option<select::Prepared>,
    /// The limiter and retries of the schema's reads, kept for the scan.
    reads: Option<Shared>,
}

/// Reads the schema (when it is fetched), opens the input and resolves its header for the
/// rows and their preconditions. `Err`: the exit, its closing line printed.
fn open(config: &PlanConfig, err: &mut dyn Write) -> anyhow::Result<Result<Opened, Exit>> {
    let input = &config.input;
    let mut mapping = input.mapping.clone();
    let stop = |err: &mut dyn Write, e: &dyn std::fmt::Display, closing: Option<&str>| {
        writeln!(err, "error: {e}")?;
        if let Some(line) = closing {
            writeln!(err, "{line}")?;
        }
        anyhow::Ok(Err(Exit::Usage))
    };
    // The limiter and retries of every read from Notion, the schema's first, kept for the scan.
    let reads = match input.schema.as_ref().filter(|s| s.is_fetched()) {
        Some(_) => match config.connection.client(mapping.version) {
            Ok(client) => Some(Shared::for_reads(client, config.rate, config.burst)),
            Err(e) => return stop(err, &e, Some(NOTHING_READ)),
        },
        None => None,
    };
    if let Some(schema) = &input.schema {
        match load_schema_blocking(schema, reads.as_ref(), mapping.version) {
            Ok((schema, warning)) => {
                if let Some(w) = warning {
                    writeln!(err, "warning: {w}")?;
                }
                mapping.set_schema(schema);
            }
            Err(e) => return stop(err, &e, Some(NOTHING_READ)),
        }
    }
    if let Err(e) = crate::mapping::key::use_key(&mut mapping, input.matching.as_ref()) {
        return stop(err, &e, Some(NOTHING_READ));
    }
    let source = match Source::open(&input.path, input.format, input.encoding) {
        Ok(s) => s,
        Err(e) => return stop(err, &e, None),
    };
    // The mapper, and the mapper of the rows' preconditions: both resolve the header.
    let mappers = Mapper::for_source(&source, mapping).and_then(|m| {
        let expectations =
            Expectations::for_input(&source, m.options(), &input.expect, input.create_missing())?;
        Ok((m, expectations))
    });
    let (mut mapper, expectations) = match mappers {
        Ok(m) => m,
        Err(e) => {
            let e = format!("{}: {e}", input.path.display());
            let closing = "Nothing was read past the header; fix it and run plan again.";
            return stop(err, &e, Some(closing));
        }
    };
    if let Some(reads) = &reads {
        crate::scan::schema::use_file_limit_blocking(&mut mapper, reads);
    }
    let prepared = match input
        .selection
        .as_ref()
        .map(|s| select::prepare(s, mapper.options()))
    {
        Some(Err(e)) => return stop(err, &e, Some(NOTHING_READ)),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    Ok(Ok(Opened {
        source,
        mapper,
        expectations,
        prepared,
        reads,
    }))
}

/// Runs `plan`, writing bodies to `out` and messages to `err`: the reader, the mapper, the
/// template gate and the gates `apply` runs ([`Gates::decide`]), in the same order, on one
/// thread; each row's line goes to a `PlanWriter`.
pub fn run(config: &PlanConfig, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<Exit> {
    let Opened {
        mut source,
        mut mapper,
        expectations,
        prepared,
        reads,
    } = match open(config, err)? {
        Ok(opened) => opened,
        Err(exit) => return Ok(exit),
    };
    if !mapper.relation_columns().is_empty() {
        if let Err(exit) = relations(config, reads.as_ref(), &mut mapper, out, err)? {
            return Ok(exit);
        }
    }
    if config.input.mapping.add_missing_options {
        if let Err(e) = schema_change(config, &mapper, prepared.as_ref(), out, err)? {
            writeln!(err, "error: {e}")?;
            return Ok(Exit::Usage);
        }
    }
    let report = match &config.report {
        Some(path) => Some(
            ReportWriter::open(path)
                .map_err(|e| anyhow::anyhow!("cannot open the report {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mirror = match &config.input.missing {
        Some(m) => match crate::mirror::prepare(m, mapper.options()) {
            Ok(p) => Some(p),
            Err(e) => {
                writeln!(err, "error: {e}")?;
                writeln!(err, "{NOTHING_READ}")?;
                return Ok(Exit::Usage);
            }
        },
        None => None,
    };
    let scanned = scan_stage(
        config,
        reads,
        &mapper,
        expectations.as_ref(),
        prepared.as_ref(),
        mirror.as_ref(),
        err,
    )?;
    let (matcher, selected, missing) = match scanned {
        Ok(m) => m,
        Err(exit) => return Ok(exit),
    };
    // A selection's listing names each page by its title.
    let titles = selected.map(|s| {
        source = s.rows;
        s.titles
    });
    let mut gates = Gates {
        expectations,
        matcher,
        recheck: false,
        resume: None,
        describe: true,
    };
    let mut writer = PlanWriter::new(config, gates.matcher.is_some(), titles, report);
    let mut template = TemplateGate::default();
    let mut row = source.empty_row();
    let mut warnings = mapper.take_new_options();
    loop {
        match source.read(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                writeln!(err, "error: {e}")?;
                return Ok(Exit::Usage);
            }
        }
        writer.counts.read += 1;
        let mapped = mapper.map(&row);
        warnings.extend(mapper.take_new_options());
        for (mapped, source_row) in template.admit(mapped, row.clone()) {
            writer.write(gates.decide(mapped, &source_row), out, err)?;
        }
    }
    for (mapped, source_row) in template.finish() {
        writer.write(gates.decide(mapped, &source_row), out, err)?;
    }
    let counts = writer.finish(out, err)?;
    // The missing pages after the rows, as apply handles them after every input row.
    if let Some(missing) = &missing {
        writeln!(out, "{}", missing.json())?;
        let title = mapper.options().schema.as_ref().map(|s| s.title.clone());
        writeln!(err, "{}", missing.summary(&title.unwrap_or_default()))?;
        for (id, key) in missing.pages.iter().take(20) {
            writeln!(err, "  page {id} (key {key:?})")?;
        }
        if missing.pages.len() > 20 {
            writeln!(
                err,
                "  and {} more (all of them in the missing_pages line)",
                missing.pages.len() - 20
            )?;
        }
        if missing.stops() && missing.applies() {
            writeln!(
                err,
                "apply would stop before any write: {}",
                missing.brake()
            )?;
        }
    }
    // With --add-missing-options they are the schema change listed first.
    for new in warnings
        .iter()
        .filter(|_| !config.input.mapping.add_missing_options)
    {
        writeln!(err, "warning: {new}")?;
    }
    write_summary(err, config, counts)?;
    Ok(if counts.invalid + counts.no_match + counts.ambiguous > 0 {
        Exit::RowsFailed
    } else {
        Exit::Ok
    })
}

/// Where each row's plan goes: its JSON line (on stdout, or held for the listing that comes
/// before them), the listing's line, its report line, and the counts.
struct PlanWriter {
    counts: PlanCounts,
    /// On a terminal, a short listing of the changes comes before the JSON lines; a
    /// selection's listing of every page comes first wherever the output goes (on stderr).
    held: Option<Vec<u8>>,
    listing: Vec<String>,
    /// With `--where`: each selected page's title.
    titles: Option<HashMap<NotionId, String>>,
    report: Option<ReportWriter>,
}

impl PlanWriter {
    fn new(
        config: &PlanConfig,
        compared: bool,
        titles: Option<HashMap<NotionId, String>>,
        report: Option<ReportWriter>,
    ) -> PlanWriter {
        PlanWriter {
            counts: PlanCounts {
                compared,
                keyed: config.input.matching.is_some(),
                ..PlanCounts::default()
            },
            held: ((config.listing && compared) || titles.is_some()).then(Vec::new),
            listing: Vec::new(),
            titles,
            report,
        }
    }

    /// `page …`, with its title when a selection found it.
    fn name(&self, page: &NotionId) -> String {
        match self.titles.as_ref().and_then(|t| t.get(page)) {
            Some(title) => format!("page {page}, {title:?}"),
            None => format!("page {page}"),
        }
    }

    /// Rows of the listing that say what changes: a selection's lists every page.
    fn changes_listed(&self) -> usize {
        match self.titles.is_some() {
            true => usize::MAX,
            false => LISTED_ROWS,
        }
    }

    /// A line of the listing, while it has room for `limit` lines.
    fn list(&mut self, limit: usize, line: String) {
        if self.listing.len() < limit {
            self.listing.push(line);
        }
    }

    /// One JSON line: held for after the listing, or straight to stdout.
    fn line(&mut self, out: &mut dyn Write, line: &PlanLine) -> io::Result<()> {
        let sink: &mut dyn Write = match self.held.as_mut() {
            Some(buffer) => buffer,
            None => out,
        };
        serde_json::to_writer(&mut *sink, line)?;
        sink.write_all(b"\n")
    }

    /// One row as the gates decided it.
    fn write(
        &mut self,
        decided: Decided,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let Decided {
            matched,
            verdict,
            shown,
        } = decided;
        self.counts.preconditions += u64::from(shown.is_some());
        let changes = self.counts.compared.then_some(matched.changes);
        match (matched.mapped, verdict) {
            (Mapped::Update(update), Some(Verdict::Fails(why))) => {
                self.failed_precondition(&update, why, shown, out)
            }
            (Mapped::Update(update), _) => {
                self.sendable(&update, changes, matched.creation, shown, out)
            }
            (unsent, _) => self.unsent(&unsent, shown, out, err),
        }
    }

    /// A row whose precondition does not hold as the scan read its page: apply skips it.
    fn failed_precondition(
        &mut self,
        update: &PageUpdate,
        why: String,
        shown: Option<Value>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        self.counts.precondition_failed += 1;
        let listing = format!("row {} ({}): {why}", update.row, self.name(&update.page_id));
        self.list(self.changes_listed(), listing);
        self.line(
            out,
            &PlanLine {
                row: update.row,
                page_id: Some(update.page_id),
                key: update.key.as_ref().map(|k| &*k.text),
                body: None,
                action: Some(precondition::CODE),
                changes: None,
                code: None,
                pages: None,
                precondition: shown,
            },
        )?;
        if let Some(report) = self.report.as_mut() {
            let mut line = ReportLine::unsent(
                update.row,
                Some(update.page_id.to_string()),
                Outcome::Skipped,
                Some(why),
            );
            line.code = Some(precondition::CODE.into());
            report.write(&line)?;
        }
        Ok(())
    }

    /// A row apply would send: to update its page, or to create it.
    fn sendable(
        &mut self,
        update: &PageUpdate,
        changes: Option<Option<Vec<Change>>>,
        creation: Option<Creation>,
        shown: Option<Value>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let creates = matches!(creation, Some(Creation::Create(_)));
        let key = update.key.as_ref().map(|k| &*k.text);
        if creates {
            self.counts.created += 1;
            let listing = format!(
                "row {} (key {}): no page has this key: create it",
                update.row,
                key.unwrap_or_default()
            );
            self.list(LISTED_ROWS, listing);
        } else {
            self.counts.valid += 1;
        }
        if let Some(Some(list)) = &changes {
            self.counts.properties += list.len() as u64;
            let listing = format!(
                "row {} ({}): {}",
                update.row,
                self.name(&update.page_id),
                list.iter()
                    .map(|c| format!("{}: {} -> {}", c.field, c.from, c.to))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.list(self.changes_listed(), listing);
        }
        self.line(
            out,
            &PlanLine {
                row: update.row,
                page_id: creation.is_none().then_some(update.page_id),
                key,
                body: Some(&update.body),
                action: changes.as_ref().map(|_| match creates {
                    true => RowAction::Created.as_str(),
                    false => RowAction::Updated.as_str(),
                }),
                changes: changes.as_ref().map(changes_json),
                code: None,
                pages: None,
                precondition: shown,
            },
        )?;
        Ok(())
    }

    /// A row apply would not send: invalid, unchanged, unmatched or skipped.
    fn unsent(
        &mut self,
        unsent: &Mapped,
        shown: Option<Value>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let (outcome, code, message) = unsent_outcome(unsent).expect("not an update");
        match unsent {
            Mapped::Invalid(error) => {
                self.counts.invalid += 1;
                writeln!(err, "invalid: {error}")?;
            }
            Mapped::Unchanged { row, page_id, key } => {
                self.counts.unchanged += 1;
                if self.titles.is_some() {
                    self.listing
                        .push(format!("row {row} ({}): unchanged", self.name(page_id)));
                }
                self.line(
                    out,
                    &PlanLine {
                        row: *row,
                        page_id: Some(*page_id),
                        key: key.as_ref().map(|k| &*k.text),
                        body: None,
                        action: Some(RowAction::Unchanged.as_str()),
                        changes: Some(json!({})),
                        code: None,
                        pages: None,
                        precondition: shown,
                    },
                )?;
            }
            Mapped::Unmatched {
                row,
                key,
                pages,
                unreadable,
                ..
            } => {
                let code = self.unmatched(*row, key, pages, *unreadable, shown, out)?;
                let key = &key.text;
                writeln!(err, "failed: row {row} (key {key}): {code}: {message}")?;
            }
            _ => self.counts.skipped += 1,
        }
        if let Some(report) = self.report.as_mut() {
            let mut line = ReportLine::unsent(
                unsent.row(),
                unsent.page_id().map(|p| p.to_string()),
                outcome,
                Some(message),
            );
            line.code = code.map(str::to_owned);
            line.key = unsent.key().map(|k| k.text.to_string());
            if matches!(unsent, Mapped::Unchanged { .. }) {
                line.action = Some(RowAction::Unchanged);
            }
            report.write(&line)?;
        }
        Ok(())
    }

    /// With `--match-on`: a row whose key no page has (`no_match`; `key_unreadable` when some
    /// pages' keys came back `unsupported`), or several pages have (`ambiguous_key`).
    fn unmatched(
        &mut self,
        row: u64,
        key: &RowKey,
        pages: &[NotionId],
        unreadable: u64,
        shown: Option<Value>,
        out: &mut dyn Write,
    ) -> io::Result<&'static str> {
        let code = if pages.is_empty() {
            self.counts.no_match += 1;
            match unreadable {
                0 => "no_match",
                _ => "key_unreadable",
            }
        } else {
            self.counts.ambiguous += 1;
            "ambiguous_key"
        };
        self.list(
            LISTED_ROWS,
            format!("row {row} (key {}): {code}: not sent", key.text),
        );
        self.line(
            out,
            &PlanLine {
                row,
                page_id: None,
                key: Some(&key.text),
                body: None,
                action: None,
                changes: None,
                code: Some(code),
                pages: Some(pages),
                precondition: shown,
            },
        )?;
        Ok(code)
    }

    /// At the end of the input: the listing and the JSON lines held for after it; the counts.
    fn finish(mut self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<PlanCounts> {
        let counts = self.counts;
        if self.titles.is_some() {
            // A selection's pages, every one, before its JSON lines.
            for line in &self.listing {
                writeln!(err, "  {line}")?;
            }
            out.write_all(&self.held.take().unwrap_or_default())?;
        }
        if let Some(buffer) = self.held {
            match counts.keyed {
                true => writeln!(
                    out,
                    "changes ({} rows to update, {} to create, {} not found, {} ambiguous):",
                    counts.valid, counts.created, counts.no_match, counts.ambiguous
                )?,
                false => writeln!(out, "changes ({} rows to update):", counts.valid)?,
            }
            for line in &self.listing {
                writeln!(out, "  {line}")?;
            }
            let listed = counts.valid + counts.created + counts.no_match + counts.ambiguous;
            if listed as usize > self.listing.len() {
                writeln!(
                    out,
                    "  … and {} more rows",
                    listed as usize - self.listing.len()
                )?;
            }
            out.write_all(&buffer)?;
        }
        out.flush()?;
        Ok(counts)
    }
}

/// Rows of the terminal listing.
const LISTED_ROWS: usize = 20;

fn write_summary(err: &mut dyn Write, config: &PlanConfig, c: PlanCounts) -> io::Result<()> {
    if c.keyed {
        writeln!(
            err,
            "plan: {} rows read from {}: {} to update ({} properties), {} to create, {} unchanged, {} no match, {} ambiguous, {} invalid, {} skipped (nothing to change). Nothing was sent.",
            c.read,
            config.input.path.display(),
            c.valid,
            c.properties,
            c.created,
            c.unchanged,
            c.no_match,
            c.ambiguous,
            c.invalid,
            c.skipped
        )?;
    } else if c.compared {
        writeln!(
            err,
            "plan: {} rows read from {}: {} to update ({} properties), {} unchanged, {} invalid, {} skipped (nothing to change). Nothing was sent.",
            c.read,
            config.input.path.display(),
            c.valid,
            c.properties,
            c.unchanged,
            c.invalid,
            c.skipped
        )?;
    } else {
        writeln!(
        err,
        "plan: {} rows read from {}: {} to send, {} invalid, {} skipped (nothing to change). Nothing was sent.",
        c.read,
        config.input.path.display(),
        c.valid,
        c.invalid,
        c.skipped
    )?;
    }
    if c.preconditions > 0 {
        let judged = match c.compared {
            true => format!(
                "{} hold as the scan read the pages, {} do not (apply skips those rows: precondition_failed)",
                c.preconditions - c.precondition_failed,
                c.precondition_failed
            ),
            false => "apply reads each page just before its write to judge them".into(),
        };
        writeln!(
            err,
            "preconditions: {} rows have one; {judged}.",
            c.preconditions
        )?;
    }
    if c.invalid > 0 {
        let where_ = match &config.report {
            Some(p) => format!("above and in {}", p.display()),
            None => "above".into(),
        };
        writeln!(
            err,
            "The invalid rows are listed {where_}; apply would skip them. Fix them and run plan again."
        )?;
    }
    Ok(())
}
