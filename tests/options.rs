//! Issue 20, point 3: `--add-missing-options`. Before any page is written, one `PATCH
//! /v1/data_sources/{id}` adds every select, multi_select and status option the input names
//! that the schema lacks (status options into the group the header names); `plan` lists them
//! first; without the flag an unknown status stays invalid; nothing is ever deleted.

use notion_sandbox::{Handle, Seed};
use serde_json::Value;

use crate::scan::{start, DATA_SOURCE, TOKEN};
use crate::util::{json_lines, read_report, run_against, Dir};

fn id(i: usize) -> String {
    Seed::generated_page_id(i)
}

/// 5 new Priority options (select), 2 new Status options (into In progress), over 20 rows.
fn input() -> String {
    let priorities = ["P0", "P1", "P2", "P3", "P4", "High"];
    let statuses = ["Blocked", "In review", "Done"];
    let mut csv = String::from("page_id,Priority,Status:status[In progress]\n");
    for i in 1..=20 {
        csv += &format!(
            "{},{},{}\n",
            id(i),
            priorities[i % priorities.len()],
            statuses[i % statuses.len()]
        );
    }
    csv
}

/// The options of a property of the data source as the sandbox holds it, and a status's
/// groups as (name, option names).
fn options(handle: &Handle, property: &str) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let state = handle.state();
    let source = &state["data_sources"][0];
    assert_eq!(source["id"], DATA_SOURCE);
    let config = source["properties"][property].clone();
    let ty = config["type"].as_str().unwrap().to_owned();
    let list = config[&ty]["options"].as_array().unwrap().clone();
    let name_of = |id: &Value| {
        list.iter()
            .find(|o| &o["id"] == id)
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let names = list
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    let groups = config[&ty]["groups"]
        .as_array()
        .map(|groups| {
            groups
                .iter()
                .map(|g| {
                    let ids = g["option_ids"].as_array().unwrap();
                    (
                        g["name"].as_str().unwrap().to_owned(),
                        ids.iter().map(name_of).collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (names, groups)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_options_are_added_by_one_schema_patch_before_the_rows_and_listed_first_by_plan() {
    let handle = start(Seed::generate(20), |_| {}).await;
    let dir = Dir::new();
    dir.write("in.csv", input());
    let base = handle.base_url();

    // Without the flag, an unknown status makes its row invalid, as before.
    let plan = run_against(
        &dir,
        &base,
        TOKEN,
        &["plan", "in.csv", "--schema-from", DATA_SOURCE],
    )
    .await;
    assert!(
        plan.stderr.contains("has no option \"Blocked\""),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("--add-missing-options"),
        "{}",
        plan.stderr
    );

    // plan lists the 7 options first, then the rows.
    let args = [
        "in.csv",
        "--data-source",
        DATA_SOURCE,
        "--add-missing-options",
    ];
    let mut plan_args = vec!["plan"];
    plan_args.extend(args);
    let plan = run_against(&dir, &base, TOKEN, &plan_args).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let lines = json_lines(&plan.stdout);
    let change = &lines[0]["schema_change"];
    assert_eq!(
        change["request"],
        format!("PATCH /v1/data_sources/{DATA_SOURCE}")
    );
    let listed: Vec<(String, String, Value)> = change["add_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let s = |k: &str| o[k].as_str().unwrap().to_owned();
            (s("property"), s("option"), o["group"].clone())
        })
        .collect();
    let mut want: Vec<(String, String, Value)> = ["P0", "P1", "P2", "P3", "P4"]
        .iter()
        .map(|p| ("Priority".into(), p.to_string(), Value::Null))
        .collect();
    want.extend(["Blocked", "In review"].iter().map(|s| {
        (
            "Status".into(),
            s.to_string(),
            Value::String("In progress".into()),
        )
    }));
    let mut sorted = listed.clone();
    sorted.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(sorted, want);
    assert!(
        lines[1..].iter().all(|l| l.get("row").is_some()),
        "{}",
        plan.stdout
    );
    assert!(
        !plan.stderr.contains("is not yet an option"),
        "{}",
        plan.stderr
    );
    assert!(handle
        .requests()
        .iter()
        .all(|r| r.method == "GET" || r.path.ends_with("/query")));

    // apply: one schema PATCH, before any page PATCH; every row lands.
    let mut apply_args = vec!["apply"];
    apply_args.extend(args);
    apply_args.extend(["--report", "r.jsonl", "--progress", "none"]);
    let out = run_against(&dir, &base, TOKEN, &apply_args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("schema: added 7 options"),
        "{}",
        out.stderr
    );
    let writes: Vec<String> = handle
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(writes[0], format!("/v1/data_sources/{DATA_SOURCE}"));
    assert_eq!(
        writes
            .iter()
            .filter(|p| p.starts_with("/v1/data_sources/"))
            .count(),
        1
    );
    assert_eq!(handle.stats().schema_patches, 1);
    let report = read_report(&dir.path("r.jsonl"));
    assert_eq!(report.len(), 20);
    assert!(
        report
            .iter()
            .all(|l| l.outcome == "ok" || l.code.as_deref() == Some("unchanged")),
        "{report:?}"
    );
    // Nothing was deleted; the new status options are in In progress.
    let (priorities, _) = options(&handle, "Priority");
    for p in ["Low", "Medium", "High", "P0", "P1", "P2", "P3", "P4"] {
        assert!(priorities.contains(&p.to_string()), "{priorities:?}");
    }
    let (statuses, groups) = options(&handle, "Status");
    assert_eq!(statuses.len(), 5, "{statuses:?}");
    let in_progress = &groups.iter().find(|(g, _)| g == "In progress").unwrap().1;
    assert!(
        in_progress.contains(&"Blocked".to_string())
            && in_progress.contains(&"In review".to_string()),
        "{groups:?}"
    );

    // Run again (as --resume would): the options are there, no second schema PATCH.
    let mut again = apply_args.clone();
    again.push("--resume");
    let out = run_against(&dir, &base, TOKEN, &again).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("names no option \"Tasks\" lacks; nothing to add"),
        "{}",
        out.stderr
    );
    assert_eq!(handle.stats().schema_patches, 1);
}

#[tokio::test]
async fn add_missing_options_refuses_stdin_and_old_versions_and_a_refusal_writes_no_page() {
    let handle = start(Seed::generate(20), |o| o.max_schema_options = Some(12)).await;
    let dir = Dir::new();
    dir.write("in.csv", input());
    let base = handle.base_url();
    let out = run_against(
        &dir,
        &base,
        TOKEN,
        &[
            "apply",
            "in.csv",
            "--add-missing-options",
            "--notion-version",
            "2022-06-28",
            "--schema-from",
            DATA_SOURCE,
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("2025-09-03 or later"), "{}", out.stderr);
    let out = run_against(
        &dir,
        &base,
        TOKEN,
        &["apply", "in.csv", "--add-missing-options"],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("needs the data source"),
        "{}",
        out.stderr
    );
    // The sandbox's schema ceiling (12 options in all) refuses the 7: no page is written.
    let out = run_against(
        &dir,
        &base,
        TOKEN,
        &[
            "apply",
            "in.csv",
            "--data-source",
            DATA_SOURCE,
            "--add-missing-options",
            "--report",
            "r.jsonl",
        ],
    )
    .await;
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("exceeded the maximum size"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Nothing was written to any page"),
        "{}",
        out.stderr
    );
    assert!(handle
        .requests()
        .iter()
        .all(|r| !(r.method == "PATCH" && r.path.starts_with("/v1/pages/"))));
}

/// With `--where`, the options come from the `--set` values: `plan` lists them first, and
/// `apply` adds them before it edits the selected pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selection_adds_the_options_its_set_values_name() {
    let handle = start(Seed::generate(20), |_| {}).await;
    let dir = Dir::new();
    let base = handle.base_url();
    let edit = [
        "--data-source",
        DATA_SOURCE,
        "--where",
        "Priority = High",
        "--set",
        "Tags+=Q4",
        "--set",
        "Status=Parked",
        "--add-missing-options",
    ];
    let mut plan = vec!["plan"];
    plan.extend(edit);
    let out = run_against(&dir, &base, TOKEN, &plan).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = json_lines(&out.stdout);
    let added: Vec<String> = lines[0]["schema_change"]["add_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}={}",
                o["property"].as_str().unwrap(),
                o["option"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(added, ["Tags=Q4", "Status=Parked"]);
    let mut apply = vec!["apply"];
    apply.extend(edit);
    apply.extend(["--report", "r.jsonl", "--progress", "none"]);
    let out = run_against(&dir, &base, TOKEN, &apply).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(handle.stats().schema_patches, 1);
    let report = read_report(&dir.path("r.jsonl"));
    assert!(
        !report.is_empty() && report.iter().all(|l| l.outcome == "ok"),
        "{report:?}"
    );
}
