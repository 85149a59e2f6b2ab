//! The one integration-test binary of the tool. Each module drives the real binary against the
//! real sandbox (the `notion-sandbox` crate, whose own tests live in `crates/sandbox/tests`) in a
//! fresh temporary folder.

// Issue 21, point 3: the 2026 API changes.
mod api_2026;
// `apply` against the sandbox: faults, order, refusals, progress.
mod apply;
// --backup across an interrupted run, then undo.
mod backup;
// Issue 11: export, and applying it back.
mod export;
// Spreadsheet exports: encodings, decimal commas, --columns.
mod input_formats;
// Issue 19: each file imports only from its own floor or below.
mod layering;
// Issue 12: rows matched by a key, batched lookups, created pages.
mod matching;
// Issue 21, point 2: mirror mode (--missing-pages, --max-missing).
mod mirror;
// Issue 9: shell completions and man pages.
mod manual;
// Issue 20: items added to and removed from multi-valued properties.
mod edits;
// Issue 20: missing options added on purpose (--add-missing-options).
mod options;
// Issue 20: relation cells by key, --create-missing-related.
mod relations;
// Issue 10: native JSONL lines checked like CSV cells and headers.
mod native;
// `plan`: bodies, bad rows, header errors.
mod plan;
// Issue 13: preconditions (if: columns, [expect], --recheck).
mod preconditions;
// Issue 18, point 10: the schema and users reads retried like every other request.
mod reads;
// Kill, signal, deadline and lock, then resume.
mod resume;
// Issue 11: the scan (--data-source), changes only, equality rules.
mod scan;
// Issue 10: the revised resume rules, failed-out reduced the same way.
mod resume_rules;
// Issue 6: schema-aware mapping, the schema command, constants, example jobs.
mod schema;
// Issue 13: edits selected by a filter (--where, --set, --max-rows), kill and resume.
mod selection;
// Issue 10: the bar on an 80-column pseudo-terminal.
mod terminal;
// Issue 14: one budget for several processes, through a real redis-server.
#[cfg(feature = "shared-limiter")]
mod shared_limiter;
// Issue 21: files copied into Notion (File Upload API).
mod uploads;
// Running the binary, reading reports.
mod util;
