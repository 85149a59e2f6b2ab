//! Issue 13, preconditions: `if:PROPERTY` columns and a job file's `[expect]` hold or not
//! against the scan, against a read just before each write (`--recheck`, or without a data
//! source), and `plan` shows which hold. Another client's edit between the scan and the writes
//! is made deterministically: the sandbox holds the first read of a page until the test has
//! made it.

use notion_sandbox::{Handle, Seed};
use serde_json::{json, Value};

use crate::scan::{apply, start, DATA_SOURCE, TOKEN};
use crate::util::{json_lines, read_report, run_against, spawn_against, Dir, ReportLine};

/// 25 of the 40 pages are In progress (the precondition holds), 15 Not started, mixed.
fn holds(i: usize) -> bool {
    matches!(i % 8, 1 | 2 | 3 | 5 | 6)
}

fn forty_pages() -> Seed {
    let mut seed = Seed::generate(40);
    for (i, page) in seed.pages.iter_mut().enumerate() {
        let status = if holds(i + 1) {
            "In progress"
        } else {
            "Not started"
        };
        page.properties.insert("Status".into(), json!(status));
    }
    seed
}

fn id(i: usize) -> String {
    Seed::generated_page_id(i)
}

fn status(handle: &Handle, i: usize) -> String {
    let page = handle.page(&id(i)).unwrap();
    page["properties"]["Status"]["status"]["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The requests the sandbox saw, by method, for page paths.
fn count(handle: &Handle, method: &str) -> usize {
    handle
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.starts_with("/v1/pages/"))
        .count()
}

/// Each row's report line by its page index.
fn by_page(report: &[ReportLine]) -> std::collections::BTreeMap<usize, &ReportLine> {
    report
        .iter()
        .map(|l| {
            let page = l.page_id.as_deref().unwrap();
            let i = usize::from_str_radix(&page.replace('-', "")[20..], 16).unwrap();
            (i, l)
        })
        .collect()
}

/// Every row moves its page to Done; `[expect]` says only if it is In progress.
fn expect_job(dir: &Dir) {
    let mut csv = String::from("page_id,Status\n");
    for i in 1..=40 {
        csv += &format!("{},Done\n", id(i));
    }
    dir.write("rows.csv", csv);
    dir.write(
        "job.toml",
        "input = \"rows.csv\"\n\n[expect]\nStatus = \"In progress\"\n",
    );
}

fn assert_outcomes(report: &[ReportLine], holding: impl Fn(usize) -> bool, read: &str) {
    assert_eq!(report.len(), 40);
    for (i, line) in by_page(report) {
        if holding(i) {
            assert_eq!(
                (line.outcome.as_str(), line.http_status),
                ("ok", Some(200)),
                "{line:?}"
            );
        } else {
            assert_eq!(
                (line.outcome.as_str(), line.code.as_deref(), line.attempts),
                ("skipped", Some("precondition_failed"), 0),
                "{line:?}"
            );
            let message = line.message.as_deref().unwrap();
            assert!(
                message.contains("\"Status\" is \"Not started\", expected \"In progress\"")
                    && message.contains(read),
                "{message}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_rows_of_which_25_preconditions_hold_send_exactly_25_patches() {
    let dir = Dir::new();
    expect_job(&dir);
    // Against the scan, no read per row; without a data source, a read before each write.
    for (source, reads, judged) in [
        (
            ["--data-source", DATA_SOURCE],
            0,
            "as the scan read the page",
        ),
        (
            ["--schema-from", DATA_SOURCE],
            40,
            "read just before the write",
        ),
    ] {
        let handle = start(forty_pages(), |_| {}).await;
        let mut args = vec![
            "apply",
            "job.toml",
            "--report",
            "r.jsonl",
            "--progress",
            "none",
        ];
        args.extend(["--rate", "200", "--burst", "20"]);
        args.extend(source);
        std::fs::remove_file(dir.path("r.jsonl")).ok();
        let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stderr
                .contains("summary: skipped by code: precondition_failed: 15"),
            "{}",
            out.stderr
        );
        assert_eq!(count(&handle, "PATCH"), 25);
        assert_eq!(count(&handle, "GET"), reads, "{judged}");
        assert_outcomes(&read_report(&dir.path("r.jsonl")), holds, judged);
        for i in 1..=40 {
            let expected = if holds(i) { "Done" } else { "Not started" };
            assert_eq!(status(&handle, i), expected, "page {i}");
        }
    }
}

/// The five pages another client moves away from In progress after the scan.
const CHANGED: [usize; 5] = [2, 9, 17, 25, 38];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_recheck_five_pages_changed_after_the_scan_are_not_written() {
    assert!(CHANGED.iter().all(|i| holds(*i)));
    let handle = start(forty_pages(), |_| {}).await;
    let dir = Dir::new();
    let mut csv = String::from("page_id,Status,if:Status\n");
    for i in 1..=40 {
        csv += &format!("{},Done,In progress\n", id(i));
    }
    dir.write("rows.csv", csv);
    // The first read of a page waits in the sandbox: the scan is over, nothing is written yet
    // (the first request of a run goes alone, and each write follows its read).
    handle.hold("GET", "/v1/pages/");
    let mut args = vec![
        "apply",
        "rows.csv",
        "--recheck",
        "--data-source",
        DATA_SOURCE,
    ];
    args.extend([
        "--report",
        "r.jsonl",
        "--rate",
        "200",
        "--burst",
        "20",
        "--progress",
        "none",
    ]);
    let mut child = spawn_against(&dir, &handle.base_url(), TOKEN, &args);
    tokio::select! {
        _ = handle.held(1) => {}
        status = child.wait() => panic!("apply ended before its first read: {status:?}"),
    }
    assert_eq!(count(&handle, "PATCH"), 0);
    // Another client, over HTTP with the same token, changes five pages that held.
    let http = reqwest::Client::new();
    for i in CHANGED {
        let r = http
            .patch(format!("{}/v1/pages/{}", handle.base_url(), id(i)))
            .bearer_auth(TOKEN)
            .header("Notion-Version", "2025-09-03")
            .json(&json!({"properties": {
                "Status": {"status": {"name": "Not started"}},
                "Estimate": {"number": 99}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    handle.release();
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("skipped by code: precondition_failed: 20"),
        "{stderr}"
    );
    // 25 PATCHes in all: the other client's 5 and the tool's 20.
    assert_eq!(count(&handle, "PATCH"), 25);
    assert_eq!(count(&handle, "GET"), 40, "one read per row with --recheck");
    let report = read_report(&dir.path("r.jsonl"));
    let now_holding = |i: usize| holds(i) && !CHANGED.contains(&i);
    assert_outcomes(&report, now_holding, "read just before the write");
    for i in 1..=40 {
        let page = handle.page(&id(i)).unwrap();
        if CHANGED.contains(&i) {
            // The other client's edit stands: not overwritten.
            assert_eq!(status(&handle, i), "Not started");
            assert_eq!(page["properties"]["Estimate"]["number"], 99);
        } else if holds(i) {
            assert_eq!(status(&handle, i), "Done");
        } else {
            assert_eq!(status(&handle, i), "Not started");
        }
    }
}

#[tokio::test]
async fn plan_shows_which_preconditions_hold_line_by_line() {
    let mut seed = Seed::generate(4);
    for (i, s) in ["In progress", "Not started", "In progress", "Done"]
        .iter()
        .enumerate()
    {
        seed.pages[i].properties.insert("Status".into(), json!(s));
    }
    let handle = start(seed, |_| {}).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!(
            "page_id,Status,if:Status\n{},Done,In progress\n{},Done,In progress\n{},Done,\n{},Done,In progress\n",
            id(1),
            id(2),
            id(3),
            id(4)
        ),
    );
    let plan = ["plan", "rows.csv", "--data-source", DATA_SOURCE];
    let out = run_against(&dir, &handle.base_url(), TOKEN, &plan).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = json_lines(&out.stdout);
    let done = json!({"properties": {"Status": {"status": {"name": "Done"}}}});
    assert_eq!(
        lines,
        [
            json!({"row": 1, "page_id": id(1), "body": done, "action": "updated",
                   "changes": {"Status": {"from": "In progress", "to": "Done"}},
                   "precondition": {"Status": {"expected": "In progress", "current": "In progress", "holds": true}}}),
            json!({"row": 2, "page_id": id(2), "action": "precondition_failed",
                   "precondition": {"Status": {"expected": "In progress", "current": "Not started", "holds": false}}}),
            // No precondition in its cell: updated as any row.
            json!({"row": 3, "page_id": id(3), "body": done, "action": "updated",
                   "changes": {"Status": {"from": "In progress", "to": "Done"}}}),
            // Already Done: nothing to write, so nothing to guard.
            json!({"row": 4, "page_id": id(4), "action": "unchanged", "changes": {},
                   "precondition": {"Status": {"expected": "In progress", "current": "Done", "holds": false}}}),
        ]
    );
    let summary: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("scan:"))
        .collect();
    assert_eq!(
        summary,
        [
            "plan: 4 rows read from rows.csv: 2 to update (2 properties), 1 unchanged, 0 invalid, 0 skipped (nothing to change). Nothing was sent.",
            "preconditions: 3 rows have one; 2 hold as the scan read the pages, 1 do not (apply skips those rows: precondition_failed).",
        ]
    );

    // Offline: the expected values, judged by apply's read before each write.
    dir.write(
        "typed.csv",
        format!(
            "page_id,Status:status,if:Status:status\n{},Done,In progress\n",
            id(1)
        ),
    );
    let out = dir.run(&["plan", "typed.csv"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        line,
        json!({"row": 1, "page_id": id(1), "body": done,
               "precondition": {"Status": {"expected": "In progress"}}})
    );
    assert!(
        out.stderr.contains(
            "preconditions: 1 rows have one; apply reads each page just before its write to judge them."
        ),
        "{}",
        out.stderr
    );
    assert!(handle.requests().iter().all(|r| r.method != "PATCH"));
}

#[tokio::test]
async fn bad_expected_values_exit_2_or_make_their_row_invalid() {
    let handle = start(forty_pages(), |_| {}).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!("page_id,Status,if:Staus\n{},Done,x\n", id(1)),
    );
    let out = apply(&dir, &handle, &["rows.csv", "--report", "r.jsonl"]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("Did you mean \"Status\"?"),
        "{}",
        out.stderr
    );
    dir.write(
        "job.toml",
        "input = \"rows.csv\"\n[expect]\nStatus = \"Dnoe\"\n",
    );
    dir.write("rows.csv", format!("page_id,Status\n{},Done\n", id(1)));
    let out = apply(&dir, &handle, &["job.toml", "--report", "r.jsonl"]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("[expect]") && out.stderr.contains("\"Done\""),
        "{}",
        out.stderr
    );
    // A bad cell is the row's problem: that row is invalid, the others go on.
    dir.write(
        "rows.csv",
        format!(
            "page_id,Status,if:Status\n{},Done,Blocked\n{},Done,In progress\n",
            id(1),
            id(2)
        ),
    );
    let out = apply(&dir, &handle, &["rows.csv", "--report", "r2.jsonl"]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = read_report(&dir.path("r2.jsonl"));
    let first = report.iter().find(|l| l.row == 1).unwrap();
    assert_eq!(first.outcome, "invalid");
    assert!(
        first
            .message
            .as_deref()
            .unwrap()
            .starts_with("column \"if:Status\""),
        "{first:?}"
    );
    assert_eq!(report.iter().find(|l| l.row == 2).unwrap().outcome, "ok");
    assert_eq!(count(&handle, "PATCH"), 1);
}

/// Issue 18, points 2 and 6: a keyed sync (`--match-on`) with `if:` columns, `--columns`
/// naming only the data column, killed mid-run and resumed. The `if:` column stays in force
/// (it is not a data column), the key finds each page, and each page whose precondition holds
/// is written once; the others are never written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_sync_with_if_columns_columns_and_resume_writes_only_what_holds() {
    let handle = start(forty_pages(), |_| {}).await;
    let before = handle.state();
    let dir = Dir::new();
    let mut csv = String::from("Name,Status,Priority,if:Status\n");
    for i in 1..=40 {
        csv += &format!("Task {i},Done,Someday,In progress\n");
    }
    dir.write("rows.csv", csv);
    let args = |resume: bool| {
        let mut args = vec![
            "apply",
            "rows.csv",
            "--data-source",
            DATA_SOURCE,
            "--match-on",
            "Name",
            "--columns",
            "Status",
            "--report",
            "r.jsonl",
            "--rate",
            "20",
            "--progress",
            "log",
        ];
        if resume {
            args.push("--resume");
        }
        args
    };
    let mut child = spawn_against(&dir, &handle.base_url(), TOKEN, &args(false));
    crate::resume::until_report_has(&dir, "r.jsonl", 12).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args(true)).await;
    assert!(matches!(out.code, 0 | 1), "{}", out.stderr);
    let report = read_report(&dir.path("r.jsonl"));
    let last: std::collections::BTreeMap<u64, &ReportLine> =
        report.iter().map(|l| (l.row, l)).collect();
    assert_eq!(last.len(), 40, "every row has an outcome");
    for (row, line) in last {
        let i = row as usize;
        let patches = handle
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.page_id.as_deref() == Some(id(i).as_str()))
            .count();
        if holds(i) {
            assert_eq!(line.outcome, "ok", "{line:?}");
            assert_eq!(patches, 1, "page {i} written once");
            assert_eq!(status(&handle, i), "Done");
        } else {
            assert_eq!(
                (line.outcome.as_str(), line.code.as_deref()),
                ("skipped", Some("precondition_failed")),
                "{line:?}"
            );
            assert_eq!(patches, 0, "page {i}: its precondition fails");
            assert_eq!(status(&handle, i), "Not started");
        }
        assert_eq!(
            handle.page(&id(i)).unwrap()["properties"]["Priority"],
            before["pages"][i - 1]["properties"]["Priority"],
            "--columns leaves Priority alone"
        );
    }
}

/// Issue 19, point 3: `plan` and `apply` run one gate chain in one order (`Gates::decide`):
/// the precondition from the row's cells first, then the page by its key, the verdict against
/// that page, the comparison. So each row ends the same way in both, even where the order
/// matters: a bad `if:` cell makes its row invalid whatever its key finds (before, `apply`
/// ended a row whose key no page has `no_match` and never read its `if:` cell, while `plan`
/// called it invalid). And the key column is not an expected value: it used to be one, which
/// no scan knows, so each keyed row's precondition was judged by a read of its page (`plan`
/// called rows to send that `apply` then skipped).
#[tokio::test]
async fn plan_and_apply_end_each_keyed_row_with_a_precondition_the_same_way() {
    let handle = start(forty_pages(), |_| {}).await;
    let dir = Dir::new();
    // Task 1 and 2 are In progress, Task 4 Not started.
    dir.write(
        "rows.csv",
        "Name,Status,if:Status\n\
         Task 1,Done,Blocked\n\
         Nobody,Done,Blocked\n\
         Task 4,Done,In progress\n\
         Task 2,Done,In progress\n\
         Nobody else,Done,In progress\n\
         Task 1,Done,Not started\n",
    );
    let keyed = [
        "rows.csv",
        "--data-source",
        DATA_SOURCE,
        "--match-on",
        "Name",
    ];
    let mut plan = vec!["plan"];
    plan.extend(keyed);
    plan.extend(["--report", "plan.jsonl"]);
    let planned = run_against(&dir, &handle.base_url(), TOKEN, &plan).await;
    assert_eq!(planned.code, 1, "{}", planned.stderr);
    // `apply` here gives the same --data-source.
    let args = ["rows.csv", "--match-on", "Name", "--report", "apply.jsonl"];
    let applied = apply(&dir, &handle, &args).await;
    assert_eq!(applied.code, 1, "{}", applied.stderr);

    // What each row became: plan's report has its unsent rows, its stdout the ones to send.
    let ends = |report: &[ReportLine]| -> Vec<(u64, String, Option<String>)> {
        let mut ends: Vec<_> = report
            .iter()
            .map(|l| (l.row, l.outcome.clone(), l.code.clone()))
            .collect();
        ends.sort();
        ends
    };
    let mut planned_ends = ends(&read_report(&dir.path("plan.jsonl")));
    for line in json_lines(&planned.stdout) {
        if line["action"] == "updated" {
            planned_ends.push((line["row"].as_u64().unwrap(), "ok".into(), None));
        }
    }
    planned_ends.sort();
    let applied_ends: Vec<_> = ends(&read_report(&dir.path("apply.jsonl")))
        .into_iter()
        .map(|(row, outcome, code)| match outcome.as_str() {
            "ok" => (row, outcome, None),
            _ => (row, outcome, code),
        })
        .collect();
    let skipped = Some("precondition_failed".to_owned());
    let no_match = Some("no_match".to_owned());
    assert_eq!(
        applied_ends,
        [
            (1, "invalid".into(), None),
            (2, "invalid".into(), None),
            (3, "skipped".into(), skipped.clone()),
            (4, "ok".into(), None),
            (5, "failed".into(), no_match),
            (6, "skipped".into(), skipped),
        ],
        "{}",
        applied.stderr
    );
    assert_eq!(
        planned_ends, applied_ends,
        "{}\n{}",
        planned.stderr, planned.stdout
    );
    // The invalid rows name the cell; only Task 2's page was written.
    let report = read_report(&dir.path("apply.jsonl"));
    for line in report.iter().filter(|l| l.outcome == "invalid") {
        let message = line.message.as_deref().unwrap();
        assert!(message.contains("if:Status"), "{line:?}");
    }
    assert_eq!(count(&handle, "PATCH"), 1);
    assert_eq!(status(&handle, 2), "Done");
    // Judged against the scan, by the values plan showed: no page read before a write, and
    // the key is not an expected value (it found the page).
    assert_eq!(count(&handle, "GET"), 0);
    for line in json_lines(&planned.stdout) {
        let expected = line["precondition"].as_object().unwrap();
        assert_eq!(expected.keys().collect::<Vec<_>>(), ["Status"], "{line}");
    }
}
