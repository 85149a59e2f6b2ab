//! The sandbox served in-process on 127.0.0.1:0 and driven over HTTP with reqwest: every check,
//! every fault kind, rate limiting, pagination, version shapes and the introspection endpoints.

use notion_sandbox::{self as sandbox, FailFirst, FaultKind, FaultSpec, Handle, Options, Seed};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The API changes of 2026.
mod api_2026;
/// POST /v1/pages.
mod create;
/// PATCH /v1/data_sources/{id}: option changes.
mod schema;
/// /v1/file_uploads: create, send, complete, retrieve, list; attaching uploads.
mod uploads;

const TOKEN: &str = "secret_sandbox";
const V2022: &str = "2022-06-28";
const V2025: &str = "2025-09-03";
const V2026: &str = "2026-03-11";
const DATABASE: &str = "6513270e-269e-4d37-b2a7-4de452e6b438";
const DATA_SOURCE: &str = "d23f0824-128b-4f33-8c5c-7fd0a6a3a450";
const PAGE: &str = "8d116ece-1738-47d9-bd9c-172411e20b8f";
const PAGE2: &str = "90c192cf-d3ac-44af-8f21-ddb66cad4a26";
const ADA: &str = "9531985d-5d9d-49f8-9818-e811892f902b";
const MISSING: &str = "00000000-1111-4222-8333-444444444444";

struct Sandbox {
    handle: Handle,
    http: reqwest::Client,
}

struct Reply {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    async fn read(resp: reqwest::Response) -> Result<Reply, reqwest::Error> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        Ok(Reply {
            status,
            headers,
            text,
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Assert a Notion error with this status and code; return its message.
    fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["object"], "error", "{body}");
        assert_eq!(body["status"], status, "{body}");
        assert_eq!(body["code"], code, "{body}");
        let rid = self.headers["x-notion-request-id"].to_str().unwrap();
        assert_eq!(body["request_id"], rid, "{body}");
        body["message"].as_str().unwrap().to_string()
    }
}

async fn start(opts: Options) -> Sandbox {
    let handle = sandbox::start(opts).await.expect("sandbox starts");
    Sandbox {
        handle,
        http: reqwest::Client::new(),
    }
}

async fn demo() -> Sandbox {
    start(Options::new(Seed::demo())).await
}

impl Sandbox {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.handle.base_url(), path)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        version: Option<&str>,
        body: Option<String>,
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(v) = version {
            req = req.header("Notion-Version", v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        Reply::read(req.send().await?).await
    }

    async fn patch_v(&self, page: &str, version: &str, body: Value) -> Reply {
        self.send(
            reqwest::Method::PATCH,
            &format!("/v1/pages/{page}"),
            Some(TOKEN),
            Some(version),
            Some(body.to_string()),
        )
        .await
        .expect("PATCH answered")
    }

    async fn patch(&self, page: &str, body: Value) -> Reply {
        self.patch_v(page, V2025, body).await
    }

    async fn get_v(&self, path: &str, version: &str) -> Reply {
        self.send(reqwest::Method::GET, path, Some(TOKEN), Some(version), None)
            .await
            .expect("GET answered")
    }

    async fn get(&self, path: &str) -> Reply {
        self.get_v(path, V2025).await
    }

    fn stored(&self, page: &str) -> Value {
        self.handle.page(page).expect("page is stored")
    }
}

fn status_body(name: &str) -> Value {
    json!({"properties": {"Status": {"status": {"name": name}}}})
}

fn ids(values: &Value) -> Vec<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

// ---- token, version, JSON, ids ----

#[tokio::test]
async fn wrong_or_missing_token_is_401_unauthorized() {
    let sb = demo().await;
    for token in [None, Some("secret_other")] {
        let r = sb
            .send(
                reqwest::Method::GET,
                &format!("/v1/pages/{PAGE}"),
                token,
                Some(V2025),
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.error(401, "unauthorized"), "API token is invalid.");
    }
    let r = sb
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/pages/{PAGE}"),
            Some("nope"),
            Some(V2025),
            Some(status_body("Done").to_string()),
        )
        .await
        .unwrap();
    r.error(401, "unauthorized");
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "In progress"
    );
}

#[tokio::test]
async fn custom_token_replaces_the_default() {
    let sb = start(Options {
        token: Some("ntn_test".into()),
        ..Options::new(Seed::demo())
    })
    .await;
    let r = sb.get(&format!("/v1/pages/{PAGE}")).await;
    r.error(401, "unauthorized");
    let r = sb
        .send(
            reqwest::Method::GET,
            &format!("/v1/pages/{PAGE}"),
            Some("ntn_test"),
            Some(V2025),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn missing_version_is_missing_version_and_unknown_is_validation_error() {
    let sb = demo().await;
    let r = sb
        .send(
            reqwest::Method::GET,
            &format!("/v1/pages/{PAGE}"),
            Some(TOKEN),
            None,
            None,
        )
        .await
        .unwrap();
    let m = r.error(400, "missing_version");
    assert!(m.contains("Notion-Version header should be defined"), "{m}");
    let r = sb.get_v(&format!("/v1/pages/{PAGE}"), "2021-05-13").await;
    let m = r.error(400, "validation_error");
    assert!(m.contains("instead was `\"2021-05-13\"`"), "{m}");
    for v in [V2022, V2025, V2026] {
        assert_eq!(
            sb.get_v(&format!("/v1/pages/{PAGE}"), v).await.status,
            200,
            "{v}"
        );
    }
}

#[tokio::test]
async fn body_that_is_not_json_is_invalid_json() {
    let sb = demo().await;
    for body in ["{\"properties\": ", "", "not json"] {
        let r = sb
            .send(
                reqwest::Method::PATCH,
                &format!("/v1/pages/{PAGE}"),
                Some(TOKEN),
                Some(V2025),
                Some(body.into()),
            )
            .await
            .unwrap();
        assert_eq!(r.error(400, "invalid_json"), "Error parsing JSON body.");
    }
    let r = sb.patch(PAGE, json!([1, 2])).await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body should be an object, instead was `[1,2]`."
    );
}

#[tokio::test]
async fn unknown_page_is_object_not_found_in_notions_words() {
    let sb = demo().await;
    let r = sb.patch(MISSING, status_body("Done")).await;
    assert_eq!(
        r.error(404, "object_not_found"),
        format!("Could not find page with ID: {MISSING}. Make sure the relevant pages and databases are shared with your integration.")
    );
    let r = sb.get(&format!("/v1/pages/{MISSING}")).await;
    r.error(404, "object_not_found");
    let r = sb.get("/v1/pages/not-a-page").await;
    assert_eq!(
        r.error(400, "validation_error"),
        "path failed validation: path.page_id should be a valid uuid, instead was `\"not-a-page\"`."
    );
}

#[tokio::test]
async fn page_ids_are_accepted_dashed_or_undashed() {
    let sb = demo().await;
    let undashed = PAGE.replace('-', "").to_uppercase();
    let r = sb.patch(&undashed, status_body("Done")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["id"], PAGE);
    assert_eq!(
        sb.get(&format!("/v1/pages/{undashed}")).await.json()["id"],
        PAGE
    );
    assert_eq!(sb.handle.requests()[0].page_id.as_deref(), Some(PAGE));
}

#[tokio::test]
async fn unknown_route_is_invalid_request_url() {
    let sb = demo().await;
    sb.get("/v1/blocks/x")
        .await
        .error(400, "invalid_request_url");
    let r = sb
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/pages/{PAGE}"),
            Some(TOKEN),
            Some(V2025),
            None,
        )
        .await
        .unwrap();
    r.error(400, "invalid_request_url");
}

// ---- a valid update ----

#[tokio::test]
async fn valid_update_applies_and_returns_the_page() {
    let sb = demo().await;
    let before = sb.stored(PAGE);
    let body = json!({
        "properties": {
            "Name": {"title": [{"text": {"content": "Migrate billing to Stripe (v2)"}}]},
            "Status": {"status": {"name": "Done"}},
            "Priority": {"select": {"name": "Low"}},
            "Tags": {"multi_select": [{"name": "docs"}, {"name": "infra"}]},
            "Due": {"date": {"start": "2027-01-15", "end": null}},
            "Done": {"checkbox": true},
            "Estimate": {"type": "number", "number": 21.5},
            "Link": {"url": "https://example.com/x"},
            "Owner": {"people": [{"object": "user", "id": ADA}]},
            "Blocked by": {"relation": [{"id": PAGE2}]},
            "Notes": {"rich_text": [{"type": "text", "text": {"content": "bold", "link": {"url": "https://e.com"}}, "annotations": {"bold": true}}]},
            "Contact": {"email": "a@b.c"},
            "Phone": {"phone_number": null},
            "Attachments": {"files": [{"name": "spec.pdf", "external": {"url": "https://example.com/spec.pdf"}}]}
        },
        "icon": {"type": "emoji", "emoji": "✅"},
        "cover": {"external": {"url": "https://example.com/cover.png"}}
    });
    let r = sb.patch(PAGE, body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.headers.contains_key("x-notion-request-id"));
    let page = r.json();
    assert_eq!(page["object"], "page");
    assert_eq!(
        page["parent"],
        json!({"type": "data_source_id", "data_source_id": DATA_SOURCE, "database_id": DATABASE})
    );
    let p = &page["properties"];
    assert_eq!(
        p["Name"]["title"][0]["plain_text"],
        "Migrate billing to Stripe (v2)"
    );
    assert_eq!(p["Name"]["id"], "title");
    assert_eq!(p["Status"]["status"]["name"], "Done");
    assert_eq!(p["Status"]["id"], "a%3Fb");
    assert_eq!(p["Priority"]["select"]["name"], "Low");
    assert_eq!(p["Priority"]["select"]["color"], "gray");
    let tags: Vec<&str> = p["Tags"]["multi_select"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["docs", "infra"]);
    assert_eq!(
        p["Due"]["date"],
        json!({"start": "2027-01-15", "end": null, "time_zone": null})
    );
    assert_eq!(p["Done"]["checkbox"], true);
    assert_eq!(p["Estimate"]["number"], 21.5);
    assert_eq!(p["Link"]["url"], "https://example.com/x");
    assert_eq!(p["Owner"]["people"][0]["name"], "Ada Lovelace");
    assert_eq!(
        p["Owner"]["people"][0]["person"]["email"],
        "ada@example.com"
    );
    assert_eq!(ids(&p["Blocked by"]["relation"]), [PAGE2]);
    assert_eq!(p["Blocked by"]["has_more"], false);
    assert_eq!(p["Notes"]["rich_text"][0]["annotations"]["bold"], true);
    assert_eq!(p["Notes"]["rich_text"][0]["href"], "https://e.com");
    assert_eq!(p["Contact"]["email"], "a@b.c");
    assert_eq!(p["Phone"]["phone_number"], Value::Null);
    assert_eq!(
        p["Attachments"]["files"][0]["external"]["url"],
        "https://example.com/spec.pdf"
    );
    assert_eq!(page["icon"], json!({"type": "emoji", "emoji": "✅"}));
    assert_eq!(
        page["cover"],
        json!({"type": "external", "external": {"url": "https://example.com/cover.png"}})
    );
    assert_eq!(page["archived"], false);
    assert_eq!(page["in_trash"], false);
    assert!(
        page["last_edited_time"].as_str().unwrap() > before["last_edited_time"].as_str().unwrap()
    );
    // The store holds what the response showed.
    let stored = sb.stored(PAGE);
    assert_eq!(stored["properties"]["Status"]["status"]["name"], "Done");
    assert_eq!(stored["properties"]["Notes"], p["Notes"]);
    assert_eq!(sb.handle.stats().applied.get(PAGE), Some(&1));
    // Read-only values are kept and shown.
    assert_eq!(
        p["Task ID"]["unique_id"],
        json!({"prefix": "TASK", "number": 1})
    );
    assert_eq!(
        p["Created"]["created_time"],
        before["properties"]["Created"]["created_time"]
    );
}

#[tokio::test]
async fn clearing_values_with_null_and_empty_arrays() {
    let sb = demo().await;
    let r = sb
        .patch(PAGE, json!({"properties": {"Link": {"url": null}, "Tags": {"multi_select": []}, "Due": {"date": null}, "Priority": {"select": null}}, "icon": null}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let p = sb.stored(PAGE);
    assert_eq!(p["properties"]["Link"]["url"], Value::Null);
    assert_eq!(p["properties"]["Tags"]["multi_select"], json!([]));
    assert_eq!(p["properties"]["Due"]["date"], Value::Null);
    assert_eq!(p["properties"]["Priority"]["select"], Value::Null);
    assert_eq!(p["icon"], Value::Null);
}

#[tokio::test]
async fn properties_are_addressed_by_name_or_id() {
    let sb = demo().await;
    // Encoded id, decoded id, name.
    let r = sb
        .patch(
            PAGE,
            json!({"properties": {"a%3Fb": {"status": {"name": "Done"}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "Done"
    );
    let r = sb.patch(PAGE, json!({"properties": {"a?b": {"status": {"name": "Not started"}}, "title": {"title": [{"text": {"content": "Renamed"}}]}}})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stored = sb.stored(PAGE);
    assert_eq!(
        stored["properties"]["Status"]["status"]["name"],
        "Not started"
    );
    assert_eq!(
        stored["properties"]["Name"]["title"][0]["plain_text"],
        "Renamed"
    );
}

// ---- validation ----

#[tokio::test]
async fn text_longer_than_2000_utf16_units_is_refused_with_the_path() {
    let sb = demo().await;
    // 1000 emoji are 2000 UTF-16 code units: accepted.
    let ok = "😀".repeat(1000);
    let r = sb
        .patch(
            PAGE,
            json!({"properties": {"Notes": {"rich_text": [{"text": {"content": ok}}]}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let long = "é".repeat(3659);
    let r = sb.patch(PAGE, json!({"properties": {"Notes": {"rich_text": [{"text": {"content": "x"}}, {"text": {"content": long}}]}}})).await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.properties.Notes.rich_text[1].text.content.length should be ≤ `2000`, instead was `3659`."
    );
    let r = sb.patch(PAGE, json!({"properties": {"Notes": {"rich_text": [{"text": {"content": "😀".repeat(1001)}}]}}})).await;
    assert!(r
        .error(400, "validation_error")
        .ends_with("instead was `2002`."));
}

#[tokio::test]
async fn arrays_longer_than_100_are_refused() {
    let sb = demo().await;
    let items: Vec<Value> = (0..101)
        .map(|_| json!({"text": {"content": "a"}}))
        .collect();
    let r = sb
        .patch(PAGE, json!({"properties": {"Name": {"title": items}}}))
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.properties.Name.title.length should be ≤ `100`, instead was `101`."
    );
    let tags: Vec<Value> = (0..101).map(|i| json!({"name": format!("t{i}")})).collect();
    let r = sb
        .patch(
            PAGE,
            json!({"properties": {"Tags": {"multi_select": tags}}}),
        )
        .await;
    assert!(r
        .error(400, "validation_error")
        .contains("body.properties.Tags.multi_select.length should be ≤ `100`"));
}

#[tokio::test]
async fn url_email_and_phone_limits() {
    let sb = demo().await;
    let url = format!("https://e.com/{}", "a".repeat(1987));
    assert_eq!(url.len(), 2001);
    let r = sb
        .patch(PAGE, json!({"properties": {"Link": {"url": url}}}))
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.properties.Link.url.length should be ≤ `2000`, instead was `2001`."
    );
    let r = sb
        .patch(
            PAGE,
            json!({"properties": {"Contact": {"email": format!("{}@e.co", "a".repeat(96))}}}),
        )
        .await;
    assert!(r
        .error(400, "validation_error")
        .contains("body.properties.Contact.email.length should be ≤ `100`, instead was `101`"));
    let r = sb
        .patch(
            PAGE,
            json!({"properties": {"Phone": {"phone_number": "1".repeat(101)}}}),
        )
        .await;
    assert!(r
        .error(400, "validation_error")
        .contains("body.properties.Phone.phone_number.length should be ≤ `100`"));
    let r = sb
        .patch(PAGE, json!({"properties": {"Link": {"url": ""}}}))
        .await;
    assert!(r
        .error(400, "validation_error")
        .contains("body.properties.Link.url.length should be ≥ `1`, instead was `0`"));
    let r = sb
        .patch(
            PAGE,
            json!({"properties": {"Phone": {"phone_number": "1".repeat(100)}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn shape_errors_name_the_path() {
    let sb = demo().await;
    let cases = [
        (json!({"properties": {"Estimate": {"number": "5"}}}), "body failed validation: body.properties.Estimate.number should be a number or `null`, instead was `\"5\"`."),
        (json!({"properties": {"Done": {"checkbox": "yes"}}}), "body failed validation: body.properties.Done.checkbox should be a boolean, instead was `\"yes\"`."),
        (json!({"properties": {"Status": {}}}), "body failed validation: body.properties.Status.status should be defined, instead was `undefined`."),
        (json!({"properties": {"Due": {"date": {"start": "soon"}}}}), "body failed validation: body.properties.Due.date.start should be an ISO 8601 date or date-time, instead was `\"soon\"`."),
        (json!({"properties": {"Due": {"date": {"end": "2026-01-01"}}}}), "body failed validation: body.properties.Due.date.start should be defined, instead was `undefined`."),
        (json!({"properties": {"Priority": {"select": {"name": "Low", "extra": 1}}}}), "body failed validation: body.properties.Priority.select.extra should be not present, instead was `1`."),
        (json!({"properties": {"Owner": {"people": [{"id": MISSING}]}}}), "body failed validation: body.properties.Owner.people[0].id should be the id of a user in the workspace, instead was `\"00000000-1111-4222-8333-444444444444\"`."),
        (json!({"properties": {"Blocked by": {"relation": [{"id": MISSING}]}}}), "body failed validation: body.properties.Blocked by.relation[0].id should be the id of an existing page, instead was `\"00000000-1111-4222-8333-444444444444\"`."),
        (json!({"properties": {"Attachments": {"files": [{"external": {"url": "https://e.com/a"}}]}}}), "body failed validation: body.properties.Attachments.files[0].name should be defined, instead was `undefined`."),
        (json!({"icon": {"emoji": 5}}), "body failed validation: body.icon.emoji should be a string, instead was `5`."),
        (json!({"in_trash": "no"}), "body failed validation: body.in_trash should be a boolean, instead was `\"no\"`."),
        (json!({"parent": {}}), "body failed validation: body.parent should be not present, instead was `{}`."),
        (json!({"properties": {"Notes": {"rich_text": [{"text": {"content": "a"}, "annotations": {"color": "teal"}}]}}}), "body failed validation: body.properties.Notes.rich_text[0].annotations.color should be one of"),
    ];
    for (body, expected) in cases {
        let r = sb.patch(PAGE, body.clone()).await;
        let m = r.error(400, "validation_error");
        assert!(
            m.starts_with(expected),
            "{body}\n got: {m}\nwant: {expected}"
        );
    }
}

#[tokio::test]
async fn wrong_value_type_for_the_property_is_named() {
    let sb = demo().await;
    let r = sb
        .patch(
            PAGE,
            json!({"properties": {"Status": {"select": {"name": "Done"}}}}),
        )
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "Status is expected to be status."
    );
    let r = sb
        .patch(
            PAGE,
            json!({"properties": {"Tags": {"type": "select", "select": {"name": "docs"}}}}),
        )
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "Tags is expected to be multi_select."
    );
}

#[tokio::test]
async fn unknown_property_is_refused() {
    let sb = demo().await;
    let r = sb
        .patch(
            PAGE,
            json!({"properties": {"Stauts": {"status": {"name": "Done"}}}}),
        )
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "Stauts is not a property that exists."
    );
}

#[tokio::test]
async fn status_option_must_exist() {
    let sb = demo().await;
    let r = sb.patch(PAGE, status_body("Blocked")).await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.properties.Status.status.name should be one of the options of `Status` (\"Not started\", \"In progress\", \"Done\"), instead was `\"Blocked\"`."
    );
    let ds = sb
        .get(&format!("/v1/data_sources/{DATA_SOURCE}"))
        .await
        .json();
    assert_eq!(
        ds["properties"]["Status"]["status"]["options"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn unknown_select_options_are_added_to_the_schema() {
    let sb = demo().await;
    let r = sb
        .patch(PAGE, json!({"properties": {"Priority": {"select": {"name": "Critical", "color": "pink"}}, "Tags": {"multi_select": [{"name": "security"}, {"name": "backend"}, {"name": "security"}]}}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let p = r.json()["properties"].clone();
    assert_eq!(p["Priority"]["select"]["name"], "Critical");
    assert_eq!(p["Priority"]["select"]["color"], "pink");
    assert_eq!(p["Tags"]["multi_select"].as_array().unwrap().len(), 2);
    let ds = sb
        .get(&format!("/v1/data_sources/{DATA_SOURCE}"))
        .await
        .json();
    let names = |prop: &str, kind: &str| -> Vec<String> {
        ds["properties"][prop][kind]["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("Priority", "select"),
        ["Low", "Medium", "High", "Critical"]
    );
    assert_eq!(
        names("Tags", "multi_select"),
        ["backend", "frontend", "docs", "infra", "urgent", "security"]
    );
    // The new option has an id that works on the next request.
    let id = p["Priority"]["select"]["id"].as_str().unwrap();
    let r = sb
        .patch(
            PAGE2,
            json!({"properties": {"Priority": {"select": {"id": id}}}}),
        )
        .await;
    assert_eq!(
        r.json()["properties"]["Priority"]["select"]["name"],
        "Critical"
    );
    // Commas are not valid in option names.
    let r = sb
        .patch(
            PAGE,
            json!({"properties": {"Priority": {"select": {"name": "a,b"}}}}),
        )
        .await;
    assert!(r
        .error(400, "validation_error")
        .contains("body.properties.Priority.select.name should be an option name without commas"));
}

#[tokio::test]
async fn read_only_properties_are_refused() {
    let sb = demo().await;
    for (name, kind, value) in [
        ("Score", "formula", json!({"formula": {"number": 1}})),
        (
            "Created",
            "created_time",
            json!({"created_time": "2026-01-01T00:00:00Z"}),
        ),
        ("Task ID", "unique_id", json!({"unique_id": {"number": 5}})),
    ] {
        let r = sb.patch(PAGE, json!({"properties": {name: value}})).await;
        assert_eq!(
            r.error(400, "validation_error"),
            format!("{name} is a {kind} property, which cannot be updated via the API.")
        );
    }
}

#[tokio::test]
async fn a_body_with_one_bad_property_changes_nothing() {
    let sb = demo().await;
    let before = sb.handle.state();
    let r = sb
        .patch(
            PAGE,
            json!({
                "properties": {
                    "Status": {"status": {"name": "Done"}},
                    "Priority": {"select": {"name": "Brand new option"}},
                    "Name": {"title": [{"text": {"content": "changed"}}]},
                    "Estimate": {"number": "not a number"}
                },
                "icon": {"emoji": "🔥"},
                "in_trash": true
            }),
        )
        .await;
    r.error(400, "validation_error");
    assert_eq!(sb.handle.state(), before);
    assert!(sb.handle.stats().applied.is_empty());
}

#[tokio::test]
async fn version_rules_for_archived_is_locked_template_and_erase_content() {
    let sb = demo().await;
    let r = sb.patch_v(PAGE, V2026, json!({"archived": true})).await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.archived should be not present, instead was `true`."
    );
    for key in ["is_locked", "erase_content"] {
        let r = sb.patch_v(PAGE, V2022, json!({ key: true })).await;
        assert_eq!(
            r.error(400, "validation_error"),
            format!(
                "body failed validation: body.{key} should be not present, instead was `true`."
            )
        );
    }
    let r = sb
        .patch_v(PAGE, V2022, json!({"template": {"type": "default"}}))
        .await;
    assert!(r
        .error(400, "validation_error")
        .starts_with("body failed validation: body.template should be not present"));
    // Allowed where the version has them.
    let r = sb.patch_v(PAGE, V2026, json!({"is_locked": true, "template": {"type": "template_id", "template_id": MISSING}, "erase_content": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["is_locked"], true);
    assert!(r.json().get("archived").is_none());
    let r = sb
        .patch_v(PAGE, V2025, json!({"template": {"type": "none"}}))
        .await;
    assert!(r
        .error(400, "validation_error")
        .contains("body.template.type should be"));
    // archived under older versions trashes the page.
    let r = sb.patch_v(PAGE, V2022, json!({"archived": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["archived"], true);
    assert_eq!(
        r.json()["parent"],
        json!({"type": "database_id", "database_id": DATABASE})
    );
    assert_eq!(sb.stored(PAGE)["in_trash"], true);
}

#[tokio::test]
async fn a_page_in_trash_refuses_edits_until_restored() {
    let sb = demo().await;
    let r = sb.patch(PAGE, json!({"in_trash": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["in_trash"], true);
    let r = sb.patch(PAGE, status_body("Done")).await;
    assert_eq!(
        r.error(400, "validation_error"),
        "Can't edit block that is archived. You must unarchive the block before editing."
    );
    let r = sb
        .patch(PAGE, json!({"icon": {"emoji": "🗑"}, "in_trash": true}))
        .await;
    r.error(400, "validation_error");
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "In progress"
    );
    // Restoring and editing in one request works.
    let r = sb
        .patch(
            PAGE,
            json!({"in_trash": false, "properties": {"Status": {"status": {"name": "Done"}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stored = sb.stored(PAGE);
    assert_eq!(stored["in_trash"], false);
    assert_eq!(stored["properties"]["Status"]["status"]["name"], "Done");
}

#[tokio::test]
async fn a_seeded_trashed_page_is_read_but_not_edited() {
    let mut seed = Seed::demo();
    seed.pages[0].in_trash = true;
    let sb = start(Options::new(seed)).await;
    let r = sb.get(&format!("/v1/pages/{PAGE}")).await;
    assert_eq!(r.json()["in_trash"], true);
    sb.patch(PAGE, status_body("Done"))
        .await
        .error(400, "validation_error");
    assert_eq!(sb.patch(PAGE, json!({"in_trash": false})).await.status, 200);
    assert_eq!(sb.patch(PAGE, status_body("Done")).await.status, 200);
}

// ---- reads ----

#[tokio::test]
async fn page_read_shows_25_items_and_the_property_item_endpoint_pages_through_all() {
    let sb = start(Options::new(Seed::generate(40))).await;
    let page = Seed::generated_page_id(1);
    let related: Vec<String> = (2..=31).map(Seed::generated_page_id).collect();
    let relation: Vec<Value> = related.iter().map(|id| json!({ "id": id })).collect();
    let title: Vec<Value> = (0..30)
        .map(|i| json!({"text": {"content": format!("part {i} ")}}))
        .collect();
    let r = sb
        .patch(
            &page,
            json!({"properties": {"Blocked by": {"relation": relation}, "Name": {"title": title}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for reply in [r, sb.get(&format!("/v1/pages/{page}")).await] {
        let p = reply.json()["properties"].clone();
        assert_eq!(ids(&p["Blocked by"]["relation"]), related[..25]);
        assert_eq!(p["Blocked by"]["has_more"], true);
        assert_eq!(p["Name"]["title"].as_array().unwrap().len(), 25);
    }
    // The store keeps all 30.
    assert_eq!(
        sb.stored(&page)["properties"]["Blocked by"]["relation"]
            .as_array()
            .unwrap()
            .len(),
        30
    );

    // Pages of 12: 12 + 12 + 6, by property id (encoded in the path) or by name.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/v1/pages/{page}/properties/B%255Ebk?page_size=12");
        if let Some(c) = &cursor {
            path.push_str(&format!("&start_cursor={c}"));
        }
        let list = sb.get(&path).await.json();
        assert_eq!(list["object"], "list");
        assert_eq!(list["type"], "property_item");
        assert_eq!(list["property_item"]["type"], "relation");
        assert_eq!(list["property_item"]["id"], "B%5Ebk");
        for item in list["results"].as_array().unwrap() {
            assert_eq!(item["object"], "property_item");
            assert_eq!(item["type"], "relation");
            seen.push(item["relation"]["id"].as_str().unwrap().to_string());
        }
        pages += 1;
        if list["has_more"] == false {
            assert_eq!(list["next_cursor"], Value::Null);
            break;
        }
        cursor = Some(list["next_cursor"].as_str().unwrap().to_string());
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, related);
    let by_name = sb
        .get(&format!("/v1/pages/{page}/properties/Blocked%20by"))
        .await
        .json();
    assert_eq!(by_name["results"].as_array().unwrap().len(), 30);
    assert_eq!(by_name["has_more"], false);
    let titles = sb
        .get(&format!("/v1/pages/{page}/properties/title"))
        .await
        .json();
    assert_eq!(titles["results"].as_array().unwrap().len(), 30);
    assert_eq!(titles["results"][29]["title"]["plain_text"], "part 29 ");
    // A non-list property is one property item.
    let status = sb
        .get(&format!("/v1/pages/{page}/properties/a%3Fb"))
        .await
        .json();
    assert_eq!(status["object"], "property_item");
    assert_eq!(status["type"], "status");
    assert_eq!(status["status"]["name"], "In progress");
    // Bad cursor, bad size, unknown property.
    sb.get(&format!(
        "/v1/pages/{page}/properties/title?start_cursor=zzz"
    ))
    .await
    .error(400, "validation_error");
    sb.get(&format!("/v1/pages/{page}/properties/title?page_size=101"))
        .await
        .error(400, "validation_error");
    sb.get(&format!("/v1/pages/{page}/properties/nope"))
        .await
        .error(404, "object_not_found");
}

#[tokio::test]
async fn database_shape_depends_on_the_version() {
    let sb = demo().await;
    let old = sb
        .get_v(&format!("/v1/databases/{DATABASE}"), V2022)
        .await
        .json();
    assert_eq!(old["object"], "database");
    assert_eq!(old["properties"]["Status"]["type"], "status");
    assert_eq!(
        old["properties"]["Blocked by"]["relation"]["data_source_id"],
        DATA_SOURCE
    );
    assert!(old.get("data_sources").is_none());
    for v in [V2025, V2026] {
        let new = sb
            .get_v(&format!("/v1/databases/{DATABASE}"), v)
            .await
            .json();
        assert_eq!(
            new["data_sources"],
            json!([{"id": DATA_SOURCE, "name": "Tasks"}])
        );
        assert!(new.get("properties").is_none(), "{v}");
    }
    let ds = sb
        .get(&format!("/v1/data_sources/{DATA_SOURCE}"))
        .await
        .json();
    assert_eq!(ds["object"], "data_source");
    assert_eq!(
        ds["parent"],
        json!({"type": "database_id", "database_id": DATABASE})
    );
    assert_eq!(ds["properties"]["Name"]["id"], "title");
    assert_eq!(
        ds["properties"]["Status"]["status"]["groups"][2]["name"],
        "Complete"
    );
    assert_eq!(ds.get("archived"), Some(&json!(false)));
    assert!(sb
        .get_v(&format!("/v1/data_sources/{DATA_SOURCE}"), V2026)
        .await
        .json()
        .get("archived")
        .is_none());
    sb.get_v(&format!("/v1/data_sources/{DATA_SOURCE}"), V2022)
        .await
        .error(400, "invalid_request_url");
    sb.get(&format!("/v1/databases/{MISSING}"))
        .await
        .error(404, "object_not_found");
    sb.get(&format!("/v1/data_sources/{DATABASE}"))
        .await
        .error(404, "object_not_found");
}

/// The id of the second data source of [`demo_with_two_data_sources`].
const SECOND_DATA_SOURCE: &str = "11111111-2222-4333-8444-555555555555";

/// The demo seed with a second data source, "Archive", in its database: the first's schema (its
/// relation pointing to itself), no pages.
fn demo_with_two_data_sources() -> Seed {
    let mut seed = Seed::demo();
    let mut second = seed.data_sources[0].clone();
    second.id = SECOND_DATA_SOURCE.into();
    second.title = "Archive".into();
    for p in &mut second.properties {
        if p.kind == "relation" {
            p.data_source_id = Some(second.id.clone());
        }
    }
    seed.data_sources.push(second);
    seed
}

#[tokio::test]
async fn a_database_with_two_data_sources_fails_under_2022_06_28() {
    let sb = start(Options::new(demo_with_two_data_sources())).await;
    let m = sb
        .get_v(&format!("/v1/databases/{DATABASE}"), V2022)
        .await
        .error(400, "validation_error");
    assert!(m.contains("multiple data sources"), "{m}");
    let new = sb.get(&format!("/v1/databases/{DATABASE}")).await.json();
    assert_eq!(new["data_sources"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn users_are_paginated() {
    let sb = demo().await;
    let first = sb.get("/v1/users?page_size=2").await.json();
    assert_eq!(first["object"], "list");
    assert_eq!(first["type"], "user");
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert_eq!(first["results"][0]["name"], "Ada Lovelace");
    assert_eq!(first["results"][0]["type"], "person");
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = sb
        .get(&format!("/v1/users?page_size=2&start_cursor={cursor}"))
        .await
        .json();
    assert_eq!(second["results"].as_array().unwrap().len(), 1);
    assert_eq!(second["results"][0]["person"]["email"], "linus@example.com");
    assert_eq!(second["has_more"], false);
    assert_eq!(second["next_cursor"], Value::Null);
}

// ---- faults ----

async fn faulty(kind: FaultKind) -> Sandbox {
    start(Options {
        faults: FaultSpec::only(kind, 1.0),
        stall: Duration::from_secs(30),
        ..Options::new(Seed::demo())
    })
    .await
}

#[tokio::test]
async fn fault_conflict_is_409_and_not_applied() {
    let sb = faulty(FaultKind::Conflict).await;
    sb.patch(PAGE, status_body("Done"))
        .await
        .error(409, "conflict_error");
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "In progress"
    );
    assert_eq!(sb.handle.stats().faults.get(&FaultKind::Conflict), Some(&1));
    assert_eq!(sb.handle.requests()[0].fault, Some(FaultKind::Conflict));
}

#[tokio::test]
async fn fault_e500_is_not_applied() {
    let sb = faulty(FaultKind::E500).await;
    sb.patch(PAGE, status_body("Done"))
        .await
        .error(500, "internal_server_error");
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "In progress"
    );
}

#[tokio::test]
async fn fault_e502_is_proxy_html_with_cf_ray() {
    let sb = faulty(FaultKind::E502).await;
    let r = sb.patch(PAGE, status_body("Done")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.headers["content-type"], "text/html");
    assert!(r.headers.contains_key("cf-ray"));
    assert!(!r.headers.contains_key("x-notion-request-id"));
    assert!(
        r.text
            .starts_with("<html>\r\n<head><title>502 Bad Gateway</title>"),
        "{}",
        r.text
    );
    assert!(serde_json::from_str::<Value>(&r.text).is_err());
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "In progress"
    );
}

#[tokio::test]
async fn fault_e503_is_not_applied() {
    let sb = faulty(FaultKind::E503).await;
    sb.patch(PAGE, status_body("Done"))
        .await
        .error(503, "service_unavailable");
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "In progress"
    );
}

#[tokio::test]
async fn fault_e504_applied_answers_504_after_applying() {
    let sb = faulty(FaultKind::E504Applied).await;
    sb.patch(PAGE, status_body("Done"))
        .await
        .error(504, "gateway_timeout");
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "Done"
    );
    assert_eq!(sb.handle.stats().applied.get(PAGE), Some(&1));
    let stats = sb
        .send(reqwest::Method::GET, "/__sandbox/stats", None, None, None)
        .await
        .unwrap()
        .json();
    assert_eq!(stats["faults"], json!({"e504_applied": 1}));
    assert_eq!(stats["by_status"], json!({"504": 1}));
    let log = sb
        .send(
            reqwest::Method::GET,
            "/__sandbox/requests",
            None,
            None,
            None,
        )
        .await
        .unwrap()
        .json();
    assert_eq!(log[0]["fault"], "e504_applied");
}

#[tokio::test]
async fn fault_e529_is_service_overload_with_retry_after() {
    let sb = faulty(FaultKind::E529).await;
    let r = sb.patch(PAGE, status_body("Done")).await;
    r.error(529, "service_overload");
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "In progress"
    );
}

#[tokio::test]
async fn fault_reset_closes_the_connection_without_a_response() {
    let sb = faulty(FaultKind::Reset).await;
    let err = sb
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/pages/{PAGE}"),
            Some(TOKEN),
            Some(V2025),
            Some(status_body("Done").to_string()),
        )
        .await
        .err()
        .expect("no response");
    assert!(!err.is_timeout(), "{err:?}");
    assert!(err.status().is_none(), "{err:?}");
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "In progress"
    );
    let log = sb.handle.requests();
    assert_eq!(log[0].fault, Some(FaultKind::Reset));
    assert_eq!(log[0].status, None);
}

#[tokio::test]
async fn fault_stall_makes_the_client_time_out() {
    let sb = faulty(FaultKind::Stall).await;
    let err = sb
        .http
        .patch(sb.url(&format!("/v1/pages/{PAGE}")))
        .bearer_auth(TOKEN)
        .header("Notion-Version", V2025)
        .json(&status_body("Done"))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .expect_err("no response before the timeout");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "In progress"
    );
    // Shutting down ends the stall; the stalled request is logged, with its fault and no status,
    // even though its client went away first.
    let stats = sb.handle.shutdown().await;
    assert_eq!(stats.faults.get(&FaultKind::Stall), Some(&1), "{stats:?}");
    assert_eq!(stats.requests, 1);
    assert!(stats.by_status.is_empty(), "{stats:?}");
}

#[tokio::test]
async fn faults_spare_reads_and_come_after_auth_and_version() {
    let sb = faulty(FaultKind::Conflict).await;
    assert_eq!(sb.get(&format!("/v1/pages/{PAGE}")).await.status, 200);
    let r = sb
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/pages/{PAGE}"),
            Some("bad"),
            Some(V2025),
            Some("{}".into()),
        )
        .await
        .unwrap();
    r.error(401, "unauthorized");
    let r = sb
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/pages/{PAGE}"),
            Some(TOKEN),
            None,
            Some("{}".into()),
        )
        .await
        .unwrap();
    r.error(400, "missing_version");
    assert!(sb.handle.stats().faults.is_empty());
    assert!(sb.handle.requests().iter().all(|r| r.fault.is_none()));
}

#[tokio::test]
async fn fail_first_gives_the_first_requests_to_a_path_its_faults_in_order() {
    // Reads the random draw never touches: the schema GET fails three times, then answers.
    let sb = start(Options {
        fail_first: vec![FailFirst::new(
            "GET",
            "/v1/data_sources/",
            &[FaultKind::E429, FaultKind::E503, FaultKind::Reset],
        )],
        ..Options::new(Seed::demo())
    })
    .await;
    let path = format!("/v1/data_sources/{DATA_SOURCE}");
    let r = sb.get(&path).await;
    r.error(429, "rate_limited");
    assert_eq!(r.headers["retry-after"], "1");
    // Other paths and methods are served meanwhile.
    assert_eq!(sb.get(&format!("/v1/pages/{PAGE}")).await.status, 200);
    sb.get(&path).await.error(503, "service_unavailable");
    let reset = sb
        .send(reqwest::Method::GET, &path, Some(TOKEN), Some(V2025), None)
        .await;
    assert!(reset.is_err(), "the connection closes without a response");
    let r = sb.get(&path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["object"], "data_source");
    assert_eq!(sb.get(&path).await.status, 200);
    let faults: Vec<Option<FaultKind>> = sb.handle.requests().iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [
            Some(FaultKind::E429),
            None,
            Some(FaultKind::E503),
            Some(FaultKind::Reset),
            None,
            None
        ]
    );
    let stats = sb.handle.stats();
    assert_eq!(stats.rate_limited, 1);
    assert_eq!(stats.faults.values().sum::<u64>(), 3);
}

#[tokio::test]
async fn fail_first_comes_after_the_token_check_and_spares_the_draws() {
    let sb = start(Options {
        fail_first: vec![FailFirst::new(
            "PATCH",
            "/v1/pages/",
            &[FaultKind::Conflict],
        )],
        faults: "e500=0.5".parse().unwrap(),
        fault_seed: 3,
        ..Options::new(Seed::demo())
    })
    .await;
    let r = sb
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/pages/{PAGE}"),
            Some("bad"),
            Some(V2025),
            Some("{}".into()),
        )
        .await
        .unwrap();
    r.error(401, "unauthorized");
    sb.patch(PAGE, status_body("Done"))
        .await
        .error(409, "conflict_error");
    // The draws start at 0 after the scripted fault: the same sequence as without it.
    for _ in 0..20 {
        sb.patch(PAGE, status_body("Done")).await;
    }
    let drawn: Vec<Option<FaultKind>> = sb.handle.requests()[2..].iter().map(|r| r.fault).collect();
    let spec: FaultSpec = "e500=0.5".parse().unwrap();
    let expected: Vec<Option<FaultKind>> = (0..20).map(|n| spec.pick(3, n)).collect();
    assert_eq!(drawn, expected);
}

#[tokio::test]
async fn the_same_fault_seed_gives_the_same_fault_sequence() {
    async fn sequence(fault_seed: u64) -> Vec<Option<FaultKind>> {
        let sb = start(Options {
            faults: "conflict=0.3,e500=0.2,e503=0.1,e504_applied=0.1"
                .parse()
                .unwrap(),
            fault_seed,
            ..Options::new(Seed::demo())
        })
        .await;
        for _ in 0..40 {
            sb.patch(PAGE, status_body("Done")).await;
        }
        sb.handle.requests().iter().map(|r| r.fault).collect()
    }
    let a = sequence(7).await;
    assert_eq!(a.len(), 40);
    assert!(a.iter().any(Option::is_some) && a.iter().any(Option::is_none));
    assert_eq!(a, sequence(7).await);
    assert_ne!(a, sequence(8).await);
}

// ---- rate limits ----

#[tokio::test]
async fn past_the_burst_429_with_an_honest_retry_after() {
    let sb = start(Options {
        rate: Some(1.0),
        burst: Some(2),
        ..Options::new(Seed::demo())
    })
    .await;
    assert_eq!(sb.patch(PAGE, status_body("Done")).await.status, 200);
    assert_eq!(sb.get(&format!("/v1/pages/{PAGE}")).await.status, 200);
    let r = sb.patch(PAGE, status_body("Not started")).await;
    assert_eq!(
        r.error(429, "rate_limited"),
        "You have been rate limited. Please try again in a few minutes."
    );
    let secs: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
    // Not applied.
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "Done"
    );
    assert_eq!(sb.handle.stats().rate_limited, 1);
    // Waiting what the server said is enough.
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let r = sb.patch(PAGE, status_body("Not started")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        sb.stored(PAGE)["properties"]["Status"]["status"]["name"],
        "Not started"
    );
}

#[tokio::test]
async fn window_budget_answers_429_until_the_window_ends() {
    let sb = start(Options {
        window_budget: Some(2),
        ..Options::new(Seed::demo())
    })
    .await;
    assert_eq!(sb.get(&format!("/v1/pages/{PAGE}")).await.status, 200);
    assert_eq!(sb.get(&format!("/v1/pages/{PAGE}")).await.status, 200);
    let r = sb.get(&format!("/v1/pages/{PAGE}")).await;
    r.error(429, "rate_limited");
    let secs: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
}

#[tokio::test]
async fn no_limiter_without_a_rate() {
    let sb = demo().await;
    for _ in 0..50 {
        assert_eq!(sb.get(&format!("/v1/pages/{PAGE}")).await.status, 200);
    }
    assert_eq!(sb.handle.stats().rate_limited, 0);
}

// ---- introspection ----

#[tokio::test]
async fn the_request_log_records_the_canonical_body_hash() {
    let sb = demo().await;
    let text = r#"{ "properties": {"Status": {"status": {"name": "Done"}}, "Done": {"checkbox": true}}, "icon": null }"#;
    let r = sb
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/pages/{PAGE}"),
            Some(TOKEN),
            Some(V2025),
            Some(text.into()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    sb.get(&format!("/v1/pages/{MISSING}")).await;
    let canonical = r#"{"icon":null,"properties":{"Done":{"checkbox":true},"Status":{"status":{"name":"Done"}}}}"#;
    let expected: String = Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let log = sb.handle.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].seq, 0);
    assert_eq!(log[0].method, "PATCH");
    assert_eq!(log[0].path, format!("/v1/pages/{PAGE}"));
    assert_eq!(log[0].page_id.as_deref(), Some(PAGE));
    assert_eq!(log[0].body_sha256.as_deref(), Some(expected.as_str()));
    assert_eq!(log[0].status, Some(200));
    assert_eq!(log[0].fault, None);
    assert_eq!(log[1].seq, 1);
    assert_eq!(log[1].body_sha256, None);
    assert_eq!(log[1].status, Some(404));
    assert!(log[1].time_ms >= log[0].time_ms);
    assert_eq!(
        sandbox::body_sha256(&serde_json::from_str(text).unwrap()),
        expected
    );
}

#[tokio::test]
async fn introspection_endpoints_need_no_auth() {
    let sb = start(Options {
        latency: Some((30, 30)),
        ..Options::new(Seed::demo())
    })
    .await;
    let path = format!("/v1/pages/{PAGE}");
    let gets = (0..4).map(|_| sb.get(&path));
    futures::future::join_all(gets).await;
    sb.patch(PAGE, status_body("Done")).await;
    sb.patch(PAGE, status_body("Nope")).await;
    let get = |path: &'static str| {
        let sb = &sb;
        async move {
            let r = sb
                .send(reqwest::Method::GET, path, None, None, None)
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{path}");
            r.json()
        }
    };
    let stats = get("/__sandbox/stats").await;
    assert_eq!(stats["requests"], 6);
    assert_eq!(stats["by_status"]["200"], 5);
    assert_eq!(stats["by_status"]["400"], 1);
    assert_eq!(stats["applied"][PAGE], 1);
    assert!(stats["max_in_flight"].as_u64().unwrap() >= 2, "{stats}");
    let requests = get("/__sandbox/requests").await;
    assert_eq!(requests.as_array().unwrap().len(), 6);
    assert_eq!(requests[5]["status"], 400);
    let state = get("/__sandbox/state").await;
    assert_eq!(state["pages"].as_array().unwrap().len(), 19);
    assert_eq!(
        state["pages"][0]["properties"]["Status"]["status"]["name"],
        "Done"
    );
    // Introspection is not logged.
    assert_eq!(sb.handle.stats().requests, 6);
}

// ---- seeds ----

#[tokio::test]
async fn a_malformed_seed_is_refused_with_the_reason() {
    let cases = [
        (
            r#"{"pages": [{"id": "8d116ece-1738-47d9-bd9c-172411e20b8f", "data_source_id": "d23f0824-128b-4f33-8c5c-7fd0a6a3a450"}]}"#,
            "is not a data source of the seed",
        ),
        (
            r#"{"databases": [{"id": "6513270e-269e-4d37-b2a7-4de452e6b438", "title": "T"}], "data_sources": [{"id": "d23f0824-128b-4f33-8c5c-7fd0a6a3a450", "title": "T", "database_id": "6513270e-269e-4d37-b2a7-4de452e6b438", "properties": [{"name": "N", "type": "rich_text"}]}]}"#,
            "exactly one title property",
        ),
        (
            r#"{"databases": [{"id": "6513270e-269e-4d37-b2a7-4de452e6b438", "title": "T"}], "data_sources": [{"id": "d23f0824-128b-4f33-8c5c-7fd0a6a3a450", "title": "T", "database_id": "6513270e-269e-4d37-b2a7-4de452e6b438", "properties": [{"name": "N", "type": "title"}, {"name": "S", "type": "colour"}]}]}"#,
            "unknown type `colour`",
        ),
    ];
    for (text, expected) in cases {
        let seed = Seed::from_json(text).unwrap();
        let err = sandbox::start(Options::new(seed))
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains(expected), "{err}");
    }
    let mut seed = Seed::demo();
    seed.pages[0]
        .properties
        .insert("Status".into(), json!("Blocked"));
    let err = sandbox::start(Options::new(seed))
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("page {PAGE}: property `Status`")) && text.contains("Blocked"),
        "{text}"
    );
}

// ---- agreement with Notion's OpenAPI ----

/// Bodies whose references (options, users, pages) exist, so that only their shape decides: the
/// sandbox must accept exactly those the `patch-page` schema accepts (under 2026-03-11, the
/// schema's version). The sandbox's stricter limits that the schema lacks (link URL and equation
/// lengths, new option names, existing users and pages) are tested above, not here.
#[tokio::test]
async fn validation_agrees_with_the_openapi_schema_on_shapes() {
    let schema: Value =
        serde_json::from_str(include_str!("fixtures/patch-page.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let sb = demo().await;
    // Uploads that exist and are uploaded, so that only the shape of a file_upload decides.
    let u1 = sb.uploaded_file(b"one", "u1.txt").await;
    let up = sb.uploaded_file(b"two", "up.png").await;
    let text = |s: &str| json!([{"text": {"content": s}}]);
    let bodies = vec![
        // Accepted.
        json!({}),
        json!({"properties": {}}),
        json!({"properties": {"Name": {"title": text("x")}, "Notes": {"type": "rich_text", "rich_text": []}}}),
        json!({"properties": {"Notes": {"rich_text": [
            {"type": "text", "text": {"content": "", "link": null}, "annotations": {"bold": true, "color": "red_background"}},
            {"type": "mention", "mention": {"type": "user", "user": {"id": ADA}}},
            {"mention": {"page": {"id": PAGE2}}},
            {"mention": {"date": {"start": "2026-01-01", "end": null}}},
            {"type": "equation", "equation": {"expression": "e=mc^2"}}
        ]}}}),
        json!({"properties": {"Estimate": {"number": null}, "Done": {"checkbox": false}, "Link": {"url": null}}}),
        json!({"properties": {"Priority": {"select": {"name": "High", "color": "red"}}, "Status": {"status": null}}}),
        json!({"properties": {"Tags": {"multi_select": [{"name": "docs"}, {"name": "infra", "description": null}]}}}),
        json!({"properties": {"Due": {"date": {"start": "2026-01-01T10:00:00Z", "end": "2026-01-02", "time_zone": "Europe/Paris"}}}}),
        json!({"properties": {"Owner": {"people": [{"object": "user", "id": ADA}, {"object": "group", "id": MISSING, "name": "Ops"}]}}}),
        json!({"properties": {"Blocked by": {"relation": [{"id": PAGE2}]}}}),
        json!({"properties": {"Attachments": {"files": [
            {"name": "a.pdf", "type": "external", "external": {"url": "https://e.com/a.pdf"}},
            {"name": "b.png", "file": {"url": "https://s3.test/b.png", "expiry_time": "2026-01-01T00:00:00Z"}},
            {"file_upload": {"id": u1}}
        ]}}}),
        json!({"properties": {"Contact": {"email": "a@b.c"}, "Phone": {"phone_number": "+1 555"}}}),
        json!({"icon": {"emoji": "🚀"}, "cover": {"type": "external", "external": {"url": "https://e.com/c.png"}}}),
        json!({"icon": {"type": "custom_emoji", "custom_emoji": {"id": "ce1"}}, "cover": null}),
        json!({"icon": {"external": {"url": "https://e.com/i.png"}}, "cover": {"file_upload": {"id": up}}}),
        json!({"in_trash": false, "is_locked": true, "erase_content": false, "template": {"type": "default", "timezone": "UTC"}}),
        // Refused.
        json!({"archived": true}),
        json!({"parent": {"page_id": PAGE2}}),
        json!({"properties": {"Name": {"title": [{"text": {"content": "a".repeat(2001)}}]}}}),
        json!({"properties": {"Name": {"title": [{"text": {"content": "a", "bold": true}}]}}}),
        json!({"properties": {"Name": {"title": [{"type": "mention", "text": {"content": "a"}}]}}}),
        json!({"properties": {"Name": {"title": [{"plain_text": "a"}]}}}),
        json!({"properties": {"Name": {"title": "plain"}}}),
        json!({"properties": {"Estimate": {"number": "5"}}}),
        json!({"properties": {"Done": {"checkbox": null}}}),
        json!({"properties": {"Link": {"url": ""}}}),
        json!({"properties": {"Contact": {"email": "a".repeat(101)}}}),
        json!({"properties": {"Priority": {"select": {}}}}),
        json!({"properties": {"Priority": {"select": {"name": 5}}}}),
        json!({"properties": {"Priority": {"select": {"name": "High", "color": "teal"}}}}),
        json!({"properties": {"Priority": {"select": {"name": "High"}, "status": {"name": "Done"}}}}),
        json!({"properties": {"Tags": {"multi_select": [null]}}}),
        json!({"properties": {"Tags": {"multi_select": (0..101).map(|i| json!({"name": format!("t{i}")})).collect::<Vec<_>>()}}}),
        json!({"properties": {"Due": {"date": {"end": "2026-01-01"}}}}),
        json!({"properties": {"Due": {"date": {"start": "2026-01-01", "tz": "UTC"}}}}),
        json!({"properties": {"Owner": {"people": [{"object": "user"}]}}}),
        json!({"properties": {"Blocked by": {"relation": [{}]}}}),
        json!({"properties": {"Attachments": {"files": [{"external": {"url": "https://e.com/a"}}]}}}),
        json!({"properties": {"Attachments": {"files": [{"name": "a", "external": {"url": ""}}]}}}),
        json!({"properties": {"Attachments": {"files": [{"name": "a", "external": {"url": "https://e.com"}, "extra": 1}]}}}),
        json!({"icon": {"emoji": 5}}),
        json!({"icon": "🚀"}),
        json!({"cover": {"emoji": "🚀"}}),
        json!({"in_trash": "false"}),
        json!({"template": {"type": "none"}}),
        json!({"template": {"type": "template_id"}}),
    ];
    for body in bodies {
        let schema_says = validator.is_valid(&body);
        let reply = sb.patch_v(PAGE, V2026, body.clone()).await;
        assert!(
            reply.status == 200 || reply.status == 400,
            "{body}: {}",
            reply.text
        );
        assert_eq!(
            reply.status == 200,
            schema_says,
            "schema valid = {schema_says} for {body}: {}",
            reply.text
        );
    }
}

// ---- queries ----

impl Sandbox {
    async fn post(&self, path: &str, token: &str, version: &str, body: Option<String>) -> Reply {
        self.send(
            reqwest::Method::POST,
            path,
            Some(token),
            Some(version),
            body,
        )
        .await
        .expect("POST answered")
    }

    /// POST /v1/data_sources/{ds}/query`?query` under `version`.
    async fn query_v(&self, version: &str, ds: &str, query: &str, body: Value) -> Reply {
        let qs = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let path = format!("/v1/data_sources/{ds}/query{qs}");
        self.post(&path, TOKEN, version, Some(body.to_string()))
            .await
    }

    async fn query(&self, body: Value) -> Value {
        let r = self.query_v(V2025, DATA_SOURCE, "", body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }

    /// Every page id a query returns, following cursors with `page_size`.
    async fn query_all(&self, mut body: Value, page_size: u64) -> Vec<String> {
        let mut out = Vec::new();
        body["page_size"] = json!(page_size);
        loop {
            let page = self.query(body.clone()).await;
            let n = page["results"].as_array().unwrap().len() as u64;
            assert!(n <= page_size, "{n} > {page_size}");
            out.extend(ids(&page["results"]));
            if page["has_more"] == false {
                assert_eq!(page["next_cursor"], Value::Null);
                return out;
            }
            assert_eq!(n, page_size, "a page before the last is full here");
            body["start_cursor"] = page["next_cursor"].clone();
        }
    }

    /// The titles of the pages a filter matches, sorted (the query's own order aside).
    async fn titles(&self, filter: Value) -> Vec<String> {
        self.titles_v(V2025, filter).await
    }

    /// [`Sandbox::titles`] under `version`.
    async fn titles_v(&self, version: &str, filter: Value) -> Vec<String> {
        let r = self
            .query_v(version, DATA_SOURCE, "", json!({ "filter": filter }))
            .await;
        assert_eq!(r.status, 200, "{version}: {}", r.text);
        let r = r.json();
        let mut names: Vec<String> = r["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["properties"]["Name"]["title"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["plain_text"].as_str().unwrap())
                    .collect()
            })
            .collect();
        names.sort();
        names
    }
}

fn demo_ids() -> Vec<String> {
    Seed::demo().pages.iter().map(|p| p.id.clone()).collect()
}

#[tokio::test]
async fn query_returns_every_page_once_in_a_deterministic_order_not_the_seed_order() {
    let sb = demo().await;
    let r = sb.query(json!({})).await;
    assert_eq!(r["object"], "list");
    assert_eq!(r["type"], "page_or_data_source");
    assert_eq!(r["page_or_data_source"], json!({}));
    assert_eq!(r["has_more"], false);
    assert_eq!(r["next_cursor"], Value::Null);
    assert!(r.get("request_status").is_none(), "{r}");
    let got = ids(&r["results"]);
    let mut sorted = got.clone();
    sorted.sort();
    let mut expected = demo_ids();
    expected.sort();
    assert_eq!(sorted, expected);
    assert_ne!(
        got,
        demo_ids(),
        "unsorted results do not follow the seed order"
    );
    assert_eq!(ids(&sb.query(json!({})).await["results"]), got);
    // Each result is the page as GET shows it.
    let one = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == PAGE)
        .unwrap()
        .clone();
    assert_eq!(one, sb.get(&format!("/v1/pages/{PAGE}")).await.json());
}

#[tokio::test]
async fn query_pages_through_with_page_size_and_cursors() {
    let sb = demo().await;
    let all = ids(&sb.query(json!({})).await["results"]);
    for size in [1, 5, 7, 19, 100] {
        assert_eq!(sb.query_all(json!({}), size).await, all, "page_size {size}");
    }
    let first = sb.query(json!({"page_size": 5})).await;
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert!(sandbox::normalize_id(cursor).is_some(), "a UUID: {cursor}");
    // The same cursor resumes at the same place, whatever the page size.
    let again = sb
        .query(json!({"page_size": 3, "start_cursor": cursor}))
        .await;
    assert_eq!(ids(&again["results"]), all[5..8]);
}

#[tokio::test]
async fn page_size_outside_1_to_100_is_refused() {
    let sb = demo().await;
    for (size, expected) in [
        (
            json!(0),
            "body failed validation: body.page_size should be ≥ `1`, instead was `0`.",
        ),
        (
            json!(101),
            "body failed validation: body.page_size should be ≤ `100`, instead was `101`.",
        ),
        (
            json!("10"),
            "body failed validation: body.page_size should be a number, instead was `\"10\"`.",
        ),
        (
            json!(2.5),
            "body failed validation: body.page_size should be an integer, instead was `2.5`.",
        ),
    ] {
        let r = sb
            .query_v(V2025, DATA_SOURCE, "", json!({ "page_size": size }))
            .await;
        assert_eq!(r.error(400, "validation_error"), expected);
    }
}

#[tokio::test]
async fn a_garbage_or_foreign_cursor_is_refused() {
    let sb = demo().await;
    let r = sb
        .query_v(V2025, DATA_SOURCE, "", json!({"start_cursor": "garbage"}))
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.start_cursor should be a valid uuid, instead was `\"garbage\"`."
    );
    // A UUID that no query gave, and a page id (what some clients guess a cursor is).
    for cursor in [MISSING, PAGE] {
        let r = sb
            .query_v(V2025, DATA_SOURCE, "", json!({"start_cursor": cursor}))
            .await;
        assert_eq!(
            r.error(400, "validation_error"),
            format!("The start_cursor provided is invalid: {cursor}")
        );
    }
    // A cursor of another query (another filter or sort) is foreign to this one.
    let sorted = json!({"sorts": [{"property": "Name", "direction": "ascending"}], "page_size": 3});
    let cursor = sb.query(sorted.clone()).await["next_cursor"].clone();
    let r = sb
        .query_v(
            V2025,
            DATA_SOURCE,
            "",
            json!({"start_cursor": cursor, "page_size": 3}),
        )
        .await;
    r.error(400, "validation_error");
    let mut same = sorted.clone();
    same["start_cursor"] = cursor;
    assert_eq!(sb.query(same).await["results"].as_array().unwrap().len(), 3);
}

/// The demo seed with a few checkbox and formula values set.
fn demo_with_done_and_scores() -> Seed {
    let mut seed = Seed::demo();
    for (i, done, score) in [(0, true, 50), (1, true, 20), (2, false, 35)] {
        seed.pages[i].properties.insert("Done".into(), json!(done));
        seed.pages[i]
            .properties
            .insert("Score".into(), json!(score));
    }
    seed
}

fn strs(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

async fn check_filters(sb: &Sandbox, cases: Vec<(Value, Vec<&str>)>) {
    for (filter, expected) in cases {
        assert_eq!(sb.titles(filter.clone()).await, strs(&expected), "{filter}");
    }
}

async fn check_filter_counts(sb: &Sandbox, cases: Vec<(Value, usize)>) {
    for (filter, expected) in cases {
        assert_eq!(sb.titles(filter.clone()).await.len(), expected, "{filter}");
    }
}

#[tokio::test]
async fn text_filters_on_title_rich_text_url_email_and_phone() {
    let sb = demo().await;
    check_filters(
        &sb,
        vec![
            (
                json!({"property": "Name", "title": {"equals": "Add dark mode"}}),
                vec!["Add dark mode"],
            ),
            (
                json!({"property": "title", "type": "title", "title": {"contains": "Add"}}),
                vec!["Add CSV export", "Add SSO with Okta", "Add dark mode"],
            ),
            (
                json!({"property": "Name", "title": {"starts_with": "Write"}}),
                vec!["Write onboarding docs", "Write release notes for 2.4"],
            ),
            (
                json!({"property": "Name", "title": {"ends_with": "docs"}}),
                vec!["Write onboarding docs"],
            ),
            (
                json!({"property": "Notes", "rich_text": {"is_not_empty": true}}),
                vec!["Migrate billing to Stripe", "Write onboarding docs"],
            ),
            (
                json!({"property": "N%3Ftx", "rich_text": {"contains": "invoice"}}),
                vec!["Migrate billing to Stripe"],
            ),
            (
                json!({"property": "Link", "url": {"starts_with": "https://stripe.com/"}}),
                vec!["Migrate billing to Stripe"],
            ),
            (
                json!({"property": "Contact", "email": {"equals": "billing@example.com"}}),
                vec!["Migrate billing to Stripe"],
            ),
            (
                json!({"property": "Phone", "phone_number": {"contains": "555"}}),
                vec!["Migrate billing to Stripe"],
            ),
        ],
    )
    .await;
    check_filter_counts(
        &sb,
        vec![
            (
                json!({"property": "Name", "title": {"does_not_equal": "Add dark mode"}}),
                18,
            ),
            // Case-sensitive: "Add CSV export", "Audit npm dependencies", "Document the REST
            // API", "Fix login redirect loop".
            (
                json!({"property": "Name", "title": {"does_not_contain": "a"}}),
                4,
            ),
            (
                json!({"property": "Notes", "rich_text": {"is_empty": true}}),
                17,
            ),
            (json!({"property": "Link", "url": {"is_empty": true}}), 18),
        ],
    )
    .await;
}

#[tokio::test]
async fn number_unique_id_and_checkbox_filters() {
    let sb = start(Options::new(demo_with_done_and_scores())).await;
    check_filters(
        &sb,
        vec![
            (
                json!({"property": "Estimate", "number": {"greater_than": 4}}),
                vec![
                    "Write onboarding docs",
                    "Add dark mode",
                    "Translate help center to German",
                ],
            ),
            (
                json!({"property": "Estimate", "number": {"less_than_or_equal_to": 3}}),
                vec!["Add CSV export", "Write release notes for 2.4"],
            ),
            (
                json!({"property": "Estimate", "number": {"equals": 5}}),
                vec!["Write onboarding docs"],
            ),
            (
                json!({"property": "Estimate", "number": {"less_than": 3}}),
                vec!["Write release notes for 2.4"],
            ),
            (
                json!({"property": "Task ID", "unique_id": {"equals": 1}}),
                vec!["Migrate billing to Stripe"],
            ),
            (
                json!({"property": "Task ID", "unique_id": {"greater_than": 17}}),
                vec![
                    "Translate help center to German",
                    "Archive old Slack channels",
                ],
            ),
            (
                json!({"property": "Done", "checkbox": {"equals": true}}),
                vec!["Migrate billing to Stripe", "Write onboarding docs"],
            ),
        ],
    )
    .await;
    check_filter_counts(
        &sb,
        vec![
            (
                json!({"property": "Estimate", "number": {"does_not_equal": 5}}),
                18,
            ),
            (
                json!({"property": "Estimate", "number": {"is_empty": true}}),
                14,
            ),
            (
                json!({"property": "Estimate", "number": {"is_not_empty": true}}),
                5,
            ),
            (
                json!({"property": "Done", "checkbox": {"does_not_equal": true}}),
                17,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn select_status_and_multi_select_filters() {
    let sb = demo().await;
    let high = vec![
        "Migrate billing to Stripe",
        "Fix login redirect loop",
        "Rotate database credentials",
        "Add dark mode",
        "Audit npm dependencies",
        "Add SSO with Okta",
        "Archive old Slack channels",
    ];
    check_filters(
        &sb,
        vec![
            (
                json!({"property": "Priority", "select": {"equals": "High"}}),
                high.clone(),
            ),
            (
                json!({"property": "Status", "status": {"equals": "In progress"}}),
                high.clone(),
            ),
            (
                json!({"property": "Tags", "multi_select": {"contains": "urgent"}}),
                vec![
                    "Migrate billing to Stripe",
                    "Rotate database credentials",
                    "Add SSO with Okta",
                ],
            ),
            (
                json!({"property": "Tags", "multi_select": {"is_empty": true}}),
                vec!["Archive old Slack channels"],
            ),
            (
                json!({"property": "Tags", "multi_select": {"contains": ["docs", "infra"]}}),
                vec![
                    "Write onboarding docs",
                    "Set up staging cluster",
                    "Rotate database credentials",
                    "Upgrade Postgres to 16",
                    "Document the REST API",
                    "Reduce Docker image size",
                    "Set up error alerting",
                    "Write release notes for 2.4",
                    "Translate help center to German",
                ],
            ),
            (
                json!({"property": "Priority", "select": {"is_empty": true}}),
                vec![],
            ),
        ],
    )
    .await;
    check_filter_counts(
        &sb,
        vec![
            (json!({"property": "Priority", "select": {"does_not_equal": "High"}}), 12),
            (json!({"property": "Priority", "select": {"equals": ["Low", "Medium"]}}), 12),
            (json!({"property": "Status", "status": {"does_not_equal": ["In progress", "Done"]}}), 12),
            (json!({"property": "Tags", "multi_select": {"does_not_contain": "backend"}}), 10),
            (json!({"property": "Tags", "multi_select": {"is_not_empty": true}}), 18),
        ],
    )
    .await;
}

#[tokio::test]
async fn date_and_timestamp_filters() {
    let sb = demo().await;
    check_filters(
        &sb,
        vec![
            (
                json!({"property": "Due", "date": {"equals": "2026-12-04"}}),
                vec!["Fix login redirect loop"],
            ),
            (
                json!({"property": "Due", "date": {"before": "2026-12-07"}}),
                vec!["Migrate billing to Stripe", "Fix login redirect loop"],
            ),
            (
                json!({"property": "Due", "date": {"on_or_before": "2026-12-07"}}),
                vec![
                    "Migrate billing to Stripe",
                    "Fix login redirect loop",
                    "Rotate database credentials",
                ],
            ),
            (
                json!({"property": "Due", "date": {"after": "2026-12-13"}}),
                vec!["Add SSO with Okta"],
            ),
            (
                json!({"property": "Due", "date": {"on_or_after": "2026-12-13"}}),
                vec!["Audit npm dependencies", "Add SSO with Okta"],
            ),
            // A date-time compares instants: 2026-12-04T01:00+02:00 is 2026-12-03T23:00Z.
            (
                json!({"property": "Due", "date": {"before": "2026-12-04T01:00:00+02:00"}}),
                vec!["Migrate billing to Stripe"],
            ),
            (
                json!({"property": "Due", "date": {"on_or_before": "2026-12-04T00:00:00"}}),
                vec!["Migrate billing to Stripe", "Fix login redirect loop"],
            ),
            (
                json!({"timestamp": "created_time", "created_time": {"before": "2026-11-03"}}),
                vec!["Migrate billing to Stripe", "Write onboarding docs"],
            ),
            (
                json!({"timestamp": "created_time", "type": "created_time",
                       "created_time": {"on_or_after": "2026-11-19T09:54:00.000Z"}}),
                vec!["Archive old Slack channels"],
            ),
            (
                json!({"property": "Created", "created_time": {"equals": "2026-11-05"}}),
                vec!["Design settings page"],
            ),
        ],
    )
    .await;
    check_filter_counts(
        &sb,
        vec![
            (json!({"property": "Due", "date": {"is_empty": true}}), 13),
            (
                json!({"property": "Due", "date": {"is_not_empty": true}}),
                6,
            ),
        ],
    )
    .await;

    // last_edited_time moves with a PATCH.
    let r = sb.patch(PAGE2, status_body("Done")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    check_filters(
        &sb,
        vec![(
            json!({"timestamp": "last_edited_time", "last_edited_time": {"after": "2026-11-30"}}),
            vec!["Write onboarding docs"],
        )],
    )
    .await;
}

#[tokio::test]
async fn relative_date_filters_are_taken_from_now() {
    // Without the seed's due dates, which could fall in any week.
    let mut seed = Seed::demo();
    for page in &mut seed.pages {
        page.properties.remove("Due");
    }
    let today = chrono::Utc::now().date_naive();
    let day = |n: i64| (today + chrono::Duration::days(n)).to_string();
    for (i, due) in [(0, day(0)), (1, day(1)), (2, day(-400)), (3, day(40))] {
        seed.pages[i].properties.insert("Due".into(), json!(due));
    }
    let sb = start(Options::new(seed)).await;
    check_filters(
        &sb,
        vec![
            (
                json!({"property": "Due", "date": {"past_week": {}}}),
                vec!["Migrate billing to Stripe"],
            ),
            (
                json!({"property": "Due", "date": {"past_year": {}}}),
                vec!["Migrate billing to Stripe"],
            ),
            (
                json!({"property": "Due", "date": {"next_week": {}}}),
                vec!["Write onboarding docs"],
            ),
            (
                json!({"property": "Due", "date": {"next_year": {}}}),
                vec!["Write onboarding docs", "Fix login redirect loop"],
            ),
        ],
    )
    .await;
    let r = sb
        .query_v(
            V2025,
            DATA_SOURCE,
            "",
            json!({"filter": {"property": "Due", "date": {"past_week": true}}}),
        )
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.filter.date.past_week should be an empty object, instead was `true`."
    );
}

#[tokio::test]
async fn people_relation_files_and_formula_filters() {
    let sb = start(Options::new(demo_with_done_and_scores())).await;
    check_filters(
        &sb,
        vec![
            (
                json!({"property": "Owner", "people": {"contains": ADA}}),
                vec![
                    "Migrate billing to Stripe",
                    "Fix login redirect loop",
                    "Upgrade Postgres to 16",
                    "Set up error alerting",
                    "Load test the search endpoint",
                    "Add SSO with Okta",
                ],
            ),
            (
                json!({"property": "Owner", "people": {"is_empty": true}}),
                vec![
                    "Add CSV export",
                    "Add dark mode",
                    "Audit npm dependencies",
                    "Clean up feature flags",
                    "Archive old Slack channels",
                ],
            ),
            (
                json!({"property": "Blocked by", "relation": {"contains": PAGE.replace('-', "")}}),
                vec!["Add SSO with Okta"],
            ),
            (
                json!({"property": "Blocked by", "relation": {"is_not_empty": true}}),
                vec!["Upgrade Postgres to 16", "Add SSO with Okta"],
            ),
            (
                json!({"property": "Attachments", "files": {"is_not_empty": true}}),
                vec!["Set up staging cluster"],
            ),
            (
                json!({"property": "Score", "formula": {"number": {"greater_than": 30}}}),
                vec!["Migrate billing to Stripe", "Set up staging cluster"],
            ),
            (
                json!({"property": "Score", "formula": {"number": {"equals": 20}}}),
                vec!["Write onboarding docs"],
            ),
        ],
    )
    .await;
    check_filter_counts(
        &sb,
        vec![
            (
                json!({"property": "Owner", "people": {"does_not_contain": ADA}}),
                13,
            ),
            (
                json!({"property": "Attachments", "files": {"is_empty": true}}),
                18,
            ),
            (
                json!({"property": "Score", "formula": {"number": {"is_empty": true}}}),
                16,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn compound_filters_nest_two_levels_with_at_most_100_items() {
    let sb = demo().await;
    check_filters(
        &sb,
        vec![
            (
                json!({"and": [
                    {"property": "Priority", "select": {"equals": "High"}},
                    {"property": "Tags", "multi_select": {"contains": "urgent"}}
                ]}),
                vec![
                    "Migrate billing to Stripe",
                    "Rotate database credentials",
                    "Add SSO with Okta",
                ],
            ),
            (
                json!({"or": [
                    {"and": [
                        {"property": "Status", "status": {"equals": "Not started"}},
                        {"property": "Tags", "multi_select": {"contains": "docs"}}
                    ]},
                    {"property": "Estimate", "number": {"greater_than": 10}},
                    {"timestamp": "created_time", "created_time": {"equals": "2026-11-19"}}
                ]}),
                vec![
                    "Write onboarding docs",
                    "Document the REST API",
                    "Write release notes for 2.4",
                    "Translate help center to German",
                    "Add dark mode",
                    "Archive old Slack channels",
                ],
            ),
        ],
    )
    .await;

    let leaf = json!({"property": "Name", "title": {"equals": "Add dark mode"}});
    let too_deep = json!({"and": [{"or": [{"and": [leaf]}]}]});
    let r = sb
        .query_v(V2025, DATA_SOURCE, "", json!({ "filter": too_deep }))
        .await;
    let msg = r.error(400, "validation_error");
    assert!(
        msg.starts_with(
            "body failed validation: body.filter.and[0].or[0].and should be not present"
        ),
        "{msg}"
    );
    let hundred: Vec<Value> = (0..100).map(|_| leaf.clone()).collect();
    assert_eq!(
        sb.titles(json!({ "or": hundred })).await,
        strs(&["Add dark mode"])
    );
    let group = json!({"and": (0..100).map(|_| leaf.clone()).collect::<Vec<_>>()});
    assert_eq!(
        sb.titles(json!({"or": [group]})).await,
        strs(&["Add dark mode"])
    );
    for filter in [
        json!({"or": (0..101).map(|_| leaf.clone()).collect::<Vec<_>>()}),
        json!({"or": [{"and": (0..101).map(|_| leaf.clone()).collect::<Vec<_>>()}]}),
    ] {
        let r = sb
            .query_v(V2025, DATA_SOURCE, "", json!({ "filter": filter }))
            .await;
        let msg = r.error(400, "validation_error");
        assert!(
            msg.contains(".length should be ≤ `100`, instead was `101`."),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn bad_filters_are_refused_in_notions_words() {
    let sb = demo().await;
    for (filter, expected) in [
        (
            json!({"property": "Stauts", "status": {"equals": "Done"}}),
            "Could not find property with name or id: Stauts".to_string(),
        ),
        (
            json!({"property": "Status", "select": {"equals": "Done"}}),
            "database property status does not match filter select".to_string(),
        ),
        (
            json!({"property": "Estimate", "number": {"equals": "5"}}),
            "body failed validation: body.filter.number.equals should be a number, instead was `\"5\"`.".to_string(),
        ),
        (
            json!({"property": "Name", "title": {"is_empty": false}}),
            "body failed validation: body.filter.title.is_empty should be `true`, instead was `false`.".to_string(),
        ),
        (
            json!({"property": "Name", "title": {"matches": "x"}}),
            "body failed validation: body.filter.title.matches should be not present, instead was `\"x\"`.".to_string(),
        ),
        (
            json!({"property": "Owner", "people": {"contains": "ada"}}),
            "body failed validation: body.filter.people.contains should be a valid uuid, instead was `\"ada\"`.".to_string(),
        ),
        (
            json!({"timestamp": "created_time", "property": "Name", "created_time": {"past_week": {}}}),
            "body failed validation: body.filter.property should be not present, instead was `\"Name\"`.".to_string(),
        ),
        (
            json!({"property": "Due", "date": {"before": "soon"}}),
            "body failed validation: body.filter.date.before should be an ISO 8601 date or date-time, instead was `\"soon\"`.".to_string(),
        ),
        (
            json!({"and": [{"property": "Due"}]}),
            "body failed validation: body.filter.and[0] should be an object with exactly one of".to_string(),
        ),
    ] {
        let r = sb.query_v(V2025, DATA_SOURCE, "", json!({ "filter": filter })).await;
        let msg = r.error(400, "validation_error");
        assert!(msg.starts_with(&expected), "{filter}: {msg}");
    }
}

fn titles_in_order(r: &Value) -> Vec<String> {
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["properties"]["Name"]["title"][0]["plain_text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn sorts_by_properties_and_timestamps_with_several_keys() {
    let sb = demo().await;
    let by = |sorts: Value| json!({ "sorts": sorts });
    let r = sb
        .query(by(
            json!([{"property": "Estimate", "direction": "ascending"}]),
        ))
        .await;
    assert_eq!(
        titles_in_order(&r)[..5],
        [
            "Write release notes for 2.4",
            "Add CSV export",
            "Write onboarding docs",
            "Translate help center to German",
            "Add dark mode",
        ]
    );
    let r = sb
        .query(by(
            json!([{"property": "E%40st", "direction": "descending"}]),
        ))
        .await;
    assert_eq!(
        titles_in_order(&r)[..5],
        [
            "Add dark mode",
            "Translate help center to German",
            "Write onboarding docs",
            "Add CSV export",
            "Write release notes for 2.4",
        ]
    );
    // Empty values come last in both directions.
    assert_eq!(
        r["results"][18]["properties"]["Estimate"]["number"],
        Value::Null
    );

    let r = sb
        .query(by(json!([{"property": "Name", "direction": "ascending"}])))
        .await;
    let names = titles_in_order(&r);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);

    let r = sb
        .query(by(
            json!([{"timestamp": "created_time", "direction": "descending"}]),
        ))
        .await;
    let mut seed_order = demo_ids();
    seed_order.reverse();
    assert_eq!(ids(&r["results"]), seed_order);

    // Select options sort in the schema's order (Low, Medium, High); ties by the next key.
    let r = sb
        .query(by(json!([
            {"property": "Priority", "direction": "descending"},
            {"property": "Name", "direction": "descending"}
        ])))
        .await;
    let got = titles_in_order(&r);
    assert_eq!(
        got[..3],
        [
            "Rotate database credentials",
            "Migrate billing to Stripe",
            "Fix login redirect loop"
        ]
    );
    assert_eq!(got[18], "Add CSV export");
    for (i, p) in r["results"].as_array().unwrap().iter().enumerate().take(7) {
        assert_eq!(p["properties"]["Priority"]["select"]["name"], "High", "{i}");
    }

    let r = sb
        .query_v(
            V2025,
            DATA_SOURCE,
            "",
            by(json!([{"property": "Size", "direction": "ascending"}])),
        )
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "Could not find sort property with name or id: Size"
    );
    let r = sb
        .query_v(
            V2025,
            DATA_SOURCE,
            "",
            by(json!([{"property": "Name", "direction": "up"}])),
        )
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.sorts[0].direction should be one of `\"ascending\"`, `\"descending\"`, instead was `\"up\"`."
    );
}

fn property_names(page: &Value) -> Vec<String> {
    let mut names: Vec<String> = page["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn filter_properties_is_a_repeated_query_parameter_with_ids_already_encoded() {
    let sb = demo().await;
    // Status's id is shown as `a%3Fb` and Tags's as `T%3Ags`: sent as they are, in either
    // spelling of the key (and the bracketed key itself encoded), with names too.
    for qs in [
        "filter_properties=a%3Fb&filter_properties=T%3Ags&filter_properties=title",
        "filter_properties[]=a%3Fb&filter_properties[]=T%3Ags&filter_properties[]=Name",
        "filter_properties%5B%5D=Status&filter_properties=Tags&filter_properties=title",
    ] {
        let r = sb.query_v(V2025, DATA_SOURCE, qs, json!({})).await;
        assert_eq!(r.status, 200, "{qs}: {}", r.text);
        let body = r.json();
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 19);
        for page in results {
            assert_eq!(
                property_names(page),
                strs(&["Name", "Status", "Tags"]),
                "{qs}"
            );
            assert!(page["url"].is_string() && page["created_time"].is_string());
        }
    }
    let log = sb.handle.requests();
    assert_eq!(
        log[0].query.as_deref(),
        Some("filter_properties=a%3Fb&filter_properties=T%3Ags&filter_properties=title")
    );

    // Encoded twice, the id names nothing (notion-sdk-js#402).
    let r = sb
        .query_v(V2025, DATA_SOURCE, "filter_properties=a%253Fb", json!({}))
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "Could not find property with name or id: a%3Fb"
    );
    // In the body, it is refused (notion-sdk-net#541).
    let r = sb
        .query_v(
            V2025,
            DATA_SOURCE,
            "",
            json!({"filter_properties": ["Name"]}),
        )
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.filter_properties should be not present, instead was `[\"Name\"]`."
    );
    // Other parameters belong in the body.
    let r = sb
        .query_v(V2025, DATA_SOURCE, "page_size=5", json!({}))
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "query failed validation: query.page_size should be not present, instead was `\"5\"`."
    );
}

#[tokio::test]
async fn query_results_cut_lists_at_25_like_a_page_read() {
    let sb = start(Options::new(Seed::generate(40))).await;
    let page = Seed::generated_page_id(1);
    let relation: Vec<Value> = (2..=31)
        .map(|i| json!({ "id": Seed::generated_page_id(i) }))
        .collect();
    let r = sb
        .patch(
            &page,
            json!({"properties": {"Blocked by": {"relation": relation}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = sb
        .query(json!({"filter": {"property": "Name", "title": {"equals": "Task 1"}}}))
        .await;
    let found = &r["results"][0];
    assert_eq!(found["id"], page.as_str());
    assert_eq!(
        found["properties"]["Blocked by"]["relation"]
            .as_array()
            .unwrap()
            .len(),
        25
    );
    assert_eq!(found["properties"]["Blocked by"]["has_more"], true);
    assert_eq!(found, &sb.get(&format!("/v1/pages/{page}")).await.json());
}

#[tokio::test]
async fn pages_in_the_trash_are_left_out_unless_asked_for() {
    let mut seed = Seed::demo();
    seed.pages[0].in_trash = true;
    let sb = start(Options::new(seed)).await;
    let all = ids(&sb.query(json!({})).await["results"]);
    assert_eq!(all.len(), 18);
    assert!(!all.contains(&PAGE.to_string()));
    let r = sb.patch(PAGE2, json!({"in_trash": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let all = ids(&sb.query(json!({})).await["results"]);
    assert_eq!(all.len(), 17);
    assert!(!all.contains(&PAGE2.to_string()));
    // `in_trash: true` (the OpenAPI's flag) selects the trash instead.
    let mut trashed = ids(&sb.query(json!({"in_trash": true})).await["results"]);
    trashed.sort();
    assert_eq!(trashed, strs(&[PAGE, PAGE2]));
    // 2025-09-03 still knows `archived`; 2026-03-11 does not.
    assert_eq!(
        sb.query(json!({"archived": true})).await["results"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = sb
        .query_v(V2026, DATA_SOURCE, "", json!({"archived": true}))
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.archived should be not present, instead was `true`."
    );
}

#[tokio::test]
async fn the_query_cap_stops_a_query_with_request_status_incomplete() {
    let sb = start(Options {
        query_cap: 250,
        ..Options::new(Seed::generate(1000))
    })
    .await;
    let mut body = json!({"sorts": [{"timestamp": "created_time", "direction": "ascending"}]});
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = sb.query(body.clone()).await;
        pages += 1;
        assert_eq!(
            r["request_status"],
            json!({"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}),
            "every page of a capped query says so"
        );
        seen.extend(ids(&r["results"]));
        if r["has_more"] == false {
            assert_eq!(r["next_cursor"], Value::Null);
            break;
        }
        body["start_cursor"] = r["next_cursor"].clone();
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 250);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 250);
    // A query is capped by its own results: one that matches at most the cap is complete.
    for (filter, expected) in [
        (
            json!({"property": "Task ID", "unique_id": {"less_than_or_equal_to": 250}}),
            250,
        ),
        (
            json!({"property": "Task ID", "unique_id": {"greater_than": 900}}),
            100,
        ),
    ] {
        let got = sb.query_all(json!({ "filter": filter }), 100).await;
        assert_eq!(got.len(), expected);
        let r = sb.query(json!({ "filter": filter })).await;
        assert!(r.get("request_status").is_none(), "{}", r["request_status"]);
    }
    let stats = sb.handle.stats();
    assert_eq!(stats.queries, stats.requests);
}

#[tokio::test]
async fn windows_on_created_time_read_past_the_cap() {
    // 1,000 pages, 7 to a created_time minute, cap 250: each window is sorted by created_time
    // and starts at the last minute the previous one reached; the windows together hold every
    // page, and pages of the boundary minute come twice.
    let first = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let sb = start(Options {
        query_cap: 250,
        ..Options::new(Seed::generate(1000).created_per_minute(first, 7))
    })
    .await;
    let sorts = json!([{"timestamp": "created_time", "direction": "ascending"}]);
    let mut all = std::collections::BTreeSet::new();
    let mut from: Option<String> = None;
    let mut windows = 0;
    let mut reads = 0;
    loop {
        windows += 1;
        let mut body = json!({ "sorts": sorts, "page_size": 100 });
        if let Some(t) = &from {
            body["filter"] =
                json!({"timestamp": "created_time", "created_time": {"on_or_after": t}});
        }
        let mut last = None;
        let capped = loop {
            let r = sb.query(body.clone()).await;
            for p in r["results"].as_array().unwrap() {
                reads += 1;
                all.insert(p["id"].as_str().unwrap().to_string());
                let t = p["created_time"].as_str().unwrap().to_string();
                assert!(
                    t.ends_with(":00.000Z"),
                    "created_time is whole minutes: {t}"
                );
                last = Some(t);
            }
            if r["has_more"] == false {
                break r.get("request_status").is_some();
            }
            body["start_cursor"] = r["next_cursor"].clone();
        };
        if !capped {
            break;
        }
        assert_ne!(from, last, "each window moves on");
        from = last;
    }
    assert_eq!(all.len(), 1000);
    assert_eq!(windows, 5);
    assert!(reads > 1000, "boundary minutes are read twice ({reads})");
}

#[tokio::test]
async fn queries_follow_the_version() {
    let sb = demo().await;
    // 2022-06-28: the database query, with the old list type and parents.
    let r = sb
        .post(
            &format!("/v1/databases/{}/query", DATABASE.replace('-', "")),
            TOKEN,
            V2022,
            Some(json!({"page_size": 2}).to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["type"], "page_or_database");
    assert_eq!(body["page_or_database"], json!({}));
    assert_eq!(body["has_more"], true);
    assert_eq!(body["results"][0]["parent"]["type"], "database_id");
    assert_eq!(body["results"][0]["archived"], false);
    // The data source query does not exist before 2025-09-03, the database query after.
    let r = sb.query_v(V2022, DATA_SOURCE, "", json!({})).await;
    assert_eq!(r.error(400, "invalid_request_url"), "Invalid request URL.");
    for version in [V2025, V2026] {
        let r = sb
            .post(
                &format!("/v1/databases/{DATABASE}/query"),
                TOKEN,
                version,
                Some("{}".into()),
            )
            .await;
        r.error(400, "invalid_request_url");
    }
    let r = sb.query_v(V2026, DATA_SOURCE, "", json!({})).await;
    let body = r.json();
    assert_eq!(body["results"][0]["parent"]["type"], "data_source_id");
    assert!(body["results"][0].get("archived").is_none());
    // result_type: a plain database has only pages.
    let r = sb.query(json!({"result_type": "data_source"})).await;
    assert_eq!(r["results"], json!([]));
    assert_eq!(
        sb.query(json!({"result_type": "page"})).await["results"]
            .as_array()
            .unwrap()
            .len(),
        19
    );
}

#[tokio::test]
async fn unknown_data_sources_and_bad_bodies() {
    let sb = demo().await;
    let r = sb.query_v(V2025, MISSING, "", json!({})).await;
    assert_eq!(
        r.error(404, "object_not_found"),
        format!("Could not find data source with ID: {MISSING}. Make sure the relevant pages and databases are shared with your integration.")
    );
    // A database id is not a data source id.
    let r = sb.query_v(V2025, DATABASE, "", json!({})).await;
    r.error(404, "object_not_found");
    let r = sb.query_v(V2025, "nope", "", json!({})).await;
    assert_eq!(
        r.error(400, "validation_error"),
        "path failed validation: path.data_source_id should be a valid uuid, instead was `\"nope\"`."
    );
    let r = sb
        .post(
            &format!("/v1/data_sources/{DATA_SOURCE}/query"),
            TOKEN,
            V2025,
            Some("{not json".into()),
        )
        .await;
    assert_eq!(r.error(400, "invalid_json"), "Error parsing JSON body.");
    // No body at all is an empty query.
    let r = sb
        .post(
            &format!("/v1/data_sources/{DATA_SOURCE}/query"),
            TOKEN,
            V2025,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = sb
        .query_v(V2025, DATA_SOURCE, "", json!({"filters": {}}))
        .await;
    assert_eq!(
        r.error(400, "validation_error"),
        "body failed validation: body.filters should be not present, instead was `{}`."
    );
}

#[tokio::test]
async fn a_database_with_two_data_sources_cannot_be_queried_under_2022_06_28() {
    let sb = start(Options::new(demo_with_two_data_sources())).await;
    let r = sb
        .post(
            &format!("/v1/databases/{DATABASE}/query"),
            TOKEN,
            V2022,
            Some("{}".into()),
        )
        .await;
    let msg = r.error(400, "validation_error");
    assert!(msg.contains("has 2 data sources"), "{msg}");
    // Each data source is queried on its own.
    assert_eq!(
        sb.query(json!({})).await["results"]
            .as_array()
            .unwrap()
            .len(),
        19
    );
    let r = sb.query_v(V2025, SECOND_DATA_SOURCE, "", json!({})).await;
    assert_eq!(r.json()["results"], json!([]));
}

#[tokio::test]
async fn queries_pass_the_gate_draw_faults_and_are_logged_apart() {
    let sb = faulty(FaultKind::E503).await;
    let r = sb.query_v(V2025, DATA_SOURCE, "", json!({})).await;
    r.error(503, "service_unavailable");
    let r = sb
        .post(
            &format!("/v1/data_sources/{DATA_SOURCE}/query"),
            "wrong",
            V2025,
            Some("{}".into()),
        )
        .await;
    r.error(401, "unauthorized");
    // Reads stay reliable.
    assert_eq!(
        sb.get(&format!("/v1/data_sources/{DATA_SOURCE}"))
            .await
            .status,
        200
    );
    sb.patch(PAGE, status_body("Done"))
        .await
        .error(503, "service_unavailable");
    let log = sb.handle.requests();
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, format!("/v1/data_sources/{DATA_SOURCE}/query"));
    assert_eq!(log[0].fault, Some(FaultKind::E503));
    assert_eq!(log[1].fault, None, "no fault before the token check");
    assert_eq!(log[3].method, "PATCH");
    let stats = sb.handle.stats();
    assert_eq!((stats.requests, stats.queries), (4, 2));
}

#[tokio::test]
async fn a_query_past_the_rate_limit_is_429_with_retry_after() {
    let sb = start(Options {
        rate: Some(1.0),
        burst: Some(1),
        ..Options::new(Seed::demo())
    })
    .await;
    assert_eq!(
        sb.query_v(V2025, DATA_SOURCE, "", json!({})).await.status,
        200
    );
    let r = sb.query_v(V2025, DATA_SOURCE, "", json!({})).await;
    assert_eq!(
        r.error(429, "rate_limited"),
        "You have been rate limited. Please try again in a few minutes."
    );
    let secs: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
    assert_eq!(sb.handle.stats().rate_limited, 1);
}

#[tokio::test]
async fn an_edit_between_two_pages_of_a_query_is_seen_by_the_next_one() {
    let sb = demo().await;
    let high =
        json!({"filter": {"property": "Priority", "select": {"equals": "High"}}, "page_size": 3});
    let first = sb.query(high.clone()).await;
    let all = sb.query_all(high.clone(), 3).await;
    assert_eq!(all.len(), 7);
    // A page not yet read leaves the results; the cursor still resumes where it was.
    let leaving = all[5].clone();
    let r = sb
        .patch(
            &leaving,
            json!({"properties": {"Priority": {"select": {"name": "Low"}}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut body = high.clone();
    body["start_cursor"] = first["next_cursor"].clone();
    body["page_size"] = json!(100);
    let rest = ids(&sb.query(body).await["results"]);
    let expected: Vec<String> = all[3..]
        .iter()
        .filter(|id| **id != leaving)
        .cloned()
        .collect();
    assert_eq!(rest, expected);
}

#[tokio::test]
async fn a_held_request_waits_until_released_while_other_requests_go_through() {
    let sb = demo().await;
    let set = sb
        .http
        .post(sb.url("/__sandbox/hold"))
        .json(&json!({"method": "GET", "path": "/v1/pages/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let reader = {
        let http = sb.http.clone();
        let url = sb.url(&format!("/v1/pages/{PAGE}"));
        tokio::spawn(async move {
            http.get(url)
                .bearer_auth(TOKEN)
                .header("Notion-Version", V2025)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    // Answered once the read is waiting: an event, not a guess at timing.
    let waiting: Value = sb
        .http
        .get(sb.url("/__sandbox/hold?waiting=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(waiting["waiting"], 1, "{waiting}");
    // Another client's write goes through meanwhile, and the held read sees it.
    let r = sb.patch(PAGE, status_body("Done")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!reader.is_finished());
    let released = sb
        .http
        .delete(sb.url("/__sandbox/hold"))
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), 200);
    let page = reader.await.unwrap();
    assert_eq!(page["properties"]["Status"]["status"]["name"], "Done");
    assert_eq!(sb.handle.held(0).await.held, 1);
}
