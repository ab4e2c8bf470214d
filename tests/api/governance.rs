//! Instance governance: an administrator blocks an instance (or runs the node in allow-list
//! mode) and the node stops federating with it everywhere: inbox, fetches, deliveries, follows,
//! listings and trees.

use canopy_db::outbox::{self, NewActivity, Signer};
use canopy_testkit::standin::StandIn;
use canopy_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// Register `name`, make it an instance administrator, and return its token.
/// A loopback listener that counts the connections made to it and answers none.
async fn trap() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (format!("localhost:{port}"), seen)
}

async fn resolve(app: &TestApp, q: &str) -> (StatusCode, Value) {
    let url =
        reqwest::Url::parse_with_params(&format!("{}/api/v1/resolve", app.base_url), &[("q", q)])
            .unwrap();
    let response = app.client.get(url).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn create(s: &StandIn, actor: &str, n: u32, object: Value) -> Value {
    json!({"id": format!("{}/activities/create/{n}", s.base), "type": "Create", "actor": actor,
           "to": [PUBLIC], "object": object})
}

fn reply(s: &StandIn, actor: &str, n: u32, in_reply_to: &str, text: &str) -> Value {
    json!({"id": format!("{}/notes/{n}", s.base), "type": "Note", "attributedTo": actor,
           "inReplyTo": in_reply_to, "to": [PUBLIC], "content": text,
           "published": "2026-11-01T10:00:00Z"})
}

/// How many GETs the stand-in served at `path`.
fn fetches(s: &StandIn, path: &str) -> usize {
    s.seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .count()
}

async fn pending_to(app: &TestApp, authority: &str) -> i64 {
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM delivery WHERE authority = $1 AND state = 'pending'")
            .bind(authority)
            .fetch_one(&app.db)
            .await
            .unwrap();
    n
}

/// Queue an activity by `person` to `inbox`; returns how many deliveries it got.
async fn enqueue_to(app: &TestApp, person: canopy_core::PersonId, actor: &str, inbox: &str) -> i64 {
    let ap_id = format!(
        "{}/activities/test/{}",
        app.public_url,
        rand::random::<u64>()
    );
    let payload = json!({"id": ap_id, "type": "Create", "actor": actor});
    let authority = canopy_core::authority(&url::Url::parse(inbox).unwrap());
    let mut conn = app.db.acquire().await.unwrap();
    let id = outbox::enqueue(
        &mut conn,
        &NewActivity {
            ap_id: &ap_id,
            kind: "Create",
            object_ap_id: None,
            actor_ap_id: actor,
            signer: Signer::Person(person),
            payload: &payload,
        },
        &[(inbox.to_string(), authority)],
    )
    .await
    .unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM delivery WHERE activity_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    n
}

/// The ap_ids in a post's comment tree, at every level.
async fn tree_ids(app: &TestApp, post: i64) -> Vec<String> {
    let (status, tree) = app
        .get(&format!("/api/v1/posts/{post}/comments"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{tree}");
    let mut ids = Vec::new();
    let mut stack: Vec<&Value> = tree["comments"].as_array().unwrap().iter().collect();
    while let Some(node) = stack.pop() {
        ids.push(node["ap_id"].as_str().unwrap().to_string());
        stack.extend(node["replies"].as_array().unwrap().iter());
    }
    ids
}

async fn community_names(app: &TestApp) -> Vec<String> {
    let (status, list) = app.get("/api/v1/communities", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["communities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

async fn post_titles(app: &TestApp, community: &str) -> Vec<String> {
    let (status, page) = app
        .get(&format!("/api/v1/communities/{community}/posts"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_blocked_instance_is_refused_everywhere_and_unblocking_restores_its_content() {
    // No worker: deliveries stay pending, so the test sees what the block does to them.
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let boss = app.admin("boss").await;
    let post = app.community_with_post(&alice, "birds").await;
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    let community = format!("{}/c/birds", app.public_url);
    let inbox = format!("{}/inbox", app.base_url);

    let s = StandIn::start().await;
    let eve = s.person("eve");
    // Eve follows the community (an Accept is queued to her), replies to the post, and posts
    // in the community the way Mastodon does.
    let follow = json!({"id": format!("{}/follows/1", s.base), "type": "Follow", "actor": eve,
                        "object": community});
    let (status, text) = s.deliver(&inbox, &follow).await;
    assert!(status.is_success(), "{status}: {text}");
    let (status, text) = s
        .deliver(
            &inbox,
            &create(
                &s,
                &eve,
                1,
                reply(&s, &eve, 1, &post_ap, "a reply from eve"),
            ),
        )
        .await;
    assert!(status.is_success(), "{status}: {text}");
    let status_note = json!({
        "id": format!("{}/statuses/2", s.base), "type": "Note", "attributedTo": eve,
        "to": [PUBLIC], "cc": [community],
        "content": "<p>Eve's heron @birds</p>",
        "tag": [{"type": "Mention", "href": community, "name": "@birds"}],
        "published": "2026-11-01T10:00:00Z"});
    let (status, text) = s.deliver(&inbox, &create(&s, &eve, 2, status_note)).await;
    assert!(status.is_success(), "{status}: {text}");
    assert_eq!(post_titles(&app, "birds").await.len(), 2);
    assert_eq!(tree_ids(&app, post).await.len(), 1);
    assert!(
        pending_to(&app, &s.authority()).await >= 1,
        "the Accept waits"
    );
    // The node knows a community of the instance too.
    let marsh = s.group("marsh");
    let (status, r) = resolve(&app, &marsh).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(community_names(&app).await, ["birds", "marsh"]);

    // The block.
    let (status, change) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/instances/{}/block", s.authority()),
            Some(&boss),
            Some(&json!({"reason": "spam wave"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{change}");
    assert_eq!(change["authority"], s.authority());
    assert_eq!(change["follows_ended"], 1);
    assert!(change["deliveries_dropped"].as_u64().unwrap() >= 1);

    // Pending deliveries failed for good with the reason; the follow is gone.
    assert_eq!(pending_to(&app, &s.authority()).await, 0);
    let (errors,): (Vec<String>,) = sqlx::query_as(
        "SELECT array_agg(last_error) FROM delivery WHERE authority = $1 AND state = 'failed'",
    )
    .bind(s.authority())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(
        errors.iter().all(|e| e.contains("blocked: spam wave")),
        "{errors:?}"
    );
    let (follows,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM community_follow WHERE person_id IN (SELECT id FROM person WHERE NOT local)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(follows, 0, "eve's follow ended");

    // Its content is hidden from the listings and the tree, its communities from the list.
    assert_eq!(post_titles(&app, "birds").await, vec!["a post".to_string()]);
    assert!(tree_ids(&app, post).await.is_empty());
    assert_eq!(community_names(&app).await, ["birds"]);

    // A new actor of the blocked instance is refused before it is fetched.
    let zed = s.person("zed");
    let (status, text) = s
        .deliver(
            &inbox,
            &create(&s, &zed, 3, reply(&s, &zed, 3, &post_ap, "more spam")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(
        text.contains("is blocked") && text.contains("spam wave"),
        "{text}"
    );
    assert_eq!(fetches(&s, "/users/zed"), 0, "no fetch of a blocked actor");

    // Nothing new is queued to it.
    let sender = canopy_db::people::local_by_name(&app.db, "alice")
        .await
        .unwrap();
    assert_eq!(
        enqueue_to(&app, sender.id, &sender.ap_id, &format!("{eve}/inbox")).await,
        0
    );

    // Nothing is fetched from it: a resolve is refused with the block named, and a trap on a
    // blocked authority sees no connection.
    let (trap_authority, connections) = trap().await;
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/instances/{trap_authority}/block"),
            Some(&boss),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for q in [
        format!("http://{trap_authority}/u/x"),
        format!("x@{trap_authority}"),
    ] {
        let (status, body) = resolve(&app, &q).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("is blocked"),
            "{q}: {body}"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0);

    // The admin list shows both blocks with their reasons.
    let (status, list) = app.get("/api/v1/admin/instances", Some(&boss)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let row = |authority: &str| {
        list["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["authority"] == authority)
            .cloned()
            .unwrap_or_else(|| panic!("{authority} not listed: {list}"))
    };
    let standin = row(&s.authority());
    assert_eq!(standin["blocked"], true);
    assert_eq!(standin["block_reason"], "spam wave");
    assert_eq!(standin["federates"], false);
    assert_eq!(standin["persons"], 1, "eve is known; zed was never stored");
    assert_eq!(standin["posts"], 1);
    assert_eq!(standin["comments"], 1);
    assert_eq!(row(&trap_authority)["blocked"], true);
    assert_eq!(list["federation_mode"], "open");
    assert_eq!(list["instances"][0]["is_local"], true);

    // Unblocking restores the content and the inbox (not the follow, which ended).
    let (status, change) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/instances/{}/block", s.authority()),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{change}");
    assert_eq!(change["changed"], true);
    assert_eq!(post_titles(&app, "birds").await.len(), 2);
    assert_eq!(tree_ids(&app, post).await.len(), 1);
    assert_eq!(community_names(&app).await, ["birds", "marsh"]);
    let (status, text) = s
        .deliver(
            &inbox,
            &create(&s, &zed, 4, reply(&s, &zed, 4, &post_ap, "hello again")),
        )
        .await;
    assert!(status.is_success(), "{status}: {text}");
    assert_eq!(tree_ids(&app, post).await.len(), 2);
    assert_eq!(
        enqueue_to(&app, sender.id, &sender.ap_id, &format!("{eve}/inbox")).await,
        1
    );
}

#[tokio::test]
async fn a_delivery_already_claimed_when_the_block_lands_is_dropped_by_the_worker() {
    let app = TestApp::spawn_without_worker().await;
    let boss = app.admin("boss").await;
    app.user("alice").await;
    let sender = canopy_db::people::local_by_name(&app.db, "alice")
        .await
        .unwrap();
    let (authority, connections) = trap().await;
    assert_eq!(
        enqueue_to(
            &app,
            sender.id,
            &sender.ap_id,
            &format!("http://{authority}/inbox")
        )
        .await,
        1
    );
    // Blocked in the process's policy only (as when the row was claimed just before the
    // block): the worker's send is refused by the outbound policy, and the delivery fails for
    // good without a connection.
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/instances/{authority}/block"),
            Some(&boss),
            Some(&json!({"reason": "gone rogue"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sqlx::query("UPDATE delivery SET state = 'pending', finished_at = NULL, last_error = NULL")
        .execute(&app.db)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(canopy_worker::run(
        app.fed.clone(),
        canopy_testkit::fast_worker_config(),
        stopped,
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pending_to(&app, &authority).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the delivery is still pending"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    let (state, error): (String, String) = sqlx::query_as("SELECT state, last_error FROM delivery")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, "failed");
    assert!(error.contains("gone rogue"), "{error}");
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn in_allowlist_mode_only_listed_instances_federate() {
    let app = TestApp::spawn_configured(
        None,
        canopy::Options {
            federation_mode: Some(canopy_federation::governance::FederationMode::Allowlist),
            ..canopy_testkit::unlimited()
        },
    )
    .await;
    let alice = app.user("alice").await;
    let boss = app.admin("boss").await;
    let post = app.community_with_post(&alice, "birds").await;
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    let inbox = format!("{}/inbox", app.base_url);
    let s = StandIn::start().await;
    let eve = s.person("eve");

    // Not listed: refused at the inbox without a fetch, and never contacted.
    let (status, text) = s
        .deliver(
            &inbox,
            &create(&s, &eve, 1, reply(&s, &eve, 1, &post_ap, "hi")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("allow-list"), "{text}");
    assert_eq!(fetches(&s, "/users/eve"), 0);
    let (status, body) = resolve(&app, &eve).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fetches(&s, "/users/eve"), 0);
    let sender = canopy_db::people::local_by_name(&app.db, "alice")
        .await
        .unwrap();
    assert_eq!(
        enqueue_to(&app, sender.id, &sender.ap_id, &format!("{eve}/inbox")).await,
        0
    );

    // Listed: it federates.
    let (status, change) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/instances/{}/allow", s.authority()),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{change}");
    assert_eq!(change["changed"], true);
    let (status, text) = s
        .deliver(
            &inbox,
            &create(&s, &eve, 2, reply(&s, &eve, 2, &post_ap, "hi")),
        )
        .await;
    assert!(status.is_success(), "{status}: {text}");
    assert_eq!(tree_ids(&app, post).await.len(), 1);
    assert_eq!(
        enqueue_to(&app, sender.id, &sender.ap_id, &format!("{eve}/inbox")).await,
        1
    );

    // Taken off the list: refused again, and its content hidden.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/instances/{}/allow", s.authority()),
            Some(&boss),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(tree_ids(&app, post).await.is_empty());
    let (status, _) = s
        .deliver(
            &inbox,
            &create(&s, &eve, 3, reply(&s, &eve, 3, &post_ap, "hi")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, list) = app.get("/api/v1/admin/instances", Some(&boss)).await;
    assert_eq!(list["federation_mode"], "allowlist");
}

#[tokio::test]
async fn only_administrators_govern_instances_and_bad_hosts_change_nothing() {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let boss = app.admin("boss").await;
    let endpoints = [
        (Method::GET, "/api/v1/admin/instances".to_string(), None),
        (
            Method::PUT,
            "/api/v1/admin/instances/evil.example/block".into(),
            Some(json!({"reason": "x"})),
        ),
        (
            Method::DELETE,
            "/api/v1/admin/instances/evil.example/block".into(),
            None,
        ),
        (
            Method::PUT,
            "/api/v1/admin/instances/evil.example/allow".into(),
            None,
        ),
        (
            Method::DELETE,
            "/api/v1/admin/instances/evil.example/allow".into(),
            None,
        ),
    ];
    for (method, path, body) in &endpoints {
        let (status, b) = app.call(method.clone(), path, None, body.as_ref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {b}");
        let (status, b) = app
            .call(method.clone(), path, Some(&alice), body.as_ref())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {b}");
    }
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM instance WHERE blocked OR allowed OR NOT is_local")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(n, 0, "nothing changed");

    // Not an authority: 400; this node itself: 409.
    for host in ["evil.example%2Fu%2Fx", "user@evil.example"] {
        let (status, b) = app
            .call(
                Method::PUT,
                &format!("/api/v1/admin/instances/{host}/block"),
                Some(&boss),
                Some(&json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{host}: {b}");
    }
    let own = app.public_url.trim_start_matches("http://").to_string();
    let (status, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/instances/{own}/block"),
            Some(&boss),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM instance WHERE blocked")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing blocked");

    // Mixed case and a URL name the same instance.
    let (status, b) = app
        .call(
            Method::PUT,
            "/api/v1/admin/instances/Evil.Example:443/block",
            Some(&boss),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["authority"], "evil.example");
}
