//! Issue 10: native JSONL lines get Notion's rules that the OpenAPI schema does not express (as
//! CSV cells do), and, with a schema, the checks CSV headers and flat keys get. A line breaking
//! one is invalid, named by row, property and reason; the other lines go on.

use serde_json::Value;

use crate::util::{repo_path, Dir};

const PAGE: &str = "8d116ece-1738-47d9-bd9c-172411e20b8f";

/// One native line setting `properties`.
fn line(properties: &str) -> String {
    format!("{{\"page_id\": \"{PAGE}\", \"properties\": {properties}}}\n")
}

/// The rows `plan` printed, with their bodies.
fn planned(stdout: &str) -> Vec<(u64, Value)> {
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["row"].as_u64().unwrap(), v["body"].clone())
        })
        .collect()
}

fn assert_invalid(stderr: &str, row: u64, property: &str, reason: &str) {
    let start = format!("invalid: row {row} (line {row}): property \"{property}\": ");
    let found = stderr
        .lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{stderr}"));
    assert!(found.contains(reason), "{found:?} should say {reason:?}");
}

#[test]
fn notions_own_rules_apply_to_native_lines_without_a_schema() {
    let dir = Dir::new();
    let many: Vec<String> = (0..101)
        .map(|i| format!("{{\"name\": \"t{i}\"}}"))
        .collect();
    let long_name = "x".repeat(101);
    let long_text = "😀".repeat(1001);
    let mut input = String::new();
    input += &line(r#"{"Priority": {"select": {"name": "High, urgent"}}}"#);
    input += &line(r#"{"Tags": {"multi_select": [{"name": "ok"}, {"name": "a,b"}]}}"#);
    input += &line(&format!(
        r#"{{"Status": {{"status": {{"name": "{long_name}"}}}}}}"#
    ));
    input += &line(&format!(
        r#"{{"Tags": {{"multi_select": [{}]}}}}"#,
        many.join(",")
    ));
    input += &line(&format!(
        r#"{{"Notes": {{"rich_text": [{{"text": {{"content": "{long_text}"}}}}]}}}}"#
    ));
    input += &line(r#"{"Priority": {"select": {"name": "High"}}}"#);
    let relations: Vec<String> = (0..101)
        .map(|i| format!("{{\"id\": \"{:032x}\"}}", i + 1))
        .collect();
    input += &line(&format!(
        r#"{{"Blocked by": {{"relation": [{}]}}}}"#,
        relations.join(",")
    ));
    dir.write("rows.jsonl", &input);
    let out = dir.run(&["plan", "rows.jsonl"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_invalid(&out.stderr, 1, "Priority", "contains a comma");
    assert_invalid(
        &out.stderr,
        2,
        "Tags",
        "multi_select[1]: option \"a,b\" contains a comma",
    );
    assert_invalid(
        &out.stderr,
        3,
        "Status",
        "101 characters long; Notion takes at most 100",
    );
    assert_invalid(
        &out.stderr,
        4,
        "Tags",
        "101 items; Notion takes at most 100",
    );
    assert_invalid(&out.stderr, 5, "Notes", "2002 UTF-16 units");
    assert_invalid(&out.stderr, 7, "Blocked by", "101 items");
    // The other line goes on.
    let rows: Vec<u64> = planned(&out.stdout).iter().map(|(r, _)| *r).collect();
    assert_eq!(rows, [6]);
}

#[test]
fn with_a_schema_native_lines_are_checked_like_csv_headers() {
    let dir = Dir::new();
    let mut input = String::new();
    input += &line(r#"{"Staus": {"status": {"name": "Done"}}}"#);
    input += &line(r#"{"Score": {"number": 3}}"#);
    input += &line(r#"{"Status": {"status": {"name": "Shipped"}}}"#);
    input += &line(r#"{"Status": {"select": {"name": "Done"}}}"#);
    input += &line(
        r#"{"a%3Fb": {"status": {"name": "Done"}}, "Priority": {"select": {"name": "Someday"}}}"#,
    );
    input += &line(r#"{"Estimate": {"number": 3}, "E%40st": {"number": 4}}"#);
    dir.write("rows.jsonl", &input);
    let schema = repo_path("jobs/tasks-schema.json");
    let args = [
        "plan",
        "rows.jsonl",
        "--schema-file",
        schema.to_str().unwrap(),
    ];
    let out = dir.run(&args);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_invalid(
        &out.stderr,
        1,
        "Staus",
        "has no property \"Staus\". Did you mean \"Status\"?",
    );
    assert_invalid(&out.stderr, 2, "Score", "a formula property: read-only");
    assert_invalid(&out.stderr, 3, "Status", "has no option \"Shipped\"");
    assert_invalid(
        &out.stderr,
        4,
        "Status",
        "the value is a select value, but \"Status\" is a status property",
    );
    assert_invalid(&out.stderr, 6, "E%40st", "sets property \"Estimate\" twice");
    // A property named by id is sent by that id, as written (issue 18, point 13); a new
    // select option is a warning (Notion may add it), not an error, as for CSV.
    let planned = planned(&out.stdout);
    assert_eq!(planned.len(), 1, "{}", out.stdout);
    assert_eq!(planned[0].0, 5);
    assert_eq!(
        planned[0].1,
        serde_json::json!({"properties": {"a%3Fb": {"status": {"name": "Done"}}, "Priority": {"select": {"name": "Someday"}}}})
    );
    assert!(
        out.stderr
            .contains("\"Someday\" is not yet an option of \"Priority\""),
        "{}",
        out.stderr
    );
    // Without the schema the same lines are only checked for shape.
    let out = dir.run(&["plan", "rows.jsonl"]);
    assert_eq!(
        planned_rows(&out.stdout),
        [1, 2, 3, 4, 5, 6],
        "{}",
        out.stderr
    );
}

fn planned_rows(stdout: &str) -> Vec<u64> {
    planned(stdout).iter().map(|(r, _)| *r).collect()
}

/// Issue 18, point 13: with `--data-source`, native lines naming properties by id are sent by
/// those ids; a line whose page already holds the value (compared by id) is not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_lines_by_property_id_are_sent_by_id_against_a_data_source() {
    use crate::scan::{start, DATA_SOURCE, TOKEN};
    use notion_sandbox::{body_sha256, Seed};
    use serde_json::json;
    let handle = start(Seed::generate(3), |_| {}).await;
    let state = handle.state();
    let id_of = |name: &str| -> String {
        let properties = &state["data_sources"][0]["properties"];
        properties
            .as_object()
            .map(|m| m[name]["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (status, estimate) = (id_of("Status"), id_of("Estimate"));
    assert_ne!(status, "Status");
    let page = |i| Seed::generated_page_id(i);
    let current = handle.page(&page(2)).unwrap()["properties"]["Status"]["status"]["name"].clone();
    let lines = [
        json!({"page_id": page(1), "properties": {status.as_str(): {"status": {"name": "Done"}}, estimate.as_str(): {"number": 8}}}),
        json!({"page_id": page(2), "properties": {status.as_str(): {"status": {"name": current}}}}),
    ];
    let dir = Dir::new();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    dir.write("rows.jsonl", text);
    let out = crate::util::run_against(
        &dir,
        &handle.base_url(),
        TOKEN,
        &[
            "apply",
            "rows.jsonl",
            "--data-source",
            DATA_SOURCE,
            "--report",
            "r.jsonl",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let patches: Vec<_> = handle
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1, "row 2 is unchanged: {}", out.stderr);
    let sent = json!({"properties": lines[0]["properties"].clone()});
    assert_eq!(
        patches[0].body_sha256.as_deref(),
        Some(body_sha256(&sent).as_str()),
        "sent by id, as written"
    );
    let now = handle.page(&page(1)).unwrap();
    assert_eq!(now["properties"]["Status"]["status"]["name"], "Done");
    assert_eq!(now["properties"]["Estimate"]["number"], 8);
}
