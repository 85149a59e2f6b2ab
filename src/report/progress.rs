//! What the person at the terminal sees while a run goes: an indicatif bar on a terminal, a
//! plain line every few seconds otherwise (cron, CI, a log file), or nothing. The bar is one
//! line of at most 80 columns (fewer on a narrower terminal), built here field by field: when
//! they do not all fit, the least useful are left out rather than the line wrapping. Anything
//! printed while the bar is drawn goes through [`Progress::println`] or a [`Printer`], which
//! clear the bar first, so that no line is torn.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// The same, short, for the bar: "paused until 12:03:05 UTC".
    pub pause_short: Option<String>,
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

/// The widest the bar gets, whatever the terminal.
pub const MAX_BAR_WIDTH: usize = 80;

impl Snapshot {
    /// The bar's line, at most `width` characters: the fields that fit, most useful first
    /// (position, pause, ok and failed, elapsed time, the bar itself, rate, ETA, invalid,
    /// retries), shown in their usual order.
    pub fn bar_line(&self, width: usize) -> String {
        let c = &self.counts;
        let done = self.done();
        let position = match self.total {
            Some(t) => format!("{done}/{t}"),
            None => format!("{done} rows"),
        };
        let elapsed = self.elapsed.as_secs();
        let graphic = self.total.filter(|t| *t > 0).map(|t| {
            const CELLS: u64 = 12;
            let full = (done.min(t) * CELLS / t) as usize;
            format!(
                "[{}{}]",
                "#".repeat(full),
                "-".repeat(CELLS as usize - full)
            )
        });
        let pause = match (&self.pause, &self.pause_short) {
            (Some(long), Some(short)) => Some((long.clone(), short.clone())),
            (Some(long), None) => Some((long.clone(), long.clone())),
            _ => None,
        };
        // (priority, text), in display order; the long and short pause compete for one place.
        let mut fields: Vec<(u8, Option<String>)> = vec![
            (
                3,
                Some(format!(
                    "{:02}:{:02}:{:02}",
                    elapsed / 3600,
                    elapsed / 60 % 60,
                    elapsed % 60
                )),
            ),
            (4, graphic),
            (0, Some(position)),
            (
                2,
                Some(format!("ok {} failed {}", c.ok, c.failed + c.unknown)),
            ),
            (7, (c.invalid > 0).then(|| format!("invalid {}", c.invalid))),
            (5, Some(format!("{:.1}/s", self.recent_rate))),
            (
                8,
                (self.retries > 0).then(|| format!("retries {}", self.retries)),
            ),
            (6, self.eta().map(|e| format!("ETA {}", human_duration(e)))),
            (1, pause.as_ref().map(|(long, _)| long.clone())),
        ];
        let mut order: Vec<usize> = (0..fields.len()).collect();
        order.sort_by_key(|i| fields[*i].0);
        let mut chosen = vec![false; fields.len()];
        let mut used = 0usize;
        for i in order {
            let Some(text) = fields[i].1.clone() else {
                continue;
            };
            let cost = |t: &str| t.chars().count() + usize::from(used > 0);
            if used + cost(&text) <= width {
                used += cost(&text);
                chosen[i] = true;
            } else if let (Some((long, short)), true) = (&pause, fields[i].0 == 1) {
                if *long == text && used + cost(short) <= width {
                    used += cost(short);
                    fields[i].1 = Some(short.clone());
                    chosen[i] = true;
                }
            }
        }
        fields
            .into_iter()
            .zip(chosen)
            .filter_map(|((_, text), chosen)| text.filter(|_| chosen))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The display.
pub struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    /// When the last scan line was printed (log mode).
    /// When the last scan log line was printed, and what it said.
    last_scan_line: std::sync::Mutex<Option<(std::time::Instant, String)>>,
}

/// Prints lines to stderr from anywhere (the signal handler), clearing the bar first.
#[derive(Clone)]
pub struct Printer {
    bar: Option<ProgressBar>,
}

impl Printer {
    pub fn eprintln(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{}", wrap(line, terminal_width()))),
            None => eprintln!("{line}"),
        }
    }
}

/// The terminal's width for the bar and the lines printed around it: at most 80 columns, one
/// spare (a line that fills the last column makes some terminals wrap).
fn terminal_width() -> usize {
    let columns = console::Term::stderr()
        .size_checked()
        .map_or(MAX_BAR_WIDTH, |(_, cols)| usize::from(cols));
    columns.min(MAX_BAR_WIDTH).saturating_sub(1).max(20)
}

/// `text` in lines of at most `width` characters, broken between words (a longer word is cut),
/// continuation lines indented by two spaces.
pub fn wrap(text: &str, width: usize) -> String {
    const INDENT: &str = "  ";
    let mut out = String::new();
    for (n, paragraph) in text.lines().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let (mut line, mut len, mut fresh) = (String::new(), 0usize, true);
        for word in paragraph.split(' ') {
            let mut word: Vec<char> = word.chars().collect();
            loop {
                let sep = usize::from(!fresh);
                if len + sep + word.len() <= width {
                    if !fresh {
                        line.push(' ');
                    }
                    line.extend(&word);
                    len += sep + word.len();
                    fresh = false;
                    break;
                }
                if fresh {
                    // A word longer than a line: cut it.
                    let cut = width.saturating_sub(len).max(1).min(word.len());
                    line.extend(word.drain(..cut));
                }
                out.push_str(&line);
                out.push('\n');
                (line, len, fresh) = (INDENT.to_owned(), INDENT.len(), true);
            }
        }
        out.push_str(&line);
    }
    out
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(ProgressStyle::with_template("{msg}").expect("a valid template"));
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
    pub fn scan(
        &self,
        scan: &crate::scan::ScanProgress,
        stats: &crate::transport::Stats,
        last: bool,
        err: &mut dyn Write,
    ) {
        let count = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let mut line = format!(
            "scan: {} pages read, {} requests ({} queries, {} created_time windows past the result cap, {} long values completed)",
            scan.pages,
            count(&stats.requests),
            scan.queries,
            scan.windows,
            scan.completions
        );
        // The reads retried so far (the schema's too), when there were any.
        let (retries, limited) = (count(&stats.retries), count(&stats.rate_limited));
        if retries + limited > 0 {
            line += &format!("; {retries} retries, {limited} rate-limited (429/529)");
        }
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.set_message(line),
            (None, ProgressMode::Log(every)) => {
                let mut printed = self.last_scan_line.lock().expect("progress lock");
                let due = printed.as_ref().is_none_or(|(t, _)| t.elapsed() >= every);
                // The closing line is printed unless the same line was printed last.
                let repeat = printed.as_ref().is_some_and(|(_, text)| *text == line);
                if (due || last) && !(last && repeat) {
                    let _ = writeln!(err, "{line}");
                    *printed = Some((std::time::Instant::now(), line));
                }
            }
            _ => {}
        }
    }

    /// A printer for lines that do not come through the run's own loop.
    pub fn printer(&self) -> Printer {
        Printer {
            bar: self.bar.clone(),
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
                bar.set_message(snapshot.bar_line(terminal_width()));
            }
            (None, ProgressMode::Log(_)) => {
                let _ = writeln!(err, "progress: {}", snapshot.line());
            }
            _ => {}
        }
    }

    /// Prints a line above the bar, wrapped to the bar's width (or plainly).
    pub fn println(&self, err: &mut dyn Write, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                let _ = writeln!(err, "{}", wrap(line, terminal_width()));
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
            pause_short: Some("paused until 12:03:05 UTC".into()),
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

    #[test]
    fn printed_lines_wrap_between_words_and_cut_only_overlong_words() {
        let text = "failed: row 17 (page 00000000-0000-4000-8000-000000000011): HTTP 429 \
                    rate_limited: not retried: the run is stopping";
        let wrapped = wrap(text, 40);
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 40),
            "{wrapped}"
        );
        assert_eq!(wrapped.replace("\n  ", " "), text);
        let long = "x".repeat(95);
        let wrapped = wrap(&long, 40);
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 40),
            "{wrapped}"
        );
        assert_eq!(wrapped.replace("\n  ", ""), long);
        assert_eq!(wrap("short", 40), "short");
    }

    #[test]
    fn the_bar_drops_fields_to_fit_and_keeps_the_pause() {
        let snapshot = Snapshot {
            total: Some(1_200_000),
            counts: Counts {
                ok: 600_000,
                failed: 12,
                invalid: 3,
                ..Counts::default()
            },
            retries: 40,
            elapsed: Duration::from_secs(3725),
            recent_rate: 19.9,
            pause: Some("paused until 12:03:05 UTC: rate limited by the server (429)".into()),
            pause_short: Some("paused until 12:03:05 UTC".into()),
            ..Snapshot::default()
        };
        for width in [79, 60, 40, 20] {
            let line = snapshot.bar_line(width);
            assert!(line.chars().count() <= width, "{width}: {line:?}");
            assert!(line.contains("600015/1200000"), "{width}: {line:?}");
        }
        assert!(snapshot.bar_line(79).contains("paused until 12:03:05 UTC"));
        assert!(snapshot.bar_line(40).contains("paused until 12:03:05 UTC"));
        let calm = Snapshot {
            pause: None,
            pause_short: None,
            ..snapshot
        };
        let line = calm.bar_line(79);
        assert!(
            line.starts_with("01:02:05 [######------] 600015/1200000 ok 600000 failed 12 19.9/s"),
            "{line}"
        );
    }
}
