//! Issue 21, point 3: the Notion API changes of 2026, one test each.

use notion_sandbox::{FailFirst, FaultKind, Seed};

use crate::scan::{start, TOKEN};
use crate::util::{read_report, run_against, Dir};

/// An undocumented 409 `row_limit_exceeded` is final: one attempt, the row failed with that
/// code and a message that says why it is not retried; a conflict on the other page is retried.
#[tokio::test]
async fn a_row_limit_409_is_final_and_a_conflict_is_retried() {
    let (limited, busy) = (Seed::generated_page_id(1), Seed::generated_page_id(2));
    let rules = vec![
        FailFirst::new(
            "PATCH",
            &format!("/v1/pages/{limited}"),
            &[FaultKind::RowLimit],
        ),
        FailFirst::new(
            "PATCH",
            &format!("/v1/pages/{busy}"),
            &[FaultKind::Conflict],
        ),
    ];
    let handle = start(Seed::generate(3), |o| o.fail_first = rules).await;
    let dir = Dir::new();
    dir.write(
        "in.csv",
        format!("page_id,Done:checkbox\n{limited},yes\n{busy},yes\n"),
    );
    let args = [
        "apply",
        "in.csv",
        "--report",
        "r.jsonl",
        "--progress",
        "none",
    ];
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = read_report(&dir.path("r.jsonl"));
    let line = report.iter().find(|l| l.row == 1).unwrap();
    assert_eq!(line.outcome, "failed", "{line:?}");
    assert_eq!(line.code.as_deref(), Some("row_limit_exceeded"));
    assert_eq!(line.attempts, 1);
    let message = line.message.as_deref().unwrap_or_default();
    assert!(message.contains("not retried"), "{message}");
    let other = report.iter().find(|l| l.row == 2).unwrap();
    assert_eq!(
        (other.outcome.as_str(), other.attempts),
        ("ok", 2),
        "{other:?}"
    );
    let sent = handle
        .requests()
        .iter()
        .filter(|r| r.page_id.as_deref() == Some(&limited))
        .count();
    assert_eq!(sent, 1);
}

/// A 429's `rate_limit_reason` is counted by limit in the summary (text and JSON): the
/// connection's own budget (the sandbox's `--rate`, which the run overdrives) and the
/// workspace's (the `e429_workspace` fault on one page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_counts_429s_by_the_limit_notion_named() {
    let page = Seed::generated_page_id(3);
    let rules = vec![FailFirst::new(
        "PATCH",
        &format!("/v1/pages/{page}"),
        &[FaultKind::E429Workspace],
    )];
    let handle = start(Seed::generate(8), |o| {
        o.fail_first = rules;
        o.rate = Some(4.0);
        o.burst = Some(1);
    })
    .await;
    let dir = Dir::new();
    let mut csv = String::from("page_id,Done:checkbox\n");
    for i in 1..=8 {
        csv += &format!("{},yes\n", Seed::generated_page_id(i));
    }
    dir.write("in.csv", csv);
    let args = [
        "apply",
        "in.csv",
        "--report",
        "r.jsonl",
        "--progress",
        "none",
        "--rate",
        "40",
        "--burst",
        "4",
        "--summary-json",
        "s.json",
    ];
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("s.json")).unwrap()).unwrap();
    let reasons = &summary["rate_limit_reasons"];
    assert_eq!(reasons["workspace_limit"], 1, "{summary}");
    let connection = reasons["connection_limit"].as_u64().unwrap_or(0);
    assert!(connection >= 1, "{summary}");
    let total = summary["rate_limited"].as_u64().unwrap();
    assert_eq!(total, connection + 1, "{summary}");
    let line = format!(
        "429s by the limit Notion named: connection_limit: {connection}, workspace_limit: 1"
    );
    assert!(out.stderr.contains(&line), "{}", out.stderr);
}
