//! Three nodes on loopback (alpha, beta, gamma), each with its own database, talking
//! ActivityPub to each other through their real inboxes and outbox senders.

use canopy_testkit::{eventually, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn authority(app: &TestApp) -> String {
    app.public_url.trim_start_matches("http://").to_string()
}

/// The local id of the post or comment with ActivityPub id `ap_id` on `app`.
async fn local_id(app: &TestApp, table: &str, ap_id: &str) -> Option<i64> {
    sqlx::query_as::<_, (i64,)>(&format!("SELECT id FROM {table} WHERE ap_id = $1"))
        .bind(ap_id)
        .fetch_optional(&app.db)
        .await
        .unwrap()
        .map(|(id,)| id)
}

/// The tree of a post as (ap_id, parent ap_id or None, deleted) triples, sorted, for comparing
/// the same thread across nodes.
async fn tree_shape(app: &TestApp, post: i64) -> Vec<(String, Option<String>, bool)> {
    let (s, tree) = app
        .get(
            &format!("/api/v1/posts/{post}/comments?sort=old&max_depth=50"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{tree}");
    let mut out = vec![];
    fn walk(nodes: &Value, parent: Option<String>, out: &mut Vec<(String, Option<String>, bool)>) {
        for n in nodes.as_array().unwrap() {
            let id = n["ap_id"].as_str().unwrap().to_string();
            out.push((id.clone(), parent.clone(), n["deleted"].as_bool().unwrap()));
            walk(&n["replies"], Some(id), out);
        }
    }
    walk(&tree["comments"], None, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn three_nodes_follow_post_reply_vote_edit_delete_and_unfollow() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let gamma = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let bob = beta.user("bob").await;
    let gina = gamma.user("gina").await;

    let (s, forest) = alpha
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "forest", "title": "Forest"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{forest}");
    let handle = format!("forest@{}", authority(&alpha));

    // bob on beta and gina on gamma follow alpha's community by handle.
    for (app, token) in [(&beta, &bob), (&gamma, &gina)] {
        let (s, f) = app
            .post(
                "/api/v1/communities/follow",
                Some(token),
                json!({"community": handle}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{f}");
        assert_eq!(f["pending"], true);
        assert_eq!(f["community"]["handle"], handle);
    }
    eventually("alpha counts three subscribers", || async {
        let (_, c) = alpha.get("/api/v1/communities/forest", None).await;
        (c["subscriber_count"] == 3).then_some(())
    })
    .await;
    for app in [&beta, &gamma] {
        eventually("the follow is accepted", || async {
            let (n,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM community_follow WHERE NOT pending")
                    .fetch_one(&app.db)
                    .await
                    .unwrap();
            (n == 1).then_some(())
        })
        .await;
    }

    // alice posts on alpha; it reaches beta and gamma.
    let (s, post) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": forest["id"], "title": "Trees", "body": "*leafy*"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{post}");
    let post_ap = post["ap_id"].as_str().unwrap().to_string();
    let beta_post = eventually("beta has the post", || local_id(&beta, "post", &post_ap)).await;
    let gamma_post = eventually("gamma has the post", || local_id(&gamma, "post", &post_ap)).await;
    let (_, on_beta) = beta.get(&format!("/api/v1/posts/{beta_post}"), None).await;
    assert_eq!(on_beta["title"], "Trees");
    assert_eq!(on_beta["body_html"], "<p><em>leafy</em></p>\n");
    assert_eq!(on_beta["community"]["handle"], handle);
    assert_eq!(on_beta["local"], false);

    // gina replies on gamma; bob replies to gina on beta; alice replies to bob on alpha.
    let gina_comment = gamma
        .comment(&gina, gamma_post, None, "hello from gamma")
        .await;
    let (_, gc) = gamma
        .get(&format!("/api/v1/comments/{gina_comment}"), None)
        .await;
    let gina_ap = gc["comment"]["ap_id"].as_str().unwrap().to_string();
    let beta_gina = eventually("beta has gina's reply", || {
        local_id(&beta, "comment", &gina_ap)
    })
    .await;
    let bob_comment = beta
        .comment(&bob, beta_post, Some(beta_gina), "hello from beta")
        .await;
    let (_, bc) = beta
        .get(&format!("/api/v1/comments/{bob_comment}"), None)
        .await;
    let bob_ap = bc["comment"]["ap_id"].as_str().unwrap().to_string();
    let alpha_bob = eventually("alpha has bob's reply", || {
        local_id(&alpha, "comment", &bob_ap)
    })
    .await;
    let alpha_post = post["id"].as_i64().unwrap();
    let alice_comment = alpha
        .comment(&alice, alpha_post, Some(alpha_bob), "hello from alpha")
        .await;
    let (_, ac) = alpha
        .get(&format!("/api/v1/comments/{alice_comment}"), None)
        .await;
    let alice_ap = ac["comment"]["ap_id"].as_str().unwrap().to_string();
    eventually("gamma has every reply", || async {
        for ap in [&bob_ap, &alice_ap] {
            local_id(&gamma, "comment", ap).await?;
        }
        Some(())
    })
    .await;
    eventually("beta has alice's reply", || {
        local_id(&beta, "comment", &alice_ap)
    })
    .await;

    // The reply chain sits in the same place of the tree on all three nodes.
    let expected = vec![
        (alice_ap.clone(), Some(bob_ap.clone()), false),
        (bob_ap.clone(), Some(gina_ap.clone()), false),
        (gina_ap.clone(), None, false),
    ];
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(tree_shape(&alpha, alpha_post).await, sorted);
    assert_eq!(tree_shape(&beta, beta_post).await, sorted);
    assert_eq!(tree_shape(&gamma, gamma_post).await, sorted);

    // bob upvotes the post on beta; the count reaches alpha (where it is stored) and gamma, where
    // it joins alice's own upvote.
    let (s, v) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/vote"),
            Some(&bob),
            json!({"score": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    eventually("alpha counts bob's vote", || async {
        let (_, p) = alpha
            .get(&format!("/api/v1/posts/{alpha_post}"), None)
            .await;
        (p["counts"]["upvotes"] == 2).then_some(())
    })
    .await;
    eventually("gamma counts bob's vote", || async {
        let (_, p) = gamma
            .get(&format!("/api/v1/posts/{gamma_post}"), None)
            .await;
        (p["counts"]["upvotes"] == 2).then_some(())
    })
    .await;

    // gina edits her comment; the edit reaches alpha and beta.
    let (s, _) = gamma
        .call(
            Method::PATCH,
            &format!("/api/v1/comments/{gina_comment}"),
            Some(&gina),
            Some(&json!({"content": "edited **on gamma**"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for app in [&alpha, &beta] {
        eventually("the edit arrives", || async {
            let id = local_id(app, "comment", &gina_ap).await?;
            let (_, c) = app.get(&format!("/api/v1/comments/{id}"), None).await;
            (c["comment"]["content_html"] == "<p>edited <strong>on gamma</strong></p>\n")
                .then_some(())
        })
        .await;
    }

    // bob deletes his comment; it becomes a placeholder everywhere, alice's reply stays under it.
    let (s, _) = beta
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{bob_comment}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for (app, post) in [(&alpha, alpha_post), (&gamma, gamma_post)] {
        eventually("the delete arrives", || async {
            let shape = tree_shape(app, post).await;
            shape
                .iter()
                .any(|(ap, _, deleted)| ap == &bob_ap && *deleted)
                .then_some(())
        })
        .await;
        let shape = tree_shape(app, post).await;
        assert!(shape.contains(&(alice_ap.clone(), Some(bob_ap.clone()), false)));
    }

    // bob unfollows; alpha's next post reaches gamma but not beta.
    let (s, _) = beta
        .call(
            Method::DELETE,
            &format!("/api/v1/communities/{handle}/follow"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    eventually("alpha drops bob as a follower", || async {
        let (_, c) = alpha.get("/api/v1/communities/forest", None).await;
        (c["subscriber_count"] == 2).then_some(())
    })
    .await;
    let (_, later) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": forest["id"], "title": "After"}),
        )
        .await;
    let later_ap = later["ap_id"].as_str().unwrap().to_string();
    eventually("gamma has the later post", || {
        local_id(&gamma, "post", &later_ap)
    })
    .await;
    // Deliveries leave alpha in one batch; once gamma has it and alpha's outbox is empty,
    // nothing more is on its way to beta.
    eventually("alpha's outbox is drained", || async {
        (canopy_db::outbox::pending_count(&alpha.db).await.unwrap() == 0).then_some(())
    })
    .await;
    assert_eq!(
        local_id(&beta, "post", &later_ap).await,
        None,
        "nothing is delivered after unfollow"
    );
}
