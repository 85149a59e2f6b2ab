//! Notion's File Upload API: create (single_part, multi_part, external_url), send, complete,
//! retrieve and list; the per-file limit and `/v1/users/me`; expiry; attaching uploads to files
//! values, icons and covers (read back as hosted files); the `file_uploads` stats, duplicates
//! among them; and faults on upload requests.

use super::*;
use reqwest::multipart::{Form, Part};

const MIB: usize = 1024 * 1024;

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `n` bytes of a pattern that differs with `seed`.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

impl Sandbox {
    pub(super) async fn create_upload(&self, body: Value) -> Reply {
        self.post("/v1/file_uploads", TOKEN, V2025, Some(body.to_string()))
            .await
    }

    async fn send_form(&self, id: &str, form: Form) -> Result<Reply, reqwest::Error> {
        let resp = self
            .http
            .post(self.url(&format!("/v1/file_uploads/{id}/send")))
            .bearer_auth(TOKEN)
            .header("Notion-Version", V2025)
            .multipart(form)
            .send()
            .await?;
        Reply::read(resp).await
    }

    /// Send a file (or, with `part`, one part of it).
    pub(super) async fn send_file(&self, id: &str, content: Vec<u8>, part: Option<u32>) -> Reply {
        let mut form = Form::new().part(
            "file",
            Part::bytes(content)
                .file_name("form-name.bin")
                .mime_str("application/octet-stream")
                .unwrap(),
        );
        if let Some(n) = part {
            form = form.text("part_number", n.to_string());
        }
        self.send_form(id, form).await.expect("send answered")
    }

    async fn complete(&self, id: &str) -> Reply {
        self.post(
            &format!("/v1/file_uploads/{id}/complete"),
            TOKEN,
            V2025,
            None,
        )
        .await
    }

    async fn retrieve(&self, id: &str) -> Reply {
        self.get(&format!("/v1/file_uploads/{id}")).await
    }

    /// A single-part upload of `content` as `filename`, sent: its id.
    pub(super) async fn uploaded_file(&self, content: &[u8], filename: &str) -> String {
        let r = self
            .create_upload(json!({"filename": filename, "content_type": "text/plain"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let id = r.json()["id"].as_str().unwrap().to_string();
        let r = self.send_file(&id, content.to_vec(), None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["status"], "uploaded", "{}", r.text);
        id
    }

    async fn uploads(&self) -> Value {
        self.get("/__sandbox/uploads").await.json()["uploads"].clone()
    }

    async fn upload_stats(&self) -> Value {
        self.get("/__sandbox/stats").await.json()["file_uploads"].clone()
    }

    async fn expire_all(&self) -> Value {
        self.post("/__sandbox/expire_uploads", TOKEN, V2025, None)
            .await
            .json()
    }

    async fn attach_files(&self, items: Value) -> Reply {
        self.patch(
            PAGE,
            json!({"properties": {"Attachments": {"files": items}}}),
        )
        .await
    }
}

fn hosted_base(url: &Value) -> String {
    let url = url.as_str().unwrap();
    url.split_once('?').map_or(url, |(b, _)| b).to_string()
}

#[tokio::test]
async fn single_part_upload_attached_to_files_icon_and_cover_reads_back_hosted() {
    let sb = demo().await;
    let r = sb
        .create_upload(json!({"filename": "notes.txt", "content_type": "text/plain"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["object"], "file_upload");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["filename"], "notes.txt");
    assert_eq!(created["content_type"], "text/plain");
    assert_eq!(created["content_length"], Value::Null);
    assert_eq!(created["archived"], false);
    assert_eq!(created["in_trash"], false);
    assert!(created.get("number_of_parts").is_none(), "{created}");
    assert_eq!(
        created["upload_url"],
        sb.url(&format!("/v1/file_uploads/{id}/send"))
    );
    let t = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert_eq!(
        t(&created["expiry_time"]) - t(&created["created_time"]),
        chrono::Duration::hours(1)
    );
    // The 2026-03-11 shape has no `archived`.
    let r = sb.get_v(&format!("/v1/file_uploads/{id}"), V2026).await;
    assert!(r.json().get("archived").is_none(), "{}", r.text);

    // Attaching before the content is there is refused.
    let r = sb.attach_files(json!([{"file_upload": {"id": id}}])).await;
    let msg = r.error(400, "validation_error");
    assert!(msg.contains(&id) && msg.contains("pending"), "{msg}");

    let content = b"hello, hosted world\n".to_vec();
    let r = sb.send_file(&id, content.clone(), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sent = r.json();
    assert_eq!(sent["status"], "uploaded");
    assert_eq!(sent["content_length"], content.len());
    assert_eq!(sb.retrieve(&id).await.json()["status"], "uploaded");
    // A second send to an uploaded upload is refused.
    let msg = sb
        .send_file(&id, content.clone(), None)
        .await
        .error(400, "validation_error");
    assert!(msg.contains("already uploaded"), "{msg}");

    // Files property: name defaults to the upload's filename; read back as a hosted file.
    let r = sb.attach_files(json!([{"file_upload": {"id": id}}])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let item = r.json()["properties"]["Attachments"]["files"][0].clone();
    assert_eq!(item["type"], "file", "{item}");
    assert_eq!(item["name"], "notes.txt");
    assert!(item["file"]["url"]
        .as_str()
        .unwrap()
        .contains("X-Amz-Signature="));
    assert!(item["file"]["expiry_time"].is_string());
    let base = hosted_base(&item["file"]["url"]);
    assert!(base.contains(&id), "{base}");
    // Attached: permanent.
    assert_eq!(sb.retrieve(&id).await.json()["expiry_time"], Value::Null);
    // Re-applying what a read gave keeps the same hosted file.
    let r = sb.attach_files(json!([item])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let again = &r.json()["properties"]["Attachments"]["files"][0];
    assert_eq!(hosted_base(&again["file"]["url"]), base);
    assert_ne!(again["file"]["url"], item["file"]["url"], "signed per read");
    // A name given wins.
    let r = sb
        .attach_files(
            json!([{"type": "file_upload", "file_upload": {"id": id}, "name": "Renamed"}]),
        )
        .await;
    assert_eq!(
        r.json()["properties"]["Attachments"]["files"][0]["name"],
        "Renamed"
    );

    // Icon and cover from uploads (the same upload attached again, and a second one).
    let cover_id = sb.uploaded_file(b"cover bytes", "cover.png").await;
    let r = sb
        .patch(
            PAGE,
            json!({"icon": {"type": "file_upload", "file_upload": {"id": id}},
                   "cover": {"file_upload": {"id": cover_id}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let page = r.json();
    for (key, upload) in [("icon", &id), ("cover", &cover_id)] {
        assert_eq!(page[key]["type"], "file", "{key}: {page}");
        let url = page[key]["file"]["url"].as_str().unwrap();
        assert!(
            url.contains(upload.as_str()) && url.contains("X-Amz-Signature="),
            "{url}"
        );
        assert!(page[key]["file"]["expiry_time"].is_string());
    }
    let read = sb.get(&format!("/v1/pages/{PAGE}")).await.json();
    assert_eq!(
        hosted_base(&read["cover"]["file"]["url"]),
        hosted_base(&page["cover"]["file"]["url"])
    );

    let listed = sb.uploads().await;
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == id.as_str())
        .unwrap();
    assert_eq!(mine["sha256"], sha_hex(&content));
    assert_eq!(mine["content_length"], content.len());
    assert_eq!(mine["status"], "uploaded");
    assert_eq!(mine["attached"], true);
    let stats = sb.upload_stats().await;
    assert_eq!(stats["created"], 2, "{stats}");
    assert_eq!(stats["uploaded"], 2);
    assert_eq!(stats["parts_received"], 2);
    assert_eq!(
        stats["bytes_received"],
        content.len() + b"cover bytes".len()
    );
    assert_eq!(stats["attached"], 2);
    assert_eq!(
        stats["attachments"], 4,
        "files twice, icon, cover; the re-applied hosted file is no attachment"
    );
    assert_eq!(stats["duplicate_uploads"], 0);
    assert_eq!(sb.handle.stats().file_uploads.attached, 2);
}

#[tokio::test]
async fn create_is_validated_like_notion() {
    let sb = demo().await;
    let long = "a".repeat(897) + ".txt";
    let cases = [
        (json!({"mode": "chunked"}), "body.mode should be one of"),
        (json!({"filename": long}), "at most 900 bytes"),
        (json!({"filename": 5}), "body.filename should be a string"),
        (
            json!({"mode": "multi_part", "filename": "a.bin"}),
            "body.number_of_parts",
        ),
        (
            json!({"mode": "multi_part", "number_of_parts": 2}),
            "body.filename should be defined",
        ),
        (
            json!({"mode": "multi_part", "filename": "a.bin", "number_of_parts": 0}),
            "from 1 to 1000",
        ),
        (
            json!({"mode": "multi_part", "filename": "a.bin", "number_of_parts": 1001}),
            "from 1 to 1000",
        ),
        (json!({"number_of_parts": 2}), "only allowed when body.mode"),
        (json!({"mode": "external_url"}), "body.external_url"),
        (
            json!({"mode": "external_url", "external_url": "http://e.com/a.png"}),
            "not an https:// URL",
        ),
        (
            json!({"external_url": "https://e.com/a.png"}),
            "only allowed when body.mode",
        ),
        (json!({"size": 5}), "size"),
    ];
    for (body, wanted) in cases {
        let msg = sb
            .create_upload(body.clone())
            .await
            .error(400, "validation_error");
        assert!(msg.contains(wanted), "{body}: {msg}");
    }
    // 900 bytes is allowed, and so is an empty body (single_part).
    let ok = "a".repeat(896) + ".txt";
    assert_eq!(sb.create_upload(json!({"filename": ok})).await.status, 200);
    let r = sb.post("/v1/file_uploads", TOKEN, V2025, None).await;
    assert_eq!(r.json()["status"], "pending", "{}", r.text);
    assert_eq!(sb.upload_stats().await["created"], 2);
    // The gate: token and version.
    let r = sb
        .post("/v1/file_uploads", "nope", V2025, Some("{}".into()))
        .await;
    r.error(401, "unauthorized");
    let r = sb
        .send(
            reqwest::Method::GET,
            "/v1/file_uploads",
            Some(TOKEN),
            None,
            None,
        )
        .await
        .unwrap();
    r.error(400, "missing_version");
    sb.retrieve(MISSING).await.error(404, "object_not_found");
    sb.retrieve("nope").await.error(400, "validation_error");
}

#[tokio::test]
async fn multi_part_out_of_order_with_a_resent_part() {
    let sb = demo().await;
    let r = sb
        .create_upload(json!({"mode": "multi_part", "filename": "big.bin", "number_of_parts": 3}))
        .await;
    let created = r.json();
    assert_eq!(
        created["number_of_parts"],
        json!({"total": 3, "sent": 0}),
        "{created}"
    );
    assert!(created["complete_url"]
        .as_str()
        .unwrap()
        .ends_with("/complete"));
    let id = created["id"].as_str().unwrap().to_string();
    let (p1_old, p1, p2, p3) = (
        bytes(5 * MIB, 9),
        bytes(5 * MIB, 1),
        bytes(6 * MIB, 2),
        bytes(10, 3),
    );
    for (n, part) in [(3, &p3), (1, &p1_old), (2, &p2), (1, &p1)] {
        let r = sb.send_file(&id, part.clone(), Some(n)).await;
        assert_eq!(r.status, 200, "part {n}: {}", r.text);
        assert_eq!(r.json()["status"], "pending");
    }
    let r = sb.retrieve(&id).await.json();
    assert_eq!(r["number_of_parts"], json!({"total": 3, "sent": 3}));
    // Part numbers outside 1..=3, or none, are refused.
    for n in [Some(0), Some(4), None] {
        let msg = sb
            .send_file(&id, b"x".to_vec(), n)
            .await
            .error(400, "validation_error");
        assert!(msg.contains("part_number"), "{n:?}: {msg}");
    }
    let r = sb.complete(&id).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let done = r.json();
    assert_eq!(done["status"], "uploaded");
    assert_eq!(done["content_length"], p1.len() + p2.len() + p3.len());
    let whole: Vec<u8> = [p1, p2, p3].concat();
    let listed = sb.uploads().await;
    assert_eq!(listed[0]["sha256"], sha_hex(&whole), "{listed}");
    let stats = sb.upload_stats().await;
    assert_eq!(stats["parts_received"], 4, "{stats}");
    assert_eq!(stats["uploaded"], 1);
    assert_eq!(
        stats["duplicate_uploads"], 0,
        "a resent part is no duplicate"
    );
    // Completing again is refused; so is completing a single-part upload.
    sb.complete(&id).await.error(400, "validation_error");
    let single = sb.create_upload(json!({})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let msg = sb.complete(&single).await.error(400, "validation_error");
    assert!(msg.contains("multi_part"), "{msg}");
    // A part_number on a single-part upload is refused.
    let msg = sb
        .send_file(&single, b"x".to_vec(), Some(1))
        .await
        .error(400, "validation_error");
    assert!(msg.contains("single_part"), "{msg}");
}

#[tokio::test]
async fn multi_part_complete_refuses_a_small_middle_part_a_missing_part_and_large_parts() {
    let sb = demo().await;
    let new = |n: u32| json!({"mode": "multi_part", "filename": "big.bin", "number_of_parts": n});
    let id = sb.create_upload(new(3)).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        sb.send_file(&id, bytes(5 * MIB, 1), Some(1)).await.status,
        200
    );
    assert_eq!(sb.send_file(&id, bytes(MIB, 2), Some(3)).await.status, 200);
    let msg = sb.complete(&id).await.error(400, "validation_error");
    assert!(
        msg.contains("part 2 missing") && msg.contains("received 2"),
        "{msg}"
    );
    assert_eq!(sb.send_file(&id, bytes(MIB, 2), Some(2)).await.status, 200);
    let msg = sb.complete(&id).await.error(400, "validation_error");
    assert!(
        msg.contains("Part 2 of file upload") && msg.contains("at least 5242880"),
        "{msg}"
    );
    assert_eq!(sb.retrieve(&id).await.json()["status"], "pending");
    // Sent again at the right size, it completes.
    assert_eq!(
        sb.send_file(&id, bytes(5 * MIB, 2), Some(2)).await.status,
        200
    );
    assert_eq!(sb.complete(&id).await.json()["status"], "uploaded");
    // More than 20 MiB in one send is refused, single part or part.
    let id = sb.create_upload(new(2)).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let msg = sb
        .send_file(&id, bytes(20 * MIB + 1, 0), Some(1))
        .await
        .error(400, "validation_error");
    assert!(msg.contains("20971521 bytes"), "{msg}");
    let single = sb.create_upload(json!({})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.send_file(&single, bytes(20 * MIB + 1, 0), None)
        .await
        .error(400, "validation_error");
    // Exactly 20 MiB passes (the 500 KB JSON limit does not apply to send).
    let r = sb.send_file(&single, bytes(20 * MIB, 0), None).await;
    assert_eq!(r.json()["content_length"], 20 * MIB, "{}", r.text);
}

#[tokio::test]
async fn external_url_imports_are_https_only_pending_until_polled_and_may_fail() {
    let sb = start(Options {
        import_polls: 2,
        ..Options::new(Seed::demo())
    })
    .await;
    let url = "https://cdn.example.com/exports/photo.png?sig=abc";
    let r = sb
        .create_upload(json!({"mode": "external_url", "external_url": url}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "pending");
    assert_eq!(created["filename"], "photo.png");
    assert!(created.get("upload_url").is_none(), "{created}");
    assert!(created.get("file_import_result").is_none(), "{created}");
    let msg = sb
        .send_file(&id, b"x".to_vec(), None)
        .await
        .error(400, "validation_error");
    assert!(msg.contains("external_url"), "{msg}");
    let msg = sb
        .attach_files(json!([{"file_upload": {"id": id}}]))
        .await
        .error(400, "validation_error");
    assert!(msg.contains("pending") && msg.contains("import"), "{msg}");
    assert_eq!(sb.retrieve(&id).await.json()["status"], "pending");
    let done = sb.retrieve(&id).await.json();
    assert_eq!(done["status"], "uploaded", "{done}");
    assert_eq!(done["file_import_result"]["type"], "success");
    assert!(done["file_import_result"]["imported_time"].is_string());
    let r = sb.attach_files(json!([{"file_upload": {"id": id}}])).await;
    assert_eq!(
        r.json()["properties"]["Attachments"]["files"][0]["name"],
        "photo.png"
    );
    assert_eq!(sb.uploads().await[0]["sha256"], sha_hex(url.as_bytes()));

    let failing = "https://cdn.example.com/import-fails/doc.pdf";
    let id = sb
        .create_upload(
            json!({"mode": "external_url", "external_url": failing, "filename": "doc.pdf"}),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.retrieve(&id).await;
    let failed = sb.retrieve(&id).await.json();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["file_import_result"]["type"], "error");
    assert_eq!(
        failed["file_import_result"]["error"]["type"],
        "download_error"
    );
    let msg = sb
        .attach_files(json!([{"file_upload": {"id": id}}]))
        .await
        .error(400, "validation_error");
    assert!(msg.contains("failed"), "{msg}");
    let stats = sb.upload_stats().await;
    assert_eq!(
        (
            stats["imports"].clone(),
            stats["failed"].clone(),
            stats["uploaded"].clone()
        ),
        (json!(2), json!(1), json!(1))
    );
    // The list filters by status.
    let r = sb.get("/v1/file_uploads?status=failed").await.json();
    assert_eq!(r["results"].as_array().unwrap().len(), 1);
    assert_eq!(r["results"][0]["id"], id.as_str());
    assert_eq!(r["type"], "file_upload");
    sb.get("/v1/file_uploads?status=done")
        .await
        .error(400, "validation_error");
    let page = sb.get("/v1/file_uploads?page_size=1").await.json();
    assert_eq!(page["has_more"], true);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = sb
        .get(&format!(
            "/v1/file_uploads?page_size=1&start_cursor={cursor}"
        ))
        .await
        .json();
    assert_eq!(next["has_more"], false);
    assert_ne!(next["results"][0]["id"], page["results"][0]["id"]);
}

#[tokio::test]
async fn the_per_file_limit_is_a_flag_shown_by_users_me() {
    let mut seed = Seed::demo();
    seed.users.push(sandbox::SeedUser {
        id: "5a4dba00-0000-4000-8000-000000000b07".into(),
        name: "Bulk bot".into(),
        kind: "bot".into(),
        email: None,
    });
    let sb = start(Options {
        max_file_upload_size: 100,
        ..Options::new(seed)
    })
    .await;
    let me = sb.get("/v1/users/me").await.json();
    assert_eq!(me["type"], "bot", "{me}");
    assert_eq!(me["name"], "Bulk bot");
    assert_eq!(
        me["bot"]["workspace_limits"]["max_file_upload_size_in_bytes"],
        100
    );
    let users = sb.get("/v1/users").await.json();
    let bot = users["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == me["id"])
        .expect("the bot is listed");
    assert_eq!(bot, &me);

    let id = sb.create_upload(json!({})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let msg = sb
        .send_file(&id, bytes(101, 0), None)
        .await
        .error(400, "validation_error");
    assert!(
        msg.contains("101 bytes") && msg.contains("limit of 100 bytes"),
        "{msg}"
    );
    assert_eq!(sb.send_file(&id, bytes(100, 0), None).await.status, 200);
    // Multi-part: the parts together.
    let id = sb
        .create_upload(json!({"mode": "multi_part", "filename": "a.bin", "number_of_parts": 2}))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sb.send_file(&id, bytes(60, 0), Some(1)).await.status, 200);
    sb.send_file(&id, bytes(60, 0), Some(2))
        .await
        .error(400, "validation_error");
    // An import the sandbox is told is too large.
    let msg = sb
        .create_upload(
            json!({"mode": "external_url", "external_url": "https://e.com/import-too-large.zip"}),
        )
        .await
        .error(400, "validation_error");
    assert!(msg.contains("limit of 100 bytes"), "{msg}");
    // Without the flag: 5 GiB.
    let sb = demo().await;
    let me = sb.get("/v1/users/me").await.json();
    assert_eq!(
        me["bot"]["workspace_limits"]["max_file_upload_size_in_bytes"],
        5_368_709_120u64
    );
}

#[tokio::test]
async fn unattached_uploads_expire_and_expired_pending_or_unknown_ones_are_refused() {
    let sb = demo().await;
    let attached = sb.uploaded_file(b"kept", "kept.txt").await;
    assert_eq!(
        sb.attach_files(json!([{"file_upload": {"id": attached}}]))
            .await
            .status,
        200
    );
    let loose = sb.uploaded_file(b"loose", "loose.txt").await;
    let pending = sb.create_upload(json!({})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sb.expire_all().await, json!({"expired": 2}));
    assert_eq!(sb.retrieve(&loose).await.json()["status"], "expired");
    assert_eq!(sb.retrieve(&pending).await.json()["status"], "expired");
    assert_eq!(sb.retrieve(&attached).await.json()["status"], "uploaded");
    let msg = sb
        .attach_files(json!([{"file_upload": {"id": loose}}]))
        .await
        .error(400, "validation_error");
    assert!(msg.contains(&loose) && msg.contains("expired"), "{msg}");
    let msg = sb
        .send_file(&pending, b"late".to_vec(), None)
        .await
        .error(400, "validation_error");
    assert!(msg.contains("expired"), "{msg}");
    let fresh = sb.create_upload(json!({})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let msg = sb
        .patch(PAGE, json!({"icon": {"file_upload": {"id": fresh}}}))
        .await
        .error(400, "validation_error");
    assert!(
        msg.contains("body.icon.file_upload.id") && msg.contains("pending"),
        "{msg}"
    );
    let msg = sb
        .patch(PAGE, json!({"cover": {"file_upload": {"id": MISSING}}}))
        .await
        .error(400, "validation_error");
    assert!(
        msg.contains(MISSING) && msg.contains("does not exist"),
        "{msg}"
    );
    // A refused write changes nothing; the attached upload may be attached again.
    assert_eq!(sb.stored(PAGE)["cover"], Value::Null);
    let r = sb.attach_files(json!([{"file_upload": {"id": attached}}, {"file_upload": {"id": attached}, "name": "twice"}])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        sb.get("/v1/file_uploads?status=expired").await.json()["results"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let stats = sb.upload_stats().await;
    assert_eq!(stats["expired"], 2, "{stats}");
    assert_eq!(stats["attached"], 1);
    assert_eq!(stats["attachments"], 3);
}

#[tokio::test]
async fn duplicate_uploads_count_the_same_bytes_uploaded_again() {
    let sb = demo().await;
    sb.uploaded_file(b"same bytes", "a.txt").await;
    assert_eq!(sb.upload_stats().await["duplicate_uploads"], 0);
    sb.uploaded_file(b"same bytes", "b.txt").await;
    assert_eq!(sb.upload_stats().await["duplicate_uploads"], 1);
    sb.uploaded_file(b"other bytes", "c.txt").await;
    let stats = sb.upload_stats().await;
    assert_eq!(stats["duplicate_uploads"], 1, "{stats}");
    assert_eq!(stats["uploaded"], 3);
    // Multi-part content equal to a single-part one is a duplicate too (same bytes).
    let content = bytes(5 * MIB + 3, 7);
    sb.uploaded_file(&content, "d.bin").await;
    let id = sb
        .create_upload(json!({"mode": "multi_part", "filename": "d.bin", "number_of_parts": 2}))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.send_file(&id, content[..5 * MIB].to_vec(), Some(1))
        .await;
    sb.send_file(&id, content[5 * MIB..].to_vec(), Some(2))
        .await;
    assert_eq!(sb.complete(&id).await.status, 200);
    assert_eq!(sb.upload_stats().await["duplicate_uploads"], 2);
}

#[tokio::test]
async fn an_e504_applied_fault_on_upload_requests_takes_effect_and_a_reset_does_not() {
    let sb = start(Options {
        faults: FaultSpec::only(FaultKind::E504Applied, 1.0),
        ..Options::new(Seed::demo())
    })
    .await;
    let r = sb.create_upload(json!({"filename": "a.txt"})).await;
    r.error(504, "gateway_timeout");
    let listed = sb.uploads().await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "the create took effect"
    );
    let id = listed[0]["id"].as_str().unwrap().to_string();
    sb.send_file(&id, b"part".to_vec(), None)
        .await
        .error(504, "gateway_timeout");
    // Retrieve is not faulted: the send took effect.
    let r = sb.retrieve(&id).await;
    assert_eq!(r.json()["status"], "uploaded", "{}", r.text);
    assert_eq!(sb.uploads().await[0]["sha256"], sha_hex(b"part"));
    let stats = sb.handle.stats();
    assert_eq!(stats.faults.get(&FaultKind::E504Applied), Some(&2));
    assert_eq!(stats.file_uploads.uploaded, 1);

    // A multi-part send answered 504 stores the part; a retry replaces it, not adds one.
    let id = sb
        .create_upload(json!({"mode": "multi_part", "filename": "b.bin", "number_of_parts": 2}))
        .await;
    id.error(504, "gateway_timeout");
    let id = sb.uploads().await[1]["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        sb.send_file(&id, bytes(5 * MIB, 1), Some(1))
            .await
            .error(504, "gateway_timeout");
    }
    assert_eq!(
        sb.retrieve(&id).await.json()["number_of_parts"],
        json!({"total": 2, "sent": 1})
    );

    // A reset on send is not applied.
    let sb = start(Options {
        fail_first: vec![FailFirst::new(
            "POST",
            "/v1/file_uploads/",
            &[FaultKind::Reset],
        )],
        ..Options::new(Seed::demo())
    })
    .await;
    let id = sb.create_upload(json!({})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let form = Form::new().part("file", Part::bytes(b"lost".to_vec()).file_name("a.txt"));
    assert!(sb.send_form(&id, form).await.is_err(), "connection dropped");
    assert_eq!(sb.retrieve(&id).await.json()["status"], "pending");
    assert_eq!(
        sb.send_file(&id, b"kept".to_vec(), None).await.json()["status"],
        "uploaded"
    );
    assert_eq!(sb.upload_stats().await["parts_received"], 1);
}
