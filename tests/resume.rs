//! Runbook safety: a run killed at any point resumes without losing a row or resending one that
//! is already recorded ok; SIGTERM drains and says how to continue; the deadline stops cleanly;
//! one report has one writer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use notion_sandbox::{self as sandbox, Handle, Options, Seed};
use tokio::process::{Child, Command};

use crate::util::{read_report, Dir, ReportLine};

pub const TOKEN: &str = "secret_resume_test";
const HEADER: &str = "page_id,Name:title,Estimate:number,Tags:multi_select\n";

async fn start(pages: usize, faults: &str) -> Handle {
    let mut options = Options::new(Seed::generate(pages));
    options.token = Some(TOKEN.into());
    options.faults = faults.parse().unwrap();
    options.fault_seed = 11;
    options.latency = Some((1, 8));
    sandbox::start(options).await.unwrap()
}

/// `rows_per_page` rows for each of `pages` pages, every row with its own values.
fn rows(pages: usize, rows_per_page: usize) -> Vec<(String, String, i64, String)> {
    let mut out = Vec::new();
    for round in 0..rows_per_page {
        for p in 1..=pages {
            let i = out.len() as i64 + 1;
            out.push((
                Seed::generated_page_id(p),
                format!("row {i}"),
                i,
                format!("r{round};p{p}"),
            ));
        }
    }
    out
}

fn csv(rows: &[(String, String, i64, String)]) -> String {
    let mut text = HEADER.to_owned();
    for (page, name, n, tags) in rows {
        text += &format!("{page},{name},{n},{tags}\n");
    }
    text
}

pub fn spawn(dir: &Dir, handle: &Handle, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_notion-bulk"))
        .arg("apply")
        .args(args)
        .args(["--api-base", &handle.base_url(), "--progress", "none"])
        .env("NOTION_TOKEN", TOKEN)
        .current_dir(dir.tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Waits (bounded) until the report has at least `n` complete lines.
pub async fn until_report_has(dir: &Dir, name: &str, n: usize) {
    let path = dir.path(name);
    for _ in 0..3000 {
        let lines = std::fs::read_to_string(&path)
            .map(|t| t.matches('\n').count())
            .unwrap_or(0);
        if lines >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the report never reached {n} lines");
}

fn last_outcomes(lines: &[ReportLine]) -> BTreeMap<u64, &ReportLine> {
    lines.iter().map(|l| (l.row, l)).collect()
}

/// The final state of the sandbox is the fold of the input: each page holds its last row.
fn assert_folded(handle: &Handle, rows: &[(String, String, i64, String)]) {
    let mut expected: HashMap<&str, &(String, String, i64, String)> = HashMap::new();
    for r in rows {
        expected.insert(&r.0, r);
    }
    for (page, (_, name, n, _)) in expected {
        let p = handle.page(page).unwrap();
        let title: String = p["properties"]["Name"]["title"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["text"]["content"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(title, *name, "{page}");
        assert_eq!(
            p["properties"]["Estimate"]["number"].as_f64(),
            Some(*n as f64),
            "{page}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_several_points_then_resumed_nothing_is_lost_or_resent() {
    let pages = 40;
    let input = rows(pages, 5);
    let handle = start(
        pages,
        "conflict=0.03,e502=0.02,e504_applied=0.02,reset=0.01",
    )
    .await;
    let dir = Dir::new();
    dir.write("rows.csv", csv(&input));
    // Which row a body belongs to: every row's body is distinct.
    let mut row_of_body: HashMap<(String, String), u64> = HashMap::new();

    let args = [
        "rows.csv",
        "--report",
        "r.jsonl",
        "--rate",
        "150",
        "--burst",
        "10",
        "--concurrency",
        "8",
    ];
    let mut segments = Vec::new();
    for (kill_at, resume) in [(25, false), (80, true), (140, true), (usize::MAX, true)] {
        let before_lines = read_report_or_empty(&dir);
        let before_requests = handle.requests().len();
        let mut run_args = args.to_vec();
        if resume {
            run_args.push("--resume");
        }
        let mut child = spawn(&dir, &handle, &run_args);
        if kill_at == usize::MAX {
            let out = child.wait_with_output().await.unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            until_report_has(&dir, "r.jsonl", kill_at).await;
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
        segments.push((before_lines, before_requests, handle.requests().len()));
    }

    let report = read_report(&dir.path("r.jsonl"));
    for line in &report {
        if let (Some(page), Some(hash)) = (&line.page_id, &line.body_hash) {
            row_of_body.insert((page.clone(), hash.clone()), line.row);
        }
    }
    // Every row ends ok, exactly once as its last line.
    let last = last_outcomes(&report);
    assert_eq!(last.len(), input.len());
    assert!(
        last.values().all(|l| l.outcome == "ok"),
        "{:?}",
        last.values()
            .filter(|l| l.outcome != "ok")
            .collect::<Vec<_>>()
    );
    assert_folded(&handle, &input);

    // No row already recorded ok was sent again, except later rows of a page that had a row not
    // yet ok (those are re-run on purpose, in order).
    let log = handle.requests();
    for (before_lines, from, to) in segments.iter().skip(1) {
        let ok_before: HashSet<u64> = last_outcomes(before_lines)
            .values()
            .filter(|l| l.outcome == "ok")
            .map(|l| l.row)
            .collect();
        let mut sent_rows: Vec<u64> = Vec::new();
        for request in &log[*from..*to] {
            let (Some(page), Some(hash)) = (&request.page_id, &request.body_sha256) else {
                continue;
            };
            let row = *row_of_body
                .get(&(page.clone(), hash.clone()))
                .expect("every body sent is a row's");
            sent_rows.push(row);
        }
        for row in sent_rows.iter().filter(|r| ok_before.contains(r)) {
            let page = &input[*row as usize - 1].0;
            let earlier_not_ok = input[..*row as usize - 1]
                .iter()
                .enumerate()
                .any(|(i, r)| &r.0 == page && !ok_before.contains(&(i as u64 + 1)));
            assert!(
                earlier_not_ok,
                "row {row} was ok before this run and sent again without cause"
            );
        }
    }
}

fn read_report_or_empty(dir: &Dir) -> Vec<ReportLine> {
    if dir.path("r.jsonl").exists() {
        // A killed run may leave half a line at the end: only whole lines count.
        let text = std::fs::read_to_string(dir.path("r.jsonl")).unwrap();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    } else {
        Vec::new()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_exits_130_and_the_printed_command_finishes_the_job() {
    let pages = 30;
    let input = rows(pages, 4);
    let handle = start(pages, "").await;
    let dir = Dir::new();
    dir.write("rows.csv", csv(&input));
    let child = spawn(
        &dir,
        &handle,
        &[
            "rows.csv", "--report", "r.jsonl", "--rate", "30", "--burst", "1",
        ],
    );
    until_report_has(&dir, "r.jsonl", 10).await;
    let pid = child.id().unwrap().to_string();
    // The shell's own `kill`: no procps needed on the machine.
    assert!(std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped early: interrupted"), "{stderr}");

    // The report is consistent: whole lines, each row at most once, all ok.
    let report = read_report(&dir.path("r.jsonl"));
    let rows_seen: HashSet<u64> = report.iter().map(|l| l.row).collect();
    assert_eq!(rows_seen.len(), report.len());
    assert!(report.len() < input.len(), "stopped before the end");
    assert!(report.iter().all(|l| l.outcome == "ok"));

    // The last lines give the command to continue; run it as printed.
    let command = printed_continue_command(&stderr);
    assert!(
        command.starts_with("notion-bulk apply rows.csv") && command.contains("--resume"),
        "{command}"
    );
    let status = run_printed(&dir, &command, TOKEN).await;
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("already ok or skipped in an earlier run")
    );
    let last = last_outcomes(&read_report(&dir.path("r.jsonl"))).len();
    assert_eq!(last, input.len());
    assert_folded(&handle, &input);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_stops_taking_rows_exits_4_and_resume_finishes() {
    let pages = 60;
    let input = rows(pages, 2);
    let handle = start(pages, "").await;
    let dir = Dir::new();
    dir.write("rows.csv", csv(&input));
    let args = [
        "rows.csv", "--report", "r.jsonl", "--rate", "40", "--burst", "1",
    ];
    let mut first: Vec<&str> = args.to_vec();
    first.extend(["--max-runtime", "1s"]);
    let out = spawn(&dir, &handle, &first)
        .wait_with_output()
        .await
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("--max-runtime reached"), "{stderr}");
    let done = read_report(&dir.path("r.jsonl")).len();
    assert!(done > 0 && done < input.len(), "{done}");

    let mut again: Vec<&str> = args.to_vec();
    again.push("--resume");
    let out = spawn(&dir, &handle, &again)
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        last_outcomes(&read_report(&dir.path("r.jsonl"))).len(),
        input.len()
    );
    // Nothing was sent twice: no faults, so one PATCH per row.
    assert_eq!(
        handle.stats().by_status.get(&200),
        Some(&(input.len() as u64))
    );
    assert_folded(&handle, &input);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_report_one_writer_and_a_killed_writer_leaves_no_stale_lock() {
    let pages = 20;
    let input = rows(pages, 3);
    let handle = start(pages, "").await;
    let dir = Dir::new();
    dir.write("rows.csv", csv(&input));
    let args = [
        "rows.csv", "--report", "r.jsonl", "--rate", "5", "--burst", "1",
    ];
    let mut first = spawn(&dir, &handle, &args);
    until_report_has(&dir, "r.jsonl", 1).await;
    let pid = first.id().unwrap();

    let mut second_args = args.to_vec();
    second_args.push("--resume");
    let out = spawn(&dir, &handle, &second_args)
        .wait_with_output()
        .await
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("another run (pid {pid}) is writing the report")),
        "{stderr}"
    );

    first.start_kill().unwrap();
    first.wait().await.unwrap();
    assert!(
        dir.path("r.jsonl.lock").exists(),
        "the killed run's lock file is left behind"
    );
    let fast = [
        "rows.csv", "--report", "r.jsonl", "--rate", "200", "--resume",
    ];
    let out = spawn(&dir, &handle, &fast)
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_folded(&handle, &input);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_row_is_final_on_resume_and_goes_to_failed_out_without_what_later_rows_set() {
    let handle = start(3, "").await;
    let dir = Dir::new();
    let page = Seed::generated_page_id(1);
    let other = Seed::generated_page_id(2);
    // Row 1 is invalid (a bad number); row 3, of the same page, is ok and sets Name and
    // Estimate since.
    dir.write(
        "rows.csv",
        format!("{HEADER}{page},older,abc,x\n{other},other,5,y\n{page},newer,2,\n"),
    );
    let args = ["rows.csv", "--report", "r.jsonl", "--rate", "100"];
    let out = spawn(&dir, &handle, &args)
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // The operator resumes: nothing is sent (rows 2 and 3 are ok, row 1 is final: sending it
    // could only fail again), the run still says a row did not end ok, and --failed-out holds
    // row 1 with only the cell no later row set.
    let mut resumed = args.to_vec();
    resumed.extend(["--resume", "--failed-out", "again.csv"]);
    let before = handle.requests().len();
    let out = spawn(&dir, &handle, &resumed)
        .wait_with_output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 rows refused by Notion or invalid in an earlier run are final"),
        "{stderr}"
    );
    assert_eq!(handle.requests().len(), before, "nothing sent");
    assert_eq!(
        std::fs::read_to_string(dir.path("again.csv")).unwrap(),
        format!("{HEADER}{page},,,x\n")
    );
    let p = handle.page(&page).unwrap();
    assert_eq!(p["properties"]["Estimate"]["number"].as_f64(), Some(2.0));
    let last = last_outcomes(&read_report(&dir.path("r.jsonl")))
        .values()
        .map(|l| l.outcome.clone())
        .collect::<Vec<_>>();
    assert_eq!(last, ["invalid", "ok", "ok"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once_while_a_request_hangs() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut options = Options::new(Seed::generate(3));
    options.token = Some(TOKEN.into());
    options.faults = "stall=1.0".parse().unwrap();
    options.stall = Duration::from_secs(120);
    let handle = sandbox::start(options).await.unwrap();
    let dir = Dir::new();
    dir.write("rows.csv", csv(&rows(3, 1)));
    let mut child = spawn(
        &dir,
        &handle,
        &["rows.csv", "--report", "r.jsonl", "--timeout", "300"],
    );
    let pid = child.id().unwrap();
    // Wait (bounded) until the first request hangs in the sandbox.
    for _ in 0..3000 {
        if handle.stats().max_in_flight >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let term = || {
        std::process::Command::new("sh")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status()
            .unwrap()
    };
    assert!(term().success());
    // The first signal drains: the run says so and waits for the hanging request.
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Some(line) = stderr.next_line().await.unwrap() {
        let draining = line.contains("finishing the requests in flight");
        seen.push(line);
        if draining {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("send it again to stop at once")),
        "{seen:?}"
    );
    // The second ends the process now, not when the request gives up.
    assert!(term().success());
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(130));
    let rest: Vec<String> = {
        let mut rest = Vec::new();
        while let Some(line) = stderr.next_line().await.unwrap() {
            rest.push(line);
        }
        rest
    };
    assert!(rest.iter().any(|l| l.contains("second signal")), "{rest:?}");
    // The report is still whole: the hanging row has no line, so --resume sends it.
    let text = std::fs::read_to_string(dir.path("r.jsonl")).unwrap_or_default();
    assert!(text.is_empty() || text.ends_with('\n'));
    assert!(read_report(&dir.path("r.jsonl")).iter().all(|l| l.row != 1));
}

/// The command a run printed to continue (the line after "to continue …"), as printed.
pub fn printed_continue_command(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("to continue"))
        .unwrap_or_else(|| panic!("no continue line in: {stderr}"));
    lines
        .get(i + 1)
        .unwrap_or_else(|| panic!("no command after the continue line: {stderr}"))
        .trim()
        .to_owned()
}

/// Runs a command line the tool printed (`notion-bulk …`) in a shell, as an operator would,
/// with the token in NOTION_TOKEN.
pub async fn run_printed(dir: &Dir, command: &str, token: &str) -> std::process::Output {
    assert!(command.starts_with("notion-bulk "), "{command}");
    let command = command.replacen("notion-bulk", env!("CARGO_BIN_EXE_notion-bulk"), 1);
    Command::new("sh")
        .args(["-c", &command])
        .env("NOTION_TOKEN", token)
        .current_dir(dir.tmp.path())
        .output()
        .await
        .unwrap()
}

/// The rows a run said have no line in the report: "… (rows 3, 4): --resume sends them again".
fn rows_without_a_line(stderr: &str) -> HashSet<u64> {
    let Some(line) = stderr
        .lines()
        .find(|l| l.contains("have no line in the report"))
    else {
        return HashSet::new();
    };
    let list = line
        .split_once("(rows ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .unwrap_or_else(|| panic!("no row list in {line:?}"))
        .0;
    list.split(", ").map(|n| n.parse().unwrap()).collect()
}

/// The rows whose PATCHes `requests` holds, known by their bodies (every row's is distinct).
fn rows_sent(requests: &[notion_sandbox::RequestRecord], report: &[ReportLine]) -> Vec<u64> {
    let row_of_body: HashMap<(&str, &str), u64> = report
        .iter()
        .filter_map(|l| Some(((l.page_id.as_deref()?, l.body_hash.as_deref()?), l.row)))
        .collect();
    requests
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| {
            let key = (
                r.page_id.as_deref().unwrap(),
                r.body_sha256.as_deref().unwrap(),
            );
            *row_of_body.get(&key).expect("every body sent is a row's")
        })
        .collect()
}

/// What every run that stopped on a file it could not write must show: no panic, exit 3 (rows
/// were sent: not the "before any write" 2), the file and the OS error named, and the command
/// to continue.
fn stopped_on_a_write_failure(out: &std::process::Output, file: &str, os_error: &str) -> String {
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write {file}: {os_error}")),
        "{stderr}"
    );
    assert!(stderr.contains("stopped early"), "{stderr}");
    assert!(printed_continue_command(&stderr).contains("--resume"));
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_a_report_on_a_full_device_stops_cleanly_and_resume_finishes() {
    // The report is /dev/full: every write of it fails with ENOSPC, as on a full disk.
    let pages = 20;
    let input = rows(pages, 2);
    let handle = start(pages, "").await;
    let dir = Dir::new();
    dir.write("rows.csv", csv(&input));
    std::os::unix::fs::symlink("/dev/full", dir.path("r.jsonl")).unwrap();
    let args = ["rows.csv", "--report", "r.jsonl", "--rate", "50"];
    let out = spawn(&dir, &handle, &args)
        .wait_with_output()
        .await
        .unwrap();
    let stderr = stopped_on_a_write_failure(
        &out,
        "the report r.jsonl",
        "No space left on device (os error 28)",
    );
    // It stopped taking rows at once: only rows already in flight were sent, and the run names
    // each of them, since the report could not.
    let first_run = handle.requests();
    let unrecorded = rows_without_a_line(&stderr);
    let sent_first = first_run.iter().filter(|r| r.method == "PATCH").count();
    assert!(sent_first >= 1 && sent_first < input.len() / 2, "{stderr}");
    assert_eq!(unrecorded.len(), sent_first, "{stderr}");

    // Space is back: the report is what the device kept (nothing), and the printed command
    // finishes the run.
    std::fs::remove_file(dir.path("r.jsonl")).unwrap();
    dir.write("r.jsonl", "");
    let out = run_printed(&dir, &printed_continue_command(&stderr), TOKEN).await;
    let resumed = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{resumed}");
    let report = read_report(&dir.path("r.jsonl"));
    assert_eq!(report.len(), input.len(), "one line per row");
    assert!(report.iter().all(|l| l.outcome == "ok"));
    let mut first_rows = rows_sent(&first_run, &report);
    first_rows.sort_unstable();
    assert_eq!(
        first_rows.into_iter().collect::<HashSet<_>>(),
        unrecorded,
        "the rows named are those sent"
    );
    assert_folded(&handle, &input);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_a_report_that_cannot_grow_mid_run_stops_cleanly_and_resume_sends_no_ok_row_again()
{
    // A real file on a real filesystem that cannot grow past 4 KiB (RLIMIT_FSIZE, `ulimit -f`,
    // with SIGXFSZ ignored: the write fails with EFBIG, as a full disk fails with ENOSPC, after
    // writing what fits). About a dozen lines fit, then half a line.
    let pages = 30;
    let input = rows(pages, 2);
    let handle = start(pages, "").await;
    let dir = Dir::new();
    dir.write("rows.csv", csv(&input));
    let out = Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 8; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_notion-bulk"))
        .args(["apply", "rows.csv", "--report", "r.jsonl", "--rate", "100"])
        .args(["--concurrency", "4", "--progress", "none"])
        .args(["--api-base", &handle.base_url()])
        .env("NOTION_TOKEN", TOKEN)
        .current_dir(dir.tmp.path())
        .output()
        .await
        .unwrap();
    let stderr =
        stopped_on_a_write_failure(&out, "the report r.jsonl", "File too large (os error 27)");
    // The report holds whole lines only (the half line was taken back), each row once, all ok.
    let text = std::fs::read_to_string(dir.path("r.jsonl")).unwrap();
    assert!(text.ends_with('\n'), "{text}");
    let first_lines = read_report(&dir.path("r.jsonl"));
    let recorded: HashSet<u64> = first_lines.iter().map(|l| l.row).collect();
    assert_eq!(recorded.len(), first_lines.len());
    assert!(first_lines.iter().all(|l| l.outcome == "ok"));
    assert!(
        !recorded.is_empty() && recorded.len() < input.len() / 2,
        "{} lines",
        recorded.len()
    );
    let unrecorded = rows_without_a_line(&stderr);
    assert!(!unrecorded.is_empty(), "{stderr}");
    assert!(unrecorded.is_disjoint(&recorded));
    let first_run = handle.requests();

    // The limit is gone (space freed): the printed command finishes the run.
    let out = run_printed(&dir, &printed_continue_command(&stderr), TOKEN).await;
    let resumed = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{resumed}");
    let report = read_report(&dir.path("r.jsonl"));
    assert_eq!(report.len(), input.len(), "one line per row: {resumed}");
    assert_eq!(last_outcomes(&report).len(), input.len());
    assert!(report.iter().all(|l| l.outcome == "ok"));
    // The first run sent exactly the rows it recorded and the rows it named; the second sent
    // every row but those recorded ok: none of those was sent again.
    let first_sent: HashSet<u64> = rows_sent(&first_run, &report).into_iter().collect();
    assert_eq!(
        first_sent,
        recorded.union(&unrecorded).copied().collect::<HashSet<_>>()
    );
    let second_sent = rows_sent(&handle.requests()[first_run.len()..], &report);
    let expected: HashSet<u64> = (1..=input.len() as u64)
        .filter(|r| !recorded.contains(r))
        .collect();
    assert_eq!(second_sent.len(), expected.len(), "a row sent twice");
    assert_eq!(second_sent.into_iter().collect::<HashSet<_>>(), expected);
    assert_folded(&handle, &input);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_a_backup_on_a_full_device_stops_before_any_row_is_sent_and_resume_finishes() {
    let pages = 10;
    let input = rows(pages, 1);
    let handle = start(pages, "").await;
    let dir = Dir::new();
    dir.write("rows.csv", csv(&input));
    std::os::unix::fs::symlink("/dev/full", dir.path("b.jsonl")).unwrap();
    let args = [
        "rows.csv", "--report", "r.jsonl", "--backup", "b.jsonl", "--rate", "50",
    ];
    let out = spawn(&dir, &handle, &args)
        .wait_with_output()
        .await
        .unwrap();
    let stderr = stopped_on_a_write_failure(
        &out,
        "the backup b.jsonl",
        "No space left on device (os error 28)",
    );
    // A row is sent only once its backup is written: none was.
    assert!(
        handle.requests().iter().all(|r| r.method != "PATCH"),
        "{stderr}"
    );
    let first = read_report(&dir.path("r.jsonl"));
    assert!(!first.is_empty() && first.len() < input.len(), "{stderr}");
    assert!(first.iter().all(|l| l.outcome == "failed"), "{first:?}");

    std::fs::remove_file(dir.path("b.jsonl")).unwrap();
    dir.write("b.jsonl", "");
    let out = run_printed(&dir, &printed_continue_command(&stderr), TOKEN).await;
    let resumed = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{resumed}");
    let last = last_outcomes(&read_report(&dir.path("r.jsonl")))
        .into_values()
        .filter(|l| l.outcome == "ok")
        .count();
    assert_eq!(last, input.len());
    let patches = handle
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, input.len(), "one PATCH per row");
    let backup = std::fs::read_to_string(dir.path("b.jsonl")).unwrap();
    assert_eq!(backup.lines().count(), pages, "{backup}");
    assert_folded(&handle, &input);
}
