//! The front page (`GET /posts`), a community's posts by every sort, and the community list:
//! paging, scopes, the `top` window, hidden content, bad input.

use canopy_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;

const SORTS: [&str; 6] = [
    "hot",
    "active",
    "new",
    "top",
    "most_comments",
    "controversial",
];

/// A remote community `name` at `remote.example` with a remote author, stored straight in the
/// tables (as if fetched); returns (community id, remote person id).
async fn remote_community(app: &TestApp, name: &str) -> (i64, i64) {
    let (instance,): (i64,) = sqlx::query_as(
        "INSERT INTO instance (authority) VALUES ('remote.example')
         ON CONFLICT (authority) DO UPDATE SET authority = excluded.authority RETURNING id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let (community,): (i64,) = sqlx::query_as(
        "INSERT INTO community (instance_id, name, title, ap_id, inbox_url, public_key_pem, local)
         VALUES ($1, $2, $2, 'https://remote.example/c/' || $2, 'https://remote.example/inbox',
                 'not used', false) RETURNING id",
    )
    .bind(instance)
    .bind(name)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let (person,): (i64,) = sqlx::query_as(
        "INSERT INTO person (instance_id, name, ap_id, inbox_url, public_key_pem, local)
         VALUES ($1, 'far_' || $2, 'https://remote.example/u/far_' || $2,
                 'https://remote.example/inbox', 'not used', false) RETURNING id",
    )
    .bind(instance)
    .bind(name)
    .fetch_one(&app.db)
    .await
    .unwrap();
    (community, person)
}

/// A post by the remote person `creator` in `community`, written straight to the table.
async fn remote_post(app: &TestApp, community: i64, creator: i64, title: &str) -> i64 {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO post (community_id, creator_id, title, ap_id, local)
         VALUES ($1, $2, $3, 'https://remote.example/post/' || md5($3), false) RETURNING id",
    )
    .bind(community)
    .bind(creator)
    .bind(title)
    .fetch_one(&app.db)
    .await
    .unwrap();
    id
}

async fn community(app: &TestApp, token: &str, name: &str) -> i64 {
    let (s, c) = app
        .post(
            "/api/v1/communities",
            Some(token),
            json!({"name": name, "title": name}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_i64().unwrap()
}

async fn post(app: &TestApp, token: &str, community: i64, title: &str) -> i64 {
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(token),
            json!({"community_id": community, "title": title, "body": "some text"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p["id"].as_i64().unwrap()
}

/// Every page of `path` (which has a query string), `limit` at a time: the posts in order.
async fn walk(app: &TestApp, path: &str, token: Option<&str>) -> Vec<Value> {
    let mut all = vec![];
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (s, page) = app.get(&url, token).await;
        assert_eq!(s, StatusCode::OK, "{url}: {page}");
        let posts = page["posts"].as_array().unwrap();
        assert!(posts.len() <= 3, "{url}: more than the limit");
        all.extend(posts.iter().cloned());
        cursor = page["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            return all;
        }
    }
    panic!("{path}: paging does not end");
}

fn ids(posts: &[Value]) -> Vec<i64> {
    posts.iter().map(|p| p["id"].as_i64().unwrap()).collect()
}

/// The stored sort key of each post, read from the tables, to check the order pages came in.
async fn keys(app: &TestApp, sort: &str) -> HashMap<i64, f64> {
    let expr = match sort {
        "hot" => "p.hot",
        "new" => "extract(epoch FROM p.published)::float8",
        "top" => "p.score::float8",
        "controversial" => "p.controversy",
        "active" => "extract(epoch FROM a.active)::float8",
        "most_comments" => "a.comment_count::float8",
        other => panic!("{other}"),
    };
    let rows: Vec<(i64, f64)> = sqlx::query_as(&format!(
        "SELECT p.id, {expr} FROM post p JOIN post_aggregates a ON a.post_id = p.id"
    ))
    .fetch_all(&app.db)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// Pages come in sort order (ties by id, descending) and list `expected` exactly once each.
async fn assert_listed_once_in_order(app: &TestApp, sort: &str, got: &[Value], expected: &[i64]) {
    let got = ids(got);
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for id in &got {
        *counts.entry(*id).or_default() += 1;
    }
    assert!(
        counts.values().all(|&n| n == 1),
        "{sort}: repeated: {got:?}"
    );
    let mut want = expected.to_vec();
    want.sort();
    let mut have = got.clone();
    have.sort();
    assert_eq!(have, want, "{sort}: not every post exactly once");
    let k = keys(app, sort).await;
    for pair in got.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(
            (k[&a], a) > (k[&b], b),
            "{sort}: {a} ({}) listed before {b} ({})",
            k[&a],
            k[&b]
        );
    }
}

/// Posts with every sort key tied for some (same publication time, same score, same comment
/// count) and spread for others, in a local and a remote community.
async fn populated() -> (TestApp, String, Vec<i64>, Vec<i64>) {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let here = community(&app, &alice, "here").await;
    let (far, far_author) = remote_community(&app, "far").await;
    let mut local = vec![];
    for i in 0..8 {
        local.push(post(&app, &alice, here, &format!("local {i}")).await);
    }
    let mut remote = vec![];
    for i in 0..5 {
        remote.push(remote_post(&app, far, far_author, &format!("remote {i}")).await);
    }
    // Ties: four posts published at the same instant (same hot, same new, same active).
    sqlx::query("UPDATE post SET published = '2026-11-01T12:00:00Z' WHERE id = ANY($1)")
        .bind(&local[..4])
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE post_aggregates a SET active = p.published FROM post p WHERE p.id = a.post_id",
    )
    .execute(&app.db)
    .await
    .unwrap();
    // Votes: one up, one down (controversial), one more up.
    for (id, score) in [(local[5], 1), (local[6], -1), (remote[1], 1)] {
        let (s, v) = app
            .post(
                &format!("/api/v1/posts/{id}/vote"),
                Some(&bob),
                json!({ "score": score }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    // Comments: two on one post, one on another (the rest tie at zero).
    app.comment(&bob, local[2], None, "first").await;
    app.comment(&bob, local[2], None, "second").await;
    app.comment(&bob, remote[3], None, "far reply").await;
    (app, alice, local, remote)
}

#[tokio::test]
async fn front_page_lists_every_post_exactly_once_in_every_sort_with_ties() {
    let (app, _, local, remote) = populated().await;
    let all: Vec<i64> = local.iter().chain(&remote).copied().collect();
    for sort in SORTS {
        let got = walk(&app, &format!("/api/v1/posts?sort={sort}&limit=3"), None).await;
        assert_listed_once_in_order(&app, sort, &got, &all).await;
    }
    // Hot is the default scope's default sort.
    let (_, default) = app.get("/api/v1/posts?limit=100", None).await;
    let (_, hot) = app
        .get("/api/v1/posts?scope=all&sort=hot&limit=100", None)
        .await;
    assert_eq!(default["posts"], hot["posts"]);
    // Active puts the post with the newest comment first, most_comments the one with two.
    let (_, active) = app.get("/api/v1/posts?sort=active&limit=1", None).await;
    assert_eq!(active["posts"][0]["id"], remote[3]);
    let (_, most) = app
        .get("/api/v1/posts?sort=most_comments&limit=1", None)
        .await;
    assert_eq!(most["posts"][0]["id"], local[2]);
    let (_, contro) = app
        .get("/api/v1/posts?sort=controversial&limit=1", None)
        .await;
    assert_eq!(contro["posts"][0]["id"], local[6], "one up, one down");
}

#[tokio::test]
async fn a_community_lists_its_posts_in_every_sort_exactly_once() {
    let (app, _, local, remote) = populated().await;
    for sort in SORTS {
        let got = walk(
            &app,
            &format!("/api/v1/communities/here/posts?sort={sort}&limit=3"),
            None,
        )
        .await;
        assert_listed_once_in_order(&app, sort, &got, &local).await;
        let got = walk(
            &app,
            &format!("/api/v1/communities/far@remote.example/posts?sort={sort}&limit=3"),
            None,
        )
        .await;
        assert_listed_once_in_order(&app, sort, &got, &remote).await;
    }
}

#[tokio::test]
async fn local_scope_lists_only_communities_hosted_here() {
    let (app, _, local, _) = populated().await;
    for sort in SORTS {
        let got = walk(
            &app,
            &format!("/api/v1/posts?scope=local&sort={sort}&limit=3"),
            None,
        )
        .await;
        assert_listed_once_in_order(&app, sort, &got, &local).await;
    }
}

#[tokio::test]
async fn subscribed_scope_needs_a_login_and_lists_only_accepted_follows() {
    let (app, _, local, remote) = populated().await;
    let (s, body) = app.get("/api/v1/posts?scope=subscribed", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "unauthorized", "{body}");

    let carol = app.user("carol").await;
    // Nothing followed: an empty page.
    let (s, page) = app
        .get("/api/v1/posts?scope=subscribed", Some(&carol))
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["posts"], json!([]));
    // A pending follow of the remote community shows nothing of it.
    sqlx::query(
        "INSERT INTO community_follow (community_id, person_id, pending)
         SELECT c.id, p.id, true FROM community c, person p
          WHERE c.name = 'far' AND p.name = 'carol' AND p.local",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let (s, f) = app
        .post(
            "/api/v1/communities/follow",
            Some(&carol),
            json!({"community": "here"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    for sort in SORTS {
        let got = walk(
            &app,
            &format!("/api/v1/posts?scope=subscribed&sort={sort}&limit=3"),
            Some(&carol),
        )
        .await;
        assert_listed_once_in_order(&app, sort, &got, &local).await;
    }
    // Once accepted, the remote community's posts join in.
    sqlx::query("UPDATE community_follow SET pending = false WHERE pending")
        .execute(&app.db)
        .await
        .unwrap();
    let got = walk(
        &app,
        "/api/v1/posts?scope=subscribed&sort=new&limit=3",
        Some(&carol),
    )
    .await;
    let all: Vec<i64> = local.iter().chain(&remote).copied().collect();
    assert_listed_once_in_order(&app, "new", &got, &all).await;
}

#[tokio::test]
async fn top_keeps_only_posts_published_within_its_window() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let here = community(&app, &alice, "here").await;
    // Ages: 1 hour, 3 days, 20 days, 200 days, 3 years; several per age, so pages merge days.
    let ages = ["1 hour", "3 days", "20 days", "200 days", "1100 days"];
    let mut by_age: Vec<Vec<i64>> = vec![];
    for (n, age) in ages.iter().enumerate() {
        let mut ids = vec![];
        for i in 0..3 {
            let id = post(&app, &alice, here, &format!("{age} {i}")).await;
            // Spread within the age across two days, so a window spans several day ranges.
            sqlx::query(&format!(
                "UPDATE post SET published = now() - interval '{age}' - interval '{}' hour
                 WHERE id = $1",
                i * 9
            ))
            .bind(id)
            .execute(&app.db)
            .await
            .unwrap();
            ids.push(id);
        }
        by_age.push(ids);
        let _ = n;
    }
    let within = |n: usize| -> Vec<i64> { by_age[..n].iter().flatten().copied().collect() };
    for (window, n) in [
        ("day", 1),
        ("week", 2),
        ("month", 3),
        ("year", 4),
        ("all", 5),
    ] {
        for path in [
            format!("/api/v1/posts?sort=top&window={window}&limit=3"),
            format!("/api/v1/communities/here/posts?sort=top&window={window}&limit=3"),
            format!("/api/v1/posts?scope=local&sort=top&window={window}&limit=3"),
        ] {
            let got = walk(&app, &path, None).await;
            // The first post of "1 hour" is 1 hour old, the others 10 and 19 hours: all in a day.
            assert_listed_once_in_order(&app, "top", &got, &within(n)).await;
        }
    }
    // A cursor of one window is refused by another.
    let (_, page) = app
        .get("/api/v1/posts?sort=top&window=year&limit=1", None)
        .await;
    let c = page["next_cursor"].as_str().unwrap();
    let (s, body) = app
        .get(
            &format!("/api/v1/posts?sort=top&window=month&limit=1&cursor={c}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn hidden_posts_never_reach_the_front_page() {
    let (app, alice, local, remote) = populated().await;
    let dave = app.user("dave").await;
    // Deleted by its author, removed by a moderator.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{}", local[0]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, r) = app
        .post(
            &format!("/api/v1/posts/{}/remove", local[1]),
            Some(&alice),
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // Dave blocks the remote author.
    let (s, b) = app
        .call(
            Method::PUT,
            "/api/v1/me/blocks/people/far_far@remote.example",
            Some(&dave),
            None,
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let visible: Vec<i64> = local[2..].to_vec();
    for sort in SORTS {
        let got = walk(
            &app,
            &format!("/api/v1/posts?sort={sort}&limit=3"),
            Some(&dave),
        )
        .await;
        assert_listed_once_in_order(&app, sort, &got, &visible).await;
    }
    // Others still see the remote posts, until the instance is blocked.
    let got = walk(&app, "/api/v1/posts?sort=new&limit=3", None).await;
    let with_remote: Vec<i64> = visible.iter().chain(&remote).copied().collect();
    assert_listed_once_in_order(&app, "new", &got, &with_remote).await;
    sqlx::query("UPDATE instance SET blocked = true WHERE authority = 'remote.example'")
        .execute(&app.db)
        .await
        .unwrap();
    for sort in SORTS {
        let got = walk(&app, &format!("/api/v1/posts?sort={sort}&limit=3"), None).await;
        assert_listed_once_in_order(&app, sort, &got, &visible).await;
    }
    // A blocked community leaves the front page of the one who blocks it.
    let (s, b) = app
        .call(
            Method::PUT,
            "/api/v1/me/blocks/communities/here",
            Some(&dave),
            None,
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let (_, page) = app.get("/api/v1/posts?limit=100", Some(&dave)).await;
    assert_eq!(page["posts"], json!([]), "{page}");
}

#[tokio::test]
async fn bad_listing_input_is_a_400_in_the_error_shape() {
    let (app, _, _, _) = populated().await;
    let (_, page) = app.get("/api/v1/posts?sort=new&limit=2", None).await;
    let new_cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, page) = app
        .get("/api/v1/communities/here/posts?sort=new&limit=2", None)
        .await;
    let community_cursor = page["next_cursor"].as_str().unwrap().to_owned();
    for path in [
        "/api/v1/posts?sort=best".to_owned(),
        "/api/v1/posts?scope=everything".to_owned(),
        "/api/v1/posts?sort=top&window=decade".to_owned(),
        "/api/v1/posts?limit=0".to_owned(),
        "/api/v1/posts?limit=101".to_owned(),
        "/api/v1/posts?cursor=%25%25%25".to_owned(),
        "/api/v1/posts?cursor=e30".to_owned(),
        format!("/api/v1/posts?sort=hot&cursor={new_cursor}"),
        format!("/api/v1/posts?sort=new&scope=local&cursor={new_cursor}"),
        format!("/api/v1/posts?sort=new&cursor={community_cursor}"),
        format!("/api/v1/communities/far@remote.example/posts?sort=new&cursor={community_cursor}"),
        "/api/v1/communities/here/posts?sort=rising".to_owned(),
        "/api/v1/communities?sort=popular".to_owned(),
        format!("/api/v1/communities?cursor={new_cursor}"),
    ] {
        let (s, body) = app.get(&path, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
        assert!(body["message"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn communities_are_listed_by_subscribers_activity_and_age() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let mut ids = vec![];
    for name in ["quiet", "busy", "popular", "fresh"] {
        ids.push(community(&app, &alice, name).await);
    }
    // Subscribers: popular has three more followers; busy one more; the rest tie at one.
    for (name, followers) in [("popular", 3), ("busy", 1)] {
        for i in 0..followers {
            let t = app.user(&format!("{name}{i}")).await;
            let (s, f) = app
                .post(
                    "/api/v1/communities/follow",
                    Some(&t),
                    json!({ "community": name }),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{f}");
        }
    }
    // Activity: busy has three posts, popular one made long ago, quiet one now.
    for _ in 0..3 {
        post(&app, &alice, ids[1], "busy post").await;
    }
    post(&app, &alice, ids[0], "quiet post").await;
    sqlx::query(
        "INSERT INTO post (community_id, creator_id, title, ap_id, local, published)
         SELECT $1, p.id, 'old', 'https://old.example/1', true, now() - interval '30 weeks'
           FROM person p WHERE p.name = 'alice'",
    )
    .bind(ids[2])
    .execute(&app.db)
    .await
    .unwrap();
    let names = |page: &Value| -> Vec<String> {
        page["communities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let walk_names = |sort: &'static str| {
        let app = &app;
        async move {
            let mut all = vec![];
            let mut cursor: Option<String> = None;
            loop {
                let url = match &cursor {
                    Some(c) => format!("/api/v1/communities?sort={sort}&limit=1&cursor={c}"),
                    None => format!("/api/v1/communities?sort={sort}&limit=1"),
                };
                let (s, page) = app.get(&url, None).await;
                assert_eq!(s, StatusCode::OK, "{page}");
                all.extend(names(&page));
                cursor = page["next_cursor"].as_str().map(String::from);
                if cursor.is_none() {
                    return all;
                }
            }
        }
    };
    // Ties on one follower broken by id, newest first.
    assert_eq!(
        walk_names("subscribers").await,
        ["popular", "busy", "fresh", "quiet"]
    );
    let (_, default) = app.get("/api/v1/communities", None).await;
    assert_eq!(names(&default), ["popular", "busy", "fresh", "quiet"]);
    let active = walk_names("active").await;
    assert_eq!(&active[..2], ["busy", "quiet"], "{active:?}");
    assert_eq!(&active[2..], ["popular", "fresh"], "{active:?}");
    assert_eq!(
        walk_names("new").await,
        ["fresh", "popular", "busy", "quiet"]
    );
    assert_eq!(
        walk_names("name").await,
        ["busy", "fresh", "popular", "quiet"]
    );
}
