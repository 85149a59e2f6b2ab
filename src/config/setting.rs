//! One setting, read once: the flag's value over the job file's, and the checks several
//! commands share (a positive number, a count, a character, a Notion version, `--progress`,
//! a duration), each with the flag's name in its message.

use std::time::Duration;

use crate::config::jobfile::{single_char, JobFile};
use crate::config::ConfigError;
use crate::notion::Version;
use crate::report::progress::ProgressMode;

/// `--rate`'s and `--burst`'s default: Notion's average of three requests a second.
pub(super) const DEFAULT_RATE: f64 = 3.0;
pub(super) const DEFAULT_BURST: u32 = 3;

/// The flag's value if given, else the job file's.
pub(super) fn given<T: Clone>(
    flag: &Option<T>,
    job: Option<&JobFile>,
    in_job: fn(&JobFile) -> &Option<T>,
) -> Option<T> {
    flag.clone().or_else(|| job.and_then(|j| in_job(j).clone()))
}

/// A switch: on if the flag is given or the job file sets it to `true`.
pub(super) fn switch(
    flag: bool,
    job: Option<&JobFile>,
    in_job: fn(&JobFile) -> &Option<bool>,
) -> bool {
    flag || job.and_then(|j| *in_job(j)).unwrap_or(false)
}

/// A positive, finite number (`--rate`, `--timeout`, `--progress-interval`).
pub(super) fn positive(name: &str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ConfigError(format!(
            "--{name} must be a positive number, got {value}"
        )))
    }
}

/// A count of at least one (`--burst`, `--concurrency`, `--max-errors`, ...).
pub(super) fn at_least_one(name: &str, value: u64) -> Result<u64, ConfigError> {
    if value >= 1 {
        Ok(value)
    } else {
        Err(ConfigError(format!("--{name} must be at least 1")))
    }
}

/// `--rate`, as given (the job file's merged in), or its default.
pub(super) fn rate(given: Option<f64>) -> Result<f64, ConfigError> {
    positive("rate", given.unwrap_or(DEFAULT_RATE))
}

/// A one-character setting (`--delimiter`, `--separator`, `--thousands-separator`).
pub(super) fn one_char(text: Option<String>, flag: &str) -> Result<Option<char>, ConfigError> {
    text.map(|t| single_char(&t, flag).map_err(ConfigError))
        .transpose()
}

/// `--notion-version`, or the default version.
pub(super) fn notion_version(text: Option<&str>) -> Result<Version, ConfigError> {
    text.map(str::parse::<Version>)
        .transpose()
        .map_err(ConfigError)
        .map(Option::unwrap_or_default)
}

/// `--progress`: auto (a bar when standard error is a terminal, else a line every
/// `interval`), bar, log or none; auto when not given.
pub(super) fn progress_mode(
    mode: Option<&str>,
    interval: Duration,
) -> Result<ProgressMode, ConfigError> {
    use std::io::IsTerminal;
    match mode.unwrap_or("auto") {
        "auto" if std::io::stderr().is_terminal() => Ok(ProgressMode::Bar),
        "auto" | "log" => Ok(ProgressMode::Log(interval)),
        "bar" => Ok(ProgressMode::Bar),
        "none" => Ok(ProgressMode::None),
        other => Err(ConfigError(format!(
            "unknown --progress {other:?}: expected auto, bar, log or none"
        ))),
    }
}

/// `90m`, `2h`, `45s`, `1h30m`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration: write e.g. 90m, 2h, 45s or 1h30m");
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs > 0.0)
            .then(|| Duration::from_secs_f64(secs))
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
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["", "soon", "10x", "h", "0", "-5m", "5m3"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_flag_wins_over_the_job_file() {
        let job = JobFile {
            format: Some("tsv".into()),
            recheck: Some(true),
            ..JobFile::default()
        };
        let format: fn(&JobFile) -> &Option<String> = |j| &j.format;
        assert_eq!(
            given(&Some("csv".into()), Some(&job), format),
            Some("csv".into())
        );
        assert_eq!(given(&None, Some(&job), format), Some("tsv".into()));
        assert_eq!(given(&None, None, format), None);
        assert!(switch(false, Some(&job), |j| &j.recheck));
        assert!(switch(true, None, |j| &j.recheck));
        assert!(!switch(false, Some(&job), |j| &j.send_unchanged));
    }

    #[test]
    fn numbers_versions_and_progress_are_checked_with_the_flags_name() {
        assert_eq!(rate(None).unwrap(), DEFAULT_RATE);
        assert_eq!(rate(Some(2.5)).unwrap(), 2.5);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = rate(Some(bad)).unwrap_err();
            assert!(
                err.0.starts_with("--rate must be a positive number"),
                "{err}"
            );
        }
        let err = positive("timeout", 0.0).unwrap_err();
        assert_eq!(err.0, "--timeout must be a positive number, got 0");
        assert_eq!(at_least_one("burst", 1).unwrap(), 1);
        assert_eq!(
            at_least_one("concurrency", 0).unwrap_err().0,
            "--concurrency must be at least 1"
        );
        assert_eq!(
            one_char(Some("tab".into()), "--delimiter").unwrap(),
            Some('\t')
        );
        assert_eq!(one_char(None, "--delimiter").unwrap(), None);
        let err = one_char(Some("ab".into()), "--separator").unwrap_err();
        assert!(err.0.contains("--separator"), "{err}");
        assert_eq!(notion_version(None).unwrap(), Version::default());
        assert_eq!(
            notion_version(Some("2022-06-28")).unwrap(),
            Version::V2022_06_28
        );
        let err = notion_version(Some("2020-01-01")).unwrap_err();
        assert!(err.0.contains("unknown Notion-Version"), "{err}");
        let ten = Duration::from_secs(10);
        assert_eq!(
            progress_mode(Some("log"), ten).unwrap(),
            ProgressMode::Log(ten)
        );
        assert_eq!(progress_mode(Some("bar"), ten).unwrap(), ProgressMode::Bar);
        assert_eq!(
            progress_mode(Some("none"), ten).unwrap(),
            ProgressMode::None
        );
        let err = progress_mode(Some("fancy"), ten).unwrap_err();
        assert_eq!(
            err.0,
            "unknown --progress \"fancy\": expected auto, bar, log or none"
        );
    }
}
