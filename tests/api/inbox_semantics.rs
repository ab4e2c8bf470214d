//! What incoming activities do to stored rows beyond the happy path: stale updates, activities
//! out of order, Mastodon-style posts, follows of users.

use canopy_testkit::standin::StandIn;
use canopy_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

async fn deliver_ok(s: &StandIn, app: &TestApp, activity: &Value) {
    let (status, text) = s
        .deliver(&format!("{}/inbox", app.base_url), activity)
        .await;
    assert!(status.is_success(), "{status}: {text}");
}

fn note(
    s: &StandIn,
    actor: &str,
    n: u32,
    in_reply_to: &str,
    text: &str,
    updated: Option<&str>,
) -> Value {
    let mut v = json!({"id": format!("{}/notes/{n}", s.base), "type": "Note", "attributedTo": actor,
                       "inReplyTo": in_reply_to, "to": [PUBLIC], "content": text,
                       "published": "2026-11-01T10:00:00Z"});
    if let Some(u) = updated {
        v["updated"] = json!(u);
    }
    v
}

fn wrap(s: &StandIn, kind: &str, actor: &str, n: u32, object: Value) -> Value {
    json!({"id": format!("{}/activities/{kind}/{n}", s.base), "type": kind, "actor": actor, "to": [PUBLIC], "object": object})
}

async fn content_of(app: &TestApp, ap_id: &str) -> String {
    let (c,): (String,) = sqlx::query_as("SELECT content_html FROM comment WHERE ap_id = $1")
        .bind(ap_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    c
}

#[tokio::test]
async fn updates_apply_only_when_newer_and_out_of_order_replies_converge() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "order").await;
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    let s = StandIn::start().await;
    let eve = s.person("eve");

    // The reply (n2) arrives before its parent (n1): the parent is fetched from its origin.
    let parent = note(&s, &eve, 1, &post_ap, "parent", None);
    s.put("/notes/1", parent.clone());
    let child = note(&s, &eve, 2, &format!("{}/notes/1", s.base), "child", None);
    deliver_ok(&s, &app, &wrap(&s, "Create", &eve, 2, child)).await;
    // The parent's own Create arrives late and changes nothing.
    deliver_ok(&s, &app, &wrap(&s, "Create", &eve, 1, parent)).await;
    let (_, tree) = app
        .get(&format!("/api/v1/posts/{post}/comments"), None)
        .await;
    assert_eq!(tree["total"], 2);
    assert_eq!(tree["comments"][0]["ap_id"], format!("{}/notes/1", s.base));
    assert_eq!(
        tree["comments"][0]["replies"][0]["ap_id"],
        format!("{}/notes/2", s.base)
    );

    // A newer edit applies; an older one that arrives afterwards does not.
    let n1 = format!("{}/notes/1", s.base);
    let newer = note(
        &s,
        &eve,
        1,
        &post_ap,
        "edited at noon",
        Some("2026-11-02T12:00:00Z"),
    );
    deliver_ok(&s, &app, &wrap(&s, "Update", &eve, 3, newer)).await;
    assert!(content_of(&app, &n1).await.contains("edited at noon"));
    let older = note(
        &s,
        &eve,
        1,
        &post_ap,
        "edited at ten",
        Some("2026-11-02T10:00:00Z"),
    );
    deliver_ok(&s, &app, &wrap(&s, "Update", &eve, 4, older)).await;
    assert!(
        content_of(&app, &n1).await.contains("edited at noon"),
        "a stale update is ignored"
    );

    // Someone else cannot delete eve's note.
    let mallory = s.person("mallory");
    let (status, _) = s
        .deliver(
            &format!("{}/inbox", app.base_url),
            &wrap(&s, "Delete", &mallory, 5, json!(n1)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Eve can, with a Tombstone; the reply stays attached to the placeholder.
    let tombstone = json!({"id": n1, "type": "Tombstone"});
    deliver_ok(&s, &app, &wrap(&s, "Delete", &eve, 6, tombstone)).await;
    let (_, tree) = app
        .get(&format!("/api/v1/posts/{post}/comments"), None)
        .await;
    assert_eq!(tree["comments"][0]["deleted"], true);
    assert_eq!(tree["comments"][0]["content"], "");
    assert_eq!(tree["comments"][0]["replies"][0]["content"], "child");
}

#[tokio::test]
async fn a_mastodon_note_mentioning_a_community_becomes_a_post_and_users_can_be_followed() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let (_, c) = app
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "birds", "title": "Birds"}),
        )
        .await;
    let community = format!("{}/c/birds", app.public_url);
    let s = StandIn::start().await;
    let eve = s.person("eve");

    let status_note = json!({
        "id": format!("{}/statuses/1", s.base), "type": "Note", "attributedTo": eve,
        "to": [PUBLIC], "cc": [format!("{eve}/followers"), community],
        "content": "<p>Saw a heron today <span class=\"h-card\"><a href=\"x\">@birds</a></span></p>",
        "tag": [{"type": "Mention", "href": community, "name": "@birds"}],
        "published": "2026-11-01T10:00:00Z"});
    deliver_ok(&s, &app, &wrap(&s, "Create", &eve, 10, status_note)).await;
    let (_, posts) = app.get("/api/v1/communities/birds/posts", None).await;
    let post = &posts["posts"][0];
    assert_eq!(
        post["title"], "Saw a heron today @birds",
        "the first line of the text, tags removed"
    );
    assert_eq!(post["creator"]["handle"], format!("eve@{}", s.authority()));
    assert_eq!(post["community"]["id"], c["id"]);

    // Following a local user: a follow row and an Accept queued to the follower.
    let follow = json!({"id": format!("{}/follows/2", s.base), "type": "Follow", "actor": eve,
                        "object": format!("{}/u/alice", app.public_url)});
    deliver_ok(&s, &app, &follow).await;
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM person_follow")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (accepts,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM outbox_activity WHERE kind = 'Accept'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(accepts, 1);
    let undo = json!({"id": format!("{}/undos/3", s.base), "type": "Undo", "actor": eve, "object": follow});
    deliver_ok(&s, &app, &undo).await;
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM person_follow")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_stale_remote_actor_is_refreshed_when_it_is_next_used() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "fresh").await;
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    let s = StandIn::start().await;
    let rita = s.person("rita");
    let display_name = || async {
        let (name,): (Option<String>,) =
            sqlx::query_as("SELECT display_name FROM person WHERE ap_id = $1")
                .bind(&rita)
                .fetch_one(&app.db)
                .await
                .unwrap();
        name
    };
    deliver_ok(
        &s,
        &app,
        &wrap(
            &s,
            "Create",
            &rita,
            1,
            note(&s, &rita, 1, &post_ap, "one", None),
        ),
    )
    .await;
    assert_eq!(display_name().await.as_deref(), Some("rita (stand-in)"));

    // Her server renames her. A row stored less than a day ago is used as it is.
    let mut renamed = s.get("/users/rita").unwrap();
    renamed["name"] = json!("Rita Renamed");
    s.put("/users/rita", renamed);
    app.fed.actors.forget(&rita);
    deliver_ok(
        &s,
        &app,
        &wrap(
            &s,
            "Create",
            &rita,
            2,
            note(&s, &rita, 2, &post_ap, "two", None),
        ),
    )
    .await;
    assert_eq!(display_name().await.as_deref(), Some("rita (stand-in)"));

    // A day later her next activity refreshes the row first.
    sqlx::query(
        "UPDATE person SET last_refreshed_at = now() - interval '25 hours' WHERE ap_id = $1",
    )
    .bind(&rita)
    .execute(&app.db)
    .await
    .unwrap();
    app.fed.actors.forget(&rita);
    deliver_ok(
        &s,
        &app,
        &wrap(
            &s,
            "Create",
            &rita,
            3,
            note(&s, &rita, 3, &post_ap, "three", None),
        ),
    )
    .await;
    assert_eq!(display_name().await.as_deref(), Some("Rita Renamed"));

    // When her server cannot answer, the stored row is used and the next try waits a day.
    s.remove("/users/rita");
    sqlx::query(
        "UPDATE person SET last_refreshed_at = now() - interval '25 hours' WHERE ap_id = $1",
    )
    .bind(&rita)
    .execute(&app.db)
    .await
    .unwrap();
    app.fed.actors.forget(&rita);
    deliver_ok(
        &s,
        &app,
        &wrap(
            &s,
            "Create",
            &rita,
            4,
            note(&s, &rita, 4, &post_ap, "four", None),
        ),
    )
    .await;
    let (comments, recent): (i64, bool) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM comment WHERE NOT local),
                (SELECT last_refreshed_at > now() - interval '1 hour' FROM person WHERE ap_id = $1)",
    )
    .bind(&rita)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(comments, 4);
    assert!(recent, "a failed refresh postpones the next one");
}
