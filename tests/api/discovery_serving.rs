//! What the node serves for peers to discover it and catch up: NodeInfo usage figures, the
//! instance actor found through NodeInfo, WebFinger on the site's URL and the root URL, and the
//! outboxes of communities and people.

use canopy_testkit::TestApp;
use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const AS_PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
const APPLICATION_REL: &str = "https://www.w3.org/ns/activitystreams#Application";

fn base(app: &TestApp) -> String {
    let port = app.base_url.rsplit(':').next().unwrap();
    format!("http://localhost:{port}")
}

async fn get(app: &TestApp, path: &str, accept: Option<&str>) -> (StatusCode, Value) {
    let mut req = app.client.get(format!("{}{path}", app.base_url));
    if let Some(a) = accept {
        req = req.header(ACCEPT, a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: {status} {text}"));
    (status, body)
}

async fn ap_get(app: &TestApp, path: &str) -> Value {
    let (s, v) = get(app, path, Some("application/activity+json")).await;
    assert_eq!(s, StatusCode::OK, "{path}: {v}");
    v
}

async fn usage(app: &TestApp) -> Value {
    let (s, info) = get(app, "/nodeinfo/2.1", None).await;
    assert_eq!(s, StatusCode::OK, "{info}");
    info["usage"].clone()
}

/// Move everything `name` posted, commented and voted `age` (an SQL interval) into the past.
async fn backdate(app: &TestApp, name: &str, age: &str) {
    for table in ["post", "comment"] {
        sqlx::query(&format!(
            "UPDATE {table} SET published = now() - $2::interval
             WHERE creator_id = (SELECT id FROM person WHERE name = $1 AND local)"
        ))
        .bind(name)
        .bind(age)
        .execute(&app.db)
        .await
        .unwrap();
    }
    for table in ["post_vote", "comment_vote"] {
        sqlx::query(&format!(
            "UPDATE {table} SET published = now() - $2::interval
             WHERE person_id = (SELECT id FROM person WHERE name = $1 AND local)"
        ))
        .bind(name)
        .bind(age)
        .execute(&app.db)
        .await
        .unwrap();
    }
}

async fn new_post(app: &TestApp, token: &str, community: i64, title: &str) -> i64 {
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(token),
            json!({"community_id": community, "title": title, "body": format!("{title} body")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p["id"].as_i64().unwrap()
}

async fn delete(app: &TestApp, token: &str, path: &str) {
    let (s, b) = app.call(Method::DELETE, path, Some(token), None).await;
    assert!(s.is_success(), "{path}: {s} {b}");
}

#[tokio::test]
async fn nodeinfo_active_users_are_those_who_posted_commented_or_voted_in_the_window() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    assert_eq!(
        usage(&app).await,
        json!({"users": {"total": 3, "activeMonth": 0, "activeHalfyear": 0},
               "localPosts": 0, "localComments": 0}),
        "accounts that did nothing are not active"
    );

    let post = app.community_with_post(&alice, "news").await;
    app.comment(&bob, post, None, "first").await;
    let (s, b) = app
        .post(
            &format!("/api/v1/posts/{post}/vote"),
            Some(&carol),
            json!({"score": 1}),
        )
        .await;
    assert!(s.is_success(), "{b}");
    assert_eq!(
        usage(&app).await,
        json!({"users": {"total": 3, "activeMonth": 3, "activeHalfyear": 3},
               "localPosts": 1, "localComments": 1}),
        "a post, a comment and a vote each make their author active"
    );

    backdate(&app, "alice", "2 months").await;
    backdate(&app, "bob", "1 year").await;
    assert_eq!(
        usage(&app).await,
        json!({"users": {"total": 3, "activeMonth": 1, "activeHalfyear": 2},
               "localPosts": 1, "localComments": 1}),
        "alice last posted two months ago, bob a year ago, carol voted today"
    );

    app.comment(&alice, post, None, "back again").await;
    let u = usage(&app).await;
    assert_eq!(u["users"]["activeMonth"], 2, "{u}");
    assert_eq!(u["localComments"], 2, "{u}");
}

#[tokio::test]
async fn the_instance_actor_is_found_through_nodeinfo_webfinger_on_the_site_and_the_root_url() {
    let app = TestApp::spawn().await;
    let actor_id = format!("{}/actor", base(&app));
    let actor = ap_get(&app, "/actor").await;

    let (_, links) = get(&app, "/.well-known/nodeinfo", None).await;
    let application: Vec<&Value> = links["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == APPLICATION_REL)
        .collect();
    assert_eq!(application.len(), 1, "{links}");
    assert_eq!(application[0]["href"], actor_id.as_str());

    let port = app.base_url.rsplit(':').next().unwrap().to_string();
    for resource in [
        format!("{}/", base(&app)),
        format!("acct:localhost@localhost:{port}"),
    ] {
        let (s, jrd) = get(
            &app,
            &format!("/.well-known/webfinger?resource={resource}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{resource}: {jrd}");
        assert_eq!(jrd["subject"], resource.as_str());
        let selves: Vec<&Value> = jrd["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["rel"] == "self")
            .collect();
        assert_eq!(selves.len(), 1, "{jrd}");
        assert_eq!(selves[0]["href"], actor_id.as_str());
        assert_eq!(selves[0]["type"], "application/activity+json");
        assert_eq!(
            selves[0]["properties"]["https://www.w3.org/ns/activitystreams#type"],
            "Application"
        );
    }
    // Another host's site is not ours.
    let (s, _) = get(
        &app,
        "/.well-known/webfinger?resource=http://elsewhere.example/",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    for accept in [
        "application/activity+json",
        "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
    ] {
        let (s, root) = get(&app, "/", Some(accept)).await;
        assert_eq!(s, StatusCode::OK, "{accept}: {root}");
        assert_eq!(root, actor, "{accept}: the root answers the instance actor");
    }
    // Plain JSON clients get what any unknown path gets.
    let (s, unknown) = get(&app, "/no-such-page", Some("text/html")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, root) = get(&app, "/", Some("application/json")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(root, unknown);
    // A browser gets the front page (tests/api/pages.rs).
    for accept in [Some("text/html,application/xhtml+xml,*/*;q=0.8"), None] {
        let resp = app
            .client
            .get(format!("{}/", app.base_url))
            .headers(
                accept
                    .map(|a| {
                        let mut h = reqwest::header::HeaderMap::new();
                        h.insert(reqwest::header::ACCEPT, a.parse().unwrap());
                        h
                    })
                    .unwrap_or_default(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{accept:?}");
        assert!(resp.text().await.unwrap().starts_with("<!doctype html>"));
    }
}

#[tokio::test]
async fn a_community_outbox_announces_its_latest_live_posts_newest_first() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let (s, c) = app
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "news", "title": "News"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let community = c["id"].as_i64().unwrap();
    let mut posts = Vec::new();
    for n in 0..23 {
        posts.push(new_post(&app, &alice, community, &format!("post {n}")).await);
    }
    // The newest is deleted by its author, the one before removed by a moderator.
    delete(&app, &alice, &format!("/api/v1/posts/{}", posts[22])).await;
    sqlx::query("UPDATE post SET removed = true WHERE id = $1")
        .bind(posts[21])
        .execute(&app.db)
        .await
        .unwrap();

    let group_id = format!("{}/c/news", base(&app));
    let outbox = ap_get(&app, "/c/news/outbox").await;
    assert_eq!(outbox["id"], format!("{group_id}/outbox"));
    assert_eq!(outbox["type"], "OrderedCollection");
    assert_eq!(outbox["totalItems"], 21, "live posts only");
    let items = outbox["orderedItems"].as_array().unwrap();
    assert_eq!(items.len(), 20, "the latest twenty");
    let listed: Vec<String> = items
        .iter()
        .map(|a| a["object"]["object"]["id"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = posts[1..=20]
        .iter()
        .rev()
        .map(|id| format!("{}/post/{id}", base(&app)))
        .collect();
    assert_eq!(
        listed, expected,
        "newest first, deleted and removed left out"
    );

    let alice_id = format!("{}/u/alice", base(&app));
    for announce in items {
        assert_eq!(announce["type"], "Announce");
        assert_eq!(announce["actor"], group_id.as_str());
        assert_eq!(announce["to"], json!([AS_PUBLIC]));
        assert_eq!(announce["cc"], json!([format!("{group_id}/followers")]));
        let create = &announce["object"];
        assert_eq!(create["type"], "Create");
        assert_eq!(create["actor"], alice_id.as_str());
        assert_eq!(create["to"], json!([AS_PUBLIC]));
        assert_eq!(create["cc"], json!([group_id]));
        assert_ne!(create["id"], announce["id"]);
    }
    // The embedded Page is the document served at the post's id.
    let first = items[0]["object"]["object"].clone();
    let mut page = ap_get(&app, &format!("/post/{}", posts[20])).await;
    page.as_object_mut().unwrap().remove("@context");
    assert_eq!(first, page);
    assert_eq!(first["name"], "post 20");

    // Read again, the same activities (ids included): a peer can tell it has seen them.
    assert_eq!(ap_get(&app, "/c/news/outbox").await, outbox);

    // Read the way the interop test reads Lemmy's outbox, and with every field Lemmy's has.
    let lemmy: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/interop/lemmy/collections/group_outbox.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for doc in [&lemmy, &outbox] {
        assert_eq!(doc["type"], "OrderedCollection");
        let list = doc["orderedItems"].as_array().unwrap();
        assert!(list.iter().all(|i| i["type"] == "Announce"));
        assert!(list.len() as u64 <= doc["totalItems"].as_u64().unwrap());
    }
    let theirs = &lemmy["orderedItems"][0];
    for (ours, theirs, what) in [
        (&items[0], theirs, "Announce"),
        (&items[0]["object"], &theirs["object"], "Create"),
        (
            &items[0]["object"]["object"],
            &theirs["object"]["object"],
            "Page",
        ),
    ] {
        for key in theirs.as_object().unwrap().keys() {
            assert!(ours.get(key).is_some(), "our {what} has no {key}: {ours}");
        }
    }
}

#[tokio::test]
async fn a_person_outbox_lists_their_live_posts_and_comments_newest_first() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let post = app.community_with_post(&alice, "news").await;
    let kept = app.comment(&alice, post, None, "kept").await;
    let gone = app.comment(&alice, post, Some(kept), "gone").await;
    app.comment(&bob, post, Some(kept), "bob's").await;
    let reply = app.comment(&alice, post, Some(kept), "latest").await;
    delete(&app, &alice, &format!("/api/v1/comments/{gone}")).await;

    let alice_id = format!("{}/u/alice", base(&app));
    let outbox = ap_get(&app, "/u/alice/outbox").await;
    assert_eq!(outbox["id"], format!("{alice_id}/outbox"));
    assert_eq!(outbox["type"], "OrderedCollection");
    assert_eq!(outbox["totalItems"], 3);
    let items = outbox["orderedItems"].as_array().unwrap();
    let listed: Vec<(&str, &str)> = items
        .iter()
        .map(|c| {
            assert_eq!(c["type"], "Create");
            assert_eq!(c["actor"], alice_id.as_str());
            assert_eq!(c["to"], json!([AS_PUBLIC]));
            (
                c["object"]["type"].as_str().unwrap(),
                c["object"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    let b = base(&app);
    assert_eq!(
        listed,
        vec![
            ("Note", format!("{b}/comment/{reply}").as_str()),
            ("Note", format!("{b}/comment/{kept}").as_str()),
            ("Page", format!("{b}/post/{post}").as_str()),
        ],
        "newest first; the deleted comment and bob's are not alice's to list"
    );
    let mut note = ap_get(&app, &format!("/comment/{reply}")).await;
    note.as_object_mut().unwrap().remove("@context");
    assert_eq!(items[0]["object"], note, "the Note served at its id");

    let bob_outbox = ap_get(&app, "/u/bob/outbox").await;
    assert_eq!(bob_outbox["totalItems"], 1);
    let followers = ap_get(&app, "/u/alice/followers").await;
    assert_eq!(followers["totalItems"], 0);
    let followers = ap_get(&app, "/c/news/followers").await;
    assert_eq!(followers["totalItems"], 1, "the creator follows");
}
