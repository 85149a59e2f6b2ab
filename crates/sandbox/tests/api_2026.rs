//! The API changes of 2026: version 2026-12-01 (title-only lists without `filter_properties`,
//! status `equals` without group matching), writable `verification`, and formula and rollup
//! values of type `unsupported`.

use super::*;

const V202612: &str = "2026-12-01";

#[tokio::test]
async fn from_2026_12_01_a_query_without_filter_properties_shows_the_title_alone() {
    let sb = demo().await;
    for (version, all) in [(V2025, true), (V2026, true), (V202612, false)] {
        let r = sb.query_v(version, DATA_SOURCE, "", json!({})).await;
        assert_eq!(r.status, 200, "{version}: {}", r.text);
        let body = r.json();
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 19);
        for page in results {
            let names = property_names(page);
            if all {
                assert!(names.len() > 10, "{version}: {names:?}");
            } else {
                assert_eq!(names, strs(&["Name"]), "{version}");
            }
            // Page-level fields do not change.
            assert!(page["url"].is_string() && page["last_edited_time"].is_string());
            // `archived` stays gone, as in 2026-03-11.
            assert_eq!(
                page.get("archived").is_some(),
                version == V2025,
                "{version}"
            );
        }
    }
    // With filter_properties, the properties it names, as before.
    let r = sb
        .query_v(
            V202612,
            DATA_SOURCE,
            "filter_properties=a%3Fb&filter_properties=title",
            json!({}),
        )
        .await;
    for page in r.json()["results"].as_array().unwrap() {
        assert_eq!(property_names(page), strs(&["Name", "Status"]));
    }
    // A page read is not a list: every property.
    let page = sb.get_v(&format!("/v1/pages/{PAGE}"), V202612).await.json();
    assert!(property_names(&page).len() > 10);
}

#[tokio::test]
async fn a_status_equals_matches_a_group_name_only_before_2026_12_01() {
    let sb = demo().await;
    // "To-do" is the group of the option "Not started", and no option's name.
    let group = json!({"property": "Status", "status": {"equals": "To-do"}});
    let not_started = sb
        .titles_v(
            V2025,
            json!({"property": "Status", "status": {"equals": "Not started"}}),
        )
        .await;
    assert!(!not_started.is_empty());
    assert_eq!(sb.titles_v(V2025, group.clone()).await, not_started);
    assert_eq!(sb.titles_v(V2026, group.clone()).await, not_started);
    assert_eq!(
        sb.titles_v(V202612, group.clone()).await,
        Vec::<String>::new()
    );
    let not_group = json!({"property": "Status", "status": {"does_not_equal": "To-do"}});
    assert_eq!(
        sb.titles_v(V2025, not_group.clone()).await.len(),
        19 - not_started.len()
    );
    assert_eq!(sb.titles_v(V202612, not_group).await.len(), 19);
    // An option's name names the option under every version ("In progress" is both).
    let option = json!({"property": "Status", "status": {"equals": "In progress"}});
    let in_progress = sb.titles_v(V2025, option.clone()).await;
    assert_eq!(sb.titles_v(V202612, option).await, in_progress);
}

/// The demo seed with a verification property, `Verified` (id `v%3Fr`), which page 2 has.
fn demo_with_verification() -> Seed {
    let mut seed = Seed::demo();
    seed.data_sources[0].properties.push(
        serde_json::from_value(json!({"id": "v%3Fr", "name": "Verified", "type": "verification"}))
            .unwrap(),
    );
    let page2 = seed.pages.iter_mut().find(|p| p.id == PAGE2).unwrap();
    page2.properties.insert(
        "Verified".into(),
        json!({"state": "verified", "date": {"start": "2026-01-01"}}),
    );
    seed
}

fn verification(v: Value) -> Value {
    json!({"properties": {"Verified": {"verification": v}}})
}

#[tokio::test]
async fn a_verification_is_set_cleared_and_shown_as_notion_shows_it() {
    let sb = start(Options::new(demo_with_verification())).await;
    // Never set: unverified.
    let page = sb.get(&format!("/v1/pages/{PAGE}")).await.json();
    assert_eq!(
        page["properties"]["Verified"],
        json!({"id": "v%3Fr", "type": "verification", "verification": {"state": "unverified", "verified_by": null, "date": null}})
    );
    let r = sb
        .patch(
            PAGE,
            verification(
                json!({"state": "verified", "date": {"start": "2026-12-01", "end": "2027-06-01"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let shown = &r.json()["properties"]["Verified"]["verification"];
    assert_eq!(shown["state"], "verified");
    assert_eq!(
        shown["date"],
        json!({"start": "2026-12-01", "end": "2027-06-01", "time_zone": null})
    );
    assert_eq!(shown["verified_by"]["object"], "user");
    assert!(shown["verified_by"]["id"].is_string());
    // Verified without a date.
    let r = sb
        .patch(PAGE, verification(json!({"state": "verified"})))
        .await;
    assert_eq!(
        r.json()["properties"]["Verified"]["verification"]["date"],
        Value::Null
    );
    // Cleared: unverified, nobody and no date.
    let r = sb
        .patch(PAGE2, verification(json!({"state": "unverified"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        sb.stored(PAGE2)["properties"]["Verified"]["verification"],
        json!({"state": "unverified", "verified_by": null, "date": null})
    );
}

#[tokio::test]
async fn a_verification_is_refused_as_notion_refuses_it() {
    let sb = start(Options::new(demo_with_verification())).await;
    let before = sb.stored(PAGE);
    for (value, path) in [
        (
            json!({"state": "unverified", "date": {"start": "2026-12-01"}}),
            "body.properties.Verified.verification.date",
        ),
        (
            json!({"state": "expired"}),
            "body.properties.Verified.verification.state",
        ),
        (
            json!({"date": {"start": "2026-12-01"}}),
            "body.properties.Verified.verification.state",
        ),
        (
            json!({"state": "verified", "date": {"start": "soon"}}),
            "body.properties.Verified.verification.date.start",
        ),
        (
            json!({"state": "verified", "verified_by": {"id": ADA}}),
            "body.properties.Verified.verification.verified_by",
        ),
    ] {
        let r = sb.patch(PAGE, verification(value.clone())).await;
        let message = r.error(400, "validation_error");
        assert!(message.contains(path), "{value}: {message}");
    }
    assert_eq!(sb.stored(PAGE), before);
}
