//! Issue 21, point 1: files copied into Notion through the File Upload API. 200 rows name
//! 150 local files (3 of 25 MB, sent in parts; 10 files named by two rows each) and 50
//! `upload:` URLs. Under faults, killed once and resumed, every page ends with its file as a
//! hosted file, each distinct file is uploaded once (the sandbox counts no duplicate), and
//! `plan` finds a missing path and an oversized file before anything is sent.

use notion_sandbox::{FaultSpec, Handle, Seed};
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::{HashMap, HashSet};

use crate::resume::until_report_has;
use crate::scan::TOKEN;
use crate::util::{json_lines, read_report, run_against, spawn_against, Dir};

const DOCS: &str = "0e5c5a4f-0000-4000-8000-0000000000f1";
const ROWS: usize = 200;
const LOCAL: usize = 150;
const MB: usize = 1024 * 1024;

fn page_id(i: usize) -> String {
    format!("0e5c5a4f-0000-4000-8000-{:012x}", 0x2000 + i)
}

fn seed() -> Seed {
    let pages: Vec<Value> = (0..ROWS)
        .map(|i| {
            json!({"id": page_id(i), "data_source_id": DOCS,
                   "properties": {"Name": format!("Doc {i}")}})
        })
        .collect();
    serde_json::from_value(json!({
        "databases": [{"id": "0e5c5a4f-0000-4000-8000-0000000000f0", "title": "Docs"}],
        "data_sources": [{"id": DOCS, "title": "Docs",
            "database_id": "0e5c5a4f-0000-4000-8000-0000000000f0",
            "properties": [{"name": "Name", "type": "title"},
                           {"name": "Scan", "type": "files"}]}],
        "users": [],
        "pages": pages,
    }))
    .expect("a valid seed")
}

async fn start(faults: &str, max_file: Option<u64>) -> Handle {
    let mut options = notion_sandbox::Options::new(seed());
    options.token = Some(TOKEN.into());
    options.faults = faults.parse::<FaultSpec>().unwrap();
    options.fault_seed = 21;
    if let Some(max) = max_file {
        options.max_file_upload_size = max;
    }
    notion_sandbox::start(options)
        .await
        .expect("the sandbox starts")
}

/// The file row i (0-based) names: rows 0..150 local files (rows 140..150 name the files of
/// rows 0..10 again), rows 150..200 URLs to import.
fn cell(i: usize) -> String {
    match i {
        i if i < 140 => format!("scans/doc-{i}.pdf"),
        i if i < LOCAL => format!("./scans/doc-{}.pdf", i - 140),
        i => format!("upload:https://files.example.test/export/att-{i}.png?sig=x"),
    }
}

/// Writes the 140 distinct local files: 3 of 25 MB (rows 0..3), the rest a few KB each.
fn write_files(dir: &Dir) -> HashMap<String, String> {
    std::fs::create_dir_all(dir.path("scans")).unwrap();
    let mut hashes = HashMap::new();
    for i in 0..140 {
        let size = if i < 3 { 25 * MB } else { 1000 + i * 37 };
        let bytes: Vec<u8> = (0..size).map(|b| ((b * 31 + i * 7) % 251) as u8).collect();
        let hex = hex(&sha2::Sha256::digest(&bytes));
        dir.write(&format!("scans/doc-{i}.pdf"), bytes);
        hashes.insert(format!("doc-{i}.pdf"), hex);
    }
    hashes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn input() -> String {
    let mut csv = String::from("page_id,Scan\n");
    for i in 0..ROWS {
        csv += &format!("{},{}\n", page_id(i), cell(i));
    }
    csv
}

async fn uploads(handle: &Handle) -> Value {
    reqwest::get(format!("{}/__sandbox/uploads", handle.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_uploaded_once_each_under_faults_and_a_kill_and_read_back_hosted() {
    let handle = start("e504_applied=0.04,e502=0.03", None).await;
    let dir = Dir::new();
    let hashes = write_files(&dir);
    dir.write("docs.csv", input());
    let base = handle.base_url();
    let args = |resume: bool| {
        let mut args = vec!["apply", "docs.csv", "--data-source", DOCS];
        args.extend(["--report", "r.jsonl", "--progress", "none"]);
        args.extend(["--concurrency", "4", "--rate", "60", "--burst", "4"]);
        if resume {
            args.push("--resume");
        }
        args
    };
    // Killed part way (the large files go first, so parts may be in flight).
    let mut child = spawn_against(&dir, &base, TOKEN, &args(false));
    until_report_has(&dir, "r.jsonl", 30).await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let partial = read_report(&dir.path("r.jsonl")).len();
    assert!(partial < ROWS, "killed part way: {partial} lines");
    let out = run_against(&dir, &base, TOKEN, &args(true)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("summary: files: "), "{}", out.stderr);

    // Every row ended ok once, and its line names the upload.
    let lines = read_report(&dir.path("r.jsonl"));
    let mut ok = HashSet::new();
    for line in &lines {
        assert_eq!(line.outcome, "ok", "{line:?}");
        assert!(ok.insert(line.row), "row {} ended twice", line.row);
        let message = line.message.as_deref().unwrap_or_default();
        assert!(message.starts_with("files uploaded: "), "{line:?}");
    }
    assert_eq!(ok.len(), ROWS);

    // Every page holds its file as a hosted file of the right content.
    let listing = uploads(&handle).await;
    let by_id: HashMap<&str, &Value> = listing["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), u))
        .collect();
    for i in 0..ROWS {
        let page = handle.page(&page_id(i)).unwrap();
        let files = page["properties"]["Scan"]["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "page {i}: {files:?}");
        assert_eq!(files[0]["type"], "file", "page {i} holds a hosted file");
        let url = files[0]["file"]["url"].as_str().unwrap();
        let id = url.split('/').nth(3).unwrap();
        let upload = by_id[id];
        assert_eq!(upload["status"], "uploaded");
        match i < LOCAL {
            true => {
                let file = if i < 140 { i } else { i - 140 };
                let name = format!("doc-{file}.pdf");
                assert_eq!(files[0]["name"], name.as_str());
                assert_eq!(upload["sha256"], hashes[&name].as_str(), "page {i}");
                let parts = upload["number_of_parts"].as_u64();
                assert_eq!(
                    parts,
                    (file < 3).then_some(3),
                    "page {i}: 25 MB in 10 MiB parts"
                );
            }
            false => {
                assert_eq!(files[0]["name"], format!("att-{i}.png").as_str());
                assert_eq!(upload["mode"], "external_url");
            }
        }
    }
    // Each distinct file uploaded once: 140 local and 50 imports, and no duplicate content.
    let stats = handle.stats();
    assert_eq!(
        stats.file_uploads.duplicate_uploads, 0,
        "{:?}",
        stats.file_uploads
    );
    assert_eq!(
        stats.file_uploads.uploaded,
        140 + 50,
        "{:?}",
        stats.file_uploads
    );
    assert!(
        stats.faults.values().sum::<u64>() > 0,
        "faults were drawn: {:?}",
        stats.faults
    );
    // The 10 files two rows name share one upload.
    for i in 140..LOCAL {
        let a = handle.page(&page_id(i)).unwrap();
        let b = handle.page(&page_id(i - 140)).unwrap();
        let id = |p: &Value| {
            p["properties"]["Scan"]["files"][0]["file"]["url"]
                .as_str()
                .unwrap()
                .split('/')
                .nth(3)
                .unwrap()
                .to_owned()
        };
        assert_eq!(id(&a), id(&b), "rows {i} and {} name one file", i - 140);
    }

    // Resumed again: nothing is sent, nothing uploaded.
    let before = handle.stats().file_uploads.created;
    let out = run_against(&dir, &base, TOKEN, &args(true)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(handle.stats().file_uploads.created, before);
    assert!(!out.stderr.contains("summary: files: "), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_finds_a_missing_path_and_an_oversized_file_before_anything_is_sent() {
    // The workspace takes files up to 1 MB.
    let handle = start("", Some(MB as u64)).await;
    let dir = Dir::new();
    std::fs::create_dir_all(dir.path("scans")).unwrap();
    dir.write("scans/ok.pdf", vec![7u8; 1000]);
    dir.write("scans/big.pdf", vec![7u8; 2 * MB]);
    dir.write(
        "docs.csv",
        format!(
            "page_id,Scan\n{},scans/ok.pdf\n{},scans/gone.pdf\n{},scans/big.pdf\n{},http://x.test/a.pdf;upload:http://x.test/b.pdf\n",
            page_id(0),
            page_id(1),
            page_id(2),
            page_id(3)
        ),
    );
    let args = ["plan", "docs.csv", "--data-source", DOCS];
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines = json_lines(&out.stdout);
    let body = lines
        .iter()
        .find(|l| l["row"] == 1 && l.get("body").is_some())
        .expect("row 1 is planned");
    assert_eq!(
        body["body"]["properties"]["Scan"]["files"][0],
        json!({"name": "ok.pdf", "type": "file_upload",
               "file_upload": {"path": "scans/ok.pdf", "bytes": 1000}})
    );
    let stderr = &out.stderr;
    assert!(
        stderr.contains("row 2") && stderr.contains("\"scans/gone.pdf\": no such file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 3")
            && stderr.contains("2.0 MiB")
            && stderr.contains("over the workspace's largest file, 1.0 MiB"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 4") && stderr.contains("only from https://"),
        "{stderr}"
    );
    // Nothing was uploaded or written: only the schema's and the limit's reads.
    assert!(handle
        .requests()
        .iter()
        .all(|r| r.method == "GET" || r.path.ends_with("/query")));
    assert_eq!(handle.stats().file_uploads.created, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_expired_unattached_is_made_again_on_resume() {
    let handle = start("", None).await;
    let dir = Dir::new();
    std::fs::create_dir_all(dir.path("scans")).unwrap();
    let mut csv = String::from("page_id,Scan:files\n");
    for i in 0..3 {
        dir.write(&format!("scans/e-{i}.pdf"), vec![i as u8 + 1; 2000]);
        csv += &format!("{},scans/e-{i}.pdf\n", page_id(i));
    }
    dir.write("docs.csv", csv);
    let base = handle.base_url();
    let args = |resume: bool| {
        let mut args = vec!["apply", "docs.csv", "--report", "r.jsonl"];
        args.extend(["--progress", "none", "--concurrency", "1"]);
        if resume {
            args.push("--resume");
        }
        args
    };
    // The first row's file is uploaded; its PATCH is held, and the run killed.
    handle.hold("PATCH", "/v1/pages/");
    let mut child = spawn_against(&dir, &base, TOKEN, &args(false));
    let held = tokio::time::timeout(std::time::Duration::from_secs(120), handle.held(1)).await;
    if held.is_err() {
        let out = child.wait_with_output().await.unwrap();
        panic!(
            "no PATCH was held: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let journal = std::fs::read_to_string(dir.path("r.jsonl.uploads")).unwrap();
    assert!(journal.contains("\"event\":\"uploaded\""), "{journal}");
    // An hour passes (for the sandbox): the upload, never attached, expires.
    let expired: Value = reqwest::Client::new()
        .post(format!("{base}/__sandbox/expire_uploads"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(expired["expired"], 1);
    handle.release();
    let out = run_against(&dir, &base, TOKEN, &args(true)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for i in 0..3 {
        let page = handle.page(&page_id(i)).unwrap();
        let file = &page["properties"]["Scan"]["files"][0];
        assert_eq!(file["type"], "file", "page {i}: {file}");
        assert_eq!(file["name"], format!("e-{i}.pdf").as_str());
    }
    let stats = handle.stats().file_uploads;
    assert_eq!(
        (stats.uploaded, stats.expired, stats.attached),
        (4, 1, 3),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_sync_uploads_into_found_and_created_pages_with_a_backup() {
    let handle = start("", None).await;
    let dir = Dir::new();
    std::fs::create_dir_all(dir.path("in/scans")).unwrap();
    dir.write("in/scans/same.pdf", vec![9u8; 3000]);
    dir.write("in/scans/cover.png", vec![8u8; 2000]);
    // Doc 1 exists; Doc 900 does not, and is created holding the same file and cover.
    dir.write(
        "in/docs.csv",
        "Name,Scan,@cover,@icon\nDoc 1,scans/same.pdf,scans/cover.png,upload:https://x.test/i.png\nDoc 900,./scans/same.pdf,scans/cover.png,🚀\n",
    );
    let args = [
        "apply",
        "in/docs.csv",
        "--data-source",
        DOCS,
        "--match-on",
        "Name",
        "--create-missing",
        "--backup",
        "b.jsonl",
        "--report",
        "r.jsonl",
        "--progress",
        "none",
    ];
    let out = run_against(&dir, &handle.base_url(), TOKEN, &args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let state = handle.state();
    let named = |name: &str| {
        state["pages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["properties"]["Name"]["title"][0]["plain_text"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no page {name}"))
    };
    for name in ["Doc 1", "Doc 900"] {
        let file = &named(name)["properties"]["Scan"]["files"][0];
        assert_eq!(file["type"], "file", "{name}: {file}");
        assert_eq!(file["name"], "same.pdf");
        assert_eq!(
            named(name)["cover"]["type"],
            "file",
            "{name}'s cover is hosted"
        );
    }
    assert_eq!(named("Doc 1")["icon"]["type"], "file");
    assert_eq!(named("Doc 900")["icon"]["emoji"], "🚀");
    // One upload per file for both pages, paths relative to the input's folder.
    let stats = handle.stats().file_uploads;
    assert_eq!((stats.uploaded, stats.attachments), (3, 5), "{stats:?}");
}
