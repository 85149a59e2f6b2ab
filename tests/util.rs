//! Running the real binary in a fresh temporary folder, and reading back what it wrote.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde::Deserialize;

/// A fresh folder for one test, with the binary ready to run in it.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

/// What a run printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// One report line, read back strictly: an unknown or missing field fails the test.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportLine {
    pub row: u64,
    pub page_id: Option<String>,
    pub outcome: String,
    pub http_status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub attempts: u32,
    pub duration_ms: u64,
    pub request_id: Option<String>,
    pub body_hash: Option<String>,
    pub action: Option<String>,
    pub key: Option<String>,
    pub row_hash: Option<String>,
}

impl Default for Dir {
    fn default() -> Dir {
        Dir::new()
    }
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("writing a fixture");
        path
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_notion-bulk"));
        cmd.args(args)
            .current_dir(self.tmp.path())
            .env_remove("NOTION_TOKEN");
        cmd
    }

    /// Runs the binary to the end.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, b"")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out: Output = child.wait_with_output().expect("the binary ends");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    pub fn report(&self, name: &str) -> Vec<ReportLine> {
        read_report(&self.path(name))
    }
}

pub fn read_report(path: &Path) -> Vec<ReportLine> {
    let text = std::fs::read_to_string(path).expect("the report exists");
    if path.extension().is_some_and(|e| e == "csv") {
        csv::Reader::from_reader(text.as_bytes())
            .deserialize()
            .map(|r| r.expect("a well-formed CSV report line"))
            .collect()
    } else {
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a well-formed JSONL report line"))
            .collect()
    }
}

/// Runs the binary to the end against a sandbox serving in this test's runtime: `args`, then
/// `--api-base BASE_URL`, with `token` in NOTION_TOKEN. Async, so the sandbox keeps serving.
pub async fn run_against(dir: &Dir, base_url: &str, token: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_notion-bulk"))
        .args(args)
        .args(["--api-base", base_url])
        .env("NOTION_TOKEN", token)
        .current_dir(dir.tmp.path())
        .output()
        .await
        .expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// [`run_against`] with `stdin` as the binary's standard input.
pub async fn run_against_with_stdin(
    dir: &Dir,
    base_url: &str,
    token: &str,
    args: &[&str],
    stdin: &[u8],
) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_notion-bulk"))
        .args(args)
        .args(["--api-base", base_url])
        .env("NOTION_TOKEN", token)
        .current_dir(dir.tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin).await.expect("writing stdin");
    drop(input);
    let out = child.wait_with_output().await.expect("the binary ends");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// The path of a file in the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The bodies `plan` printed on stdout, by row.
pub fn plan_bodies(stdout: &str) -> Vec<(u64, serde_json::Value)> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("plan prints JSON lines");
            (v["row"].as_u64().unwrap(), v["body"].clone())
        })
        .collect()
}

/// The JSON lines a command printed on stdout (`plan`).
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Starts the binary against a sandbox: `args`, then `--api-base BASE_URL`, with `token` in
/// NOTION_TOKEN; its output is captured, and it is killed if the test drops it.
pub fn spawn_against(
    dir: &Dir,
    base_url: &str,
    token: &str,
    args: &[&str],
) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_notion-bulk"))
        .args(args)
        .args(["--api-base", base_url])
        .env("NOTION_TOKEN", token)
        .current_dir(dir.tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts")
}

/// Applies an example job of jobs/ as shipped, with `--sandbox` (the sandbox it names); it must
/// exit 0. Its report.
pub fn apply_example_job(job: &str) -> Vec<ReportLine> {
    let dir = Dir::new();
    let path = repo_path(job);
    let out = dir.run(&[
        "apply",
        path.to_str().unwrap(),
        "--sandbox",
        "--report",
        "report.jsonl",
        "--progress",
        "none",
    ]);
    assert_eq!(out.code, 0, "{job}: {}", out.stderr);
    dir.report("report.jsonl")
}
