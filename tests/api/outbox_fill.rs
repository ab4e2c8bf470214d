//! On following a remote community, its recent posts are filled from its outbox: each fetched
//! from its own id, never taken from what the outbox embeds, and never more than the fill takes.

use canopy_federation::fetch;
use canopy_federation::outbox_fill::fill_recent_posts;
use canopy_testkit::standin::StandIn;
use canopy_testkit::{eventually, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use url::Url;

fn authority(app: &TestApp) -> String {
    app.public_url.trim_start_matches("http://").to_string()
}

/// (ap_id, title) of every post stored on `app` that is not its own, sorted.
async fn remote_posts(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT ap_id, title FROM post WHERE NOT local ORDER BY ap_id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn following_a_remote_community_fills_the_posts_it_had_before_from_its_outbox() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let bob = beta.user("bob").await;
    let (s, forest) = alpha
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "forest", "title": "Forest"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{forest}");
    let mut posted = Vec::new();
    for n in 0..5 {
        let (s, p) = alpha
            .post(
                "/api/v1/posts",
                Some(&alice),
                json!({"community_id": forest["id"], "title": format!("tree {n}"), "body": "bark"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        posted.push((
            p["ap_id"].as_str().unwrap().to_string(),
            format!("tree {n}"),
        ));
    }
    posted.sort();
    assert!(remote_posts(&beta).await.is_empty());

    let (s, f) = beta
        .post(
            "/api/v1/communities/follow",
            Some(&bob),
            json!({"community": format!("forest@{}", authority(&alpha))}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    eventually("the follow is accepted", || async {
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM community_follow WHERE NOT pending")
                .fetch_one(&beta.db)
                .await
                .unwrap();
        (n == 1).then_some(())
    })
    .await;
    let filled = eventually("beta has alpha's five posts", || async {
        let posts = remote_posts(&beta).await;
        (posts.len() == 5).then_some(posts)
    })
    .await;
    assert_eq!(filled, posted, "the same posts, with the same titles");

    // They sit in beta's copy of alpha's community.
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM post p JOIN community c ON c.id = p.community_id WHERE c.ap_id = $1",
    )
    .bind(format!("{}/c/forest", alpha.public_url))
    .fetch_one(&beta.db)
    .await
    .unwrap();
    assert_eq!(n, 5);
}

/// A stand-in community whose Group names its outbox at `/c/{name}/outbox`; returns its id.
fn community_with_outbox(s: &StandIn, name: &str) -> String {
    let id = s.group(name);
    let path = format!("/c/{name}");
    let mut group = s.get(&path).unwrap();
    group["outbox"] = json!(format!("{id}/outbox"));
    s.put(&path, group);
    id
}

/// A Page by `author` in `community`, as its origin serves it.
fn page(id: &str, author: &str, community: &str, title: &str) -> Value {
    json!({
        "id": id, "type": "Page", "attributedTo": author, "name": title,
        "content": "<p>text</p>", "audience": community,
        "to": [community, "https://www.w3.org/ns/activitystreams#Public"],
        "published": "2026-11-30T10:00:00Z",
    })
}

fn outbox(community: &str, items: Vec<Value>) -> Value {
    json!({
        "id": format!("{community}/outbox"), "type": "OrderedCollection",
        "totalItems": items.len(), "orderedItems": items,
    })
}

#[tokio::test]
async fn outbox_items_are_stored_only_as_their_own_ids_serve_them() {
    let app = TestApp::spawn().await;
    let home = StandIn::start().await;
    let other = StandIn::start().await;
    let group = community_with_outbox(&home, "valley");
    let sam = home.person("sam");
    let tess = other.person("tess");
    let elsewhere = other.group("elsewhere");
    let other_port = other.authority().rsplit(':').next().unwrap().to_string();

    // 1. Embedded as "forged", served by its own host as "genuine": stored as served.
    let genuine = format!("{}/post/genuine", other.base);
    other.put("/post/genuine", page(&genuine, &tess, &group, "genuine"));
    // 2. Embedded only: its own host does not know it.
    let ghost = format!("{}/post/ghost", other.base);
    // 3. Its id answers another object (on another host name): the answer is not taken.
    let swapped = format!("{}/post/swapped", other.base);
    let claimed = format!("http://127.0.0.1:{other_port}/post/claimed");
    other.put("/post/swapped", page(&claimed, &tess, &group, "swapped"));
    // 4. A post of another community, listed here.
    let stray = format!("{}/post/stray", other.base);
    other.put("/post/stray", page(&stray, &tess, &elsewhere, "stray"));
    // 5. A comment is not a post.
    let comment = format!("{}/comment/1", home.base);
    home.put(
        "/comment/1",
        json!({"id": comment, "type": "Note", "attributedTo": sam, "content": "hi",
               "inReplyTo": genuine, "to": [group]}),
    );
    // 6. The community's own post, announced as Lemmy does.
    let own = format!("{}/post/own", home.base);
    home.put("/post/own", page(&own, &sam, &group, "own"));

    let announce = |object: Value| {
        json!({"type": "Announce", "actor": group,
               "object": {"type": "Create", "actor": tess, "object": object}})
    };
    home.put(
        "/c/valley/outbox",
        outbox(
            &group,
            vec![
                announce(page(&genuine, &tess, &group, "forged")),
                json!({"type": "Create", "object": page(&ghost, &tess, &group, "ghost")}),
                announce(json!(swapped)),
                json!(stray),
                announce(json!({"id": comment, "type": "Note"})),
                announce(page(&own, &sam, &group, "own")),
            ],
        ),
    );

    let data = app.request_data();
    let community = fetch::community(&Url::parse(&group).unwrap(), &data)
        .await
        .unwrap();
    let added = fill_recent_posts(&community, &data, 20).await.unwrap();
    assert_eq!(added, 2);
    let mut expected = vec![
        (genuine.clone(), "genuine".to_string()),
        (own.clone(), "own".to_string()),
    ];
    expected.sort();
    assert_eq!(remote_posts(&app).await, expected);
    let (comments,): (i64,) = sqlx::query_as("SELECT count(*) FROM comment")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(comments, 0, "nothing but posts is filled");

    // A second fill adds nothing and fetches none of the stored posts again.
    let fetched_before = other.seen.lock().unwrap().len();
    let again = fill_recent_posts(&community, &app.request_data(), 20)
        .await
        .unwrap();
    assert_eq!(again, 0);
    let refetched: Vec<String> = other.seen.lock().unwrap()[fetched_before..]
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    assert!(
        !refetched.contains(&"/post/genuine".to_string()),
        "{refetched:?}"
    );
}

#[tokio::test]
async fn an_outbox_of_a_thousand_items_fills_at_most_the_maximum() {
    let app = TestApp::spawn().await;
    let home = StandIn::start().await;
    let group = community_with_outbox(&home, "crowd");
    let sam = home.person("sam");
    let mut items = Vec::new();
    for n in 0..1000 {
        let id = format!("{}/post/{n}", home.base);
        let p = page(&id, &sam, &group, &format!("post {n}"));
        home.put(&format!("/post/{n}"), p.clone());
        items.push(json!({"type": "Create", "actor": sam, "object": p}));
    }
    home.put("/c/crowd/outbox", outbox(&group, items));

    let data = app.request_data();
    let community = fetch::community(&Url::parse(&group).unwrap(), &data)
        .await
        .unwrap();
    let added = fill_recent_posts(&community, &data, 7).await.unwrap();
    assert_eq!(added, 7);
    let stored = remote_posts(&app).await;
    assert_eq!(stored.len(), 7);
    let post_fetches = home
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/post/"))
        .count();
    assert_eq!(post_fetches, 7, "one fetch per post taken, none beyond");
}

/// Outboxes that list nothing themselves (Mastodon's): the items of the `first` page are read
/// when it is on the community's host, embedded or linked; a `first` page on another host is not
/// fetched, and nothing is filled from it.
#[tokio::test]
async fn the_first_page_of_an_outbox_is_read_only_on_the_communitys_host() {
    let app = TestApp::spawn().await;
    let home = StandIn::start().await;
    let other = StandIn::start().await;
    let sam = home.person("sam");
    let data = app.request_data();

    let linked = community_with_outbox(&home, "linked");
    let post = format!("{}/post/linked", home.base);
    home.put("/post/linked", page(&post, &sam, &linked, "linked"));
    // (The stand-in serves by path, so the page has a path of its own, not `?page=true`.)
    home.put(
        "/c/linked/outbox",
        json!({"id": format!("{linked}/outbox"), "type": "OrderedCollection", "totalItems": 1,
               "first": format!("{linked}/outbox/page1")}),
    );
    home.put(
        "/c/linked/outbox/page1",
        json!({"id": format!("{linked}/outbox/page1"), "type": "OrderedCollectionPage",
               "orderedItems": [{"type": "Create", "object": post}]}),
    );
    let community = fetch::community(&Url::parse(&linked).unwrap(), &data)
        .await
        .unwrap();
    assert_eq!(fill_recent_posts(&community, &data, 20).await.unwrap(), 1);

    let embedded = community_with_outbox(&home, "embedded");
    let post2 = format!("{}/post/embedded", home.base);
    home.put("/post/embedded", page(&post2, &sam, &embedded, "embedded"));
    home.put(
        "/c/embedded/outbox",
        json!({"id": format!("{embedded}/outbox"), "type": "OrderedCollection",
               "first": {"type": "OrderedCollectionPage", "orderedItems": [post2]}}),
    );
    let community = fetch::community(&Url::parse(&embedded).unwrap(), &app.request_data())
        .await
        .unwrap();
    assert_eq!(
        fill_recent_posts(&community, &app.request_data(), 20)
            .await
            .unwrap(),
        1
    );

    let elsewhere = community_with_outbox(&home, "elsewhere");
    let post3 = format!("{}/post/elsewhere", home.base);
    home.put(
        "/post/elsewhere",
        page(&post3, &sam, &elsewhere, "elsewhere"),
    );
    other.put(
        "/page1",
        json!({"id": format!("{}/page1", other.base), "type": "OrderedCollectionPage",
               "orderedItems": [post3]}),
    );
    home.put(
        "/c/elsewhere/outbox",
        json!({"id": format!("{elsewhere}/outbox"), "type": "OrderedCollection",
               "first": format!("{}/page1", other.base)}),
    );
    let community = fetch::community(&Url::parse(&elsewhere).unwrap(), &app.request_data())
        .await
        .unwrap();
    assert!(fill_recent_posts(&community, &app.request_data(), 20)
        .await
        .is_err());
    assert!(
        other.seen.lock().unwrap().is_empty(),
        "the other host is not asked"
    );

    let titles: Vec<String> = remote_posts(&app)
        .await
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(titles, ["embedded", "linked"]);
}

/// (comment ap_id, parent comment ap_id) of every comment under the post `post_ap` on `app`.
async fn comment_places(app: &TestApp, post_ap: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT c.ap_id, parent.ap_id FROM comment c
         LEFT JOIN comment parent ON parent.id = c.parent_id
         JOIN post p ON p.id = c.post_id WHERE p.ap_id = $1 ORDER BY c.ap_id",
    )
    .bind(post_ap)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// A follow that starts after the thread did: the outbox fill brings the post, and the post,
/// new to beta, is backfilled, so beta holds the thread's comments in their places too.
#[tokio::test]
async fn a_follow_started_after_the_thread_did_gets_its_posts_and_then_their_comments() {
    let alpha = TestApp::spawn().await;
    let options = canopy::Options {
        backfill: Some(canopy_federation::backfill::Settings::default()),
        ..canopy_testkit::unlimited()
    };
    let beta = TestApp::spawn_configured(Some(canopy_testkit::fast_worker_config()), options).await;
    let alice = alpha.user("alice").await;
    let bob = beta.user("bob").await;
    let post = alpha.community_with_post(&alice, "meadow").await;
    let first = alpha.comment(&alice, post, None, "first").await;
    alpha.comment(&alice, post, Some(first), "reply").await;
    alpha.comment(&alice, post, None, "second").await;
    let (_, p) = alpha.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    let on_alpha = comment_places(&alpha, &post_ap).await;
    assert_eq!(on_alpha.len(), 3);

    let (s, f) = beta
        .post(
            "/api/v1/communities/follow",
            Some(&bob),
            json!({"community": format!("meadow@{}", authority(&alpha))}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    eventually("beta has the thread as alpha has it", || async {
        (comment_places(&beta, &post_ap).await == on_alpha).then_some(())
    })
    .await;
}
