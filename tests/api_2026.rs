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
