//! Threads converge: three nodes on loopback (alpha holds the community, beta and gamma follow
//! it). Beta is stopped while alpha's thread grows (comments from alpha and gamma, nested, edits,
//! deletions); the deliveries it missed are lost. When beta is back, one resync (or one read of the
//! thread once it is stale) makes beta's copy of the thread equal alpha's.

use canopy_federation::backfill::Settings as BackfillSettings;
use canopy_testkit::{eventually, fast_worker_config, unlimited, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

fn authority(app: &TestApp) -> String {
    app.public_url.trim_start_matches("http://").to_string()
}

async fn spawn(backfill: BackfillSettings) -> TestApp {
    let options = canopy::Options {
        backfill: Some(backfill),
        ..unlimited()
    };
    TestApp::spawn_configured(Some(fast_worker_config()), options).await
}

async fn local_id(app: &TestApp, table: &str, ap_id: &str) -> Option<i64> {
    sqlx::query_as::<_, (i64,)>(&format!("SELECT id FROM {table} WHERE ap_id = $1"))
        .bind(ap_id)
        .fetch_optional(&app.db)
        .await
        .unwrap()
        .map(|(id,)| id)
}

async fn comment_ap_id(app: &TestApp, id: i64) -> String {
    let (s, c) = app.get(&format!("/api/v1/comments/{id}"), None).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    c["comment"]["ap_id"].as_str().unwrap().to_string()
}

/// Every comment of the thread `post_ap` on `app`: ap_id → (parent's ap_id, markdown, deleted).
async fn thread(app: &TestApp, post_ap: &str) -> BTreeMap<String, (Option<String>, String, bool)> {
    let rows: Vec<(String, Option<String>, String, bool)> = sqlx::query_as(
        "SELECT c.ap_id, parent.ap_id, c.content, c.deleted
         FROM comment c
         JOIN post p ON p.id = c.post_id
         LEFT JOIN comment parent ON parent.id = c.parent_id
         WHERE p.ap_id = $1",
    )
    .bind(post_ap)
    .fetch_all(&app.db)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, parent, content, deleted)| (id, (parent, content, deleted)))
        .collect()
}

/// Whether `copy` holds exactly `home`'s live comments in the same places with the same text,
/// and no comment `home` has deleted is live in `copy` (a comment deleted at its home before
/// `copy` ever saw it may be absent).
fn converged(
    home: &BTreeMap<String, (Option<String>, String, bool)>,
    copy: &BTreeMap<String, (Option<String>, String, bool)>,
) -> bool {
    let live = |t: &BTreeMap<String, (Option<String>, String, bool)>| {
        t.iter()
            .filter(|(_, (_, _, deleted))| !deleted)
            .map(|(id, (parent, text, _))| (id.clone(), parent.clone(), text.clone()))
            .collect::<Vec<_>>()
    };
    live(home) == live(copy)
        && copy.keys().all(|id| home.contains_key(id))
        && copy
            .iter()
            .all(|(id, (_, _, deleted))| *deleted || !home[id].2)
}

/// What the scenario leaves behind.
struct Diverged {
    alpha: TestApp,
    beta: TestApp,
    _gamma: TestApp,
    post_ap: String,
    beta_post: i64,
    /// Comments alpha's thread has that beta has not seen (live ones).
    missed: usize,
}

/// Build the three nodes and let beta miss a whole stretch of the thread.
async fn diverge(beta_backfill: BackfillSettings) -> Diverged {
    // Alpha and gamma sync nothing by themselves here: only beta's behaviour is under test.
    let quiet = BackfillSettings {
        background_every: Duration::ZERO,
        ..BackfillSettings::default()
    };
    let alpha = spawn(quiet.clone()).await;
    let mut beta = spawn(beta_backfill).await;
    let gamma = spawn(quiet).await;
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
    for (app, token) in [(&beta, &bob), (&gamma, &gina)] {
        let (s, f) = app
            .post(
                "/api/v1/communities/follow",
                Some(token),
                json!({"community": handle}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{f}");
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

    let (s, post) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": forest["id"], "title": "Trees", "body": "talk"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{post}");
    let alpha_post = post["id"].as_i64().unwrap();
    let post_ap = post["ap_id"].as_str().unwrap().to_string();
    let beta_post = eventually("beta has the post", || local_id(&beta, "post", &post_ap)).await;
    let gamma_post = eventually("gamma has the post", || local_id(&gamma, "post", &post_ap)).await;

    // Two comments beta sees before it goes down: alice's, and gina's reply to it.
    let first = alpha
        .comment(&alice, alpha_post, None, "first, as written")
        .await;
    let first_ap = comment_ap_id(&alpha, first).await;
    let gamma_first = eventually("gamma has the first comment", || {
        local_id(&gamma, "comment", &first_ap)
    })
    .await;
    let gina_early = gamma
        .comment(&gina, gamma_post, Some(gamma_first), "gina, early")
        .await;
    let gina_early_ap = comment_ap_id(&gamma, gina_early).await;
    eventually("beta has both early comments", || async {
        let t = thread(&beta, &post_ap).await;
        (t.contains_key(&first_ap) && t.contains_key(&gina_early_ap)).then_some(())
    })
    .await;

    beta.stop().await;

    // While beta is down: an edit and a deletion of what it has...
    let (s, e) = alpha
        .call(
            Method::PATCH,
            &format!("/api/v1/comments/{first}"),
            Some(&alice),
            Some(&json!({"content": "first, **edited** while beta was down"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (s, d) = gamma
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{gina_early}"),
            Some(&gina),
            None,
        )
        .await;
    assert!(s.is_success(), "{s} {d}");

    // ...and 30 new comments: 20 by alice (chains and siblings), 10 by gina under them.
    let mut alice_new = vec![];
    for i in 0..20 {
        let parent = match i % 4 {
            0 => None,
            1 | 2 => alice_new.last().map(|(id, _)| *id),
            _ => Some(first),
        };
        let id = alpha
            .comment(&alice, alpha_post, parent, &format!("alice {i}"))
            .await;
        alice_new.push((id, comment_ap_id(&alpha, id).await));
    }
    for (i, (_, parent_ap)) in alice_new.iter().step_by(2).enumerate() {
        let on_gamma = eventually("gamma has alice's comment", || {
            local_id(&gamma, "comment", parent_ap)
        })
        .await;
        gamma
            .comment(&gina, gamma_post, Some(on_gamma), &format!("gina {i}"))
            .await;
    }
    // An edit and a deletion of comments beta never saw (the deleted one has no replies).
    let (edited, _) = alice_new[5];
    let (s, _) = alpha
        .call(
            Method::PATCH,
            &format!("/api/v1/comments/{edited}"),
            Some(&alice),
            Some(&json!({"content": "alice 5, edited"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (gone, _) = alice_new[19];
    let (s, _) = alpha
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{gone}"),
            Some(&alice),
            None,
        )
        .await;
    assert!(s.is_success());
    eventually("alpha has every comment", || async {
        let t = thread(&alpha, &post_ap).await;
        (t.len() == 32).then_some(())
    })
    .await;

    // Deliveries to beta are lost for good (as if a relay dropped them, or they gave up).
    let beta_host = authority(&beta);
    for app in [&alpha, &gamma] {
        eventually("no delivery to beta is pending", || async {
            let dropped = sqlx::query(
                "UPDATE delivery SET state = 'failed', finished_at = now(),
                        last_error = 'dropped by the test'
                 WHERE authority = $1 AND state = 'pending'",
            )
            .bind(&beta_host)
            .execute(&app.db)
            .await
            .unwrap()
            .rows_affected();
            (dropped == 0).then_some(())
        })
        .await;
    }

    beta.restart().await;
    let home = thread(&alpha, &post_ap).await;
    let copy = thread(&beta, &post_ap).await;
    assert_eq!(copy.len(), 2, "beta saw only the two early comments");
    assert!(!converged(&home, &copy), "beta's copy must be behind here");
    let missed = home
        .iter()
        .filter(|(id, v)| !v.2 && !copy.contains_key(*id))
        .count();
    assert_eq!(missed, 29, "20 + 10 new comments, one of them deleted");
    Diverged {
        alpha,
        beta,
        _gamma: gamma,
        post_ap,
        beta_post,
        missed,
    }
}

#[tokio::test]
async fn a_resync_brings_back_what_a_stopped_node_missed_and_a_second_adds_nothing() {
    let d = diverge(BackfillSettings {
        background_every: Duration::ZERO,
        ..BackfillSettings::default()
    })
    .await;
    let admin = d.beta.admin("root").await;

    // Only administrators may resync.
    let bob = d.beta.user("bobby").await;
    let (s, _) = d
        .beta
        .post(
            "/api/v1/admin/resync",
            Some(&bob),
            json!({"url": d.post_ap}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, r) = d
        .beta
        .post(
            "/api/v1/admin/resync",
            Some(&admin),
            json!({"url": d.post_ap}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let t = &r["threads"][0];
    assert_eq!(t["post_id"], d.beta_post);
    assert_eq!(t["source"], "context", "{r}");
    assert_eq!(t["comments_added"], d.missed as u64, "{r}");
    assert_eq!(r["added"], d.missed as u64, "{r}");
    assert_eq!(t["deleted"], 1, "gina's early comment: {r}");
    assert!(t["updated"].as_u64().unwrap() >= 1, "alice's edit: {r}");
    assert_eq!(t["remote_comments"], 32, "{r}");
    assert!(t["stopped"].is_null(), "{r}");

    let home = thread(&d.alpha, &d.post_ap).await;
    let copy = thread(&d.beta, &d.post_ap).await;
    assert!(converged(&home, &copy), "home {home:#?}\ncopy {copy:#?}");

    // The API says how complete the copy is.
    let (_, p) = d
        .beta
        .get(&format!("/api/v1/posts/{}", d.beta_post), None)
        .await;
    assert_eq!(p["counts"]["remote_comments"], 32, "{p}");
    assert!(p["thread_synced_at"].is_string(), "{p}");

    // A second resync adds nothing and changes nothing.
    let (s, again) = d
        .beta
        .post(
            "/api/v1/admin/resync",
            Some(&admin),
            json!({"url": d.post_ap}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["added"], 0, "{again}");
    assert_eq!(again["threads"][0]["updated"], 0, "{again}");
    assert_eq!(again["threads"][0]["deleted"], 0, "{again}");
    assert_eq!(thread(&d.beta, &d.post_ap).await, copy);
}

#[tokio::test]
async fn one_read_of_a_stale_thread_resyncs_it_in_the_background() {
    let d = diverge(BackfillSettings {
        stale_after: Duration::from_secs(1),
        background_every: Duration::ZERO,
        ..BackfillSettings::default()
    })
    .await;
    // Stale: never synced, or synced longer ago than the setting.
    eventually("beta's copy is stale", || async {
        let (stale,): (bool,) = sqlx::query_as(
            "SELECT coalesce(r.synced_at < now() - interval '1 second', true)
             FROM post p LEFT JOIN remote_thread r ON r.post_id = p.id WHERE p.id = $1",
        )
        .bind(d.beta_post)
        .fetch_one(&d.beta.db)
        .await
        .unwrap();
        stale.then_some(())
    })
    .await;

    // One read answers at once with what is there, and starts the resync.
    let (s, tree) = d
        .beta
        .get(
            &format!(
                "/api/v1/posts/{}/comments?sort=old&max_depth=50",
                d.beta_post
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{tree}");

    let home = thread(&d.alpha, &d.post_ap).await;
    eventually("beta's thread converges after one read", || async {
        let copy = thread(&d.beta, &d.post_ap).await;
        converged(&home, &copy).then_some(())
    })
    .await;
    let live = |v: &Value| !v["deleted"].as_bool().unwrap_or(false);
    let (_, tree) = d
        .beta
        .get(
            &format!(
                "/api/v1/posts/{}/comments?sort=old&max_depth=50",
                d.beta_post
            ),
            None,
        )
        .await;
    fn count(nodes: &Value, keep: &dyn Fn(&Value) -> bool) -> usize {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .map(|n| usize::from(keep(n)) + count(&n["replies"], keep))
            .sum()
    }
    assert_eq!(count(&tree["comments"], &live), 30, "{tree}");
}

/// A 5,000-comment thread backfills within a bounded number of requests — the post, its context
/// collection and pages: a Canopy home embeds its own comments in the pages, so none is fetched
/// one by one — and a second resync adds nothing (and reads the known comments from the pages).
#[tokio::test]
async fn a_thread_of_5000_comments_backfills_within_its_request_bound_and_once() {
    const COMMENTS: usize = 5_000;
    let quiet = BackfillSettings {
        automatic: false,
        ..BackfillSettings::default()
    };
    let alpha = spawn(quiet.clone()).await;
    let beta = spawn(quiet).await;
    let alice = alpha.user("alice").await;
    let post = alpha.community_with_post(&alice, "big").await;
    let (_, p) = alpha.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    // Written straight to alpha's tables (the API would take minutes): chains and siblings.
    let (creator, prefix): (i64, String) = sqlx::query_as(
        "SELECT creator_id, regexp_replace(ap_id, '/post/[0-9]+$', '/comment/') FROM post WHERE id = $1",
    )
    .bind(post)
    .fetch_one(&alpha.db)
    .await
    .unwrap();
    let mut tx = alpha.db.begin().await.unwrap();
    let mut ids: Vec<canopy_core::CommentId> = Vec::with_capacity(COMMENTS);
    for i in 0..COMMENTS {
        let parent = match i % 3 {
            0 => None,
            1 => ids.last().copied(),
            _ => Some(ids[i / 2]),
        };
        let text = format!("comment {i}");
        let id = canopy_db::comments::create(
            &mut tx,
            &canopy_db::comments::NewComment {
                post_id: canopy_core::PostId(post),
                parent_id: parent,
                creator_id: canopy_core::PersonId(creator),
                content: &text,
                content_html: &format!("<p>{text}</p>"),
                local: true,
                ap_id: None,
                ap_id_prefix: &prefix,
                published: None,
                updated: None,
            },
        )
        .await
        .unwrap();
        ids.push(id);
    }
    tx.commit().await.unwrap();

    let admin = beta.admin("root").await;
    // Beta knows the community, as a follower would.
    let (s, c) = beta
        .get(
            &format!("/api/v1/resolve?q={}/c/big", alpha.public_url),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let (s, r) = beta
        .post(
            "/api/v1/admin/resync",
            Some(&admin),
            json!({"url": post_ap}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let t = &r["threads"][0];
    assert_eq!(t["source"], "context", "{r}");
    assert_eq!(t["comments_added"], COMMENTS as u64, "{r}");
    assert!(t["stopped"].is_null(), "{r}");
    // The post, the collection and 101 pages of at most 50 items (5,001 with the post).
    let bound = 1 + 1 + (COMMENTS + 1).div_ceil(50);
    assert_eq!(t["requests"].as_u64().unwrap() as usize, bound, "{r}");
    let home = thread(&alpha, &post_ap).await;
    let copy = thread(&beta, &post_ap).await;
    assert_eq!(copy.len(), COMMENTS);
    assert!(converged(&home, &copy));

    let (s, again) = beta
        .post(
            "/api/v1/admin/resync",
            Some(&admin),
            json!({"url": post_ap}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["added"], 0, "{again}");
    let t = &again["threads"][0];
    assert_eq!(t["known"], COMMENTS as u64, "{again}");
    assert_eq!(t["requests"].as_u64().unwrap() as usize, bound, "{again}");
    assert_eq!(thread(&beta, &post_ap).await, copy);
}
