//! Issue 6, schema-aware mapping: `schema`, `--schema-from` and `--schema-file` against the
//! sandbox under 2022-06-28 and 2025-09-03. Plain headers take the schema's types (and give
//! the same bodies as typed headers), names, types and options are checked before anything is
//! sent, people cells take emails, job files carry constants, and the example jobs run.

use notion_bulk::notion::Schema;
use notion_sandbox::{self as sandbox, Handle, Options, Seed, SeedUser};

use crate::util::{plan_bodies, read_report, repo_path, run_against, Dir, Run};

const TOKEN: &str = "secret_schema_test_51c2";
const DATABASE: &str = "6513270e-269e-4d37-b2a7-4de452e6b438";
const DATA_SOURCE: &str = "d23f0824-128b-4f33-8c5c-7fd0a6a3a450";
const PAGE_A: &str = "8d116ece-1738-47d9-bd9c-172411e20b8f";
const PAGE_B: &str = "90c192cf-d3ac-44af-8f21-ddb66cad4a26";
const ADA: &str = "9531985d-5d9d-49f8-9818-e811892f902b";
const GRACE: &str = "36f675cc-81e7-4ef5-a8e2-5d940ed90475";
const V2022: &str = "2022-06-28";
const V2025: &str = "2025-09-03";

/// The id `--schema-from` takes for the demo's schema in each version: the database in both
/// (2025-09-03 follows its one data source), and the data source itself from 2025-09-03.
fn schema_ids(version: &str) -> Vec<&'static str> {
    match version {
        V2022 => vec![DATABASE],
        _ => vec![DATABASE, DATA_SOURCE],
    }
}

async fn start(seed: Seed) -> Handle {
    let mut options = Options::new(seed);
    options.token = Some(TOKEN.into());
    sandbox::start(options).await.expect("the sandbox starts")
}

/// Runs the binary with the token in NOTION_TOKEN and `--api-base` pointing at the sandbox.
async fn run(dir: &Dir, handle: &Handle, args: &[&str]) -> Run {
    run_against(dir, &handle.base_url(), TOKEN, args).await
}

/// `plan INPUT --notion-version V --schema-from <the demo database>` against the sandbox.
async fn plan_with_schema(dir: &Dir, handle: &Handle, input: &str, version: &str) -> Run {
    run(
        dir,
        handle,
        &[
            "plan",
            input,
            "--notion-version",
            version,
            "--schema-from",
            DATABASE,
        ],
    )
    .await
}

fn patches(handle: &Handle) -> usize {
    handle
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count()
}

/// The demo CSV with its header replaced.
fn demo_csv_with_header(header: &str) -> String {
    let demo = std::fs::read_to_string(repo_path("jobs/demo.csv")).unwrap();
    let (_, rows) = demo.split_once('\n').unwrap();
    format!("{header}\n{rows}")
}

const PLAIN: &str =
    "page_id,Name,Status,Priority,Tags,Due,Done,Estimate,Link,Owner,Blocked by,Notes,@icon";
const TYPED: &str = "page_id,Name:title,Status:status,Priority:select,Tags:multi_select,Due:date,\
                     Done:checkbox,Estimate:number,Link:url,Owner:people,Blocked by:relation,Notes:text,@icon";

#[tokio::test]
async fn the_schema_command_reads_data_sources_and_databases_in_each_version() {
    let handle = start(Seed::demo()).await;
    let dir = Dir::new();
    for version in [V2022, V2025] {
        for id in schema_ids(version) {
            let out = run(&dir, &handle, &["schema", id, "--notion-version", version]).await;
            assert_eq!(out.code, 0, "{version} {id}: {}", out.stderr);
            let schema: Schema = serde_json::from_str(&out.stdout).expect("the documented shape");
            let expected_source = if version == V2022 {
                DATABASE
            } else {
                DATA_SOURCE
            };
            assert_eq!(schema.data_source_id, expected_source, "{version} {id}");
            assert_eq!(schema.title, "Tasks");
            assert_eq!(schema.properties.len(), 17);
            let status = schema.property("Status").unwrap();
            assert_eq!(status.ty.as_str(), "status");
            assert_eq!(status.options, ["Not started", "In progress", "Done"]);
            assert_eq!(schema.property("Score").unwrap().ty.as_str(), "formula");
            assert_eq!(schema.title_property().unwrap().name, "Name");
            let emails: Vec<_> = schema
                .users
                .as_ref()
                .expect("users are saved for emails")
                .iter()
                .filter_map(|u| u.email.clone())
                .collect();
            assert_eq!(
                emails,
                ["ada@example.com", "grace@example.com", "linus@example.com"]
            );
        }
    }
    // A URL is as good as an id.
    let url = format!(
        "https://www.notion.so/acme/Tasks-{}?v=1",
        DATABASE.replace('-', "")
    );
    let out = run(&dir, &handle, &["schema", &url]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Under 2022-06-28 a data source id is not a database: exit 2, naming the endpoint.
    let out = run(
        &dir,
        &handle,
        &["schema", DATA_SOURCE, "--notion-version", V2022],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("GET /v1/databases/{DATA_SOURCE}"))
            && out.stderr.contains("404 object_not_found")
            && out.stderr.contains("2022-06-28"),
        "{}",
        out.stderr
    );
    // An id that is neither: both endpoints and what Notion said.
    let unknown = "0000000000004000800000000000ffff";
    let out = run(&dir, &handle, &["schema", unknown]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("neither a data source")
            && out.stderr.contains("GET /v1/data_sources/")
            && out.stderr.contains("GET /v1/databases/"),
        "{}",
        out.stderr
    );
    assert_eq!(patches(&handle), 0);
}

#[tokio::test]
async fn a_database_with_several_data_sources_is_an_error_that_lists_them() {
    let mut seed = Seed::demo();
    let mut archive = seed.data_sources[0].clone();
    archive.id = "4f1d2c3b-5a69-4788-9aab-bccddeeff001".into();
    archive.title = "Archive".into();
    seed.data_sources.push(archive);
    seed.databases[0]
        .data_sources
        .push("4f1d2c3b-5a69-4788-9aab-bccddeeff001".into());
    let handle = start(seed).await;
    let dir = Dir::new();
    let out = run(&dir, &handle, &["schema", DATABASE]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("has 2 data sources")
            && out.stderr.contains(&format!("\"Tasks\" ({DATA_SOURCE})"))
            && out
                .stderr
                .contains("\"Archive\" (4f1d2c3b-5a69-4788-9aab-bccddeeff001)"),
        "{}",
        out.stderr
    );
    // Each data source can still be named directly.
    let out = run(
        &dir,
        &handle,
        &["schema", "4f1d2c3b-5a69-4788-9aab-bccddeeff001"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Under 2022-06-28 Notion refuses the database itself; its words reach the user.
    let out = run(
        &dir,
        &handle,
        &["schema", DATABASE, "--notion-version", V2022],
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("validation_error") && out.stderr.contains("data sources"),
        "{}",
        out.stderr
    );
}

/// Must show 2: plain headers with a schema give byte for byte the bodies of typed headers,
/// with --schema-from (each id form) and with the --schema-file that `schema` printed.
#[tokio::test]
async fn plain_headers_with_a_schema_plan_the_same_bytes_as_typed_headers() {
    let handle = start(Seed::demo()).await;
    let dir = Dir::new();
    dir.write("plain.csv", demo_csv_with_header(PLAIN));
    dir.write("typed.csv", demo_csv_with_header(TYPED));
    for version in [V2022, V2025] {
        let typed = dir.run(&["plan", "typed.csv", "--notion-version", version]);
        assert_eq!(typed.code, 0, "{}", typed.stderr);
        assert_eq!(typed.stdout.lines().count(), 12);
        for id in schema_ids(version) {
            let plain = run(
                &dir,
                &handle,
                &[
                    "plan",
                    "plain.csv",
                    "--notion-version",
                    version,
                    "--schema-from",
                    id,
                ],
            )
            .await;
            assert_eq!(plain.code, 0, "{version} {id}: {}", plain.stderr);
            assert_eq!(plain.stdout, typed.stdout, "{version} {id}");
        }
        // Without a schema the plain header is refused: the schema is what types it.
        let untyped = dir.run(&["plan", "plain.csv", "--notion-version", version]);
        assert_eq!(untyped.code, 2);
        assert!(untyped.stderr.contains("has no type"), "{}", untyped.stderr);
        // Saved once, read back offline (no --api-base, no token).
        let schema = run(
            &dir,
            &handle,
            &[
                "schema",
                schema_ids(version)[0],
                "--notion-version",
                version,
            ],
        )
        .await;
        dir.write("tasks-schema.json", &schema.stdout);
        let offline = dir.run(&[
            "plan",
            "plain.csv",
            "--notion-version",
            version,
            "--schema-file",
            "tasks-schema.json",
        ]);
        assert_eq!(offline.code, 0, "{}", offline.stderr);
        assert_eq!(offline.stdout, typed.stdout, "{version} --schema-file");
    }
    assert_eq!(patches(&handle), 0, "plan never writes");
}

/// Must show 3: a misspelt header names the closest property and nothing is sent, from plan
/// and from apply alike.
#[tokio::test]
async fn a_misspelt_header_is_refused_with_a_suggestion_before_anything_is_sent() {
    let handle = start(Seed::demo()).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!("page_id,Name,Staus,Tags\n{PAGE_A},Ship it,Done,backend\n"),
    );
    for version in [V2022, V2025] {
        for command in ["plan", "apply"] {
            let out = run(
                &dir,
                &handle,
                &[
                    command,
                    "rows.csv",
                    "--notion-version",
                    version,
                    "--schema-from",
                    DATABASE,
                    "--report",
                    "r.jsonl",
                    "--progress",
                    "none",
                ][..if command == "plan" { 6 } else { 10 }],
            )
            .await;
            assert_eq!(out.code, 2, "{command} {version}: {}", out.stderr);
            assert!(
                out.stderr.contains("no property \"Staus\"")
                    && out.stderr.contains("Did you mean \"Status\"?"),
                "{}",
                out.stderr
            );
            assert!(out.stdout.is_empty());
        }
    }
    assert_eq!(patches(&handle), 0, "nothing was sent");
}

#[tokio::test]
async fn types_against_the_schema_and_read_only_columns_exit_2_naming_the_type() {
    let handle = start(Seed::demo()).await;
    let dir = Dir::new();
    for version in [V2022, V2025] {
        for (header, cell, expected) in [
            (
                "Priority:status",
                "High",
                "\"Priority\" is a select property in the schema",
            ),
            ("Score", "1", "\"Score\", a formula property: read-only"),
            ("Task ID", "7", "a unique_id property: read-only"),
            (
                "Created:created_time",
                "x",
                "created_time property: read-only",
            ),
        ] {
            dir.write("rows.csv", format!("page_id,{header}\n{PAGE_A},{cell}\n"));
            let out = plan_with_schema(&dir, &handle, "rows.csv", version).await;
            assert_eq!(out.code, 2, "{header}: {}", out.stderr);
            assert!(out.stderr.contains(expected), "{header}: {}", out.stderr);
            assert!(out.stdout.is_empty());
        }
    }
}

#[tokio::test]
async fn properties_are_named_by_name_or_id_and_the_title_whatever_its_name() {
    let handle = start(Seed::demo()).await;
    let dir = Dir::new();
    for version in [V2022, V2025] {
        // `title` is the title property's id; `Task:title` names a property the schema lacks
        // but is typed title; `a%3Fb` is Status's id; all write by the schema's names.
        for header in ["title", "Task:title"] {
            dir.write(
                "rows.csv",
                format!("page_id,{header},a%3Fb,Pr%7Bi\n{PAGE_A},Ship it,Done,High\n"),
            );
            let out = plan_with_schema(&dir, &handle, "rows.csv", version).await;
            assert_eq!(out.code, 0, "{header}: {}", out.stderr);
            let (_, body) = &plan_bodies(&out.stdout)[0];
            assert_eq!(
                body["properties"],
                serde_json::json!({
                    "Name": {"title": [{"type": "text", "text": {"content": "Ship it"}}]},
                    "Status": {"status": {"name": "Done"}},
                    "Priority": {"select": {"name": "High"}},
                })
            );
        }
        // Two columns for the title property are one too many.
        dir.write("rows.csv", format!("page_id,title,Name\n{PAGE_A},a,b\n"));
        let out = plan_with_schema(&dir, &handle, "rows.csv", version).await;
        assert_eq!(out.code, 2);
        assert!(
            out.stderr.contains("both write property \"Name\""),
            "{}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn status_must_be_an_option_and_new_select_options_are_warned_once() {
    let handle = start(Seed::demo()).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!(
            "page_id,Status,Priority,Tags\n\
             {PAGE_A},Done,Urgent,backend;ops\n\
             {PAGE_B},Doen,Urgent,ops;docs\n\
             {PAGE_A},In progress,Low,ops;qa\n"
        ),
    );
    for version in [V2022, V2025] {
        let out = plan_with_schema(&dir, &handle, "rows.csv", version).await;
        assert_eq!(out.code, 1, "{}", out.stderr);
        let rows: Vec<u64> = plan_bodies(&out.stdout).iter().map(|(r, _)| *r).collect();
        assert_eq!(rows, [1, 3], "the row with a bad status is not sent");
        assert!(
            out.stderr.contains("row 2 (line 3): column \"Status\": status \"Status\" has no option \"Doen\". Did you mean \"Done\"?"),
            "{}",
            out.stderr
        );
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .collect();
        assert_eq!(warnings.len(), 3, "{warnings:#?}");
        for (option, property, row) in [
            ("Urgent", "Priority", 1),
            ("ops", "Tags", 1),
            ("qa", "Tags", 3),
        ] {
            assert!(
                warnings.iter().any(|w| w.contains(&format!(
                    "\"{option}\" is not yet an option of \"{property}\" (first in row {row})"
                ))),
                "{option}: {warnings:#?}"
            );
        }
    }
}

#[tokio::test]
async fn flat_jsonl_keys_take_the_schema_and_an_unknown_key_invalidates_its_row() {
    let handle = start(Seed::demo()).await;
    let dir = Dir::new();
    dir.write(
        "rows.jsonl",
        format!(
            "{{\"page_id\": \"{PAGE_A}\", \"Status\": \"Done\", \"Tags\": [\"backend\"], \"Done\": true, \"Owner\": [\"grace@example.com\"]}}\n\
             {{\"page_id\": \"{PAGE_B}\", \"Priorty\": \"High\"}}\n\
             {{\"page_id\": \"{PAGE_B}\", \"Estimate\": 3, \"Score\": 1}}\n\
             {{\"page_id\": \"{PAGE_B}\", \"Due\": null, \"title\": \"Renamed\"}}\n"
        ),
    );
    for version in [V2022, V2025] {
        let out = plan_with_schema(&dir, &handle, "rows.jsonl", version).await;
        assert_eq!(out.code, 1, "{}", out.stderr);
        let planned = plan_bodies(&out.stdout);
        assert_eq!(planned.len(), 2, "{}", out.stdout);
        assert_eq!(
            planned[0].1["properties"],
            serde_json::json!({
                "Status": {"status": {"name": "Done"}},
                "Tags": {"multi_select": [{"name": "backend"}]},
                "Done": {"checkbox": true},
                "Owner": {"people": [{"id": GRACE}]},
            })
        );
        assert_eq!(
            planned[1].1["properties"],
            serde_json::json!({
                "Due": {"date": null},
                "Name": {"title": [{"type": "text", "text": {"content": "Renamed"}}]},
            })
        );
        assert!(
            out.stderr.contains("row 2 (line 2): column \"Priorty\"")
                && out.stderr.contains("Did you mean \"Priority\"?"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("row 3 (line 3): column \"Score\"")
                && out.stderr.contains("a formula property: read-only"),
            "{}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn people_by_email_page_through_every_user_and_an_unknown_email_invalidates_the_row() {
    let mut seed = Seed::demo();
    for i in 0..230u32 {
        seed.users.push(SeedUser {
            id: format!("00000000-0000-4000-9000-{i:012x}"),
            name: format!("User {i}"),
            kind: "person".into(),
            email: Some(format!("user{i}@example.com")),
        });
    }
    let handle = start(seed).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!(
            "page_id,Owner\n\
             {PAGE_A},Ada@Example.com;user229@example.com;{GRACE}\n\
             {PAGE_B},adaa@example.com\n"
        ),
    );
    for version in [V2022, V2025] {
        let before = handle.requests().len();
        let out = plan_with_schema(&dir, &handle, "rows.csv", version).await;
        assert_eq!(out.code, 1, "{}", out.stderr);
        let planned = plan_bodies(&out.stdout);
        assert_eq!(
            planned[0].1["properties"]["Owner"],
            serde_json::json!({"people": [
                {"id": ADA}, {"id": "00000000-0000-4000-9000-0000000000e5"}, {"id": GRACE}
            ]})
        );
        assert!(
            out.stderr.contains("row 2 (line 3): column \"Owner\": no user of the workspace has the email \"adaa@example.com\""),
            "{}",
            out.stderr
        );
        let user_pages = handle.requests()[before..]
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/v1/users"))
            .count();
        assert_eq!(user_pages, 3, "233 users at 100 a page, listed once");
    }
    // Offline, the schema file carries the users.
    let schema = run(&dir, &handle, &["schema", DATA_SOURCE]).await;
    dir.write("schema.json", &schema.stdout);
    let out = dir.run(&["plan", "rows.csv", "--schema-file", "schema.json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(plan_bodies(&out.stdout).len(), 1);
}

#[tokio::test]
async fn constants_apply_to_every_row_that_is_sent() {
    let handle = start(Seed::demo()).await;
    let dir = Dir::new();
    dir.write(
        "rows.csv",
        format!("page_id,Status\n{PAGE_A},Done\n{PAGE_B},\n"),
    );
    dir.write(
        "job.toml",
        format!(
            "input = \"rows.csv\"\nschema_from = \"{DATABASE}\"\n\n[constants]\nDone = true\n\"Notes:text\" = \"Closed by the migration\"\nTags = [\"docs\", \"migrated\"]\n"
        ),
    );
    for version in [V2022, V2025] {
        let report = format!("plan-{version}.jsonl");
        let out = run(
            &dir,
            &handle,
            &[
                "plan",
                "job.toml",
                "--notion-version",
                version,
                "--report",
                &report,
            ],
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let planned = plan_bodies(&out.stdout);
        assert_eq!(
            planned.len(),
            1,
            "the row that changes nothing stays skipped"
        );
        assert_eq!(
            serde_json::to_string(&planned[0].1["properties"]).unwrap(),
            r#"{"Status":{"status":{"name":"Done"}},"Done":{"checkbox":true},"Notes":{"rich_text":[{"type":"text","text":{"content":"Closed by the migration"}}]},"Tags":{"multi_select":[{"name":"docs"},{"name":"migrated"}]}}"#
        );
        assert!(
            out.stderr
                .contains("\"migrated\" is not yet an option of \"Tags\" (set by a constant)"),
            "{}",
            out.stderr
        );
        let report = read_report(&dir.path(&report));
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].outcome, "skipped");
    }
    // A constant naming no property, or a column writing the same property, is a config error.
    for (constants, expected) in [
        ("Dnoe = true", "Did you mean \"Done\"?"),
        (
            "Status = \"Done\"",
            "column \"Status\" also writes property \"Status\"",
        ),
        ("Done = \"maybe\"", "not a checkbox value"),
    ] {
        dir.write(
            "job.toml",
            format!(
                "input = \"rows.csv\"\nschema_from = \"{DATABASE}\"\n[constants]\n{constants}\n"
            ),
        );
        let out = run(&dir, &handle, &["plan", "job.toml"]).await;
        assert_eq!(out.code, 2, "{constants}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{constants}: {}", out.stderr);
    }
}

#[tokio::test]
async fn schema_from_needs_a_token_and_says_so_before_reading_rows() {
    let dir = Dir::new();
    dir.write("rows.csv", format!("page_id,Status\n{PAGE_A},Done\n"));
    let out = dir.run(&["plan", "rows.csv", "--schema-from", DATABASE]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no token"), "{}", out.stderr);
    let out = dir.run(&["plan", "rows.csv", "--schema-file", "missing.json"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cannot read the schema file missing.json"),
        "{}",
        out.stderr
    );
    let out = dir.run(&[
        "plan",
        "rows.csv",
        "--schema-file",
        "a.json",
        "--schema-from",
        DATABASE,
    ]);
    assert_eq!(out.code, 2, "the two flags conflict");
}

/// The example jobs run as shipped against the sandbox they name.
#[test]
fn the_example_jobs_apply_cleanly_to_the_sandbox() {
    for job in [
        "jobs/close-finished.toml",
        "jobs/retag.toml",
        "jobs/catalogue.toml",
        "jobs/tickets.toml",
    ] {
        let report = crate::util::apply_example_job(job);
        assert!(!report.is_empty(), "{job}");
        assert!(
            report
                .iter()
                .all(|l| l.outcome == "ok" || l.outcome == "skipped"),
            "{job}: {report:#?}"
        );
        assert!(report.iter().any(|l| l.outcome == "ok"), "{job}");
    }
}

/// apply reads the schema with its own client before the first row, and writes what plan
/// showed: plain headers, owners by email, a constant.
#[tokio::test]
async fn apply_with_schema_from_writes_plain_headers_emails_and_constants() {
    for version in [V2022, V2025] {
        let handle = start(Seed::demo()).await;
        let dir = Dir::new();
        dir.write(
            "rows.csv",
            format!(
                "page_id,Status,Owner,Tags\n\
                 {PAGE_A},Done,grace@example.com,backend;shipped\n\
                 {PAGE_B},,,\n"
            ),
        );
        dir.write(
            "job.toml",
            format!(
                "input = \"rows.csv\"\nschema_from = \"{DATABASE}\"\n\n[constants]\nDone = true\n"
            ),
        );
        let out = run(
            &dir,
            &handle,
            &[
                "apply",
                "job.toml",
                "--notion-version",
                version,
                "--report",
                "report.jsonl",
                "--progress",
                "none",
            ],
        )
        .await;
        assert_eq!(out.code, 0, "{version}: {}", out.stderr);
        let outcomes: Vec<String> = dir
            .report("report.jsonl")
            .into_iter()
            .map(|l| l.outcome)
            .collect();
        assert_eq!(outcomes, ["ok", "skipped"]);
        let page = handle.page(PAGE_A).unwrap();
        let p = &page["properties"];
        assert_eq!(p["Status"]["status"]["name"], "Done", "{page}");
        assert_eq!(p["Owner"]["people"][0]["id"], GRACE, "{page}");
        assert_eq!(p["Done"]["checkbox"], true, "{page}");
        let tag_names = p["Tags"]["multi_select"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| &t["name"]);
        assert!(tag_names.eq(["backend", "shipped"].iter()), "{page}");
        let untouched = handle.page(PAGE_B).unwrap();
        assert_eq!(
            untouched["properties"]["Done"]["checkbox"], false,
            "the skipped row got no constant"
        );
        assert_eq!(patches(&handle), 1);
        // A schema that cannot be read stops apply before any write.
        let out = run(
            &dir,
            &handle,
            &[
                "apply",
                "rows.csv",
                "--notion-version",
                version,
                "--schema-from",
                "0000000000004000800000000000ffff",
                "--report",
                "again.jsonl",
                "--progress",
                "none",
            ],
        )
        .await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains("cannot read the schema of")
                && out.stderr.contains("Nothing was sent"),
            "{}",
            out.stderr
        );
        assert_eq!(patches(&handle), 1);
    }
}

/// jobs/tasks-schema.json is what `schema` prints for the demo seed, byte for byte: it cannot
/// drift from jobs/demo-seed.json unnoticed.
#[tokio::test]
async fn the_committed_tasks_schema_is_what_the_schema_command_prints() {
    let handle = start(Seed::demo()).await;
    let dir = Dir::new();
    let out = run(&dir, &handle, &["schema", DATA_SOURCE]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let committed = std::fs::read_to_string(repo_path("jobs/tasks-schema.json")).unwrap();
    assert_eq!(
        out.stdout, committed,
        "regenerate it as jobs/close-finished.toml says"
    );
}
