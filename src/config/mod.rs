//! The validated settings each command runs with. The command line and the job file are
//! merged here (the command line wins); nothing past this point sees clap or TOML types.

pub mod jobfile;

use std::path::PathBuf;

use crate::config::jobfile::{single_char, JobFile};
use crate::mapping::cell::NumberFormat;
pub use crate::mapping::key::{KeyLookup, MatchConfig};
use crate::mapping::{EmptyCells, MappingOptions};
use crate::notion::client::{Client, Token};
use crate::notion::schema::SchemaSource;
use crate::notion::Version;
pub use crate::select::SelectionConfig;
use crate::source::{InputEncoding, InputFormat, InputPath};
pub use crate::transport::{masked_url, redacted_url, still_masked, SharedLimiterConfig};

/// A setting that cannot be used; the run exits 2 before reading any row.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// What the input is and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputConfig {
    pub path: InputPath,
    pub format: InputFormat,
    pub encoding: InputEncoding,
    pub mapping: MappingOptions,
    /// The job file the settings came from, if any.
    pub job: Option<JobFile>,
    /// Where the target's schema comes from (`--schema-from`, `--schema-file`, or
    /// `--data-source`), if anywhere.
    pub schema: Option<SchemaSource>,
    /// `--data-source`: the data source (or database with one) to scan before writing, so
    /// that only the changes are sent (SPEC §9).
    pub data_source: Option<String>,
    /// `--where` and `--set` (SPEC §11): the rows are the pages a filter selects, not a file.
    pub selection: Option<SelectionConfig>,
    /// The job file's `[expect]`: the values every row's page must have for it to be written,
    /// keyed like flat JSONL keys.
    pub expect: Vec<(String, serde_json::Value)>,
    /// `--match-on`: rows find their page by a key property (SPEC §10).
    pub matching: Option<MatchConfig>,
}

/// `--max-rows`'s default: a filter selecting more pages stops before any write.
pub const DEFAULT_MAX_ROWS: u64 = 10_000;

/// The flags every command that reads rows shares, as given (before merging with a job file).
#[derive(Debug, Clone, Default)]
pub struct InputFlags {
    /// The input file or job file; none when `--where` selects the pages.
    pub input: Option<String>,
    pub format: Option<String>,
    pub id_column: Option<String>,
    pub delimiter: Option<String>,
    pub separator: Option<String>,
    pub empty: Option<String>,
    pub time_zone: Option<String>,
    pub encoding: Option<String>,
    pub decimal_comma: bool,
    pub thousands_separator: Option<String>,
    /// `--columns A,B`, split.
    pub columns: Option<Vec<String>>,
    pub notion_version: Option<String>,
    pub schema_from: Option<String>,
    pub schema_file: Option<PathBuf>,
    pub data_source: Option<String>,
    pub match_on: Option<String>,
    pub match_ignore_case: bool,
    pub create_missing: bool,
    pub key_lookup: Option<String>,
    /// `--where FILTER`, each clause as written.
    pub where_: Vec<String>,
    /// `--set PROPERTY=VALUE`, each as written.
    pub set: Vec<String>,
    pub max_rows: Option<u64>,
}

/// Settings of `plan`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfig {
    pub input: InputConfig,
    /// Used only to read a schema with `--schema-from`.
    pub connection: Connection,
    /// Where invalid and skipped rows are recorded; none unless asked for.
    pub report: Option<PathBuf>,
    /// The scan's pace with `--data-source` (requests per second, burst).
    pub rate: f64,
    pub burst: u32,
    /// Standard output is a terminal: list the changes for people before the JSON lines.
    pub listing: bool,
}

/// Where the integration token comes from. It is never a flag's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Env(String),
    File(PathBuf),
}

impl TokenSource {
    /// Reads the token; the error says where it looked and what to do.
    pub fn read(&self) -> Result<Token, String> {
        let secret = match self {
            TokenSource::Env(var) => std::env::var(var).map_err(|_| {
                format!("no token: the environment variable {var} is not set (set it, or use --token-env VAR or --token-file PATH)")
            })?,
            TokenSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?,
        };
        let secret = secret.trim().to_owned();
        if secret.is_empty() {
            return Err(format!("no token: {} is empty", self.origin()));
        }
        Ok(Token::new(secret))
    }

    /// Where the token came from, for messages.
    pub fn origin(&self) -> String {
        match self {
            TokenSource::Env(var) => format!("environment variable {var}"),
            TokenSource::File(path) => format!("file {}", path.display()),
        }
    }
}

/// How to reach the API: the token's source and the API root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub token: TokenSource,
    pub api_base: String,
}

/// The connection flags as given (before merging with a job file).
#[derive(Debug, Clone, Default)]
pub struct ConnectionFlags {
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub api_base: Option<String>,
}

impl Connection {
    /// The flags win over the job file; a token flag of either kind wins over both of the
    /// job file's.
    pub fn resolve(flags: &ConnectionFlags, job: Option<&JobFile>) -> Connection {
        let job = job.cloned().unwrap_or_default();
        let token = match (
            &flags.token_env,
            &flags.token_file,
            &job.token_env,
            &job.token_file,
        ) {
            (Some(var), _, _, _) => TokenSource::Env(var.clone()),
            (None, Some(path), _, _) => TokenSource::File(path.clone()),
            (None, None, Some(var), _) => TokenSource::Env(var.clone()),
            (None, None, None, Some(path)) => TokenSource::File(path.clone()),
            _ => TokenSource::Env("NOTION_TOKEN".into()),
        };
        Connection {
            token,
            api_base: flags
                .api_base
                .clone()
                .or(job.api_base)
                .unwrap_or_else(|| "https://api.notion.com".into()),
        }
    }

    /// A client for one-off reads (the schema, the users).
    pub fn client(&self, version: Version) -> Result<Client, String> {
        let token = self.token.read()?;
        Client::new(
            &self.api_base,
            &token,
            version,
            std::time::Duration::from_secs(90),
            1,
        )
        .map_err(|e| e.to_string())
    }
}

/// Settings of `schema`.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaConfig {
    /// The data source or database id or URL.
    pub id: String,
    pub version: Version,
    pub connection: Connection,
}

/// Settings of `apply`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyConfig {
    pub input: InputConfig,
    pub report: PathBuf,
    pub token: TokenSource,
    pub api_base: String,
    pub rate: f64,
    pub burst: u32,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub timeout: std::time::Duration,
    pub max_errors: Option<u64>,
    pub max_runtime: Option<std::time::Duration>,
    pub resume: bool,
    pub failed_out: Option<PathBuf>,
    /// Save the current values of every field about to change, replayable by `apply`.
    pub backup: Option<PathBuf>,
    pub summary_json: Option<PathBuf>,
    pub progress: crate::report::progress::ProgressMode,
    /// Run against the embedded sandbox seeded from this file.
    pub sandbox_seed: Option<PathBuf>,
    /// `--shared-limiter`: take permits from a budget in Redis shared with other processes.
    pub shared_limiter: Option<SharedLimiterConfig>,
    /// Print every request (never its headers) on stderr.
    pub verbose: bool,
    /// The command that continues this run (`--resume` with the same report).
    pub continue_command: ContinueCommand,
    /// With a data source: send every cell, not only the changes.
    pub send_unchanged: bool,
    /// Check preconditions against a read of the page just before its write (`--recheck`).
    pub recheck: bool,
}

/// The command line that continues a run, as printed: this run's own, with `--resume` (and
/// `--report` when it was chosen by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueCommand {
    /// Quoted for a POSIX shell; a Redis password in it is masked as `***`.
    pub line: String,
    /// A password was masked: the person running it puts it back first.
    pub masked: bool,
}

impl std::fmt::Display for ContinueCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line)
    }
}

impl SharedLimiterConfig {
    /// Checks the flags as given (the job file's values already merged in).
    pub fn resolve(
        url: Option<String>,
        key: Option<String>,
        required: bool,
    ) -> Result<Option<SharedLimiterConfig>, ConfigError> {
        let Some(url) = url else {
            if key.is_some() || required {
                return Err(ConfigError(
                    "--limiter-key and --shared-limiter-required need --shared-limiter URL".into(),
                ));
            }
            return Ok(None);
        };
        if !cfg!(feature = "shared-limiter") {
            return Err(ConfigError(
                "--shared-limiter: this build of notion-bulk has no Redis support (it was built without the shared-limiter feature)".into(),
            ));
        }
        const SCHEMES: [&str; 6] = ["redis", "rediss", "unix", "redis+unix", "valkey", "valkeys"];
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if !scheme.as_deref().is_some_and(|s| SCHEMES.contains(&s)) {
            return Err(ConfigError(
                "--shared-limiter takes a redis://HOST[:PORT][/DB], rediss://… (TLS) or unix:///PATH URL".into(),
            ));
        }
        if let Some(k) = &key {
            let fine = !k.is_empty()
                && k.len() <= 100
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
            if !fine {
                return Err(ConfigError(format!(
                    "--limiter-key {k:?}: use 1-100 letters, digits, '-', '_', '.' or ':'"
                )));
            }
        }
        Ok(Some(SharedLimiterConfig { url, key, required }))
    }
}

/// `90m`, `2h`, `45s`, `1h30m`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not a duration: write e.g. 90m, 2h, 45s or 1h30m");
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs > 0.0)
            .then(|| std::time::Duration::from_secs_f64(secs))
            .ok_or_else(bad);
    }
    let mut total = 0.0;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'h' | 'm' | 's' | 'd' if !number.is_empty() => {
                let n: f64 = number.parse().map_err(|_| bad())?;
                total += n * match c {
                    'd' => 86_400.0,
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
                number.clear();
            }
            _ => return Err(bad()),
        }
    }
    if !number.is_empty() || total <= 0.0 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

impl InputConfig {
    /// Merges the flags with the job file named by `flags.input` (when it ends in `.toml`).
    pub fn resolve(flags: &InputFlags) -> Result<InputConfig, ConfigError> {
        let named = flags.input.clone().unwrap_or_default();
        let job = if named.to_ascii_lowercase().ends_with(".toml") {
            Some(JobFile::load(named.as_ref()).map_err(|e| ConfigError(e.to_string()))?)
        } else {
            None
        };
        let from_job = |f: fn(&JobFile) -> Option<String>| job.as_ref().and_then(f);
        let data_source = flags
            .data_source
            .clone()
            .or_else(|| from_job(|j| j.data_source.clone()));
        let selection = SelectionConfig::resolve(flags, job.as_ref(), data_source.as_deref())?;
        let path = match (&job, &selection) {
            (_, Some(_)) => InputPath::Selection,
            (Some(j), None) => InputPath::File(j.input.clone().ok_or_else(|| {
                ConfigError(format!(
                    "job file {named} names no input: add input = \"rows.csv\" (or where = \"NAME = VALUE\" to edit the pages a filter selects)"
                ))
            })?),
            (None, None) if flags.input.is_none() => {
                return Err(ConfigError(
                    "no INPUT: give a .csv, .jsonl or job file (.toml), - for standard input, or select the pages to edit with --data-source DS --where FILTER --set PROPERTY=VALUE".into(),
                ))
            }
            (None, None) => InputPath::from_arg(&named),
        };
        let version = flags
            .notion_version
            .clone()
            .or_else(|| from_job(|j| j.notion_version.clone()))
            .map(|v| v.parse::<Version>().map_err(ConfigError))
            .transpose()?
            .unwrap_or_default();
        let format_name = flags
            .format
            .clone()
            .or_else(|| from_job(|j| j.format.clone()));
        let delimiter = flags
            .delimiter
            .clone()
            .or_else(|| from_job(|j| j.delimiter.clone()))
            .map(|d| single_char(&d, "--delimiter").map_err(ConfigError))
            .transpose()?;
        let format = match (format_name.as_deref(), &path) {
            (Some("csv"), _) => InputFormat::Csv { delimiter: b',' },
            (Some("tsv"), _) => InputFormat::Csv { delimiter: b'\t' },
            (Some("jsonl" | "ndjson"), _) => InputFormat::Jsonl,
            (Some(other), _) => {
                return Err(ConfigError(format!("unknown --format {other:?}: expected csv, tsv or jsonl")))
            }
            (_, InputPath::Selection) => InputFormat::Jsonl,
            (None, InputPath::Stdin) => {
                return Err(ConfigError("reading standard input needs --format csv or --format jsonl".into()))
            }
            (None, InputPath::File(p)) => InputFormat::from_extension(p).ok_or_else(|| {
                ConfigError(format!(
                    "cannot tell the format of {} from its extension: name it .csv, .tsv, .jsonl or .ndjson, or pass --format",
                    p.display()
                ))
            })?,
        };
        let format = match (format, delimiter) {
            (InputFormat::Csv { .. }, Some(d)) => {
                if !d.is_ascii() {
                    return Err(ConfigError(format!(
                        "--delimiter must be an ASCII character, got {d:?}"
                    )));
                }
                InputFormat::Csv { delimiter: d as u8 }
            }
            (f, _) => f,
        };
        let separator = flags
            .separator
            .clone()
            .or_else(|| from_job(|j| j.separator.clone()))
            .map(|s| single_char(&s, "--separator").map_err(ConfigError))
            .transpose()?
            .unwrap_or(';');
        let empty = match flags
            .empty
            .clone()
            .or_else(|| from_job(|j| j.empty.clone()))
            .as_deref()
        {
            None | Some("skip") => EmptyCells::Skip,
            Some("clear") => EmptyCells::Clear,
            Some(other) => {
                return Err(ConfigError(format!(
                    "unknown --empty {other:?}: expected skip or clear"
                )))
            }
        };
        let columns = match &job {
            Some(j) => j
                .column_mappings()
                .map_err(|e| ConfigError(format!("job file {named}: {e}")))?,
            None => Vec::new(),
        };
        let schema = match (&flags.schema_from, &flags.schema_file) {
            (Some(id), _) => Some(SchemaSource::Fetch(id.clone())),
            (None, Some(path)) => Some(SchemaSource::File(path.clone())),
            (None, None) => match job.as_ref().map(|j| (&j.schema_from, &j.schema_file)) {
                Some((Some(_), Some(_))) => {
                    return Err(ConfigError(format!(
                        "job file {named} sets both schema_from and schema_file: keep one"
                    )))
                }
                Some((Some(id), None)) => Some(SchemaSource::Fetch(id.clone())),
                Some((None, Some(path))) => Some(SchemaSource::File(path.clone())),
                _ => None,
            },
        };
        let schema =
            match (&data_source, schema) {
                (None, schema) => schema,
                (Some(ds), None) => Some(SchemaSource::Fetch(ds.clone())),
                (Some(ds), Some(SchemaSource::Fetch(id))) if *id == *ds => {
                    Some(SchemaSource::Fetch(id))
                }
                (Some(_), Some(_)) => return Err(ConfigError(
                    "--data-source reads the data source's schema itself: drop --schema-from / \
                     --schema-file (or schema_from / schema_file in the job file)"
                        .into(),
                )),
            };
        // With a selection, [constants] are what every selected page gets (SelectionConfig).
        let constants = match &job {
            Some(j) if selection.is_none() => j
                .constants()
                .map_err(|e| ConfigError(format!("job file {named}: {e}")))?,
            _ => Vec::new(),
        };
        let expect = match &job {
            Some(j) => j
                .expectations()
                .map_err(|e| ConfigError(format!("job file {named}: {e}")))?,
            None => Vec::new(),
        };
        let encoding = flags
            .encoding
            .clone()
            .or_else(|| from_job(|j| j.encoding.clone()))
            .map(|name| InputEncoding::from_name(&name).map_err(ConfigError))
            .transpose()?
            .unwrap_or_default();
        let numbers = NumberFormat {
            decimal_comma: flags.decimal_comma
                || job.as_ref().and_then(|j| j.decimal_comma).unwrap_or(false),
            thousands: flags
                .thousands_separator
                .clone()
                .or_else(|| from_job(|j| j.thousands_separator.clone()))
                .map(|t| single_char(&t, "--thousands-separator").map_err(ConfigError))
                .transpose()?,
        };
        if let Some(t) = numbers.thousands {
            let decimal = if numbers.decimal_comma { ',' } else { '.' };
            if t == decimal || t.is_ascii_digit() || matches!(t, '+' | '-' | 'e' | 'E') {
                return Err(ConfigError(format!(
                    "--thousands-separator {t:?} cannot group thousands{}",
                    if t == decimal {
                        " when it also marks decimals"
                    } else {
                        ": it is part of how numbers are written"
                    }
                )));
            }
        }
        let columns_only = match flags
            .columns
            .clone()
            .or_else(|| job.as_ref().and_then(|j| j.columns_only.clone()))
        {
            Some(list) if list.iter().all(|c| c.trim().is_empty()) => {
                return Err(ConfigError(
                    "--columns names no column: list the input columns to use, e.g. --columns SKU,Price".into(),
                ))
            }
            Some(list) => Some(
                list.into_iter()
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect(),
            ),
            None => None,
        };
        // The time zone of every date column, checked once here (a column's own, in the job
        // file's [columns], when the job file is read; a cell's, with its row).
        let time_zone = match (&flags.time_zone, from_job(|j| j.time_zone.clone())) {
            (Some(zone), _) => Some((zone.clone(), "--time-zone")),
            (None, Some(zone)) => Some((zone, "the job file's time_zone")),
            (None, None) => None,
        };
        if let Some((zone, origin)) = &time_zone {
            crate::notion::time_zone::check(zone)
                .map_err(|e| ConfigError(format!("{origin} {e}")))?;
        }
        let time_zone = time_zone.map(|(zone, _)| zone);
        let mapping = MappingOptions {
            version,
            id_column: flags
                .id_column
                .clone()
                .or_else(|| from_job(|j| j.id_column.clone()))
                .unwrap_or_else(|| "page_id".into()),
            separator,
            empty,
            time_zone,
            columns,
            constants,
            numbers,
            columns_only,
            ..MappingOptions::default()
        };
        let matching = MatchConfig::resolve(flags, job.as_ref(), data_source.is_some())?;
        if matching.is_some() && selection.is_some() {
            return Err(ConfigError(
                "--match-on finds the page of each row of an input file; --where selects the pages \
                 itself, with no file: use one or the other"
                    .into(),
            ));
        }
        Ok(InputConfig {
            path,
            format,
            encoding,
            mapping,
            job,
            schema,
            data_source,
            matching,
            selection,
            expect,
        })
    }
}

impl InputConfig {
    /// `--match-on … --create-missing`.
    pub fn create_missing(&self) -> bool {
        self.matching.as_ref().is_some_and(|m| m.create_missing)
    }

    /// The input file, as the stages that read it ahead see it.
    pub fn file(&self) -> crate::source::InputFile<'_> {
        crate::source::InputFile {
            path: &self.path,
            format: self.format,
            encoding: self.encoding,
        }
    }
}

impl MatchConfig {
    /// `--match-on` and its companions from the flags and the job file; each companion
    /// without `--match-on`, and `--match-on` without `--data-source`, is an error.
    fn resolve(
        flags: &InputFlags,
        job: Option<&JobFile>,
        data_source: bool,
    ) -> Result<Option<MatchConfig>, ConfigError> {
        let flag = |given: bool, in_job: fn(&JobFile) -> Option<bool>| {
            given || job.and_then(in_job).unwrap_or(false)
        };
        let ignore_case = flag(flags.match_ignore_case, |j| j.match_ignore_case);
        let create_missing = flag(flags.create_missing, |j| j.create_missing);
        let lookup = flags
            .key_lookup
            .clone()
            .or_else(|| job.and_then(|j| j.key_lookup.clone()));
        let Some(property) = flags
            .match_on
            .clone()
            .or_else(|| job.and_then(|j| j.match_on.clone()))
        else {
            let stray = [
                (ignore_case, "--match-ignore-case"),
                (create_missing, "--create-missing"),
                (lookup.is_some(), "--key-lookup"),
            ];
            if let Some((_, name)) = stray.iter().find(|(set, _)| *set) {
                return Err(ConfigError(format!(
                    "{name} goes with --match-on PROPERTY (rows found by a key property)"
                )));
            }
            return Ok(None);
        };
        if !data_source {
            return Err(ConfigError(format!(
                "--match-on {property:?} needs --data-source: the pages are found by reading the \
                 data source their keys are in"
            )));
        }
        let lookup = match lookup.as_deref() {
            None | Some("auto") => KeyLookup::Auto,
            Some("scan") => KeyLookup::Scan,
            Some("batch") => KeyLookup::Batch,
            Some(other) => {
                return Err(ConfigError(format!(
                    "unknown --key-lookup {other:?}: expected auto, scan or batch"
                )))
            }
        };
        Ok(Some(MatchConfig {
            property,
            ignore_case,
            create_missing,
            lookup,
        }))
    }
}

impl SelectionConfig {
    /// `--where`/`--set`/`--max-rows` merged over the job file's `where`, `[constants]` and
    /// `max_rows`; `None` when no filter selects the pages. A selection needs a data source,
    /// something to set, and no input file.
    pub fn resolve(
        flags: &InputFlags,
        job: Option<&JobFile>,
        data_source: Option<&str>,
    ) -> Result<Option<SelectionConfig>, ConfigError> {
        let mut clauses: Vec<crate::filter::Clause> = match job {
            Some(j) => j.where_clauses().map_err(ConfigError)?,
            None => Vec::new(),
        };
        if !flags.where_.is_empty() {
            // The command line's filter replaces the job file's.
            clauses = flags
                .where_
                .iter()
                .cloned()
                .map(crate::filter::Clause::Text)
                .collect();
        }
        let max_rows = flags.max_rows.or(job.and_then(|j| j.max_rows));
        if clauses.is_empty() {
            let stray = if !flags.set.is_empty() {
                Some("--set")
            } else if max_rows.is_some() {
                Some("--max-rows")
            } else {
                None
            };
            return match stray {
                Some(flag) => Err(ConfigError(format!(
                    "{flag} goes with --where: it edits the pages a filter selects (to set a value on every row of a file, use the job file's [constants])"
                ))),
                None => Ok(None),
            };
        }
        if data_source.is_none() {
            return Err(ConfigError(
                "--where selects pages of a data source: give it with --data-source ID_OR_URL (or data_source in the job file)".into(),
            ));
        }
        let input_file = match job {
            Some(j) => j.input.is_some(),
            None => flags.input.is_some(),
        };
        if input_file {
            return Err(ConfigError(
                "--where selects the pages to edit itself: drop the input file (or the job file's input), or drop --where to apply the file's rows".into(),
            ));
        }
        // The job file's [constants] are what every page gets; --set adds to them or
        // replaces them key by key.
        let mut set = match job {
            Some(j) => j.constants().map_err(ConfigError)?,
            None => Vec::new(),
        };
        for text in &flags.set {
            let Some((key, value)) = text.split_once('=') else {
                return Err(ConfigError(format!(
                    "--set {text:?}: write PROPERTY=VALUE (e.g. --set Status=Done, --set @in_trash=true)"
                )));
            };
            let key = key.trim().to_owned();
            // An empty value clears the property: `--set Due=`.
            let value = match value.trim() {
                "" => serde_json::Value::Null,
                v => serde_json::Value::String(v.to_owned()),
            };
            set.retain(|(k, _)| *k != key);
            set.push((key, value));
        }
        if set.is_empty() {
            return Err(ConfigError(
                "--where selects pages but nothing says what to change: add --set PROPERTY=VALUE (or [constants] in the job file)".into(),
            ));
        }
        let max_rows = max_rows.unwrap_or(DEFAULT_MAX_ROWS);
        if max_rows == 0 {
            return Err(ConfigError("--max-rows must be at least 1".into()));
        }
        Ok(Some(SelectionConfig {
            clauses,
            set,
            max_rows,
        }))
    }
}

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

/// Settings of `export`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportConfig {
    /// The data source (or database with one) id or URL.
    pub data_source: String,
    /// Where to write; standard output when `None`.
    pub output: Option<PathBuf>,
    pub format: ExportFormat,
    /// Only these properties (names or ids), in this order.
    pub properties: Option<Vec<String>>,
    /// `--where`: Notion filters as JSON, `@file.json`, or `NAME = VALUE`, joined with `and`.
    pub filter: Vec<String>,
    pub version: Version,
    pub connection: Connection,
    pub rate: f64,
    pub burst: u32,
    pub progress: crate::report::progress::ProgressMode,
    /// Separator inside multi-valued CSV cells.
    pub separator: char,
    /// The CSV field delimiter: a tab for `-o FILE.tsv`, a comma otherwise.
    pub delimiter: u8,
    /// Whether `-o`'s extension tells `apply` the format (else the printed command says
    /// `--format`).
    pub format_told: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_show_a_password() {
        let redacted = redacted_url;
        assert_eq!(
            redacted("redis://user:s3cret@example.com:6380/2"),
            "redis://user:***@example.com:6380/2"
        );
        assert_eq!(
            redacted("rediss://:s3cret@example.com"),
            "rediss://:***@example.com"
        );
        assert_eq!(
            redacted("unix:///run/redis.sock?db=1&pass=s3cret"),
            "unix:///run/redis.sock?db=1&pass=***"
        );
        assert_eq!(
            redacted("redis+unix:///r.sock?password=s3cret"),
            "redis+unix:///r.sock?password=***"
        );
        assert_eq!(redacted("redis://127.0.0.1"), "redis://127.0.0.1");
        assert!(!redacted("not a url s3cret").contains("s3cret"));
        assert!(still_masked(&redacted("redis://:s3cret@example.com")));
        assert!(still_masked(&redacted("unix:///r.sock?pass=s3cret")));
        assert!(!still_masked("redis://:s3cret@example.com"));
        // Without a password, a URL is left exactly as written.
        assert_eq!(masked_url("REDIS://Host:6379/2"), None);
        assert_eq!(masked_url("unix:///run/r.sock?db=1"), None);
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["", "soon", "10x", "h", "0", "-5m", "5m3"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    fn flags(input: &str) -> InputFlags {
        InputFlags {
            input: Some(input.into()),
            ..InputFlags::default()
        }
    }

    #[test]
    fn defaults_and_formats_from_extensions() {
        let c = InputConfig::resolve(&flags("rows.csv")).unwrap();
        assert_eq!(c.format, InputFormat::Csv { delimiter: b',' });
        assert_eq!(c.mapping, MappingOptions::default());
        assert_eq!(
            InputConfig::resolve(&flags("rows.tsv")).unwrap().format,
            InputFormat::Csv { delimiter: b'\t' }
        );
        assert_eq!(
            InputConfig::resolve(&flags("rows.ndjson")).unwrap().format,
            InputFormat::Jsonl
        );
        let err = InputConfig::resolve(&flags("rows.txt")).unwrap_err();
        assert!(err.0.contains("cannot tell the format"), "{err}");
        let err = InputConfig::resolve(&flags("-")).unwrap_err();
        assert!(err.0.contains("--format"), "{err}");
    }

    #[test]
    fn each_flag_is_checked() {
        let mut f = flags("-");
        f.format = Some("jsonl".into());
        assert_eq!(InputConfig::resolve(&f).unwrap().path, InputPath::Stdin);
        let mut f = flags("a.csv");
        f.delimiter = Some(";".into());
        f.separator = Some("|".into());
        f.empty = Some("clear".into());
        f.notion_version = Some("2022-06-28".into());
        let c = InputConfig::resolve(&f).unwrap();
        assert_eq!(c.format, InputFormat::Csv { delimiter: b';' });
        assert_eq!(
            (c.mapping.separator, c.mapping.empty, c.mapping.version),
            ('|', EmptyCells::Clear, Version::V2022_06_28)
        );
        type Set = fn(&mut InputFlags);
        let cases: [(Set, &str); 5] = [
            (
                |f: &mut InputFlags| f.empty = Some("blank".into()),
                "unknown --empty",
            ),
            (
                |f: &mut InputFlags| f.notion_version = Some("2020-01-01".into()),
                "unknown Notion-Version",
            ),
            (
                |f: &mut InputFlags| f.delimiter = Some("ab".into()),
                "one character",
            ),
            (|f: &mut InputFlags| f.delimiter = Some("§".into()), "ASCII"),
            (
                |f: &mut InputFlags| f.format = Some("xml".into()),
                "unknown --format",
            ),
        ];
        for (set, expected) in cases {
            let mut f = flags("a.csv");
            set(&mut f);
            let err = InputConfig::resolve(&f).unwrap_err();
            assert!(err.0.contains(expected), "{err}");
        }
    }

    #[test]
    fn the_command_line_wins_over_the_job_file() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(
            &job,
            "input = \"rows.tsv\"\nseparator = \"|\"\nid_column = \"Page\"\n",
        )
        .unwrap();
        let mut f = flags(job.to_str().unwrap());
        let c = InputConfig::resolve(&f).unwrap();
        assert_eq!(c.path, InputPath::File(dir.path().join("rows.tsv")));
        assert_eq!(
            (c.mapping.separator, c.mapping.id_column.as_str()),
            ('|', "Page")
        );
        f.separator = Some(",".into());
        assert_eq!(InputConfig::resolve(&f).unwrap().mapping.separator, ',');
        std::fs::write(&job, "format = \"csv\"\n").unwrap();
        let err = InputConfig::resolve(&flags(job.to_str().unwrap())).unwrap_err();
        assert!(err.0.contains("names no input"), "{err}");
    }

    #[test]
    fn the_schema_source_comes_from_the_flags_then_the_job_file() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(
            &job,
            "input = \"rows.csv\"\nschema_file = \"tasks.json\"\n[constants]\nDone = true\n",
        )
        .unwrap();
        let mut f = flags(job.to_str().unwrap());
        let c = InputConfig::resolve(&f).unwrap();
        assert_eq!(
            c.schema,
            Some(SchemaSource::File(dir.path().join("tasks.json")))
        );
        assert_eq!(
            c.mapping.constants,
            [("Done".to_string(), serde_json::json!(true))]
        );
        f.schema_from =
            Some("https://www.notion.so/acme/Tasks-6513270e269e4d37b2a74de452e6b438".into());
        assert!(matches!(
            InputConfig::resolve(&f).unwrap().schema,
            Some(SchemaSource::Fetch(_))
        ));
        std::fs::write(
            &job,
            "input = \"rows.csv\"\nschema_file = \"a.json\"\nschema_from = \"x\"\n",
        )
        .unwrap();
        let err = InputConfig::resolve(&flags(job.to_str().unwrap())).unwrap_err();
        assert!(err.0.contains("both schema_from and schema_file"), "{err}");
        assert_eq!(InputConfig::resolve(&flags("a.csv")).unwrap().schema, None);
    }

    fn selecting(set: &[&str]) -> InputFlags {
        InputFlags {
            input: None,
            data_source: Some("ds".into()),
            where_: vec!["Status = Done".into()],
            set: set.iter().map(|s| s.to_string()).collect(),
            ..InputFlags::default()
        }
    }

    #[test]
    fn where_set_and_max_rows_select_the_pages_instead_of_an_input() {
        use crate::filter::Clause;
        let c = InputConfig::resolve(&selecting(&[
            "Status=Not started",
            "Due=",
            "@in_trash=true",
        ]))
        .unwrap();
        assert_eq!(c.path, InputPath::Selection);
        let s = c.selection.unwrap();
        assert_eq!(s.clauses, [Clause::Text("Status = Done".into())]);
        assert_eq!(
            s.set,
            [
                ("Status".to_string(), serde_json::json!("Not started")),
                ("Due".to_string(), serde_json::Value::Null),
                ("@in_trash".to_string(), serde_json::json!("true")),
            ]
        );
        assert_eq!(s.max_rows, DEFAULT_MAX_ROWS);
        type Set = fn(&mut InputFlags);
        let cases: [(Set, &str); 7] = [
            (|f| f.data_source = None, "--data-source"),
            (|f| f.set.clear(), "nothing says what to change"),
            (|f| f.set = vec!["Status".into()], "write PROPERTY=VALUE"),
            (|f| f.max_rows = Some(0), "at least 1"),
            (|f| f.input = Some("rows.csv".into()), "drop the input file"),
            (|f| f.where_.clear(), "--set goes with --where"),
            (
                |f| {
                    f.where_.clear();
                    f.set.clear();
                    f.max_rows = Some(5);
                },
                "--max-rows goes with --where",
            ),
        ];
        for (set, expected) in cases {
            let mut f = selecting(&["@in_trash=true"]);
            set(&mut f);
            let err = InputConfig::resolve(&f).unwrap_err();
            assert!(err.0.contains(expected), "{err}");
        }
        let err = InputConfig::resolve(&InputFlags::default()).unwrap_err();
        assert!(err.0.contains("no INPUT"), "{err}");
    }

    #[test]
    fn a_job_file_selects_with_where_and_constants_and_expects_with_expect() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(
            &job,
            "data_source = \"ds\"\nwhere = [\"Status = Done\", \"Priority = Low\"]\nmax_rows = 50\n\
             [constants]\n\"@in_trash\" = true\nPriority = \"Low\"\n[expect]\nStatus = \"Done\"\n",
        )
        .unwrap();
        let mut f = flags(job.to_str().unwrap());
        let c = InputConfig::resolve(&f).unwrap();
        let s = c.selection.clone().unwrap();
        assert_eq!((s.clauses.len(), s.max_rows), (2, 50));
        assert_eq!(s.set[0], ("@in_trash".to_string(), serde_json::json!(true)));
        // The constants are what the pages get, not constants of rows.
        assert!(c.mapping.constants.is_empty());
        assert_eq!(
            c.expect,
            [("Status".to_string(), serde_json::json!("Done"))]
        );
        // The command line adds to them, or replaces them key by key, and replaces the filter.
        f.set = vec!["Priority=High".into()];
        f.where_ = vec!["Status = Not started".into()];
        let s = InputConfig::resolve(&f).unwrap().selection.unwrap();
        assert_eq!(s.clauses.len(), 1);
        assert_eq!(
            s.set[1],
            ("Priority".to_string(), serde_json::json!("High"))
        );
        std::fs::write(&job, "input = \"rows.csv\"\nwhere = \"Status = Done\"\ndata_source = \"ds\"\n[constants]\nDone = true\n").unwrap();
        let err = InputConfig::resolve(&flags(job.to_str().unwrap())).unwrap_err();
        assert!(err.0.contains("drop the input file"), "{err}");
    }

    #[test]
    fn the_connection_flags_win_over_the_job_file() {
        let job = JobFile {
            token_file: Some("job-token".into()),
            api_base: Some("http://127.0.0.1:9".into()),
            ..JobFile::default()
        };
        let c = Connection::resolve(&ConnectionFlags::default(), Some(&job));
        assert_eq!(c.token, TokenSource::File("job-token".into()));
        assert_eq!(c.api_base, "http://127.0.0.1:9");
        let flags = ConnectionFlags {
            token_env: Some("MY_TOKEN".into()),
            ..ConnectionFlags::default()
        };
        let c = Connection::resolve(&flags, Some(&job));
        assert_eq!(c.token, TokenSource::Env("MY_TOKEN".into()));
        let c = Connection::resolve(&ConnectionFlags::default(), None);
        assert_eq!(
            (c.token, c.api_base.as_str()),
            (
                TokenSource::Env("NOTION_TOKEN".into()),
                "https://api.notion.com"
            )
        );
    }
}
