//! A local community speaks each follower's dialect: threaded servers (Lemmy and kin) get
//! `Announce(Create(Page))`, microblogs (Mastodon and kin, known from NodeInfo) get an
//! `Announce` of the post itself, which they display as a boost.

use canopy_testkit::standin::StandIn;
use canopy_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn serve_nodeinfo(s: &StandIn, software: &str) {
    s.put(
        "/.well-known/nodeinfo",
        // The instance actor's link (FEP-2677) comes last, as Canopy and others serve it: the
        // reader must still pick the NodeInfo document.
        json!({"links": [
            {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": format!("{}/nodeinfo/2.1", s.base)},
            {"rel": "https://www.w3.org/ns/activitystreams#Application", "href": format!("{}/actor", s.base)},
        ]}),
    );
    s.put("/nodeinfo/2.1", json!({"version": "2.1", "software": {"name": software, "version": "4.3.0"}, "protocols": ["activitypub"]}));
}

#[tokio::test]
async fn mastodon_followers_get_a_boost_of_the_post_and_lemmy_followers_the_wrapped_activity() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let (_, c) = app
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "town", "title": "Town"}),
        )
        .await;
    let community = format!("{}/c/town", app.public_url);

    let mastodon = StandIn::start().await;
    serve_nodeinfo(&mastodon, "mastodon");
    let lemmy = StandIn::start().await;
    serve_nodeinfo(&lemmy, "lemmy");
    for s in [&mastodon, &lemmy] {
        let follower = s.person("fan");
        let follow = json!({"id": format!("{}/follows/1", s.base), "type": "Follow", "actor": follower, "object": community});
        let (status, text) = s.deliver(&format!("{}/inbox", app.base_url), &follow).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    }
    let software: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT authority, software FROM instance WHERE NOT is_local ORDER BY software",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        software
            .iter()
            .filter_map(|(_, s)| s.clone())
            .collect::<Vec<_>>(),
        ["lemmy", "mastodon"]
    );

    let (s, post) = app
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": c["id"], "title": "Market day"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let post_ap = post["ap_id"].as_str().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let sent: Vec<(String, Value, String)> = loop {
        let rows: Vec<(String, Value, String)> = sqlx::query_as(
            "SELECT d.inbox_url, a.payload, d.state FROM delivery d JOIN outbox_activity a ON a.id = d.activity_id
             WHERE a.kind = 'Announce' ORDER BY d.inbox_url",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        if rows.len() == 2 && rows.iter().all(|(_, _, state)| state == "done") {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "announces not delivered: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (inbox, payload, _) in &sent {
        if inbox.starts_with(&mastodon.base) {
            assert_eq!(
                payload["object"], post_ap,
                "Mastodon gets the post itself: {payload}"
            );
        } else {
            assert!(inbox.starts_with(&lemmy.base));
            assert_eq!(
                payload["object"]["type"], "Create",
                "Lemmy gets the wrapped activity: {payload}"
            );
            assert_eq!(payload["object"]["object"]["id"], post_ap);
        }
    }

    // A comment is announced to the Lemmy follower only.
    app.comment(&alice, post["id"].as_i64().unwrap(), None, "first")
        .await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.inbox_url, a.payload->'object'->>'type' FROM delivery d JOIN outbox_activity a ON a.id = d.activity_id
         WHERE a.kind = 'Announce' AND a.payload->'object'->'object'->>'type' = 'Note'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].0.starts_with(&lemmy.base));
}
