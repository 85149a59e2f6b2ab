//! Issue 12: rows matched to pages by a key property (`--match-on`), batched lookups, and
//! `--create-missing` under faults, kills and `--resume`. The real binary runs against the
//! sandbox; the sandbox's state and request log say what happened.

use std::collections::BTreeMap;

use notion_sandbox::{self as sandbox, FaultSpec, Handle, Options, Seed};
use serde_json::{json, Value};

use crate::resume::{spawn, until_report_has, TOKEN};
use crate::util::{read_report, run_against, Dir, ReportLine, Run};

pub const DATA_SOURCE: &str = "5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d";
const DATABASE: &str = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5";

/// The id of product `i` (1-based).
pub fn product_id(i: usize) -> String {
    format!("00000000-0000-4000-9000-{i:012x}")
}

/// A product page: every key type has a value derived from `i`.
pub fn product(i: usize, sku: &str, trashed: bool) -> Value {
    json!({
        "id": product_id(i),
        "data_source_id": DATA_SOURCE,
        "properties": {
            "Name": format!("Mug {i}"),
            "SKU": sku,
            "Code": 100 + i,
            "Email": format!("p{i}@example.com"),
            "Phone": format!("+1 555 010{i}"),
            "Link": format!("https://shop.example/p/{i}"),
            "ID": i,
            "Slug": format!("mug-{i}"),
            "Price": 10,
        },
        "in_trash": trashed,
        "created_time": format!("2026-01-01T00:{:02}:00.000Z", i % 60),
    })
}

/// A products data source holding `pages`.
pub fn products_seed(pages: Vec<Value>) -> Seed {
    Seed::from_json(
        &json!({
            "databases": [{"id": DATABASE, "title": "Products", "data_sources": [DATA_SOURCE]}],
            "data_sources": [{
                "id": DATA_SOURCE, "title": "Products", "database_id": DATABASE,
                "properties": [
                    {"id": "title", "name": "Name", "type": "title"},
                    {"id": "s%3Fk", "name": "SKU", "type": "rich_text"},
                    {"id": "c0de", "name": "Code", "type": "number"},
                    {"id": "em%40l", "name": "Email", "type": "email"},
                    {"id": "ph0n", "name": "Phone", "type": "phone_number"},
                    {"id": "l1nk", "name": "Link", "type": "url"},
                    {"id": "u1d", "name": "ID", "type": "unique_id", "prefix": "PRD"},
                    {"id": "sl%3Ag", "name": "Slug", "type": "formula", "expression": "lower(prop(\"Name\"))"},
                    {"id": "pr1c", "name": "Price", "type": "number"},
                ]
            }],
            "users": [{"id": "9531985d-5d9d-49f8-9818-e811892f902b", "name": "Ada Lovelace", "email": "ada@example.com"}],
            "pages": pages,
        })
        .to_string(),
    )
    .expect("a valid seed")
}

async fn start(seed: Seed, configure: impl FnOnce(&mut Options)) -> Handle {
    let mut options = Options::new(seed);
    options.token = Some(TOKEN.into());
    configure(&mut options);
    sandbox::start(options).await.expect("the sandbox starts")
}

async fn apply(dir: &Dir, handle: &Handle, args: &[&str]) -> Run {
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    all.extend([
        "--progress",
        "log",
        "--data-source",
        DATA_SOURCE,
        "--rate",
        "200",
        "--burst",
        "20",
    ]);
    run_against(dir, &handle.base_url(), TOKEN, &all).await
}

fn price(handle: &Handle, id: &str) -> Option<f64> {
    handle.page(id).expect("the page exists")["properties"]["Price"]["number"].as_f64()
}

/// The last line of each row.
fn last(lines: &[ReportLine]) -> BTreeMap<u64, &ReportLine> {
    lines.iter().map(|l| (l.row, l)).collect()
}

fn patched_pages(handle: &Handle) -> Vec<String> {
    handle
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .filter_map(|r| r.page_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_type_finds_its_page_trimmed_and_a_trashed_page_never_matches() {
    let pages = (1..=4)
        .map(|i| product(i, &format!("SKU-{i}"), false))
        .chain([product(5, "SKU-5", true)])
        .collect();
    let handle = start(products_seed(pages), |_| {}).await;
    // Each key type, the key of page 2 as a person would write it (with stray spaces), and
    // the key of page 5, which is in the trash.
    let cases = [
        ("Name", " Mug 2 ", "Mug 5"),
        ("SKU", "  SKU-2 ", "SKU-5"),
        ("Code", "102", "105"),
        ("Email", "p2@example.com ", "p5@example.com"),
        ("Phone", "+1 555 0102", "+1 555 0105"),
        (
            "Link",
            "https://shop.example/p/2",
            "https://shop.example/p/5",
        ),
        ("ID", "PRD-2", "5"),
        ("Slug", "mug-2", "mug-5"),
    ];
    // Each read two ways: a scan, and lookups (a filter of the key's own type).
    for (m, mode) in ["scan", "batch"].into_iter().enumerate() {
        for (n, (property, key, trashed_key)) in cases.iter().enumerate() {
            let dir = Dir::new();
            let new_price = 20 + n + 10 * m;
            dir.write(
                "rows.csv",
                format!("{property},Price\n\"{key}\",{new_price}\n\"{trashed_key}\",99\n"),
            );
            let out = apply(
                &dir,
                &handle,
                &[
                    "rows.csv",
                    "--match-on",
                    property,
                    "--key-lookup",
                    mode,
                    "--report",
                    "r.jsonl",
                ],
            )
            .await;
            assert_eq!(out.code, 1, "{property} {mode}: {}", out.stderr);
            let said = match (mode, *property) {
                ("batch", "Slug") => "a formula key needs",
                ("batch", _) => "looked up the input's 2 keys in 1 query",
                _ => "read every page",
            };
            assert!(
                out.stderr.contains(said),
                "{property} {mode}: {}",
                out.stderr
            );
            let report = dir.report("r.jsonl");
            let rows = last(&report);
            let found = rows[&1];
            assert_eq!(
                (found.outcome.as_str(), found.page_id.as_deref()),
                ("ok", Some(product_id(2).as_str())),
                "{property}: {found:?}"
            );
            assert_eq!(found.action.as_deref(), Some("updated"), "{property}");
            assert_eq!(found.key.as_deref(), Some(key.trim()), "{property}");
            let trashed = rows[&2];
            assert_eq!(
                (trashed.outcome.as_str(), trashed.code.as_deref()),
                ("failed", Some("no_match")),
                "{property}: a page in the trash never matches: {trashed:?}"
            );
            assert_eq!(price(&handle, &product_id(2)), Some(new_price as f64));
            assert_eq!(price(&handle, &product_id(5)), Some(10.0), "{property}");
        }
    }
    // Only page 2 was ever written, once per key type and way, and never its key.
    let patches = patched_pages(&handle);
    assert_eq!(patches, vec![product_id(2); 2 * cases.len()]);
    assert_eq!(
        handle.page(&product_id(2)).unwrap()["properties"]["SKU"]["rich_text"][0]["plain_text"],
        "SKU-2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_case_sensitive_unless_match_ignore_case() {
    let pages = (1..=3)
        .map(|i| product(i, &format!("SKU-{i}"), false))
        .collect();
    let handle = start(products_seed(pages), |_| {}).await;
    let dir = Dir::new();
    dir.write("rows.csv", "SKU,Price\nsku-3,33\n");
    let exact = apply(
        &dir,
        &handle,
        &["rows.csv", "--match-on", "SKU", "--report", "a.jsonl"],
    )
    .await;
    assert_eq!(exact.code, 1, "{}", exact.stderr);
    assert_eq!(dir.report("a.jsonl")[0].code.as_deref(), Some("no_match"));
    let folded = apply(
        &dir,
        &handle,
        &[
            "rows.csv",
            "--match-on",
            "SKU",
            "--match-ignore-case",
            "--report",
            "b.jsonl",
        ],
    )
    .await;
    assert_eq!(folded.code, 0, "{}", folded.stderr);
    assert!(
        folded.stderr.contains("--match-ignore-case needs"),
        "the choice of a scan is said: {}",
        folded.stderr
    );
    let line = &dir.report("b.jsonl")[0];
    assert_eq!(line.page_id.as_deref(), Some(product_id(3).as_str()));
    assert_eq!(price(&handle, &product_id(3)), Some(33.0));
    // The key was not rewritten in the row's case.
    assert_eq!(
        handle.page(&product_id(3)).unwrap()["properties"]["SKU"]["rich_text"][0]["plain_text"],
        "SKU-3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_two_pages_have_is_ambiguous_and_neither_page_is_written() {
    let pages = vec![
        product(1, "SKU-1", false),
        product(6, "DUP-1", false),
        product(7, "DUP-1", false),
    ];
    let handle = start(products_seed(pages), |_| {}).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        "SKU,Price,Note\nDUP-1,50,x\nSKU-1,11,y\nDUP-1,51,z\n",
    );
    let out = apply(
        &dir,
        &handle,
        &[
            "rows.csv",
            "--match-on",
            "SKU",
            "--columns",
            "SKU,Price",
            "--create-missing",
            "--report",
            "r.jsonl",
            "--failed-out",
            "again.csv",
            "--summary-json",
            "s.json",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = dir.report("r.jsonl");
    for row in [1, 3] {
        let line = last(&report)[&row];
        assert_eq!(
            (line.outcome.as_str(), line.code.as_deref()),
            ("failed", Some("ambiguous_key")),
            "{line:?}"
        );
        let message = line.message.as_deref().unwrap();
        assert!(
            message.contains(&product_id(6)) && message.contains(&product_id(7)),
            "the message names both pages: {message}"
        );
        assert_eq!(line.page_id, None);
    }
    // Nothing was sent for either page, and nothing was created (the key exists, twice).
    let requests = handle.requests();
    assert!(
        !requests.iter().any(|r| r.page_id == Some(product_id(6))
            || r.page_id == Some(product_id(7))
            || (r.method == "POST" && r.path == "/v1/pages")),
        "{requests:?}"
    );
    assert_eq!(patched_pages(&handle), vec![product_id(1)]);
    // --failed-out keeps the key column (and the ignored one, as the input had it).
    let again = std::fs::read_to_string(dir.path("again.csv")).unwrap();
    assert_eq!(again, "SKU,Price,Note\nDUP-1,50,x\nDUP-1,51,z\n");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("s.json")).unwrap()).unwrap();
    assert_eq!(
        summary["actions"],
        json!({"updated": 1, "created": 0, "unchanged": 0, "no_match": 0, "ambiguous_key": 2})
    );
    assert!(
        out.stderr
            .contains("by key: 1 updated, 0 created, 0 unchanged, 0 no match, 2 ambiguous"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_exit_2_before_any_request_and_an_empty_key_is_invalid() {
    let handle = start(products_seed(vec![product(1, "SKU-1", false)]), |_| {}).await;
    let dir = Dir::new();
    dir.write("rows.csv", "SKU,Price\nSKU-1,12\n   ,13\n");
    for (args, expected) in [
        (vec!["--match-on", "SKUs"], "Did you mean \"SKU\"?"),
        (
            vec!["--match-on", "Price2"],
            "has no such property. Did you mean \"Price\"?",
        ),
        (vec!["--match-on", "Email"], "no input column holds the key"),
        (
            vec!["--match-on", "ID", "--create-missing"],
            "--create-missing cannot create pages found by \"ID\"",
        ),
    ] {
        let mut all = vec!["rows.csv", "--report", "x.jsonl"];
        all.extend(args.iter().copied());
        let before = handle.requests().len();
        let out = apply(&dir, &handle, &all).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        // Only the schema (and its users) was read.
        assert!(
            handle.requests()[before..]
                .iter()
                .all(|r| r.method == "GET"),
            "{args:?}"
        );
    }
    let stray = dir.run(&["plan", "rows.csv", "--create-missing"]);
    assert_eq!(stray.code, 2);
    assert!(stray
        .stderr
        .contains("--create-missing goes with --match-on"));
    let no_source = dir.run(&["plan", "rows.csv", "--match-on", "SKU"]);
    assert_eq!(no_source.code, 2);
    assert!(
        no_source.stderr.contains("needs --data-source"),
        "{}",
        no_source.stderr
    );
    let out = apply(
        &dir,
        &handle,
        &["rows.csv", "--match-on", "SKU", "--report", "r.jsonl"],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let invalid = &dir.report("r.jsonl")[1];
    assert_eq!(invalid.outcome, "invalid");
    assert!(
        invalid
            .message
            .as_deref()
            .unwrap()
            .contains("every row needs its key"),
        "{invalid:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_keys_against_twenty_thousand_pages_are_looked_up_with_the_scans_outcomes() {
    let mut pages: Vec<Value> = (1..=20_000)
        .map(|i| product(i, &format!("SKU-{i}"), false))
        .collect();
    pages.push(product(20_001, "SKU-7", false)); // a duplicate of SKU-7
    let handle = start(products_seed(pages), |o| o.query_cap = 10_000).await;
    let dir = Dir::new();
    let mut csv = String::from("SKU,Price\n");
    for i in 0..50 {
        // Every 400th product, one duplicate key, and five keys no page has.
        let key = match i {
            0 => "SKU-7".to_owned(),
            45.. => format!("NONE-{i}"),
            _ => format!("SKU-{}", i * 400),
        };
        csv += &format!("{key},{}\n", 1000 + i);
    }
    dir.write("rows.csv", &csv);
    let queries = |handle: &Handle| {
        handle
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/query"))
            .count()
    };
    let plan_of = |mode: &str, report: &str| {
        vec![
            "plan".to_owned(),
            "rows.csv".into(),
            "--match-on".into(),
            "SKU".into(),
            "--key-lookup".into(),
            mode.into(),
            "--data-source".into(),
            DATA_SOURCE.into(),
            "--rate".into(),
            "500".into(),
            "--report".into(),
            report.into(),
        ]
    };
    let run_plan = |args: Vec<String>| {
        let handle = &handle;
        let dir = &dir;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_against(dir, &handle.base_url(), TOKEN, &args).await
        }
    };
    let before = queries(&handle);
    let looked = run_plan(plan_of("auto", "looked.jsonl")).await;
    let lookup_queries = queries(&handle) - before;
    assert_eq!(looked.code, 1, "{}", looked.stderr);
    assert!(
        looked
            .stderr
            .contains("looked up the input's 50 keys in 1 query"),
        "the choice is printed: {}",
        looked.stderr
    );
    // One query of the scan (it did not reach the end of 20,001 pages) and one lookup.
    assert_eq!(lookup_queries, 2);
    let before = queries(&handle);
    let scanned = run_plan(plan_of("scan", "scanned.jsonl")).await;
    let scan_queries = queries(&handle) - before;
    assert_eq!(scanned.code, 1, "{}", scanned.stderr);
    assert!(scan_queries >= 201, "{scan_queries}");
    assert_eq!(
        looked.stdout, scanned.stdout,
        "the same outcome for every row"
    );
    let outcomes = |name: &str| -> Vec<(u64, Option<String>)> {
        read_report(&dir.path(name))
            .into_iter()
            .map(|l| (l.row, l.code))
            .collect()
    };
    assert_eq!(outcomes("looked.jsonl"), outcomes("scanned.jsonl"));
    let mut codes = outcomes("looked.jsonl");
    codes.sort();
    assert_eq!(
        codes,
        [(1, Some("ambiguous_key".into()))]
            .into_iter()
            .chain((46..=50).map(|r| (r, Some("no_match".into()))))
            .collect::<Vec<_>>()
    );
    // 150 keys need two lookups: a query holds at most 100 (the sandbox refuses more).
    let mut csv = String::from("SKU,Price\n");
    for i in 1..=150 {
        csv += &format!("SKU-{},{}\n", i * 100, i);
    }
    dir.write("rows.csv", &csv);
    let before = queries(&handle);
    let batch = run_plan(plan_of("batch", "batch.jsonl")).await;
    assert_eq!(batch.code, 0, "{}", batch.stderr);
    assert_eq!(queries(&handle) - before, 2, "{}", batch.stderr);
    assert_eq!(batch.stdout.lines().count(), 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_pages_survive_504s_resets_timeouts_and_kills_without_a_duplicate() {
    let pages = (1..=30)
        .map(|i| product(i, &format!("SKU-{i}"), false))
        .collect();
    let handle = start(products_seed(pages), |o| {
        o.faults = "e504_applied=0.2,reset=0.05,stall=0.05,e502=0.05"
            .parse::<FaultSpec>()
            .unwrap();
        o.fault_seed = 5;
        o.latency = Some((5, 20));
    })
    .await;
    let dir = Dir::new();
    // 30 keys that exist, 20 that do not, and a later row for 10 of the new ones.
    let mut csv = String::from("SKU,Name,Price\n");
    for i in 1..=30 {
        csv += &format!("SKU-{i},Mug {i},{}\n", 100 + i);
    }
    // The first row of NEW-1..10 sets the name and a later row the price, so that a second
    // run of the file finds every value in place.
    for i in 1..=20 {
        let price = if i <= 10 {
            String::new()
        } else {
            (200 + i).to_string()
        };
        csv += &format!("NEW-{i},New mug {i},{price}\n");
    }
    for i in 1..=10 {
        csv += &format!("NEW-{i},,{}\n", 300 + i);
    }
    dir.write("rows.csv", &csv);
    let args = [
        "rows.csv",
        "--match-on",
        "SKU",
        "--create-missing",
        "--data-source",
        DATA_SOURCE,
        "--report",
        "r.jsonl",
        "--timeout",
        "1",
        "--rate",
        "200",
        "--burst",
        "20",
        "--concurrency",
        "4",
    ];
    // Killed twice part way, then resumed to the end.
    for (kill_at, resume) in [(12, false), (35, true)] {
        let mut all: Vec<&str> = args.to_vec();
        if resume {
            all.push("--resume");
        }
        let mut child = spawn(&dir, &handle, &all);
        until_report_has(&dir, "r.jsonl", kill_at).await;
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
    let mut all: Vec<&str> = args.to_vec();
    all.push("--resume");
    let child = spawn(&dir, &handle, &all);
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{:?}: {stderr}",
        out.status
    );
    // Every new key has exactly one page in the sandbox.
    let state = handle.state();
    let mut per_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for page in state["pages"].as_array().unwrap() {
        let sku = page["properties"]["SKU"]["rich_text"][0]["plain_text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        per_key
            .entry(sku)
            .or_default()
            .push(page["id"].as_str().unwrap().to_owned());
    }
    for i in 1..=20 {
        let ids = &per_key[&format!("NEW-{i}")];
        assert_eq!(ids.len(), 1, "NEW-{i} has {} pages: {ids:?}", ids.len());
    }
    assert_eq!(per_key.len(), 50);
    // Every row's last line is ok (some after retries: keep rerunning until they are, as a
    // runbook would) — the faults are random, so give the leftovers more runs.
    let mut rounds = 0;
    loop {
        let report = read_report(&dir.path("r.jsonl"));
        let rows = last(&report);
        if rows.len() == 60
            && rows
                .values()
                .all(|l| l.outcome == "ok" || l.outcome == "skipped")
        {
            break;
        }
        rounds += 1;
        assert!(rounds <= 5, "rows still not ok after 5 more runs: {rows:?}");
        let mut all: Vec<&str> = args.to_vec();
        all.push("--resume");
        spawn(&dir, &handle, &all).wait().await.unwrap();
    }
    // The report names each created page, and it is that key's one page. A page created by
    // a run killed before it wrote the row's line is found by key when the run resumes: that
    // row ends `unchanged`, naming the page.
    let report = read_report(&dir.path("r.jsonl"));
    let rows = last(&report);
    let mut created = 0;
    for i in 1..=20 {
        let line = rows[&(30 + i as u64)];
        let key = format!("NEW-{i}");
        assert_eq!(line.key.as_deref(), Some(key.as_str()));
        assert_eq!(
            line.page_id.as_deref(),
            Some(per_key[&key][0].as_str()),
            "{line:?}"
        );
        match line.action.as_deref() {
            Some("created") => created += 1,
            Some("unchanged") => {}
            other => panic!("{key}: {other:?}: {line:?}"),
        }
    }
    assert!(created > 0);
    for i in 1..=20 {
        let expected = if i <= 10 { 300 + i } else { 200 + i };
        assert_eq!(
            price(&handle, &per_key[&format!("NEW-{i}")][0]),
            Some(expected as f64),
            "NEW-{i}"
        );
    }
    // A second run of the same file creates nothing and sends nothing.
    let before = handle.requests().len();
    let mut again: Vec<&str> = args.to_vec();
    let at = again.iter().position(|a| *a == "r.jsonl").unwrap();
    again[at] = "again.jsonl";
    let second = spawn(&dir, &handle, &again)
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let writes = handle.requests()[before..]
        .iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/query"))
        .count();
    assert_eq!(writes, 0);
    let second_report = read_report(&dir.path("again.jsonl"));
    assert_eq!(second_report.len(), 60);
    assert!(
        second_report
            .iter()
            .all(|l| l.action.as_deref() == Some("unchanged")),
        "{second_report:?}"
    );
}

/// The example job syncs the catalogue by SKU as its comment says.
#[test]
fn the_catalogue_job_updates_three_products_creates_two_and_leaves_three() {
    let dir = Dir::new();
    let job = crate::util::repo_path("jobs/catalogue.toml");
    let out = dir.run(&[
        "apply",
        job.to_str().unwrap(),
        "--sandbox",
        "--report",
        "r.csv",
        "--summary-json",
        "s.json",
        "--progress",
        "none",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("s.json")).unwrap()).unwrap();
    assert_eq!(
        summary["actions"],
        json!({"updated": 3, "created": 2, "unchanged": 3, "no_match": 0, "ambiguous_key": 0})
    );
    // The CSV report carries the key and the action of every row.
    let mut report = dir.report("r.csv");
    report.sort_by_key(|l| l.row);
    let actions: Vec<(Option<&str>, Option<&str>)> = report
        .iter()
        .map(|l| (l.key.as_deref(), l.action.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [
            (Some("MUG-001"), Some("unchanged")),
            (Some("MUG-002"), Some("updated")),
            (Some("MUG-003"), Some("updated")),
            (Some("PLT-001"), Some("unchanged")),
            (Some("PLT-002"), Some("unchanged")),
            (Some("BWL-001"), Some("updated")),
            (Some("BWL-002"), Some("created")),
            (Some("MUG-004"), Some("created")),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_with_match_on_shows_every_rows_key_action_and_page_before_anything_is_written() {
    let pages = vec![
        product(1, "SKU-1", false),
        product(2, "SKU-2", false),
        product(6, "DUP-1", false),
        product(7, "DUP-1", false),
    ];
    let handle = start(products_seed(pages), |_| {}).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        "SKU,Price\nSKU-1,10\nSKU-2,25\nNEW-1,5\nNEW-1,6\nDUP-1,1\n",
    );
    let plan = |create: bool| {
        let mut args = vec![
            "plan",
            "rows.csv",
            "--match-on",
            "SKU",
            "--data-source",
            DATA_SOURCE,
        ];
        if create {
            args.push("--create-missing");
        }
        let (dir, handle) = (&dir, &handle);
        async move { run_against(dir, &handle.base_url(), TOKEN, &args).await }
    };
    let lines = |out: &Run| -> Vec<Value> {
        out.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let ambiguous = json!({"row": 5, "page_id": null, "key": "DUP-1", "code": "ambiguous_key",
        "pages": [product_id(6), product_id(7)]});
    let created = plan(true).await;
    assert_eq!(created.code, 1, "{}", created.stderr);
    assert_eq!(
        lines(&created),
        [
            json!({"row": 1, "page_id": product_id(1), "key": "SKU-1", "action": "unchanged", "changes": {}}),
            json!({"row": 2, "page_id": product_id(2), "key": "SKU-2",
                "body": {"properties": {"Price": {"number": 25}}},
                "action": "updated", "changes": {"Price": {"from": 10, "to": 25}}}),
            json!({"row": 3, "page_id": null, "key": "NEW-1",
                "body": {"properties": {"SKU": {"rich_text": [{"type": "text", "text": {"content": "NEW-1"}}]}, "Price": {"number": 5}}},
                "action": "created", "changes": null}),
            json!({"row": 4, "page_id": null, "key": "NEW-1",
                "body": {"properties": {"Price": {"number": 6}}},
                "action": "updated", "changes": null}),
            ambiguous.clone(),
        ]
    );
    assert!(
        created.stderr.contains(
            "2 to update (1 properties), 1 to create, 1 unchanged, 0 no match, 1 ambiguous"
        ),
        "{}",
        created.stderr
    );
    let without = plan(false).await;
    assert_eq!(
        lines(&without)[2..4],
        [
            json!({"row": 3, "page_id": null, "key": "NEW-1", "code": "no_match", "pages": []}),
            json!({"row": 4, "page_id": null, "key": "NEW-1", "code": "no_match", "pages": []}),
        ]
    );
    assert!(
        without.stderr.contains(
            "failed: row 3 (key NEW-1): no_match: no page of the data source has SKU = \"NEW-1\""
        ),
        "{}",
        without.stderr
    );
    // Nothing but reads.
    assert!(handle
        .requests()
        .iter()
        .all(|r| r.method == "GET" || r.path.ends_with("/query")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_jsonl_lines_carry_the_key_as_a_key_and_native_lines_are_refused() {
    let pages = (1..=2)
        .map(|i| product(i, &format!("SKU-{i}"), false))
        .collect();
    let handle = start(products_seed(pages), |_| {}).await;
    let dir = Dir::new();
    dir.write(
        "rows.jsonl",
        concat!(
            "{\"SKU\": \"SKU-2\", \"Price\": 42}\n",
            "{\"Code\": 101, \"Price\": 7}\n",
            "{\"page_id\": \"00000000-0000-4000-9000-000000000001\", \"properties\": {\"Price\": {\"number\": 1}}}\n",
        ),
    );
    let out = apply(
        &dir,
        &handle,
        &["rows.jsonl", "--match-on", "SKU", "--report", "r.jsonl"],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = dir.report("r.jsonl");
    let rows = last(&report);
    assert_eq!(rows[&1].page_id.as_deref(), Some(product_id(2).as_str()));
    assert_eq!(rows[&1].key.as_deref(), Some("SKU-2"));
    assert_eq!(price(&handle, &product_id(2)), Some(42.0));
    // A line without the key, and a Notion-shaped line, are invalid: nothing is guessed.
    for row in [2, 3] {
        assert_eq!(rows[&row].outcome, "invalid", "{:?}", rows[&row]);
    }
    assert!(rows[&2]
        .message
        .as_deref()
        .unwrap()
        .contains("every row needs its key"));
    assert!(rows[&3]
        .message
        .as_deref()
        .unwrap()
        .contains("--match-on \"SKU\" reads CSV rows and flat JSONL lines"));
    assert_eq!(price(&handle, &product_id(1)), Some(10.0));
}

/// Issue 18, point 5: Notion holds two keys with spaces around them (`" c3 "` early in the
/// scan, `"c300 "` late). Whether `auto` starts with the scan and switches to lookups, or
/// `batch` looks every key up (an `equals` filter misses a padded key), `--create-missing`
/// finds both pages and creates only the key no page has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_notion_holds_with_spaces_are_found_by_every_lookup_path_and_never_created_twice() {
    for lookup in ["auto", "batch"] {
        let pages: Vec<Value> = (1..=320)
            .map(|i| match i {
                4 => product(i, " c3 ", false),
                318 => product(i, "c300 ", false),
                i => product(i, &format!("SKU-{i}"), false),
            })
            .collect();
        let handle = start(products_seed(pages), |_| {}).await;
        let dir = Dir::new();
        dir.write("rows.csv", "SKU,Price\nc3,33\nc300,300\nnew-1,1\n");
        let out = apply(
            &dir,
            &handle,
            &[
                "rows.csv",
                "--match-on",
                "SKU",
                "--create-missing",
                "--key-lookup",
                lookup,
                "--report",
                "r.jsonl",
            ],
        )
        .await;
        assert_eq!(out.code, 0, "{lookup}: {}", out.stderr);
        assert!(
            out.stderr.contains("looked up the input's 3 keys"),
            "{lookup}: the lookups were used: {}",
            out.stderr
        );
        assert_eq!(price(&handle, &product_id(4)), Some(33.0), "{lookup}");
        assert_eq!(price(&handle, &product_id(318)), Some(300.0), "{lookup}");
        let state = handle.state();
        let skus: Vec<String> = state["pages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["properties"]["SKU"]["rich_text"][0]["plain_text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        assert_eq!(
            skus.len(),
            321,
            "{lookup}: one page created: {:?}",
            &skus[320..]
        );
        assert_eq!(
            skus.iter().filter(|s| s.trim() == "c3").count(),
            1,
            "{lookup}"
        );
        assert_eq!(
            skus.iter().filter(|s| s.trim() == "c300").count(),
            1,
            "{lookup}"
        );
        assert_eq!(skus.iter().filter(|s| *s == "new-1").count(), 1, "{lookup}");
        let report = read_report(&dir.path("r.jsonl"));
        let actions: Vec<(u64, Option<&str>)> = last(&report)
            .into_iter()
            .map(|(row, l)| (row, l.action.as_deref()))
            .collect();
        assert_eq!(
            actions,
            [
                (1, Some("updated")),
                (2, Some("updated")),
                (3, Some("created"))
            ],
            "{lookup}"
        );
    }
}
