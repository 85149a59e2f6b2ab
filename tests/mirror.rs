//! Issue 21, point 2: mirror mode. After a keyed sync (`--match-on SKU`), the pages of the data
//! source whose key no input row has are trashed (`--missing-pages trash`) or flagged
//! (`set:Status=Gone`), under a brake (`--max-missing`, default 10 % of the pages), after every
//! input row, never when the run stopped or the input could not be read whole; `--backup`
//! makes it undoable, `--resume` after a SIGKILL trashes the rest, `plan` lists them. The real
//! binary runs against the sandbox; the sandbox's state and request log say what happened.

use std::collections::{BTreeMap, HashMap};

use notion_sandbox::{self as sandbox, FailFirst, FaultKind, FaultSpec, Handle, Options, Seed};
use serde_json::{json, Value};

use crate::resume::until_report_has;
use crate::util::{json_lines, read_report, run_against, spawn_against, Dir, Run};

const TOKEN: &str = "secret_mirror_test";
const DATA_SOURCE: &str = "6a0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d";
const DATABASE: &str = "1c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5";
const PAGES: usize = 1000;
/// The input holds the keys of pages 1..=KEPT; pages KEPT+1..=PAGES are missing from it.
const KEPT: usize = 950;

fn page_id(i: usize) -> String {
    format!("00000000-0000-4000-a000-{i:012x}")
}

fn sku(i: usize) -> String {
    format!("SKU-{i:04}")
}

/// A catalogue of `PAGES` products, keyed by SKU, all Active.
fn catalogue() -> Seed {
    let pages: Vec<Value> = (1..=PAGES)
        .map(|i| {
            json!({
                "id": page_id(i),
                "data_source_id": DATA_SOURCE,
                "properties": {"Name": format!("Mug {i}"), "SKU": sku(i), "Stock": 5, "Status": "Active"},
                "created_time": format!("2026-01-01T{:02}:{:02}:00.000Z", i / 60, i % 60),
            })
        })
        .collect();
    Seed::from_json(
        &json!({
            "databases": [{"id": DATABASE, "title": "Catalogue", "data_sources": [DATA_SOURCE]}],
            "data_sources": [{
                "id": DATA_SOURCE, "title": "Catalogue", "database_id": DATABASE,
                "properties": [
                    {"id": "title", "name": "Name", "type": "title"},
                    {"id": "s%3Fk", "name": "SKU", "type": "rich_text"},
                    {"id": "st0k", "name": "Stock", "type": "number"},
                    {"id": "stat", "name": "Status", "type": "select",
                     "options": [{"name": "Active"}, {"name": "Gone"}]},
                ]
            }],
            "users": [],
            "pages": pages,
        })
        .to_string(),
    )
    .expect("a valid seed")
}

/// The input: the keys of pages 1..=KEPT; every 100th row changes its Stock.
fn input(dir: &Dir, extra: &str) -> String {
    let mut csv = String::from("SKU,Stock\n");
    for i in 1..=KEPT {
        let stock = if i % 100 == 0 { 7 } else { 5 };
        csv += &format!("{},{stock}\n", sku(i));
    }
    csv += extra;
    dir.write("stock.csv", csv);
    "stock.csv".into()
}

async fn start(configure: impl FnOnce(&mut Options)) -> Handle {
    let mut options = Options::new(catalogue());
    options.token = Some(TOKEN.into());
    configure(&mut options);
    sandbox::start(options).await.expect("the sandbox starts")
}

/// `apply INPUT --data-source DS --match-on SKU ARGS --progress none`.
async fn sync(dir: &Dir, handle: &Handle, input: &str, args: &[&str]) -> Run {
    let mut all = vec![
        "apply",
        input,
        "--data-source",
        DATA_SOURCE,
        "--match-on",
        "SKU",
        "--progress",
        "none",
        "--rate",
        "1000",
        "--burst",
        "50",
    ];
    all.extend_from_slice(args);
    run_against(dir, &handle.base_url(), TOKEN, &all).await
}

/// Each page's stored state, by id.
fn pages(handle: &Handle) -> HashMap<String, Value> {
    let state = handle.state();
    state["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_owned(), p.clone()))
        .collect()
}

fn in_trash(handle: &Handle) -> Vec<usize> {
    let pages = pages(handle);
    (1..=PAGES)
        .filter(|i| pages[&page_id(*i)]["in_trash"] == json!(true))
        .collect()
}

fn missing() -> Vec<usize> {
    (KEPT + 1..=PAGES).collect()
}

/// PATCHes the tool sent to the missing pages.
fn patches_of_missing(handle: &Handle) -> usize {
    let ids: Vec<String> = missing().into_iter().map(page_id).collect();
    handle
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.page_id.as_ref().is_some_and(|p| ids.contains(p)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_missing_pages_are_trashed_after_the_rows_and_undo_restores_them() {
    let handle = start(|_| {}).await;
    let dir = Dir::new();
    // Row 951: page 950's key, with a Stock that is not a number: invalid, yet its key was
    // read, so page 950 is not missing.
    let input = input(&dir, "");
    let text = std::fs::read_to_string(dir.path(&input)).unwrap();
    let text = text.replace("SKU-0950,5\n", "SKU-0950,lots\n");
    dir.write(&input, text);
    let args = [
        "--missing-pages",
        "trash",
        "--max-missing",
        "60",
        "--backup",
        "backup.jsonl",
        "--report",
        "r.jsonl",
    ];
    let out = sync(&dir, &handle, &input, &args).await;
    assert_eq!(out.code, 1, "one row is invalid: {}", out.stderr);
    assert_eq!(in_trash(&handle), missing(), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "missing pages: 50 of the 1000 pages of \"Catalogue\" have a key no input row has"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("missing pages (trash): 50 found, 50 trashed, 0 flagged"),
        "{}",
        out.stderr
    );
    // The stock changes landed too, and each missing page has one line: its key, `trashed`,
    // a row after the input's.
    let pages_now = pages(&handle);
    assert_eq!(
        pages_now[&page_id(100)]["properties"]["Stock"]["number"],
        json!(7)
    );
    let report = read_report(&dir.path("r.jsonl"));
    let trashed: BTreeMap<String, _> = report
        .iter()
        .filter(|l| l.action.as_deref() == Some("trashed"))
        .map(|l| (l.page_id.clone().unwrap(), l))
        .collect();
    assert_eq!(trashed.len(), 50);
    for i in missing() {
        let line = trashed[&page_id(i)];
        assert_eq!(line.outcome, "ok");
        assert_eq!(line.key.as_deref(), Some(sku(i).as_str()));
        assert!(line.row > KEPT as u64, "{line:?}");
    }

    // The backup undoes it: the 50 come out of the trash.
    let undo = run_against(
        &dir,
        &handle.base_url(),
        TOKEN,
        &[
            "apply",
            "backup.jsonl",
            "--report",
            "undo.jsonl",
            "--progress",
            "none",
        ],
    )
    .await;
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert!(in_trash(&handle).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_max_missing_nothing_is_written_and_the_default_allows_ten_percent() {
    let handle = start(|_| {}).await;
    let dir = Dir::new();
    let input = input(&dir, "");
    let out = sync(
        &dir,
        &handle,
        &input,
        &[
            "--missing-pages",
            "trash",
            "--max-missing",
            "20",
            "--report",
            "a.jsonl",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("50 pages of the 1000 in scope have a key no input row has, more than --max-missing 20 allows (20): nothing was sent")
            && out.stderr.contains("--max-missing 50 (or --max-missing 5%)"),
        "{}",
        out.stderr
    );
    assert!(
        handle.requests().iter().all(|r| r.method != "PATCH"),
        "no write at all"
    );
    // A share: 4 % of 1000 is 40, fewer than 50.
    let out = sync(
        &dir,
        &handle,
        &input,
        &[
            "--missing-pages",
            "trash",
            "--max-missing",
            "4%",
            "--report",
            "b.jsonl",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(handle.requests().iter().all(|r| r.method != "PATCH"));

    // The default, 10 % (100), allows 50: flagged instead of trashed.
    let args = ["--missing-pages", "set:Status=Gone", "--report", "c.jsonl"];
    let out = sync(&dir, &handle, &input, &args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(in_trash(&handle).is_empty());
    let now = pages(&handle);
    for i in 1..=PAGES {
        let status = &now[&page_id(i)]["properties"]["Status"]["select"]["name"];
        let expected = if i > KEPT { "Gone" } else { "Active" };
        assert_eq!(status, expected, "page {i}");
    }
    let flagged = read_report(&dir.path("c.jsonl"))
        .into_iter()
        .filter(|l| l.action.as_deref() == Some("flagged"))
        .count();
    assert_eq!(flagged, 50);
    // Already flagged: a second run sends nothing to them.
    let before = patches_of_missing(&handle);
    let out = sync(
        &dir,
        &handle,
        &input,
        &["--missing-pages", "set:Status=Gone", "--report", "d.jsonl"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(patches_of_missing(&handle), before);
    assert!(out.stderr.contains("50 already flagged"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_input_or_a_stopped_run_leaves_the_missing_pages_alone() {
    let handle = start(|_| {}).await;
    let dir = Dir::new();
    // A quote never closed: the input cannot be read whole.
    let broken = input(&dir, "\"SKU-0951,5\n");
    let args = ["--missing-pages", "trash", "--report", "a.jsonl"];
    let out = sync(&dir, &handle, &broken, &args).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(patches_of_missing(&handle), 0);

    // The first two writes fail (500, one attempt each); --max-errors 2 stops the run. Only
    // two faults: a third, drawn or not before the stop, would make the resumed run flaky.
    let failing = start(|o| {
        o.fail_first = vec![FailFirst::new("PATCH", "/v1/pages/", &[FaultKind::E500; 2])];
    })
    .await;
    let input = input(&dir, "");
    let args = [
        "--missing-pages",
        "trash",
        "--max-errors",
        "2",
        "--max-attempts",
        "1",
        "--report",
        "b.jsonl",
    ];
    let out = sync(&dir, &failing, &input, &args).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(patches_of_missing(&failing), 0);
    assert!(in_trash(&failing).is_empty());
    assert!(
        out.stderr
            .contains("were left as they are (--missing-pages trash): the run stopped"),
        "{}",
        out.stderr
    );
    // Rows that failed one by one do not stop it (their keys were read): resumed, the run
    // applies the rest, then trashes the 50.
    let mut again = args.to_vec();
    again.push("--resume");
    let out = sync(&dir, &failing, &input, &again).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(in_trash(&failing), missing());

    // Without --match-on: a config error saying what to add.
    let out = run_against(
        &dir,
        &handle.base_url(),
        TOKEN,
        &[
            "apply",
            &input,
            "--data-source",
            DATA_SOURCE,
            "--missing-pages",
            "trash",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("add --match-on PROPERTY"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_missing_pages_and_resumed_each_is_trashed_once() {
    let handle = start(|o| {
        o.faults = "e504_applied=0.1".parse::<FaultSpec>().unwrap();
        o.fault_seed = 7;
    })
    .await;
    let dir = Dir::new();
    let input = input(&dir, "");
    let mut args = vec![
        "apply",
        input.as_str(),
        "--data-source",
        DATA_SOURCE,
        "--match-on",
        "SKU",
        "--missing-pages",
        "trash",
        "--report",
        "r.jsonl",
        "--progress",
        "none",
        "--rate",
        "20",
        "--burst",
        "1",
        "--concurrency",
        "2",
    ];
    let mut child = spawn_against(&dir, &handle.base_url(), TOKEN, &args);
    // The input's 950 rows, then some of the missing pages.
    until_report_has(&dir, "r.jsonl", KEPT + 10).await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let first = read_report(&dir.path("r.jsonl"));
    let trashed_first = first
        .iter()
        .filter(|l| l.action.as_deref() == Some("trashed"))
        .count();
    assert!(
        (10..50).contains(&trashed_first),
        "killed part way: {trashed_first}"
    );

    args.push("--resume");
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args[..]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(in_trash(&handle), missing());
    // No page has two ok lines; pages in flight at the kill may have none (they are in the
    // trash, so the rerun no longer finds them missing).
    let report = read_report(&dir.path("r.jsonl"));
    let mut ok: HashMap<String, usize> = HashMap::new();
    for line in report
        .iter()
        .filter(|l| l.action.as_deref() == Some("trashed"))
    {
        assert_eq!(line.outcome, "ok");
        *ok.entry(line.page_id.clone().unwrap()).or_default() += 1;
    }
    assert!(ok.values().all(|n| *n == 1), "{ok:?}");
    assert!(ok.len() >= 50 - 2, "{}", ok.len());
    // The input's rows were not sent again.
    let resumed_input_patches = handle
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert!(
        resumed_input_patches <= 9 * 3 + 60 * 3,
        "{resumed_input_patches}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_lists_the_missing_pages() {
    let handle = start(|_| {}).await;
    let dir = Dir::new();
    let input = input(&dir, "");
    for (max, stops) in [("60", false), ("20", true)] {
        let out = run_against(
            &dir,
            &handle.base_url(),
            TOKEN,
            &[
                "plan",
                &input,
                "--data-source",
                DATA_SOURCE,
                "--match-on",
                "SKU",
                "--missing-pages",
                "trash",
                "--max-missing",
                max,
                "--rate",
                "1000",
                "--burst",
                "50",
            ],
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let lines = json_lines(&out.stdout);
        let m = &lines.last().unwrap()["missing_pages"];
        assert_eq!(m["count"], json!(50));
        assert_eq!(m["scope"], json!(1000));
        assert_eq!(m["stops"], json!(stops));
        let ids: Vec<&str> = m["pages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["page_id"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = missing().into_iter().map(page_id).collect();
        assert_eq!(ids, expected);
        assert_eq!(
            out.stderr.contains("apply would stop before any write"),
            stops,
            "{}",
            out.stderr
        );
    }
    assert!(handle.requests().iter().all(|r| r.method != "PATCH"));
}
