//! The command that continues a run, as printed at its end: this run's own command line with
//! `--resume` (and `--report` when the report's name was chosen by default), quoted for a
//! POSIX shell, any Redis password in `--shared-limiter` masked as `***`.

use std::path::Path;

use crate::config::{masked_url, ContinueCommand};

/// The command line of this run with `--resume` (and `--report` when it was chosen by
/// default), quoted for a POSIX shell, a Redis password masked.
pub(super) fn continue_command(report: &Path, report_given: bool) -> ContinueCommand {
    continue_command_of(std::env::args().collect(), report, report_given)
}

fn continue_command_of(
    mut args: Vec<String>,
    report: &Path,
    report_given: bool,
) -> ContinueCommand {
    if let Some(first) = args.first_mut() {
        *first = "notion-bulk".into();
    }
    // `--shared-limiter URL` and `--shared-limiter=URL`: the URL may carry a password.
    const LIMITER: &str = "--shared-limiter";
    let mut masked = false;
    let mut value_next = false;
    for arg in args.iter_mut() {
        let (prefix, url) = match arg.strip_prefix(LIMITER).and_then(|r| r.strip_prefix('=')) {
            Some(url) => (format!("{LIMITER}="), url),
            None if value_next => (String::new(), arg.as_str()),
            None => {
                value_next = arg == LIMITER;
                continue;
            }
        };
        value_next = false;
        if let Some(shown) = masked_url(url) {
            *arg = prefix + &shown;
            masked = true;
        }
    }
    if !report_given
        && !args
            .iter()
            .any(|a| a == "--report" || a.starts_with("--report="))
    {
        args.push("--report".into());
        args.push(report.display().to_string());
    }
    if !args.iter().any(|a| a == "--resume") {
        args.push("--resume".into());
    }
    ContinueCommand {
        line: args
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        masked,
    }
}

/// `arg` as one word of a POSIX shell command line.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_continue_command_masks_a_redis_password_in_either_form() {
        let of = |args: &[&str]| {
            let args = args.iter().map(|a| a.to_string()).collect();
            continue_command_of(args, std::path::Path::new("r.jsonl"), true)
        };
        let c = of(&[
            "/usr/bin/notion-bulk",
            "apply",
            "rows.csv",
            "--shared-limiter",
            "redis://:s3cr3t-pw@cache:6379/2",
        ]);
        assert_eq!(
            c.line,
            "notion-bulk apply rows.csv --shared-limiter 'redis://:***@cache:6379/2' --resume"
        );
        assert!(c.masked);
        for (arg, shown) in [
            (
                "--shared-limiter=rediss://ops:s3cr3t-pw@cache",
                "'--shared-limiter=rediss://ops:***@cache'",
            ),
            (
                "--shared-limiter=unix:///run/r.sock?db=1&pass=s3cr3t-pw",
                "'--shared-limiter=unix:///run/r.sock?db=1&pass=***'",
            ),
            (
                "--shared-limiter=redis://cache/0?password=s3cr3t-pw",
                "'--shared-limiter=redis://cache/0?password=***'",
            ),
        ] {
            let c = of(&["notion-bulk", "apply", "rows.csv", arg, "--resume"]);
            assert_eq!(
                c.line,
                format!("notion-bulk apply rows.csv {shown} --resume")
            );
            assert!(c.masked && !c.line.contains("s3cr3t"), "{}", c.line);
        }
        // Without a password the URL is kept as written, and nothing else is touched.
        let c = of(&[
            "notion-bulk",
            "apply",
            "--report",
            "redis://:x@y",
            "--shared-limiter",
            "redis://cache:6379",
        ]);
        assert_eq!(
            c.line,
            "notion-bulk apply --report redis://:x@y --shared-limiter redis://cache:6379 --resume"
        );
        assert!(!c.masked);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("jobs/demo.toml"), "jobs/demo.toml");
        assert_eq!(shell_quote("my file.csv"), "'my file.csv'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
