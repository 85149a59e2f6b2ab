//! Issue 9: `completions SHELL` and `man` print what shells and `man` read, made from the same
//! definition as `--help`.

use crate::util::Dir;
use clap::CommandFactory;
use notion_bulk::cli::Cli;
use notion_bulk::exit::Exit;

/// The subcommands the binary has, read from its own definition, so a new one is covered.
fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect()
}

#[test]
fn completions_for_bash_name_every_subcommand() {
    let names = subcommands();
    for expected in ["plan", "apply", "schema", "sandbox", "completions", "man"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let run = Dir::new().run(&["completions", "bash"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("complete -F _notion__bulk"),
        "{}",
        run.stdout
    );
    for name in &names {
        // bash's script has a case arm per subcommand: `notion__bulk,apply)`.
        let arm = format!("notion__bulk,{name})");
        assert!(run.stdout.contains(&arm), "no completion arm for {name}");
    }
    // apply's own flags complete too.
    assert!(run.stdout.contains("--max-runtime"));
}

#[test]
fn completions_exist_for_every_shell_and_an_unknown_shell_is_refused() {
    let dir = Dir::new();
    for (shell, marker) in [
        ("zsh", "#compdef notion-bulk"),
        ("fish", "complete -c notion-bulk"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[notion-bulk]"),
    ] {
        let run = dir.run(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("apply"), "{shell} names apply");
    }
    let run = dir.run(&["completions", "tcsh"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("possible values"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

/// `text` as roff writes it: a plain `-` is `\-`.
fn roff(text: &str) -> String {
    text.replace('-', "\\-")
}

#[test]
fn man_prints_a_page_with_the_exit_code_table() {
    let run = Dir::new().run(&["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let page = run.stdout;
    assert!(page.contains(".TH notion-bulk 1"), "{page}");
    for name in subcommands() {
        assert!(
            page.contains(&format!("notion\\-bulk\\-{}(1)", roff(&name))),
            "{name}"
        );
    }
    let table = &page[page
        .find(".SH \"EXIT STATUS\"")
        .expect("an EXIT STATUS section")..];
    for exit in Exit::ALL {
        let entry = format!(".TP\n\\fB{}\\fR\n{}\n", exit.code(), roff(exit.meaning()));
        assert!(
            table.contains(&entry),
            "no entry for {}: {table}",
            exit.code()
        );
    }
    assert!(table.contains("the first in the order 2, 3, 130, 4, 1, 0 wins"));
}

#[test]
fn man_for_a_subcommand_is_its_own_page_and_a_typo_is_refused_with_a_suggestion() {
    let dir = Dir::new();
    let run = dir.run(&["man", "apply"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(".TH notion-bulk-apply 1"));
    assert!(run.stdout.contains("\\-\\-resume"));
    assert!(run.stdout.contains(".SH \"EXIT STATUS\""));
    let run = dir.run(&["man", "aply"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did you mean `apply`"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}
