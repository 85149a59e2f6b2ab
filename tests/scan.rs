//! Issue 11: the scan (`--data-source`) and changes only. The real binary reads the sandbox's
//! data source (a small result cap, faults and the rate limit on), and the sandbox's own
//! request log says what was sent.

use notion_sandbox::{self as sandbox, FaultSpec, Handle, Options, Seed};
use serde_json::{json, Value};

use crate::util::{read_report, run_against, Dir, Run};

pub const TOKEN: &str = "secret_scan_test";
pub const DATA_SOURCE: &str = "d23f0824-128b-4f33-8c5c-7fd0a6a3a450";

pub async fn start(seed: Seed, configure: impl FnOnce(&mut Options)) -> Handle {
    let mut options = Options::new(seed);
    options.token = Some(TOKEN.into());
    configure(&mut options);
    sandbox::start(options).await.expect("the sandbox starts")
}

pub async fn apply(dir: &Dir, handle: &Handle, args: &[&str]) -> Run {
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    all.extend(["--progress", "log", "--data-source", DATA_SOURCE]);
    run_against(dir, &handle.base_url(), TOKEN, &all).await
}

fn first_minute() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn status(i: usize) -> &'static str {
    ["Not started", "In progress"][i % 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_past_the_cap_with_faults_reads_every_page_once_and_sends_only_the_changes() {
    // 1,000 pages, 7 to a created_time minute, a cap of 250 results per query: windows start
    // inside a minute, so pages of that minute come back twice and must be dropped.
    let seed = Seed::generate(1000).created_per_minute(first_minute(), 7);
    let handle = start(seed, |o| {
        o.query_cap = 250;
        o.rate = Some(30.0);
        o.burst = Some(5);
        o.faults = "conflict=0.03,e500=0.03,e502=0.03,e503=0.03,e529=0.02,reset=0.02"
            .parse::<FaultSpec>()
            .unwrap();
        o.fault_seed = 11;
    })
    .await;
    let dir = Dir::new();
    let mut csv = String::from("page_id,Name,Status\n");
    for i in 1..=1000 {
        // Ten rows change their status; the others repeat what the page has.
        let s = if i <= 10 { "Done" } else { status(i) };
        csv += &format!("{},Task {i},{s}\n", Seed::generated_page_id(i));
    }
    dir.write("rows.csv", &csv);
    let out = apply(
        &dir,
        &handle,
        &[
            "rows.csv",
            "--report",
            "r.jsonl",
            "--rate",
            "60",
            "--burst",
            "5",
            "--summary-json",
            "s.json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The closing scan line, once (it used to be printed twice when the first line was it).
    assert_eq!(
        out.stderr.matches("scan: 1000 pages read").count(),
        1,
        "{}",
        out.stderr
    );
    // Every page was in the index (a page missing from it would be sent whole).
    let report = read_report(&dir.path("r.jsonl"));
    assert_eq!(report.len(), 1000);
    for line in &report {
        if line.row <= 10 {
            assert_eq!(line.outcome, "ok", "{line:?}");
        } else {
            assert_eq!(
                (line.outcome.as_str(), line.code.as_deref()),
                ("skipped", Some("unchanged")),
                "{line:?}"
            );
        }
    }
    let sent: Vec<_> = handle
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.status == Some(200))
        .collect();
    assert_eq!(sent.len(), 10, "one PATCH per changed row");
    for i in 1..=10 {
        let page = handle.page(&Seed::generated_page_id(i)).unwrap();
        assert_eq!(page["properties"]["Status"]["status"]["name"], "Done");
    }
    let stats = handle.stats();
    assert!(stats.queries >= 10, "{stats:?}");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.path("s.json")).unwrap()).unwrap();
    // The summary counts the reads apart: at least the 10 queries of 100 plus the window
    // starts, and every write attempt besides.
    let (requests, reads) = (
        summary["requests"].as_u64().unwrap(),
        summary["scan_requests"].as_u64().unwrap(),
    );
    assert!(reads >= 13 && requests - reads >= 10, "{summary}");
    assert!(
        out.stderr
            .contains(&format!("({reads} reading the data source")),
        "{}",
        out.stderr
    );
    // The queries asked only for the compared properties, ids as the schema gives them.
    let query = handle
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        query.query.as_deref(),
        Some("filter_properties=title&filter_properties=a%3Fb")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_that_cannot_get_past_one_created_time_fails_before_any_write() {
    // 300 pages in one minute, a cap of 250: no created_time window can reach the last 50.
    let seed = Seed::generate(300).created_per_minute(first_minute(), 300);
    let handle = start(seed, |o| o.query_cap = 250).await;
    let dir = Dir::new();
    let mut csv = String::from("page_id,Status\n");
    for i in 1..=300 {
        csv += &format!("{},Done\n", Seed::generated_page_id(i));
    }
    dir.write("rows.csv", &csv);
    let out = apply(
        &dir,
        &handle,
        &["rows.csv", "--report", "r.jsonl", "--rate", "100"],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot go on past created_time 2026-01-01T00:00:00.000Z")
            && out.stderr.contains("250 results")
            && out.stderr.contains("Nothing was sent"),
        "{}",
        out.stderr
    );
    assert!(handle.requests().iter().all(|r| r.method != "PATCH"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_data_source_exits_2_telling_to_share_it() {
    let handle = start(Seed::generate(3), |_| {}).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!(
            "page_id,Status:status\n{},Done\n",
            Seed::generated_page_id(1)
        ),
    );
    let out = run_against(
        &dir,
        &handle.base_url(),
        TOKEN,
        &[
            "apply",
            "rows.csv",
            "--data-source",
            "00000000000040008000999999999999",
            "--report",
            "r.jsonl",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("shared with the integration"),
        "{}",
        out.stderr
    );
    assert!(handle.requests().iter().all(|r| r.method != "PATCH"));
}

/// One rule of SPEC §9: the page's value, and two cells written for it, one equal, one not.
struct Rule {
    name: &'static str,
    header: &'static str,
    seed: Value,
    equal: &'static str,
    different: &'static str,
    /// The value the one PATCH sends for `different`.
    patch: Value,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_equality_rule_sends_nothing_when_equal_and_one_patch_of_that_property_when_not() {
    let ada = "9531985d-5d9d-49f8-9818-e811892f902b";
    let grace = "36f675cc-81e7-4ef5-a8e2-5d940ed90475";
    let rules = [
        Rule {
            name: "number by value",
            header: "Estimate",
            seed: json!(12.5),
            equal: "12.50",
            different: "12.6",
            patch: json!({"number": 12.6}),
        },
        Rule {
            name: "tags as a set",
            header: "Tags",
            seed: json!(["backend", "urgent"]),
            equal: "urgent;backend",
            different: "urgent",
            patch: json!({"multi_select": [{"name": "urgent"}]}),
        },
        Rule {
            name: "date-time instant",
            header: "Due",
            seed: json!({"start": "2026-05-01T09:00:00.000+02:00"}),
            equal: "2026-05-01T07:00:00Z",
            different: "2026-05-01T09:00:00Z",
            patch: json!({"date": {"start": "2026-05-01T09:00:00Z", "end": null}}),
        },
        Rule {
            name: "date-only",
            header: "Due",
            seed: json!("2026-05-01"),
            equal: "2026-05-01",
            different: "2026-05-02",
            patch: json!({"date": {"start": "2026-05-02", "end": null}}),
        },
        Rule {
            name: "date time zone",
            header: "Due",
            seed: json!({"start": "2026-05-01T09:00", "time_zone": "Europe/Paris"}),
            equal: "2026-05-01T09:00[Europe/Paris]",
            different: "2026-05-01T09:00[Europe/Berlin]",
            patch: json!({"date": {"start": "2026-05-01T09:00", "end": null, "time_zone": "Europe/Berlin"}}),
        },
        Rule {
            name: "plain text of a formatted title",
            header: "Name",
            seed: json!([{"type": "text", "text": {"content": "Ship "}, "annotations": {"bold": true}}, {"type": "text", "text": {"content": "it", "link": {"url": "https://example.com"}}}]),
            equal: "Ship it",
            different: "Ship it now",
            patch: json!({"title": [{"type": "text", "text": {"content": "Ship it now"}}]}),
        },
        Rule {
            name: "empty string as empty",
            header: "Link",
            seed: Value::Null,
            equal: "",
            different: "https://example.com",
            patch: json!({"url": "https://example.com"}),
        },
        Rule {
            name: "select by name",
            header: "Priority",
            seed: json!("High"),
            equal: "High",
            different: "Low",
            patch: json!({"select": {"name": "Low"}}),
        },
        Rule {
            name: "people as a set",
            header: "Owner",
            seed: json!([ada, grace]),
            equal: "36f675cc81e74ef5a8e25d940ed90475;9531985d-5d9d-49f8-9818-e811892f902b",
            different: ada,
            patch: json!({"people": [{"id": ada}]}),
        },
        Rule {
            name: "checkbox exactly",
            header: "Done",
            seed: json!(true),
            equal: "yes",
            different: "false",
            patch: json!({"checkbox": false}),
        },
        Rule {
            name: "files by name and URL",
            header: "Attachments",
            seed: json!(["https://example.com/a.pdf"]),
            equal: "https://example.com/a.pdf",
            different: "https://example.com/b.pdf",
            patch: json!({"files": [{"name": "b.pdf", "type": "external", "external": {"url": "https://example.com/b.pdf"}}]}),
        },
        Rule {
            name: "email exactly",
            header: "Contact",
            seed: json!("a@example.com"),
            equal: "a@example.com",
            different: "A@example.com",
            patch: json!({"email": "A@example.com"}),
        },
    ];
    let mut seed = Seed::generate(rules.len());
    for (page, rule) in seed.pages.iter_mut().zip(&rules) {
        if !rule.seed.is_null() {
            page.properties
                .insert(rule.header.into(), rule.seed.clone());
        }
    }
    // `--empty clear` so that an empty cell means "empty", compared with the empty value.
    let handle = start(seed, |_| {}).await;
    for (i, rule) in rules.iter().enumerate() {
        let page = Seed::generated_page_id(i + 1);
        for (cell, expected) in [(rule.equal, 0), (rule.different, 1)] {
            let dir = Dir::new();
            dir.write(
                "rows.csv",
                format!("page_id,{}\n{page},\"{cell}\"\n", rule.header),
            );
            let before = handle.requests().len();
            let out = apply(
                &dir,
                &handle,
                &[
                    "rows.csv", "--report", "r.jsonl", "--rate", "100", "--empty", "clear",
                ],
            )
            .await;
            assert_eq!(out.code, 0, "{}: {}", rule.name, out.stderr);
            let patches: Vec<_> = handle.requests()[before..]
                .iter()
                .filter(|r| r.method == "PATCH")
                .cloned()
                .collect();
            assert_eq!(
                patches.len(),
                expected,
                "{} with {cell:?}: {}",
                rule.name,
                out.stderr
            );
            let line = &read_report(&dir.path("r.jsonl"))[0];
            if expected == 0 {
                assert_eq!(
                    line.code.as_deref(),
                    Some("unchanged"),
                    "{}: {line:?}",
                    rule.name
                );
            } else {
                assert_eq!(line.outcome, "ok", "{}: {line:?}", rule.name);
                // The PATCH carried that one property, with the row's value.
                let body = json!({ "properties": { rule.header: rule.patch } });
                assert_eq!(
                    patches[0].body_sha256.as_deref(),
                    Some(sandbox::body_sha256(&body).as_str()),
                    "{}: expected {body}",
                    rule.name
                );
                assert_eq!(patches[0].page_id.as_deref(), Some(page.as_str()));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_with_a_data_source_shows_each_rows_action_and_changes() {
    let handle = start(Seed::generate(4), |_| {}).await;
    let dir = Dir::new();
    let id = Seed::generated_page_id;
    dir.write(
        "rows.csv",
        format!(
            "page_id,Name,Status\n{},Task 1,Done\n{},Task 2,Not started\n{},Renamed,In progress\n{},Task 4,Dnoe\n",
            id(1),
            id(2),
            id(3),
            id(4)
        ),
    );
    let out = run_against(
        &dir,
        &handle.base_url(),
        TOKEN,
        &["plan", "rows.csv", "--data-source", DATA_SOURCE],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines = crate::util::json_lines(&out.stdout);
    assert_eq!(
        lines,
        [
            json!({"row": 1, "page_id": id(1), "body": {"properties": {"Status": {"status": {"name": "Done"}}}},
                   "action": "updated", "changes": {"Status": {"from": "In progress", "to": "Done"}}}),
            json!({"row": 2, "page_id": id(2), "action": "unchanged", "changes": {}}),
            json!({"row": 3, "page_id": id(3), "body": {"properties": {"Name": {"title": [{"type": "text", "text": {"content": "Renamed"}}]}}},
                   "action": "updated", "changes": {"Name": {"from": "Task 3", "to": "Renamed"}}}),
        ]
    );
    assert!(out.stderr.contains("invalid: row 4"), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "plan: 4 rows read from rows.csv: 2 to update (2 properties), 1 unchanged, 1 invalid, 0 skipped"
        ),
        "{}",
        out.stderr
    );
    assert!(handle.requests().iter().all(|r| r.method != "PATCH"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_takes_its_before_images_from_the_scan_and_send_unchanged_sends_everything() {
    let handle = start(Seed::generate(3), |_| {}).await;
    let dir = Dir::new();
    let id = Seed::generated_page_id;
    dir.write(
        "rows.csv",
        format!("page_id,Status\n{},Done\n{},Not started\n", id(1), id(2)),
    );
    let out = apply(
        &dir,
        &handle,
        &[
            "rows.csv", "--report", "r.jsonl", "--backup", "b.jsonl", "--rate", "100",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // No page read: the scan's values are the before-images.
    assert!(
        handle
            .requests()
            .iter()
            .all(|r| r.method != "GET" || !r.path.starts_with("/v1/pages")),
        "{:?}",
        handle.requests()
    );
    let backup = std::fs::read_to_string(dir.path("b.jsonl")).unwrap();
    let lines: Vec<Value> = backup
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [json!({"page_id": id(1), "properties": {"Status": {"status": {"name": "In progress"}}}})]
    );
    // --send-unchanged: both rows are sent.
    let n = handle.requests().len();
    let out = apply(
        &dir,
        &handle,
        &[
            "rows.csv",
            "--report",
            "r2.jsonl",
            "--rate",
            "100",
            "--send-unchanged",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let patches = handle.requests()[n..]
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 2);
}
