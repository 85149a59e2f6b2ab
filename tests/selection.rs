//! Issue 13, edits selected by a filter: `apply --data-source DS --where FILTER --set
//! PROPERTY=VALUE` with no input file. 300 pages, 120 of them Done, archived by a run killed
//! part way (SIGKILL) and resumed: no page sent twice, each page one row; a second run selects
//! nothing. `--max-rows` and bad input stop before any write; `plan` lists the pages first.

use notion_sandbox::{Handle, Seed};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::resume::until_report_has;
use crate::scan::{apply, start, DATA_SOURCE, TOKEN};
use crate::util::{apply_example_job, json_lines, read_report, run_against, spawn_against, Dir};

/// Pages 1..=300, one created each minute (so the selection's order is the pages' order); 120
/// of them Done.
fn board(pages: usize, done: impl Fn(usize) -> bool) -> Seed {
    let first = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut seed = Seed::generate(pages).created_per_minute(first, 1);
    for (i, page) in seed.pages.iter_mut().enumerate() {
        if done(i + 1) {
            page.properties.insert("Status".into(), json!("Done"));
        }
    }
    seed
}

fn done_300(i: usize) -> bool {
    matches!(i % 5, 1 | 3)
}

fn id(i: usize) -> String {
    Seed::generated_page_id(i)
}

const ARCHIVE_DONE: [&str; 4] = ["--where", "Status = Done", "--set", "@in_trash=true"];

/// The tool's PATCHes by page.
fn patches(handle: &Handle) -> HashMap<String, usize> {
    let mut by_page = HashMap::new();
    for r in handle.requests() {
        if r.method == "PATCH" {
            *by_page.entry(r.page_id.clone().unwrap()).or_insert(0) += 1;
        }
    }
    by_page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_the_done_pages_killed_part_way_and_resumed_sends_each_once() {
    assert_eq!((1..=300).filter(|i| done_300(*i)).count(), 120);
    let handle = start(board(300, done_300), |_| {}).await;
    let dir = Dir::new();
    let base = handle.base_url();
    let mut args: Vec<&str> = vec!["apply"];
    args.extend(ARCHIVE_DONE);
    args.extend(["--data-source", DATA_SOURCE, "--report", "r.jsonl"]);
    args.extend([
        "--rate",
        "40",
        "--burst",
        "1",
        "--concurrency",
        "4",
        "--progress",
        "none",
    ]);
    let mut child = spawn_against(&dir, &base, TOKEN, &args);
    until_report_has(&dir, "r.jsonl", 30).await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let first = read_report(&dir.path("r.jsonl"));
    assert!(first.len() < 120, "killed part way: {} lines", first.len());

    args.push("--resume");
    let out = run_against(&dir, &base, TOKEN, &args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Every Done page is in the trash, nothing else was touched, no page was sent twice.
    let sent = patches(&handle);
    let state = handle.state();
    let stored: HashMap<&str, &Value> = state["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    for i in 1..=300 {
        let page = stored[id(i).as_str()];
        assert_eq!(page["in_trash"], json!(done_300(i)), "page {i}");
        let expected = usize::from(done_300(i));
        assert_eq!(sent.get(&id(i)).copied().unwrap_or(0), expected, "page {i}");
    }
    // Each page is one row, and a row is one page, across both runs.
    let report = read_report(&dir.path("r.jsonl"));
    let mut rows: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for line in &report {
        assert_eq!(line.outcome, "ok", "{line:?}");
        rows.entry(line.row)
            .or_default()
            .insert(line.page_id.clone().unwrap());
    }
    assert!(rows.values().all(|pages| pages.len() == 1), "{rows:?}");
    let pages: BTreeSet<&String> = rows.values().flatten().collect();
    assert_eq!(pages.len(), report.len(), "no page has two lines");
    // Pages whose write landed as the run was killed have no line; every other has one.
    assert!(
        report.len() >= 120 - 4 && report.len() <= 120,
        "{}",
        report.len()
    );

    // Nothing matches any more: a further run, resumed or fresh, sends nothing.
    let before = handle.requests().len();
    for report in ["r.jsonl", "fresh.jsonl"] {
        let mut again = vec!["apply"];
        again.extend(ARCHIVE_DONE);
        again.extend(["--data-source", DATA_SOURCE, "--report", report, "--resume"]);
        let out = run_against(&dir, &base, TOKEN, &again).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stderr.contains("selection: 0 pages of \"Tasks\" match"),
            "{}",
            out.stderr
        );
    }
    let later: Vec<_> = handle.requests()[before..].to_vec();
    assert!(later.iter().all(|r| r.method != "PATCH"), "{later:?}");
    assert!(
        later.iter().any(|r| r.path.ends_with("/query")),
        "{later:?}"
    );
}

#[tokio::test]
async fn more_pages_than_max_rows_or_bad_input_stop_before_any_write() {
    let handle = start(board(300, done_300), |_| {}).await;
    let dir = Dir::new();
    let mut args = ARCHIVE_DONE.to_vec();
    args.extend(["--max-rows", "100", "--report", "r.jsonl"]);
    let out = apply(&dir, &handle, &args).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the filter selects 120 pages, more than --max-rows 100: nothing was sent"),
        "{}",
        out.stderr
    );
    // Issue 18, point 14: plan said "Nothing was read" after a scan that read 120 pages.
    let mut planned = vec!["plan", "--data-source", DATA_SOURCE];
    planned.extend(ARCHIVE_DONE);
    planned.extend(["--max-rows", "100"]);
    let out = run_against(&dir, &handle.base_url(), TOKEN, &planned).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("more than --max-rows 100"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Nothing was read"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("The scan read 120 pages of the data source; no row was planned"),
        "{}",
        out.stderr
    );
    let bad: [(&[&str], &str); 6] = [
        (
            &["--where", "Status = Done", "--set", "Staus=Done"],
            "Did you mean \"Status\"?",
        ),
        (
            &["--where", "Status = Done", "--set", "Task ID=7"],
            "read-only",
        ),
        (
            &["--where", "Status = Dnoe", "--set", "@in_trash=true"],
            "Did you mean \"Done\"?",
        ),
        (
            &[
                "--where",
                r#"{"property": "Status", "select": {"equals": "Done"}}"#,
                "--set",
                "@in_trash=true",
            ],
            "does not match filter select",
        ),
        (&["--where", "Status = Done"], "nothing says what to change"),
        (
            &[
                "rows.csv",
                "--where",
                "Status = Done",
                "--set",
                "@in_trash=true",
            ],
            "drop the input file",
        ),
    ];
    for (flags, expected) in bad {
        let out = apply(&dir, &handle, flags).await;
        assert_eq!(out.code, 2, "{flags:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{flags:?}: {}", out.stderr);
    }
    // Without --data-source, and --set without --where.
    for (flags, expected) in [
        (&ARCHIVE_DONE[..], "give it with --data-source"),
        (
            &["rows.csv", "--set", "Status=Done"][..],
            "--set goes with --where",
        ),
    ] {
        let mut all = vec!["apply"];
        all.extend(flags);
        let out = run_against(&dir, &handle.base_url(), TOKEN, &all).await;
        assert_eq!(out.code, 2, "{flags:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{flags:?}: {}", out.stderr);
    }
    assert!(
        handle.requests().iter().all(|r| r.method != "PATCH"),
        "nothing was written"
    );
}

#[tokio::test]
async fn plan_lists_the_selected_pages_and_their_changes_first_line_by_line() {
    // Pages 2, 5, 7 and 10 are Done; 2 and 5 already have Priority High.
    let handle = start(board(10, |i| [2, 5, 7, 10].contains(&i)), |_| {}).await;
    let dir = Dir::new();
    let plan = |set: &'static str| {
        let (dir, base) = (&dir, handle.base_url());
        async move {
            let args = [
                "plan",
                "--data-source",
                DATA_SOURCE,
                "--where",
                "Status = Done",
                "--set",
                set,
            ];
            run_against(dir, &base, TOKEN, &args).await
        }
    };
    let stderr_lines = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| !l.starts_with("scan:"))
            .map(str::to_owned)
            .collect()
    };
    let filter = r#"{"property":"Status","status":{"equals":"Done"}}"#;
    let out = plan("@in_trash=true").await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        stderr_lines(&out.stderr),
        [
            format!("selection: 4 pages of \"Tasks\" match the filter {filter}"),
            format!("  row 1 (page {}, \"Task 2\"): in_trash: false -> true", id(2)),
            format!("  row 2 (page {}, \"Task 5\"): in_trash: false -> true", id(5)),
            format!("  row 3 (page {}, \"Task 7\"): in_trash: false -> true", id(7)),
            format!("  row 4 (page {}, \"Task 10\"): in_trash: false -> true", id(10)),
            "plan: 4 rows read from the pages --where selects: 4 to update (4 properties), 0 unchanged, 0 invalid, 0 skipped (nothing to change). Nothing was sent.".to_owned(),
        ]
    );
    let lines = json_lines(&out.stdout);
    let trashed = |row: u64, page: usize| {
        json!({"row": row, "page_id": id(page), "body": {"in_trash": true}, "action": "updated",
               "changes": {"in_trash": {"from": false, "to": true}}})
    };
    assert_eq!(
        lines,
        [trashed(1, 2), trashed(2, 5), trashed(3, 7), trashed(4, 10)]
    );

    // Changes only: the pages that already have the value are listed unchanged.
    let out = plan("Priority=High").await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        stderr_lines(&out.stderr),
        [
            format!("selection: 4 pages of \"Tasks\" match the filter {filter}"),
            format!("  row 1 (page {}, \"Task 2\"): unchanged", id(2)),
            format!("  row 2 (page {}, \"Task 5\"): unchanged", id(5)),
            format!(
                "  row 3 (page {}, \"Task 7\"): Priority: \"Medium\" -> \"High\"",
                id(7)
            ),
            format!(
                "  row 4 (page {}, \"Task 10\"): Priority: \"Medium\" -> \"High\"",
                id(10)
            ),
            "plan: 4 rows read from the pages --where selects: 2 to update (2 properties), 2 unchanged, 0 invalid, 0 skipped (nothing to change). Nothing was sent.".to_owned(),
        ]
    );
    let actions: Vec<(u64, String)> = out
        .stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["row"].as_u64().unwrap(),
                v["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            (1, "unchanged".into()),
            (2, "unchanged".into()),
            (3, "updated".into()),
            (4, "updated".into())
        ]
    );
    assert!(handle.requests().iter().all(|r| r.method != "PATCH"));
}

/// The example jobs of jobs/ run as shipped against the sandbox they name.
#[test]
fn the_transition_and_archive_example_jobs_apply_to_their_sandboxes() {
    for (job, ok, precondition_failed) in [
        ("jobs/finish-in-progress.toml", 3, 2),
        ("jobs/archive-done.toml", 4, 0),
    ] {
        let report = apply_example_job(job);
        let count = |outcome: &str, code: Option<&str>| {
            report
                .iter()
                .filter(|l| l.outcome == outcome && l.code.as_deref() == code)
                .count()
        };
        assert_eq!(count("ok", None), ok, "{job}: {report:#?}");
        assert_eq!(
            count("skipped", Some("precondition_failed")),
            precondition_failed,
            "{job}: {report:#?}"
        );
        assert_eq!(report.len(), ok + precondition_failed, "{job}");
    }
}
