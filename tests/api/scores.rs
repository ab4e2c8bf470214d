//! The score convention shared with Lemmy: every post and comment, local or remote, starts with
//! its author's upvote, held as a real vote row (so the author sees it as their vote and can take
//! it back), never sent as an activity, and not counted twice when the author's own Like arrives.

use crate::interop::{object_id, Node};
use canopy_testkit::{database, eventually, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::borrow::Cow;

/// Score, upvotes, downvotes and the viewer's vote of a post or comment as the API shows them.
fn tally(item: &Value) -> (i64, i64, i64, Option<i64>) {
    let c = &item["counts"];
    (
        c["score"].as_i64().unwrap(),
        c["upvotes"].as_i64().unwrap(),
        c["downvotes"].as_i64().unwrap(),
        item["my_vote"].as_i64(),
    )
}

async fn post_tally(app: &TestApp, id: i64, token: Option<&str>) -> (i64, i64, i64, Option<i64>) {
    let (s, p) = app.get(&format!("/api/v1/posts/{id}"), token).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    tally(&p)
}

async fn comment_tally(
    app: &TestApp,
    id: i64,
    token: Option<&str>,
) -> (i64, i64, i64, Option<i64>) {
    let (s, c) = app.get(&format!("/api/v1/comments/{id}"), token).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    tally(&c["comment"])
}

async fn vote(app: &TestApp, what: &str, id: i64, token: &str, score: i64) -> Value {
    let (s, v) = app
        .post(
            &format!("/api/v1/{what}/{id}/vote"),
            Some(token),
            json!({"score": score}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// Activities about votes this node has queued: Like, Dislike or Undo of one, sent directly or
/// announced by a community.
async fn queued_votes(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM outbox_activity
         WHERE kind IN ('Like', 'Dislike')
            OR payload->'object'->>'type' IN ('Like', 'Dislike', 'Undo')
            OR (kind = 'Undo' AND payload->'object'->>'type' IN ('Like', 'Dislike'))",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    n
}

/// The local id of the post or comment with ActivityPub id `ap_id`, once `app` has it.
async fn local_id(app: &TestApp, table: &str, ap_id: &str) -> Option<i64> {
    sqlx::query_as::<_, (i64,)>(&format!("SELECT id FROM {table} WHERE ap_id = $1"))
        .bind(ap_id)
        .fetch_optional(&app.db)
        .await
        .unwrap()
        .map(|(id,)| id)
}

#[tokio::test]
async fn a_new_post_and_comment_start_at_one_with_the_authors_vote_which_they_can_change() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (s, c) = app
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "scores", "title": "Scores"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": c["id"], "title": "counted"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(tally(&p), (1, 1, 0, Some(1)), "the author sees their vote");
    let post = p["id"].as_i64().unwrap();
    let (s, cm) = app
        .post(
            "/api/v1/comments",
            Some(&alice),
            json!({"post_id": post, "content": "counted too"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{cm}");
    assert_eq!(tally(&cm), (1, 1, 0, Some(1)));
    let comment = cm["id"].as_i64().unwrap();
    // Others see the score, not a vote of their own.
    assert_eq!(post_tally(&app, post, None).await, (1, 1, 0, None));
    assert_eq!(post_tally(&app, post, Some(&bob)).await, (1, 1, 0, None));
    assert_eq!(
        comment_tally(&app, comment, Some(&bob)).await,
        (1, 1, 0, None)
    );
    // The tree shows the same counts.
    let (_, tree) = app
        .get(&format!("/api/v1/posts/{post}/comments"), Some(&alice))
        .await;
    assert_eq!(tally(&tree["comments"][0]), (1, 1, 0, Some(1)));

    // The author takes their vote back: 0, and no vote of theirs.
    let v = vote(&app, "posts", post, &alice, 0).await;
    assert_eq!(
        (&v["score"], &v["upvotes"], &v["my_vote"]),
        (&json!(0), &json!(0), &json!(0))
    );
    assert_eq!(post_tally(&app, post, Some(&alice)).await, (0, 0, 0, None));
    // Another user's upvote on the comment: 2.
    let v = vote(&app, "comments", comment, &bob, 1).await;
    assert_eq!((&v["score"], &v["upvotes"]), (&json!(2), &json!(2)));
    assert_eq!(
        comment_tally(&app, comment, Some(&bob)).await,
        (2, 2, 0, Some(1))
    );
    // The author turns theirs into a downvote: bob's upvote against it.
    vote(&app, "comments", comment, &alice, -1).await;
    assert_eq!(
        comment_tally(&app, comment, Some(&alice)).await,
        (0, 1, 1, Some(-1))
    );
    // Upvoting again what is already upvoted changes nothing.
    vote(&app, "comments", comment, &bob, 1).await;
    assert_eq!(comment_tally(&app, comment, None).await, (0, 1, 1, None));

    // The stored counts equal the vote rows, and the ranks follow the counts.
    let (wrong,): (i64,) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM comment c
                 WHERE c.upvotes <> (SELECT count(*) FROM comment_vote v
                                     WHERE v.comment_id = c.id AND v.score = 1)
                    OR c.downvotes <> (SELECT count(*) FROM comment_vote v
                                       WHERE v.comment_id = c.id AND v.score = -1)
                    OR c.score <> c.upvotes - c.downvotes
                    OR c.hot <> canopy_hot(c.score, c.published)
                    OR c.controversy <> canopy_controversy(c.upvotes, c.downvotes))
              + (SELECT count(*) FROM post p
                 WHERE p.upvotes <> (SELECT count(*) FROM post_vote v
                                     WHERE v.post_id = p.id AND v.score = 1)
                    OR p.downvotes <> (SELECT count(*) FROM post_vote v
                                       WHERE v.post_id = p.id AND v.score = -1)
                    OR p.score <> p.upvotes - p.downvotes
                    OR p.hot <> canopy_hot(p.score, p.published))",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(wrong, 0, "rows whose counts disagree with their votes");
}

#[tokio::test]
async fn remote_content_starts_at_one_on_the_receiving_node_and_no_implicit_vote_is_sent() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let bob = beta.user("bob").await;
    let (s, c) = alpha
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "meadow", "title": "Meadow"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let handle = format!("meadow@{}", alpha.public_url.trim_start_matches("http://"));
    let (s, f) = beta
        .post(
            "/api/v1/communities/follow",
            Some(&bob),
            json!({"community": handle}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    eventually("beta's follow is accepted", || async {
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM community_follow WHERE NOT pending")
                .fetch_one(&beta.db)
                .await
                .unwrap();
        (n == 1).then_some(())
    })
    .await;

    // alice posts and comments on alpha: beta's copies start at 1, with alice's vote.
    let (s, p) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": c["id"], "title": "grass"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let alpha_post = p["id"].as_i64().unwrap();
    let alice_comment = alpha.comment(&alice, alpha_post, None, "green").await;
    let (_, ac) = alpha
        .get(&format!("/api/v1/comments/{alice_comment}"), None)
        .await;
    let comment_ap = ac["comment"]["ap_id"].as_str().unwrap().to_string();
    let post_ap = p["ap_id"].as_str().unwrap();
    let beta_post = eventually("beta has the post", || local_id(&beta, "post", post_ap)).await;
    let beta_comment = eventually("beta has the comment", || {
        local_id(&beta, "comment", &comment_ap)
    })
    .await;
    assert_eq!(
        post_tally(&beta, beta_post, Some(&bob)).await,
        (1, 1, 0, None)
    );
    assert_eq!(
        comment_tally(&beta, beta_comment, Some(&bob)).await,
        (1, 1, 0, None)
    );
    let (voter,): (String,) = sqlx::query_as(
        "SELECT pe.ap_id FROM comment_vote v JOIN person pe ON pe.id = v.person_id
         WHERE v.comment_id = $1",
    )
    .bind(beta_comment)
    .fetch_one(&beta.db)
    .await
    .unwrap();
    assert_eq!(voter, format!("{}/u/alice", alpha.public_url));

    // bob replies on beta: alpha's copy of the reply starts at 1 too.
    let bob_comment = beta
        .comment(&bob, beta_post, Some(beta_comment), "mown")
        .await;
    let (_, bc) = beta
        .get(&format!("/api/v1/comments/{bob_comment}"), None)
        .await;
    let bob_ap = bc["comment"]["ap_id"].as_str().unwrap().to_string();
    assert_eq!(tally(&bc["comment"]), (1, 1, 0, None));
    let alpha_bob = eventually("alpha has bob's reply", || {
        local_id(&alpha, "comment", &bob_ap)
    })
    .await;
    assert_eq!(
        comment_tally(&alpha, alpha_bob, Some(&alice)).await,
        (1, 1, 0, None)
    );

    // The implicit votes went nowhere: neither node queued a vote activity.
    assert_eq!(queued_votes(&alpha).await, 0, "alpha sent no vote");
    assert_eq!(queued_votes(&beta).await, 0, "beta sent no vote");

    // alice takes back her vote on her comment: an ordinary vote change, which reaches beta.
    vote(&alpha, "comments", alice_comment, &alice, 0).await;
    assert_eq!(queued_votes(&alpha).await, 1);
    eventually("beta drops alice's vote", || async {
        let t = comment_tally(&beta, beta_comment, None).await;
        (t == (0, 0, 0, None)).then_some(())
    })
    .await;
    // And bob's upvote of alice's post counts beside hers on both nodes.
    vote(&beta, "posts", beta_post, &bob, 1).await;
    eventually("alpha counts bob's vote beside alice's", || async {
        let t = post_tally(&alpha, alpha_post, Some(&alice)).await;
        (t == (2, 2, 0, Some(1))).then_some(())
    })
    .await;
    assert_eq!(
        post_tally(&beta, beta_post, Some(&bob)).await,
        (2, 2, 0, Some(1))
    );
}

/// Lemmy sends no Like for its author's own vote, but nothing stops one from arriving: it is the
/// vote the author already has, not a second one.
#[tokio::test]
async fn a_lemmy_authors_like_of_their_own_comment_counts_once() {
    let n = Node::start().await;
    let main = n.community("main").await;
    let rw = n.rewriter().local("enterprise.lemmy.ml/c/main", &main);
    let alpha = n.actor(
        &rw,
        "http://ds9.lemmy.ml/u/lemmy_alpha",
        "Person",
        "lemmy_alpha",
    );
    let dir = "lemmy/activities";
    n.deliver(&rw, &format!("{dir}/create_or_update/create_page.json"))
        .await
        .accepted();
    let comment = object_id(&rw, &format!("{dir}/create_or_update/create_comment.json"));
    n.deliver(&rw, &format!("{dir}/create_or_update/create_comment.json"))
        .await
        .accepted();
    let counts = || async {
        sqlx::query_as::<_, (i32, i32, i32)>(
            "SELECT score, upvotes, downvotes FROM comment WHERE ap_id = $1",
        )
        .bind(&comment)
        .fetch_one(&n.app.db)
        .await
        .unwrap()
    };
    assert_eq!(counts().await, (1, 1, 0), "Lemmy's score for a new comment");
    assert_eq!(n.vote(&comment, &alpha).await, Some(1));

    // like_note.json: lemmy_alpha likes the comment lemmy_alpha wrote.
    n.deliver(&rw, &format!("{dir}/voting/like_note.json"))
        .await
        .accepted();
    assert_eq!(
        counts().await,
        (1, 1, 0),
        "the author's Like is not a second vote"
    );
    let (votes,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM comment_vote v JOIN comment c ON c.id = v.comment_id
         WHERE c.ap_id = $1",
    )
    .bind(&comment)
    .fetch_one(&n.app.db)
    .await
    .unwrap();
    assert_eq!(votes, 1);

    // Its Undo takes the author's vote back, as on Lemmy.
    n.deliver(&rw, &format!("{dir}/voting/undo_like_note.json"))
        .await
        .accepted();
    assert_eq!(counts().await, (0, 0, 0));
    assert_eq!(n.vote(&comment, &alpha).await, None);
}

/// The first migration of the convention, on a database whose content was written before it.
const AUTHOR_VOTES: i64 = 20261205000100;

#[tokio::test]
async fn the_migration_gives_existing_content_its_authors_vote_and_recounts() {
    let url = database::empty_database_url().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let before = sqlx::migrate::Migrator {
        migrations: Cow::Owned(
            canopy_db::MIGRATOR
                .migrations
                .iter()
                .filter(|m| m.version < AUTHOR_VOTES)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    before.run(&pool).await.unwrap();
    // Content and votes as the schema before stored them: nothing counted the author.
    // Post 1 by a, downvoted by b. Comment 1 by b, upvoted by a; comment 2 by a, no votes;
    // comment 3 by b, already upvoted by b (must not get a second vote).
    sqlx::raw_sql(
        "INSERT INTO instance (authority) VALUES ('old.example');
         INSERT INTO person (id, instance_id, name, ap_id, inbox_url, public_key_pem, local)
         SELECT n, i.id, x, 'https://old.example/u/' || x, 'https://old.example/inbox', 'k', false
         FROM instance i, (VALUES (1, 'a'), (2, 'b')) AS p(n, x) WHERE i.authority = 'old.example';
         INSERT INTO community (id, instance_id, name, title, ap_id, inbox_url, public_key_pem, local)
         SELECT 1, id, 'c', 'c', 'https://old.example/c/c', 'https://old.example/inbox', 'k', false
         FROM instance WHERE authority = 'old.example';
         INSERT INTO post (id, community_id, creator_id, title, ap_id, local)
         VALUES (1, 1, 1, 't', 'https://old.example/post/1', false);
         INSERT INTO comment (id, post_id, creator_id, parent_id, path, content, content_html, ap_id, local)
         VALUES (1, 1, 2, NULL, '{1}', 'x', 'x', 'https://old.example/comment/1', false),
                (2, 1, 1, 1, '{1,2}', 'x', 'x', 'https://old.example/comment/2', false),
                (3, 1, 2, NULL, '{3}', 'x', 'x', 'https://old.example/comment/3', false);
         INSERT INTO post_vote (post_id, person_id, score) VALUES (1, 2, -1);
         INSERT INTO comment_vote (comment_id, person_id, post_id, score)
         VALUES (1, 1, 1, 1), (3, 2, 1, 1);",
    )
    .execute(&pool)
    .await
    .unwrap();
    let counts = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (i64, i32, i32, i32)>(&format!(
                "SELECT id, score, upvotes, downvotes FROM {table} ORDER BY id"
            ))
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(counts("post").await, [(1, -1, 0, 1)]);
    assert_eq!(
        counts("comment").await,
        [(1, 1, 1, 0), (2, 0, 0, 0), (3, 1, 1, 0)]
    );

    canopy_db::migrate(&pool).await.unwrap();

    assert_eq!(
        counts("post").await,
        [(1, 0, 1, 1)],
        "a's vote beside b's downvote"
    );
    assert_eq!(
        counts("comment").await,
        [(1, 2, 2, 0), (2, 1, 1, 0), (3, 1, 1, 0)],
        "each author's vote, once"
    );
    let (votes,): (i64,) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM post_vote) + (SELECT count(*) FROM comment_vote)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(votes, 2 + 4);
    // Ranks recomputed from the new counts (comment 1's hot moved: its score went from 1 to 2).
    let (stale,): (i64,) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM post WHERE hot <> canopy_hot(score, published))
              + (SELECT count(*) FROM comment WHERE hot <> canopy_hot(score, published)
                    OR controversy <> canopy_controversy(upvotes, downvotes))",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stale, 0);
    pool.close().await;
}
