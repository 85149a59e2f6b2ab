//! The one integration-test binary of the tool. Each module drives the real binary against the
//! real sandbox (the `notion-sandbox` crate, whose own tests live in `crates/sandbox/tests`) in a
//! fresh temporary folder.

// `apply` against the sandbox: faults, order, refusals, progress.
mod apply;
// --backup across an interrupted run, then undo.
mod backup;
// Issue 11: export, and applying it back.
mod export;
// Issue 9: shell completions and man pages.
mod manual;
// `plan`: bodies, bad rows, header errors.
mod plan;
// Kill, signal, deadline and lock, then resume.
mod resume;
// Issue 11: the scan (--data-source), changes only, equality rules.
mod scan;
// Issue 6: schema-aware mapping, the schema command, constants, example jobs.
mod schema;
// Running the binary, reading reports.
mod util;
