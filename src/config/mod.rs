//! The validated settings each command runs with, and where they come from: `cli.rs` turns
//! the command line into flags as given (`flags`), and the flags are merged over the job file
//! (`jobfile`) here, the command line winning: `input` for the rows every command reads,
//! `resolve` for each command's own, `setting` for the checks they share, `continue_command`
//! for the line that resumes a run. Nothing past this point sees clap or TOML types.

mod continue_command;
mod flags;
mod input;
pub mod jobfile;
mod resolve;
mod setting;

use std::path::PathBuf;

pub use crate::config::continue_command::shell_quote;
pub use crate::config::flags::{
    ApplyFlags, ConnectionFlags, ExportFlags, InputFlags, PlanFlags, SchemaFlags,
};
pub use crate::config::setting::parse_duration;
pub use crate::mapping::key::{KeyLookup, MatchConfig};
use crate::mapping::MappingOptions;
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
    /// `--create-missing-related`: relation keys no page has get a page.
    pub create_missing_related: bool,
    /// `--missing-pages` other than keep: the pages whose key no input row has.
    pub missing: Option<crate::mirror::MirrorConfig>,
}

/// `--max-rows`'s default: a filter selecting more pages stops before any write.
pub const DEFAULT_MAX_ROWS: u64 = 10_000;

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

impl Connection {
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
}
