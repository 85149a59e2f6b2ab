//! `PATCH /v1/data_sources/{id}`: adding, keeping and removing select and multi_select options,
//! adding status options into their groups, what is refused (with nothing applied), the
//! schema-size ceiling, faults, versions, and the counters a test reads back.

use super::*;

impl Sandbox {
    async fn patch_ds_v(&self, version: &str, body: Value) -> Reply {
        self.send(
            reqwest::Method::PATCH,
            &format!("/v1/data_sources/{DATA_SOURCE}"),
            Some(TOKEN),
            Some(version),
            Some(body.to_string()),
        )
        .await
        .expect("PATCH answered")
    }

    async fn patch_ds(&self, body: Value) -> Reply {
        self.patch_ds_v(V2025, body).await
    }

    /// GET /v1/data_sources/{DATA_SOURCE} under 2025-09-03.
    async fn data_source(&self) -> Value {
        let r = self.get(&format!("/v1/data_sources/{DATA_SOURCE}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }
}

/// The options of property `prop` as a data source shows them.
fn options_of(ds: &Value, prop: &str) -> Vec<Value> {
    let p = &ds["properties"][prop];
    let kind = p["type"].as_str().unwrap();
    p[kind]["options"].as_array().unwrap().clone()
}

fn names(ds: &Value, prop: &str) -> Vec<String> {
    options_of(ds, prop)
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect()
}

/// The option named `name` of `prop`.
fn option(ds: &Value, prop: &str, name: &str) -> Value {
    options_of(ds, prop)
        .into_iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{prop} has no option {name}: {ds}"))
}

fn option_id(ds: &Value, prop: &str, name: &str) -> String {
    option(ds, prop, name)["id"].as_str().unwrap().to_string()
}

/// Every existing option of `prop` as `{id}`, then `more`.
fn keep_all_and(ds: &Value, prop: &str, more: Value) -> Value {
    let mut list: Vec<Value> = options_of(ds, prop)
        .iter()
        .map(|o| json!({"id": o["id"]}))
        .collect();
    list.extend(more.as_array().unwrap().iter().cloned());
    Value::Array(list)
}

/// The option ids of the status group `key`.
fn group_ids(ds: &Value, key: &str) -> Vec<String> {
    let groups = ds["properties"]["Status"]["status"]["groups"]
        .as_array()
        .unwrap();
    let group = groups.iter().find(|g| g["id"] == key).unwrap();
    ids_of(&group["option_ids"])
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn select_body(prop: &str, kind: &str, options: Value) -> Value {
    json!({"properties": {prop: {kind: {"options": options}}}})
}

// ---- adding ----

#[tokio::test]
async fn added_select_multi_select_and_status_options_read_back_in_get() {
    let sb = demo().await;
    let before = sb.data_source().await;
    let tags = keep_all_and(
        &before,
        "Tags",
        json!([{"name": "security", "color": "red", "description": "CVE work"}]),
    );
    let status = keep_all_and(
        &before,
        "Status",
        json!([{"name": "Blocked", "color": "red", "group": "In progress"},
               {"name": "Parked"},
               {"name": "Shipped", "group": "complete"},
               {"name": "Waiting", "group": {"id": "to_do"}}]),
    );
    let body = json!({"properties": {
        "Priority": {"select": {"options": [
            {"name": "Low"}, {"name": "Medium"}, {"name": "High"},
            {"name": "Critical", "color": "pink"}]}},
        "T%3Ags": {"type": "multi_select", "multi_select": {"options": tags}},
        "Status": {"status": {"options": status}},
    }});
    let r = sb.patch_ds(body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = sb.data_source().await;
    assert_eq!(
        r.json(),
        after,
        "the answer is the data source as GET shows it"
    );

    assert_eq!(
        names(&after, "Priority"),
        ["Low", "Medium", "High", "Critical"]
    );
    let critical = option(&after, "Priority", "Critical");
    assert_eq!(
        (&critical["color"], &critical["description"]),
        (&json!("pink"), &Value::Null)
    );
    let security = option(&after, "Tags", "security");
    assert_eq!(
        (&security["color"], &security["description"]),
        (&json!("red"), &json!("CVE work"))
    );
    assert_eq!(names(&after, "Tags").len(), 6);
    assert_eq!(option(&after, "Status", "Parked")["color"], "default");
    for (prop, name) in [("Priority", "Low"), ("Tags", "backend"), ("Status", "Done")] {
        assert_eq!(option(&before, prop, name), option(&after, prop, name));
    }
    let id = |name: &str| option_id(&after, "Status", name);
    assert_eq!(
        group_ids(&after, "to_do"),
        [id("Not started"), id("Parked"), id("Waiting")]
    );
    assert_eq!(
        group_ids(&after, "in_progress"),
        [id("In progress"), id("Blocked")]
    );
    assert_eq!(group_ids(&after, "complete"), [id("Done"), id("Shipped")]);
    let mut new_ids = vec![id("Blocked"), id("Parked"), id("Shipped"), id("Waiting")];
    new_ids.sort();
    new_ids.dedup();
    assert_eq!(new_ids.len(), 4);
    assert!(after["last_edited_time"].as_str() >= before["last_edited_time"].as_str());
    let state = &sb.handle.state()["data_sources"][0];
    assert_eq!(state["properties"], after["properties"]);
}

#[tokio::test]
async fn existing_options_are_kept_by_id_and_by_name_unchanged_in_the_order_given() {
    let sb = demo().await;
    let before = sb.data_source().await;
    let low = option_id(&before, "Priority", "Low");
    let high = option_id(&before, "Priority", "High");
    let list = json!([
        {"id": high, "name": "High", "color": "red", "description": null},
        {"id": low},
        {"name": "Medium", "color": "yellow"},
    ]);
    let r = sb.patch_ds(select_body("Priority", "select", list)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = r.json();
    let b = |name: &str| option(&before, "Priority", name);
    assert_eq!(
        options_of(&after, "Priority"),
        [b("High"), b("Low"), b("Medium")]
    );
    assert_eq!(
        sb.stored(PAGE)["properties"]["Priority"]["select"]["id"],
        high.as_str()
    );
}

#[tokio::test]
async fn an_omitted_select_option_leaves_the_schema_and_the_pages() {
    let sb = demo().await;
    let before = sb.data_source().await;
    let high = option_id(&before, "Priority", "High");
    let priority = json!([{"name": "Low"}, {"name": "Medium"}]);
    let tags =
        json!([{"name": "backend"}, {"name": "frontend"}, {"name": "docs"}, {"name": "infra"}]);
    let body = json!({"properties": {
        "Priority": {"select": {"options": priority}},
        "Tags": {"multi_select": {"options": tags}},
    }});
    let r = sb.patch_ds(body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = sb.data_source().await;
    assert_eq!(names(&after, "Priority"), ["Low", "Medium"]);
    assert_eq!(
        names(&after, "Tags"),
        ["backend", "frontend", "docs", "infra"]
    );
    let page = sb.get(&format!("/v1/pages/{PAGE}")).await.json();
    assert_eq!(page["properties"]["Priority"]["select"], Value::Null);
    let tags: Vec<&Value> = page["properties"]["Tags"]["multi_select"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["name"])
        .collect();
    assert_eq!(tags, [&json!("backend")]);
    let m = sb
        .patch(
            PAGE,
            json!({"properties": {"Priority": {"select": {"id": high}}}}),
        )
        .await
        .error(400, "validation_error");
    assert!(m.contains("select.id should be the id of an option"), "{m}");
}

// ---- refused, nothing applied ----

/// Refuse `body` with 400 `validation_error` whose message contains `fragment`, leaving the
/// data source as `before`.
async fn refused(sb: &Sandbox, before: &Value, body: Value, fragment: &str) {
    let m = sb
        .patch_ds(body.clone())
        .await
        .error(400, "validation_error");
    assert!(m.contains(fragment), "{body}: {m}");
    assert_eq!(
        &sb.data_source().await,
        before,
        "{body} changed the data source"
    );
}

#[tokio::test]
async fn renaming_or_recoloring_an_existing_option_is_refused() {
    let sb = demo().await;
    let before = sb.data_source().await;
    let low = option_id(&before, "Priority", "Low");
    for item in [
        json!({"id": low, "name": "Lowest"}),
        json!({"id": low, "color": "green"}),
        json!({"name": "Low", "color": "green"}),
    ] {
        let list = json!([item, {"name": "Medium"}, {"name": "High"}, {"name": "New one"}]);
        refused(
            &sb,
            &before,
            select_body("Priority", "select", list),
            "the name and color of an existing option cannot be updated",
        )
        .await;
    }
}

/// A body that adds the tag `fresh` (valid on its own) and then has `bad` properties.
fn with_a_valid_tag(before: &Value, bad: Value) -> Value {
    let tags = keep_all_and(before, "Tags", json!([{"name": "fresh"}]));
    let mut properties = json!({"Tags": {"multi_select": {"options": tags}}});
    for (k, v) in bad.as_object().unwrap() {
        properties[k] = v.clone();
    }
    json!({ "properties": properties })
}

fn priority(extra: Value) -> Value {
    let mut list = vec![
        json!({"name": "Low"}),
        json!({"name": "Medium"}),
        json!({"name": "High"}),
    ];
    list.extend(extra.as_array().unwrap().iter().cloned());
    json!({"Priority": {"select": {"options": list}}})
}

#[tokio::test]
async fn invalid_changes_are_refused_and_nothing_is_applied() {
    let sb = demo().await;
    let before = sb.data_source().await;
    let statuses = json!([{"name": "Not started"}, {"name": "In progress"}, {"name": "New"}]);
    let many: Vec<Value> = (0..101).map(|i| json!({"name": format!("t{i}")})).collect();
    let cases = [
        (
            priority(json!([{"name": "a,b"}])),
            "Commas (\",\") are not valid for select values",
        ),
        (
            priority(json!([{"name": ""}])),
            "options[3].name.length should be ≥ `1`",
        ),
        (
            priority(json!([{"name": "x".repeat(101)}])),
            "name.length should be ≤ `100`, instead was `101`",
        ),
        (
            priority(json!([{"name": "Nice", "color": "chartreuse"}])),
            "options[3].color should be one of",
        ),
        (
            priority(json!([{"name": "Dup"}, {"name": "Dup"}])),
            "the option `Dup` is given twice",
        ),
        (
            priority(json!([{"name": "High"}])),
            "the option `High` is given twice",
        ),
        (
            priority(json!([{"id": "nope"}])),
            "options[3].id should be the id of an option of `Priority`",
        ),
        (
            priority(json!([{"name": "X", "group": "to_do"}])),
            "options[3].group should be not present",
        ),
        (
            json!({"Tags": {"multi_select": {"options": many}}}),
            "options.length should be ≤ `100`, instead was `101`",
        ),
        (
            json!({"Stauts": {"status": {"options": []}}}),
            "Could not find property with name or id: Stauts",
        ),
        (
            json!({"Status": {"status": {"options": statuses}}}),
            "leaves out the status option `Done`",
        ),
        (
            json!({"Status": {"status": {"options": [{"name": "Done", "group": "to_do"},
            {"name": "Not started"}, {"name": "In progress"}]}}}),
            "moving the existing status option `Done`",
        ),
        (
            json!({"Status": {"status": {"options": [{"name": "New", "group": "done"}]}}}),
            "group should be a status group's id, name or key",
        ),
        (
            json!({"Priority": {"name": "Urgency"}}),
            "Renaming the property `Priority` to `Urgency` is not modelled",
        ),
        (
            json!({"Priority": {"multi_select": {"options": []}}}),
            "Changing the type of `Priority` from select to multi_select",
        ),
        (
            json!({"Priority": {"type": "status"}}),
            "Changing the type of `Priority` from select to status",
        ),
        (
            json!({"Priority": null}),
            "Deleting the property `Priority`",
        ),
        (
            json!({"Estimate": {"number": {"format": "dollar"}}}),
            "Changing the number configuration of `Estimate`",
        ),
        (
            json!({"Status": {"status": {"groups": []}}}),
            "Changing the groups of `Status`",
        ),
    ];
    let sent = cases.len() as u64 + 1;
    for (bad, fragment) in cases {
        refused(&sb, &before, with_a_valid_tag(&before, bad), fragment).await;
    }
    let mut body = with_a_valid_tag(&before, json!({}));
    body["archived"] = json!(true);
    refused(&sb, &before, body, "body.archived should be not present").await;
    let stats = sb.handle.stats();
    assert_eq!(stats.schema_patches, sent);
    assert!(
        stats.schema_updates.is_empty(),
        "{:?}",
        stats.schema_updates
    );
}

#[tokio::test]
async fn a_schema_patch_needs_a_json_object_body() {
    let sb = demo().await;
    let before = sb.data_source().await;
    let path = format!("/v1/data_sources/{DATA_SOURCE}");
    for body in [None, Some("{not json".to_string())] {
        let r = sb
            .send(
                reqwest::Method::PATCH,
                &path,
                Some(TOKEN),
                Some(V2025),
                body,
            )
            .await
            .unwrap();
        r.error(400, "invalid_json");
    }
    let m = sb.patch_ds(json!([1])).await.error(400, "validation_error");
    assert!(m.contains("body should be an object"), "{m}");
    let r = sb.patch_ds(json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["properties"], before["properties"]);
}

#[tokio::test]
async fn title_and_icon_are_applied() {
    let sb = demo().await;
    let body = json!({"title": [{"text": {"content": "Tasks 2"}}], "icon": {"emoji": "📋"}});
    let r = sb.patch_ds(body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ds = sb.data_source().await;
    assert_eq!(ds["title"][0]["plain_text"], "Tasks 2");
    assert_eq!(ds["icon"], json!({"type": "emoji", "emoji": "📋"}));
}

// ---- the ceiling ----

#[tokio::test]
async fn the_schema_size_ceiling_refuses_writes_that_add_options_past_it() {
    // The demo schema holds 11 options (3 status, 3 priority, 5 tags).
    let sb = start(Options {
        max_schema_options: Some(13),
        ..Options::new(Seed::demo())
    })
    .await;
    let before = sb.data_source().await;
    let three = keep_all_and(
        &before,
        "Tags",
        json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]),
    );
    let m = sb
        .patch_ds(select_body("Tags", "multi_select", three))
        .await
        .error(400, "validation_error");
    assert_eq!(m, "Your database schema has exceeded the maximum size");
    assert_eq!(sb.data_source().await, before);

    let two = keep_all_and(&before, "Tags", json!([{"name": "a"}, {"name": "b"}]));
    let r = sb.patch_ds(select_body("Tags", "multi_select", two)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let full = r.json();

    let tags = |names: &[&str]| {
        json!({"properties": {"Tags": {"multi_select":
        names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}}})
    };
    let m = sb
        .patch(PAGE, tags(&["brand-new"]))
        .await
        .error(400, "validation_error");
    assert_eq!(m, "Your database schema has exceeded the maximum size");
    assert_eq!(sb.data_source().await, full);
    assert_eq!(sb.patch(PAGE, tags(&["a", "b"])).await.status, 200);

    // Swapping one option for another stays at the ceiling.
    let mut swap = json!([{"name": "c"}]);
    for name in ["backend", "frontend", "docs", "infra", "a", "b"] {
        swap.as_array_mut().unwrap().push(json!({"name": name}));
    }
    let r = sb.patch_ds(select_body("Tags", "multi_select", swap)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!names(&r.json(), "Tags").contains(&"urgent".to_string()));
}

// ---- faults, versions, counters ----

#[tokio::test]
async fn a_504_after_apply_applies_the_schema_change() {
    let sb = faulty(FaultKind::E504Applied).await;
    let before = sb.data_source().await;
    let list = keep_all_and(&before, "Priority", json!([{"name": "Critical"}]));
    sb.patch_ds(select_body("Priority", "select", list))
        .await
        .error(504, "gateway_timeout");
    let after = sb.data_source().await;
    assert_eq!(
        names(&after, "Priority"),
        ["Low", "Medium", "High", "Critical"]
    );
    let stats = sb.handle.stats();
    assert_eq!(stats.schema_updates.get(DATA_SOURCE), Some(&1));
    assert_eq!(stats.faults.get(&FaultKind::E504Applied), Some(&1));
    let log = sb.handle.requests();
    let patch = log.iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(patch.path, format!("/v1/data_sources/{DATA_SOURCE}"));
    assert_eq!(
        (patch.status, patch.fault),
        (Some(504), Some(FaultKind::E504Applied))
    );
}

#[tokio::test]
async fn other_faults_on_a_schema_patch_apply_nothing() {
    for kind in [
        FaultKind::Conflict,
        FaultKind::E500,
        FaultKind::E502,
        FaultKind::E503,
        FaultKind::E529,
    ] {
        let sb = faulty(kind).await;
        let before = sb.data_source().await;
        let list = keep_all_and(&before, "Priority", json!([{"name": "Critical"}]));
        let r = sb.patch_ds(select_body("Priority", "select", list)).await;
        assert!(r.status >= 409, "{kind:?}: {} {}", r.status, r.text);
        assert_eq!(sb.data_source().await, before, "{kind:?}");
        let stats = sb.handle.stats();
        assert!(stats.schema_updates.is_empty(), "{kind:?}");
        assert_eq!(stats.faults.get(&kind), Some(&1), "{kind:?}");
    }
}

#[tokio::test]
async fn a_page_write_uses_the_new_options() {
    let sb = demo().await;
    let page_body = json!({"properties": {
        "Status": {"status": {"name": "Blocked"}},
        "Priority": {"select": {"name": "Critical"}},
        "Tags": {"multi_select": [{"name": "security"}]},
    }});
    sb.patch(PAGE, page_body.clone())
        .await
        .error(400, "validation_error");
    let before = sb.data_source().await;
    let body = json!({"properties": {
        "Status": {"status": {"options": keep_all_and(&before, "Status",
            json!([{"name": "Blocked", "group": "in_progress"}]))}},
        "Priority": {"select": {"options": keep_all_and(&before, "Priority",
            json!([{"name": "Critical", "color": "pink"}]))}},
        "Tags": {"multi_select": {"options": keep_all_and(&before, "Tags",
            json!([{"name": "security", "color": "red"}]))}},
    }});
    assert_eq!(sb.patch_ds(body).await.status, 200);
    let schema = sb.data_source().await;
    let r = sb.patch(PAGE, page_body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let page = sb.get(&format!("/v1/pages/{PAGE}")).await.json();
    let props = &page["properties"];
    assert_eq!(
        props["Status"]["status"]["id"],
        option_id(&schema, "Status", "Blocked").as_str()
    );
    let critical = option(&schema, "Priority", "Critical");
    assert_eq!(
        props["Priority"]["select"],
        json!({"id": critical["id"], "name": "Critical", "color": "pink"})
    );
    assert_eq!(props["Tags"]["multi_select"][0]["color"], "red");
    assert_eq!(
        sb.data_source().await["properties"],
        schema["properties"],
        "no option was added"
    );
}

#[tokio::test]
async fn under_2022_06_28_a_schema_patch_gets_what_the_get_route_gets() {
    let sb = demo().await;
    let before = sb.data_source().await;
    let path = format!("/v1/data_sources/{DATA_SOURCE}");
    let get = sb.get_v(&path, V2022).await;
    let list = keep_all_and(&before, "Priority", json!([{"name": "Critical"}]));
    let patch = sb
        .patch_ds_v(V2022, select_body("Priority", "select", list))
        .await;
    let m = patch.error(400, "invalid_request_url");
    assert_eq!(m, get.error(400, "invalid_request_url"));
    assert_eq!(sb.data_source().await, before);
    let r = sb.patch_ds_v(V2026, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json().get("archived").is_none(),
        "2026-03-11 has no archived"
    );
}

#[tokio::test]
async fn stats_count_schema_patches_and_the_updates_applied() {
    let sb = demo().await;
    let before = sb.data_source().await;
    let list = keep_all_and(&before, "Priority", json!([{"name": "Critical"}]));
    assert_eq!(
        sb.patch_ds(select_body("Priority", "select", list))
            .await
            .status,
        200
    );
    sb.patch_ds(json!({"nope": 1}))
        .await
        .error(400, "validation_error");
    assert_eq!(sb.patch(PAGE, status_body("Done")).await.status, 200);
    let stats = sb
        .send(reqwest::Method::GET, "/__sandbox/stats", None, None, None)
        .await
        .unwrap()
        .json();
    assert_eq!(stats["schema_patches"], 2);
    assert_eq!(stats["schema_updates"], json!({ DATA_SOURCE: 1 }));
    assert_eq!(stats["applied"], json!({ PAGE: 1 }));
    let log = sb.handle.requests();
    let patches: Vec<(Option<u16>, &str)> = log
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.starts_with("/v1/data_sources/"))
        .map(|r| (r.status, r.path.as_str()))
        .collect();
    let path = format!("/v1/data_sources/{DATA_SOURCE}");
    assert_eq!(
        patches,
        [(Some(200), path.as_str()), (Some(400), path.as_str())]
    );
}
