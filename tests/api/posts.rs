use canopy_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn communities_are_created_fetched_and_listed_by_cursor() {
    let app = TestApp::spawn().await;
    let token = app.user("mod").await;
    for i in 0..5 {
        let (s, b) = app
            .post("/api/v1/communities", Some(&token), json!({"name": format!("c{i}"), "title": format!("Community {i}"), "description": "*about*"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, c) = app.get("/api/v1/communities/c3", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["title"], "Community 3");
    assert_eq!(c["description_html"], "<p><em>about</em></p>\n");
    assert_eq!(
        c["subscriber_count"], 1,
        "the creator follows their community"
    );

    let mut names = vec![];
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/communities?sort=name&limit=2&cursor={c}"),
            None => "/api/v1/communities?sort=name&limit=2".to_string(),
        };
        let (s, page) = app.get(&path, None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        names.extend(
            page["communities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string()),
        );
        cursor = page["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4"]);
}

#[tokio::test]
async fn posts_are_listed_by_hot_top_and_new_and_edited_and_deleted() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (_, c) = app
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "news", "title": "News"}),
        )
        .await;
    let mut ids = vec![];
    for i in 0..6 {
        let (s, p) = app
            .post("/api/v1/posts", Some(&alice), json!({"community_id": c["id"], "title": format!("post {i}"), "url": "https://example.com/a", "body": "text"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        ids.push(p["id"].as_i64().unwrap());
    }
    // Every post starts with alice's own upvote. Post 2 gets bob's as well (alice's again changes
    // nothing): two upvotes; post 4 a downvote from bob: score 0.
    for token in [&alice, &bob] {
        let (s, v) = app
            .post(
                &format!("/api/v1/posts/{}/vote", ids[2]),
                Some(token),
                json!({"score": 1}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (_, p2) = app.get(&format!("/api/v1/posts/{}", ids[2]), None).await;
    assert_eq!(p2["counts"]["score"], 2, "{p2}");
    app.post(
        &format!("/api/v1/posts/{}/vote", ids[4]),
        Some(&bob),
        json!({"score": -1}),
    )
    .await;

    let list = |sort: &'static str| {
        let app = &app;
        async move {
            let mut out = vec![];
            let mut cursor: Option<String> = None;
            loop {
                let path = match &cursor {
                    Some(c) => {
                        format!("/api/v1/communities/news/posts?sort={sort}&limit=4&cursor={c}")
                    }
                    None => format!("/api/v1/communities/news/posts?sort={sort}&limit=4"),
                };
                let (s, page) = app.get(&path, None).await;
                assert_eq!(s, StatusCode::OK, "{page}");
                out.extend(
                    page["posts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p["id"].as_i64().unwrap()),
                );
                cursor = page["next_cursor"].as_str().map(String::from);
                if cursor.is_none() || out.len() > 20 {
                    return out;
                }
            }
        }
    };
    let new = list("new").await;
    assert_eq!(new, ids.iter().rev().copied().collect::<Vec<_>>());
    let top = list("top").await;
    assert_eq!(top[0], ids[2]);
    assert_eq!(*top.last().unwrap(), ids[4]);
    assert_eq!(top.len(), 6);
    let hot = list("hot").await;
    assert_eq!(hot.len(), 6);
    assert_eq!(
        hot[0], ids[2],
        "two upvotes outrank being a few seconds newer"
    );

    // Edit: only the creator.
    let (s, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/posts/{}", ids[0]),
            Some(&bob),
            Some(&json!({"title": "mine now"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, p) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/posts/{}", ids[0]),
            Some(&alice),
            Some(&json!({"title": "renamed", "body": "**new**", "url": ""})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["title"], "renamed");
    assert_eq!(p["body_html"], "<p><strong>new</strong></p>\n");
    assert!(p["url"].is_null());
    assert!(p["updated"].is_string());

    // Delete: gone from lists, placeholder on get.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{}", ids[0]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, p) = app.get(&format!("/api/v1/posts/{}", ids[0]), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["deleted"], true);
    assert_eq!(p["title"], "");
    assert!(!list("new").await.contains(&ids[0]));
}
