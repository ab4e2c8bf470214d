use canopy_testkit::TestApp;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn parallel_votes_and_replies_leave_every_count_exact() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let owner = app.user("owner").await;
    let post = app.community_with_post(&owner, "busy").await;
    let root = app.comment(&owner, post, None, "root").await;
    let child = app.comment(&owner, post, Some(root), "child").await;

    let mut voters = vec![];
    for i in 0..16 {
        voters.push(app.user(&format!("voter{i}")).await);
    }

    // Every voter flips their vote on the post and on `child` three times, ending on a known
    // vote; the voters run in parallel with each other.
    let mut tasks = vec![];
    for (i, token) in voters.iter().enumerate() {
        let (app, token) = (app.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let last = if i % 4 == 0 { -1 } else { 1 };
            for score in [1, -1, last] {
                let (s, b) = app
                    .post(
                        &format!("/api/v1/comments/{child}/vote"),
                        Some(&token),
                        json!({"score": score}),
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{b}");
                let (s, b) = app
                    .post(
                        &format!("/api/v1/posts/{post}/vote"),
                        Some(&token),
                        json!({"score": score}),
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{b}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // Parallel replies at random places of a growing subtree.
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut handles = vec![];
    for i in 0..80 {
        let (app, token) = (app.clone(), voters[i % voters.len()].clone());
        let parent = if rng.gen_bool(0.5) { child } else { root };
        handles.push(tokio::spawn(async move {
            app.comment(&token, post, Some(parent), &format!("r{i}"))
                .await
        }));
    }
    let mut reply_ids = vec![];
    for h in handles {
        reply_ids.push(h.await.unwrap());
    }
    // And a second wave replying to the first wave, all at once.
    let mut handles = vec![];
    for (i, parent) in reply_ids.iter().enumerate().take(60) {
        let (app, token, parent) = (app.clone(), voters[i % voters.len()].clone(), *parent);
        handles.push(tokio::spawn(async move {
            app.comment(&token, post, Some(parent), "deeper").await
        }));
    }
    for h in handles {
        h.await.unwrap();
    }

    // Counts maintained by triggers equal counts recomputed from the rows.
    let wrong: Vec<(i64,)> = sqlx::query_as(
        "SELECT c.id FROM comment c
         WHERE c.child_count <> (SELECT count(*) FROM comment x WHERE x.parent_id = c.id)
            OR c.descendant_count <> (SELECT count(*) FROM comment x WHERE x.path[1:cardinality(c.path)] = c.path AND x.id <> c.id)
            OR c.upvotes <> (SELECT count(*) FROM comment_vote v WHERE v.comment_id = c.id AND v.score = 1)
            OR c.downvotes <> (SELECT count(*) FROM comment_vote v WHERE v.comment_id = c.id AND v.score = -1)
            OR c.score <> c.upvotes - c.downvotes
            OR c.hot <> canopy_hot(c.score, c.published)
            OR c.controversy <> canopy_controversy(c.upvotes, c.downvotes)",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(wrong.is_empty(), "comments with wrong counts: {wrong:?}");
    let wrong: Vec<(i64,)> = sqlx::query_as(
        "SELECT p.id FROM post p
         WHERE p.upvotes <> (SELECT count(*) FROM post_vote v WHERE v.post_id = p.id AND v.score = 1)
            OR p.downvotes <> (SELECT count(*) FROM post_vote v WHERE v.post_id = p.id AND v.score = -1)
            OR p.score <> p.upvotes - p.downvotes
            OR p.hot <> canopy_hot(p.score, p.published)",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(wrong.is_empty(), "posts with wrong counts: {wrong:?}");
    let (kept, counted): (i32, i64) = sqlx::query_as(
        "SELECT a.comment_count, (SELECT count(*) FROM comment c WHERE c.post_id = a.post_id)
         FROM post_aggregates a WHERE a.post_id = $1",
    )
    .bind(post)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        i64::from(kept),
        counted,
        "the post's maintained comment count"
    );

    let (_, c) = app.get(&format!("/api/v1/comments/{child}"), None).await;
    // The owner's own upvote, and 16 voters: 4 end on -1, 12 on +1.
    assert_eq!(c["comment"]["counts"]["upvotes"], 13);
    assert_eq!(c["comment"]["counts"]["downvotes"], 4);
    assert_eq!(c["comment"]["counts"]["score"], 9);
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    assert_eq!(p["counts"]["score"], 9);
    assert_eq!(p["counts"]["upvotes"], 13);
    assert_eq!(p["counts"]["comments"], 2 + 80 + 60);
    let (_, r) = app.get(&format!("/api/v1/comments/{root}"), None).await;
    assert_eq!(r["comment"]["counts"]["descendants"], 1 + 80 + 60);
}
