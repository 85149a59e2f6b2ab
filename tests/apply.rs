//! `apply` end to end: the real binary against the real sandbox on 127.0.0.1, with faults,
//! rate limits and refusals; the report and the sandbox's own records are checked against an
//! independent fold of the input.

use std::collections::BTreeMap;
use std::time::Duration;

use notion_sandbox::{self as sandbox, FaultSpec, Handle, Options, Seed};
use serde_json::Value;

use crate::util::{read_report, run_against, Dir, ReportLine, Run};

const TOKEN: &str = "secret_test_token_3f9a";

async fn start(seed: Seed, configure: impl FnOnce(&mut Options)) -> Handle {
    let mut options = Options::new(seed);
    options.token = Some(TOKEN.into());
    configure(&mut options);
    sandbox::start(options).await.expect("the sandbox starts")
}

/// Runs `notion-bulk apply` against the sandbox with `token` in NOTION_TOKEN.
async fn apply(dir: &Dir, handle: &Handle, token: &str, args: &[&str]) -> Run {
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    run_against(dir, &handle.base_url(), token, &all).await
}

/// One input row of the task tracker, for the CSV and for the expected-state fold.
#[derive(Clone, Debug)]
struct TaskRow {
    page: String,
    name: String,
    status: &'static str,
    estimate: i64,
    done: bool,
    tags: Vec<String>,
}

const HEADER: &str =
    "page_id,Name:title,Status:status,Estimate:number,Done:checkbox,Tags:multi_select\n";

fn csv_of(rows: &[TaskRow]) -> String {
    let mut csv = HEADER.to_owned();
    for r in rows {
        csv += &format!(
            "{},{},{},{},{},{}\n",
            r.page,
            r.name,
            r.status,
            r.estimate,
            r.done,
            r.tags.join(";")
        );
    }
    csv
}

/// The expected end state: for each page, the values of its last row.
fn fold(rows: &[TaskRow]) -> BTreeMap<String, TaskRow> {
    rows.iter().map(|r| (r.page.clone(), r.clone())).collect()
}

/// A page's values as the sandbox holds them, in the same terms as [`TaskRow`].
fn stored(handle: &Handle, page: &str) -> (String, String, Option<i64>, bool, Vec<String>) {
    let p = handle
        .page(page)
        .unwrap_or_else(|| panic!("page {page} exists"));
    let props = &p["properties"];
    let title: String = props["Name"]["title"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t["text"]["content"]
                .as_str()
                .or(t["plain_text"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let status = props["Status"]["status"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let estimate = props["Estimate"]["number"].as_f64().map(|n| n as i64);
    let done = props["Done"]["checkbox"].as_bool().unwrap_or(false);
    let tags = props["Tags"]["multi_select"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (title, status, estimate, done, tags)
}

/// The last line of each row: its outcome. Also checks rows appear once each.
fn final_lines(report: &[ReportLine]) -> BTreeMap<u64, &ReportLine> {
    let mut last = BTreeMap::new();
    for line in report {
        last.insert(line.row, line);
    }
    last
}

fn generated_rows(pages: usize, rows_per_page: usize) -> Vec<TaskRow> {
    let statuses = ["Not started", "In progress", "Done"];
    let mut rows = Vec::new();
    for round in 0..rows_per_page {
        for p in 1..=pages {
            let i = round * pages + p;
            rows.push(TaskRow {
                page: Seed::generated_page_id(p),
                name: format!("Task {p} v{round}"),
                status: statuses[i % 3],
                estimate: i as i64,
                done: i.is_multiple_of(2),
                tags: vec![format!("t{}", i % 7), format!("round{round}")],
            });
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_kind_at_ten_percent_and_every_row_ends_once_with_the_folded_state() {
    let pages = 80;
    let rows = generated_rows(pages, 5);
    let handle = start(Seed::generate(pages), |o| {
        o.faults = "conflict=0.02,e500=0.015,e502=0.015,e503=0.015,e504_applied=0.015,e529=0.01,reset=0.01,stall=0.005"
            .parse::<FaultSpec>()
            .unwrap();
        // A seed whose first 400 draws include every kind (the draws follow the request count).
        o.fault_seed = 3;
        o.stall = Duration::from_secs(3);
        o.latency = Some((0, 5));
    })
    .await;
    let dir = Dir::new();
    dir.write("rows.csv", csv_of(&rows));
    let run = apply(
        &dir,
        &handle,
        TOKEN,
        &[
            "rows.csv",
            "--report",
            "report.jsonl",
            "--rate",
            "500",
            "--burst",
            "20",
            "--concurrency",
            "16",
            "--timeout",
            "1",
            "--max-attempts",
            "10",
            "--progress",
            "none",
            "--summary-json",
            "summary.json",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty());

    // Every fault kind was injected.
    let stats = handle.stats();
    let kinds: Vec<String> = stats.faults.keys().map(|k| k.as_str().to_owned()).collect();
    for kind in [
        "conflict",
        "e500",
        "e502",
        "e503",
        "e504_applied",
        "e529",
        "reset",
        "stall",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} fault was injected: {:?}",
            stats.faults
        );
    }

    // Every input row has exactly one line, and it is ok.
    let report = read_report(&dir.path("report.jsonl"));
    assert_eq!(report.len(), rows.len(), "one line per row");
    let last = final_lines(&report);
    assert_eq!(
        last.keys().copied().collect::<Vec<_>>(),
        (1..=rows.len() as u64).collect::<Vec<_>>()
    );
    for (row, line) in &last {
        assert_eq!(line.outcome, "ok", "row {row}: {line:?}");
        assert_eq!(
            line.page_id.as_deref(),
            Some(rows[*row as usize - 1].page.as_str())
        );
        assert!(line.body_hash.as_deref().is_some_and(|h| h.len() == 64));
    }

    // The sandbox's state is the fold of the input.
    for (page, expected) in fold(&rows) {
        let (title, status, estimate, done, tags) = stored(&handle, &page);
        assert_eq!(title, expected.name, "{page}");
        assert_eq!(status, expected.status, "{page}");
        assert_eq!(estimate, Some(expected.estimate), "{page}");
        assert_eq!(done, expected.done, "{page}");
        assert_eq!(tags, expected.tags, "{page}");
    }

    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.path("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["rows"]["ok"], rows.len());
    assert!(summary["retries"].as_u64().unwrap() > 0, "{summary}");
    assert!(
        summary["rate_limited"].as_u64().unwrap() > 0,
        "529s pause: {summary}"
    );
    assert_eq!(
        summary["requests"].as_u64().unwrap(),
        stats.requests,
        "every request the tool counts reached the sandbox"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_for_one_page_apply_in_input_order_even_at_high_concurrency() {
    let pages = 40;
    let hot = Seed::generated_page_id(1);
    let mut rows = Vec::new();
    for i in 0..120 {
        // Every other row is for the hot page, with conflicting values.
        let page = if i % 2 == 0 {
            hot.clone()
        } else {
            Seed::generated_page_id(2 + i % (pages - 1))
        };
        rows.push(TaskRow {
            page,
            name: format!("value {i}"),
            status: ["Not started", "In progress", "Done"][i % 3],
            estimate: i as i64,
            done: i % 2 == 1,
            tags: vec![format!("v{i}")],
        });
    }
    let handle = start(Seed::generate(pages), |o| o.latency = Some((0, 20))).await;
    let dir = Dir::new();
    dir.write("rows.csv", csv_of(&rows));
    let run = apply(
        &dir,
        &handle,
        TOKEN,
        &[
            "rows.csv",
            "--report",
            "r.csv",
            "--rate",
            "1000",
            "--burst",
            "64",
            "--concurrency",
            "64",
            "--progress",
            "none",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    let last = rows.iter().rev().find(|r| r.page == hot).unwrap();
    let (title, _, estimate, _, tags) = stored(&handle, &hot);
    assert_eq!(
        (title.as_str(), estimate, tags),
        (last.name.as_str(), Some(last.estimate), last.tags.clone())
    );

    // The sandbox received the hot page's bodies in input order, one at a time.
    let report = read_report(&dir.path("r.csv"));
    let mut expected: Vec<(u64, String)> = report
        .iter()
        .filter(|l| l.page_id.as_deref() == Some(hot.as_str()))
        .map(|l| (l.row, l.body_hash.clone().unwrap()))
        .collect();
    expected.sort();
    let received: Vec<String> = handle
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.page_id.as_deref() == Some(hot.as_str()))
        .map(|r| r.body_sha256.unwrap())
        .collect();
    assert_eq!(
        received,
        expected.into_iter().map(|(_, h)| h).collect::<Vec<_>>()
    );
    assert!(
        handle.stats().max_in_flight > 1,
        "other pages did run concurrently"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_aborts_after_exactly_one_request() {
    let handle = start(Seed::generate(30), |_| {}).await;
    let dir = Dir::new();
    dir.write("rows.csv", csv_of(&generated_rows(30, 1)));
    let run = apply(
        &dir,
        &handle,
        "secret_wrong",
        &[
            "rows.csv",
            "--report",
            "r.jsonl",
            "--progress",
            "none",
            "--rate",
            "100",
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(handle.requests().len(), 1, "the first request goes alone");
    assert!(
        run.stderr.contains("refused the token (401 unauthorized)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--resume"),
        "the last lines say how to continue: {}",
        run.stderr
    );
    let report = read_report(&dir.path("r.jsonl"));
    assert_eq!(report.len(), 1);
    assert_eq!(
        (report[0].outcome.as_str(), report[0].http_status),
        ("failed", Some(401))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_appears_nowhere_even_at_the_most_verbose_level() {
    let secret = "secret_LEAKCHECK_zz9q";
    let mut options_token = None;
    let handle = start(Seed::generate(20), |o| {
        o.token = Some(secret.into());
        o.faults = "conflict=0.2,e502=0.1".parse().unwrap();
        options_token = o.token.clone();
    })
    .await;
    let dir = Dir::new();
    let mut rows = generated_rows(20, 2);
    rows[3].status = "No such status";
    dir.write("rows.csv", csv_of(&rows));
    let args = [
        "rows.csv",
        "--report",
        "r.jsonl",
        "--failed-out",
        "again.csv",
        "--summary-json",
        "s.json",
        "--verbose",
        "--progress",
        "log",
        "--progress-interval",
        "0.05",
        "--rate",
        "200",
        "--burst",
        "10",
    ];
    let ok_run = apply(&dir, &handle, secret, &args).await;
    assert_eq!(ok_run.code, 1, "{}", ok_run.stderr);
    assert!(
        ok_run.stderr.contains("request: row 1 PATCH"),
        "verbose lines are printed: {}",
        ok_run.stderr
    );
    let refused = apply(
        &dir,
        &handle,
        &format!("{secret}_wrong"),
        &[
            "rows.csv",
            "--report",
            "r2.jsonl",
            "--verbose",
            "--progress",
            "log",
        ],
    )
    .await;
    assert_eq!(refused.code, 3);
    for (what, text) in [
        ("stdout", ok_run.stdout),
        ("stderr", ok_run.stderr),
        ("stdout of the refused run", refused.stdout),
        ("stderr of the refused run", refused.stderr),
        (
            "report",
            std::fs::read_to_string(dir.path("r.jsonl")).unwrap(),
        ),
        (
            "report of the refused run",
            std::fs::read_to_string(dir.path("r2.jsonl")).unwrap(),
        ),
        (
            "summary",
            std::fs::read_to_string(dir.path("s.json")).unwrap(),
        ),
        (
            "failed-out",
            std::fs::read_to_string(dir.path("again.csv")).unwrap(),
        ),
    ] {
        assert!(
            !text.contains("LEAKCHECK"),
            "the token leaked into the {what}:\n{text}"
        );
    }
    assert_eq!(options_token.as_deref(), Some(secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_off_a_terminal_is_plain_periodic_lines() {
    let handle = start(Seed::generate(30), |o| o.latency = Some((5, 10))).await;
    let dir = Dir::new();
    dir.write("rows.csv", csv_of(&generated_rows(30, 2)));
    let run = apply(
        &dir,
        &handle,
        TOKEN,
        &[
            "rows.csv",
            "--report",
            "r.jsonl",
            "--rate",
            "40",
            "--burst",
            "1",
            "--progress",
            "auto",
            "--progress-interval",
            "0.2",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(
        lines.len() >= 3,
        "a line every 0.2 s over a run of 1.5 s: {}",
        run.stderr
    );
    assert!(
        lines.iter().any(|l| l.contains("/60 rows (")),
        "the total is known: {lines:?}"
    );
    assert!(
        !run.stderr.chars().any(|c| c.is_control() && c != '\n'),
        "no control characters: {:?}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_identical_refusals_stop_the_run_with_a_hint() {
    let handle = start(Seed::generate(5), |_| {}).await;
    let dir = Dir::new();
    // Pages the sandbox does not have (as if the database were not shared).
    let rows: Vec<TaskRow> = (0..60)
        .map(|i| TaskRow {
            page: format!("{:032x}", 0xabc000 + i),
            ..generated_rows(1, 1)[0].clone()
        })
        .collect();
    dir.write("rows.csv", csv_of(&rows));
    let run = apply(
        &dir,
        &handle,
        TOKEN,
        &[
            "rows.csv",
            "--report",
            "r.jsonl",
            "--rate",
            "500",
            "--burst",
            "50",
            "--concurrency",
            "4",
            "--progress",
            "none",
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("first 20 rows sent all failed the same way"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("shared with the integration"),
        "{}",
        run.stderr
    );
    let report = read_report(&dir.path("r.jsonl"));
    assert!(
        report.len() >= 20 && report.len() < 30,
        "stopped soon after 20 rows: {}",
        report.len()
    );
    assert!(report.iter().all(|l| l.http_status == Some(404)));
}

/// A server that refuses every page update, with 403 for pages whose id ends in an even digit
/// and 404 for the others (the sandbox never answers 403). Returns its address.
async fn refusing_server() -> std::net::SocketAddr {
    use axum::extract::Path;
    use axum::http::StatusCode;
    async fn refuse(Path(id): Path<String>) -> (StatusCode, axum::Json<Value>) {
        let even = id
            .chars()
            .last()
            .and_then(|c| c.to_digit(16))
            .is_some_and(|d| d % 2 == 0);
        let (status, code) = if even {
            (StatusCode::FORBIDDEN, "restricted_resource")
        } else {
            (StatusCode::NOT_FOUND, "object_not_found")
        };
        let body = serde_json::json!({"object": "error", "status": status.as_u16(), "code": code,
            "message": "refused", "request_id": "req"});
        (status, axum::Json(body))
    }
    let app = axum::Router::new().route("/v1/pages/{id}", axum::routing::patch(refuse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_refusals_with_403_and_404_mixed_are_one_signal_and_the_hint_names_both() {
    let addr = refusing_server().await;
    let dir = Dir::new();
    let rows: Vec<TaskRow> = (0..60)
        .map(|i| TaskRow {
            page: format!("{:032x}", 0xabc000 + i),
            ..generated_rows(1, 1)[0].clone()
        })
        .collect();
    dir.write("rows.csv", csv_of(&rows));
    let run = run_against(
        &dir,
        &format!("http://{addr}"),
        TOKEN,
        &[
            "apply",
            "rows.csv",
            "--report",
            "r.jsonl",
            "--rate",
            "500",
            "--burst",
            "50",
            "--concurrency",
            "4",
            "--progress",
            "none",
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("first 20 rows sent all failed the same way"),
        "{}",
        run.stderr
    );
    let hint = run
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(
        hint.contains("403 restricted_resource, 404 object_not_found")
            && hint.contains("not shared")
            && hint.contains("capability"),
        "{hint}"
    );
    let report = read_report(&dir.path("r.jsonl"));
    assert!(report.len() >= 20 && report.len() < 30, "{}", report.len());
    let statuses: std::collections::BTreeSet<Option<u16>> =
        report.iter().map(|l| l.http_status).collect();
    assert_eq!(statuses, [Some(403), Some(404)].into_iter().collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_rows_go_to_failed_out_without_what_later_ok_rows_of_their_pages_set() {
    let handle = start(Seed::generate(10), |_| {}).await;
    let dir = Dir::new();
    let mut rows = generated_rows(10, 2);
    rows[2].status = "Archived"; // not an option: 400 validation_error
                                 // Row 13, of the same page, sets only Name and Estimate, and ends ok.
    let mut input = csv_of(&rows);
    let thirteenth = csv_of(&rows[12..13]).lines().nth(1).unwrap().to_owned();
    let r = &rows[12];
    input = input.replace(
        &thirteenth,
        &format!("{},{},,{},,", r.page, r.name, r.estimate),
    );
    dir.write("rows.csv", &input);
    let run = apply(
        &dir,
        &handle,
        TOKEN,
        &[
            "rows.csv",
            "--report",
            "r.jsonl",
            "--failed-out",
            "again.csv",
            "--rate",
            "500",
            "--burst",
            "50",
            "--progress",
            "none",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("failed: row 3"), "{}", run.stderr);
    assert!(run.stderr.contains("validation_error"), "{}", run.stderr);
    let again = std::fs::read_to_string(dir.path("again.csv")).unwrap();
    // Row 3 failed: it is there without Name and Estimate, which row 13 set since; row 13 ended
    // ok and is not there.
    let third = &rows[2];
    let expected = format!(
        "{HEADER}{},,{},,{},{}\n",
        third.page,
        third.status,
        third.done,
        third.tags.join(";")
    );
    assert_eq!(again, expected);
    assert!(run.stderr.contains("again.csv"), "{}", run.stderr);
    assert!(
        !dir.path("again.csv.spool").exists(),
        "the spool is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_runs_pause_and_still_finish_every_row() {
    let handle = start(Seed::generate(20), |o| {
        o.rate = Some(10.0);
        o.burst = Some(2);
    })
    .await;
    let dir = Dir::new();
    dir.write("rows.csv", csv_of(&generated_rows(20, 2)));
    let run = apply(
        &dir,
        &handle,
        TOKEN,
        &[
            "rows.csv",
            "--report",
            "r.jsonl",
            "--rate",
            "40",
            "--burst",
            "5",
            "--progress",
            "log",
            "--progress-interval",
            "0.05",
            "--summary-json",
            "s.json",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.path("s.json")).unwrap()).unwrap();
    assert_eq!(summary["rows"]["ok"], 40);
    assert!(summary["rate_limited"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(
        summary["rate_limited"].as_u64().unwrap(),
        handle.stats().rate_limited
    );
    let report = read_report(&dir.path("r.jsonl"));
    assert!(
        report.iter().all(|l| l.outcome == "ok" && l.attempts == 1),
        "429s are not attempts"
    );
    // The display says when the pause ends and why (a pause lasts the 1 s Retry-After; a line
    // comes every 50 ms).
    let paused = run
        .stderr
        .lines()
        .find(|l| l.starts_with("progress: ") && l.contains("all requests paused until"))
        .unwrap_or_else(|| panic!("no line shows the pause: {}", run.stderr));
    assert!(
        paused.contains("UTC: rate limited by the server (429, connection_limit)"),
        "{paused}"
    );
}
