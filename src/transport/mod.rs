//! How every request goes out, whoever sends it (the schema read, the scan, the workers): the
//! one limiter of a run (with its adaptive rate and, with `--shared-limiter`, the Redis
//! budget), the retry table, the counters, and the send loop with the reads built on it. It
//! knows requests, not rows.

pub mod adaptive;
pub mod limiter;
#[cfg(feature = "shared-limiter")]
pub mod redis;
pub mod retry;
mod send;

pub use send::{
    query_json, read_json, read_page, read_property_items, read_result, send, ReadFailure, Sent,
};

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::notion::client::Client;
use crate::stop::Stop;
use limiter::Limiter;

/// How the dispatcher behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    pub concurrency: usize,
    pub max_attempts: u32,
    pub max_errors: Option<u64>,
    /// The first backoff ceiling; it doubles per retry up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

/// Counters the progress display and the summary read.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub rate_limited: AtomicU64,
    /// The 429s by their `rate_limit_reason` (`unstated` when the answer gave none).
    pub rate_limit_reasons: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    pub retries: AtomicU64,
    pub in_flight: AtomicU64,
    /// Files copied into Notion (`dispatch::upload`): uploaded or imported by this run, their
    /// bytes, those of them imported from a URL, and uploads an earlier run made, used again.
    pub files_uploaded: AtomicU64,
    pub bytes_uploaded: AtomicU64,
    pub files_imported: AtomicU64,
    pub uploads_reused: AtomicU64,
}

/// What every worker shares.
pub struct Shared {
    pub client: Client,
    pub limiter: Arc<Limiter>,
    pub settings: Settings,
    pub stats: Arc<Stats>,
    pub stop: Stop,
    /// With `--verbose`: one line per request (never its headers), for the reporter to print.
    pub trace: Option<mpsc::UnboundedSender<String>>,
}

impl Shared {
    /// The limiter, retries, counters and stop of a run, with nothing of a write's (no trace,
    /// backup or creating): what every read goes through, from the first (the schema).
    pub fn new(client: Client, limiter: Arc<Limiter>, settings: Settings, stop: Stop) -> Shared {
        Shared {
            client,
            limiter,
            settings,
            stats: Arc::new(Stats::default()),
            stop,
            trace: None,
        }
    }

    /// For commands that only read (`schema`, and `plan` and `export` scanning a data source):
    /// the one limiter at `rate`/`burst`, the usual retries, no backup.
    pub fn for_reads(client: Client, rate: f64, burst: u32) -> Shared {
        let settings = Settings {
            concurrency: 1,
            max_attempts: 8,
            max_errors: None,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        };
        let limiter = Arc::new(Limiter::new(rate, burst));
        Shared::new(client, limiter, settings, Stop::default())
    }
}

/// Where a budget shared by several processes lives (`--shared-limiter`, SPEC §12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLimiterConfig {
    /// `redis://`, `rediss://` or `unix://` (also `redis+unix://`, `valkey://`, `valkeys://`).
    pub url: String,
    /// `--limiter-key`; none: a hash of the token names the budget.
    pub key: Option<String>,
    /// `--shared-limiter-required`: stop (exit 3) rather than go on alone if Redis is lost.
    pub required: bool,
}

/// A Redis URL as messages and printed commands show it: any password (the URL's own, or a
/// `pass` or `password` query parameter) replaced by `***`, the user name kept.
pub fn redacted_url(url: &str) -> String {
    masked_url(url).unwrap_or_else(|| url.to_owned())
}

/// `url` with its password masked as `***`; `None` if it carries none (an unparsable URL
/// could hold one anywhere: it becomes a placeholder).
pub fn masked_url(url: &str) -> Option<String> {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return Some("<an unparsable URL>".into());
    };
    let mut masked = parsed.password().is_some();
    if masked {
        let _ = parsed.set_password(Some("***"));
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let secret = k == "pass" || k == "password";
            masked |= secret;
            let v = if secret { "***".into() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    if !masked {
        return None;
    }
    if !pairs.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Some(parsed.to_string())
}

/// The password of `url` is the `***` that printed commands show in its place (a command
/// run as printed, the password not put back).
pub fn still_masked(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.password() == Some("***")
            || u.query_pairs()
                .any(|(k, v)| (k == "pass" || k == "password") && v == "***")
    })
}
