//! The sandbox from the command line, with the same flags as `notion-bulk sandbox`:
//! `cargo run --release --example sandbox -- --port 0 --seed jobs/demo-seed.json`.
//! Used by the wrk benchmark in BENCHMARKS.md.

use clap::Parser;
use notion_bulk::sandbox::{self, Options, SandboxArgs};
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "A local Notion-compatible server")]
struct Cli {
    #[command(flatten)]
    args: SandboxArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match Options::try_from(cli.args) {
        Ok(opts) => sandbox::run(opts).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
