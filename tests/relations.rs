//! Issue 20, point 1: relation cells that name the related pages by a key (`Parts:relation[SKU]`).
//! 500 orders name 800 parts by SKU; 40 SKUs have no page and 3 have two. `plan` looks the keys
//! up in ceil(800 / 100) queries and lists what each found; `apply --create-missing-related`
//! under `e504_applied` faults, killed twice (once while creating, once while writing rows) and
//! resumed, creates each missing part once, makes the 3 rows invalid (ambiguous_key), and
//! every other relation lands exactly; undo (applying the backup) trashes the created parts.

use notion_sandbox::{FaultSpec, Handle, Seed};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

use crate::resume::until_report_has;
use crate::scan::TOKEN;
use crate::util::{json_lines, read_report, run_against, spawn_against, Dir};

const ORDERS: &str = "0e5c5a4f-0000-4000-8000-00000000000a";
const PARTS: &str = "0e5c5a4f-0000-4000-8000-00000000000b";
const KEYS: usize = 800;
const ROWS: usize = 500;

fn order_id(i: usize) -> String {
    format!("0e5c5a4f-0000-4000-8000-{:012x}", 0x1000 + i)
}

fn part_id(k: usize, copy: usize) -> String {
    format!("0e5c5a4f-0000-4000-8000-{:012x}", 0x10000 + k * 2 + copy)
}

fn sku(k: usize) -> String {
    format!("SKU-{k:04}")
}

/// 40 SKUs no part has: 5 in each run of 100 keys, so that no lookup needs a second page.
fn missing(k: usize) -> bool {
    k % 20 == 7
}

/// 3 SKUs two parts have.
fn doubled(k: usize) -> bool {
    matches!(k, 100 | 300 | 500)
}

/// The keys row i (0-based) names: i, and i + 500 while that is below 800.
fn keys_of(i: usize) -> Vec<usize> {
    let mut keys = vec![i];
    if i + ROWS < KEYS {
        keys.push(i + ROWS);
    }
    keys
}

/// The part the first 10 orders have before any run.
fn seeded_parts(i: usize) -> Vec<String> {
    match i < 10 {
        true => vec![part_id(2, 0)],
        false => vec![],
    }
}

fn seed() -> Seed {
    let mut pages = Vec::new();
    for k in (0..KEYS).filter(|k| !missing(*k)) {
        for copy in 0..=usize::from(doubled(k)) {
            pages.push(json!({"id": part_id(k, copy), "data_source_id": PARTS,
                "properties": {"Name": format!("Part {k}"), "SKU": sku(k)}}));
        }
    }
    for i in 0..ROWS {
        let stage = if i % 2 == 0 { "open" } else { "closed" };
        pages.push(json!({"id": order_id(i), "data_source_id": ORDERS,
            "properties": {"Name": format!("Order {i}"), "Stage": stage,
                           "Parts": seeded_parts(i)}}));
    }
    serde_json::from_value(json!({
        "databases": [
            {"id": "0e5c5a4f-0000-4000-8000-0000000000da", "title": "Orders"},
            {"id": "0e5c5a4f-0000-4000-8000-0000000000db", "title": "Parts"}],
        "data_sources": [
            {"id": ORDERS, "title": "Orders", "database_id": "0e5c5a4f-0000-4000-8000-0000000000da",
             "properties": [{"name": "Name", "type": "title"},
                            {"name": "Parts", "type": "relation", "data_source_id": PARTS},
                            {"name": "Stage", "type": "select",
                             "options": [{"name": "open"}, {"name": "closed"}]}]},
            {"id": PARTS, "title": "Parts", "database_id": "0e5c5a4f-0000-4000-8000-0000000000db",
             "properties": [{"name": "Name", "type": "title"},
                            {"name": "SKU", "type": "rich_text"}]}],
        "users": [],
        "pages": pages,
    }))
    .expect("a valid seed")
}

fn input() -> String {
    let mut csv = String::from("page_id,Parts:relation[SKU]\n");
    for i in 0..ROWS {
        let keys: Vec<String> = keys_of(i).into_iter().map(sku).collect();
        csv += &format!("{},{}\n", order_id(i), keys.join(";"));
    }
    csv
}

async fn start(faults: &str) -> Handle {
    let mut options = notion_sandbox::Options::new(seed());
    options.token = Some(TOKEN.into());
    options.faults = faults.parse::<FaultSpec>().unwrap();
    options.fault_seed = 20;
    notion_sandbox::start(options)
        .await
        .expect("the sandbox starts")
}

/// The queries sent to the parts' data source.
fn part_queries(handle: &Handle) -> usize {
    let path = format!("/v1/data_sources/{PARTS}/query");
    handle.requests().iter().filter(|r| r.path == path).count()
}

/// Parts by SKU, as the sandbox holds them (not in the trash unless `trashed`).
fn parts_by_sku(handle: &Handle, trashed: bool) -> HashMap<String, Vec<String>> {
    let mut by = HashMap::<String, Vec<String>>::new();
    for page in handle.state()["pages"].as_array().unwrap() {
        let sku = page["properties"]["SKU"]["rich_text"][0]["plain_text"].as_str();
        if let (Some(sku), true) = (sku, page["in_trash"] == json!(trashed)) {
            by.entry(sku.to_owned())
                .or_default()
                .push(page["id"].as_str().unwrap().to_owned());
        }
    }
    by
}

/// Each order's related parts, from one read of the sandbox's state.
fn relations_now(handle: &Handle) -> HashMap<String, Vec<String>> {
    let state = handle.state();
    let orders = state["pages"].as_array().unwrap().iter();
    orders
        .filter(|p| p["properties"]["Parts"]["relation"].is_array())
        .map(|p| {
            let ids = p["properties"]["Parts"]["relation"].as_array().unwrap();
            let ids = ids.iter().map(|r| r["id"].as_str().unwrap().to_owned());
            (p["id"].as_str().unwrap().to_owned(), ids.collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_looks_the_keys_up_in_batches_and_lists_what_each_found() {
    let handle = start("").await;
    let dir = Dir::new();
    dir.write("orders.csv", input());
    let args = ["plan", "orders.csv", "--data-source", ORDERS];
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    // The lookups: at most 1.05 x ceil(800 distinct keys / 100), and nothing written.
    let queries = part_queries(&handle);
    assert!(
        queries as f64 <= 1.05 * KEYS.div_ceil(100) as f64,
        "{queries} queries"
    );
    assert!(handle
        .requests()
        .iter()
        .all(|r| r.method != "PATCH" && r.path != "/v1/pages"));
    let lines = json_lines(&out.stdout);
    let relations = &lines[0]["relations"];
    assert_eq!(relations["key"], "SKU");
    assert_eq!(relations["keys"], KEYS);
    assert_eq!(relations["queries"], queries);
    let found = relations["found"].as_object().unwrap();
    assert_eq!(found.len(), KEYS - 40 - 3);
    assert_eq!(found[&sku(1)], part_id(1, 0));
    assert_eq!(relations["several"].as_object().unwrap().len(), 3);
    assert_eq!(relations["missing"].as_array().unwrap().len(), 40);
    // Rows: the ones naming a missing or doubled SKU are invalid, naming the cell and the key.
    let bodies: BTreeMap<u64, &Value> = lines[1..]
        .iter()
        .filter(|l| l.get("body").is_some())
        .map(|l| (l["row"].as_u64().unwrap(), &l["body"]))
        .collect();
    let row_2 = bodies[&2]["properties"]["Parts"]["relation"].clone();
    assert_eq!(
        row_2,
        json!([{"id": part_id(1, 0)}, {"id": part_id(501, 0)}])
    );
    assert!(
        out.stderr
            .contains("2 pages of \"Parts\" have SKU = \"SKU-0100\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("no page of \"Parts\" has SKU = \"SKU-0007\""),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_parts_are_created_once_under_faults_and_two_kills_and_undo_trashes_them() {
    let handle = start("e504_applied=0.05").await;
    let dir = Dir::new();
    dir.write("orders.csv", input());
    let base = handle.base_url();
    let args = |rate: &'static str, resume: bool| {
        let mut args = vec!["apply", "orders.csv", "--data-source", ORDERS];
        args.extend(["--create-missing-related", "--backup", "backup.jsonl"]);
        args.extend([
            "--report",
            "r.jsonl",
            "--progress",
            "none",
            "--concurrency",
            "4",
        ]);
        args.extend(["--rate", rate, "--burst", "1"]);
        if resume {
            args.push("--resume");
        }
        args
    };
    let creates = |handle: &Handle| {
        handle
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/pages")
            .count()
    };
    // Killed while creating the missing parts.
    let mut child = spawn_against(&dir, &base, TOKEN, &args("20", false));
    for _ in 0..3000 {
        if creates(&handle) >= 10 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    assert!(
        creates(&handle) < 40,
        "killed while creating: {}",
        creates(&handle)
    );
    assert!(!dir.path("r.jsonl").exists() || read_report(&dir.path("r.jsonl")).is_empty());
    // Killed again while writing the rows.
    let mut child = spawn_against(&dir, &base, TOKEN, &args("20", true));
    until_report_has(&dir, "r.jsonl", 40).await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let partial = read_report(&dir.path("r.jsonl")).len();
    assert!(partial < ROWS, "killed part way: {partial} lines");
    // Resumed to the end.
    let out = run_against(&dir, &base, TOKEN, &args("200", true)).await;
    assert_eq!(out.code, 1, "3 rows are invalid: {}", out.stderr);

    // Each missing SKU has exactly one part now; the doubled ones still two.
    let parts = parts_by_sku(&handle, false);
    for k in 0..KEYS {
        let want = if doubled(k) { 2 } else { 1 };
        assert_eq!(
            parts[&sku(k)].len(),
            want,
            "{}: {:?}",
            sku(k),
            parts.get(&sku(k))
        );
    }
    let part_of = |k: usize| parts[&sku(k)][0].clone();
    let related = relations_now(&handle);
    // Every other row's relation is exactly its parts, in the row's order.
    let report = read_report(&dir.path("r.jsonl"));
    let last: HashMap<u64, &crate::util::ReportLine> = report.iter().map(|l| (l.row, l)).collect();
    assert_eq!(last.len(), ROWS);
    for i in 0..ROWS {
        let keys = keys_of(i);
        let line = last[&(i as u64 + 1)];
        if keys.iter().any(|k| doubled(*k)) {
            assert_eq!(
                (line.outcome.as_str(), line.code.as_deref()),
                ("invalid", Some("ambiguous_key")),
                "row {}",
                i + 1
            );
            assert_eq!(related[&order_id(i)], seeded_parts(i));
            continue;
        }
        // A row whose write landed as the run was killed has no line then: resumed, the scan
        // finds its relation set and sends nothing.
        let landed = line.outcome == "ok" || line.code.as_deref() == Some("unchanged");
        assert!(landed, "row {}: {line:?}", i + 1);
        let want: Vec<String> = keys.into_iter().map(part_of).collect();
        assert_eq!(related[&order_id(i)], want, "row {}", i + 1);
    }
    assert!(out.stderr.contains("on several"), "{}", out.stderr);
    let faults = handle
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(faults > 0, "the faults were drawn");

    // The backup trashes the 40 created parts and empties the relations again.
    let backup = std::fs::read_to_string(dir.path("backup.jsonl")).unwrap();
    let created: Vec<&str> = backup
        .lines()
        .filter(|l| l.contains("\"in_trash\":true"))
        .collect();
    assert_eq!(created.len(), 40, "{backup}");
    let undo = [
        "apply",
        "backup.jsonl",
        "--report",
        "undo.jsonl",
        "--progress",
        "none",
        "--rate",
        "200",
    ];
    let out = run_against(&dir, &base, TOKEN, &undo).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let trashed = parts_by_sku(&handle, true);
    for k in (0..KEYS).filter(|k| missing(*k)) {
        assert_eq!(trashed[&sku(k)].len(), 1, "{}", sku(k));
    }
    let related = relations_now(&handle);
    assert!((0..ROWS).all(|i| related[&order_id(i)] == seeded_parts(i)));
}

/// A keyed sync (`--match-on Name`) whose relation column adds parts by SKU (a job file's
/// `relation_key` and `op = "add"`), with an `if:` column, `--columns` and `--resume`: the open
/// orders keep the part they had and get the two named (one created), the closed ones are
/// skipped, and the rerun sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_sync_adds_parts_by_sku_with_preconditions_columns_and_resume() {
    let handle = start("").await;
    let dir = Dir::new();
    let mut csv = String::from("Name,Part numbers,if:Stage,Note\n");
    for i in 0..12 {
        csv += &format!("Order {i},SKU-0001;SKU-0007,open,not written\n");
    }
    dir.write("sync.csv", csv);
    dir.write(
        "sync.toml",
        format!(
            "input = \"sync.csv\"\ndata_source = \"{ORDERS}\"\nmatch_on = \"Name\"\n\
             create_missing_related = true\nreport = \"r.jsonl\"\n\
             [columns]\n\"Part numbers\" = {{ property = \"Parts\", type = \"relation\", \
             relation_key = \"SKU\", op = \"add\" }}\n\"Note\" = \"rich_text\"\n"
        ),
    );
    let base = handle.base_url();
    let args = [
        "apply",
        "sync.toml",
        "--columns",
        "Part numbers",
        "--progress",
        "none",
    ];
    let out = run_against(&dir, &base, TOKEN, &args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let created = parts_by_sku(&handle, false)[&sku(7)].clone();
    assert_eq!(created.len(), 1);
    let related = relations_now(&handle);
    for i in 0..12 {
        let mut want = seeded_parts(i);
        if i % 2 == 0 {
            want.extend([part_id(1, 0), created[0].clone()]);
        }
        assert_eq!(related[&order_id(i)], want, "order {i}");
    }
    let report = read_report(&dir.path("r.jsonl"));
    let skipped = report
        .iter()
        .filter(|l| l.code.as_deref() == Some("precondition_failed"))
        .count();
    assert_eq!(skipped, 6, "{report:?}");
    // Note was not written (--columns), nor is Stage.
    assert!(handle
        .requests()
        .iter()
        .all(|r| r.method != "PATCH" || r.path.starts_with("/v1/pages/")));
    let patches = |h: &Handle| h.requests().iter().filter(|r| r.method == "PATCH").count();
    assert_eq!(patches(&handle), 6);

    // Resumed: every row is done; nothing is created or sent again.
    let before = handle.requests().len();
    let mut again = args.to_vec();
    again.push("--resume");
    let out = run_against(&dir, &base, TOKEN, &again).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let later = &handle.requests()[before..];
    assert!(
        later
            .iter()
            .all(|r| r.method == "GET" || r.path.ends_with("/query")),
        "{later:?}"
    );
    assert_eq!(parts_by_sku(&handle, false)[&sku(7)].len(), 1);
}
