//! `--backup` and undo: the values a run changes are saved before it sends them, once per page
//! and field, across an interrupted and resumed run; applying the backup puts them all back.

use std::time::Duration;

use notion_sandbox::{self as sandbox, Handle, Options, Seed};
use serde_json::{json, Value};

use crate::util::{read_report, run_against, Dir, Run};

const TOKEN: &str = "secret_backup_test";

fn seed(pages: usize) -> Seed {
    let mut seed = Seed::generate(pages);
    // Page 1 is blocked by 30 pages: more than the 25 a page read returns.
    let blockers: Vec<Value> = (2..32).map(|i| json!(Seed::generated_page_id(i))).collect();
    seed.pages[0]
        .properties
        .insert("Blocked by".into(), Value::Array(blockers));
    seed.pages[0]
        .properties
        .insert("Tags".into(), json!(["docs", "infra"]));
    seed
}

/// The fields the job touches, as plain values, for one page.
fn touched(handle: &Handle, page: &str) -> Value {
    let p = handle.page(page).unwrap();
    let props = &p["properties"];
    json!({
        "name": props["Name"]["title"].as_array().unwrap().iter().map(|t| t["text"]["content"].as_str().unwrap()).collect::<String>(),
        "status": props["Status"]["status"]["name"],
        "estimate": props["Estimate"]["number"],
        "tags": props["Tags"]["multi_select"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect::<Vec<_>>(),
        "blocked_by": props["Blocked by"]["relation"].as_array().unwrap().iter().map(|r| r["id"].clone()).collect::<Vec<_>>(),
        "icon": p["icon"],
    })
}

async fn apply(dir: &Dir, handle: &Handle, args: &[&str]) -> Run {
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    all.extend(["--progress", "none"]);
    run_against(dir, &handle.base_url(), TOKEN, &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_with_backup_interrupted_and_resumed_then_undo_restores_every_touched_field() {
    let pages = 30;
    let mut options = Options::new(seed(pages + 2));
    options.token = Some(TOKEN.into());
    options.latency = Some((1, 5));
    let handle = sandbox::start(options).await.unwrap();
    let ids: Vec<String> = (1..=pages).map(Seed::generated_page_id).collect();
    let before: Vec<Value> = ids.iter().map(|p| touched(&handle, p)).collect();

    // Two rounds of changes per page; page 1's relation shrinks to two pages.
    let dir = Dir::new();
    let mut csv = String::from("page_id,Name:title,Status:status,Estimate:number,Tags:multi_select,Blocked by:relation,@icon\n");
    for round in 0..2 {
        for (i, page) in ids.iter().enumerate() {
            let relation = if i == 0 {
                format!(
                    "{};{}",
                    Seed::generated_page_id(31),
                    Seed::generated_page_id(32)
                )
            } else {
                String::new()
            };
            csv += &format!(
                "{page},Renamed {i} r{round},Done,{},urgent;r{round},{relation},🔥\n",
                100 + i + round
            );
        }
    }
    // A row that changes nothing: with --backup it ends skipped, unsent.
    csv += &format!("{},,,,,,\n", ids[1]);
    csv += &format!("{},Renamed 1 r1,Done,102,urgent;r1,,🔥\n", ids[1]);
    dir.write("rows.csv", &csv);
    let args = [
        "rows.csv",
        "--report",
        "r.jsonl",
        "--backup",
        "backup.jsonl",
        "--rate",
        "60",
        "--burst",
        "2",
        "--concurrency",
        "4",
    ];

    // Interrupted: SIGKILL once some rows are done.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_notion-bulk"))
        .arg("apply")
        .args(args)
        .args(["--api-base", &handle.base_url(), "--progress", "none"])
        .env("NOTION_TOKEN", TOKEN)
        .current_dir(dir.tmp.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..3000 {
        let n = std::fs::read_to_string(dir.path("r.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n >= 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    // Resumed with the same backup.
    let mut resumed = args.to_vec();
    resumed.push("--resume");
    let out = apply(&dir, &handle, &resumed).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out
        .stderr
        .contains("to undo: notion-bulk apply backup.jsonl"));
    let report = read_report(&dir.path("r.jsonl"));
    let last_row = (ids.len() * 2 + 2) as u64;
    let last = report.iter().rev().find(|l| l.row == last_row).unwrap();
    assert_eq!(last.outcome, "skipped", "{last:?}");
    assert!(
        touched(&handle, &ids[0])["blocked_by"]
            .as_array()
            .unwrap()
            .len()
            == 2
    );

    // Each (page, field) is in the backup once, with its value from before the first change.
    let backup = std::fs::read_to_string(dir.path("backup.jsonl")).unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in backup.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let page = v["page_id"].as_str().unwrap().to_owned();
        for key in v["properties"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            assert!(
                seen.insert((page.clone(), key.clone())),
                "{page} {key} saved twice"
            );
        }
        if v.get("icon").is_some() {
            assert!(seen.insert((page.clone(), "@icon".into())));
        }
        assert!(
            !line.contains("plain_text") && !line.contains("href"),
            "request-shaped: {line}"
        );
    }
    let first: Value = backup
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["page_id"] == ids[0].as_str() && v["properties"].get("Blocked by").is_some())
        .unwrap();
    assert_eq!(
        first["properties"]["Blocked by"]["relation"]
            .as_array()
            .unwrap()
            .len(),
        30,
        "complete past 25 items"
    );

    // Undo: apply the backup; every touched field is as seeded.
    let out = apply(
        &dir,
        &handle,
        &[
            "backup.jsonl",
            "--report",
            "undo.jsonl",
            "--rate",
            "200",
            "--burst",
            "10",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for (page, expected) in ids.iter().zip(&before) {
        assert_eq!(&touched(&handle, page), expected, "{page}");
    }
}
