//! `plan` end to end: every body it prints is valid against Notion's official schema, bad rows
//! are named and never stop the others, header and input problems exit 2 before any row.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::util::{repo_path, Dir};

const PAGE_A: &str = "8d116ece-1738-47d9-bd9c-172411e20b8f";
const PAGE_B: &str = "90c192cf-d3ac-44af-8f21-ddb66cad4a26";
const USER: &str = "9531985d-5d9d-49f8-9818-e811892f902b";

/// The plan's stdout lines as (row, page_id, body).
fn planned(stdout: &str) -> Vec<(u64, String, Value)> {
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("plan prints JSON lines");
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["row", "page_id", "body"], "{l}");
            (
                v["row"].as_u64().unwrap(),
                v["page_id"].as_str().unwrap().to_owned(),
                v["body"].clone(),
            )
        })
        .collect()
}

/// The `patch-page` request schema, taken from Notion's OpenAPI description in ../shared when
/// it is there (as in CI), else the copy bundled in the crate.
fn patch_page_validator() -> jsonschema::Validator {
    let official = repo_path("../shared/reference/notion-openapi.json");
    let schema = match std::fs::read_to_string(&official) {
        Ok(text) => {
            let doc: Value = serde_json::from_str(&text).unwrap();
            let mut body = doc["paths"]["/v1/pages/{page_id}"]["patch"]["requestBody"]["content"]
                ["application/json"]["schema"]
                .clone();
            body["components"] = doc["components"].clone();
            body
        }
        Err(_) => serde_json::from_str(notion_bulk::notion::PATCH_PAGE_SCHEMA).unwrap(),
    };
    jsonschema::options()
        .should_validate_formats(false)
        .build(&schema)
        .expect("the schema compiles")
}

fn assert_valid(validator: &jsonschema::Validator, body: &Value, context: &str) {
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{context}: {body}\n{errors:#?}");
}

/// A CSV that uses every writable type, every page-level column, page references in every
/// form, and text around the 2000-unit boundary with emoji.
fn all_types_csv(with_lock: bool) -> String {
    let long = format!("{}😀{}", "a".repeat(1999), "b".repeat(2500));
    let lock = if with_lock { ",@is_locked" } else { "" };
    let mut csv = format!(
        "page_id,Name:title,Notes:text,Estimate:number,Priority:select,Status:status,Tags:multi_select,\
         Due:date,Done:checkbox,Link:url,Contact:email,Phone:phone_number,Owner:people,Blocked by:relation,\
         Attachments:files,@icon,@cover,@in_trash{lock}\n"
    );
    let lock_cell = |v: &str| {
        if with_lock {
            format!(",{v}")
        } else {
            String::new()
        }
    };
    csv += &format!(
        "{PAGE_A},Ship it,\"{long}\",-12.5e2,High,Done,a;b;c,2026-05-01/2026-05-03,yes,https://x.y/z,a@b.co,+1 555 0100,\
         {USER},https://www.notion.so/acme/T-{}?pvs=4,https://cdn.x.y/r%20one.pdf;https://cdn.x.y/,🚀,https://x.y/c.jpg,false{}\n",
        PAGE_B.replace('-', ""),
        lock_cell("true")
    );
    csv += &format!(
        "{},,,,,,,2026-05-01T09:00:00+02:00,0,,,,,,,https://x.y/i.png,,no{}\n",
        PAGE_B.to_uppercase(),
        lock_cell("")
    );
    // An all-empty row: skipped, or every property cleared with --empty clear.
    csv += &format!(
        "https://acme.notion.site/{}{}\n",
        PAGE_A.replace('-', ""),
        ",".repeat(17 + usize::from(with_lock))
    );
    csv
}

fn all_types_flat_jsonl() -> String {
    [
        json!({"page_id": PAGE_A, "Name:title": "Hello", "Notes:rich_text": "😀".repeat(1500), "Estimate:number": 3,
               "Priority:select": "Low", "Status:status": "In progress", "Tags:multi_select": ["x", "y"],
               "Due:date": "2026-01-01", "Done:checkbox": true, "Link:url": "https://a.b", "Contact:email": "x@y.z",
               "Phone:phone_number": "12", "Owner:people": [USER], "Blocked by:relation": [PAGE_B],
               "Attachments:files": ["https://a.b/f.txt"], "@icon": "✅", "@archived": true}),
        json!({"page_id": PAGE_B, "Name:title": null, "Notes:rich_text": null, "Estimate:number": null, "Priority:select": null,
               "Status:status": null, "Tags:multi_select": null, "Due:date": null, "Done:checkbox": null, "Link:url": null,
               "Contact:email": null, "Phone:phone_number": null, "Owner:people": null, "Blocked by:relation": null,
               "Attachments:files": null, "@icon": null, "@cover": null}),
    ]
    .iter()
    .map(|v| v.to_string() + "\n")
    .collect()
}

fn all_types_native_jsonl(modern: bool) -> String {
    let mut lines = vec![
        json!({"page_id": PAGE_A, "properties": {
            "Name": {"title": [{"text": {"content": "Hi", "link": {"url": "https://a.b"}}, "annotations": {"bold": true, "color": "red"}}]},
            "Notes": {"type": "rich_text", "rich_text": [{"type": "equation", "equation": {"expression": "e=mc^2"}}]},
            "Estimate": {"number": 1.5}, "Priority": {"select": {"name": "High", "color": "red"}},
            "Status": {"status": {"name": "Done"}}, "Tags": {"multi_select": [{"name": "a"}]},
            "Due": {"date": {"start": "2026-01-01T10:00:00", "time_zone": "Europe/Paris"}}, "Done": {"checkbox": false},
            "Link": {"url": null}, "Contact": {"email": "a@b.c"}, "Phone": {"phone_number": null},
            "Owner": {"people": [{"object": "user", "id": USER}]}, "Blocked by": {"relation": [{"id": PAGE_B}]},
            "Attachments": {"files": [{"name": "f", "external": {"url": "https://a.b/f"}}]}},
            "icon": {"type": "external", "external": {"url": "https://a.b/i.png"}}, "cover": null, "archived": false}),
        json!({"page_id": PAGE_B, "in_trash": true}),
    ];
    if modern {
        lines.push(json!({"page_id": PAGE_B, "is_locked": true, "erase_content": true}));
        lines.push(
            json!({"page_id": PAGE_A, "template": {"type": "default", "timezone": "Europe/Paris"}}),
        );
    }
    lines.iter().map(|v| v.to_string() + "\n").collect()
}

#[test]
fn every_body_from_every_type_form_and_version_satisfies_the_official_schema() {
    let validator = patch_page_validator();
    // The check can fail: a body Notion would refuse is refused here too.
    for bad in [
        json!({"properties": {"S": {"select": {"name": ""}}}}),
        json!({"properties": {"N": {"number": "1"}}}),
        json!({"colour": "red"}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
    let dir = Dir::new();
    let mut checked = 0;
    for version in ["2022-06-28", "2025-09-03", "2026-03-11"] {
        let modern = version != "2022-06-28";
        dir.write("all.csv", all_types_csv(modern));
        dir.write("flat.jsonl", all_types_flat_jsonl());
        dir.write("native.jsonl", all_types_native_jsonl(modern));
        for file in ["all.csv", "flat.jsonl", "native.jsonl"] {
            for empty in ["skip", "clear"] {
                let run = dir.run(&["plan", file, "--notion-version", version, "--empty", empty]);
                assert_eq!(run.code, 0, "{file} {version} {empty}: {}", run.stderr);
                let bodies = planned(&run.stdout);
                assert!(!bodies.is_empty());
                for (row, _, body) in &bodies {
                    assert_valid(
                        &validator,
                        body,
                        &format!("{file} {version} --empty {empty} row {row}"),
                    );
                    // Trashing is always sent as in_trash, whatever the version.
                    assert!(body.get("archived").is_none());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 40, "only {checked} bodies checked");
}

#[test]
fn all_types_map_to_the_expected_bodies() {
    let dir = Dir::new();
    dir.write("all.csv", all_types_csv(true));
    let run = dir.run(&["plan", "all.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = planned(&run.stdout);
    assert_eq!(rows.len(), 2, "the all-empty row is skipped");
    let (row, page, body) = &rows[0];
    assert_eq!((*row, page.as_str()), (1, PAGE_A));
    let notes = body["properties"]["Notes"]["rich_text"].as_array().unwrap();
    assert_eq!(
        notes.len(),
        3,
        "4500 units with an emoji straddling unit 2000 make three pieces"
    );
    assert_eq!(notes[0]["text"]["content"].as_str().unwrap().len(), 1999);
    assert!(notes[1]["text"]["content"]
        .as_str()
        .unwrap()
        .starts_with('😀'));
    assert_eq!(body["properties"]["Estimate"], json!({"number": -1250.0}));
    assert_eq!(
        body["properties"]["Blocked by"],
        json!({"relation": [{"id": PAGE_B}]})
    );
    assert_eq!(
        body["properties"]["Attachments"]["files"],
        json!([
            {"name": "r one.pdf", "type": "external", "external": {"url": "https://cdn.x.y/r%20one.pdf"}},
            {"name": "cdn.x.y", "type": "external", "external": {"url": "https://cdn.x.y/"}}
        ])
    );
    assert_eq!(body["is_locked"], json!(true));
    assert_eq!(body["in_trash"], json!(false));
    let (_, page_b, body_b) = &rows[1];
    assert_eq!(page_b, PAGE_B, "upper-case ids are normalised");
    let props: Vec<&String> = body_b["properties"].as_object().unwrap().keys().collect();
    assert_eq!(
        props,
        ["Due", "Done"],
        "empty cells leave properties unchanged"
    );

    let run = dir.run(&["plan", "all.csv", "--empty", "clear"]);
    let rows = planned(&run.stdout);
    assert_eq!(rows.len(), 3);
    let cleared = &rows[2].2;
    assert_eq!(cleared["properties"]["Name"], json!({"title": []}));
    assert_eq!(cleared["properties"]["Status"], json!({"status": null}));
    assert_eq!(cleared["properties"]["Done"], json!({"checkbox": false}));
    assert_eq!(cleared["icon"], Value::Null);
    assert!(
        cleared.get("in_trash").is_none(),
        "an empty @in_trash never restores a page"
    );
}

/// Each bad cell is a row-level `invalid` naming row, column and reason; the other rows go on.
/// (A line of the wrong width is an input error: `input_formats::issue18_…`.)
#[test]
fn bad_cells_are_invalid_rows_that_never_stop_the_others() {
    let dir = Dir::new();
    let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    let mut csv = b"page_id,Estimate:number,Due:date,Done:checkbox,Priority:select,Tags:multi_select,Score:formula,Name:title\n".to_vec();
    let rows: Vec<(String, &str, &str)> = vec![
        (format!("{PAGE_A},1,,,,,,ok"), "", ""),
        (
            format!("{PAGE_A},twelve,,,,,,"),
            "Estimate:number",
            "is not a number",
        ),
        (
            format!("{PAGE_A},,2026-02-30,,,,,"),
            "Due:date",
            "is not a valid date",
        ),
        (
            format!("{PAGE_A},,,maybe,,,,"),
            "Done:checkbox",
            "not a checkbox value",
        ),
        (
            format!("{PAGE_A},,,,\"High,Low\",,,"),
            "Priority:select",
            "contains a comma",
        ),
        (
            format!("{PAGE_A},,,,,{},,", many.join(";")),
            "Tags:multi_select",
            "101 values",
        ),
        (
            "not-a-page,,,,,,,x".to_owned(),
            "page_id",
            "is not a Notion page id",
        ),
        (format!("{PAGE_A},,,,,,42,"), "Score:formula", "read-only"),
        (format!("{PAGE_B},2,,,,,,fine"), "", ""),
    ];
    for (line, _, _) in &rows {
        csv.extend_from_slice(line.as_bytes());
        csv.push(b'\n');
    }
    // Invalid UTF-8 in a cell.
    csv.extend_from_slice(format!("{PAGE_A},,,,,,,bad ").as_bytes());
    csv.extend_from_slice(b"\xff byte\n");
    dir.write("bad.csv", &csv);

    let run = dir.run(&["plan", "bad.csv", "--report", "report.csv"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let sent: Vec<u64> = planned(&run.stdout).iter().map(|r| r.0).collect();
    assert_eq!(sent, [1, 9], "the valid rows go on");
    let report = dir.report("report.csv");
    assert_eq!(report.len(), 8);
    for (i, (_, column, reason)) in rows.iter().enumerate() {
        let row = i as u64 + 1;
        if reason.is_empty() {
            assert!(report.iter().all(|l| l.row != row));
            continue;
        }
        let line = report
            .iter()
            .find(|l| l.row == row)
            .unwrap_or_else(|| panic!("row {row} in the report"));
        assert_eq!(line.outcome, "invalid");
        let message = line.message.as_deref().unwrap();
        assert!(message.contains(reason), "row {row}: {message}");
        if !column.is_empty() {
            assert!(
                message.contains(&format!("column \"{column}\"")),
                "row {row}: {message}"
            );
        }
        let stderr_line = run
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("invalid: row {row} ")))
            .unwrap_or_else(|| panic!("row {row} on stderr: {}", run.stderr));
        assert!(stderr_line.contains(reason), "{stderr_line}");
    }
    let utf8 = report.iter().find(|l| l.row == 10).unwrap();
    assert!(
        utf8.message
            .as_deref()
            .unwrap()
            .contains("column \"Name:title\": the cell is not valid UTF-8"),
        "{utf8:?}"
    );
    assert!(run.stderr.contains("8 invalid"), "{}", run.stderr);
}

#[test]
fn bad_jsonl_lines_are_invalid_rows() {
    let dir = Dir::new();
    let mut text = String::new();
    text += &json!({"page_id": PAGE_A, "properties": {"Done": {"checkbox": true}}}).to_string();
    text += "\n{not json\n";
    text += &json!({"page_id": PAGE_A, "properties": {}, "colour": "red"}).to_string();
    text += "\n[1, 2]\n";
    text += &json!({"page_id": PAGE_A, "Status": "Done"}).to_string();
    text += "\n";
    text += &json!({"page_id": PAGE_A, "Score:formula": 3}).to_string();
    text += "\n";
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"{\"page_id\": \"\xff\"}\n");
    bytes.extend_from_slice(
        json!({"page_id": PAGE_B, "Done:checkbox": "yes"})
            .to_string()
            .as_bytes(),
    );
    dir.write("rows.jsonl", &bytes);
    let run = dir.run(&["plan", "rows.jsonl", "--report", "r.jsonl"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        planned(&run.stdout).iter().map(|r| r.0).collect::<Vec<_>>(),
        [1, 8]
    );
    let report = dir.report("r.jsonl");
    let message = |row: u64| {
        report
            .iter()
            .find(|l| l.row == row)
            .unwrap()
            .message
            .clone()
            .unwrap()
    };
    assert!(message(2).contains("not valid JSON"), "{}", message(2));
    assert!(
        message(3).contains("column \"colour\": unknown key"),
        "{}",
        message(3)
    );
    assert!(
        message(4).contains("expected a JSON object"),
        "{}",
        message(4)
    );
    assert!(
        message(5).contains("no type for key \"Status\""),
        "{}",
        message(5)
    );
    assert!(message(6).contains("read-only"), "{}", message(6));
    assert!(message(7).contains("not valid UTF-8"), "{}", message(7));
}

#[test]
fn header_and_input_problems_exit_2_before_any_row() {
    let dir = Dir::new();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown-type.csv",
            format!("page_id,Status:stauts\n{PAGE_A},Done\n"),
            "did you mean \"status\"",
        ),
        (
            "duplicate.csv",
            format!("page_id,A:select,A:select\n{PAGE_A},x,y\n"),
            "appears twice",
        ),
        (
            "no-id.csv",
            format!("Page ID,A:select\n{PAGE_A},x\n"),
            "no id column \"page_id\"",
        ),
        (
            "untyped.csv",
            format!("page_id,Status\n{PAGE_A},Done\n"),
            "has no type",
        ),
        (
            "bad-job.toml",
            "input = \"x.csv\"\nconcurency = 3\n".into(),
            "concurency",
        ),
        (
            "bad-mapping.toml",
            "input = \"ok.csv\"\n[columns]\nA = \"selekt\"\n".into(),
            "did you mean \"select\"",
        ),
    ];
    dir.write("ok.csv", format!("page_id,A\n{PAGE_A},x\n"));
    for (name, contents, expected) in &cases {
        dir.write(name, contents);
        let run = dir.run(&["plan", name]);
        assert_eq!(run.code, 2, "{name}: {}", run.stderr);
        assert!(
            run.stdout.is_empty(),
            "{name}: no body before the header is fixed"
        );
        assert!(run.stderr.contains(expected), "{name}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
    }
    let run = dir.run(&["plan", "missing.csv"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot open missing.csv"),
        "{}",
        run.stderr
    );
    let run = dir.run(&["plan", "ok.csv", "--empty", "nothing"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown --empty"), "{}", run.stderr);
}

#[test]
fn standard_input_with_format() {
    let dir = Dir::new();
    let run = dir.run_with_stdin(
        &["plan", "-", "--format", "csv"],
        format!("page_id,Done:checkbox\n{PAGE_A},x\n").as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        planned(&run.stdout)[0].2,
        json!({"properties": {"Done": {"checkbox": true}}})
    );
    let run = dir.run_with_stdin(&["plan", "-"], b"");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--format"), "{}", run.stderr);
}

#[test]
fn a_template_row_must_be_the_last_of_its_page() {
    let dir = Dir::new();
    let lines = [
        json!({"page_id": PAGE_A, "template": {"type": "default"}}),
        json!({"page_id": PAGE_B, "template": {"type": "default"}}),
        json!({"page_id": PAGE_A, "in_trash": false}),
    ];
    dir.write(
        "t.jsonl",
        lines
            .iter()
            .map(|l| l.to_string() + "\n")
            .collect::<String>(),
    );
    let run = dir.run(&["plan", "t.jsonl", "--report", "r.jsonl"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // Row 1 is invalid (row 3 changes its page later); row 2's template goes out last.
    assert_eq!(
        planned(&run.stdout).iter().map(|r| r.0).collect::<Vec<_>>(),
        [3, 2]
    );
    let report = dir.report("r.jsonl");
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].row, 1);
    assert!(report[0]
        .message
        .as_deref()
        .unwrap()
        .contains("must be the last row of its page"));
}

#[test]
fn the_demo_job_plans_cleanly() {
    let dir = Dir::new();
    let job = repo_path("jobs/demo.toml");
    let report = dir.path("demo-report.jsonl");
    let run = dir.run(&[
        "plan",
        job.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = planned(&run.stdout);
    assert_eq!(rows.len(), 12);
    let mut by_property: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, body) in &rows {
        for key in body["properties"].as_object().unwrap().keys() {
            *by_property.entry(key.clone()).or_default() += 1;
        }
    }
    // The job file's mapping renamed "Estimate (h)" and typed "Priority".
    assert_eq!(by_property["Estimate"], 12);
    assert_eq!(by_property["Priority"], 12);
    assert!(!by_property.contains_key("Estimate (h)"));
    assert!(
        run.stderr.contains("12 to send, 0 invalid"),
        "{}",
        run.stderr
    );
}

#[test]
fn issue18_a_plan_report_on_a_full_device_names_the_file() {
    // /dev/full: every write fails with ENOSPC, as on a full disk. plan writes nothing to
    // Notion, so exit 2, and the message names the report and the system's error.
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!("page_id,Estimate:number\n{PAGE_A},abc\n{PAGE_B},2\n"),
    );
    std::os::unix::fs::symlink("/dev/full", dir.path("r.jsonl")).unwrap();
    let out = dir.run(&["plan", "rows.csv", "--report", "r.jsonl"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot write the report r.jsonl: No space left on device (os error 28)"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

/// The report's message for each row, by row.
fn messages(dir: &Dir, report: &str) -> BTreeMap<u64, String> {
    dir.report(report)
        .into_iter()
        .map(|l| (l.row, l.message.unwrap_or_default()))
        .collect()
}

/// Issue 18, point 14: time zones and numbers are checked offline, each refusal saying what is
/// wrong. A zone the tz database lacks (`[Mars/Phobos]`) is refused naming it and the cell; a
/// real one goes through. An offset and a zone together are refused as that (not as a job
/// setting). -0, and a number that underflows to it, is sent as 0; one past the largest
/// number is refused.
#[test]
fn issue18_zones_and_numbers_are_checked_offline_with_the_right_message() {
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!(
            "page_id,Due:date,Estimate:number\n\
             {PAGE_A},2026-05-01T09:00[Mars/Phobos],\n\
             {PAGE_A},2026-05-01T09:00[Europe/Paris],\n\
             {PAGE_A},2026-05-01T09:00+02:00[Europe/Paris],\n\
             {PAGE_A},2026-05-01T09:00/2026-05-01T10:00[America/Argentina/Buenos_Aires],\n\
             {PAGE_A},,-1e-400\n\
             {PAGE_A},,-0.0\n\
             {PAGE_A},,1e400\n\
             {PAGE_A},2026-05-01T09:00[europe/paris],\n"
        ),
    );
    let run = dir.run(&["plan", "rows.csv", "--report", "r.jsonl"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let sent = planned(&run.stdout);
    assert_eq!(
        sent.iter().map(|r| r.0).collect::<Vec<_>>(),
        [2, 4, 5, 6],
        "{}",
        run.stderr
    );
    assert_eq!(
        sent[0].2["properties"]["Due"]["date"]["time_zone"],
        "Europe/Paris"
    );
    assert_eq!(
        sent[1].2["properties"]["Due"]["date"]["time_zone"],
        "America/Argentina/Buenos_Aires"
    );
    for line in run.stdout.lines().filter(|l| l.contains("Estimate")) {
        assert!(line.contains(r#""number":0"#), "{line}");
        assert!(!line.contains("-0"), "never -0: {line}");
    }
    let said = messages(&dir, "r.jsonl");
    let expect: [(u64, &[&str]); 4] = [
        (
            1,
            &[
                "column \"Due:date\"",
                "\"2026-05-01T09:00[Mars/Phobos]\"",
                "\"Mars/Phobos\" is not a time zone",
                "Europe/Paris",
            ],
        ),
        (
            3,
            &[
                "both a UTC offset (+02:00) and a time zone ([Europe/Paris])",
                "2026-05-01T09:00+02:00 or 2026-05-01T09:00[Europe/Paris]",
            ],
        ),
        (7, &["\"1e400\" is too large", "1.8e308"]),
        (8, &["did you mean \"Europe/Paris\""]),
    ];
    for (row, parts) in expect {
        for part in parts {
            assert!(
                said[&row].contains(part),
                "row {row}: {part:?} in {}",
                said[&row]
            );
        }
    }
    assert!(
        !said[&3].contains("job"),
        "the zone is the cell's: {}",
        said[&3]
    );

    // The same checks of a zone the run sets for every date, before any row.
    let run = dir.run(&["plan", "rows.csv", "--time-zone", "Mars/Phobos"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--time-zone \"Mars/Phobos\"")
            && run.stderr.contains("not a time zone"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    dir.write(
        "zoned.csv",
        format!("page_id,Due:date\n{PAGE_A},2026-05-01T09:00+02:00\n"),
    );
    let run = dir.run(&[
        "plan",
        "zoned.csv",
        "--time-zone",
        "Europe/Paris",
        "--report",
        "z.jsonl",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let said = messages(&dir, "z.jsonl");
    assert!(
        said[&1].contains("carries a UTC offset") && said[&1].contains("--time-zone"),
        "{}",
        said[&1]
    );
    dir.write(
        "job.toml",
        "input = \"zoned.csv\"\n[columns]\nDue = { type = \"date\", time_zone = \"Europe/Pariss\" }\n",
    );
    let run = dir.run(&["plan", "job.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("\"Europe/Pariss\" is not a time zone")
            && run.stderr.contains("did you mean \"Europe/Paris\""),
        "{}",
        run.stderr
    );
}

/// Issue 18, point 14: a flat JSONL value of a kind the key does not take is refused saying
/// what it takes, never "expected … or null, found null"; a JSON -0.0 is sent as 0.
#[test]
fn issue18_flat_jsonl_values_of_the_wrong_kind_say_what_the_key_takes() {
    let dir = Dir::new();
    let lines = [
        json!({"page_id": null, "Estimate:number": 1}),
        json!({"page_id": PAGE_A, "Priority:select": ["High", "Low"]}),
        json!({"page_id": PAGE_A, "@icon": ["🚀"]}),
        json!({"page_id": PAGE_A, "Estimate:number": -0.0}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    dir.write("rows.jsonl", &text);
    let run = dir.run(&["plan", "rows.jsonl", "--report", "r.jsonl"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let said = messages(&dir, "r.jsonl");
    assert!(
        said[&1].contains("the page id cannot be null"),
        "{}",
        said[&1]
    );
    assert!(!said[&1].contains("or null"), "{}", said[&1]);
    assert!(said[&2].contains("takes one value"), "{}", said[&2]);
    assert!(!said[&2].contains("list or null"), "{}", said[&2]);
    assert!(said[&3].contains("found a list"), "{}", said[&3]);
    assert!(!said[&3].contains("list or"), "{}", said[&3]);
    let sent = planned(&run.stdout);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 4);
    let line = run.stdout.lines().next().unwrap();
    assert!(
        line.contains(r#""number":0"#) && !line.contains("-0"),
        "{line}"
    );
}

/// Issue 18, point 14: a name that looks like one the schema has but is written with other
/// code points (an accent typed as a separate mark, NFD, against the schema's precomposed
/// one, NFC) is refused showing both code point by code point, and suggested; a select
/// option written so is warned of as a new option that looks like the existing one.
#[test]
fn issue18_a_look_alike_name_is_shown_code_point_by_code_point() {
    let dir = Dir::new();
    dir.write(
        "schema.json",
        json!({
            "format": 1, "data_source_id": "ds", "title": "Tâches",
            "properties": [
                {"id": "title", "name": "Name", "type": "title"},
                {"id": "s", "name": "Status", "type": "status",
                 "options": ["Terminé", "En cours"]},
                {"id": "p", "name": "Priorité", "type": "select", "options": ["Haute", "Élevée"]},
            ]
        })
        .to_string(),
    );
    // "Terminé" and "Priorité" with a combining acute accent (U+0301).
    dir.write(
        "rows.csv",
        format!("page_id,Status\n{PAGE_A},Termine\u{301}\n"),
    );
    let run = dir.run(&[
        "plan",
        "rows.csv",
        "--schema-file",
        "schema.json",
        "--report",
        "r.jsonl",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let said = messages(&dir, "r.jsonl");
    assert!(
        said[&1].contains(r#""Termine\u{301}""#) && said[&1].contains(r#""Termin\u{e9}""#),
        "{}",
        said[&1]
    );
    assert!(said[&1].contains("code points"), "{}", said[&1]);

    dir.write(
        "header.csv",
        format!("page_id,Priorite\u{301}\n{PAGE_A},Haute\n"),
    );
    let run = dir.run(&["plan", "header.csv", "--schema-file", "schema.json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(r#""Priorit\u{e9}""#) && run.stderr.contains("code points"),
        "{}",
        run.stderr
    );

    dir.write(
        "select.csv",
        format!("page_id,Priorité\n{PAGE_A},E\u{301}leve\u{301}e\n"),
    );
    let run = dir.run(&["plan", "select.csv", "--schema-file", "schema.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warning = run
        .stderr
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_else(|| panic!("a new option is warned of: {}", run.stderr));
    assert!(
        warning.contains(r#"did you mean "\u{c9}lev\u{e9}e" (you wrote "E\u{301}leve\u{301}e""#),
        "{warning}"
    );
}
