//! Issue 11 and 18: `export` and its round trip. A data source with every writable type
//! (formatted rich text with a mention, a relation of 30 pages, people, external and
//! Notion-hosted files, dates with a time zone, with an offset, and a date-only range with a
//! zone) is exported as CSV and JSONL; applied unedited, neither sends a request; four cells
//! edited (one adding a link beside a hosted file) send exactly four PATCHes, each of that one
//! property, and the sandbox ends as the seed plus the edits, the hosted file still hosted.

use notion_sandbox::{self as sandbox, Seed};
use serde_json::{json, Value};

use crate::scan::{start, DATA_SOURCE, TOKEN};
use crate::util::{read_report, run_against, Dir, Run};

const ADA: &str = "9531985d-5d9d-49f8-9818-e811892f902b";
const GRACE: &str = "36f675cc-81e7-4ef5-a8e2-5d940ed90475";

fn seed() -> Seed {
    let mut seed = Seed::generate(40);
    let blockers: Vec<Value> = (10..40)
        .map(|i| json!(Seed::generated_page_id(i)))
        .collect();
    let rich = [
        (
            "Name",
            json!([
                {"type": "text", "text": {"content": "Ship "}, "annotations": {"bold": true}},
                {"type": "text", "text": {"content": "billing", "link": {"url": "https://example.com/b"}}}
            ]),
        ),
        (
            "Notes",
            json!([
                {"type": "text", "text": {"content": "ask "}},
                {"type": "mention", "mention": {"user": {"id": ADA}}},
                {"type": "text", "text": {"content": " today"}, "annotations": {"italic": true, "color": "red"}}
            ]),
        ),
        ("Tags", json!(["backend", "urgent"])),
        (
            "Due",
            json!({"start": "2026-05-01T09:00", "end": "2026-05-01T10:30", "time_zone": "Europe/Paris"}),
        ),
        ("Done", json!(true)),
        ("Estimate", json!(12.5)),
        ("Link", json!("https://example.com/spec")),
        ("Owner", json!([ADA, GRACE])),
        ("Blocked by", Value::Array(blockers)),
        ("Contact", json!("ada@example.com")),
        ("Phone", json!("+1 415 555 0100")),
        (
            "Attachments",
            json!([
                hosted("f0", "scan 1.pdf"),
                {"name": "plan.pdf", "type": "external", "external": {"url": "https://example.com/files/plan.pdf"}},
                {"name": "budget.xlsx", "type": "external", "external": {"url": "https://example.com/files/budget.xlsx"}}
            ]),
        ),
    ];
    for (name, value) in rich {
        seed.pages[0].properties.insert(name.into(), value);
    }
    seed.pages[1].properties.insert(
        "Due".into(),
        json!({"start": "2026-05-01T09:00:00.000+02:00"}),
    );
    seed.pages[2]
        .properties
        .insert("Due".into(), json!("2026-06-01"));
    // A date-only range with a time zone (issue 18, point 14: the zone was lost).
    seed.pages[4].properties.insert(
        "Due".into(),
        json!({"start": "2026-06-01", "end": "2026-06-03", "time_zone": "Europe/Paris"}),
    );
    // Files Notion hosts (a read signs their links afresh each time), alone and two together.
    seed.pages[3]
        .properties
        .insert("Attachments".into(), json!([hosted("f3", "invoice.pdf")]));
    seed.pages[5].properties.insert(
        "Attachments".into(),
        json!([hosted("f5a", "a.png"), hosted("f5b", "Q1 report.xlsx")]),
    );
    seed
}

/// A Notion-hosted file, as a request passes one back (its link without a signature).
fn hosted(id: &str, name: &str) -> Value {
    let path: String = name.replace(' ', "%20");
    json!({
        "name": name,
        "type": "file",
        "file": {"url": format!("https://prod-files-secure.s3.us-west-2.amazonaws.com/ws-1/{id}/{path}")}
    })
}

async fn bulk(dir: &Dir, handle: &sandbox::Handle, args: &[&str]) -> Run {
    run_against(dir, &handle.base_url(), TOKEN, args).await
}

fn properties(state: &Value) -> Vec<(String, Value)> {
    state["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["properties"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unedited_export_sends_nothing_and_four_edited_cells_send_four_patches() {
    let handle = start(seed(), |_| {}).await;
    let before = properties(&handle.state());
    let dir = Dir::new();
    for file in ["all.csv", "all.jsonl"] {
        let out = bulk(
            &dir,
            &handle,
            &[
                "export",
                DATA_SOURCE,
                "-o",
                file,
                "--rate",
                "100",
                "--progress",
                "log",
            ],
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stderr.contains("export: 40 pages"), "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!(
                "notion-bulk apply {file} --data-source {DATA_SOURCE}"
            )),
            "{}",
            out.stderr
        );
    }
    let csv_text = std::fs::read_to_string(dir.path("all.csv")).unwrap();
    let header = csv_text.lines().next().unwrap();
    assert!(
        header.starts_with("page_id,Name:title,Status:status"),
        "{header}"
    );
    assert!(
        !header.contains("Task ID") && !header.contains("Score") && !header.contains("Created"),
        "read-only left out: {header}"
    );
    assert!(
        csv_text.contains("2026-05-01T09:00/2026-05-01T10:30[Europe/Paris]"),
        "{csv_text}"
    );
    let jsonl = std::fs::read_to_string(dir.path("all.jsonl")).unwrap();
    assert!(
        !jsonl.contains("plain_text")
            && jsonl.contains("\"bold\":true")
            && jsonl.contains("mention"),
        "{jsonl}"
    );

    // Applied unedited: nothing sent, every row skipped / unchanged.
    for file in ["all.csv", "all.jsonl"] {
        let n = handle.requests().len();
        let report = format!("{file}.report.jsonl");
        let out = bulk(
            &dir,
            &handle,
            &[
                "apply",
                file,
                "--data-source",
                DATA_SOURCE,
                "--report",
                &report,
                "--rate",
                "100",
                "--progress",
                "none",
            ],
        )
        .await;
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
        assert!(
            handle.requests()[n..].iter().all(|r| r.method != "PATCH"),
            "{file}: {}",
            out.stderr
        );
        let lines = read_report(&dir.path(&report));
        assert_eq!(lines.len(), 40);
        for line in lines {
            assert_eq!(
                (line.outcome.as_str(), line.code.as_deref()),
                ("skipped", Some("unchanged")),
                "{file}: {line:?}"
            );
        }
    }
    assert_eq!(properties(&handle.state()), before);

    // Four cells edited: four PATCHes, each of exactly the edited property.
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let mut rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let edits = [
        (
            0,
            "Status:status",
            "Done",
            "Status",
            json!({"status": {"name": "Done"}}),
        ),
        (1, "Estimate:number", "7", "Estimate", json!({"number": 7})),
        (
            2,
            "Tags:multi_select",
            "docs",
            "Tags",
            json!({"multi_select": [{"name": "docs"}]}),
        ),
    ];
    // And a link added to a cell holding a hosted file: the hosted file stays hosted.
    let invoice = {
        let page = Seed::generated_page_id(4);
        let row = rows.iter().position(|r| r[0] == page).unwrap();
        let mut fields: Vec<String> = rows[row].iter().map(str::to_owned).collect();
        let cell = &mut fields[column("Attachments:files")];
        assert!(cell.contains("/ws-1/f3/invoice.pdf?X-Amz-"), "{cell}");
        cell.push_str(";https://example.com/files/po.pdf");
        rows[row] = csv::StringRecord::from(fields);
        page
    };
    for (page, header, cell, _, _) in &edits {
        let page = Seed::generated_page_id(page + 1);
        let row = rows.iter().position(|r| r[0] == page).unwrap();
        let mut fields: Vec<String> = rows[row].iter().map(str::to_owned).collect();
        fields[column(header)] = cell.to_string();
        rows[row] = csv::StringRecord::from(fields);
    }
    let mut writer = csv::Writer::from_path(dir.path("edited.csv")).unwrap();
    writer.write_record(&headers).unwrap();
    for r in &rows {
        writer.write_record(r).unwrap();
    }
    writer.flush().unwrap();
    let planned = bulk(
        &dir,
        &handle,
        &["plan", "edited.csv", "--data-source", DATA_SOURCE],
    )
    .await;
    let n = handle.requests().len();
    let out = bulk(
        &dir,
        &handle,
        &[
            "apply",
            "edited.csv",
            "--data-source",
            DATA_SOURCE,
            "--report",
            "edited.jsonl",
            "--rate",
            "100",
            "--progress",
            "none",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let patches: Vec<_> = handle.requests()[n..]
        .iter()
        .filter(|r| r.method == "PATCH")
        .cloned()
        .collect();
    assert_eq!(patches.len(), 4, "{}", out.stderr);
    let mut expected = before.clone();
    for (row, _, _, property, value) in &edits {
        let page = Seed::generated_page_id(row + 1);
        let body = json!({"properties": {*property: value}});
        assert!(
            patches
                .iter()
                .any(|p| p.page_id.as_deref() == Some(page.as_str())
                    && p.body_sha256.as_deref() == Some(sandbox::body_sha256(&body).as_str())),
            "a PATCH of page {page} with exactly {body}; plan: {}",
            planned.stdout
        );
        let now = handle.page(&page).unwrap();
        expected[*row].1[*property] = now["properties"][*property].clone();
    }
    let files = &handle.page(&invoice).unwrap()["properties"]["Attachments"]["files"];
    assert_eq!(
        files,
        &json!([
            {"name": "invoice.pdf", "type": "file", "file": {"url": "https://prod-files-secure.s3.us-west-2.amazonaws.com/ws-1/f3/invoice.pdf", "expiry_time": null}},
            {"name": "po.pdf", "type": "external", "external": {"url": "https://example.com/files/po.pdf"}}
        ]),
        "the hosted file is kept as Notion's, the new link added"
    );
    let i = usize::from_str_radix(&invoice.replace('-', "")[20..], 16).unwrap() - 1;
    expected[i].1["Attachments"] = handle.state()["pages"][i]["properties"]["Attachments"].clone();
    let after = properties(&handle.state());
    assert_eq!(
        after, expected,
        "the seed plus the three edits, formatting intact"
    );
    assert_eq!(after[0].1["Name"], before[0].1["Name"]);
    assert_eq!(after[0].1["Notes"], before[0].1["Notes"]);
    assert_eq!(after[1].1["Estimate"]["number"], json!(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_refuses_unknown_properties_and_filters_notion_refuses() {
    let handle = start(seed(), |_| {}).await;
    let dir = Dir::new();
    let out = bulk(
        &dir,
        &handle,
        &["export", DATA_SOURCE, "--properties", "Name,Staus"],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no property \"Staus\". Did you mean \"Status\"?"),
        "{}",
        out.stderr
    );
    let out = bulk(
        &dir,
        &handle,
        &[
            "export",
            DATA_SOURCE,
            "--where",
            r#"{"property": "Estimate", "number": {"equals": "x"}}"#,
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("Notion refused the query") && out.stderr.contains("validation_error"),
        "{}",
        out.stderr
    );
    // NAME = VALUE, typed by the schema; only the selected pages, on stdout as CSV.
    let out = bulk(
        &dir,
        &handle,
        &[
            "export",
            DATA_SOURCE,
            "--where",
            "Status = Done",
            "--properties",
            "Name,Status",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().next(),
        Some("page_id,Name:title,Status:status")
    );
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "no page is Done: {}",
        out.stdout
    );
    let out = bulk(
        &dir,
        &handle,
        &[
            "export",
            DATA_SOURCE,
            "--where",
            "Estimate = 12.5",
            "--format",
            "jsonl",
            "--properties",
            "Estimate",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(
        out.stdout.contains(&Seed::generated_page_id(1)),
        "{}",
        out.stdout
    );
}

/// Splits a command line printed by the tool into its words: plain words and `'…'` quotes
/// (with `'\''` for a quote inside), the only forms `shell_quote` writes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            ' ' if in_word => {
                words.push(std::mem::take(&mut word));
                in_word = false;
            }
            ' ' => {}
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The apply command an export printed, as the words after `notion-bulk`.
fn printed_apply(stderr: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("notion-bulk apply ")
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no apply command printed: {stderr}"));
    let mut words = vec!["apply".to_owned()];
    words.extend(shell_words(&line));
    words
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_printed_apply_command_reads_its_export_back_unchanged() {
    let handle = start(seed(), |_| {}).await;
    let dir = Dir::new();
    // Issue 18, points 3 and 14: a separator, a .tsv file and a .txt file.
    let cases: [(&str, &[&str], &str); 3] = [
        ("pipes.csv", &["--separator", "|"], "--separator '|'"),
        ("tabs.tsv", &[], "tabs.tsv --data-source"),
        ("plain.txt", &[], "--format csv"),
    ];
    for (file, extra, shows) in cases {
        let mut args = vec!["export", DATA_SOURCE, "-o", file, "--rate", "100"];
        args.extend_from_slice(extra);
        let out = bulk(&dir, &handle, &args).await;
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
        assert!(out.stderr.contains(shows), "{file}: {}", out.stderr);
        let text = std::fs::read_to_string(dir.path(file)).unwrap();
        let header = text.lines().next().unwrap();
        let comma_header = header.contains(",Name:title,") || header.contains(",Name:title");
        match file {
            "tabs.tsv" => assert!(header.starts_with("page_id\tName:title\t"), "{header}"),
            _ => assert!(comma_header, "{header}"),
        }
        let writes_before = handle
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" || r.method == "POST" && r.path == "/v1/pages")
            .count();
        let mut words = printed_apply(&out.stderr);
        let report = format!("{file}.report.jsonl");
        words.extend([
            "--report".into(),
            report.clone(),
            "--rate".into(),
            "100".into(),
        ]);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let applied = bulk(&dir, &handle, &words).await;
        assert_eq!(applied.code, 0, "{file}: {:?}\n{}", words, applied.stderr);
        let writes = handle
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" || r.method == "POST" && r.path == "/v1/pages")
            .count();
        assert_eq!(
            writes, writes_before,
            "{file}: an unedited export writes nothing"
        );
        let lines = read_report(&dir.path(&report));
        assert_eq!(lines.len(), 40, "{file}");
        assert!(
            lines.iter().all(|l| l.outcome == "skipped"),
            "{file}: {:?}",
            lines
                .iter()
                .filter(|l| l.outcome != "skipped")
                .collect::<Vec<_>>()
        );
    }
    let out = bulk(
        &dir,
        &handle,
        &["export", DATA_SOURCE, "--properties", "Name,Status,Name"],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--properties names \"Name\" twice"),
        "{}",
        out.stderr
    );
}

/// Issue 18, point 14: a file link holding the cell separator reads back as two links; the
/// export says so (and how to keep it), instead of leaving the row to fail when applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_link_holding_the_separator_is_warned_of_at_export() {
    let mut seed = Seed::generate(3);
    seed.pages[1].properties.insert(
        "Attachments".into(),
        json!([{"name": "a;b.pdf", "type": "external", "external": {"url": "https://example.com/a;b.pdf"}}]),
    );
    let handle = start(seed, |_| {}).await;
    let dir = Dir::new();
    let out = bulk(&dir, &handle, &["export", DATA_SOURCE, "-o", "x.csv"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "\"Attachments\": a file's link contains the separator ';', so its CSV cell reads back as several links"
        ),
        "{}",
        out.stderr
    );
    let out = bulk(
        &dir,
        &handle,
        &["export", DATA_SOURCE, "-o", "y.csv", "--separator", "|"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("a file's link"), "{}", out.stderr);
}
