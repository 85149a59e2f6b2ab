//! Issue 18, point 10: every one-off read (the schema, the users, in `export`, `apply`, `plan`
//! and `schema`) goes through the retry table with the run's limiter, as the queries do. The
//! sandbox fails the first reads of a path (`FailFirst`) with each retryable kind, then answers;
//! a refusal (401, 404) still ends the run at once with a clear message.

use notion_sandbox::{FailFirst, FaultKind, Handle, Seed};
use serde_json::Value;

use crate::scan::{start, DATA_SOURCE, TOKEN};
use crate::util::{run_against, Dir, Run};

/// `GET /v1/data_sources/{DATA_SOURCE}` fails with `schema`, `GET /v1/users` with `users`.
async fn flaky(schema: &[FaultKind], users: &[FaultKind]) -> Handle {
    let rules = vec![
        FailFirst::new("GET", &format!("/v1/data_sources/{DATA_SOURCE}"), schema),
        FailFirst::new("GET", "/v1/users", users),
    ];
    start(Seed::generate(30), |o| o.fail_first = rules).await
}

/// The GETs of `path` the sandbox received.
fn gets(handle: &Handle, path: &str) -> usize {
    handle
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .count()
}

fn schema_path() -> String {
    format!("/v1/data_sources/{DATA_SOURCE}")
}

async fn run(dir: &Dir, handle: &Handle, args: &[&str]) -> Run {
    run_against(dir, &handle.base_url(), TOKEN, args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_retries_a_failing_schema_read_and_says_so() {
    use FaultKind::*;
    let handle = flaky(&[E429, E503, Reset, E504Applied], &[]).await;
    let dir = Dir::new();
    let out = run(
        &dir,
        &handle,
        &["export", DATA_SOURCE, "-o", "x.csv", "--progress", "log"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        gets(&handle, &schema_path()),
        5,
        "four failures, then the read"
    );
    let csv = std::fs::read_to_string(dir.path("x.csv")).unwrap();
    assert_eq!(csv.lines().count(), 31, "{csv}");
    // The retries and the 429 are counted where the reads are.
    assert!(
        out.stderr.contains("3 retries, 1 rate-limited"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_retries_failing_schema_and_users_reads_and_counts_them_in_the_summary() {
    use FaultKind::*;
    let handle = flaky(&[E429, Conflict, E500], &[E502]).await;
    let dir = Dir::new();
    let mut csv = String::from("page_id,Status\n");
    for i in 1..=3 {
        csv += &format!("{},Done\n", Seed::generated_page_id(i));
    }
    dir.write("rows.csv", csv);
    let out = run(
        &dir,
        &handle,
        &[
            "apply",
            "rows.csv",
            "--data-source",
            DATA_SOURCE,
            "--report",
            "r.jsonl",
            "--summary-json",
            "s.json",
            "--progress",
            "none",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stderr.contains("cannot list the workspace's users"),
        "the users read was retried too: {}",
        out.stderr
    );
    assert_eq!(gets(&handle, &schema_path()), 4);
    let report = dir.report("r.jsonl");
    assert_eq!(report.len(), 3);
    assert!(report.iter().all(|l| l.outcome == "ok"), "{report:?}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("s.json")).unwrap()).unwrap();
    // Conflict, 500 and 502 are retries; the 429 is a pause, not an attempt.
    assert_eq!(summary["retries"], 3, "{summary}");
    assert_eq!(summary["rate_limited"], 1, "{summary}");
    // Every request is counted: the failed reads too.
    let sent = handle.requests().len() as u64;
    assert_eq!(summary["requests"], sent, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_the_schema_command_retry_failing_reads() {
    use FaultKind::*;
    let handle = flaky(&[E502, E503], &[E429]).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!("page_id,Status\n{},Done\n", Seed::generated_page_id(1)),
    );
    let out = run(
        &dir,
        &handle,
        &["plan", "rows.csv", "--data-source", DATA_SOURCE],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(out.stderr.contains("2 retries"), "{}", out.stderr);

    let handle = flaky(&[Reset, E500], &[E429, E503]).await;
    let out = run(&dir, &handle, &["schema", DATA_SOURCE]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let schema: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        schema["users"].as_array().is_some_and(|u| !u.is_empty()),
        "the users read was retried: {}",
        out.stderr
    );
    assert_eq!(gets(&handle, &schema_path()), 3);
    assert_eq!(gets(&handle, "/v1/users"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_schema_read_ends_at_once_and_says_what_to_do() {
    let handle = start(Seed::generate(3), |_| {}).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!("page_id,Status\n{},Done\n", Seed::generated_page_id(1)),
    );
    // A refused token: one request, no retry, exit 2, and what to check.
    let out = run_against(
        &dir,
        &handle.base_url(),
        "secret_not_this_one",
        &["export", DATA_SOURCE],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(handle.requests().len(), 1);
    assert!(
        out.stderr.contains("401 unauthorized") && out.stderr.contains("the token was refused"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("secret_not_this_one"));
    // An id that is neither a data source nor a database: each endpoint asked once.
    let unknown = "0000000000004000800000000000ffff";
    let out = run(
        &dir,
        &handle,
        &["plan", "rows.csv", "--data-source", unknown],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("neither a data source"),
        "{}",
        out.stderr
    );
    assert_eq!(handle.requests().len(), 3);
    // Retryable failures past --max-attempts: exit 2 (nothing was sent), naming the attempts.
    let handle = flaky(&[FaultKind::E503; 3], &[]).await;
    let out = run(
        &dir,
        &handle,
        &[
            "apply",
            "rows.csv",
            "--data-source",
            DATA_SOURCE,
            "--report",
            "r.jsonl",
            "--max-attempts",
            "2",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(gets(&handle, &schema_path()), 2);
    assert!(
        out.stderr.contains("503 service_unavailable")
            && out.stderr.contains("after 2 attempts")
            && out.stderr.contains("Nothing was sent"),
        "{}",
        out.stderr
    );
}
