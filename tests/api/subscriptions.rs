//! Subscriptions: a community says how the viewer follows it, a user's subscriptions are
//! listed, and following is idempotent (no second Follow for an accepted or recent follow).

use canopy_testkit::{eventually, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashMap;

async fn follows_sent(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox_activity WHERE kind = 'Follow'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    n
}

async fn follows_received(app: &TestApp) -> i64 {
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM received_activity WHERE ap_id LIKE '%/follow/%'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    n
}

#[tokio::test]
async fn local_communities_say_subscribed_and_subscriptions_page_once() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    for name in ["c1", "c2", "c3", "c4", "c5"] {
        let (s, b) = app
            .post(
                "/api/v1/communities",
                Some(&alice),
                json!({"name": name, "title": name}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (_, c) = app.get("/api/v1/communities/c1", Some(&bob)).await;
    assert_eq!(c["subscribed"], "none");
    let (_, c) = app.get("/api/v1/communities/c1", Some(&alice)).await;
    assert_eq!(c["subscribed"], "accepted", "the creator follows it");
    let (_, c) = app.get("/api/v1/communities/c1", None).await;
    assert_eq!(c["subscribed"], "none");

    for name in ["c2", "c4", "c5"] {
        for _ in 0..2 {
            let (s, f) = app
                .post(
                    "/api/v1/communities/follow",
                    Some(&bob),
                    json!({"community": name}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{f}");
            assert_eq!(f["pending"], false);
            assert_eq!(f["community"]["subscribed"], "accepted");
            assert_eq!(
                f["community"]["subscriber_count"], 2,
                "following twice counts once"
            );
        }
    }
    let (_, list) = app.get("/api/v1/communities?limit=10", Some(&bob)).await;
    let states: HashMap<String, String> = list["communities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["subscribed"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(states["c1"], "none");
    assert_eq!(states["c2"], "accepted");
    assert_eq!(states["c3"], "none");

    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("?limit=2&cursor={c}"))
            .unwrap_or_else(|| "?limit=2".into());
        let (s, page) = app
            .get(&format!("/api/v1/me/subscriptions{q}"), Some(&bob))
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        for c in page["communities"].as_array().unwrap() {
            assert_eq!(c["subscribed"], "accepted");
            seen.push(c["name"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(seen.len() < 20);
    }
    assert_eq!(seen, ["c2", "c4", "c5"]);
    let (s, b) = app.get("/api/v1/me/subscriptions", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
}

#[tokio::test]
async fn following_a_remote_community_again_sends_no_second_follow() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let bob = beta.user("bob").await;
    alpha.community_with_post(&alice, "forest").await;
    let handle = format!("forest@{}", alpha.public_url.trim_start_matches("http://"));
    let follow = || async {
        let (s, f) = beta
            .post(
                "/api/v1/communities/follow",
                Some(&bob),
                json!({"community": handle}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{f}");
        f
    };
    let f = follow().await;
    assert_eq!(f["pending"], true);
    assert_eq!(f["community"]["subscribed"], "pending");
    eventually("the follow is accepted", || async {
        let (_, c) = beta
            .get(&format!("/api/v1/communities/{handle}"), Some(&bob))
            .await;
        (c["subscribed"] == "accepted").then_some(())
    })
    .await;
    eventually("alpha has the Follow", || async {
        (follows_received(&alpha).await == 1).then_some(())
    })
    .await;

    // A client polling the follow endpoint: accepted stays accepted, nothing is queued.
    for _ in 0..3 {
        let f = follow().await;
        assert_eq!(f["pending"], false);
        assert_eq!(f["community"]["subscribed"], "accepted");
    }
    assert_eq!(follows_sent(&beta).await, 1);

    // Pending and sent recently: still nothing new.
    sqlx::query("UPDATE community_follow SET pending = true, requested_at = now()")
        .execute(&beta.db)
        .await
        .unwrap();
    let f = follow().await;
    assert_eq!(f["pending"], true);
    assert_eq!(follows_sent(&beta).await, 1);

    // Pending for more than an hour: the Follow is sent again, and accepted again.
    sqlx::query("UPDATE community_follow SET requested_at = now() - interval '2 hours'")
        .execute(&beta.db)
        .await
        .unwrap();
    let f = follow().await;
    assert_eq!(f["pending"], true);
    assert_eq!(follows_sent(&beta).await, 2);
    eventually("the re-sent follow is accepted", || async {
        let (_, c) = beta
            .get(&format!("/api/v1/communities/{handle}"), Some(&bob))
            .await;
        (c["subscribed"] == "accepted").then_some(())
    })
    .await;
    assert_eq!(follows_received(&alpha).await, 2);
    let (_, c) = alpha.get("/api/v1/communities/forest", None).await;
    assert_eq!(c["subscriber_count"], 2, "alice and bob");
}
