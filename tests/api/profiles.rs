//! Profiles and settings: editing one's profile (URLs validated), settings shown by `/me`, the
//! Person actor's pictures, the Update sent to other servers, and a user's posts and comments
//! paged newest first.

use canopy_testkit::{eventually, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn patch_me(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, "/api/v1/me", Some(token), Some(&body))
        .await
}

#[tokio::test]
async fn profile_edits_validate_picture_urls_and_settings() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let long = format!("https://pics.example/{}", "a".repeat(2_100));
    for (field, bad) in [
        ("avatar_url", "javascript:alert(1)"),
        ("avatar_url", "data:image/png;base64,AAAA"),
        ("banner_url", "ftp://pics.example/b.png"),
        ("avatar_url", "/relative.png"),
        ("avatar_url", long.as_str()),
    ] {
        let (s, b) = patch_me(&app, &alice, json!({ field: bad })).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}={bad}: {b}");
        assert_eq!(b["error"], "invalid_input", "{b}");
    }
    for body in [
        json!({"default_sort": "sideways"}),
        json!({"default_listing": "everything"}),
        json!({"display_name": "two\nlines"}),
        json!({"bio": "x".repeat(5_001)}),
    ] {
        let (s, b) = patch_me(&app, &alice, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
    }
    let (s, b) = patch_me(&app, &alice, json!({"unknown": 1})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["error"], "invalid_body");
    let (_, me) = app.get("/api/v1/me", Some(&alice)).await;
    assert_eq!(me["avatar_url"], Value::Null, "nothing was stored: {me}");
    assert_eq!(
        me["settings"],
        json!({"default_sort": "hot", "default_listing": "all"})
    );

    let (s, me) = patch_me(
        &app,
        &alice,
        json!({"display_name": "Alice A.", "bio": "I like *trees* <script>alert(1)</script>",
               "avatar_url": "https://pics.example/a.png", "banner_url": "http://pics.example/b.jpg",
               "default_sort": "new", "default_listing": "subscribed"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["display_name"], "Alice A.");
    assert_eq!(me["avatar_url"], "https://pics.example/a.png");
    assert_eq!(me["settings"]["default_sort"], "new");
    assert_eq!(me["settings"]["default_listing"], "subscribed");
    let bio_html = me["bio_html"].as_str().unwrap();
    assert!(bio_html.contains("<em>trees</em>"), "{bio_html}");
    assert!(!bio_html.contains("<script"), "{bio_html}");

    // Public profile and the actor show them.
    let (_, u) = app.get("/api/v1/users/alice", None).await;
    assert_eq!(u["banner_url"], "http://pics.example/b.jpg");
    let actor: Value = reqwest::Client::new()
        .get(format!("{}/u/alice", app.base_url))
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        actor["icon"],
        json!({"type": "Image", "url": "https://pics.example/a.png"})
    );
    assert_eq!(
        actor["image"],
        json!({"type": "Image", "url": "http://pics.example/b.jpg"})
    );
    assert_eq!(actor["name"], "Alice A.");
    assert_eq!(
        actor["source"]["content"],
        "I like *trees* <script>alert(1)</script>"
    );

    // Absent fields stay; null clears.
    let (s, me) = patch_me(&app, &alice, json!({"avatar_url": null})).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["avatar_url"], Value::Null);
    assert_eq!(me["display_name"], "Alice A.");
    assert_eq!(me["settings"]["default_sort"], "new");
}

#[tokio::test]
async fn a_profile_change_reaches_the_home_of_a_community_the_user_wrote_in() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let bob = beta.user("bob").await;
    beta.community_with_post(&bob, "forest").await;
    let handle = format!("forest@{}", beta.public_url.trim_start_matches("http://"));
    let (s, f) = alpha
        .post(
            "/api/v1/communities/follow",
            Some(&alice),
            json!({"community": handle}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    eventually("alice's follow is accepted", || async {
        let (_, c) = alpha
            .get(&format!("/api/v1/communities/{handle}"), Some(&alice))
            .await;
        (c["subscribed"] == "accepted").then_some(())
    })
    .await;
    let (s, p) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": f["community"]["id"], "title": "hi from alpha"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let alice_handle = format!("alice@{}", alpha.public_url.trim_start_matches("http://"));
    eventually("beta knows alice", || async {
        let (s, _) = beta
            .get(&format!("/api/v1/users/{alice_handle}"), None)
            .await;
        (s == StatusCode::OK).then_some(())
    })
    .await;

    let (s, me) = patch_me(
        &alpha,
        &alice,
        json!({"display_name": "Alice of Alpha", "avatar_url": "https://pics.example/alice.png",
               "banner_url": "https://pics.example/banner.png", "bio": "hello **there**"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{me}");
    let u = eventually("beta has alice's new profile", || async {
        let (_, u) = beta
            .get(&format!("/api/v1/users/{alice_handle}"), None)
            .await;
        (u["avatar_url"] == "https://pics.example/alice.png").then_some(u)
    })
    .await;
    assert_eq!(u["display_name"], "Alice of Alpha");
    assert_eq!(u["banner_url"], "https://pics.example/banner.png");
    assert_eq!(u["bio_html"], "<p>hello <strong>there</strong></p>\n");
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM outbox_activity WHERE kind = 'Update' AND payload->'object'->>'type' = 'Person'",
    )
    .fetch_one(&alpha.db)
    .await
    .unwrap();
    assert_eq!(n, 1);

    // Saving the same profile again sends nothing.
    let (s, _) = patch_me(&alpha, &alice, json!({"display_name": "Alice of Alpha"})).await;
    assert_eq!(s, StatusCode::OK);
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM outbox_activity WHERE kind = 'Update' AND payload->'object'->>'type' = 'Person'",
    )
    .fetch_one(&alpha.db)
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_users_posts_and_comments_page_newest_first_without_hidden_ones() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let first = app.community_with_post(&alice, "garden").await;
    let (_, c) = app.get("/api/v1/communities/garden", None).await;
    let mut posts = vec![first];
    for i in 0..4 {
        let (s, p) = app
            .post(
                "/api/v1/posts",
                Some(&alice),
                json!({"community_id": c["id"], "title": format!("post {i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        posts.push(p["id"].as_i64().unwrap());
    }
    let mut comments = vec![];
    for i in 0..5 {
        comments.push(
            app.comment(&alice, first, None, &format!("comment {i}"))
                .await,
        );
    }
    app.comment(&bob, first, None, "not alice's").await;
    // A deleted post and a deleted comment are left out.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{}", posts[2]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{}", comments[1]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    async fn walk(app: &TestApp, path: &str, key: &str) -> Vec<i64> {
        let mut out = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let q = cursor
                .as_ref()
                .map(|c| format!("?limit=2&cursor={c}"))
                .unwrap_or_else(|| "?limit=2".into());
            let (s, page) = app.get(&format!("{path}{q}"), None).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            out.extend(
                page[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["id"].as_i64().unwrap()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
            assert!(out.len() < 50);
        }
    }
    let got = walk(&app, "/api/v1/users/alice/posts", "posts").await;
    let want: Vec<i64> = posts
        .iter()
        .rev()
        .copied()
        .filter(|p| *p != posts[2])
        .collect();
    assert_eq!(got, want);
    let got = walk(&app, "/api/v1/users/alice/comments", "comments").await;
    let want: Vec<i64> = comments
        .iter()
        .rev()
        .copied()
        .filter(|c| *c != comments[1])
        .collect();
    assert_eq!(got, want);
    let (s, b) = app.get("/api/v1/users/nobody/posts", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = app
        .get("/api/v1/users/alice/posts?cursor=garbage", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
}
