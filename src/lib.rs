//! notion-bulk applies many Notion page updates (`PATCH /v1/pages/{id}`) from a CSV or JSONL
//! file, as fast as the integration's rate limit allows, and records exactly one outcome per
//! input row.
//!
//! ```text
//! reader (job: CSV / JSONL / job file, or a filter's pages: select)  ->  mapper (mapping: row -> validated PATCH body)
//!   ->  gates (gate: template rows last; preconditions; with a data source, the scan's index -> only the changes; --resume)
//!   ->  dispatcher (rate limiter + worker pool + retry, per-page order)
//!   ->  reporter (report: one outcome per row: report file, progress, summary)
//! ```
//!
//! `plan` runs the first stages (with a data source, after a scan); `export` writes a scan's
//! pages as re-appliable rows; `schema` reads a data source's schema for them. See `docs/ARCHITECTURE.md`.

pub mod apply;
pub mod backup;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod exit;
pub mod export;
pub mod filter;
pub mod gate;
pub mod job;
pub mod keys;
pub mod manual;
pub mod mapping;
pub mod notion;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod scan;
pub mod schema;
pub mod select;
pub mod spelling;
pub mod stop;
pub mod transport;
