//! Issue 20, point 2: items added to and removed from multi-valued properties (`--set
//! 'Tags+=Q4'`, `Tags:multi_select+` / `-` headers), made against the page's current list:
//! the scan's (lists past 25 items completed) or a read just before the write. An add the page
//! already has sends nothing; a kill and `--resume` adds nothing twice.

use notion_sandbox::{Handle, Seed};
use serde_json::{json, Value};
use std::collections::HashMap;

use crate::resume::until_report_has;
use crate::scan::{start, DATA_SOURCE, TOKEN};
use crate::util::{read_report, run_against, spawn_against, Dir};

/// Pages 1..=300 are High, 301..=360 Low; page i is tagged `tags(i)`; page 5 is blocked by
/// pages 301..=330 (30 relations, past the 25 a page read holds).
fn board() -> Seed {
    let first = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut seed = Seed::generate(360).created_per_minute(first, 1);
    for (i, page) in seed.pages.iter_mut().enumerate() {
        let i = i + 1;
        let priority = if i <= 300 { "High" } else { "Low" };
        page.properties.insert("Priority".into(), json!(priority));
        page.properties.insert("Tags".into(), json!(tags(i)));
    }
    let blockers: Vec<String> = (301..=330).map(id).collect();
    seed.pages[4]
        .properties
        .insert("Blocked by".into(), json!(blockers));
    seed
}

/// 40 of the 300 High pages are tagged Q4 already.
fn tagged_q4(i: usize) -> bool {
    i <= 300 && matches!(i % 15, 0 | 7)
}

fn tags(i: usize) -> Vec<&'static str> {
    let mut tags = match i % 3 {
        0 => vec!["backend"],
        1 => vec!["frontend", "urgent"],
        _ => vec![],
    };
    if tagged_q4(i) {
        tags.push("Q4");
    }
    tags
}

fn id(i: usize) -> String {
    Seed::generated_page_id(i)
}

/// The tool's PATCHes by page.
fn patches(handle: &Handle) -> HashMap<String, usize> {
    let mut by_page = HashMap::new();
    for r in handle.requests() {
        if r.method == "PATCH" && r.path.starts_with("/v1/pages/") {
            *by_page.entry(r.page_id.clone().unwrap()).or_insert(0) += 1;
        }
    }
    by_page
}

/// Each page's stored values, by id.
fn pages(handle: &Handle) -> HashMap<String, Value> {
    let state = handle.state();
    state["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["properties"].clone(),
            )
        })
        .collect()
}

fn tag_names(properties: &Value) -> Vec<String> {
    properties["Tags"]["multi_select"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

fn relation_ids(properties: &Value) -> Vec<String> {
    properties["Blocked by"]["relation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

const ADD_Q4: [&str; 6] = [
    "--where",
    "Priority = High",
    "--set",
    "Tags+=Q4",
    "--data-source",
    DATA_SOURCE,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_add_on_a_selection_killed_and_resumed_patches_each_untagged_page_once() {
    assert_eq!((1..=300).filter(|i| tagged_q4(*i)).count(), 40);
    let handle = start(board(), |_| {}).await;
    let dir = Dir::new();
    let base = handle.base_url();
    let mut args: Vec<&str> = vec!["apply"];
    args.extend(ADD_Q4);
    args.extend(["--report", "r.jsonl", "--progress", "none"]);
    args.extend(["--rate", "40", "--burst", "1", "--concurrency", "4"]);
    let mut child = spawn_against(&dir, &base, TOKEN, &args);
    until_report_has(&dir, "r.jsonl", 60).await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let first = read_report(&dir.path("r.jsonl"));
    assert!(first.len() < 300, "killed part way: {} lines", first.len());

    args.push("--resume");
    let out = run_against(&dir, &base, TOKEN, &args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Exactly the 260 untagged High pages were written, once each, across both runs.
    let sent = patches(&handle);
    assert_eq!(sent.values().sum::<usize>(), 260, "{sent:?}");
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    let stored = pages(&handle);
    for i in 1..=360 {
        let mut want: Vec<String> = tags(i).iter().map(|s| s.to_string()).collect();
        if i <= 300 && !tagged_q4(i) {
            want.push("Q4".into());
        }
        assert_eq!(tag_names(&stored[&id(i)]), want, "page {i}");
        assert_eq!(
            sent.contains_key(&id(i)),
            i <= 300 && !tagged_q4(i),
            "page {i}"
        );
    }
    // The 30 relations of page 5 are still there: the PATCH carried Tags alone.
    assert_eq!(relation_ids(&stored[&id(5)]).len(), 30);
    // Every High page has one last line: ok, or skipped unchanged for the tagged ones.
    let report = read_report(&dir.path("r.jsonl"));
    let last: HashMap<String, &crate::util::ReportLine> = report
        .iter()
        .map(|l| (l.page_id.clone().unwrap(), l))
        .collect();
    for i in 1..=300 {
        let line = last.get(&id(i));
        if tagged_q4(i) {
            let line = line.unwrap_or_else(|| panic!("page {i} has a line"));
            assert_eq!(
                (line.outcome.as_str(), line.code.as_deref()),
                ("skipped", Some("unchanged")),
                "page {i}: {line:?}"
            );
        } else if let Some(line) = line {
            // A page whose write landed as the run was killed has no line; the resumed scan
            // found Q4 on it and sent nothing.
            assert!(
                line.outcome == "ok" || line.code.as_deref() == Some("unchanged"),
                "page {i}: {line:?}"
            );
        }
    }

    // Run again: everything is tagged, nothing is sent.
    let before = handle.requests().len();
    let mut again = vec!["apply"];
    again.extend(ADD_Q4);
    again.extend(["--report", "again.jsonl", "--progress", "none"]);
    let out = run_against(&dir, &base, TOKEN, &again).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let later = handle.requests()[before..].to_vec();
    assert!(later.iter().all(|r| r.method != "PATCH"), "{later:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_and_removes_from_a_csv_keep_the_other_items_with_or_without_a_scan() {
    // Page 5 has 30 relations; a page read gives 25 of them and says there are more.
    for scan in [true, false] {
        let handle = start(board(), |_| {}).await;
        let dir = Dir::new();
        let csv = format!(
            "page_id,Blocked by:relation+,Tags:multi_select-,Tags:multi_select+,if:Priority:select\n\
             {},{},urgent,,High\n\
             {},,urgent,Q1,High\n\
             {},,urgent,,Low\n\
             {},,backend,,High\n",
            id(5),
            id(331),
            id(4),
            id(7),
            id(8),
        );
        dir.write("in.csv", csv);
        let mut args = vec![
            "apply",
            "in.csv",
            "--report",
            "r.jsonl",
            "--progress",
            "none",
        ];
        if scan {
            args.extend(["--data-source", DATA_SOURCE]);
        }
        let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
        assert_eq!(out.code, 0, "scan {scan}: {}", out.stderr);
        let stored = pages(&handle);
        // Page 5 (tags(5) is empty): all 30 relations and the new one.
        let blockers = relation_ids(&stored[&id(5)]);
        let want: Vec<String> = (301..=331).map(id).collect();
        assert_eq!(blockers, want, "scan {scan}");
        // Page 4 was frontend, urgent: urgent removed, Q1 added.
        assert_eq!(
            tag_names(&stored[&id(4)]),
            ["frontend", "Q1"],
            "scan {scan}"
        );
        // Page 7 (frontend, urgent, Q4) is High, not Low: its precondition fails.
        assert_eq!(
            tag_names(&stored[&id(7)]),
            ["frontend", "urgent", "Q4"],
            "scan {scan}"
        );
        // Page 8 has no backend tag: nothing to remove, nothing sent.
        let sent = patches(&handle);
        assert_eq!(sent.len(), 2, "scan {scan}: {sent:?}");
        assert!(sent.contains_key(&id(5)) && sent.contains_key(&id(4)));
        let report = read_report(&dir.path("r.jsonl"));
        let outcomes: Vec<(u64, &str, Option<&str>)> = report
            .iter()
            .map(|l| (l.row, l.outcome.as_str(), l.code.as_deref()))
            .collect();
        let mut sorted = outcomes.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                (1, "ok", None),
                (2, "ok", None),
                (3, "skipped", Some("precondition_failed")),
                (4, "skipped", Some("unchanged")),
            ],
            "scan {scan}: {report:?}"
        );
    }
}

#[tokio::test]
async fn an_add_past_a_hundred_items_is_invalid_with_the_count_and_a_set_column_cannot_join_it() {
    let handle = start(board(), |_| {}).await;
    let dir = Dir::new();
    // Page 5 holds 30; adding 71 more makes 101.
    let more: Vec<String> = (100..171).map(|i| id(i + 1)).collect();
    dir.write(
        "in.csv",
        format!(
            "page_id,Blocked by:relation+\n{},\"{}\"\n",
            id(5),
            more.join(";")
        ),
    );
    let out = run_against(
        &dir,
        &handle.base_url(),
        TOKEN,
        &[
            "apply",
            "in.csv",
            "--report",
            "r.jsonl",
            "--progress",
            "none",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = read_report(&dir.path("r.jsonl"));
    assert_eq!(report[0].outcome, "invalid", "{report:?}");
    let message = report[0].message.as_deref().unwrap_or_default();
    assert!(message.contains("101 items"), "{message}");
    assert!(patches(&handle).is_empty());

    // A column that sets Tags beside one that adds to it: the header is refused.
    dir.write("both.csv", format!("page_id,Tags,Tags+\n{},a,b\n", id(1)));
    let out = run_against(
        &dir,
        &handle.base_url(),
        TOKEN,
        &["apply", "both.csv", "--data-source", DATA_SOURCE],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("both write property \"Tags\""),
        "{}",
        out.stderr
    );
    // An add to a property that holds one value.
    dir.write("one.csv", format!("page_id,Status+\n{},Done\n", id(1)));
    let out = run_against(
        &dir,
        &handle.base_url(),
        TOKEN,
        &["apply", "one.csv", "--data-source", DATA_SOURCE],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("a status property"), "{}", out.stderr);
}

/// Two rows of one page add items; the first fails, the second lands. Resumed, the first still
/// adds its item (an add is not superseded by a later add), and adds nothing the page has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_add_resumed_after_a_later_ok_add_of_its_page_still_adds_its_item() {
    use notion_sandbox::{FailFirst, FaultKind};
    let page = id(2); // tags(2) is empty
    let rule = FailFirst::new(
        "PATCH",
        &format!("/v1/pages/{page}"),
        &[FaultKind::Conflict, FaultKind::Conflict],
    );
    let handle = start(board(), |o| o.fail_first = vec![rule]).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!("page_id,Tags+\n{page},A\n{page},B\n{page},B\n"),
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
            "none",
        ];
        if resume {
            args.push("--resume");
        }
        args
    };
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args(false)).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(tag_names(&pages(&handle)[&page]), ["B"]);
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args(true)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        tag_names(&pages(&handle)[&page]),
        ["B", "A"],
        "{}",
        out.stderr
    );
    let report = read_report(&dir.path("r.jsonl"));
    let last: HashMap<u64, &crate::util::ReportLine> = report.iter().map(|l| (l.row, l)).collect();
    assert_eq!(last[&1].outcome, "ok", "{report:?}");
}

/// `--recheck`: an add is made against a read of the page just before its write, not the scan
/// (a GET per row), and still sends nothing the page has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_recheck_an_add_is_made_against_a_read_just_before_the_write() {
    let handle = start(board(), |_| {}).await;
    let dir = Dir::new();
    // Page 1 is frontend, urgent; page 15 has Q4 already.
    dir.write(
        "in.csv",
        format!("page_id,Tags+\n{},Q4\n{},Q4\n", id(1), id(15)),
    );
    let args = [
        "apply",
        "in.csv",
        "--data-source",
        DATA_SOURCE,
        "--recheck",
        "--report",
        "r.jsonl",
        "--progress",
        "none",
    ];
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let reads: Vec<String> = handle
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v1/pages/"))
        .map(|r| r.page_id.clone().unwrap())
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert_eq!(
        tag_names(&pages(&handle)[&id(1)]),
        ["frontend", "urgent", "Q4"]
    );
    assert_eq!(patches(&handle).len(), 1);
    let report = read_report(&dir.path("r.jsonl"));
    let unchanged = report.iter().find(|l| l.row == 2).unwrap();
    assert_eq!(unchanged.code.as_deref(), Some("unchanged"), "{report:?}");
}
