//! The run's stop flag, which every part of the run watches (the reader, the dispatcher, the
//! workers, the limiter), and why it was set: a signal, the deadline, `--max-errors`, a refused
//! token, a lost shared limiter, or a file the run could not write.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;

/// The number of first rows whose identical refusal ends the run.
pub const FIRST_ROWS: usize = 20;

/// Why a run stops taking new rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The server refused the token (401).
    TokenRefused,
    /// `--max-errors` rows ended failed or unknown.
    MaxErrors(u64),
    /// The first rows sent all failed with one non-retryable answer.
    SameFailure,
    /// SIGINT or SIGTERM.
    Interrupted,
    /// `--max-runtime` reached.
    Deadline,
    /// The shared limiter stopped answering, with `--shared-limiter-required`.
    SharedLimiterLost,
    /// A file the run writes could not be written ([`Stop::write_failure`] says which).
    WriteFailed,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::TokenRefused => {
                f.write_str("the server refused the token (401 unauthorized)")
            }
            StopReason::MaxErrors(n) => write!(f, "--max-errors {n} reached"),
            StopReason::SameFailure => write!(
                f,
                "the first {FIRST_ROWS} rows sent all failed the same way"
            ),
            StopReason::Interrupted => f.write_str("interrupted by a signal"),
            StopReason::Deadline => f.write_str("--max-runtime reached"),
            StopReason::SharedLimiterLost => f.write_str(
                "the shared limiter stopped answering and --shared-limiter-required is set",
            ),
            StopReason::WriteFailed => f.write_str("a file this run writes could not be written"),
        }
    }
}

/// The stop flag every part of the run watches. The first reason set wins.
#[derive(Debug, Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<Option<StopReason>>>,
    /// The first file the run could not write, whatever stopped the run first.
    write_failure: Arc<OnceLock<WriteFailure>>,
}

impl Default for Stop {
    fn default() -> Stop {
        Stop {
            tx: Arc::new(watch::channel(None).0),
            write_failure: Arc::default(),
        }
    }
}

impl Stop {
    pub fn set(&self, reason: StopReason) {
        self.tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// A file the run writes could not be written: stop taking rows (the first failure is
    /// the one kept).
    pub fn write_failed(&self, failure: WriteFailure) {
        let _ = self.write_failure.set(failure);
        self.set(StopReason::WriteFailed);
    }

    /// The first file the run could not write, if any.
    pub fn write_failure(&self) -> Option<&WriteFailure> {
        self.write_failure.get()
    }

    pub fn reason(&self) -> Option<StopReason> {
        *self.tx.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<StopReason>> {
        self.tx.subscribe()
    }
}

/// A file the run writes while it sends (the report, `--backup`, `--failed-out`) that could
/// not be written: a full disk, a quota, a file size limit. The run stops taking rows and says
/// how to continue once the cause is fixed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot write {file}: {error}")]
pub struct WriteFailure {
    /// What the file is, and its path: `the report r.jsonl`.
    pub file: String,
    /// The system's error: `No space left on device (os error 28)`.
    pub error: String,
}

impl WriteFailure {
    /// `what`: the file's role, `the report`, `the backup`, `--failed-out`.
    pub fn new(what: &str, path: &Path, error: &io::Error) -> WriteFailure {
        WriteFailure {
            file: format!("{what} {}", path.display()),
            error: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_to_stop_wins() {
        let stop = Stop::default();
        stop.set(StopReason::Interrupted);
        stop.set(StopReason::Deadline);
        assert_eq!(stop.reason(), Some(StopReason::Interrupted));
    }

    #[test]
    fn a_write_failure_stops_the_run_and_is_kept_whatever_stopped_it_first() {
        let failure = |error: &str| WriteFailure {
            file: "the report r.jsonl".into(),
            error: error.into(),
        };
        let stop = Stop::default();
        stop.write_failed(failure("first"));
        stop.write_failed(failure("second"));
        assert_eq!(stop.reason(), Some(StopReason::WriteFailed));
        assert_eq!(stop.write_failure(), Some(&failure("first")));
        let stop = Stop::default();
        stop.set(StopReason::Interrupted);
        stop.clone().write_failed(failure("late"));
        assert_eq!(stop.reason(), Some(StopReason::Interrupted));
        assert_eq!(stop.write_failure(), Some(&failure("late")));
    }
}
