//! The manual: shell completion scripts (clap_complete) and man pages (clap_mangen), made from
//! the same clap definition as `--help`, so that neither can drift from the flags the tool
//! really takes. The man pages add the exit code table of [`crate::exit`] as EXIT STATUS.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;
use roff::{bold, roman, Roff};

use crate::cli::Cli;
use crate::exit::Exit;

/// The binary's name, as completion scripts and man pages call it.
const BIN: &str = "notion-bulk";

/// A man page that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ManError {
    #[error("there is no subcommand `{name}`{hint}; the pages are: {known}")]
    UnknownSubcommand {
        name: String,
        hint: String,
        known: String,
    },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Write the completion script for `shell`.
pub fn completions(shell: Shell, out: &mut dyn Write) -> io::Result<()> {
    let mut command = Cli::command();
    // clap_complete panics on a failed write; made in memory, a closed pipe is an error instead.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut script);
    out.write_all(&script)?;
    out.flush()
}

/// Write the man page `notion-bulk(1)`, or `notion-bulk-SUBCOMMAND(1)` for one subcommand.
pub fn man(subcommand: Option<&str>, out: &mut dyn Write) -> Result<(), ManError> {
    let mut command = Cli::command();
    command.build();
    let page = match subcommand {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                let names: Vec<&str> = command
                    .get_subcommands()
                    .map(clap::Command::get_name)
                    .collect();
                let hint = crate::spelling::closest(name, names.iter().copied())
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                return Err(ManError::UnknownSubcommand {
                    name: name.to_string(),
                    hint,
                    known: names.join(", "),
                });
            };
            sub.clone()
                .name(format!("{BIN}-{name}"))
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let has_subcommands = page.has_subcommands();
    let has_options = page.get_arguments().any(|a| !a.is_hide_set());
    let man = clap_mangen::Man::new(page);
    // The sections of Man::render, but for its "EXTRA" one: the exit codes that --help ends
    // with get a section of their own, as man pages have them.
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if has_options {
        man.render_options_section(out)?;
    }
    if has_subcommands {
        man.render_subcommands_section(out)?;
    }
    exit_status_section().to_writer(out)?;
    man.render_version_section(out)?;
    out.flush()?;
    Ok(())
}

/// EXIT STATUS: every code and what it means, then which wins when several apply.
fn exit_status_section() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for exit in Exit::ALL {
        roff.control("TP", []);
        roff.text([bold(exit.code().to_string())]);
        roff.text([roman(exit.meaning())]);
    }
    roff.control("PP", []);
    roff.text([roman(Exit::precedence_note())]);
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(subcommand: Option<&str>) -> String {
        let mut out = Vec::new();
        man(subcommand, &mut out).expect("a man page");
        String::from_utf8(out).expect("roff is text")
    }

    #[test]
    fn every_page_has_the_exit_status_section_once() {
        for sub in [None, Some("apply"), Some("plan"), Some("man")] {
            let text = page(sub);
            assert_eq!(text.matches(".SH \"EXIT STATUS\"").count(), 1, "{sub:?}");
            assert!(
                !text.contains("Exit codes:"),
                "{sub:?}: the --help table leaked in"
            );
        }
    }

    #[test]
    fn a_subcommand_page_is_named_after_it_and_lists_its_flags() {
        let text = page(Some("apply"));
        assert!(text.contains(".TH notion-bulk-apply 1"), "{text}");
        assert!(
            text.contains("max\\-runtime"),
            "apply's flags are on its page"
        );
    }

    #[test]
    fn an_unknown_subcommand_names_the_pages_and_the_closest() {
        let err = man(Some("aply"), &mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("did you mean `apply`"), "{err}");
        assert!(err.contains("plan, apply, schema"), "{err}");
    }
}
