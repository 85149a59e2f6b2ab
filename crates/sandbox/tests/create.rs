//! `POST /v1/pages`: creating a page in a data source under each version and parent shape, what a
//! create validates (exactly what a PATCH does for the same property value), how a created page
//! shows in reads, queries and introspection, and faults, auth and rate limits on creates.

use super::*;

fn title(text: &str) -> Value {
    json!({"title": [{"text": {"content": text}}]})
}

fn rich(text: &str) -> Value {
    json!({"rich_text": [{"text": {"content": text}}]})
}

/// A create body with a `data_source_id` parent.
fn in_data_source(properties: Value) -> Value {
    json!({"parent": {"data_source_id": DATA_SOURCE}, "properties": properties})
}

/// The plain text of a title or rich_text value as a page shows it.
fn plain(items: &Value) -> String {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["plain_text"].as_str().unwrap())
        .collect()
}

/// A dashed lowercase version 4 UUID.
fn is_v4_uuid(id: &str) -> bool {
    let b = id.as_bytes();
    sandbox::normalize_id(id).as_deref() == Some(id) && b[14] == b'4' && b"89ab".contains(&b[19])
}

impl Sandbox {
    async fn create_v(&self, version: &str, body: Value) -> Reply {
        self.post("/v1/pages", TOKEN, version, Some(body.to_string()))
            .await
    }

    async fn create(&self, body: Value) -> Reply {
        self.create_v(V2025, body).await
    }

    fn stored_pages(&self) -> Vec<Value> {
        self.handle.state()["pages"].as_array().unwrap().clone()
    }

    /// The ids of the stored pages whose Notes read `key`.
    fn with_notes(&self, key: &str) -> Vec<String> {
        self.stored_pages()
            .iter()
            .filter(|p| plain(&p["properties"]["Notes"]["rich_text"]) == key)
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// One past the highest `Task ID` stored.
    fn next_task_id(&self) -> u64 {
        self.stored_pages()
            .iter()
            .filter_map(|p| p["properties"]["Task ID"]["unique_id"]["number"].as_u64())
            .max()
            .unwrap_or(0)
            + 1
    }
}

// ---- creating ----

#[tokio::test]
async fn create_with_a_data_source_parent_answers_the_page_as_get_shows_it() {
    let sb = demo().await;
    let bot = sb.patch(PAGE, status_body("Done")).await.json()["last_edited_by"].clone();
    let first_number = sb.next_task_id();
    let parents = [
        (V2025, json!({"data_source_id": DATA_SOURCE})),
        (
            V2026,
            json!({"type": "data_source_id", "data_source_id": DATA_SOURCE.replace('-', "").to_uppercase()}),
        ),
    ];
    let mut created = Vec::new();
    for (i, (version, parent)) in parents.into_iter().enumerate() {
        let body = json!({
            "parent": parent,
            "properties": {
                "Name": title(&format!("Created {i}")),
                "Notes": rich(&format!("KEY-{i}")),
                "Status": {"status": {"name": "Not started"}},
                "Tags": {"multi_select": [{"name": "backend"}]},
            },
            "icon": {"emoji": "🆕"},
            "cover": {"external": {"url": "https://example.com/c.png"}},
        });
        let r = sb.create_v(version, body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.json();
        let id = page["id"].as_str().unwrap().to_string();
        assert!(is_v4_uuid(&id), "{id}");
        assert!(!demo_ids().contains(&id) && !created.contains(&id), "{id}");
        assert_eq!(page["object"], "page");
        assert_eq!(
            page["parent"],
            json!({"type": "data_source_id", "data_source_id": DATA_SOURCE, "database_id": DATABASE})
        );
        assert_eq!(page["created_by"], bot, "{page}");
        assert_eq!(page["last_edited_by"], bot, "{page}");
        let created_time = page["created_time"].as_str().unwrap();
        assert!(created_time.ends_with(":00.000Z"), "{created_time}");
        assert!(page["last_edited_time"].as_str().unwrap() >= created_time);
        assert_eq!(page["in_trash"], false);
        assert_eq!(page["is_locked"], false);
        assert_eq!(page.get("archived").is_some(), version == V2025, "{page}");
        assert_eq!(page["icon"], json!({"type": "emoji", "emoji": "🆕"}));
        assert_eq!(
            page["cover"],
            json!({"type": "external", "external": {"url": "https://example.com/c.png"}})
        );
        let props = &page["properties"];
        assert_eq!(plain(&props["Name"]["title"]), format!("Created {i}"));
        assert_eq!(props["Status"]["status"]["name"], "Not started");
        assert_eq!(props["Tags"]["multi_select"][0]["name"], "backend");
        // Not given: the empty value of each type.
        assert_eq!(props["Due"]["date"], Value::Null);
        assert_eq!(props["Done"]["checkbox"], false);
        assert_eq!(props["Owner"]["people"], json!([]));
        assert_eq!(props["Blocked by"]["relation"], json!([]));
        assert_eq!(props["Blocked by"]["has_more"], false);
        assert_eq!(props["Estimate"]["number"], Value::Null);
        assert_eq!(
            props["Score"]["formula"],
            json!({"type": "string", "string": null})
        );
        assert_eq!(props["Created"]["created_time"], created_time);
        assert_eq!(
            props["Task ID"]["unique_id"],
            json!({"prefix": "TASK", "number": first_number + i as u64})
        );
        assert_eq!(
            page["url"],
            format!("https://www.notion.so/Created-{i}-{}", id.replace('-', ""))
        );
        // GET shows exactly what the create answered.
        let got = sb.get_v(&format!("/v1/pages/{id}"), version).await;
        assert_eq!(got.json(), page);
        created.push(id);
    }
    // The state lists them after the seeded pages, in creation order; the stats count them.
    let get = |path: &'static str| {
        let sb = &sb;
        async move {
            sb.send(reqwest::Method::GET, path, None, None, None)
                .await
                .unwrap()
                .json()
        }
    };
    let state = get("/__sandbox/state").await;
    let ids = ids(&state["pages"]);
    assert_eq!(ids.len(), 21);
    assert_eq!(ids[19..], created[..]);
    let stats = get("/__sandbox/stats").await;
    assert_eq!(stats["created"], 2);
    assert_eq!(stats["applied"], json!({ PAGE: 1 }));
    assert_eq!(stats["by_status"]["200"], 5);
}

#[tokio::test]
async fn create_under_2022_06_28_takes_a_database_parent() {
    let sb = demo().await;
    for parent in [
        json!({"database_id": DATABASE}),
        json!({"type": "database_id", "database_id": DATABASE.replace('-', "")}),
    ] {
        let r = sb
            .create_v(
                V2022,
                json!({"parent": parent, "properties": {"Name": title("Old")}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.json();
        assert_eq!(
            page["parent"],
            json!({"type": "database_id", "database_id": DATABASE})
        );
        assert_eq!(page["archived"], false);
        assert!(page.get("is_locked").is_none(), "{page}");
        let id = page["id"].as_str().unwrap();
        assert_eq!(
            sb.get_v(&format!("/v1/pages/{id}"), V2022).await.json(),
            page
        );
        // The page is in the database's one data source.
        let later = sb.get(&format!("/v1/pages/{id}")).await.json();
        assert_eq!(later["parent"]["data_source_id"], DATA_SOURCE);
    }
    // Data sources do not exist yet under 2022-06-28.
    let m = sb
        .create_v(V2022, in_data_source(json!({})))
        .await
        .error(400, "validation_error");
    assert_eq!(
        m,
        format!("body failed validation: body.parent should be an object with one of `database_id`, `page_id`, `workspace`, instead was `{{\"data_source_id\":\"{DATA_SOURCE}\"}}`.")
    );
    let m = sb
        .create_v(
            V2022,
            json!({"parent": {"type": "data_source_id", "data_source_id": DATA_SOURCE}}),
        )
        .await
        .error(400, "validation_error");
    assert!(
        m.starts_with(
            "body failed validation: body.parent.type should be one of `\"database_id\"`"
        ),
        "{m}"
    );
    assert_eq!(sb.stored_pages().len(), 21);
}

#[tokio::test]
async fn a_database_parent_needs_a_database_with_one_data_source() {
    // Under 2025-09-03 too, as Notion allows, while the database has one data source.
    let sb = demo().await;
    let r = sb
        .create(json!({"parent": {"database_id": DATABASE}, "properties": {"Name": title("New")}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["parent"]["data_source_id"], DATA_SOURCE);

    let sb = start(Options::new(demo_with_two_data_sources())).await;
    for version in [V2022, V2025] {
        let m = sb
            .create_v(version, json!({"parent": {"database_id": DATABASE}}))
            .await
            .error(400, "validation_error");
        assert!(
            m.starts_with(&format!("Database {DATABASE} has 2 data sources.")),
            "{m}"
        );
        assert!(m.contains("data_source_id"), "{m}");
    }
    assert_eq!(sb.stored_pages().len(), 19);
    // Each data source numbers its own unique_id: the second has no pages yet.
    let r = sb
        .create(json!({"parent": {"data_source_id": SECOND_DATA_SOURCE.replace('-', "")}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let page = r.json();
    assert_eq!(page["parent"]["data_source_id"], SECOND_DATA_SOURCE);
    assert_eq!(page["properties"]["Task ID"]["unique_id"]["number"], 1);
    let r = sb.create(in_data_source(json!({}))).await;
    assert_eq!(r.json()["properties"]["Task ID"]["unique_id"]["number"], 20);
}

#[tokio::test]
async fn a_created_page_is_found_by_the_next_query_and_by_a_filter_on_its_key() {
    let sb = demo().await;
    // A first query, so that its results are cached before the create.
    assert_eq!(sb.query_all(json!({}), 100).await.len(), 19);
    let by_key = json!({"filter": {"property": "Notes", "rich_text": {"equals": "KEY-42"}}});
    assert!(sb.query(by_key.clone()).await["results"]
        .as_array()
        .unwrap()
        .is_empty());
    let number = sb.next_task_id();

    let r = sb
        .create(in_data_source(
            json!({"Name": title("By key"), "Notes": rich("KEY-42")}),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();

    let all = sb.query_all(json!({}), 100).await;
    assert_eq!(all.len(), 20);
    assert!(all.contains(&id));
    assert_eq!(
        ids(&sb.query(by_key.clone()).await["results"]),
        vec![id.clone()]
    );
    let by_number = json!({"filter": {"property": "Task ID", "unique_id": {"equals": number}}});
    assert_eq!(ids(&sb.query(by_number).await["results"]), vec![id.clone()]);
    let by_title = json!({"filter": {"property": "Name", "title": {"equals": "By key"}}});
    assert_eq!(ids(&sb.query(by_title).await["results"]), vec![id.clone()]);
    // The old database query finds it too.
    let r = sb
        .post(
            &format!("/v1/databases/{DATABASE}/query"),
            TOKEN,
            V2022,
            Some(by_key.to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&r.json()["results"]), vec![id]);
}

// ---- validation ----

#[tokio::test]
async fn a_bad_property_value_is_refused_as_patch_refuses_it_and_nothing_is_created() {
    let sb = demo().await;
    let before = sb.handle.state();
    let bad = vec![
        json!({"Notes": {"rich_text": [{"text": {"content": "a".repeat(2001)}}]}}),
        json!({"Status": {"status": {"name": "Blocked"}}}),
        json!({"Status": {"select": {"name": "Done"}}}),
        json!({"Estimate": {"number": "5"}}),
        json!({"Stauts": {"status": {"name": "Done"}}}),
        json!({"Score": {"formula": {"string": "x"}}}),
        json!({"Task ID": {"unique_id": {"number": 5}}}),
        json!({"Created": {"created_time": "2026-01-01T00:00:00Z"}}),
        json!({"Owner": {"people": [{"id": MISSING}]}}),
        json!({"Blocked by": {"relation": [{"id": MISSING}]}}),
        json!({"Due": {"date": {"end": "2026-01-01"}}}),
        json!({"Link": {"url": ""}}),
        json!({"Tags": {"multi_select": (0..101).map(|i| json!({"name": format!("t{i}")})).collect::<Vec<_>>()}}),
        // A new option with a bad value beside it: the option is not added either.
        json!({"Tags": {"multi_select": [{"name": "brand-new"}]}, "Done": {"checkbox": null}}),
        json!("not an object"),
    ];
    for properties in bad {
        let patched = sb
            .patch(PAGE, json!({ "properties": properties.clone() }))
            .await;
        let created = sb.create(in_data_source(properties.clone())).await;
        let m = created.error(400, "validation_error");
        assert_eq!(
            m,
            patched.error(400, "validation_error"),
            "for {properties}"
        );
        assert!(
            m.starts_with("body failed validation: body.properties")
                || m.ends_with("is not a property that exists.")
                || m.ends_with("which cannot be updated via the API.")
                || m.ends_with("is expected to be status."),
            "{m}"
        );
    }
    assert_eq!(sb.handle.state(), before);
    assert_eq!(sb.handle.stats().created, 0);
}

#[tokio::test]
async fn create_body_rules_parent_shapes_content_and_version_keys() {
    let sb = demo().await;
    let ok = json!({"data_source_id": DATA_SOURCE});
    let refused = [
        (
            json!({"properties": {"Name": title("x")}}),
            "The sandbox creates pages in data sources only: a page without a parent (a private page of the workspace) is not supported; give parent `data_source_id` or `database_id`.",
        ),
        (
            json!({"parent": {"page_id": PAGE}}),
            "The sandbox creates pages in data sources only: parent `page_id` is not supported; give parent `data_source_id` or `database_id`.",
        ),
        (
            json!({"parent": {"type": "workspace", "workspace": true}}),
            "The sandbox creates pages in data sources only: parent `workspace` is not supported; give parent `data_source_id` or `database_id`.",
        ),
        (
            json!({"parent": "x"}),
            "body failed validation: body.parent should be an object, instead was `\"x\"`.",
        ),
        (
            json!({"parent": {"data_source_id": DATA_SOURCE, "database_id": DATABASE}}),
            &format!("body failed validation: body.parent.database_id should be not present, instead was `\"{DATABASE}\"`."),
        ),
        (
            json!({"parent": {"type": "database_id", "data_source_id": DATA_SOURCE}}),
            &format!("body failed validation: body.parent.data_source_id should be not present, instead was `\"{DATA_SOURCE}\"`."),
        ),
        (
            json!({"parent": {"data_source_id": "nope"}}),
            "body failed validation: body.parent.data_source_id should be a valid uuid, instead was `\"nope\"`.",
        ),
        (
            json!({"parent": ok, "in_trash": false}),
            "body failed validation: body.in_trash should be not present, instead was `false`.",
        ),
        (
            json!({"parent": ok, "archived": false}),
            "body failed validation: body.archived should be not present, instead was `false`.",
        ),
        (
            json!({"parent": ok, "is_locked": true}),
            "body failed validation: body.is_locked should be not present, instead was `true`.",
        ),
        (
            json!({"parent": ok, "erase_content": true}),
            "body failed validation: body.erase_content should be not present, instead was `true`.",
        ),
        (
            json!({"parent": ok, "children": []}),
            "body.children is not supported by the sandbox, which keeps no page content.",
        ),
        (
            json!({"parent": ok, "markdown": "# Hi"}),
            "body.markdown is not supported by the sandbox, which keeps no page content.",
        ),
        (
            json!({"parent": ok, "template": {"type": "blank"}}),
            "body failed validation: body.template.type should be one of `\"none\"`, `\"default\"`, `\"template_id\"`, instead was `\"blank\"`.",
        ),
        (
            json!({"parent": ok, "icon": "🚀"}),
            "body failed validation: body.icon should be an object, instead was `\"🚀\"`.",
        ),
        (
            json!({"parent": ok, "properties": []}),
            "body failed validation: body.properties should be an object, instead was `[]`.",
        ),
    ];
    for (body, message) in refused {
        let m = sb.create(body.clone()).await.error(400, "validation_error");
        assert_eq!(m, message, "for {body}");
    }
    // Under 2022-06-28 neither data sources nor templates exist, nor `workspace` in the message.
    let m = sb
        .create_v(
            V2022,
            json!({"parent": {"database_id": DATABASE}, "template": {"type": "none"}}),
        )
        .await
        .error(400, "validation_error");
    assert_eq!(
        m,
        "body failed validation: body.template should be not present, instead was `{\"type\":\"none\"}`."
    );
    let m = sb
        .create_v(V2022, json!({"parent": {"page_id": PAGE}}))
        .await
        .error(400, "validation_error");
    assert!(m.ends_with("give parent `database_id`."), "{m}");
    for text in ["", "{\"parent\": ", "nope"] {
        let r = sb
            .send(
                reqwest::Method::POST,
                "/v1/pages",
                Some(TOKEN),
                Some(V2025),
                Some(text.into()),
            )
            .await
            .unwrap();
        assert_eq!(r.error(400, "invalid_json"), "Error parsing JSON body.");
    }
    assert_eq!(sb.stored_pages().len(), 19);
    assert_eq!(sb.handle.stats().created, 0);

    // Accepted: no properties at all (an empty title), and a template (validated, ignored).
    let r = sb.create(json!({"parent": ok})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let page = r.json();
    assert_eq!(page["properties"]["Name"]["title"], json!([]));
    let id = page["id"].as_str().unwrap().replace('-', "");
    assert_eq!(page["url"], format!("https://www.notion.so/{id}"));
    for template in [
        json!({"type": "none"}),
        json!({"type": "default", "timezone": "Europe/Paris"}),
        json!({"type": "template_id", "template_id": MISSING}),
    ] {
        let r = sb
            .create_v(V2026, json!({"parent": ok, "template": template}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(sb.stored_pages().len(), 23);
    // `none` stays a create-only template type.
    sb.patch(PAGE, json!({"template": {"type": "none"}}))
        .await
        .error(400, "validation_error");
}

#[tokio::test]
async fn an_unknown_parent_is_object_not_found() {
    let sb = demo().await;
    let shared = "Make sure the relevant pages and databases are shared with your integration.";
    let cases = [
        (
            V2025,
            json!({"data_source_id": MISSING}),
            format!("Could not find data source with ID: {MISSING}. {shared}"),
        ),
        // A database id is not a data source id, nor the other way round.
        (
            V2025,
            json!({"data_source_id": DATABASE}),
            format!("Could not find data source with ID: {DATABASE}. {shared}"),
        ),
        (
            V2022,
            json!({"database_id": MISSING}),
            format!("Could not find database with ID: {MISSING}. {shared}"),
        ),
        (
            V2026,
            json!({"database_id": DATA_SOURCE}),
            format!("Could not find database with ID: {DATA_SOURCE}. {shared}"),
        ),
    ];
    for (version, parent, message) in cases {
        let r = sb
            .create_v(
                version,
                json!({"parent": parent, "properties": {"Name": title("x")}}),
            )
            .await;
        assert_eq!(r.error(404, "object_not_found"), message);
    }
    assert_eq!(sb.stored_pages().len(), 19);
}

// ---- faults, auth, rate limits ----

#[tokio::test]
async fn e504_applied_on_a_create_answers_504_and_the_page_exists_once() {
    let sb = start(Options {
        faults: "e504_applied=1.0".parse().unwrap(),
        ..Options::new(Seed::demo())
    })
    .await;
    let body = in_data_source(json!({"Name": title("Under a 504"), "Notes": rich("KEY-504")}));
    sb.create(body.clone()).await.error(504, "gateway_timeout");
    let pages = sb.with_notes("KEY-504");
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(sb.stored_pages().len(), 20);
    let stored = sb.stored(&pages[0]);
    assert_eq!(plain(&stored["properties"]["Name"]["title"]), "Under a 504");
    // The log tells the create apart: its record names the page it made.
    let log = sb.handle.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/v1/pages");
    assert_eq!(log[0].status, Some(504));
    assert_eq!(log[0].fault, Some(FaultKind::E504Applied));
    assert_eq!(log[0].page_id.as_deref(), Some(pages[0].as_str()));
    assert_eq!(log[0].body_sha256, Some(sandbox::body_sha256(&body)));
    let stats = sb.handle.stats();
    assert_eq!(stats.created, 1);
    assert_eq!(stats.faults.get(&FaultKind::E504Applied), Some(&1));
    // An invalid create under the same fault still answers 504 and creates nothing.
    sb.create(in_data_source(
        json!({"Status": {"status": {"name": "Blocked"}}}),
    ))
    .await
    .error(504, "gateway_timeout");
    assert_eq!(sb.stored_pages().len(), 20);
    assert_eq!(sb.handle.requests()[1].page_id, None);
}

#[tokio::test]
async fn faults_that_do_not_apply_create_nothing() {
    let kinds = [
        (FaultKind::Conflict, Some(409)),
        (FaultKind::E500, Some(500)),
        (FaultKind::E502, Some(502)),
        (FaultKind::E503, Some(503)),
        (FaultKind::E529, Some(529)),
        (FaultKind::Reset, None),
    ];
    for (kind, status) in kinds {
        let sb = faulty(kind).await;
        // Reads stay reliable.
        assert_eq!(sb.get(&format!("/v1/pages/{PAGE}")).await.status, 200);
        let body = in_data_source(json!({"Notes": rich("KEY-F")}));
        let sent = sb
            .send(
                reqwest::Method::POST,
                "/v1/pages",
                Some(TOKEN),
                Some(V2025),
                Some(body.to_string()),
            )
            .await;
        match status {
            Some(s) => assert_eq!(sent.unwrap().status, s, "{kind}"),
            None => {
                let err = sent.err().expect("no response");
                assert!(err.status().is_none() && !err.is_timeout(), "{err:?}");
            }
        }
        assert!(sb.with_notes("KEY-F").is_empty(), "{kind}");
        assert_eq!(sb.stored_pages().len(), 19, "{kind}");
        let log = sb.handle.requests();
        assert_eq!(log[1].fault, Some(kind));
        assert_eq!(log[1].status, status);
        assert_eq!(log[1].page_id, None, "{kind}");
        assert_eq!(sb.handle.stats().created, 0, "{kind}");
    }
}

#[tokio::test]
async fn a_stalled_create_is_never_applied() {
    let sb = faulty(FaultKind::Stall).await;
    let err = sb
        .http
        .post(sb.url("/v1/pages"))
        .bearer_auth(TOKEN)
        .header("Notion-Version", V2025)
        .json(&in_data_source(json!({"Notes": rich("KEY-S")})))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect_err("no response before the timeout");
    assert!(err.is_timeout(), "{err:?}");
    assert!(sb.with_notes("KEY-S").is_empty());
    // Not when the stall ends either (shutting down ends it).
    let stats = sb.handle.shutdown().await;
    assert_eq!(stats.faults.get(&FaultKind::Stall), Some(&1), "{stats:?}");
    assert_eq!(stats.created, 0);
}

#[tokio::test]
async fn a_create_needs_the_token_and_passes_the_rate_limit() {
    let sb = start(Options {
        rate: Some(0.001),
        burst: Some(1),
        ..Options::new(Seed::demo())
    })
    .await;
    let body = in_data_source(json!({"Notes": rich("KEY-R")}));
    let r = sb
        .post("/v1/pages", "secret_other", V2025, Some(body.to_string()))
        .await;
    r.error(401, "unauthorized");
    assert!(sb.with_notes("KEY-R").is_empty());
    // The refused request took no permit: the one permit goes to this create.
    assert_eq!(sb.create(body.clone()).await.status, 200);
    let r = sb.create(body).await;
    r.error(429, "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(sb.with_notes("KEY-R").len(), 1);
    assert_eq!(sb.handle.stats().created, 1);
}
