use crate::walk_tree;
use canopy_testkit::TestApp;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn ids(nodes: &Value) -> Vec<i64> {
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_reply_chain_five_deep_nests_and_every_sort_orders_siblings() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let post = app.community_with_post(&alice, "trees").await;
    let mut top = vec![];
    for i in 1..=4 {
        top.push(app.comment(&alice, post, None, &format!("top {i}")).await);
    }
    let mut chain = vec![top[0]];
    for depth in 1..=5 {
        let parent = *chain.last().unwrap();
        chain.push(
            app.comment(&bob, post, Some(parent), &format!("depth {depth}"))
                .await,
        );
    }
    let vote = |id: i64, token: &str, score: i64| {
        let (app, token) = (&app, token.to_string());
        async move {
            let (s, b) = app
                .post(
                    &format!("/api/v1/comments/{id}/vote"),
                    Some(&token),
                    json!({"score": score}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            b
        }
    };
    vote(top[1], &alice, 1).await;
    vote(top[1], &bob, 1).await;
    vote(top[2], &bob, -1).await;
    vote(top[3], &alice, 1).await;
    let last = vote(top[3], &bob, -1).await;
    assert_eq!(
        (
            last["score"].as_i64(),
            last["upvotes"].as_i64(),
            last["downvotes"].as_i64()
        ),
        (Some(0), Some(1), Some(1))
    );

    let (c1, c2, c3, c4) = (top[0], top[1], top[2], top[3]);
    let expected = [
        ("hot", vec![c2, c4, c3, c1]),
        // Every comment starts with alice's upvote: c1 1, c2 2, c3 and c4 0 (ties: newer first).
        ("top", vec![c2, c1, c4, c3]),
        ("new", vec![c4, c3, c2, c1]),
        ("old", vec![c1, c2, c3, c4]),
        ("controversial", vec![c4, c3, c2, c1]),
    ];
    for (sort, order) in expected {
        let (s, tree) = app
            .get(&format!("/api/v1/posts/{post}/comments?sort={sort}"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{tree}");
        assert_eq!(tree["sort"], sort);
        assert_eq!(ids(&tree["comments"]), order, "sort {sort}");
        assert_eq!(tree["total"], 9);
        // Walk down the chain under c1: one reply per level, five levels, nothing missing.
        let mut node = tree["comments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == c1)
            .unwrap();
        for (depth, id) in chain.iter().enumerate() {
            assert_eq!(node["id"].as_i64(), Some(*id));
            assert_eq!(node["depth"].as_i64(), Some(depth as i64));
            assert_eq!(
                node["counts"]["descendants"].as_i64(),
                Some(5 - depth as i64)
            );
            assert!(node["more_replies"].is_null());
            if depth < 5 {
                assert_eq!(node["replies"].as_array().unwrap().len(), 1);
                node = &node["replies"][0];
            }
        }
    }

    // A shallower page leaves the rest behind a cursor that continues exactly there.
    let (_, tree) = app
        .get(
            &format!("/api/v1/posts/{post}/comments?sort=old&max_depth=2"),
            None,
        )
        .await;
    let under = &tree["comments"][0]["replies"][0];
    assert_eq!(under["id"].as_i64(), Some(chain[1]));
    assert_eq!(under["more_replies"]["count"], 1);
    let cursor = under["more_replies"]["cursor"].as_str().unwrap();
    let (s, rest) = app
        .get(
            &format!("/api/v1/posts/{post}/comments?cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rest}");
    assert_eq!(rest["parent_id"].as_i64(), Some(chain[1]));
    assert_eq!(ids(&rest["comments"]), vec![chain[2]]);

    // One comment with its ancestors.
    let (s, one) = app
        .get(&format!("/api/v1/comments/{}", chain[4]), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&one["ancestors"]), chain[..4].to_vec());
    assert_eq!(one["comment"]["path"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn paging_reaches_every_comment_exactly_once() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "paging").await;
    let mut all = vec![];
    // 23 top-level comments; the third gets 27 direct replies; one of those a chain of 8.
    for i in 0..23 {
        all.push(app.comment(&alice, post, None, &format!("t{i}")).await);
    }
    let busy = all[2];
    let mut replies = vec![];
    for i in 0..27 {
        replies.push(
            app.comment(&alice, post, Some(busy), &format!("r{i}"))
                .await,
        );
    }
    all.extend(&replies);
    let mut parent = replies[5];
    for i in 0..8 {
        parent = app
            .comment(&alice, post, Some(parent), &format!("chain {i}"))
            .await;
        all.push(parent);
    }
    for sort in ["hot", "top", "new", "old", "controversial"] {
        let (seen, pages) = walk_tree(
            &app,
            post,
            &format!("sort={sort}&limit=10&max_depth=3&replies_per_comment=4&max_comments=40"),
        )
        .await;
        assert_eq!(seen.len(), all.len(), "sort {sort}: every comment reached");
        for id in &all {
            assert_eq!(
                seen.get(id),
                Some(&1),
                "sort {sort}: comment {id} seen once"
            );
        }
        assert!(
            pages > 3,
            "more top-level comments and replies than one page: {pages} pages"
        );
    }
    // The first page says how many replies of the busy comment it left out.
    let (_, page) = app
        .get(
            &format!("/api/v1/posts/{post}/comments?sort=old&limit=10&replies_per_comment=4"),
            None,
        )
        .await;
    let busy_node = page["comments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == busy)
        .unwrap();
    assert_eq!(busy_node["replies"].as_array().unwrap().len(), 4);
    assert_eq!(busy_node["more_replies"]["count"], 23);
    assert!(page["next_cursor"].is_string());
}

#[tokio::test]
async fn random_threads_are_fully_reachable_in_every_sort() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let post = app.community_with_post(&alice, "random").await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut all: Vec<i64> = vec![];
    for i in 0..150 {
        let parent = if all.is_empty() || rng.gen_bool(0.2) {
            None
        } else {
            Some(all[rng.gen_range(0..all.len())])
        };
        let id = app.comment(&alice, post, parent, &format!("c{i}")).await;
        if rng.gen_bool(0.3) {
            let score = if rng.gen_bool(0.7) { 1 } else { -1 };
            app.post(
                &format!("/api/v1/comments/{id}/vote"),
                Some(&bob),
                json!({"score": score}),
            )
            .await;
        }
        all.push(id);
    }
    for sort in ["hot", "top", "new", "old", "controversial"] {
        let (seen, _) = walk_tree(
            &app,
            post,
            &format!("sort={sort}&limit=7&max_depth=4&replies_per_comment=3&max_comments=25"),
        )
        .await;
        assert_eq!(seen.len(), all.len(), "sort {sort}");
        assert!(
            seen.values().all(|&n| n == 1),
            "sort {sort}: no comment twice"
        );
    }
    let (_, post_json) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    assert_eq!(post_json["counts"]["comments"], 150);
}

#[tokio::test]
async fn editing_and_deleting_keep_the_tree_shape() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let post = app.community_with_post(&alice, "edits").await;
    let root = app.comment(&alice, post, None, "root").await;
    let middle = app.comment(&bob, post, Some(root), "middle").await;
    let leaf = app.comment(&alice, post, Some(middle), "leaf").await;

    let (s, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/comments/{middle}"),
            Some(&alice),
            Some(&json!({"content": "hijack"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, edited) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/comments/{middle}"),
            Some(&bob),
            Some(&json!({"content": "middle *edited*"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["content"], "middle *edited*");
    assert_eq!(edited["content_html"], "<p>middle <em>edited</em></p>\n");

    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{middle}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "someone else's comment");
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{middle}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let (_, tree) = app
        .get(&format!("/api/v1/posts/{post}/comments"), None)
        .await;
    let m = &tree["comments"][0]["replies"][0];
    assert_eq!(m["id"].as_i64(), Some(middle));
    assert_eq!(m["deleted"], true);
    assert_eq!(m["content"], "");
    assert_eq!(m["content_html"], "");
    assert_eq!(
        m["replies"][0]["id"].as_i64(),
        Some(leaf),
        "the reply stays attached"
    );
    assert_eq!(m["replies"][0]["content"], "leaf");

    let (s, body) = app
        .post(
            "/api/v1/comments",
            Some(&alice),
            json!({"post_id": post, "parent_id": middle, "content": "x"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "no replies to a deleted comment: {body}"
    );
    let (s, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/comments/{middle}"),
            Some(&bob),
            Some(&json!({"content": "undead"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn cursors_are_checked() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "cursors").await;
    let other = app.community_with_post(&alice, "cursors2").await;
    for i in 0..3 {
        app.comment(&alice, post, None, &format!("{i}")).await;
    }
    let (_, page) = app
        .get(
            &format!("/api/v1/posts/{post}/comments?limit=1&sort=new"),
            None,
        )
        .await;
    let cursor = page["next_cursor"].as_str().unwrap();
    for (path, why) in [
        (
            format!("/api/v1/posts/{post}/comments?cursor=garbage!!"),
            "garbage",
        ),
        (
            format!("/api/v1/posts/{other}/comments?cursor={cursor}"),
            "another post",
        ),
        (
            format!("/api/v1/posts/{post}/comments?cursor={cursor}&sort=top"),
            "another sort",
        ),
        (
            format!("/api/v1/posts/{post}/comments?cursor=eyJwIjoxfQ"),
            "not a tree cursor",
        ),
    ] {
        let (s, body) = app.get(&path, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["error"], "invalid_cursor", "{why}");
    }
    let (s, next) = app
        .get(
            &format!("/api/v1/posts/{post}/comments?cursor={cursor}&sort=new&limit=5"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(next["comments"].as_array().unwrap().len(), 2);
}
