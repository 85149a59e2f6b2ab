//! The `notion-bulk` binary: parse the command line, run, print any error once, exit with the
//! code SPEC §2 gives.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use notion_bulk::cli::{Cli, Command};
use notion_bulk::config::{ApplyConfig, PlanConfig, SchemaConfig};
use notion_bulk::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Plan(args) => PlanConfig::try_from(&**args)
            .map_err(anyhow::Error::from)
            .and_then(|config| {
                let stdout = io::stdout();
                let mut out = io::BufWriter::with_capacity(256 * 1024, stdout.lock());
                notion_bulk::cmd::plan::run(&config, &mut out, &mut io::stderr())
            }),
        Command::Apply(args) => ApplyConfig::try_from(&**args)
            .map_err(anyhow::Error::from)
            .and_then(|config| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(notion_bulk::cmd::apply::run(config, &mut io::stderr()))
            }),
        Command::Schema(args) => SchemaConfig::try_from(args)
            .map_err(anyhow::Error::from)
            .and_then(|config| {
                notion_bulk::cmd::schema::run(&config, &mut io::stdout().lock(), &mut io::stderr())
            }),
        Command::Export(args) => notion_bulk::config::ExportConfig::try_from(args)
            .map_err(anyhow::Error::from)
            .and_then(|config| {
                let stdout = io::stdout();
                let mut out = io::BufWriter::with_capacity(256 * 1024, stdout.lock());
                notion_bulk::cmd::export::run(&config, &mut out, &mut io::stderr())
            }),
        Command::Sandbox(args) => notion_sandbox::Options::try_from(args.clone())
            .map_err(anyhow::Error::from)
            .and_then(|options| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(notion_sandbox::run(options))?;
                Ok(Exit::Ok)
            }),
        Command::Completions(args) => {
            notion_bulk::cmd::manual::completions(args.shell, &mut io::stdout().lock())
                .map(|()| Exit::Ok)
                .map_err(anyhow::Error::from)
        }
        Command::Man(args) => {
            notion_bulk::cmd::manual::man(args.subcommand.as_deref(), &mut io::stdout().lock())
                .map(|()| Exit::Ok)
                .map_err(anyhow::Error::from)
        }
    };
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: {e:#}");
            ExitCode::from(Exit::Usage.code())
        }
    }
}

/// `notion-bulk plan big.csv | head` should end quietly.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
