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
    // The row that waited out the workspace's 429 says so in its line.
    let lines = read_report(&dir.path("r.jsonl"));
    let row = lines.iter().find(|l| l.row == 3).unwrap();
    let message = row.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("waited out 429s from Notion first (limit named: ")
            && message.contains("workspace_limit"),
        "{row:?}"
    );
    assert_eq!(row.outcome, "ok");
}

/// What one version's runs gave: the keyed sync's report (row, outcome, action, code) and the
/// Prices after it, the export, and the pages a `--where` selection patched.
#[derive(Debug, PartialEq)]
struct Runs {
    sync: Vec<(u64, String, Option<String>, Option<String>)>,
    prices: Vec<Option<f64>>,
    export: String,
    selected: std::collections::BTreeSet<String>,
}

/// The same keyed sync (with an `if:` column), export and `--where` selection under `version`,
/// each against a fresh sandbox.
async fn runs_under(version: &str) -> Runs {
    use crate::matching::{product, product_id, products_seed, DATA_SOURCE};
    let seed = || {
        products_seed(
            (1..=6)
                .map(|i| product(i, &format!("SKU-{i}"), false))
                .collect(),
        )
    };
    let v = ["--notion-version", version, "--progress", "none"];

    let handle = start(seed(), |_| {}).await;
    let dir = Dir::new();
    // SKU-1: a change; SKU-2: already so; SKU-3: its precondition fails; SKU-9: no page.
    dir.write(
        "rows.csv",
        "SKU,Price:number,if:Price\nSKU-1,12,10\nSKU-2,10,\nSKU-3,13,99\nSKU-9,14,\n",
    );
    let mut args = vec!["apply", "rows.csv", "--data-source", DATA_SOURCE];
    args.extend(["--match-on", "SKU", "--report", "r.jsonl"]);
    args.extend(v);
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 1, "{version}: {}", out.stderr);
    let mut sync: Vec<_> = read_report(&dir.path("r.jsonl"))
        .into_iter()
        .map(|l| (l.row, l.outcome, l.action, l.code))
        .collect();
    sync.sort();
    let prices = (1..=6)
        .map(|i| handle.page(&product_id(i)).unwrap()["properties"]["Price"]["number"].as_f64())
        .collect();

    let handle = start(seed(), |_| {}).await;
    let mut args = vec!["export", DATA_SOURCE];
    args.extend(v);
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 0, "{version}: {}", out.stderr);
    let export = out.stdout;

    let handle = start(seed(), |_| {}).await;
    let mut args = vec!["apply", "--data-source", DATA_SOURCE];
    args.extend([
        "--where",
        "SKU = SKU-4",
        "--set",
        "Price=40",
        "--report",
        "w.jsonl",
    ]);
    args.extend(v);
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 0, "{version}: {}", out.stderr);
    let selected = handle
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .filter_map(|r| r.page_id.clone())
        .collect();
    Runs {
        sync,
        prices,
        export,
        selected,
    }
}

/// Under 2026-12-01 a query without `filter_properties` shows only the title: the keyed sync,
/// its precondition, the export and a `--where` selection read every property they use, so
/// they give exactly what they give under 2025-09-03.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_sync_an_export_and_a_selection_read_the_same_under_2026_12_01() {
    let old = runs_under("2025-09-03").await;
    let new = runs_under("2026-12-01").await;
    assert_eq!(new, old);
    // And the runs did something worth comparing.
    let outcomes: Vec<(&str, Option<&str>)> = old
        .sync
        .iter()
        .map(|(_, o, _, c)| (o.as_str(), c.as_deref()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("ok", None),
            ("skipped", Some("unchanged")),
            ("skipped", Some("precondition_failed")),
            ("failed", Some("no_match"))
        ],
        "{old:?}"
    );
    assert_eq!(old.prices[..3], [Some(12.0), Some(10.0), Some(10.0)]);
    assert!(
        old.export.contains("SKU-5") && old.export.contains(",10"),
        "{}",
        old.export
    );
    assert_eq!(
        old.selected,
        std::collections::BTreeSet::from([crate::matching::product_id(4)])
    );
}

/// The products seed with a verification property, `Verified`; page 2 is verified since
/// 2026-01-01.
fn verified_products() -> Seed {
    use crate::matching::{product, products_seed};
    let mut seed = products_seed(
        (1..=5)
            .map(|i| product(i, &format!("SKU-{i}"), false))
            .collect(),
    );
    seed.data_sources[0].properties.push(
        serde_json::from_value(
            serde_json::json!({"id": "v%3Fr", "name": "Verified", "type": "verification"}),
        )
        .unwrap(),
    );
    seed.pages[1].properties.insert(
        "Verified".into(),
        serde_json::json!({"state": "verified", "date": {"start": "2026-01-01"}}),
    );
    seed
}

fn verification_of(handle: &notion_sandbox::Handle, i: usize) -> serde_json::Value {
    let page = handle.page(&crate::matching::product_id(i)).unwrap();
    page["properties"]["Verified"]["verification"].clone()
}

fn patch_count(handle: &notion_sandbox::Handle) -> usize {
    handle
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count()
}

/// A verification column: `verified DATE/END`, `unverified` (clearing a verified page),
/// `verified`, and a bad cell, which makes its row invalid naming the column and the reason; a
/// native line's verification is sent as given. Exported (CSV and JSONL) and applied back
/// unedited, nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_column_sets_clears_and_round_trips_through_export() {
    use crate::matching::{product_id, DATA_SOURCE};
    let handle = start(verified_products(), |_| {}).await;
    let dir = Dir::new();
    dir.write(
        "v.csv",
        format!(
            "page_id,Verified\n{},verified 2026-12-01/2027-06-01\n{},unverified\n{},Verified\n{},maybe\n",
            product_id(1),
            product_id(2),
            product_id(3),
            product_id(4)
        ),
    );
    let base = handle.base_url();
    let common = ["--data-source", DATA_SOURCE, "--progress", "none"];
    let mut args = vec!["apply", "v.csv", "--report", "r.jsonl"];
    args.extend(common);
    let out = run_against(&dir, &base, TOKEN, &args).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let mut report = read_report(&dir.path("r.jsonl"));
    report.sort_by_key(|l| l.row);
    let outcomes: Vec<&str> = report.iter().map(|l| l.outcome.as_str()).collect();
    assert_eq!(outcomes, ["ok", "ok", "ok", "invalid"], "{report:?}");
    let message = report[3].message.as_deref().unwrap_or_default();
    assert!(
        message.contains("Verified") && message.contains("\"maybe\" is not a verification"),
        "{message}"
    );
    let one = verification_of(&handle, 1);
    assert_eq!(one["state"], "verified", "{one}");
    assert_eq!(
        one["date"],
        serde_json::json!({"start": "2026-12-01", "end": "2027-06-01", "time_zone": null})
    );
    assert_eq!(
        verification_of(&handle, 2),
        serde_json::json!({"state": "unverified", "verified_by": null, "date": null})
    );
    assert_eq!(verification_of(&handle, 3)["state"], "verified");
    assert_eq!(verification_of(&handle, 3)["date"], serde_json::Value::Null);
    assert_eq!(verification_of(&handle, 4)["state"], "unverified");

    // A native line.
    dir.write(
        "n.jsonl",
        format!(
            "{{\"page_id\":\"{}\",\"properties\":{{\"Verified\":{{\"verification\":{{\"state\":\"verified\",\"date\":{{\"start\":\"2026-12-01\"}}}}}}}}}}\n",
            product_id(5)
        ),
    );
    let mut args = vec!["apply", "n.jsonl", "--report", "n-r.jsonl"];
    args.extend(common);
    let out = run_against(&dir, &base, TOKEN, &args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(verification_of(&handle, 5)["date"]["start"], "2026-12-01");

    // Exported and applied back: nothing sent.
    for (file, format) in [("e.csv", "csv"), ("e.jsonl", "jsonl")] {
        let out = run_against(
            &dir,
            &base,
            TOKEN,
            &["export", DATA_SOURCE, "-o", file, "--progress", "none"],
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let text = std::fs::read_to_string(dir.path(file)).unwrap();
        if format == "csv" {
            assert!(
                text.starts_with("page_id,") && text.contains("Verified:verification"),
                "{text}"
            );
            assert!(text.contains(",verified 2026-12-01/2027-06-01"), "{text}");
            assert!(text.contains(",unverified"), "{text}");
        }
        let before = patch_count(&handle);
        let report = format!("{format}-r.jsonl");
        let mut args = vec!["apply", file, "--report", &report];
        args.extend(common);
        let out = run_against(&dir, &base, TOKEN, &args).await;
        assert_eq!(out.code, 0, "{format}: {}", out.stderr);
        assert_eq!(patch_count(&handle), before, "{format}: {}", out.stderr);
        let lines = read_report(&dir.path(&report));
        assert_eq!(lines.len(), 5);
        assert!(
            lines
                .iter()
                .all(|l| l.action.as_deref() == Some("unchanged")),
            "{lines:?}"
        );
    }
}

/// Products 1..=4 keyed by the formula `Slug`; page 3's came back `unsupported`.
fn unsupported_slug() -> Seed {
    use crate::matching::{product, products_seed};
    let mut pages: Vec<serde_json::Value> = (1..=4)
        .map(|i| product(i, &format!("SKU-{i}"), false))
        .collect();
    pages[2]["properties"]["Slug"] = serde_json::json!({"type": "unsupported"});
    products_seed(pages)
}

/// With `--match-on` a formula, a page whose key came back `unsupported` is counted: a row
/// that then finds no page fails `key_unreadable`, saying how many pages' keys could not be
/// read; a row whose key a readable page has is written as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_formula_key_that_came_back_unsupported_is_not_a_plain_no_match() {
    use crate::matching::{product_id, DATA_SOURCE};
    let handle = start(unsupported_slug(), |_| {}).await;
    let page = handle.page(&product_id(3)).unwrap();
    assert_eq!(
        page["properties"]["Slug"]["formula"],
        serde_json::json!({"type": "unsupported", "unsupported": {}})
    );
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        "Slug,Name,Price:number\nmug-1,Mug 1,11\nmug-3,Mug 3,13\nmug-9,Mug 9,19\n",
    );
    let mut args = vec!["apply", "rows.csv", "--data-source", DATA_SOURCE];
    args.extend(["--match-on", "Slug", "--report", "r.jsonl"]);
    args.extend(["--progress", "none"]);
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let mut report = read_report(&dir.path("r.jsonl"));
    report.sort_by_key(|l| l.row);
    let codes: Vec<(&str, Option<&str>)> = report
        .iter()
        .map(|l| (l.outcome.as_str(), l.code.as_deref()))
        .collect();
    assert_eq!(
        codes,
        [
            ("ok", None),
            ("failed", Some("key_unreadable")),
            ("failed", Some("key_unreadable"))
        ],
        "{report:?}"
    );
    let message = report[1].message.as_deref().unwrap_or_default();
    assert!(
        message.contains("1 page(s)") && message.contains("`unsupported`"),
        "{message}"
    );
    let price = |i| handle.page(&product_id(i)).unwrap()["properties"]["Price"]["number"].as_f64();
    assert_eq!((price(1), price(3)), (Some(11.0), Some(10.0)));

    // plan says the same.
    let mut args = vec!["plan", "rows.csv", "--data-source", DATA_SOURCE];
    args.extend(["--match-on", "Slug"]);
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert!(out.stderr.contains("key_unreadable"), "{}", out.stderr);
}
