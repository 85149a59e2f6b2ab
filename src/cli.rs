//! The command line: clap types, and their conversion into the flags as given
//! ([`crate::config::ApplyFlags`] and the others), which [`crate::config`] merges over the
//! job file and checks. Nothing else sees these types.

// The `///` lines on clap's fields are the help text, written for the terminal, not rustdoc.
#![allow(
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls
)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{
    ApplyConfig, ApplyFlags, ConfigError, ConnectionFlags, ExportConfig, ExportFlags, InputFlags,
    PlanConfig, PlanFlags, SchemaConfig, SchemaFlags,
};
use crate::exit::Exit;

/// Apply many Notion page updates from a CSV or JSONL file: rate-limited, resumable, and
/// recorded row by row.
#[derive(Debug, Parser)]
#[command(name = "notion-bulk", version, after_help = Exit::help_table())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read, map and validate every row offline; print the body each row would send. Writes
    /// nothing to Notion.
    #[command(after_help = Exit::help_table())]
    Plan(Box<PlanArgs>),
    /// Send the updates: rate-limited, retried, in order per page, one report line per row.
    #[command(after_help = Exit::help_table())]
    Apply(Box<ApplyArgs>),
    /// Print a data source's schema as JSON (for --schema-file): its properties, their types
    /// and options, and the workspace's users (for emails in people cells). ID_OR_URL is a
    /// data source, or a database with one data source (under 2022-06-28: a database).
    #[command(after_help = Exit::help_table())]
    Schema(SchemaArgs),
    /// Write a data source's pages as rows that apply reads back: CSV (page_id, then a typed
    /// header per writable property) or native JSONL (exact), by -o's extension. Applied
    /// unedited with --data-source, it changes nothing and sends nothing.
    #[command(after_help = Exit::help_table())]
    Export(ExportArgs),
    /// Serve a local Notion-compatible API on 127.0.0.1 (for tests and first tries); the first
    /// stdout line is `listening on http://127.0.0.1:PORT`. Stops on SIGINT/SIGTERM.
    Sandbox(notion_sandbox::SandboxArgs),
    /// Print a shell completion script to standard output (see the README for where to put it).
    Completions(CompletionsArgs),
    /// Print a man page (roff) to standard output: the tool's, or one subcommand's.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand (plan, apply, schema, sandbox, ...) for its own page, notion-bulk-NAME(1).
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

/// The flags of every command that reads rows.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The rows: a .csv (.tsv: tab-delimited), a .jsonl/.ndjson, a job file .toml, or - for
    /// standard input (with --format). None with --where: the pages it selects are the rows.
    #[arg(value_name = "INPUT")]
    pub input: Option<String>,
    /// Input format when the extension does not tell: csv, tsv or jsonl.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// The CSV column (or JSONL key) that holds the page id or URL. [default: page_id]
    #[arg(long, value_name = "NAME")]
    pub id_column: Option<String>,
    /// CSV field delimiter. [default: , (tab for .tsv)]
    #[arg(long, value_name = "C")]
    pub delimiter: Option<String>,
    /// Separator inside multi-valued cells (multi_select, people, relation, files). [default: ;]
    #[arg(long, value_name = "C")]
    pub separator: Option<String>,
    /// What an empty cell means: skip (leave the property unchanged) or clear. [default: skip]
    #[arg(long, value_name = "skip|clear")]
    pub empty: Option<String>,
    /// IANA time zone (e.g. Europe/Paris) for date-times written without a UTC offset.
    #[arg(long, value_name = "TZ")]
    pub time_zone: Option<String>,
    /// The input's character encoding when it is not UTF-8: windows-1252, iso-8859-1,
    /// iso-8859-15, utf-16 (with a byte-order mark), utf-16le, utf-16be. A UTF-16 file with a
    /// byte-order mark is recognised without it. [default: utf-8]
    #[arg(long, value_name = "NAME")]
    pub encoding: Option<String>,
    /// Number cells write decimals with a comma (12,50), as spreadsheets in many locales do;
    /// a dot is then refused unless --thousands-separator says it groups thousands.
    #[arg(long)]
    pub decimal_comma: bool,
    /// The character that groups thousands in number cells (. in 1.234,5; ' ' in 1 234,5).
    #[arg(long, value_name = "C")]
    pub thousands_separator: Option<String>,
    /// Use only these input columns (or flat JSONL keys), comma-separated, besides the id
    /// column; every other column is ignored, whatever its header. A name matches a header
    /// with or without its :type.
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Notion API version the bodies are written for: 2022-06-28, 2025-09-03, 2026-03-11 or 2026-12-01.
    /// [default: 2025-09-03]
    #[arg(long, value_name = "V")]
    pub notion_version: Option<String>,
    /// Read the schema of this data source or database (id or URL) once: plain headers take
    /// its types, names and options are checked before anything is sent.
    #[arg(long, value_name = "ID", conflicts_with = "schema_file")]
    pub schema_from: Option<String>,
    /// The same from a schema saved by `notion-bulk schema` (no network).
    #[arg(long, value_name = "PATH")]
    pub schema_file: Option<PathBuf>,
    /// Read this data source (or database with one data source; id or URL) before writing:
    /// each row sends only the properties whose values differ, and a row that changes
    /// nothing is skipped (code unchanged). Implies --schema-from.
    #[arg(long, value_name = "ID_OR_URL", conflicts_with_all = ["schema_from", "schema_file"])]
    pub data_source: Option<String>,
    /// With --data-source: find each row's page by this property's value (a title,
    /// rich_text, number, email, phone_number, url, unique_id or formula property) instead of
    /// a page id. A key no page has ends failed (no_match); a key several pages have ends
    /// failed (ambiguous_key) and nothing is sent for it.
    #[arg(long, value_name = "PROPERTY")]
    pub match_on: Option<String>,
    /// With --match-on: keys match whatever their letter case.
    #[arg(long)]
    pub match_ignore_case: bool,
    /// With --match-on: create a page (with the row's values and the key) for each key no page
    /// has; later rows of that key update it.
    #[arg(long)]
    pub create_missing: bool,
    /// With --match-on, how pages are found: scan (read every page), batch (ask for up to 100
    /// keys a query) or auto (whichever costs fewer requests). [default: auto]
    #[arg(long, value_name = "auto|scan|batch")]
    pub key_lookup: Option<String>,
    /// Before any page is written, add to the data source's schema (one PATCH of the data
    /// source) every select, multi_select and status option the input names that it lacks:
    /// status options into the group a header names (`Status:status[In progress]`), else
    /// To-do. Without it an unknown status makes its row invalid. Never deletes or renames an
    /// option. Needs the schema (--data-source, --schema-from or --schema-file).
    #[arg(long)]
    pub add_missing_options: bool,
    /// A relation column of keys (`Parts:relation[SKU]`): create a page in the related data
    /// source for each key no page has (its key property, and the title, set to the key),
    /// before any row is written, once per key; --backup records each so that applying the
    /// backup trashes it. Without it such a row is invalid (no_match).
    #[arg(long)]
    pub create_missing_related: bool,
    /// With --data-source and no INPUT: edit every page this filter selects, one report row
    /// per page. A Notion filter object (JSON inline or @file.json) or NAME = VALUE, typed by
    /// the schema; repeated, the filters are joined with and.
    #[arg(long = "where", value_name = "FILTER")]
    pub where_: Vec<String>,
    /// With --where: what every selected page gets, PROPERTY=VALUE as a cell typed by the
    /// schema (--set Status=Done), page-level fields with @ (--set @in_trash=true); an empty
    /// VALUE clears the property. Repeatable.
    #[arg(long, value_name = "PROPERTY=VALUE")]
    pub set: Vec<String>,
    /// With --where: stop before any write when the filter selects more pages than this, so
    /// that a mistyped filter cannot edit a whole workspace. [default: 10000]
    #[arg(long, value_name = "N")]
    pub max_rows: Option<u64>,
    /// With --match-on and an input file: what becomes of the pages of the data source whose
    /// key no input row has, once every input row has ended: keep them, move them to the
    /// trash, or set PROPERTY to VALUE (a cell typed by the schema). Never when the run
    /// stopped or the input was not read whole. [default: keep]
    #[arg(long, value_name = "keep|trash|set:PROPERTY=VALUE")]
    pub missing_pages: Option<String>,
    /// With --missing-pages: stop before any write when more pages than this are missing; a
    /// count (60) or a share of the pages in scope (6%). [default: 10%]
    #[arg(long, value_name = "N|P%")]
    pub max_missing: Option<String>,
}

/// Where the token comes from and the API root: apply, plan (for --schema-from) and schema.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Environment variable holding the integration token. [default: NOTION_TOKEN]
    #[arg(long, value_name = "VAR", conflicts_with = "token_file")]
    pub token_env: Option<String>,
    /// File holding the integration token.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// API root; plain http:// only for loopback addresses. [default: https://api.notion.com]
    #[arg(long, value_name = "URL")]
    pub api_base: Option<String>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The data source or database: an id or a Notion URL.
    #[arg(value_name = "ID_OR_URL")]
    pub id: String,
    /// Notion API version to read with: 2022-06-28, 2025-09-03, 2026-03-11 or 2026-12-01.
    /// [default: 2025-09-03]
    #[arg(long, value_name = "V")]
    pub notion_version: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The data source (or a database with one data source): an id or a Notion URL.
    #[arg(value_name = "DATA_SOURCE")]
    pub data_source: String,
    /// Write here (.csv, .tsv for tab-delimited, or .jsonl/.ndjson for native JSONL).
    /// [default: standard output]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// On standard output, or when -o's extension does not tell: csv or jsonl. [default: csv]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Only these properties, comma-separated, in this order. [default: every writable one]
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub properties: Option<Vec<String>>,
    /// Only the pages this Notion filter selects: JSON inline or @file.json, or NAME = VALUE;
    /// repeated, the filters are joined with and.
    #[arg(long = "where", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Separator inside multi-valued CSV cells. [default: ;]
    #[arg(long, value_name = "C")]
    pub separator: Option<String>,
    /// Notion API version to read with: 2022-06-28, 2025-09-03, 2026-03-11 or 2026-12-01.
    /// [default: 2025-09-03]
    #[arg(long, value_name = "V")]
    pub notion_version: Option<String>,
    /// Requests per second. [default: 3]
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Requests allowed back to back. [default: 3]
    #[arg(long, value_name = "B")]
    pub burst: Option<u32>,
    /// auto (a bar on a terminal, a line every 10 s otherwise), bar, log or none.
    #[arg(long, value_name = "MODE")]
    pub progress: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Also record invalid and skipped rows in this report (.csv or .jsonl).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// With --data-source: requests per second for the scan. [default: 3]
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// With --data-source: requests allowed back to back. [default: 3]
    #[arg(long, value_name = "B")]
    pub burst: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Per-row outcomes, .csv or .jsonl by extension; doubles as the journal for --resume.
    /// [default: notion-bulk-report-<UTC timestamp>.jsonl]
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Ceiling on requests per second, every attempt counted. [default: 3]
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Requests allowed back to back. [default: 3]
    #[arg(long, value_name = "B")]
    pub burst: Option<u32>,
    /// Requests in flight at most. [default: 16]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Attempts per row for retryable failures (waits after 429/529 are not attempts). [default: 8]
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Seconds one request may take, connect included. [default: 90]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Stop taking new rows after N rows ended failed or unknown (exit 3).
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u64>,
    /// Stop taking new rows at this deadline (90m, 2h), drain, exit 4.
    #[arg(long, value_name = "DURATION")]
    pub max_runtime: Option<String>,
    /// Continue the run recorded in --report: rows already ok are not sent again.
    #[arg(long)]
    pub resume: bool,
    /// Write the rows to run again here, in the input's own format.
    #[arg(long, value_name = "PATH")]
    pub failed_out: Option<PathBuf>,
    /// Before each row is sent, save the page's current values of the fields it changes here
    /// (native JSONL, once per page and field, across runs); `apply` of this file undoes the run.
    /// Rows that would change nothing end skipped.
    #[arg(long, value_name = "PATH")]
    pub backup: Option<PathBuf>,
    /// Write the end-of-run summary as JSON here.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
    /// auto (a bar on a terminal, a line every 10 s otherwise), bar, log or none.
    #[arg(long, value_name = "MODE")]
    pub progress: Option<String>,
    /// Seconds between progress lines in log mode.
    #[arg(long, value_name = "SECS", hide = true)]
    pub progress_interval: Option<f64>,
    /// Print every request (method, path, status, request id; never headers or the token).
    #[arg(short, long)]
    pub verbose: bool,
    /// With --data-source: send every cell as before, not only the changes.
    #[arg(long)]
    pub send_unchanged: bool,
    /// Check each row's preconditions (if:PROPERTY columns, [expect]) against a read of its
    /// page just before the write, not against the scan: one more request per row; the race
    /// with other writers shrinks to one round trip (Notion has no conditional write).
    #[arg(long)]
    pub recheck: bool,
    /// Start the embedded sandbox on a free loopback port, seeded from the job's
    /// sandbox_seed, and run against it (no token needed; nothing leaves this machine).
    #[arg(long)]
    pub sandbox: bool,
    /// Share one request budget with every process using the same token, through Redis or
    /// Valkey: redis://HOST[:PORT][/DB], rediss://… (TLS) or unix:///PATH.
    #[arg(long, value_name = "URL")]
    pub shared_limiter: Option<String>,
    /// The shared budget's name (processes with different tokens of one workspace can share
    /// one). [default: a hash of the token]
    #[arg(long, value_name = "NAME")]
    pub limiter_key: Option<String>,
    /// If the shared limiter stops answering, stop taking rows (exit 3) instead of going on
    /// with this process's own limiter.
    #[arg(long)]
    pub shared_limiter_required: bool,
}

impl From<&InputArgs> for InputFlags {
    fn from(a: &InputArgs) -> InputFlags {
        InputFlags {
            input: a.input.clone(),
            format: a.format.clone(),
            id_column: a.id_column.clone(),
            delimiter: a.delimiter.clone(),
            separator: a.separator.clone(),
            empty: a.empty.clone(),
            time_zone: a.time_zone.clone(),
            encoding: a.encoding.clone(),
            decimal_comma: a.decimal_comma,
            thousands_separator: a.thousands_separator.clone(),
            columns: a.columns.clone(),
            notion_version: a.notion_version.clone(),
            schema_from: a.schema_from.clone(),
            schema_file: a.schema_file.clone(),
            data_source: a.data_source.clone(),
            match_on: a.match_on.clone(),
            match_ignore_case: a.match_ignore_case,
            create_missing: a.create_missing,
            key_lookup: a.key_lookup.clone(),
            add_missing_options: a.add_missing_options,
            create_missing_related: a.create_missing_related,
            where_: a.where_.clone(),
            set: a.set.clone(),
            max_rows: a.max_rows,
            missing_pages: a.missing_pages.clone(),
            max_missing: a.max_missing.clone(),
        }
    }
}

impl From<&ConnectionArgs> for ConnectionFlags {
    fn from(a: &ConnectionArgs) -> ConnectionFlags {
        ConnectionFlags {
            token_env: a.token_env.clone(),
            token_file: a.token_file.clone(),
            api_base: a.api_base.clone(),
        }
    }
}

impl From<&ApplyArgs> for ApplyFlags {
    fn from(a: &ApplyArgs) -> ApplyFlags {
        ApplyFlags {
            input: (&a.input).into(),
            connection: (&a.connection).into(),
            report: a.report.clone(),
            rate: a.rate,
            burst: a.burst,
            concurrency: a.concurrency,
            max_attempts: a.max_attempts,
            timeout: a.timeout,
            max_errors: a.max_errors,
            max_runtime: a.max_runtime.clone(),
            resume: a.resume,
            failed_out: a.failed_out.clone(),
            backup: a.backup.clone(),
            summary_json: a.summary_json.clone(),
            progress: a.progress.clone(),
            progress_interval: a.progress_interval,
            verbose: a.verbose,
            send_unchanged: a.send_unchanged,
            recheck: a.recheck,
            sandbox: a.sandbox,
            shared_limiter: a.shared_limiter.clone(),
            limiter_key: a.limiter_key.clone(),
            shared_limiter_required: a.shared_limiter_required,
        }
    }
}

impl From<&PlanArgs> for PlanFlags {
    fn from(a: &PlanArgs) -> PlanFlags {
        PlanFlags {
            input: (&a.input).into(),
            connection: (&a.connection).into(),
            report: a.report.clone(),
            rate: a.rate,
            burst: a.burst,
        }
    }
}

impl From<&ExportArgs> for ExportFlags {
    fn from(a: &ExportArgs) -> ExportFlags {
        ExportFlags {
            data_source: a.data_source.clone(),
            output: a.output.clone(),
            format: a.format.clone(),
            properties: a.properties.clone(),
            filter: a.filter.clone(),
            separator: a.separator.clone(),
            notion_version: a.notion_version.clone(),
            rate: a.rate,
            burst: a.burst,
            progress: a.progress.clone(),
            connection: (&a.connection).into(),
        }
    }
}

impl From<&SchemaArgs> for SchemaFlags {
    fn from(a: &SchemaArgs) -> SchemaFlags {
        SchemaFlags {
            id: a.id.clone(),
            notion_version: a.notion_version.clone(),
            connection: (&a.connection).into(),
        }
    }
}

impl TryFrom<&ApplyArgs> for ApplyConfig {
    type Error = ConfigError;

    fn try_from(args: &ApplyArgs) -> Result<ApplyConfig, ConfigError> {
        ApplyConfig::resolve(&args.into())
    }
}

impl TryFrom<&PlanArgs> for PlanConfig {
    type Error = ConfigError;

    fn try_from(args: &PlanArgs) -> Result<PlanConfig, ConfigError> {
        PlanConfig::resolve(&args.into())
    }
}

impl TryFrom<&ExportArgs> for ExportConfig {
    type Error = ConfigError;

    fn try_from(args: &ExportArgs) -> Result<ExportConfig, ConfigError> {
        ExportConfig::resolve(&args.into())
    }
}

impl TryFrom<&SchemaArgs> for SchemaConfig {
    type Error = ConfigError;

    fn try_from(args: &SchemaArgs) -> Result<SchemaConfig, ConfigError> {
        SchemaConfig::resolve(&args.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SharedLimiterConfig, TokenSource};
    use crate::report::progress::ProgressMode;
    use clap::CommandFactory;
    use std::time::Duration;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn plan_flags_reach_the_config() {
        let cli = Cli::try_parse_from([
            "notion-bulk",
            "plan",
            "rows.csv",
            "--id-column",
            "Page",
            "--separator",
            "|",
            "--empty",
            "clear",
            "--report",
            "r.csv",
        ])
        .unwrap();
        let Command::Plan(args) = cli.command else {
            panic!("plan")
        };
        let config = PlanConfig::try_from(&*args).unwrap();
        assert_eq!(config.input.mapping.id_column, "Page");
        assert_eq!(config.input.mapping.separator, '|');
        assert_eq!(config.report, Some(PathBuf::from("r.csv")));
    }

    fn apply_config(extra: &[&str]) -> Result<ApplyConfig, ConfigError> {
        let mut argv = vec!["notion-bulk", "apply", "rows.csv"];
        argv.extend_from_slice(extra);
        let Command::Apply(args) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("apply")
        };
        ApplyConfig::try_from(&*args)
    }

    #[test]
    fn apply_defaults_follow_the_spec() {
        let c = apply_config(&["--progress", "none"]).unwrap();
        assert_eq!(
            (c.rate, c.burst, c.concurrency, c.max_attempts),
            (3.0, 3, 16, 8)
        );
        assert_eq!(c.timeout, Duration::from_secs(90));
        assert_eq!(c.token, TokenSource::Env("NOTION_TOKEN".into()));
        assert_eq!(c.api_base, "https://api.notion.com");
        assert!(c
            .report
            .to_str()
            .unwrap()
            .starts_with("notion-bulk-report-"));
        assert!(
            c.continue_command
                .line
                .ends_with(&format!("--report {} --resume", c.report.display())),
            "{}",
            c.continue_command
        );
    }

    #[test]
    fn apply_flags_are_checked() {
        let c = apply_config(&[
            "--rate",
            "2.5",
            "--burst",
            "1",
            "--max-runtime",
            "90m",
            "--token-file",
            "t.txt",
            "--progress",
            "log",
            "--report",
            "r.csv",
        ])
        .unwrap();
        assert_eq!(c.rate, 2.5);
        assert_eq!(c.max_runtime, Some(Duration::from_secs(5400)));
        assert_eq!(c.token, TokenSource::File("t.txt".into()));
        assert_eq!(c.progress, ProgressMode::Log(Duration::from_secs(10)));
        for (flags, expected) in [
            (&["--rate", "0"][..], "--rate must be a positive number"),
            (
                &["--concurrency", "0"][..],
                "--concurrency must be at least 1",
            ),
            (&["--max-runtime", "soon"][..], "--max-runtime"),
            (&["--progress", "fancy"][..], "unknown --progress"),
        ] {
            let err = apply_config(flags).unwrap_err();
            assert!(err.0.contains(expected), "{flags:?}: {err}");
        }
    }

    #[test]
    fn shared_limiter_flags_are_checked() {
        let c = apply_config(&["--progress", "none"]).unwrap();
        assert_eq!(c.shared_limiter, None);
        let given = apply_config(&[
            "--shared-limiter",
            "unix:///run/redis.sock",
            "--limiter-key",
            "acme-prod",
            "--shared-limiter-required",
            "--progress",
            "none",
        ]);
        if cfg!(feature = "shared-limiter") {
            assert_eq!(
                given.unwrap().shared_limiter,
                Some(SharedLimiterConfig {
                    url: "unix:///run/redis.sock".into(),
                    key: Some("acme-prod".into()),
                    required: true,
                })
            );
        } else {
            // A build without Redis says so, rather than running without the shared budget.
            let err = given.unwrap_err();
            assert!(err.0.contains("no Redis support"), "{err}");
        }
        for (flags, expected) in [
            (&["--shared-limiter", "http://x"][..], "redis://"),
            (&["--shared-limiter-required"][..], "need --shared-limiter"),
            (
                &["--shared-limiter", "redis://x", "--limiter-key", "a{b}"][..],
                "--limiter-key",
            ),
        ] {
            let err = apply_config(flags).unwrap_err();
            if cfg!(feature = "shared-limiter") || flags[0] != "--shared-limiter" {
                assert!(err.0.contains(expected), "{flags:?}: {err}");
            }
        }
    }

    #[test]
    fn where_set_max_rows_and_recheck_reach_the_config() {
        let argv = [
            "notion-bulk",
            "apply",
            "--data-source",
            "ds",
            "--where",
            "Status = Done",
            "--where",
            "Priority = Low",
            "--set",
            "@in_trash=true",
            "--max-rows",
            "20",
            "--recheck",
            "--progress",
            "none",
        ];
        let Command::Apply(args) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("apply")
        };
        let c = ApplyConfig::try_from(&*args).unwrap();
        let s = c.input.selection.unwrap();
        assert_eq!((s.clauses.len(), s.max_rows, s.set.len()), (2, 20, 1));
        assert!(c.recheck);
        assert!(!apply_config(&["--progress", "none"]).unwrap().recheck);
    }
}
