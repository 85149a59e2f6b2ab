//! The flags as given on the command line, before the job file is merged in: plain structs
//! that `cli.rs` fills from its clap types (a flag not given is `None` or `false`), so that
//! `config` merges and checks them without knowing clap.

use std::path::PathBuf;

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
    pub add_missing_options: bool,
    pub create_missing_related: bool,
    /// `--where FILTER`, each clause as written.
    pub where_: Vec<String>,
    /// `--set PROPERTY=VALUE`, each as written.
    pub set: Vec<String>,
    pub max_rows: Option<u64>,
    /// `--missing-pages keep|trash|set:PROPERTY=VALUE`, as written.
    pub missing_pages: Option<String>,
    /// `--max-missing N|P%`, as written.
    pub max_missing: Option<String>,
}

/// The connection flags as given (before merging with a job file).
#[derive(Debug, Clone, Default)]
pub struct ConnectionFlags {
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub api_base: Option<String>,
}

/// `apply`'s flags as given.
#[derive(Debug, Clone, Default)]
pub struct ApplyFlags {
    pub input: InputFlags,
    pub connection: ConnectionFlags,
    pub report: Option<PathBuf>,
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    pub concurrency: Option<usize>,
    pub max_attempts: Option<u32>,
    /// `--timeout SECS`.
    pub timeout: Option<f64>,
    pub max_errors: Option<u64>,
    /// `--max-runtime DURATION`, as written (`90m`).
    pub max_runtime: Option<String>,
    pub resume: bool,
    pub failed_out: Option<PathBuf>,
    pub backup: Option<PathBuf>,
    pub summary_json: Option<PathBuf>,
    pub progress: Option<String>,
    /// `--progress-interval SECS` (hidden).
    pub progress_interval: Option<f64>,
    pub verbose: bool,
    pub send_unchanged: bool,
    pub recheck: bool,
    pub sandbox: bool,
    pub shared_limiter: Option<String>,
    pub limiter_key: Option<String>,
    pub shared_limiter_required: bool,
}

/// `plan`'s flags as given.
#[derive(Debug, Clone, Default)]
pub struct PlanFlags {
    pub input: InputFlags,
    pub connection: ConnectionFlags,
    pub report: Option<PathBuf>,
    pub rate: Option<f64>,
    pub burst: Option<u32>,
}

/// `export`'s flags as given (it reads no job file).
#[derive(Debug, Clone, Default)]
pub struct ExportFlags {
    pub data_source: String,
    /// `-o PATH`; standard output when `None`.
    pub output: Option<PathBuf>,
    pub format: Option<String>,
    /// `--properties A,B`, split.
    pub properties: Option<Vec<String>>,
    /// `--where FILTER`, each as written.
    pub filter: Vec<String>,
    pub separator: Option<String>,
    pub notion_version: Option<String>,
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    pub progress: Option<String>,
    pub connection: ConnectionFlags,
}

/// `schema`'s flags as given (it reads no job file).
#[derive(Debug, Clone, Default)]
pub struct SchemaFlags {
    /// The data source or database id or URL.
    pub id: String,
    pub notion_version: Option<String>,
    pub connection: ConnectionFlags,
}
