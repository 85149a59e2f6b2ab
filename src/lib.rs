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

// The modules by floor, from the ground up, in the order a row travels (rustfmt.toml keeps
// this order). Each imports only from its own floor or below (tests/layering.rs, and the
// floors in docs/ARCHITECTURE.md). Each module's own `//!` lines are its documentation.

// The ground: exit codes; the Notion API (ids, versions, property types, the schema, the
// client, page reads) and "did you mean", from the crate crates/notion, which the compiler
// keeps from importing anything of the tool; the run's stop flag.
pub mod exit;
pub use notion_api as notion;
pub use notion_api::spelling;
pub mod stop;
// The readers: CSV and JSONL rows streamed one at a time.
pub mod source;
// A row to a validated PATCH body (and, for `--match-on`, its key).
pub mod mapping;
// How a row ends, and its report line.
pub mod outcome;
// How every request goes out: the limiter, the Redis budget, retries, the reads.
pub mod transport;
// Reading a data source before any row (the scan, key lookups, the schema's reads); `--where`
// clauses; edits selected by a filter (the pages as rows).
pub mod scan;
pub mod filter;
pub mod select;
// Mirror mode: pages whose key no input row has (--missing-pages).
pub mod mirror;
// The per-row decisions between the mapper and the dispatcher.
pub mod gate;
// Sending the rows (lanes per page, workers, creates); `--backup` and `undo`.
pub mod dispatch;
pub mod backup;
// The one consumer: the report, `--failed-out`, progress, summary.
pub mod report;
// The validated settings: the command line merged over the job file.
pub mod config;
// The command line (clap).
pub mod cli;
// The verbs: apply, plan, export, schema, completions and man.
pub mod cmd;
