//! The sandbox: a local Notion-compatible HTTP server for the tool's tests, benchmarks and first
//! runs. It serves PATCH, GET and POST (create) page, GET page property item, GET database, GET
//! and PATCH (option changes) data source, GET users, and the data source and database queries
//! from an in-memory store, and Notion's File Upload API (create, send, complete, retrieve, list),
//! seeded from JSON, with Notion's token and version checks, strict validation and error shapes,
//! its own rate limiter, and injected faults. It is a crate of its own and depends on nothing of
//! `notion-bulk`'s, so a bug in the tool cannot hide in both: the compiler keeps the two apart.
//!
//! Files, in dependency order: `model` (property types, schemas, pages, ids, and the read-only
//! `Workspace` view), `seed` (the seed format), `validate` (PATCH and create bodies, against a
//! `Workspace`), `schema` (data source PATCH bodies: option changes), `query` (query bodies parsed
//! against a schema, and evaluated against pages), `store` (the data: built from a seed, changed
//! by validated updates, creates and schema updates), `render`
//! (response shapes), `upload` (file uploads: their checks, store and shapes), `limiter`, `fault`, `hold` (requests held until released, for tests),
//! `stats` (counters and request log), `canonical` (body hashes), `server` (routes, gate,
//! accept loop), `args` (the command-line flags).

mod args;
mod canonical;
mod error;
mod fault;
mod hold;
mod limiter;
mod model;
mod query;
mod render;
mod schema;
mod seed;
mod server;
mod stats;
mod store;
mod upload;
mod validate;
mod version;

pub use args::SandboxArgs;
pub use canonical::{body_sha256, canonical_json};
pub use fault::{FailFirst, FailFirstError, FaultKind, FaultSpec, FaultSpecError};
pub use hold::HoldState;
pub use model::normalize_id;
pub use seed::{
    Seed, SeedDataSource, SeedDatabase, SeedError, SeedOption, SeedPage, SeedProperty, SeedUser,
};
pub use stats::{RequestRecord, Stats};
pub use upload::{
    UploadStats, DEFAULT_IMPORT_POLLS, DEFAULT_MAX_FILE_UPLOAD_SIZE, MAX_PARTS, MAX_PART_BYTES,
    MIN_PART_BYTES,
};

use serde_json::Value;
use server::Shared;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The token accepted when none is given.
pub const DEFAULT_TOKEN: &str = "secret_sandbox";
/// How long a stalled request is held by default (longer than any sane client timeout).
pub const DEFAULT_STALL: Duration = Duration::from_secs(120);
/// Most results a data source query pages through by default: Notion's cap since 2026-04.
pub const DEFAULT_QUERY_CAP: usize = query::DEFAULT_QUERY_CAP;

/// How to run the sandbox (validated settings; the flags are in [`SandboxArgs`]).
#[derive(Debug, Clone)]
pub struct Options {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub seed: Seed,
    /// The one accepted token; [`DEFAULT_TOKEN`] when `None`.
    pub token: Option<String>,
    /// Requests per second per token; no limiter when `None`.
    pub rate: Option<f64>,
    /// Requests allowed back to back; with a rate and no burst, the rate rounded up (at least 1).
    pub burst: Option<u32>,
    /// Requests per fixed 60-second window per token (the newer documented model).
    pub window_budget: Option<u32>,
    pub faults: FaultSpec,
    pub fault_seed: u64,
    /// `--fail-first`: scripted faults for the first requests to a path, any method (reads too).
    pub fail_first: Vec<FailFirst>,
    /// Uniform random delay added to each API request, milliseconds `(min, max)`.
    pub latency: Option<(u64, u64)>,
    /// How long a `stall` fault holds a request before dropping the connection.
    pub stall: Duration,
    /// Most results one query pages through ([`DEFAULT_QUERY_CAP`], Notion's 10,000); past it
    /// the last page has `has_more: false` and every page a `request_status` of `incomplete`.
    pub query_cap: usize,
    /// Notion's schema-size ceiling, as the most options (all properties together) a data
    /// source may hold: a schema PATCH, page update or create that adds options past it is
    /// refused ("Your database schema has exceeded the maximum size"). `None`: no ceiling.
    pub max_schema_options: Option<usize>,
    /// The per-file limit of file uploads, in bytes ([`DEFAULT_MAX_FILE_UPLOAD_SIZE`], a paid
    /// workspace's 5 GiB), shown as `bot.workspace_limits.max_file_upload_size_in_bytes`.
    pub max_file_upload_size: u64,
    /// Retrieves of an `external_url` upload until its import is done ([`DEFAULT_IMPORT_POLLS`]).
    pub import_polls: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            seed: Seed::default(),
            token: None,
            rate: None,
            burst: None,
            window_budget: None,
            faults: FaultSpec::none(),
            fault_seed: 0,
            fail_first: Vec::new(),
            latency: None,
            stall: DEFAULT_STALL,
            query_cap: DEFAULT_QUERY_CAP,
            max_schema_options: None,
            max_file_upload_size: DEFAULT_MAX_FILE_UPLOAD_SIZE,
            import_polls: DEFAULT_IMPORT_POLLS,
        }
    }
}

impl Options {
    /// Defaults around a seed: port 0, no limits, no faults.
    pub fn new(seed: Seed) -> Self {
        Options {
            seed,
            ..Options::default()
        }
    }

    /// Check the settings that a struct literal could get wrong (the flags go through this too).
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |m: &str| Err(SandboxError::Options(m.to_string()));
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return bad("--rate should be a number of requests per second above 0");
            }
        }
        if self.burst == Some(0) {
            return bad("--burst should be at least 1");
        }
        if self.burst.is_some() && self.rate.is_none() {
            return bad("--burst needs --rate");
        }
        if self.query_cap == 0 {
            return bad("--query-cap should be at least 1");
        }
        if self.max_schema_options == Some(0) {
            return bad("--max-schema-options should be at least 1");
        }
        if self.max_file_upload_size == 0 {
            return bad("--max-file-upload-size should be at least 1");
        }
        if self.import_polls == 0 {
            return bad("--import-polls should be at least 1");
        }
        if self.window_budget == Some(0) {
            return bad("--window-budget should be at least 1");
        }
        if let Some((min, max)) = self.latency {
            if min > max {
                return bad("--latency MIN,MAX needs MIN <= MAX");
            }
        }
        if self
            .token
            .as_deref()
            .is_some_and(|t| t.is_empty() || t.chars().any(char::is_whitespace))
        {
            return bad("--token should be non-empty, without spaces");
        }
        Ok(())
    }

    fn rate_and_burst(&self) -> Option<(f64, u32)> {
        self.rate.map(|rate| {
            let burst = self.burst.unwrap_or_else(|| (rate.ceil() as u32).max(1));
            (rate, burst)
        })
    }
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("invalid sandbox option: {0}")]
    Options(String),
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
}

/// A running sandbox. Dropping it stops the server (in the background); [`Handle::shutdown`]
/// stops it and waits.
pub struct Handle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Handle {
    /// The bound address (127.0.0.1 and the real port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, to use as the API base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Counters since start (as `GET /__sandbox/stats`).
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Every API request so far, in arrival order (as `GET /__sandbox/requests`).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.recorder.requests()
    }

    /// All pages and data sources as stored (as `GET /__sandbox/state`).
    pub fn state(&self) -> Value {
        render::state(&self.shared.store())
    }

    /// One page as stored, untruncated, in the 2026-03-11 shape; `None` if unknown.
    pub fn page(&self, id: &str) -> Option<Value> {
        let id = normalize_id(id)?;
        self.state()["pages"]
            .as_array()?
            .iter()
            .find(|p| p["id"] == id.as_str())
            .cloned()
    }

    /// Holds every API request of `method` whose path starts with `prefix`, before any check,
    /// until [`Handle::release`] (as `POST /__sandbox/hold`): a test can act between two of a
    /// client's requests.
    pub fn hold(&self, method: &str, prefix: &str) {
        self.shared.holds.hold(method, prefix);
    }

    /// Resolves once at least `n` requests are held (as `GET /__sandbox/hold?waiting=N`).
    pub async fn held(&self, n: usize) -> HoldState {
        self.shared.holds.waiting(n).await
    }

    /// Lets the held requests go on, and holds no more (as `DELETE /__sandbox/hold`).
    pub fn release(&self) {
        self.shared.holds.release();
    }

    /// Stop accepting, drop open connections (stalled requests end), wait for the server, and
    /// return the final counters.
    pub async fn shutdown(mut self) -> Stats {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.stats()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Start the sandbox on 127.0.0.1 in this runtime and return once it listens.
pub async fn start(opts: Options) -> Result<Handle, SandboxError> {
    opts.validate()?;
    let mut store = store::Store::from_seed(&opts.seed, chrono::Utc::now())?;
    store.max_schema_options = opts.max_schema_options;
    store.uploads.max_size = opts.max_file_upload_size;
    store.uploads.import_polls = opts.import_polls;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, opts.port))
        .await
        .map_err(|source| SandboxError::Bind {
            port: opts.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
        port: opts.port,
        source,
    })?;
    let (stop, stopped) = watch::channel(false);
    let limiter = limiter::Limiter::new(
        opts.rate_and_burst(),
        opts.window_budget,
        tokio::time::Instant::now(),
    );
    let shared = Arc::new(Shared::new(
        store,
        opts.token
            .clone()
            .unwrap_or_else(|| DEFAULT_TOKEN.to_string()),
        limiter,
        opts.faults.clone(),
        opts.fault_seed,
        opts.fail_first.clone(),
        opts.latency,
        opts.stall,
        opts.query_cap,
        stopped.clone(),
        format!("http://{addr}"),
    ));
    let app = server::router(shared.clone());
    let task = tokio::spawn(server::serve(listener, app, stopped));
    Ok(Handle {
        addr,
        shared,
        stop,
        task: Some(task),
    })
}

/// Start the sandbox, print `listening on http://127.0.0.1:PORT` as the first line of stdout,
/// and serve until SIGINT or SIGTERM.
pub async fn run(opts: Options) -> Result<(), SandboxError> {
    let handle = start(opts).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", handle.base_url()).map_err(SandboxError::Stdout)?;
        out.flush().map_err(SandboxError::Stdout)?;
    }
    wait_for_signal().await;
    handle.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
