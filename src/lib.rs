//! notion-bulk applies many Notion page updates (`PATCH /v1/pages/{id}`) from a CSV or JSONL
//! file, as fast as the integration's rate limit allows, and records exactly one outcome per
//! input row.
//!
//! ```text
//! reader (source: CSV / JSONL, or a filter's pages: select)  ->  mapper (mapping: row -> validated PATCH body)
//!   ->  gates (gate: template rows last; preconditions; with a data source, the scan's index -> only the changes; --resume)
//!   ->  dispatcher (rate limiter + worker pool + retry, per-page order)
//!   ->  reporter (report: one outcome per row: report file, progress, summary)
//! ```
//!
//! `plan` runs the first stages (with a data source, after a scan); `export` writes a scan's
//! pages as re-appliable rows; `schema` reads a data source's schema for them. See `docs/ARCHITECTURE.md`.

// The ground: nothing of the tool below them but each other.
/// Exit codes and their precedence.
pub mod exit;
/// The Notion API: ids, versions, property types, the schema, the client, page reads.
pub mod notion;
/// "Did you mean" suggestions.
pub mod spelling;
/// The run's stop flag, and why it was set.
pub mod stop;
// The pipeline, in the order a row travels; each imports only what is listed before it
// (tests/layering.rs).
/// `--backup`: the values a row changes, saved before it is sent; `undo`.
pub mod backup;
/// The command line (clap).
pub mod cli;
/// The verbs: apply, plan, export, schema, completions and man.
pub mod cmd;
/// The validated settings: the command line merged over the job file.
pub mod config;
/// Sending the rows: lanes per page, workers, creates.
pub mod dispatch;
/// `--where` clauses.
pub mod filter;
/// The per-row decisions between the mapper and the dispatcher.
pub mod gate;
/// A row to a validated PATCH body (and, for `--match-on`, its key).
pub mod mapping;
/// How a row ends, and its report line.
pub mod outcome;
/// The one consumer: the report, `--failed-out`, progress, summary.
pub mod report;
/// Reading a data source before any row: the scan, the key lookups, the schema's reads.
pub mod scan;
/// Edits selected by a filter: the pages as rows.
pub mod select;
/// The readers: CSV and JSONL rows streamed one at a time.
pub mod source;
/// How every request goes out: the limiter, the Redis budget, retries, the reads.
pub mod transport;
