//! `notion-bulk plan`: read, map and validate every row offline and print the bodies that
//! `apply` would send. Nothing is written to Notion.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::config::PlanConfig;
use crate::exit::Exit;
use crate::gate::matcher::Found;
use crate::gate::matcher::{Change, Creation, Matcher};
use crate::gate::precondition::{self, Expectations, Precondition, Verdict};
use crate::gate::TemplateGate;
use crate::mapping::{Body, Mapped, Mapper};
use crate::notion::NotionId;
use crate::outcome::{unsent_outcome, Outcome, ReportLine, RowAction};
use crate::report::progress::{Progress, ProgressMode};
use crate::report::ReportWriter;
use crate::scan::schema::load_schema_blocking;
use crate::select::{self, Selection};
use crate::source::Source;
use crate::transport::Shared;
use std::sync::Arc;

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
type Scanned = (Option<Matcher>, Option<Selection>);

/// With `--data-source`: scans it into the matcher's index (with `--match-on`, the pages of
/// the input's keys; with `--where`, only the pages it selects, which are then the rows).
/// `Err`: the exit, its closing line printed (no row read).
fn scan_stage(
    config: &PlanConfig,
    reads: Option<Shared>,
    mapper: &Mapper,
    expectations: Option<&Expectations>,
    selection: Option<&select::Prepared>,
    err: &mut dyn Write,
) -> anyhow::Result<Result<Scanned, Exit>> {
    if config.input.data_source.is_none() {
        return Ok(Ok((None, None)));
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
        compared: expectations.map(Expectations::keys).unwrap_or_default(),
        selection,
        resumed: None,
        keyed: config
            .input
            .matching
            .as_ref()
            .map(|matching| (matching, config.input.file(), mapper)),
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
            Ok(Ok((Some(matcher), selected)))
        }
        Err(e) => {
            writeln!(err, "error: {e}")?;
            match pages_read {
                0 => writeln!(err, "{NOTHING_READ}")?,
                n => writeln!(
                    err,
                    "The scan read {n} pages of the data source; no row was planned. Fix it and \
                     run plan again."
                )?,
            }
            Ok(Err(if e.is_usage() {
                Exit::Usage
            } else {
                Exit::Aborted
            }))
        }
    }
}

/// Runs `plan`, writing bodies to `out` and messages to `err`.
pub fn run(config: &PlanConfig, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<Exit> {
    let input = &config.input;
    let mut mapping = input.mapping.clone();
    // The limiter and retries of every read from Notion, the schema's first, kept for the scan.
    let reads = match input.schema.as_ref().filter(|s| s.is_fetched()) {
        Some(_) => match config.connection.client(mapping.version) {
            Ok(client) => Some(Shared::for_reads(client, config.rate, config.burst)),
            Err(e) => {
                writeln!(err, "error: {e}")?;
                writeln!(err, "Nothing was read; fix it and run plan again.")?;
                return Ok(Exit::Usage);
            }
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
            Err(e) => {
                writeln!(err, "error: {e}")?;
                writeln!(err, "{NOTHING_READ}")?;
                return Ok(Exit::Usage);
            }
        }
    }
    if let Err(e) = crate::mapping::key::use_key(&mut mapping, input.matching.as_ref()) {
        writeln!(err, "error: {e}")?;
        writeln!(err, "{NOTHING_READ}")?;
        return Ok(Exit::Usage);
    }
    let mut source = match Source::open(&input.path, input.format, input.encoding) {
        Ok(s) => s,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(Exit::Usage);
        }
    };
    // The mapper, and the mapper of the rows' preconditions: both resolve the header.
    let mappers = Mapper::for_source(&source, mapping).and_then(|m| {
        let expectations =
            Expectations::for_input(&source, m.options(), &input.expect, input.create_missing())?;
        Ok((m, expectations))
    });
    let (mut mapper, mut expectations) = match mappers {
        Ok(m) => m,
        Err(e) => {
            writeln!(err, "error: {}: {e}", input.path.display())?;
            writeln!(
                err,
                "Nothing was read past the header; fix it and run plan again."
            )?;
            return Ok(Exit::Usage);
        }
    };
    let mut report = match &config.report {
        Some(path) => Some(
            ReportWriter::open(path)
                .map_err(|e| anyhow::anyhow!("cannot open the report {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let prepared = match input
        .selection
        .as_ref()
        .map(|s| select::prepare(s, mapper.options()))
    {
        Some(Err(e)) => {
            writeln!(err, "error: {e}")?;
            writeln!(err, "{NOTHING_READ}")?;
            return Ok(Exit::Usage);
        }
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let (mut matcher, selected) = match scan_stage(
        config,
        reads,
        &mapper,
        expectations.as_ref(),
        prepared.as_ref(),
        err,
    )? {
        Ok(m) => m,
        Err(exit) => return Ok(exit),
    };
    // A selection's listing names each page by its title.
    let titles = match selected {
        Some(s) => {
            source = s.rows;
            Some(s.titles)
        }
        None => None,
    };
    let mut counts = PlanCounts {
        compared: matcher.is_some(),
        keyed: input.matching.is_some(),
        ..PlanCounts::default()
    };
    let mut gate = TemplateGate::default();
    let mut row = source.empty_row();
    let mut warnings = mapper.take_new_options();
    // On a terminal, a short listing of the changes comes before the JSON lines; a selection's
    // listing of every page comes first wherever the output goes (on stderr).
    let mut held: Option<Vec<u8>> =
        ((config.listing && matcher.is_some()) || titles.is_some()).then(Vec::new);
    let mut listing: Vec<String> = Vec::new();
    let listed = if titles.is_some() {
        usize::MAX
    } else {
        LISTED_ROWS
    };
    let mut emit = |mapped: Mapped,
                    precondition: Option<Arc<Precondition>>,
                    counts: &mut PlanCounts|
     -> anyhow::Result<()> {
        // With --match-on, the row's page by its key first: its precondition is about that page.
        let found = match matcher.as_mut() {
            Some(m) => m.find(mapped),
            None => Found::Go(mapped),
        };
        let index = matcher.as_ref().map(Matcher::index);
        let page = match &found {
            Found::Go(mapped) => mapped.page_id(),
            Found::Done(done) => done.mapped.page_id(),
        }
        .unwrap_or(NotionId::UNMATCHED);
        let shown = precondition.as_ref().map(|p| p.describe(index, page));
        let failed = match precondition.map(|p| p.verdict(index, page)) {
            Some(Verdict::Fails(why)) => Some(why),
            _ => None,
        };
        counts.preconditions += u64::from(shown.is_some());
        let name = |page: &NotionId| match titles.as_ref().and_then(|t| t.get(page)) {
            Some(title) => format!("page {page}, {title:?}"),
            None => format!("page {page}"),
        };
        let (mapped, changes, creation) = match (found, matcher.as_mut()) {
            (Found::Go(mapped), Some(m)) => {
                let matched = m.compare(mapped);
                (matched.mapped, Some(matched.changes), matched.creation)
            }
            (Found::Go(mapped), None) => (mapped, None, None),
            (Found::Done(matched), _) => (matched.mapped, Some(matched.changes), matched.creation),
        };
        let sink: &mut dyn Write = match held.as_mut() {
            Some(buffer) => buffer,
            None => &mut *out,
        };
        match mapped {
            Mapped::Update(update) if failed.is_some() => {
                counts.precondition_failed += 1;
                let why = failed.unwrap_or_default();
                if listing.len() < listed {
                    listing.push(format!(
                        "row {} ({}): {why}",
                        update.row,
                        name(&update.page_id)
                    ));
                }
                serde_json::to_writer(
                    &mut *sink,
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
                sink.write_all(b"\n")?;
                if let Some(report) = report.as_mut() {
                    let mut line = ReportLine::unsent(
                        update.row,
                        Some(update.page_id.to_string()),
                        Outcome::Skipped,
                        Some(why),
                    );
                    line.code = Some(precondition::CODE.into());
                    report.write(&line)?;
                }
            }
            Mapped::Update(update) => {
                let creates = matches!(creation, Some(Creation::Create(_)));
                let key = update.key.as_ref().map(|k| &*k.text);
                if creates {
                    counts.created += 1;
                    if listing.len() < LISTED_ROWS {
                        listing.push(format!(
                            "row {} (key {}): no page has this key: create it",
                            update.row,
                            key.unwrap_or_default()
                        ));
                    }
                } else {
                    counts.valid += 1;
                }
                let page_id = creation.is_none().then_some(update.page_id);
                if let Some(Some(list)) = &changes {
                    counts.properties += list.len() as u64;
                    if listing.len() < listed {
                        listing.push(format!(
                            "row {} ({}): {}",
                            update.row,
                            name(&update.page_id),
                            list.iter()
                                .map(|c| format!("{}: {} -> {}", c.field, c.from, c.to))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                }
                serde_json::to_writer(
                    &mut *sink,
                    &PlanLine {
                        row: update.row,
                        page_id,
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
                sink.write_all(b"\n")?;
            }
            unsent => {
                let (outcome, code, message) = unsent_outcome(&unsent).expect("not an update");
                match &unsent {
                    Mapped::Invalid(error) => {
                        counts.invalid += 1;
                        writeln!(err, "invalid: {error}")?;
                    }
                    Mapped::Unchanged { row, page_id, key } => {
                        counts.unchanged += 1;
                        if titles.is_some() {
                            listing.push(format!("row {row} ({}): unchanged", name(page_id)));
                        }
                        serde_json::to_writer(
                            &mut *sink,
                            &PlanLine {
                                row: *row,
                                page_id: Some(*page_id),
                                key: key.as_ref().map(|k| &*k.text),
                                body: None,
                                action: Some(RowAction::Unchanged.as_str()),
                                changes: Some(json!({})),
                                code: None,
                                pages: None,
                                precondition: shown.clone(),
                            },
                        )?;
                        sink.write_all(b"\n")?;
                    }
                    Mapped::Unmatched {
                        row, key, pages, ..
                    } => {
                        let code = if pages.is_empty() {
                            counts.no_match += 1;
                            "no_match"
                        } else {
                            counts.ambiguous += 1;
                            "ambiguous_key"
                        };
                        writeln!(
                            err,
                            "failed: row {row} (key {}): {code}: {message}",
                            key.text
                        )?;
                        if listing.len() < LISTED_ROWS {
                            listing.push(format!("row {row} (key {}): {code}: not sent", key.text));
                        }
                        serde_json::to_writer(
                            &mut *sink,
                            &PlanLine {
                                row: *row,
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
                        sink.write_all(b"\n")?;
                    }
                    _ => counts.skipped += 1,
                }
                if let Some(report) = report.as_mut() {
                    let mut line = ReportLine::unsent(
                        unsent.row(),
                        unsent.page_id().map(|p| p.to_string()),
                        outcome,
                        Some(message),
                    );
                    line.code = code.map(str::to_owned);
                    line.key = unsent.key().map(|k| k.text.to_string());
                    if matches!(unsent, Mapped::Unchanged { .. }) {
                        line.action = Some(crate::outcome::RowAction::Unchanged);
                    }
                    report.write(&line)?;
                }
            }
        }
        Ok(())
    };
    loop {
        match source.read(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                writeln!(err, "error: {e}")?;
                return Ok(Exit::Usage);
            }
        }
        counts.read += 1;
        let mapped = mapper.map(&row);
        warnings.extend(mapper.take_new_options());
        let (mapped, precondition) = match expectations.as_mut() {
            Some(e) => e.precondition(mapped, &row),
            None => (mapped, None),
        };
        for (mapped, precondition) in gate.admit(mapped, precondition) {
            emit(mapped, precondition, &mut counts)?;
        }
    }
    for (mapped, precondition) in gate.finish() {
        emit(mapped, precondition, &mut counts)?;
    }
    if titles.is_some() {
        // A selection's pages, every one, before its JSON lines.
        for line in &listing {
            writeln!(err, "  {line}")?;
        }
        out.write_all(&held.take().unwrap_or_default())?;
    }
    if let Some(buffer) = held {
        match counts.keyed {
            true => writeln!(
                out,
                "changes ({} rows to update, {} to create, {} not found, {} ambiguous):",
                counts.valid, counts.created, counts.no_match, counts.ambiguous
            )?,
            false => writeln!(out, "changes ({} rows to update):", counts.valid)?,
        }
        for line in &listing {
            writeln!(out, "  {line}")?;
        }
        let listed = counts.valid + counts.created + counts.no_match + counts.ambiguous;
        if listed as usize > listing.len() {
            writeln!(out, "  … and {} more rows", listed as usize - listing.len())?;
        }
        out.write_all(&buffer)?;
    }
    out.flush()?;
    for new in warnings {
        writeln!(err, "warning: {new}")?;
    }
    write_summary(err, config, counts)?;
    Ok(if counts.invalid + counts.no_match + counts.ambiguous > 0 {
        Exit::RowsFailed
    } else {
        Exit::Ok
    })
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
