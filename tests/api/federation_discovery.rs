//! ActivityPub discovery over HTTP: WebFinger, NodeInfo, the instance actor, actor and object
//! documents (JSON for peers, HTML for browsers) and snapshots of the JSON we emit.

use canopy_testkit::TestApp;
use reqwest::header::{ACCEPT, CONTENT_TYPE, VARY};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const AS_PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
const TYPE_PROPERTY: &str = "https://www.w3.org/ns/activitystreams#type";

/// A response: status, content type and body text.
struct Got {
    status: StatusCode,
    content_type: String,
    vary: String,
    body: String,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("{} body is not JSON: {}", self.status, self.body))
    }
}

async fn fetch(app: &TestApp, path: &str, accept: Option<&str>) -> Got {
    let mut req = app.client.get(format!("{}{path}", app.base_url));
    if let Some(a) = accept {
        req = req.header(ACCEPT, a);
    }
    let resp = req.send().await.unwrap();
    let header = |name| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (content_type, vary) = (header(CONTENT_TYPE), header(VARY));
    Got {
        status: resp.status(),
        content_type,
        vary,
        body: resp.text().await.unwrap(),
    }
}

/// GET as an ActivityPub peer does.
async fn ap_get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let got = fetch(app, path, Some("application/activity+json")).await;
    if got.status.is_success() || got.status == StatusCode::GONE {
        assert_eq!(
            got.content_type, "application/activity+json; charset=utf-8",
            "{path}"
        );
    }
    (got.status, got.json())
}

fn port(app: &TestApp) -> &str {
    app.base_url.rsplit(':').next().unwrap()
}

/// The node's public base URL (the tests serve `http://localhost:PORT`).
fn base(app: &TestApp) -> String {
    format!("http://localhost:{}", port(app))
}

fn authority(app: &TestApp) -> String {
    format!("localhost:{}", port(app))
}

async fn webfinger(app: &TestApp, resource: &str) -> (StatusCode, Value) {
    let got = fetch(
        app,
        &format!("/.well-known/webfinger?resource={resource}"),
        None,
    )
    .await;
    if got.status == StatusCode::OK {
        assert_eq!(got.content_type, "application/jrd+json");
    }
    (got.status, got.json())
}

fn self_links(doc: &Value) -> Vec<(String, String)> {
    doc["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "self")
        .map(|l| {
            assert_eq!(l["type"], "application/activity+json");
            (
                l["href"].as_str().unwrap().to_string(),
                l["properties"][TYPE_PROPERTY].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A document as it would look on `https://canopy.example`, with keys and times blanked, for
/// snapshots that do not change from run to run.
fn stable(app: &TestApp, doc: &Value) -> Value {
    let text = doc
        .to_string()
        .replace(&base(app), "https://canopy.example");
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    for (pointer, placeholder) in [
        ("/publicKey/publicKeyPem", "[pem]"),
        ("/published", "[time]"),
        ("/updated", "[time]"),
    ] {
        if let Some(v) = doc.pointer_mut(pointer) {
            *v = json!(placeholder);
        }
    }
    doc
}

async fn create_community(app: &TestApp, token: &str, name: &str, extra: Value) -> Value {
    let mut body = json!({"name": name, "title": format!("The {name}")});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (s, c) = app.post("/api/v1/communities", Some(token), body).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c
}

#[tokio::test]
async fn webfinger_finds_a_user_by_acct_and_by_url() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let actor = format!("{}/u/alice", base(&app));

    let (s, doc) = webfinger(&app, &format!("acct:alice@{}", authority(&app))).await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(doc["subject"], format!("acct:alice@{}", authority(&app)));
    assert_eq!(doc["aliases"], json!([actor]));
    assert_eq!(self_links(&doc), [(actor.clone(), "Person".to_string())]);
    assert!(doc["links"].as_array().unwrap().iter().any(|l| {
        l["rel"] == "http://webfinger.net/rel/profile-page" && l["href"] == actor.as_str()
    }));

    let (s, by_url) = webfinger(&app, &actor).await;
    assert_eq!(s, StatusCode::OK, "{by_url}");
    assert_eq!(by_url["subject"], doc["subject"]);
    assert_eq!(self_links(&by_url), [(actor, "Person".to_string())]);
}

#[tokio::test]
async fn webfinger_finds_a_community_as_a_group() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    create_community(&app, &token, "news", json!({})).await;
    let (s, doc) = webfinger(&app, &format!("acct:news@{}", authority(&app))).await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(
        self_links(&doc),
        [(format!("{}/c/news", base(&app)), "Group".to_string())]
    );
}

#[tokio::test]
async fn webfinger_names_both_a_user_and_a_community_of_the_same_name_person_first() {
    let app = TestApp::spawn().await;
    let token = app.user("news").await;
    create_community(&app, &token, "news", json!({})).await;
    let (s, doc) = webfinger(&app, &format!("acct:news@{}", authority(&app))).await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(
        self_links(&doc),
        [
            (format!("{}/u/news", base(&app)), "Person".to_string()),
            (format!("{}/c/news", base(&app)), "Group".to_string()),
        ]
    );
    // Asking by URL picks one of them.
    let (_, group_only) = webfinger(&app, &format!("{}/c/news", base(&app))).await;
    assert_eq!(
        self_links(&group_only),
        [(format!("{}/c/news", base(&app)), "Group".to_string())]
    );
}

#[tokio::test]
async fn webfinger_refuses_unknown_names_other_servers_and_bad_resources() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    let (s, e) = webfinger(&app, &format!("acct:nobody@{}", authority(&app))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"], "not_found");
    for other in [
        "acct:alice@elsewhere.example".to_string(),
        "acct:alice@localhost".to_string(),
        "https://elsewhere.example/u/alice".to_string(),
        format!("{}/post/1", base(&app)),
    ] {
        let (s, e) = webfinger(&app, &other).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{other}: {e}");
    }
    for bad in ["acct:alice", "nonsense", "acct:@"] {
        let (s, e) = webfinger(&app, bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert!(e["message"].is_string());
    }
    let got = fetch(&app, "/.well-known/webfinger", None).await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST, "{}", got.body);
}

#[tokio::test]
async fn nodeinfo_counts_local_users_posts_and_comments() {
    let app = TestApp::spawn().await;
    let got = fetch(&app, "/.well-known/nodeinfo", None).await;
    assert_eq!(got.status, StatusCode::OK);
    let links = got.json();
    assert_eq!(
        links["links"][0]["rel"],
        "http://nodeinfo.diaspora.software/ns/schema/2.1"
    );
    assert_eq!(
        links["links"][0]["href"],
        format!("{}/nodeinfo/2.1", base(&app))
    );

    let alice = app.user("alice").await;
    app.user("bob").await;
    let post = app.community_with_post(&alice, "news").await;
    let first = app.comment(&alice, post, None, "one").await;
    app.comment(&alice, post, Some(first), "two").await;
    let third = app.comment(&alice, post, None, "three").await;
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{third}"),
            Some(&alice),
            None,
        )
        .await;
    assert!(s.is_success());

    let got = fetch(&app, "/nodeinfo/2.1", None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.content_type.starts_with("application/json"));
    let info = got.json();
    assert_eq!(info["version"], "2.1");
    assert_eq!(info["software"]["name"], "canopy");
    assert_eq!(info["software"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["protocols"], json!(["activitypub"]));
    assert_eq!(info["openRegistrations"], true);
    assert_eq!(
        info["usage"],
        json!({"users": {"total": 2, "activeMonth": 1, "activeHalfyear": 1},
               "localPosts": 1, "localComments": 2}),
        "alice posted and commented; bob did nothing"
    );
}

#[tokio::test]
async fn the_instance_actor_is_an_application_whose_key_stays_the_same() {
    let app = TestApp::spawn().await;
    let (s, first) = ap_get(&app, "/actor").await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (_, second) = ap_get(&app, "/actor").await;
    assert_eq!(first, second, "the key pair is made once");
    let id = format!("{}/actor", base(&app));
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["type"], "Application");
    assert_eq!(first["preferredUsername"], "localhost");
    assert_eq!(first["inbox"], format!("{}/inbox", base(&app)));
    assert_eq!(first["outbox"], format!("{id}/outbox"));
    assert_eq!(first["publicKey"]["id"], format!("{id}#main-key"));
    assert_eq!(first["publicKey"]["owner"], id.as_str());
    let (stored,): (String,) = sqlx::query_as("SELECT public_key_pem FROM instance_actor")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(first["publicKey"]["publicKeyPem"], stored);
    let (s, outbox) = ap_get(&app, "/actor/outbox").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(outbox["totalItems"], 0);
    insta::assert_json_snapshot!("application", stable(&app, &first));
}

#[tokio::test]
async fn a_user_is_a_person_with_the_key_from_the_database() {
    let app = TestApp::spawn().await;
    app.user("alice").await;
    sqlx::query(
        "UPDATE person SET display_name = 'Alice A.', bio = '*hi* there',
                           bio_html = '<p><em>hi</em> there</p>' WHERE name = 'alice'",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let (s, person) = ap_get(&app, "/u/alice").await;
    assert_eq!(s, StatusCode::OK, "{person}");
    let id = format!("{}/u/alice", base(&app));
    assert_eq!(
        person["@context"][0],
        "https://www.w3.org/ns/activitystreams"
    );
    assert_eq!(person["@context"][1], "https://w3id.org/security/v1");
    assert_eq!(person["id"], id.as_str());
    assert_eq!(person["type"], "Person");
    assert_eq!(person["preferredUsername"], "alice");
    assert_eq!(person["name"], "Alice A.");
    assert_eq!(person["summary"], "<p><em>hi</em> there</p>");
    assert_eq!(
        person["source"],
        json!({"content": "*hi* there", "mediaType": "text/markdown"})
    );
    assert_eq!(person["inbox"], format!("{id}/inbox"));
    assert_eq!(person["outbox"], format!("{id}/outbox"));
    assert_eq!(person["followers"], format!("{id}/followers"));
    assert_eq!(
        person["endpoints"]["sharedInbox"],
        format!("{}/inbox", base(&app))
    );
    assert_eq!(person["publicKey"]["id"], format!("{id}#main-key"));
    assert_eq!(person["publicKey"]["owner"], id.as_str());
    let (stored,): (String,) =
        sqlx::query_as("SELECT public_key_pem FROM person WHERE name = 'alice'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(person["publicKey"]["publicKeyPem"], stored);
    assert_eq!(person["manuallyApprovesFollowers"], false);
    assert_eq!(person["discoverable"], true);
    assert!(person["published"].is_string());

    let (s, outbox) = ap_get(&app, "/u/alice/outbox").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        outbox,
        json!({"@context": person["@context"], "id": format!("{id}/outbox"),
               "type": "OrderedCollection", "totalItems": 0, "orderedItems": []})
    );
    let (s, followers) = ap_get(&app, "/u/alice/followers").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(followers["totalItems"], 0);
    assert!(followers.get("orderedItems").is_none());

    let (s, e) = ap_get(&app, "/u/nobody").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"], "not_found");
    insta::assert_json_snapshot!("person", stable(&app, &person));
}

#[tokio::test]
async fn a_community_is_a_group_with_moderators_followers_and_outbox() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    app.user("bob").await;
    let c = create_community(
        &app,
        &alice,
        "news",
        json!({"description": "All *the* news"}),
    )
    .await;
    sqlx::query(
        "INSERT INTO community_follow (community_id, person_id)
         SELECT $1, id FROM person WHERE name = 'bob'",
    )
    .bind(c["id"].as_i64().unwrap())
    .execute(&app.db)
    .await
    .unwrap();

    let (s, group) = ap_get(&app, "/c/news").await;
    assert_eq!(s, StatusCode::OK, "{group}");
    let id = format!("{}/c/news", base(&app));
    assert_eq!(group["id"], id.as_str());
    assert_eq!(group["type"], "Group");
    assert_eq!(group["preferredUsername"], "news");
    assert_eq!(group["name"], "The news");
    assert_eq!(group["summary"], c["description_html"]);
    assert_eq!(group["source"]["content"], "All *the* news");
    assert_eq!(group["attributedTo"], format!("{id}/moderators"));
    assert_eq!(group["postingRestrictedToMods"], false);
    assert_eq!(group["inbox"], format!("{id}/inbox"));
    let (stored,): (String,) =
        sqlx::query_as("SELECT public_key_pem FROM community WHERE name = 'news'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(group["publicKey"]["publicKeyPem"], stored);
    assert_eq!(group["publicKey"]["id"], format!("{id}#main-key"));

    let (s, mods) = ap_get(&app, "/c/news/moderators").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mods["type"], "OrderedCollection");
    assert_eq!(mods["totalItems"], 1);
    assert_eq!(
        mods["orderedItems"],
        json!([format!("{}/u/alice", base(&app))])
    );
    let (_, followers) = ap_get(&app, "/c/news/followers").await;
    assert_eq!(followers["id"], format!("{id}/followers"));
    assert_eq!(followers["totalItems"], 2, "the creator and bob");
    assert!(followers.get("orderedItems").is_none());
    let (_, outbox) = ap_get(&app, "/c/news/outbox").await;
    assert_eq!(outbox["totalItems"], 0);
    assert_eq!(outbox["orderedItems"], json!([]));
    insta::assert_json_snapshot!("group", stable(&app, &group));
}

#[tokio::test]
async fn posts_are_pages_and_comments_are_notes_in_their_thread() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let c = create_community(&app, &alice, "news", json!({})).await;
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": c["id"], "title": "Big news", "url": "https://example.com/story",
                   "body": "Read **this**"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let post = p["id"].as_i64().unwrap();
    let top = app.comment(&bob, post, None, "First!").await;
    let reply = app.comment(&alice, post, Some(top), "Welcome, *bob*").await;
    let b = base(&app);
    let post_id = format!("{b}/post/{post}");

    let (s, page) = ap_get(&app, &format!("/post/{post}")).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["id"], post_id.as_str());
    assert_eq!(page["type"], "Page");
    assert_eq!(page["attributedTo"], format!("{b}/u/alice"));
    assert_eq!(page["to"], json!([format!("{b}/c/news"), AS_PUBLIC]));
    assert_eq!(page["cc"], json!([]));
    assert_eq!(page["audience"], format!("{b}/c/news"));
    assert_eq!(page["name"], "Big news");
    assert_eq!(page["content"], p["body_html"]);
    assert_eq!(page["mediaType"], "text/html");
    assert_eq!(
        page["source"],
        json!({"content": "Read **this**", "mediaType": "text/markdown"})
    );
    assert_eq!(
        page["attachment"],
        json!([{"type": "Link", "href": "https://example.com/story"}])
    );
    assert_eq!(page["sensitive"], false);
    assert_eq!(page["commentsEnabled"], true);
    assert_eq!(page["context"], format!("{post_id}/context"));
    assert_eq!(page["replies"], format!("{post_id}/replies"));

    let (s, top_note) = ap_get(&app, &format!("/comment/{top}")).await;
    assert_eq!(s, StatusCode::OK, "{top_note}");
    assert_eq!(top_note["type"], "Note");
    assert_eq!(top_note["attributedTo"], format!("{b}/u/bob"));
    assert_eq!(top_note["inReplyTo"], post_id.as_str());
    assert_eq!(top_note["context"], format!("{post_id}/context"));
    assert_eq!(top_note["replies"], format!("{b}/comment/{top}/replies"));
    assert_eq!(top_note["to"], json!([AS_PUBLIC]));
    assert_eq!(
        top_note["cc"],
        json!([format!("{b}/c/news"), format!("{b}/u/alice")]),
        "the post's author hears of a top-level comment"
    );

    let (s, note) = ap_get(&app, &format!("/comment/{reply}")).await;
    assert_eq!(s, StatusCode::OK, "{note}");
    assert_eq!(note["id"], format!("{b}/comment/{reply}"));
    assert_eq!(note["inReplyTo"], format!("{b}/comment/{top}"));
    assert_eq!(note["context"], format!("{post_id}/context"));
    assert_eq!(note["audience"], format!("{b}/c/news"));
    assert_eq!(
        note["cc"],
        json!([format!("{b}/c/news"), format!("{b}/u/bob")])
    );
    assert_eq!(note["content"], "<p>Welcome, <em>bob</em></p>\n");
    assert_eq!(note["source"]["content"], "Welcome, *bob*");

    // Lemmy's own Accept header works as well.
    let got = fetch(
        &app,
        &format!("/comment/{reply}"),
        Some(r#"application/ld+json; profile="https://www.w3.org/ns/activitystreams""#),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json(), note);

    insta::assert_json_snapshot!("page", stable(&app, &page));
    insta::assert_json_snapshot!("note", stable(&app, &note));
}

#[tokio::test]
async fn deleted_content_is_a_tombstone_and_unknown_or_remote_content_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "news").await;
    let comment = app.comment(&alice, post, None, "oops").await;
    for path in [
        format!("/api/v1/comments/{comment}"),
        format!("/api/v1/posts/{post}"),
    ] {
        let (s, b) = app.call(Method::DELETE, &path, Some(&alice), None).await;
        assert!(s.is_success(), "{path}: {b}");
    }
    let (s, gone) = ap_get(&app, &format!("/comment/{comment}")).await;
    assert_eq!(s, StatusCode::GONE, "{gone}");
    assert_eq!(gone["type"], "Tombstone");
    assert_eq!(gone["formerType"], "Note");
    assert_eq!(gone["id"], format!("{}/comment/{comment}", base(&app)));
    assert!(gone["deleted"].is_string());
    assert!(gone.get("content").is_none());
    let (s, gone) = ap_get(&app, &format!("/post/{post}")).await;
    assert_eq!(s, StatusCode::GONE, "{gone}");
    assert_eq!(gone["formerType"], "Page");

    let other = app.community_with_post(&alice, "other").await;
    sqlx::query("UPDATE post SET local = false WHERE id = $1")
        .bind(other)
        .execute(&app.db)
        .await
        .unwrap();
    for path in [
        format!("/post/{other}"),
        "/post/999999".to_string(),
        "/post/abc".to_string(),
        "/comment/0".to_string(),
    ] {
        let (s, e) = ap_get(&app, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {e}");
        assert_eq!(e["error"], "not_found");
    }
}

#[tokio::test]
async fn browsers_get_html_pages_with_escaped_text() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let c = create_community(&app, &alice, "news", json!({})).await;
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": c["id"], "title": "<script>alert(1)</script> & more",
                   "body": "Some **bold** text"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let post = p["id"].as_i64().unwrap();
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for accept in [Some(browser), None] {
        let got = fetch(&app, &format!("/post/{post}"), accept).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.content_type, "text/html; charset=utf-8");
        assert!(got.vary.contains("Accept"), "{}", got.vary);
        assert!(got
            .body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; more"));
        assert!(!got.body.contains("<script>"));
        assert!(got.body.contains("<strong>bold</strong>"));
    }
    let comment = app.comment(&alice, post, None, "a *reply*").await;
    for path in [
        "/u/alice".to_string(),
        "/c/news".to_string(),
        format!("/comment/{comment}"),
        "/actor".to_string(),
    ] {
        let got = fetch(&app, &path, Some(browser)).await;
        assert_eq!(got.status, StatusCode::OK, "{path}");
        assert_eq!(got.content_type, "text/html; charset=utf-8", "{path}");
        assert!(got.body.starts_with("<!doctype html>"), "{path}");
    }
    let got = fetch(&app, &format!("/comment/{comment}"), Some(browser)).await;
    assert!(got.body.contains("<em>reply</em>"));
    // The same URL still answers a peer with JSON.
    let (s, page) = ap_get(&app, &format!("/post/{post}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["type"], "Page");
}
