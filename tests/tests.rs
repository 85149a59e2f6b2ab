//! The one integration-test binary. Each module drives the real binary (or the real sandbox)
//! in a fresh temporary folder.

mod apply; // `apply` against the sandbox: faults, order, refusals, progress
mod backup; // --backup across an interrupted run, then undo
mod native; // issue 10: native JSONL lines checked like CSV cells and headers
mod plan; // `plan`: bodies, bad rows, header errors
mod resume; // kill, signal, deadline and lock, then resume
mod resume_rules; // issue 10: the revised resume rules, failed-out reduced the same way
mod sandbox; // the sandbox over real HTTP: every check and fault
mod schema; // issue 6: schema-aware mapping, the schema command, constants, example jobs
mod terminal; // issue 10: the bar on an 80-column pseudo-terminal
mod util; // running the binary, reading reports
