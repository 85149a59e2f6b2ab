//! `notion-bulk apply`: the whole pipeline, in four named stages: set up (token, input,
//! schema, mapper, report, limiter), scan (with `--data-source`: the index the matcher
//! compares rows with), dispatch (the reader, mapper and matcher on a blocking thread feed the
//! dispatcher through a bounded channel; its workers send; this task is the one consumer of
//! results: report, progress, failed-out) and close (exit code, summary, next steps).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::{ApplyConfig, ContinueCommand};
use crate::dispatch::{self, Writes};
use crate::exit::Exit;
use crate::gate::matcher::Matcher;
use crate::gate::precondition::Expectations;
use crate::gate::resume::{InputChanged, Note, ResumeIndex, Resumer};
use crate::gate::{Gates, Item, TemplateGate};
use crate::mapping::Mapper;
use crate::mirror;
use crate::notion::client::{Client, Token};
use crate::notion::NotionId;
use crate::report::progress::{Printer, Progress, Snapshot};
use crate::report::reporter::{FailedOut, FailedOutFormat, Reporter};
use crate::report::summary::Summary;
use crate::report::ReportWriter;
use crate::scan::schema::load_schema;
use crate::select;
use crate::source::{InputPath, Source};
use crate::stop::WriteFailure;
use crate::stop::{Stop, StopReason};
use crate::transport::limiter::Limiter;
use crate::transport::{Settings, Shared, Stats};

/// Runs `apply` to its end and says how it ended: set up, scan (with a data source),
/// dispatch, close.
pub async fn run(config: ApplyConfig, err: &mut (dyn Write + Send)) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let setup = match set_up(&config, err).await? {
        Ok(setup) => setup,
        Err(message) => {
            writeln!(err, "error: {message}")?;
            writeln!(err, "Nothing was sent.")?;
            return Ok(Exit::Usage);
        }
    };
    let mut setup = setup;
    if let Err(exit) = related_stage(&config, &mut setup, err).await? {
        return Ok(exit);
    }
    let progress = Progress::new(config.progress);
    let signals = watch_signals(setup.shared.stop.clone(), progress.printer());
    let (matcher, missing) = match scan_stage(&config, &setup, &progress, err).await? {
        Ok((matcher, rows, missing)) => {
            // A selection's rows are its pages, known once they are scanned.
            if let Some(rows) = rows {
                setup.source = rows;
            }
            (matcher, missing)
        }
        Err(exit) => {
            signals.abort();
            return Ok(exit);
        }
    };
    let finished =
        dispatch_stage(&config, setup, matcher, missing, &progress, started, err).await?;
    signals.abort();
    close(&config, finished, started, err)
}

/// Everything a run holds from its start to its end.
struct Setup {
    /// With --sandbox: the local server, serving until the run ends.
    _sandbox: Option<notion_sandbox::Handle>,
    /// `<report>.lock`, held for the whole run.
    _lock: File,
    shared: Arc<Shared>,
    /// What a row writes besides its PATCH (`--backup`, `--create-missing`).
    writes: Arc<Writes>,
    trace: mpsc::UnboundedReceiver<String>,
    /// What the shared limiter says during the run (lost, back), printed like trace lines.
    notices: mpsc::UnboundedReceiver<String>,
    source: Source,
    /// How many rows the input file holds (read through before anything is sent).
    rows: Option<u64>,
    mapper: Mapper,
    /// The rows' preconditions (`if:` columns, `[expect]`), if they can have any.
    expectations: Option<Expectations>,
    /// `--where`: the pages to edit, checked and ready to scan.
    selection: Option<select::Prepared>,
    /// `--missing-pages`: what the pages whose key no input row has get, checked.
    mirror: Option<mirror::Prepared>,
    resume: Option<Resumer>,
    reporter: Reporter,
}

/// A usage or input error found while setting up (exit 2, nothing sent): the stage returns it.
macro_rules! or_usage {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

/// The first stage: the token (or the sandbox), the client, the input, the one limiter, the
/// schema, the mappers, the report and its lock, resume, --failed-out and --backup. `Err`: a
/// usage or input error (exit 2, nothing sent).
async fn set_up(
    config: &ApplyConfig,
    err: &mut (dyn Write + Send),
) -> anyhow::Result<Result<Setup, String>> {
    let (sandbox, token, api_base) = or_usage!(connect(config, err).await?);
    let input = &config.input;
    let client = or_usage!(Client::new(
        &api_base,
        &token,
        input.mapping.version,
        config.timeout,
        config.concurrency,
    )
    .map_err(|e| e.to_string()));
    let source = or_usage!(
        Source::open(&input.path, input.format, input.encoding).map_err(|e| e.to_string())
    );
    let rows = or_usage!(read_through(input).await?);
    let (limiter, notices, stop) = or_usage!(limiter(config, &token, err).await?);
    let reads = Shared::new(client, Arc::new(limiter), settings(config), stop);
    let (mapper, expectations) = or_usage!(mappers(input, &source, &reads, err).await?);
    let selection = match &input.selection {
        Some(s) => Some(or_usage!(select::prepare(s, mapper.options()))),
        None => None,
    };
    let mirror = match &input.missing {
        Some(m) => Some(or_usage!(mirror::prepare(m, mapper.options()))),
        None => None,
    };
    if input.mapping.add_missing_options {
        or_usage!(add_missing_options(input, &mapper, selection.as_ref(), &reads, err).await?);
    }
    let lock = or_usage!(lock_report(&config.report));
    let resume = or_usage!(resume_index(config));
    let report = or_usage!(ReportWriter::open(&config.report)
        .map_err(|e| format!("cannot write the report {}: {e}", config.report.display())));
    let failed_out = or_usage!(failed_out(config, &source, &mapper, resume.as_ref()));
    let backup = match &config.backup {
        Some(path) => Some(or_usage!(crate::backup::Backup::open(path)
            .map_err(|e| format!("cannot use the backup {}: {e}", path.display())))),
        None => None,
    };
    let (trace_tx, trace) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        trace: config.verbose.then_some(trace_tx),
        ..reads
    });
    let uploads = or_usage!(
        crate::dispatch::upload::Uploads::open(&config.report, config.resume).map_err(|e| format!(
            "cannot use the uploads journal beside {}: {e}",
            config.report.display()
        ))
    );
    let writes = Arc::new(Writes {
        backup,
        creating: creating(input, &mapper),
        uploads: Some((uploads, mapper.options().files.base.clone())),
    });
    let reporter = Reporter::new(report, failed_out, shared.stop.clone());
    Ok(Ok(Setup {
        _sandbox: sandbox,
        _lock: lock,
        shared,
        writes,
        trace,
        notices,
        source,
        rows,
        mapper,
        expectations,
        selection,
        mirror,
        resume,
        reporter,
    }))
}

/// Relation columns of keys, before the scan and any row: the lookups of their keys, and with
/// `--create-missing-related` the pages of the keys no page has (each in the backup). `Err`:
/// the exit, its closing lines written.
async fn related_stage(
    config: &ApplyConfig,
    setup: &mut Setup,
    err: &mut (dyn Write + Send),
) -> anyhow::Result<Result<(), Exit>> {
    let input = &config.input;
    if setup.mapper.relation_columns().is_empty() {
        return Ok(Ok(()));
    }
    let missing = match input.create_missing_related {
        true => super::MissingRelated::Create(setup.writes.backup.as_ref()),
        false => super::MissingRelated::Keep,
    };
    let mut said = Vec::new();
    let shared = setup.shared.clone();
    let done = super::relations(&shared, &mut setup.mapper, input, missing, &mut |l| {
        said.push(l)
    })
    .await;
    for line in said {
        writeln!(err, "{line}")?;
    }
    match done {
        Ok(_) => Ok(Ok(())),
        Err(e) => {
            writeln!(err, "error: {e}")?;
            writeln!(
                err,
                "No row was sent. Pages created for related keys so far are found again by the lookups of a rerun (and --backup lists them); fix the cause and run the same command again."
            )?;
            Ok(Err(match shared.stop.reason() {
                Some(StopReason::Interrupted) => Exit::Interrupted,
                _ => Exit::Aborted,
            }))
        }
    }
}

/// `--add-missing-options`, before any page is written: the options the input names that the
/// data source lacks, added by one `PATCH /v1/data_sources/{id}` (none when it has them all, as
/// when a run is resumed). `Err`: nothing was written to any page.
async fn add_missing_options(
    input: &crate::config::InputConfig,
    mapper: &crate::mapping::Mapper,
    prepared: Option<&select::Prepared>,
    reads: &Shared,
    err: &mut (dyn Write + Send),
) -> anyhow::Result<Result<(), String>> {
    // The whole input is read once more, here; the runtime has other threads for the sandbox.
    let new = or_usage!(tokio::task::block_in_place(|| {
        super::options_to_add(input, mapper, prepared)
    }));
    let schema = mapper
        .options()
        .schema
        .as_deref()
        .expect("checked by config");
    let id = &schema.data_source_id;
    if new.is_empty() {
        writeln!(err, "{}", super::nothing_to_add(schema))?;
        return Ok(Ok(()));
    }
    let list: Vec<String> = new.iter().map(super::describe_option).collect();
    match crate::scan::schema::add_options(reads, id, &new).await {
        Ok(0) => writeln!(
            err,
            "schema: {:?} already has the {} options the input names; nothing sent",
            schema.title,
            new.len()
        )?,
        Ok(n) => writeln!(
            err,
            "schema: added {n} options to {:?} (PATCH /v1/data_sources/{id}): {}",
            schema.title,
            list.join(", ")
        )?,
        Err(e) => {
            return Ok(Err(format!(
                "--add-missing-options: {e}. Nothing was written to any page; the options were \
                 {}",
                list.join(", ")
            )))
        }
    }
    Ok(Ok(()))
}

/// The token and the API base: the configured ones, or with --sandbox a fresh local server,
/// its own random token, its address as the API base (kept serving for the run).
async fn connect(
    config: &ApplyConfig,
    err: &mut (dyn Write + Send),
) -> anyhow::Result<Result<(Option<notion_sandbox::Handle>, Token, String), String>> {
    let Some(seed_path) = &config.sandbox_seed else {
        return Ok(config
            .token
            .read()
            .map(|t| (None, t, config.api_base.clone())));
    };
    let seed = or_usage!(notion_sandbox::Seed::load(seed_path)
        .map_err(|e| format!("cannot load the sandbox seed {}: {e}", seed_path.display())));
    let secret = format!("secret_sandbox_{:032x}", rand::random::<u128>());
    let mut options = notion_sandbox::Options::new(seed);
    options.token = Some(secret.clone());
    let handle = or_usage!(notion_sandbox::start(options)
        .await
        .map_err(|e| format!("cannot start the sandbox: {e}")));
    writeln!(
        err,
        "sandbox: serving {} seeded from {} (nothing leaves this machine)",
        handle.base_url(),
        seed_path.display()
    )?;
    let base = handle.base_url();
    Ok(Ok((Some(handle), Token::new(secret), base)))
}

/// A file is read through once before anything is sent: a broken line (a quote never closed,
/// a line of the wrong width) is an input error, and the count is the progress display's
/// total. Standard input can be read only once: it is checked as it streams (`None`).
async fn read_through(
    input: &crate::config::InputConfig,
) -> anyhow::Result<Result<Option<u64>, String>> {
    match &input.path {
        InputPath::File(path) => {
            let (path, format, encoding) = (path.clone(), input.format, input.encoding);
            let counted =
                tokio::task::spawn_blocking(move || count_rows(&path, format, encoding)).await?;
            Ok(counted.map(Some).map_err(|e| e.to_string()))
        }
        InputPath::Stdin | InputPath::Selection => Ok(Ok(None)),
    }
}

/// The one limiter, made before the first request (the schema and users reads take their
/// permits and retries from it, as every later request does), what the shared one says during
/// the run, and the run's stop flag.
async fn limiter(
    config: &ApplyConfig,
    token: &Token,
    err: &mut (dyn Write + Send),
) -> anyhow::Result<Result<(Limiter, mpsc::UnboundedReceiver<String>, Stop), String>> {
    let stop = Stop::default();
    let (notice_tx, notices) = mpsc::unbounded_channel::<String>();
    let limiter = match &config.shared_limiter {
        None => Limiter::new(config.rate, config.burst),
        #[cfg(feature = "shared-limiter")]
        Some(shared) => match crate::transport::redis::connect(shared, token).await {
            Ok(budget) => {
                writeln!(
                    err,
                    "shared limiter: permits come from the budget {} on {}, shared with every process using it",
                    budget.keys()[0].trim_end_matches(":tat"),
                    budget.shown()
                )?;
                let (rate, burst, stop) = (config.rate, config.burst, stop.clone());
                Limiter::shared(rate, burst, budget, shared.required, notice_tx, stop)
            }
            Err(e) if crate::config::still_masked(&shared.url) => {
                return Ok(Err(format!(
                    "cannot use the shared limiter {e}: the password is still the *** of a printed command; put the real password in its place"
                )))
            }
            Err(e) => return Ok(Err(format!("cannot use the shared limiter {e}"))),
        },
        #[cfg(not(feature = "shared-limiter"))]
        Some(_) => {
            let _ = (token, &err, notice_tx);
            return Ok(Err("this build of notion-bulk has no Redis support".into()));
        }
    };
    Ok(Ok((limiter, notices, stop)))
}

/// How the workers send: concurrency, attempts, `--max-errors`, backoff.
fn settings(config: &ApplyConfig) -> Settings {
    Settings {
        concurrency: config.concurrency,
        max_attempts: config.max_attempts,
        max_errors: config.max_errors,
        backoff_min: Duration::from_millis(500),
        backoff_max: Duration::from_secs(30),
    }
}

/// The schema (read through `reads`), the key, and the two mappers that resolve the header:
/// the rows' and their preconditions'.
async fn mappers(
    input: &crate::config::InputConfig,
    source: &Source,
    reads: &Shared,
    err: &mut (dyn Write + Send),
) -> anyhow::Result<Result<(Mapper, Option<Expectations>), String>> {
    let mut mapping = input.mapping.clone();
    if let Some(schema) = &input.schema {
        let (schema, warning) = or_usage!(load_schema(schema, Some(reads), mapping.version)
            .await
            .map_err(|e| e.to_string()));
        if let Some(w) = warning {
            writeln!(err, "warning: {w}")?;
        }
        mapping.set_schema(schema);
    }
    or_usage!(crate::mapping::key::use_key(
        &mut mapping,
        input.matching.as_ref()
    ));
    let mappers = Mapper::for_source(source, mapping).and_then(|m| {
        let expectations =
            Expectations::for_input(source, m.options(), &input.expect, input.create_missing())?;
        Ok((m, expectations))
    });
    let mut mappers = mappers.map_err(|e| format!("{}: {e}", input.path.display()));
    if let Ok((mapper, _)) = &mut mappers {
        crate::scan::schema::use_file_limit(mapper, reads).await;
    }
    Ok(mappers)
}

/// The files the run copied into Notion, if it copied any.
fn upload_summary(stats: &Stats) -> Option<crate::report::summary::UploadSummary> {
    let summary = crate::report::summary::UploadSummary {
        uploaded: stats.files_uploaded.load(Ordering::Relaxed),
        bytes: stats.bytes_uploaded.load(Ordering::Relaxed),
        imported: stats.files_imported.load(Ordering::Relaxed),
        reused: stats.uploads_reused.load(Ordering::Relaxed),
    };
    (summary != Default::default()).then_some(summary)
}

/// With `--resume` and a report: what the earlier run recorded.
fn resume_index(config: &ApplyConfig) -> Result<Option<Resumer>, String> {
    if !(config.resume && config.report.exists()) {
        return Ok(None);
    }
    ResumeIndex::read(&config.report)
        .map(|index| Some(Resumer::new(index)))
        .map_err(|e| format!("cannot resume from {}: {e}", config.report.display()))
}

/// `--failed-out`, in the input's own format, watching the pages `--resume` found dirty.
fn failed_out(
    config: &ApplyConfig,
    source: &Source,
    mapper: &Mapper,
    resume: Option<&Resumer>,
) -> Result<Option<FailedOut>, String> {
    let Some(path) = &config.failed_out else {
        return Ok(None);
    };
    let input = &config.input;
    let format = match (source.headers(), input.format) {
        (Some(headers), crate::source::InputFormat::Csv { delimiter }) => FailedOutFormat::Csv {
            headers: headers.to_vec(),
            delimiter,
        },
        _ => FailedOutFormat::Jsonl,
    };
    let watched: Vec<NotionId> = resume.iter().flat_map(|r| r.dirty_pages()).collect();
    let utf8_mark = !input.encoding.is_utf8();
    FailedOut::create(
        path,
        &format,
        mapper.locator(),
        watched.into_iter(),
        utf8_mark,
    )
    .map(Some)
    .map_err(|e| format!("cannot write --failed-out {}: {e}", path.display()))
}

/// With `--create-missing`: where pages are created and by which key.
fn creating(input: &crate::config::InputConfig, mapper: &Mapper) -> Option<dispatch::Creating> {
    match (&mapper.options().match_on, &input.matching) {
        (Some(key), Some(_)) if input.create_missing() => Some(dispatch::Creating {
            schema: mapper
                .options()
                .schema
                .clone()
                .expect("a key comes with a schema"),
            version: input.mapping.version,
            key: key.clone(),
        }),
        _ => None,
    }
}

/// The scan stage (with `--data-source`): read the data source once into the index the
/// matcher compares rows with; with `--where`, only the pages it selects, which are then the
/// rows; with `--missing-pages`, the pages whose key no input row has, and its brake.
/// `Err`: the exit of a scan that could not finish, or of the brake (nothing was written).
async fn scan_stage(
    config: &ApplyConfig,
    setup: &Setup,
    progress: &Progress,
    err: &mut (dyn Write + Send),
) -> anyhow::Result<Result<Scanned, Exit>> {
    if config.input.data_source.is_none() {
        return Ok(Ok((None, None, None)));
    }
    let schema = setup
        .mapper
        .options()
        .schema
        .clone()
        .expect("--data-source brings its schema");
    let stats = setup.shared.stats.clone();
    let scope = select::Scope {
        schema: &schema,
        version: config.input.mapping.version,
        written: setup.mapper.written_keys(),
        compared: compared(setup.expectations.as_ref(), setup.mirror.as_ref()),
        selection: setup.selection.as_ref(),
        resumed: config.resume.then_some(config.report.as_path()),
        keyed: config
            .input
            .matching
            .as_ref()
            .map(|matching| (matching, config.input.file(), &setup.mapper)),
    };
    let mut said = Vec::new();
    let result = select::read(
        &setup.shared,
        scope,
        &mut |p| progress.scan(p, &stats, false, err),
        &mut |line| said.push(line),
    )
    .await;
    for line in said {
        progress.println(err, &line);
    }
    match result {
        Ok((index, done, selection)) => {
            progress.scan(&done, &stats, true, err);
            let rows = selection.map(|s| {
                progress.println(err, &format!("{}; only what changes is sent", s.summary));
                s.rows
            });
            let matcher = Matcher::new(index, config.send_unchanged, config.backup.is_some())
                .creating(config.input.create_missing())
                .rechecking(config.recheck);
            let missing = match &setup.mirror {
                Some(prepared) => {
                    let title = &schema.title;
                    let found = tokio::task::block_in_place(|| {
                        super::missing_pages(
                            &config.input,
                            &setup.mapper,
                            matcher.index(),
                            prepared,
                        )
                    });
                    match found {
                        Ok(missing) => {
                            progress.println(err, &missing.summary(title));
                            if missing.stops() && missing.applies() {
                                writeln!(err, "error: {}", missing.brake())?;
                                return Ok(Err(Exit::Usage));
                            }
                            Some((prepared.clone(), missing))
                        }
                        Err(e) => {
                            writeln!(err, "error: --missing-pages: {e}")?;
                            writeln!(err, "Nothing was sent.")?;
                            return Ok(Err(Exit::Usage));
                        }
                    }
                }
                None => None,
            };
            Ok(Ok((Some(matcher), rows, missing)))
        }
        Err(e) => {
            progress.finish();
            writeln!(err, "error: {e}")?;
            writeln!(err, "Nothing was sent.")?;
            Ok(Err(match setup.shared.stop.reason() {
                Some(StopReason::Interrupted) => Exit::Interrupted,
                Some(_) => Exit::Aborted,
                None if e.is_usage() => Exit::Usage,
                None => Exit::Aborted,
            }))
        }
    }
}

/// What the scan stage gives: the matcher, a selection's rows, and the missing pages.
type Scanned = (
    Option<Matcher>,
    Option<Source>,
    Option<(mirror::Prepared, mirror::Missing)>,
);

/// The fields the scan reads besides those the rows write: those preconditions compare and
/// those the missing pages' rows write.
fn compared(expectations: Option<&Expectations>, mirror: Option<&mirror::Prepared>) -> Vec<String> {
    let mut keys = expectations.map(Expectations::keys).unwrap_or_default();
    keys.extend(mirror.iter().flat_map(|m| m.keys().iter().cloned()));
    keys
}

/// What the dispatch stage leaves for the close.
struct Finished {
    reporter: Reporter,
    stats: Arc<Stats>,
    stopped: Option<StopReason>,
    /// The first file the run could not write (the report, --backup, --failed-out).
    write_failure: Option<WriteFailure>,
    reader: ReaderOutcome,
    scan_requests: u64,
}

/// The dispatch stage: the reader and mapper (and matcher) on a blocking thread, the
/// dispatcher and its workers, and this task as the one consumer of results. With
/// `--missing-pages`, once every input row has ended, a second pass of the same kind sends the
/// missing pages' rows, unless the run stopped or the input was not read to its end.
async fn dispatch_stage(
    config: &ApplyConfig,
    setup: Setup,
    matcher: Option<Matcher>,
    missing: Option<(mirror::Prepared, mirror::Missing)>,
    progress: &Progress,
    started: Instant,
    err: &mut (dyn Write + Send),
) -> anyhow::Result<Finished> {
    let Setup {
        shared,
        writes,
        trace,
        notices,
        source,
        rows,
        mapper,
        expectations,
        resume,
        reporter,
        ..
    } = setup;
    let (stats, stop, limiter) = (
        shared.stats.clone(),
        shared.stop.clone(),
        shared.limiter.clone(),
    );
    let scan_requests = stats.requests.load(Ordering::Relaxed);
    let total = source.known_rows().or(rows).unwrap_or(u64::MAX);
    // What the reader says of rows an earlier run ended, for --failed-out: few (only rows not
    // ok and the ok rows of their pages), and never waited on.
    let (notes_tx, notes) = mpsc::unbounded_channel();
    let notes_tx = config.failed_out.is_some().then_some(notes_tx);
    let gates = Gates {
        expectations,
        matcher,
        recheck: config.recheck,
        resume,
        describe: false,
    };
    if let Some(limit) = config.max_runtime {
        stop_at_deadline(limit, stop.clone());
    }
    let mut consumer = Consumer {
        reporter,
        trace,
        notices,
        notes,
        stats: stats.clone(),
        limiter,
        total,
        started,
        progress,
        marks: None,
    };
    let stages = Stages {
        source,
        mapper,
        gates,
    };
    let pass = Pass {
        shared: &shared,
        writes: &writes,
        notes: notes_tx.clone(),
    };
    let (mut reader, stages) = pass.run(stages, &mut consumer, err).await?;
    let mut missing_pages = None;
    if let Some((prepared, missing)) = missing {
        let held = if !missing.applies() {
            (!missing.pages.is_empty()).then(|| {
                format!(
                    "{} input rows have no key that could be read, and any page might be theirs",
                    missing.unkeyed_rows.len()
                )
            })
        } else if let Some(reason) = stop.reason() {
            Some(format!(
                "the run stopped ({reason}) before every input row had ended"
            ))
        } else {
            (reader.error.as_ref()).map(|e| format!("the input was not read to its end ({e})"))
        };
        let mut counts = crate::report::summary::MissingPages {
            action: prepared.action.as_flag(),
            found: missing.pages.len() as u64,
            not_applied: held.clone(),
            ..Default::default()
        };
        if held.is_none() && !missing.pages.is_empty() {
            let resumed = config.resume.then_some(config.report.as_path());
            let after = rows.unwrap_or_default();
            let rows = missing.rows(&prepared, resumed, after);
            match (rows, prepared.mapper()) {
                (Ok(source), Ok(mapper)) => {
                    consumer.marks = Some(missing.marks());
                    consumer.total = consumer.total.saturating_add(missing.pages.len() as u64);
                    let stages = Stages {
                        source,
                        mapper,
                        gates: stages.gates,
                    };
                    let (outcome, _) = pass.run(stages, &mut consumer, err).await?;
                    reader = ReaderOutcome {
                        error: reader.error.or(outcome.error),
                        ..outcome
                    };
                }
                (Err(e), _) => {
                    counts.not_applied = Some(format!(
                        "cannot read the report {}: {e}",
                        config.report.display()
                    ))
                }
                (_, Err(e)) => counts.not_applied = Some(e),
            }
        }
        missing_pages = Some(counts);
    }
    consumer.drain(err);
    progress.finish();
    let mut reporter = consumer.reporter;
    if let Some(counts) = missing_pages.as_mut() {
        let done = &reporter.missing;
        (
            counts.trashed,
            counts.flagged,
            counts.unchanged,
            counts.not_ok,
        ) = (done.trashed, done.flagged, done.unchanged, done.not_ok);
        reporter.missing = counts.clone();
    }
    Ok(Finished {
        reporter,
        stats,
        stopped: stop.reason(),
        write_failure: stop.write_failure().cloned(),
        reader,
        scan_requests,
    })
}

/// One pass of rows through the reader's thread, the dispatcher and the consumer: the input's
/// rows, then (with `--missing-pages`) the missing pages' rows, on the same limiter, backup and
/// report.
struct Pass<'a> {
    shared: &'a Arc<Shared>,
    writes: &'a Arc<Writes>,
    notes: Option<mpsc::UnboundedSender<Note>>,
}

impl Pass<'_> {
    /// Runs `stages` to the end of their rows and every result; gives the stages back (the
    /// gates go on to the next pass).
    async fn run(
        &self,
        stages: Stages,
        consumer: &mut Consumer<'_>,
        err: &mut (dyn Write + Send),
    ) -> anyhow::Result<(ReaderOutcome, Stages)> {
        let (items_tx, items_rx) = mpsc::channel::<Item>(256);
        let (results_tx, results_rx) = mpsc::channel(256);
        let reader_stop = self.shared.stop.clone();
        let notes = self.notes.clone();
        let reader =
            tokio::task::spawn_blocking(move || read_rows(stages, items_tx, notes, reader_stop));
        let dispatcher = tokio::spawn(dispatch::dispatch(
            self.shared.clone(),
            self.writes.clone(),
            items_rx,
            results_tx,
        ));
        consumer.run(results_rx, err).await;
        dispatcher.await?;
        Ok(reader.await?)
    }
}

/// `--max-runtime`: stop taking rows once it has passed.
fn stop_at_deadline(limit: Duration, stop: Stop) {
    tokio::spawn(async move {
        tokio::time::sleep(limit).await;
        stop.set(StopReason::Deadline);
    });
}

/// The one consumer of a run's results (as oha's monitor): each row's result goes to the
/// reporter, and the lines to show (rows that need attention, `--verbose`'s trace, the
/// reader's notes for `--failed-out`, the shared limiter's notices) through the progress
/// display, which it ticks.
struct Consumer<'a> {
    reporter: Reporter,
    trace: mpsc::UnboundedReceiver<String>,
    notices: mpsc::UnboundedReceiver<String>,
    notes: mpsc::UnboundedReceiver<Note>,
    stats: Arc<Stats>,
    limiter: Arc<Limiter>,
    /// The input's rows, `u64::MAX` when unknown.
    total: u64,
    started: Instant,
    progress: &'a Progress,
    /// In the missing pages' pass: what marks their results.
    marks: Option<mirror::Marks>,
}

impl Consumer<'_> {
    /// Until the dispatcher has sent its last result.
    async fn run(
        &mut self,
        mut results: mpsc::Receiver<crate::outcome::RowResult>,
        err: &mut (dyn Write + Send),
    ) {
        let mut ticker = tokio::time::interval(self.progress.interval());
        ticker.tick().await;
        let mut last_sync = Instant::now();
        let mut window: std::collections::VecDeque<(Instant, u64)> = [(Instant::now(), 0)].into();
        loop {
            tokio::select! {
                result = results.recv() => {
                    let Some(mut result) = result else { break };
                    let said = match &self.marks {
                        Some(marks) => {
                            marks.mark(&mut result);
                            self.reporter.record_missing(&result)
                        }
                        None => self.reporter.record(&result),
                    };
                    if let Some(line) = said {
                        self.progress.println(err, &line);
                    }
                    if last_sync.elapsed() >= Duration::from_secs(1) {
                        if let Some(line) = self.reporter.sync() {
                            self.progress.println(err, &line);
                        }
                        last_sync = Instant::now();
                    }
                }
                Some(line) = self.trace.recv() => self.progress.println(err, &line),
                Some(note) = self.notes.recv() => {
                    if let Some(line) = self.reporter.note(note) {
                        self.progress.println(err, &line);
                    }
                }
                Some(line) = self.notices.recv() => self.progress.println(err, &line),
                _ = ticker.tick() => {
                    // The rate over the last ten seconds (or the run so far).
                    let now = (Instant::now(), self.stats.requests.load(Ordering::Relaxed));
                    window.push_back(now);
                    while window.len() > 2 && now.0 - window[1].0 >= Duration::from_secs(10) {
                        window.pop_front();
                    }
                    let (t0, r0) = window[0];
                    let recent_rate = (now.1 - r0) as f64 / (now.0 - t0).as_secs_f64().max(0.001);
                    self.progress.tick(&self.snapshot(recent_rate), err);
                }
            }
        }
    }

    /// What is left to print and record once the results have ended.
    fn drain(&mut self, err: &mut (dyn Write + Send)) {
        while let Ok(line) = self.trace.try_recv().or_else(|_| self.notices.try_recv()) {
            self.progress.println(err, &line);
        }
        while let Ok(note) = self.notes.try_recv() {
            if let Some(line) = self.reporter.note(note) {
                self.progress.println(err, &line);
            }
        }
        for line in [self.reporter.finish(), self.reporter.sync()]
            .into_iter()
            .flatten()
        {
            self.progress.println(err, &line);
        }
    }

    fn snapshot(&self, recent_rate: f64) -> Snapshot {
        let (stats, limiter) = (&self.stats, &self.limiter);
        Snapshot {
            total: Some(self.total).filter(|t| *t != u64::MAX),
            counts: self.reporter.counts.clone(),
            requests: stats.requests.load(Ordering::Relaxed),
            retries: stats.retries.load(Ordering::Relaxed),
            rate_limited: stats.rate_limited.load(Ordering::Relaxed),
            in_flight: stats.in_flight.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
            rate: limiter.rate(),
            recent_rate,
            pause: limiter.pause_in_force().map(|p| {
                format!(
                    "all requests paused until {} UTC: {}",
                    wall_clock(p.until),
                    p.reason
                )
            }),
            pause_short: limiter
                .pause_in_force()
                .map(|p| format!("paused until {} UTC", wall_clock(p.until))),
        }
    }
}

/// The last stage: the exit code, the summary, and what to run next.
fn close(
    config: &ApplyConfig,
    finished: Finished,
    started: Instant,
    err: &mut (dyn Write + Send),
) -> anyhow::Result<Exit> {
    let Finished {
        reporter,
        stats,
        stopped,
        write_failure,
        reader,
        scan_requests,
    } = finished;
    let requests = stats.requests.load(Ordering::Relaxed);
    let mut exit = exit_of(stopped, write_failure.is_some(), &reporter, &reader);
    if let Some(e) = &reader.error {
        // The input broke part way: an input error if nothing was sent yet, else an abort.
        writeln!(err, "error: {e}; the rows after it were not read")?;
        let sent = requests > scan_requests;
        exit = exit.worst(if sent { Exit::Aborted } else { Exit::Usage });
    }
    let elapsed = started.elapsed().as_secs_f64();
    let summary = Summary {
        rows: reporter.counts.clone(),
        by_code: reporter.by_code.clone(),
        actions: reporter.actions.clone(),
        missing_pages: config
            .input
            .missing
            .is_some()
            .then(|| reporter.missing.clone()),
        keyed: config.input.matching.is_some(),
        skipped_by_code: reporter.skipped_by_code.clone(),
        requests,
        scan_requests,
        rate_limited: stats.rate_limited.load(Ordering::Relaxed),
        rate_limit_reasons: stats.rate_limit_reasons.lock().expect("stats lock").clone(),
        retries: stats.retries.load(Ordering::Relaxed),
        uploads: upload_summary(&stats),
        wall_time_s: elapsed,
        effective_rate: requests as f64 / elapsed.max(0.001),
        stopped: stopped.map(|r| r.to_string()),
        exit_code: exit.code(),
        report: reporter.report_path().display().to_string(),
        failed_out: reporter
            .failed_out()
            .map(|f| f.path().display().to_string()),
        resumed_ok: reader.resumed_ok,
        resumed_final: reader.resumed_final,
    };
    summary.write_text(err)?;
    if let Some(path) = &config.summary_json {
        if let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(&summary)?) {
            let failure = WriteFailure::new("--summary-json", path, &e);
            writeln!(
                err,
                "error: {failure} (the summary above is the whole of it)"
            )?;
            exit = exit.worst(Exit::Aborted);
        }
    }
    write_next_steps(
        err,
        config,
        &summary,
        stopped,
        write_failure.as_ref(),
        &reporter,
    )?;
    Ok(exit)
}

/// The exit code of what stopped the run (if anything) and of its rows.
fn exit_of(
    stopped: Option<StopReason>,
    write_failed: bool,
    reporter: &Reporter,
    reader: &ReaderOutcome,
) -> Exit {
    let mut exit = match stopped {
        Some(
            StopReason::TokenRefused
            | StopReason::MaxErrors(_)
            | StopReason::SameFailure
            | StopReason::SharedLimiterLost
            | StopReason::WriteFailed,
        ) => Exit::Aborted,
        Some(StopReason::Interrupted) => Exit::Interrupted,
        Some(StopReason::Deadline) => Exit::Deadline,
        None => Exit::Ok,
    };
    if write_failed {
        // Rows were taken (a file is written only then): not the "before any write" code,
        // whatever stopped the run first.
        exit = exit.worst(Exit::Aborted);
    }
    if reporter.counts.not_ok() + reporter.missing.not_ok + reader.resumed_final > 0 {
        exit = exit.worst(Exit::RowsFailed);
    }
    exit
}

/// An instant of the run as a UTC time of day.
fn wall_clock(at: Instant) -> String {
    let wall = chrono::Utc::now()
        + chrono::Duration::from_std(at.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
    wall.format("%H:%M:%S").to_string()
}

/// The last lines: what happened and exactly what to run next.
fn write_next_steps(
    err: &mut (dyn Write + Send),
    config: &ApplyConfig,
    summary: &Summary,
    stopped: Option<StopReason>,
    write_failure: Option<&WriteFailure>,
    reporter: &Reporter,
) -> std::io::Result<()> {
    if let Some(failure) = write_failure {
        writeln!(err, "error: {failure}")?;
    }
    if let Some(reason) = stopped {
        writeln!(
            err,
            "stopped early: {reason}. Rows not yet sent were left as they are."
        )?;
        if reason == StopReason::SameFailure {
            let seen: Vec<String> = summary.by_code.keys().cloned().collect();
            writeln!(err, "hint: {}", dispatch::same_refusal_hint(&seen))?;
        }
        if reason == StopReason::TokenRefused {
            writeln!(err, "hint: check the token ({}); the integration may have been removed or the token rotated", config.token.origin())?;
        }
    }
    if let Some(backup) = &config.backup {
        writeln!(
            err,
            "backup of the values before this run's changes: {} (to undo: notion-bulk apply {} --report undo-report.jsonl)",
            backup.display(),
            backup.display()
        )?;
    }
    if let Some(m) = &summary.missing_pages {
        if let (Some(why), true) = (&m.not_applied, m.found > 0) {
            writeln!(
                err,
                "missing pages: the {} pages whose key no input row has were left as they are (--missing-pages {}): {why}. They are handled only after a run that applies the whole input: fix the cause, then run the command below (or the same command again)",
                m.found, m.action
            )?;
        } else if m.not_ok > 0 {
            writeln!(
                err,
                "missing pages: {} of them did not end ok (see the report); --resume sends them again",
                m.not_ok
            )?;
        }
    }
    let unrecorded = reporter.unrecorded();
    if !unrecorded.is_empty() {
        writeln!(
            err,
            "{} rows that ended after that have no line in the report (rows {}): --resume sends them again",
            unrecorded.len(),
            row_list(unrecorded)
        )?;
    }
    if let Some(failure) = write_failure {
        writeln!(
            err,
            "hint: make room for {} (free disk space, or raise the quota or the file size limit), then run the command below; keep the report where it is: --resume reads it",
            failure.file
        )?;
    }
    write_what_to_run(err, config, summary, stopped, reporter)
}

/// What to run next: the command to continue, and the rows to fix and run again.
fn write_what_to_run(
    err: &mut (dyn Write + Send),
    config: &ApplyConfig,
    summary: &Summary,
    stopped: Option<StopReason>,
    reporter: &Reporter,
) -> std::io::Result<()> {
    let missing_not_ok = summary.missing_pages.as_ref().map_or(0, |m| m.not_ok);
    let not_ok = summary.rows.not_ok() + summary.resumed_final + missing_not_ok;
    if stopped.is_some() {
        writeln!(
            err,
            "to continue where this run stopped (rows already ok are not sent again):"
        )?;
        write_command(err, &config.continue_command)?;
    } else if not_ok > 0 {
        writeln!(
            err,
            "{not_ok} rows did not end ok (listed above and in the report). Rows that failed after retries or ended unknown are sent again, without what later rows set, by:"
        )?;
        write_command(err, &config.continue_command)?;
    }
    if not_ok > 0 {
        writeln!(
            err,
            "rows Notion refused (a 4xx) and invalid rows are final for --resume: fix them, then run them from --failed-out"
        )?;
    }
    if let Some(path) = reporter.failed_out_lost() {
        writeln!(
            err,
            "--failed-out {} was not written (see the error above): the command to continue writes it",
            path.display()
        )?;
    }
    if stopped.is_some() || not_ok > 0 {
        if let Some(f) = reporter.failed_out() {
            writeln!(
                err,
                "rows to run again ({} of them, re-runnable as they are): {}",
                f.rows,
                f.path().display()
            )?;
        }
    }
    Ok(())
}

/// A command to run next, on its own line, and what to do first if a password was masked in
/// it.
fn write_command(err: &mut (dyn Write + Send), command: &ContinueCommand) -> std::io::Result<()> {
    writeln!(err, "  {}", command.line)?;
    if command.masked {
        writeln!(
            err,
            "  (the Redis password of --shared-limiter is not printed: put the password back in place of *** before running it)"
        )?;
    }
    Ok(())
}

/// Row numbers for a message: `3, 4, 9`, the first 20 of them, then how many more.
fn row_list(rows: &[u64]) -> String {
    const SHOWN: usize = 20;
    let mut text: Vec<String> = rows.iter().take(SHOWN).map(u64::to_string).collect();
    if rows.len() > SHOWN {
        text.push(format!("and {} more", rows.len() - SHOWN));
    }
    text.join(", ")
}

/// Holds `<report>.lock` for the whole run; the kernel releases it if the process dies.
fn lock_report(report: &Path) -> Result<File, String> {
    let mut name = report.as_os_str().to_owned();
    name.push(".lock");
    let path = std::path::PathBuf::from(name);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open the lock {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(format!(
                "another run (pid {}) is writing the report {}: wait for it to end, or use another --report",
                pid.trim(),
                report.display()
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()))
        }
    }
    file.set_len(0).map_err(|e| e.to_string())?;
    write!(file, "{}", std::process::id()).map_err(|e| e.to_string())?;
    file.flush().map_err(|e| e.to_string())?;
    Ok(file)
}

struct ReaderOutcome {
    resumed_ok: u64,
    resumed_final: u64,
    error: Option<String>,
}

/// What the reader's thread runs: the reader, the mapper, and the gates (preconditions, the
/// matcher, and the reader's side of `--resume`).
struct Stages {
    source: Source,
    mapper: Mapper,
    gates: Gates,
}

/// The reader, mapper and gate stages: rows in, mapped items (with a data source, only
/// their changes) out, in input order (template rows last); with
/// `--resume`, only what an earlier run did not finish, reduced (see [`Resumer`]).
fn read_rows(
    mut stages: Stages,
    items: mpsc::Sender<Item>,
    notes: Option<mpsc::UnboundedSender<Note>>,
    stop: Stop,
) -> (ReaderOutcome, Stages) {
    let outcome = read_stages(&mut stages, items, notes, stop);
    (outcome, stages)
}

/// [`read_rows`], on stages it gives back.
fn read_stages(
    stages: &mut Stages,
    items: mpsc::Sender<Item>,
    notes: Option<mpsc::UnboundedSender<Note>>,
    stop: Stop,
) -> ReaderOutcome {
    let Stages {
        source,
        mapper,
        gates,
    } = stages;
    let mut template = TemplateGate::default();
    let mut row = source.empty_row();
    let mut outcome = ReaderOutcome {
        resumed_ok: 0,
        resumed_final: 0,
        error: None,
    };
    let mut note = |n: Note| {
        if let Some(tx) = &notes {
            let _ = tx.send(n);
        }
    };
    // Whether the dispatcher took them all (it is gone when it did not).
    let send = |items_now: Vec<Item>| {
        items_now
            .into_iter()
            .all(|item| items.blocking_send(item).is_ok())
    };
    let finish = |gates: &Gates, mut outcome: ReaderOutcome| {
        (outcome.resumed_ok, outcome.resumed_final) = gates.resumed();
        outcome
    };
    loop {
        if stop.reason().is_some() {
            return finish(gates, outcome);
        }
        match source.read(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                outcome.error = Some(e.to_string());
                return finish(gates, outcome);
            }
        }
        for (mapped, source_row) in template.admit(mapper.map(&row), row.clone()) {
            let forwarded = gates.forward(mapped, source_row, &mut note).map(send);
            if !goes_on(forwarded, &mut outcome) {
                return finish(gates, outcome);
            }
        }
    }
    for (mapped, source_row) in template.finish() {
        let forwarded = gates.forward(mapped, source_row, &mut note).map(send);
        if !goes_on(forwarded, &mut outcome) {
            return finish(gates, outcome);
        }
    }
    // The rows --resume still holds (the reader ends either way).
    send(gates.finish());
    finish(gates, outcome)
}

/// Whether the reader goes on after a row: not when the dispatcher is gone, nor when
/// `--resume` met a changed input (said as the reader's error).
fn goes_on(forwarded: Result<bool, InputChanged>, outcome: &mut ReaderOutcome) -> bool {
    forwarded.unwrap_or_else(|changed| {
        outcome.error = Some(changed.to_string());
        false
    })
}

/// Reads the input file through: its rows, for the progress display's total and ETA, or the
/// first line the reader refuses.
fn count_rows(
    path: &Path,
    format: crate::source::InputFormat,
    encoding: crate::source::InputEncoding,
) -> Result<u64, crate::source::SourceError> {
    let mut source = Source::open(&InputPath::File(path.to_owned()), format, encoding)?;
    let mut row = source.empty_row();
    let mut n = 0;
    while source.read(&mut row)? {
        n += 1;
    }
    Ok(n)
}

/// SIGINT/SIGTERM: the first stops taking rows and drains; a second ends the process at once
/// (each report line is already flushed, so the report stays consistent).
fn watch_signals(stop: Stop, printer: Printer) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Installed here, before the task runs, so that no request can go out before a signal
    // would be handled.
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = handlers else {
            return;
        };
        for n in 0.. {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if n == 0 {
                // Short lines, printed through the bar: nothing wider than 80 columns.
                printer.eprintln("signal received (send it again to stop at once):");
                printer.eprintln("finishing the requests in flight, then stopping");
                stop.set(StopReason::Interrupted);
            } else {
                printer.eprintln("second signal: stopping now; rows in flight have no line,");
                printer.eprintln("and --resume sends them again");
                std::process::exit(Exit::Interrupted.code().into());
            }
        }
    })
}
