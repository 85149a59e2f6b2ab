//! The one integration-test binary. Each module drives the real binary (or the real sandbox)
//! in a fresh temporary folder.

mod apply;
mod backup; // --backup across an interrupted run, then undo // `apply` against the sandbox: faults, order, refusals, progress
mod plan;
mod resume; // kill, signal, deadline and lock, then resume // `plan`: bodies, bad rows, header errors
mod sandbox; // the sandbox over real HTTP: every check and fault
mod schema; // issue 6: schema-aware mapping, the schema command, constants, example jobs
#[cfg(feature = "shared-limiter")]
mod shared_limiter; // issue 14: one budget for several processes, through a real redis-server
mod util; // running the binary, reading reports
