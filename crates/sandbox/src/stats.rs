//! What the sandbox saw: counters (`/__sandbox/stats`) and the log of every request
//! (`/__sandbox/requests`), both readable in-process from the `Handle`.

use super::fault::FaultKind;
use super::upload::UploadStats;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counters since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// API requests received (introspection excluded).
    pub requests: u64,
    /// Of those, data source and database queries (`POST …/query`).
    pub queries: u64,
    /// Responses by HTTP status; a reset or an ended stall has no status and is not counted here.
    pub by_status: BTreeMap<u16, u64>,
    /// 429 answers.
    pub rate_limited: u64,
    /// Injected faults by kind.
    pub faults: BTreeMap<FaultKind, u64>,
    /// Most API requests in flight at once.
    pub max_in_flight: usize,
    /// Updates applied, by page id (dashed).
    pub applied: BTreeMap<String, u64>,
    /// Pages created by `POST /v1/pages` (those answered with an `e504_applied` fault too).
    pub created: u64,
    /// Of the requests, the data source PATCHes (`PATCH /v1/data_sources/{id}`), whatever their
    /// answer.
    pub schema_patches: u64,
    /// Data source updates applied, by data source id (those answered with an `e504_applied`
    /// fault too).
    pub schema_updates: BTreeMap<String, u64>,
    /// File uploads: created, parts and bytes received, uploaded, imports, expired, attached,
    /// and duplicates (the same content uploaded again).
    pub file_uploads: UploadStats,
}

/// One API request as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Arrival order, from 0.
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// The raw query string (after `?`), if any: e.g. `filter_properties=a%3Fb`.
    pub query: Option<String>,
    /// The page id from the path (dashed, lowercase), when the path names a valid one; for a
    /// `POST /v1/pages` that created a page, the new page's id (also under `e504_applied`).
    pub page_id: Option<String>,
    /// SHA-256 hex of the JSON body with sorted keys; none without a body or when it is not JSON.
    pub body_sha256: Option<String>,
    /// The status answered; none for a reset or a stall.
    pub status: Option<u16>,
    /// Milliseconds since the sandbox started, at arrival.
    pub time_ms: u64,
    /// The fault injected, if any.
    pub fault: Option<FaultKind>,
}

/// Owner of the counters and the log.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    stats: Stats,
    log: Vec<RequestRecord>,
}

impl Recorder {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panic while holding the lock leaves plain counters; keep serving them.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    pub(crate) fn in_flight(&self, now_in_flight: usize) {
        self.with(|i| {
            i.stats.max_in_flight = i.stats.max_in_flight.max(now_in_flight);
        });
    }

    pub(crate) fn applied(&self, page_id: &str) {
        self.with(|i| *i.stats.applied.entry(page_id.to_string()).or_default() += 1);
    }

    pub(crate) fn created(&self) {
        self.with(|i| i.stats.created += 1);
    }

    pub(crate) fn schema_updated(&self, data_source_id: &str) {
        self.with(|i| {
            *i.stats
                .schema_updates
                .entry(data_source_id.to_string())
                .or_default() += 1
        });
    }

    /// Record a finished request.
    pub(crate) fn finish(&self, record: RequestRecord) {
        self.with(|i| {
            i.stats.requests += 1;
            if is_query(&record.method, &record.path) {
                i.stats.queries += 1;
            }
            if is_schema_patch(&record.method, &record.path) {
                i.stats.schema_patches += 1;
            }
            if let Some(status) = record.status {
                *i.stats.by_status.entry(status).or_default() += 1;
                if status == 429 {
                    i.stats.rate_limited += 1;
                }
            }
            if let Some(kind) = record.fault {
                *i.stats.faults.entry(kind).or_default() += 1;
            }
            i.log.push(record);
        });
    }

    pub(crate) fn stats(&self) -> Stats {
        self.with(|i| i.stats.clone())
    }

    /// The log in arrival order.
    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        self.with(|i| {
            let mut log = i.log.clone();
            log.sort_by_key(|r| r.seq);
            log
        })
    }
}

/// `POST /v1/data_sources/{id}/query` or `POST /v1/databases/{id}/query`.
pub(crate) fn is_query(method: &str, path: &str) -> bool {
    method == "POST"
        && ["/v1/data_sources/", "/v1/databases/"]
            .iter()
            .any(|prefix| {
                path.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_suffix("/query"))
                    .is_some_and(|id| !id.is_empty() && !id.contains('/'))
            })
}

/// `PATCH /v1/data_sources/{id}`: a schema update.
pub(crate) fn is_schema_patch(method: &str, path: &str) -> bool {
    method == "PATCH"
        && path
            .strip_prefix("/v1/data_sources/")
            .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}
