//! The command line: clap types, and their conversion into the plain configs of
//! [`crate::config`]. Validation lives in the conversion; nothing else sees these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigError, InputConfig, InputFlags, PlanConfig};

const EXIT_CODES: &str = "\
Exit codes:
  0    every row ok or skipped
  1    finished; some rows failed, were invalid or unknown (see the report)
  2    usage, input or config error before any write
  3    aborted: token refused, --max-errors reached, or the first 20 rows all failed alike
  4    --max-runtime reached (continue with --resume)
  130  interrupted by SIGINT/SIGTERM after a clean drain (continue with --resume)
When several apply, the first in the order 2, 3, 130, 4, 1, 0 wins.";

/// Apply many Notion page updates from a CSV or JSONL file: rate-limited, resumable, and
/// recorded row by row.
#[derive(Debug, Parser)]
#[command(name = "notion-bulk", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read, map and validate every row offline; print the body each row would send. Writes
    /// nothing to Notion.
    #[command(after_help = EXIT_CODES)]
    Plan(PlanArgs),
}

/// The flags of every command that reads rows.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The rows: a .csv (.tsv: tab-delimited), a .jsonl/.ndjson, a job file .toml, or - for
    /// standard input (with --format).
    #[arg(value_name = "INPUT")]
    pub input: String,
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
    /// Notion API version the bodies are written for: 2022-06-28, 2025-09-03 or 2026-03-11.
    /// [default: 2025-09-03]
    #[arg(long, value_name = "V")]
    pub notion_version: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Also record invalid and skipped rows in this report (.csv or .jsonl).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
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
            notion_version: a.notion_version.clone(),
        }
    }
}

impl TryFrom<&PlanArgs> for PlanConfig {
    type Error = ConfigError;

    fn try_from(args: &PlanArgs) -> Result<PlanConfig, ConfigError> {
        let input = InputConfig::resolve(&InputFlags::from(&args.input))?;
        let report = args
            .report
            .clone()
            .or_else(|| input.job.as_ref().and_then(|j| j.report.clone()));
        Ok(PlanConfig { input, report })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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
        let Command::Plan(args) = cli.command;
        let config = PlanConfig::try_from(&args).unwrap();
        assert_eq!(config.input.mapping.id_column, "Page");
        assert_eq!(config.input.mapping.separator, '|');
        assert_eq!(config.report, Some(PathBuf::from("r.csv")));
    }
}
