//! Saved posts and comments: save and unsave (idempotent), the `saved` flag in views, the list
//! paged exactly once.

use canopy_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;

async fn put(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    app.call(Method::PUT, path, Some(token), None).await
}

#[tokio::test]
async fn saved_posts_and_comments_are_flagged_listed_and_forgotten() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let post = app.community_with_post(&alice, "garden").await;
    let comments: Vec<i64> = {
        let mut v = vec![];
        for i in 0..4 {
            v.push(app.comment(&alice, post, None, &format!("c{i}")).await);
        }
        v
    };

    let (s, _) = put(&app, &format!("/api/v1/posts/{post}/save"), &bob).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Saving again changes nothing.
    let (s, _) = put(&app, &format!("/api/v1/posts/{post}/save"), &bob).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for c in &comments {
        let (s, _) = put(&app, &format!("/api/v1/comments/{c}/save"), &bob).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    // Unknown items: 404 in the error shape, nothing stored.
    let (s, b) = put(&app, "/api/v1/posts/999999/save", &bob).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(b["error"], "not_found");
    let (s, _) = put(&app, "/api/v1/comments/999999/save", &bob).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/posts/{post}/save"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The views say so for bob only.
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), Some(&bob)).await;
    assert_eq!(p["saved"], true);
    let (_, p) = app
        .get(&format!("/api/v1/posts/{post}"), Some(&alice))
        .await;
    assert_eq!(p["saved"], false);
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    assert_eq!(p["saved"], false);
    let (_, c) = app
        .get(&format!("/api/v1/comments/{}", comments[0]), Some(&bob))
        .await;
    assert_eq!(c["comment"]["saved"], true);
    let (_, tree) = app
        .get(&format!("/api/v1/posts/{post}/comments"), Some(&bob))
        .await;
    assert!(tree["comments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["saved"] == true));

    // The list: newest saved first, each once across pages of 2.
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    let mut order = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("?limit=2&cursor={c}"))
            .unwrap_or_else(|| "?limit=2".into());
        let (s, page) = app.get(&format!("/api/v1/me/saved{q}"), Some(&bob)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        for item in page["items"].as_array().unwrap() {
            let kind = item["kind"].as_str().unwrap().to_string();
            let id = item[kind.as_str()]["id"].as_i64().unwrap();
            *seen.entry((kind.clone(), id)).or_default() += 1;
            order.push((kind, id));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(order.len() < 50, "paging does not end");
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.values().all(|&n| n == 1));
    assert_eq!(order[0], ("comment".to_string(), comments[3]));
    assert_eq!(order[4], ("post".to_string(), post));

    // Unsave: gone from the list and the flag (and unsaving again is fine).
    for _ in 0..2 {
        let (s, _) = app
            .call(
                Method::DELETE,
                &format!("/api/v1/posts/{post}/save"),
                Some(&bob),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), Some(&bob)).await;
    assert_eq!(p["saved"], false);
    let (_, list) = app.get("/api/v1/me/saved", Some(&bob)).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
    let (_, list) = app.get("/api/v1/me/saved", Some(&alice)).await;
    assert_eq!(list["items"], serde_json::json!([]));
}
