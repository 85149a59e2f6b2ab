//! Issue 10, SPEC §6 as revised: a row recorded ok is never sent again, and an older value never
//! lands after a newer one. Refused rows stay refused; rows sent again go without the fields a
//! later ok row of their page set; `--failed-out` is reduced the same way.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use notion_sandbox::{self as sandbox, body_sha256, FaultKind, FaultSpec, Handle, Options, Seed};
use serde_json::{json, Value};
use tokio::process::Command;

use crate::util::{read_report, Dir, ReportLine};

const TOKEN: &str = "secret_resume_rules";

async fn start(pages: usize, faults: &str, fault_seed: u64) -> Handle {
    let mut options = Options::new(Seed::generate(pages));
    options.token = Some(TOKEN.into());
    options.faults = faults.parse().unwrap();
    options.fault_seed = fault_seed;
    options.latency = Some((1, 6));
    sandbox::start(options).await.unwrap()
}

fn apply(dir: &Dir, handle: &Handle, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_notion-bulk"));
    cmd.arg("apply")
        .args(args)
        .args(["--api-base", &handle.base_url(), "--progress", "none"])
        .env("NOTION_TOKEN", TOKEN)
        .current_dir(dir.tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn run_to_end(dir: &Dir, handle: &Handle, args: &[&str]) -> (i32, String) {
    let out = apply(dir, handle, args).output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whole report lines so far (a killed run may leave half a line at the end).
fn lines_so_far(dir: &Dir, name: &str) -> Vec<ReportLine> {
    std::fs::read_to_string(dir.path(name))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn last_lines(lines: &[ReportLine]) -> BTreeMap<u64, &ReportLine> {
    lines.iter().map(|l| (l.row, l)).collect()
}

fn title(page: &Value, property: &str) -> String {
    page["properties"][property]["title"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"]["content"].as_str().unwrap())
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Trash,
    Edit,
    Restore,
    EditAgain,
}

/// Each page: trashed, edited (Notion refuses: the page is in the trash), restored, edited
/// again (the estimate only, so that the refused edit's name would show if it ever landed).
fn trash_rows(pages: usize) -> Vec<(usize, Kind)> {
    let mut rows = Vec::new();
    for kind in [Kind::Trash, Kind::Edit, Kind::Restore, Kind::EditAgain] {
        for p in 1..=pages {
            rows.push((p, kind));
        }
    }
    rows
}

fn trash_csv(rows: &[(usize, Kind)]) -> String {
    let mut csv = "page_id,Name:title,Estimate:number,@in_trash\n".to_owned();
    for (p, kind) in rows {
        let id = Seed::generated_page_id(*p);
        csv += &match kind {
            Kind::Trash => format!("{id},,,true\n"),
            Kind::Edit => format!("{id},edited {p},{},\n", 100 + p),
            Kind::Restore => format!("{id},,,false\n"),
            Kind::EditAgain => format!("{id},,{},\n", 200 + p),
        };
    }
    csv
}

/// A page's name, estimate and whether it is in the trash.
type PageState = (String, Option<f64>, bool);

/// The expected end: the input folded in order, as Notion applies it. An edit of a page in the
/// trash is refused and changes nothing. Gives each page's (name, estimate, in trash) and each
/// row's true outcome.
fn fold(rows: &[(usize, Kind)]) -> (BTreeMap<usize, PageState>, Vec<bool>) {
    let mut pages: BTreeMap<usize, PageState> = BTreeMap::new();
    let mut applied = Vec::new();
    for (p, kind) in rows {
        let page = pages
            .entry(*p)
            .or_insert_with(|| (format!("Task {p}"), None, false));
        let ok = match kind {
            Kind::Trash => {
                page.2 = true;
                true
            }
            Kind::Restore => {
                page.2 = false;
                true
            }
            Kind::Edit | Kind::EditAgain if page.2 => false,
            Kind::Edit => {
                page.0 = format!("edited {p}");
                page.1 = Some((100 + p) as f64);
                true
            }
            Kind::EditAgain => {
                page.1 = Some((200 + p) as f64);
                true
            }
        };
        applied.push(ok);
    }
    (pages, applied)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_edit_of_a_trashed_page_never_lands_and_no_ok_row_is_sent_again() {
    let pages = 24;
    let rows = trash_rows(pages);
    let (expected, applied) = fold(&rows);
    let handle = start(
        pages,
        "conflict=0.04,e502=0.02,e504_applied=0.04,reset=0.02",
        23,
    )
    .await;
    let dir = Dir::new();
    dir.write("rows.csv", trash_csv(&rows));
    let args = [
        "rows.csv",
        "--report",
        "r.jsonl",
        "--rate",
        "50",
        "--burst",
        "4",
        "--concurrency",
        "6",
    ];
    // Killed at several points (by report lines), then resumed until it finishes.
    let mut segments = Vec::new();
    for (i, kill_at) in [12, 35, 60, 80, usize::MAX].into_iter().enumerate() {
        let before = lines_so_far(&dir, "r.jsonl");
        let from = handle.requests().len();
        let mut run_args = args.to_vec();
        if i > 0 {
            run_args.push("--resume");
        }
        let mut child = apply(&dir, &handle, &run_args).spawn().unwrap();
        if kill_at == usize::MAX {
            let out = child.wait_with_output().await.unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "the refused edits: {stderr}");
        } else {
            for _ in 0..6000 {
                if lines_so_far(&dir, "r.jsonl").len() >= kill_at {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(
                matches!(child.try_wait(), Ok(None)),
                "the run ended before it could be killed at {kill_at} lines"
            );
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
        segments.push((before, from, handle.requests().len()));
    }

    // Every row's last line is its true outcome; the refused edits stay refused.
    let report = read_report(&dir.path("r.jsonl"));
    let last = last_lines(&report);
    assert_eq!(last.len(), rows.len());
    for (i, ok) in applied.iter().enumerate() {
        let line = last[&(i as u64 + 1)];
        if *ok {
            assert_eq!(line.outcome, "ok", "row {}: {line:?}", i + 1);
        } else {
            assert_eq!(
                (line.outcome.as_str(), line.http_status),
                ("failed", Some(400)),
                "row {}: {line:?}",
                i + 1
            );
        }
    }
    // The final state is the fold: the refused edit's name never landed.
    for (p, (name, estimate, in_trash)) in &expected {
        let page = handle.page(&Seed::generated_page_id(*p)).unwrap();
        assert_eq!(&title(&page, "Name"), name, "page {p}");
        assert_eq!(page["properties"]["Estimate"]["number"].as_f64(), *estimate);
        assert_eq!(page["in_trash"].as_bool(), Some(*in_trash), "page {p}");
    }
    // From the sandbox's log: no row recorded ok before a run was sent by that run, without
    // exception.
    let log = handle.requests();
    for (before, from, to) in segments.iter().skip(1) {
        let ok_bodies: HashSet<(String, String)> = last_lines(before)
            .values()
            .filter(|l| l.outcome == "ok")
            .map(|l| (l.page_id.clone().unwrap(), l.body_hash.clone().unwrap()))
            .collect();
        for request in &log[*from..*to] {
            if let (Some(page), Some(hash)) = (&request.page_id, &request.body_sha256) {
                assert!(
                    !ok_bodies.contains(&(page.clone(), hash.clone())),
                    "a row recorded ok was sent again: {request:?}"
                );
            }
        }
    }
    // A last resume sends nothing at all: every row is final.
    let from = handle.requests().len();
    let (code, stderr) = run_to_end(&dir, &handle, &[&args[..], &["--resume"]].concat()).await;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(handle.requests().len(), from, "{stderr}");
}

const HEADER: &str = "page_id,Name:title,Estimate:number\n";

/// Rows 1 and 3 fail after retryable errors (409s, then 503s) with two attempts each; rows 2
/// and 4, of the same pages, end ok: row 2 sets row 1's Estimate, row 4 every field of row 3.
fn superseding_input() -> String {
    let (p, q) = (Seed::generated_page_id(1), Seed::generated_page_id(2));
    format!("{HEADER}{p},p-old,1\n{p},,2\n{q},q-old,5\n{q},q-new,6\n")
}

/// A fault seed for which, one request at a time, the sandbox answers: 409, 409, ok (rows 1 and
/// 2), 503, 503, ok (rows 3 and 4), then ok (the one request a resume sends).
fn fault_seed(spec: &FaultSpec) -> u64 {
    let want = [
        Some(FaultKind::Conflict),
        Some(FaultKind::Conflict),
        None,
        Some(FaultKind::E503),
        Some(FaultKind::E503),
        None,
        None,
    ];
    (0..2_000_000u64)
        .find(|s| {
            want.iter()
                .enumerate()
                .all(|(n, w)| spec.pick(*s, n as u64) == *w)
        })
        .expect("a seed with this pattern")
}

fn state(handle: &Handle) -> Vec<(String, Option<f64>)> {
    (1..=2)
        .map(|i| {
            let page = handle.page(&Seed::generated_page_id(i)).unwrap();
            (
                title(&page, "Name"),
                page["properties"]["Estimate"]["number"].as_f64(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_failed_after_retries_are_sent_again_without_what_later_ok_rows_set() {
    let faults = "conflict=0.4,e503=0.4";
    let seed = fault_seed(&faults.parse().unwrap());
    let first = [
        "rows.csv",
        "--report",
        "r.jsonl",
        "--concurrency",
        "1",
        "--max-attempts",
        "2",
        "--rate",
        "100",
        "--failed-out",
        "again.csv",
    ];

    // The run and its resume.
    let handle = start(2, faults, seed).await;
    let dir = Dir::new();
    dir.write("rows.csv", superseding_input());
    let (code, stderr) = run_to_end(&dir, &handle, &first).await;
    assert_eq!(code, 1, "{stderr}");
    let first_lines = last_lines(&dir.report("r.jsonl"))
        .values()
        .map(|l| (l.outcome.clone(), l.http_status))
        .collect::<Vec<_>>();
    assert_eq!(
        first_lines,
        [
            ("failed".to_string(), Some(409)),
            ("ok".to_string(), Some(200)),
            ("unknown".to_string(), Some(503)),
            ("ok".to_string(), Some(200)),
        ]
    );
    let from = handle.requests().len();
    let resume = [
        "rows.csv", "--report", "r.jsonl", "--rate", "100", "--resume",
    ];
    let (code, stderr) = run_to_end(&dir, &handle, &resume).await;
    assert_eq!(code, 0, "{stderr}");
    // One request: row 1 with its Name only; row 3 had nothing left to send.
    let p = Seed::generated_page_id(1);
    let sent_body = json!({"properties": {"Name": {"title": [{"type": "text", "text": {"content": "p-old"}}]}}});
    let sent: Vec<(Option<String>, Option<String>)> = handle.requests()[from..]
        .iter()
        .map(|r| (r.page_id.clone(), r.body_sha256.clone()))
        .collect();
    assert_eq!(sent, [(Some(p.clone()), Some(body_sha256(&sent_body)))]);
    let report = dir.report("r.jsonl");
    let last = last_lines(&report);
    let row1 = last[&1];
    assert_eq!(row1.outcome, "ok");
    assert_eq!(row1.body_hash, Some(body_sha256(&sent_body)));
    let message = row1.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("sent again without \"Estimate\" (row 2)"),
        "{message}"
    );
    let row3 = last[&3];
    assert_eq!(
        (row3.outcome.as_str(), row3.code.as_deref(), row3.attempts),
        ("skipped", Some("superseded"), 0)
    );
    assert!(
        row3.message
            .as_deref()
            .is_some_and(|m| m.contains("\"Name\" (row 4), \"Estimate\" (row 4)")),
        "{row3:?}"
    );
    let resumed = state(&handle);
    assert_eq!(
        resumed,
        [
            ("p-old".to_string(), Some(2.0)),
            ("q-new".to_string(), Some(6.0))
        ]
    );

    // The same first run elsewhere, then its --failed-out applied as it is: the same end.
    assert_eq!(
        std::fs::read_to_string(dir.path("again.csv")).unwrap(),
        format!("{HEADER}{p},p-old,\n")
    );
    let other = start(2, faults, seed).await;
    let dir2 = Dir::new();
    dir2.write("rows.csv", superseding_input());
    let (code, stderr) = run_to_end(&dir2, &other, &first).await;
    assert_eq!(code, 1, "{stderr}");
    let again = [
        "again.csv",
        "--report",
        "again-report.jsonl",
        "--rate",
        "100",
    ];
    let (code, stderr) = run_to_end(&dir2, &other, &again).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(state(&other), resumed);
}

/// Issue 18, points 7 and 8: the report records each row's content, so `--resume` can tell the
/// rows it recorded from edited or moved ones. A row edited after it ended `skipped`, or rows
/// inserted above recorded ones, stop the resume before anything is sent, naming the row; the
/// input put back, the resume sends nothing and adds no line (a row recorded ok keeps its line,
/// even when the scan now finds its page unchanged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_refuses_an_edited_or_shifted_input_and_keeps_ok_rows_ok() {
    use crate::scan::{start, DATA_SOURCE, TOKEN};
    use crate::util::run_against;
    let handle = start(Seed::generate(10), |_| {}).await;
    let dir = Dir::new();
    let row = |i: usize, name: &str| format!("{},{name}\n", Seed::generated_page_id(i));
    // Row 4 gives page 4 the name it has: skipped, unchanged.
    let original: String = std::iter::once("page_id,Name\n".to_owned())
        .chain((1..=8).map(|i| match i {
            4 => row(4, "Task 4"),
            i => row(i, &format!("Renamed {i}")),
        }))
        .collect();
    dir.write("rows.csv", &original);
    let args = [
        "apply",
        "rows.csv",
        "--data-source",
        DATA_SOURCE,
        "--report",
        "r.jsonl",
        "--resume",
        "--progress",
        "log",
    ];
    let patches = || {
        handle
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count()
    };
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(patches(), 7);
    let first = read_report(&dir.path("r.jsonl"));
    assert_eq!(first.len(), 8);
    let row4 = first.iter().find(|l| l.row == 4).unwrap();
    assert_eq!(row4.code.as_deref(), Some("unchanged"), "{row4:?}");
    assert!(first.iter().all(|l| l.row_hash.is_some()), "{first:?}");

    let edited = original.replace("Task 4", "Edited 4");
    let inserted = format!(
        "page_id,Name\n{}{}{}",
        row(9, "New 9"),
        row(10, "New 10"),
        &original["page_id,Name\n".len()..]
    );
    for (input, named) in [(&edited, "row 4 (line 5)"), (&inserted, "row 1 (line 2)")] {
        dir.write("rows.csv", input);
        let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!(
                "--resume: {named} is not the row the report recorded for it"
            )) && out.stderr.contains("Put the input back as it was"),
            "{}",
            out.stderr
        );
        assert_eq!(patches(), 7, "nothing is sent for a changed input");
    }
    assert_eq!(
        handle.page(&Seed::generated_page_id(9)).unwrap()["properties"]["Name"]["title"][0]
            ["plain_text"],
        "Task 9"
    );

    // The input as it was: nothing to send, and every row keeps its one line.
    dir.write("rows.csv", &original);
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(patches(), 7);
    assert_eq!(read_report(&dir.path("r.jsonl")), first, "no second line");

    // The edited input as a new run: only the edited row is written.
    dir.write("rows.csv", &edited);
    let mut fresh = args.to_vec();
    fresh[5] = "r2.jsonl";
    let out = run_against(&dir, &handle.base_url(), TOKEN, &fresh).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(patches(), 8);
    let second = read_report(&dir.path("r2.jsonl"));
    assert_eq!(
        second.iter().filter(|l| l.outcome == "ok").count(),
        1,
        "{second:?}"
    );
}

/// A row that failed after retries is resumed without what a later row of its page, recorded
/// ok, set, even when the scan now finds that later row's page unchanged (it holds the later
/// value): the older value never lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_data_source_a_failed_row_never_lands_over_a_later_ok_row_of_its_page() {
    use crate::scan::{start, DATA_SOURCE, TOKEN};
    use crate::util::run_against;
    use notion_sandbox::FailFirst;
    let page = Seed::generated_page_id(1);
    let rule = FailFirst::new(
        "PATCH",
        &format!("/v1/pages/{page}"),
        &[FaultKind::Conflict, FaultKind::Conflict],
    );
    let handle = start(Seed::generate(3), |o| o.fail_first = vec![rule]).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!("page_id,Name\n{page},Older\n{page},Newer\n"),
    );
    let args = |resume: bool| {
        let mut args = vec![
            "apply",
            "rows.csv",
            "--data-source",
            DATA_SOURCE,
            "--report",
            "r.jsonl",
            "--max-attempts",
            "2",
            "--progress",
            "log",
        ];
        if resume {
            args.push("--resume");
        }
        args
    };
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args(false)).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let name = || {
        handle.page(&page).unwrap()["properties"]["Name"]["title"][0]["plain_text"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(name(), "Newer");
    let first = read_report(&dir.path("r.jsonl"));
    let outcomes: Vec<(u64, &str)> = first.iter().map(|l| (l.row, l.outcome.as_str())).collect();
    assert_eq!(outcomes, [(1, "failed"), (2, "ok")]);

    let patches = handle
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args(true)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        name(),
        "Newer",
        "the older value never lands: {}",
        out.stderr
    );
    assert_eq!(
        handle
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count(),
        patches,
        "nothing is sent"
    );
    let report = read_report(&dir.path("r.jsonl"));
    let last = last_lines(&report);
    assert_eq!(
        (last[&1].outcome.as_str(), last[&1].code.as_deref()),
        ("skipped", Some("superseded")),
        "{:?}",
        last[&1]
    );
    assert_eq!(last[&2].outcome, "ok", "row 2 keeps its line");
    assert_eq!(report.len(), 3);
}
