//! Issue 10: on a terminal of 80 columns (a pseudo-terminal made by util-linux `script`), a
//! 429 pause and a signal during the bar leave no line wider than 80 columns and no bar line
//! torn by a message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use notion_sandbox::{self as sandbox, Options, Seed};
use tokio::io::AsyncReadExt;

use crate::util::Dir;

const TOKEN: &str = "secret_terminal_test";

/// What the terminal shows, line by line: escape sequences removed, and a line redrawn after
/// a carriage return counted as a new line (indicatif clears it before drawing).
fn screen_lines(raw: &str) -> Vec<String> {
    let mut text = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then one final letter.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() || c == '~' {
                        break;
                    }
                }
            }
            continue;
        }
        text.push(c);
    }
    text.split(['\n', '\r'])
        .map(str::to_owned)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_and_a_signal_on_an_80_column_terminal_stay_within_80_columns_untorn() {
    let pages = 30;
    let mut options = Options::new(Seed::generate(pages));
    options.token = Some(TOKEN.into());
    options.rate = Some(4.0);
    options.burst = Some(1);
    let handle = sandbox::start(options).await.unwrap();
    let dir = Dir::new();
    let mut csv = "page_id,Name:title\n".to_owned();
    for round in 0..3 {
        for p in 1..=pages {
            csv += &format!("{},row {round} of {p}\n", Seed::generated_page_id(p));
        }
    }
    dir.write("rows.csv", csv);
    let command = format!(
        "stty cols 80 rows 24; echo $$ > pid; exec {} apply rows.csv --report r.jsonl \
         --rate 40 --burst 5 --progress bar --api-base {}",
        env!("CARGO_BIN_EXE_notion-bulk"),
        handle.base_url()
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-q", "-e", "-f", "-c", &command, "/dev/null"])
        .env("NOTION_TOKEN", TOKEN)
        .env("TERM", "xterm")
        .current_dir(dir.tmp.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("util-linux script runs");
    let shown = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let shown = shown.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                shown
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    // Wait (bounded) until the bar shows a pause for a 429, then send SIGTERM.
    let mut paused = false;
    for _ in 0..3000 {
        if shown.lock().unwrap().contains("paused until") {
            paused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(paused, "no pause shown: {:?}", shown.lock().unwrap());
    assert!(handle.stats().rate_limited > 0);
    let pid = std::fs::read_to_string(dir.path("pid")).unwrap();
    assert!(std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", pid.trim())])
        .status()
        .unwrap()
        .success());
    let status = child.wait().await.unwrap();
    reader.await.unwrap();
    let raw = shown.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{raw:?}");
    let lines = screen_lines(&raw);
    assert!(
        lines.iter().any(|l| l.starts_with("signal received")),
        "{lines:#?}"
    );
    // The closing lines come after the bar is gone (and the command to continue must stay
    // one line to be copied): the width is checked up to them.
    let closing = lines
        .iter()
        .position(|l| l.starts_with("summary:"))
        .expect("a summary");
    for line in &lines[..closing] {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
    for line in &lines {
        // A message starts its own line, and a bar line starts with the elapsed time: a line
        // holding both, or either not at its start, is torn.
        for marker in ["signal received", "00:00:"] {
            if let Some(at) = line.find(marker) {
                assert_eq!(at, 0, "torn line: {line:?}\n{lines:#?}");
            }
        }
    }
}
