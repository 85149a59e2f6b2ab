//! Each command's flags merged over the job file its INPUT names (`apply`, `plan`), or checked
//! alone (`export`, `schema`, which read no job file): the command line wins, and a token
//! flag of either kind wins over both of the job file's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::continue_command::continue_command;
use crate::config::input::load_job;
use crate::config::jobfile::JobFile;
use crate::config::setting::{
    at_least_one, notion_version, one_char, parse_duration, positive, progress_mode, rate,
    DEFAULT_BURST,
};
use crate::config::{
    ApplyConfig, ApplyFlags, ConfigError, Connection, ConnectionFlags, ExportConfig, ExportFlags,
    ExportFormat, InputConfig, PlanConfig, PlanFlags, SchemaConfig, SchemaFlags,
    SharedLimiterConfig, TokenSource,
};

impl ApplyConfig {
    /// `apply`'s flags merged over the job file.
    pub fn resolve(flags: &ApplyFlags) -> Result<ApplyConfig, ConfigError> {
        let job = load_job(flags.input.input.as_deref())?;
        let input = InputConfig::merge(&flags.input, job.as_ref())?;
        let connection = Connection::resolve(&flags.connection, job.as_ref());
        let job = job.unwrap_or_default();
        let explicit_report = flags.report.clone().or(job.report.clone());
        let report = explicit_report.clone().unwrap_or_else(default_report);
        let interval = Duration::from_secs_f64(positive(
            "progress-interval",
            flags.progress_interval.unwrap_or(10.0),
        )?);
        let progress = progress_mode(
            flags.progress.as_deref().or(job.progress.as_deref()),
            interval,
        )?;
        let max_runtime = flags
            .max_runtime
            .clone()
            .or(job.max_runtime.clone())
            .map(|d| parse_duration(&d).map_err(|e| ConfigError(format!("--max-runtime: {e}"))))
            .transpose()?;
        Ok(ApplyConfig {
            report: report.clone(),
            token: connection.token,
            api_base: connection.api_base,
            rate: rate(flags.rate.or(job.rate))?,
            burst: at_least_one(
                "burst",
                flags.burst.or(job.burst).unwrap_or(DEFAULT_BURST).into(),
            )? as u32,
            concurrency: at_least_one(
                "concurrency",
                flags.concurrency.or(job.concurrency).unwrap_or(16) as u64,
            )? as usize,
            max_attempts: at_least_one(
                "max-attempts",
                flags.max_attempts.or(job.max_attempts).unwrap_or(8).into(),
            )? as u32,
            timeout: Duration::from_secs_f64(positive(
                "timeout",
                flags.timeout.or(job.timeout).unwrap_or(90.0),
            )?),
            max_errors: flags
                .max_errors
                .or(job.max_errors)
                .map(|n| at_least_one("max-errors", n))
                .transpose()?,
            max_runtime,
            resume: flags.resume,
            failed_out: flags.failed_out.clone().or(job.failed_out.clone()),
            backup: flags.backup.clone().or(job.backup.clone()),
            summary_json: flags.summary_json.clone().or(job.summary_json.clone()),
            progress,
            sandbox_seed: sandbox_seed(flags.sandbox, &job)?,
            shared_limiter: SharedLimiterConfig::resolve(
                flags.shared_limiter.clone().or(job.shared_limiter.clone()),
                flags.limiter_key.clone().or(job.limiter_key.clone()),
                flags.shared_limiter_required || job.shared_limiter_required.unwrap_or(false),
            )?,
            verbose: flags.verbose,
            send_unchanged: flags.send_unchanged || job.send_unchanged.unwrap_or(false),
            recheck: flags.recheck || job.recheck.unwrap_or(false),
            continue_command: continue_command(&report, explicit_report.is_some()),
            input,
        })
    }
}

/// The report's name when none is given: `notion-bulk-report-<UTC timestamp>.jsonl`.
fn default_report() -> PathBuf {
    PathBuf::from(format!(
        "notion-bulk-report-{}.jsonl",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    ))
}

/// `--sandbox` runs against the embedded sandbox seeded from the job file's `sandbox_seed`.
fn sandbox_seed(sandbox: bool, job: &JobFile) -> Result<Option<PathBuf>, ConfigError> {
    match (sandbox, &job.sandbox_seed) {
        (false, _) => Ok(None),
        (true, Some(seed)) => Ok(Some(seed.clone())),
        (true, None) => Err(ConfigError(
            "--sandbox needs a job file with sandbox_seed = \"seed.json\" (see docs/SANDBOX.md for the seed format)".into(),
        )),
    }
}

impl PlanConfig {
    /// `plan`'s flags merged over the job file.
    pub fn resolve(flags: &PlanFlags) -> Result<PlanConfig, ConfigError> {
        use std::io::IsTerminal;
        let job = load_job(flags.input.input.as_deref())?;
        let input = InputConfig::merge(&flags.input, job.as_ref())?;
        let connection = Connection::resolve(&flags.connection, job.as_ref());
        let job = job.unwrap_or_default();
        Ok(PlanConfig {
            input,
            connection,
            report: flags.report.clone().or(job.report),
            rate: rate(flags.rate.or(job.rate))?,
            burst: flags.burst.or(job.burst).unwrap_or(DEFAULT_BURST).max(1),
            listing: std::io::stdout().is_terminal(),
        })
    }
}

impl ExportConfig {
    /// `export`'s flags, checked.
    pub fn resolve(flags: &ExportFlags) -> Result<ExportConfig, ConfigError> {
        let extension = flags.output.as_deref().and_then(lowercase_extension);
        let by_extension = match extension.as_deref() {
            Some("csv" | "tsv" | "tab") => Some(ExportFormat::Csv),
            Some("jsonl" | "ndjson") => Some(ExportFormat::Jsonl),
            _ => None,
        };
        let format = match (flags.format.as_deref(), by_extension) {
            (Some("csv"), _) => ExportFormat::Csv,
            (Some("jsonl"), _) => ExportFormat::Jsonl,
            (Some(other), _) => {
                return Err(ConfigError(format!(
                    "unknown --format {other:?}: expected csv or jsonl"
                )))
            }
            (None, Some(f)) => f,
            (None, None) => ExportFormat::Csv,
        };
        let rate = rate(flags.rate)?;
        let progress = progress_mode(flags.progress.as_deref(), Duration::from_secs(10))?;
        Ok(ExportConfig {
            data_source: flags.data_source.clone(),
            output: flags.output.clone(),
            format,
            properties: flags.properties.clone(),
            filter: flags.filter.clone(),
            version: notion_version(flags.notion_version.as_deref())?,
            connection: Connection::resolve(&flags.connection, None),
            rate,
            burst: flags.burst.unwrap_or(DEFAULT_BURST).max(1),
            progress,
            separator: one_char(flags.separator.clone(), "--separator")?.unwrap_or(';'),
            delimiter: match extension.as_deref() {
                Some("tsv" | "tab") => b'\t',
                _ => b',',
            },
            format_told: by_extension.is_some(),
        })
    }
}

/// A path's extension in lower case, when it has one in UTF-8.
fn lowercase_extension(path: &Path) -> Option<String> {
    Some(path.extension()?.to_str()?.to_ascii_lowercase())
}

impl SchemaConfig {
    /// `schema`'s flags, checked.
    pub fn resolve(flags: &SchemaFlags) -> Result<SchemaConfig, ConfigError> {
        Ok(SchemaConfig {
            id: flags.id.clone(),
            version: notion_version(flags.notion_version.as_deref())?,
            connection: Connection::resolve(&flags.connection, None),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::progress::ProgressMode;

    fn apply(input: &str) -> ApplyFlags {
        let mut flags = ApplyFlags {
            progress: Some("none".into()),
            ..ApplyFlags::default()
        };
        flags.input.input = Some(input.into());
        flags
    }

    #[test]
    fn apply_takes_the_job_files_settings_and_the_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(
            &job,
            "input = \"rows.csv\"\nrate = 1.5\nburst = 2\nconcurrency = 4\nreport = \"r.jsonl\"\n\
             token_env = \"JOB_TOKEN\"\nprogress = \"log\"\nmax_runtime = \"2h\"\nrecheck = true\n",
        )
        .unwrap();
        let mut flags = apply(job.to_str().unwrap());
        flags.progress = None;
        let c = ApplyConfig::resolve(&flags).unwrap();
        assert_eq!((c.rate, c.burst, c.concurrency), (1.5, 2, 4));
        assert_eq!(c.report, dir.path().join("r.jsonl"));
        assert_eq!(c.token, TokenSource::Env("JOB_TOKEN".into()));
        assert_eq!(c.progress, ProgressMode::Log(Duration::from_secs(10)));
        assert_eq!(c.max_runtime, Some(Duration::from_secs(7200)));
        assert!(c.recheck);
        // The report was named, so the continue command adds no --report.
        assert!(c.continue_command.line.ends_with(" --resume"));
        assert!(!c.continue_command.line.contains("--report"));
        flags.rate = Some(5.0);
        flags.concurrency = Some(1);
        flags.connection.token_file = Some("t.txt".into());
        let c = ApplyConfig::resolve(&flags).unwrap();
        assert_eq!((c.rate, c.concurrency), (5.0, 1));
        assert_eq!(c.token, TokenSource::File("t.txt".into()));
    }

    #[test]
    fn apply_flags_are_checked_in_order() {
        for (set, expected) in [
            (
                (|f: &mut ApplyFlags| f.progress_interval = Some(0.0)) as fn(&mut ApplyFlags),
                "--progress-interval must be a positive number, got 0",
            ),
            (|f| f.burst = Some(0), "--burst must be at least 1"),
            (
                |f| f.max_attempts = Some(0),
                "--max-attempts must be at least 1",
            ),
            (
                |f| f.timeout = Some(-1.0),
                "--timeout must be a positive number, got -1",
            ),
            (
                |f| f.max_errors = Some(0),
                "--max-errors must be at least 1",
            ),
            (
                |f| f.sandbox = true,
                "--sandbox needs a job file with sandbox_seed",
            ),
            (
                |f| f.limiter_key = Some("k".into()),
                "--limiter-key and --shared-limiter-required need --shared-limiter URL",
            ),
            (
                // The input's mistake is told before apply's own.
                |f| {
                    f.input.empty = Some("blank".into());
                    f.rate = Some(0.0);
                },
                "unknown --empty",
            ),
        ] {
            let mut flags = apply("rows.csv");
            set(&mut flags);
            let err = ApplyConfig::resolve(&flags).unwrap_err();
            assert!(err.0.contains(expected), "{err}");
        }
    }

    #[test]
    fn plan_takes_the_report_rate_and_connection_from_the_job_file() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(
            &job,
            "input = \"rows.csv\"\nreport = \"r.csv\"\nrate = 2.0\nburst = 0\napi_base = \"http://127.0.0.1:9\"\n",
        )
        .unwrap();
        let mut flags = PlanFlags::default();
        flags.input.input = Some(job.to_str().unwrap().into());
        let c = PlanConfig::resolve(&flags).unwrap();
        assert_eq!(c.report, Some(dir.path().join("r.csv")));
        assert_eq!((c.rate, c.burst), (2.0, 1));
        assert_eq!(c.connection.api_base, "http://127.0.0.1:9");
        flags.rate = Some(-3.0);
        let err = PlanConfig::resolve(&flags).unwrap_err();
        assert_eq!(err.0, "--rate must be a positive number, got -3");
    }

    #[test]
    fn export_takes_its_format_and_delimiter_from_the_output_name() {
        let export = |output: Option<&str>, format: Option<&str>| {
            ExportConfig::resolve(&ExportFlags {
                data_source: "ds".into(),
                output: output.map(PathBuf::from),
                format: format.map(str::to_owned),
                progress: Some("none".into()),
                ..ExportFlags::default()
            })
        };
        let c = export(Some("pages.TSV"), None).unwrap();
        assert_eq!(
            (c.format, c.delimiter, c.format_told),
            (ExportFormat::Csv, b'\t', true)
        );
        let c = export(Some("pages.ndjson"), None).unwrap();
        assert_eq!(
            (c.format, c.delimiter, c.format_told),
            (ExportFormat::Jsonl, b',', true)
        );
        let c = export(Some("pages.txt"), Some("jsonl")).unwrap();
        assert_eq!((c.format, c.format_told), (ExportFormat::Jsonl, false));
        let c = export(None, None).unwrap();
        assert_eq!(
            (c.format, c.separator, c.rate, c.burst),
            (ExportFormat::Csv, ';', 3.0, 3)
        );
        let err = export(None, Some("xml")).unwrap_err();
        assert_eq!(err.0, "unknown --format \"xml\": expected csv or jsonl");
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
