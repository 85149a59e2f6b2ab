//! What the person at the terminal sees while a run goes: an indicatif bar on a terminal, a
//! plain line every few seconds otherwise (cron, CI, a log file), or nothing.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::summary::Counts;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Bar,
    /// A plain line at this interval.
    Log(Duration),
    None,
}

/// A snapshot of the run for the display.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub total: Option<u64>,
    pub counts: Counts,
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub in_flight: u64,
    pub elapsed: Duration,
    /// Requests per second allowed now.
    pub rate: f64,
    /// Requests per second over the last display interval.
    pub recent_rate: f64,
    /// "paused until 12:03:05 UTC: rate limited by the server (429)".
    pub pause: Option<String>,
}

impl Snapshot {
    pub fn done(&self) -> u64 {
        self.counts.rows()
    }

    fn eta(&self) -> Option<Duration> {
        let total = self.total?;
        let done = self.done();
        if done == 0 || total <= done {
            return None;
        }
        let per_row = self.elapsed.as_secs_f64() / done as f64;
        Some(Duration::from_secs_f64(per_row * (total - done) as f64))
    }

    /// One line, for logs: no control characters.
    pub fn line(&self) -> String {
        let c = &self.counts;
        let of = match self.total {
            Some(t) if t > 0 => format!(
                "{}/{} rows ({:.1}%)",
                self.done(),
                t,
                100.0 * self.done() as f64 / t as f64
            ),
            _ => format!("{} rows", self.done()),
        };
        let mut line = format!(
            "{of}: ok {}, failed {}, unknown {}, invalid {}, skipped {}; {} requests ({:.2}/s now, limit {:.2}/s), {} in flight, {} retries, {} rate-limited",
            c.ok, c.failed, c.unknown, c.invalid, c.skipped, self.requests,
            self.recent_rate,
            self.rate, self.in_flight, self.retries, self.rate_limited
        );
        if let Some(eta) = self.eta() {
            line += &format!("; about {} left", human_duration(eta));
        }
        if let Some(pause) = &self.pause {
            line += &format!("; {pause}");
        }
        line
    }
}

/// The display.
pub struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    /// When the last scan line was printed (log mode).
    last_scan_line: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{bar:24}] {pos}/{len} {msg}",
                )
                .expect("a valid template"),
            );
            bar
        });
        Progress {
            mode,
            bar,
            last_scan_line: std::sync::Mutex::new(None),
        }
    }

    /// How a scan is going (pages read, requests): the bar's message, or a log line at the
    /// display's interval (`last`: the scan has ended, print it whatever the interval).
    pub fn scan(&self, scan: &crate::scan::ScanProgress, requests: u64, last: bool, err: &mut dyn Write) {
        let line = format!(
            "scan: {} pages read, {} requests ({} queries, {} created_time windows past the result cap, {} long values completed)",
            scan.pages, requests, scan.queries, scan.windows, scan.completions
        );
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.set_message(line),
            (None, ProgressMode::Log(every)) => {
                let mut printed = self.last_scan_line.lock().expect("progress lock");
                let due = printed.is_none_or(|t| t.elapsed() >= every);
                if due || last {
                    let _ = writeln!(err, "{line}");
                    *printed = Some(std::time::Instant::now());
                }
            }
            _ => {}
        }
    }

    /// How often `tick` should be called.
    pub fn interval(&self) -> Duration {
        match self.mode {
            ProgressMode::Bar => Duration::from_millis(250),
            ProgressMode::Log(every) => every,
            ProgressMode::None => Duration::from_secs(3600),
        }
    }

    pub fn tick(&self, snapshot: &Snapshot, err: &mut dyn Write) {
        match (&self.bar, self.mode) {
            (Some(bar), _) => {
                if let Some(total) = snapshot.total {
                    bar.set_length(total);
                }
                bar.set_position(snapshot.done());
                let c = &snapshot.counts;
                let mut msg = format!(
                    "ok {} · failed {} · invalid {} · {:.1}/s · retries {}",
                    c.ok,
                    c.failed + c.unknown,
                    c.invalid,
                    snapshot.recent_rate,
                    snapshot.retries
                );
                if let Some(eta) = snapshot.eta() {
                    msg += &format!(" · ETA {}", human_duration(eta));
                }
                if let Some(pause) = &snapshot.pause {
                    msg += &format!(" · {pause}");
                }
                bar.set_message(msg);
            }
            (None, ProgressMode::Log(_)) => {
                let _ = writeln!(err, "progress: {}", snapshot.line());
            }
            _ => {}
        }
    }

    /// Prints a line above the bar (or plainly).
    pub fn println(&self, err: &mut dyn Write, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                let _ = writeln!(err, "{line}");
            }),
            None => {
                let _ = writeln!(err, "{line}");
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `1h02m`, `4m05s`, `12s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(12)), "12s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn a_log_line_says_everything_without_control_characters() {
        let snapshot = Snapshot {
            total: Some(200),
            counts: Counts {
                ok: 90,
                failed: 5,
                invalid: 3,
                skipped: 2,
                ..Counts::default()
            },
            requests: 110,
            retries: 7,
            rate_limited: 1,
            in_flight: 3,
            elapsed: Duration::from_secs(50),
            rate: 2.5,
            recent_rate: 2.2,
            pause: Some("paused until 12:03:05 UTC: rate limited by the server (429)".into()),
        };
        let line = snapshot.line();
        assert!(
            line.starts_with("100/200 rows (50.0%): ok 90, failed 5"),
            "{line}"
        );
        assert!(
            line.contains("2.20/s")
                && line.contains("about 50s left")
                && line.contains("paused until"),
            "{line}"
        );
        assert!(!line.chars().any(char::is_control));
    }
}
