//! Notifications: replies and mentions, local and arriving from other servers; unread count,
//! read marks, paging; no notification for one's own replies, from people one blocks, or of
//! deleted items.

use canopy_testkit::standin::StandIn;
use canopy_testkit::{eventually, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;

async fn notifications(app: &TestApp, token: &str, query: &str) -> Value {
    let (s, b) = app
        .get(&format!("/api/v1/notifications?{query}"), Some(token))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn unread(app: &TestApp, token: &str) -> i64 {
    let (s, b) = app.get("/api/v1/notifications/count", Some(token)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["unread"].as_i64().unwrap()
}

/// Every notification id of `token`'s list, following cursors `limit` at a time, with how often
/// each was seen.
async fn walk(app: &TestApp, token: &str, limit: usize) -> HashMap<i64, usize> {
    let mut seen = HashMap::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let q = match &cursor {
            Some(c) => format!("limit={limit}&cursor={c}"),
            None => format!("limit={limit}"),
        };
        let page = notifications(app, token, &q).await;
        for n in page["notifications"].as_array().unwrap() {
            *seen.entry(n["id"].as_i64().unwrap()).or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return seen,
        }
    }
    panic!("notification paging does not end");
}

#[tokio::test]
async fn local_replies_and_mentions_notify_with_count_read_marks_and_paging() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let post = app.community_with_post(&alice, "garden").await;

    // Alice's own reply to her post notifies nobody.
    let own = app
        .comment(&alice, post, None, "my own first comment")
        .await;
    assert_eq!(unread(&app, &alice).await, 0);

    // Bob replies to the post and to Alice's comment (mentioning her too: one notification).
    let bob_top = app.comment(&bob, post, None, "nice post").await;
    let bob_reply = app.comment(&bob, post, Some(own), "agreed, @alice").await;
    // Bob mentions Carol (a mention, not a reply) and someone who does not exist.
    let mention = app
        .comment(&bob, post, Some(bob_top), "cc @carol and @nobody_here")
        .await;
    assert_eq!(unread(&app, &alice).await, 2);
    assert_eq!(unread(&app, &carol).await, 1);
    assert_eq!(
        unread(&app, &bob).await,
        0,
        "nobody replied to bob but himself"
    );

    let list = notifications(&app, &alice, "").await;
    let items = list["notifications"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    // Newest first, each naming what happened, the item and its author.
    assert_eq!(items[0]["kind"], "reply");
    assert_eq!(items[0]["comment_id"], bob_reply);
    assert_eq!(items[0]["post_id"], post);
    assert_eq!(items[0]["creator"]["handle"], "bob");
    assert_eq!(items[0]["content"], "agreed, @alice");
    assert!(items[0]["ap_id"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/comment/{bob_reply}")));
    assert_eq!(items[1]["comment_id"], bob_top);
    assert_eq!(items[0]["read"], false);
    let carol_list = notifications(&app, &carol, "").await;
    assert_eq!(carol_list["notifications"][0]["kind"], "mention");
    assert_eq!(carol_list["notifications"][0]["comment_id"], mention);

    // A mention in a post body notifies too.
    let (s, c) = app.get("/api/v1/communities/garden", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(&bob),
            json!({"community_id": c["id"], "title": "hello", "body": "hey @Dave, look"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let dave_list = notifications(&app, &dave, "").await;
    assert_eq!(dave_list["notifications"][0]["kind"], "mention");
    assert_eq!(dave_list["notifications"][0]["post_id"], p["id"]);
    assert_eq!(dave_list["notifications"][0]["comment_id"], Value::Null);

    // Mark one read: the count drops and `unread=true` leaves it out; someone else's is a 404.
    let first = items[0]["id"].as_i64().unwrap();
    let (s, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/notifications/{first}/read"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(unread(&app, &alice).await, 1);
    let only_unread = notifications(&app, &alice, "unread=true").await;
    assert_eq!(only_unread["notifications"].as_array().unwrap().len(), 1);
    assert_eq!(only_unread["notifications"][0]["comment_id"], bob_top);
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/notifications/{first}/read"),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(b["error"], "not_found");
    // Unread again, then all read.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/notifications/{first}/read"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(unread(&app, &alice).await, 2);
    let (s, b) = app
        .post(
            "/api/v1/notifications/mark_all_read",
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["marked"], 2);
    assert_eq!(unread(&app, &alice).await, 0);

    // Without a token: 401 in the error shape.
    let (s, b) = app.get("/api/v1/notifications", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["error"], "unauthorized");

    // Many replies page exactly once each.
    for i in 0..7 {
        app.comment(&carol, post, Some(own), &format!("reply {i}"))
            .await;
    }
    let seen = walk(&app, &alice, 3).await;
    assert_eq!(seen.len(), 9, "{seen:?}");
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
}

#[tokio::test]
async fn blocked_people_and_deleted_items_do_not_notify() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    let post = app.community_with_post(&alice, "garden").await;

    let (s, b) = app
        .call(
            Method::PUT,
            "/api/v1/me/blocks/people/mallory",
            Some(&alice),
            None,
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    app.comment(&mallory, post, None, "hello @alice").await;
    assert_eq!(
        unread(&app, &alice).await,
        0,
        "a blocked person does not notify"
    );
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM notification")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing was written for the blocked reply");

    // Bob's reply notifies; once he deletes it, it is gone from the list and the count.
    let reply = app.comment(&bob, post, None, "a reply").await;
    assert_eq!(unread(&app, &alice).await, 1);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{reply}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(unread(&app, &alice).await, 0);
    let list = notifications(&app, &alice, "").await;
    assert_eq!(list["notifications"], json!([]));
}

#[tokio::test]
async fn remote_replies_notify_across_two_nodes() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let bob = beta.user("bob").await;
    let post = alpha.community_with_post(&alice, "forest").await;
    let (_, p) = alpha.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();

    // Bob on beta follows alice's community, finds her post and replies to it.
    let handle = format!("forest@{}", alpha.public_url.trim_start_matches("http://"));
    let (s, f) = beta
        .post(
            "/api/v1/communities/follow",
            Some(&bob),
            json!({"community": handle}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    let (s, r) = beta
        .get(&format!("/api/v1/resolve?q={post_ap}"), Some(&bob))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let beta_post = r["post"]["id"].as_i64().unwrap();
    let reply = beta.comment(&bob, beta_post, None, "hello from beta").await;
    let (_, rc) = beta.get(&format!("/api/v1/comments/{reply}"), None).await;
    let reply_ap = rc["comment"]["ap_id"].as_str().unwrap().to_string();

    let n = eventually("alice is notified of bob's remote reply", || async {
        let b = notifications(&alpha, &alice, "").await;
        let items = b["notifications"].as_array().unwrap().clone();
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(n.len(), 1);
    assert_eq!(n[0]["kind"], "reply");
    assert_eq!(n[0]["ap_id"], reply_ap);
    assert_eq!(n[0]["creator"]["local"], false);
    assert!(n[0]["creator"]["handle"]
        .as_str()
        .unwrap()
        .starts_with("bob@"));
}

#[tokio::test]
async fn incoming_mention_tags_of_local_users_notify_once_stored() {
    let app = TestApp::spawn().await;
    let s = StandIn::start().await;
    let alice = app.user("alice").await;
    let carol = app.user("carol").await;
    let post = app.community_with_post(&alice, "garden").await;
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    let remote = s.person("rita");
    let carol_ap = format!("{}/u/carol", app.public_url);
    let note = |n: u32, in_reply_to: &str| {
        json!({
            "id": format!("{}/notes/{n}", s.base),
            "type": "Note",
            "attributedTo": remote,
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [carol_ap],
            "inReplyTo": in_reply_to,
            "content": "<p>hi <a href=\"x\">@carol</a></p>",
            "tag": [{"type": "Mention", "href": carol_ap, "name": format!("@carol@{}", app.public_url.trim_start_matches("http://"))},
                    {"type": "Mention", "href": format!("{}/u/nobody", app.public_url), "name": "@nobody"}],
        })
    };
    let create = |n: u32, object: Value| {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": format!("{}/activities/{n}", s.base),
            "type": "Create",
            "actor": remote,
            "object": object,
        })
    };
    let (status, body) = s
        .deliver(
            &format!("{}/inbox", app.base_url),
            &create(1, note(1, &post_ap)),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    // Alice is told of the reply, Carol of the mention.
    let a = notifications(&app, &alice, "").await;
    assert_eq!(a["notifications"][0]["kind"], "reply", "{a}");
    let c = notifications(&app, &carol, "").await;
    assert_eq!(c["notifications"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c["notifications"][0]["kind"], "mention");
    assert_eq!(
        c["notifications"][0]["creator"]["handle"],
        format!("rita@{}", s.authority())
    );

    // A reply under something this node does not have (and cannot fetch) is not stored, and its
    // mention notifies nobody.
    let missing = format!("{}/notes/404", s.base);
    let (status, body) = s
        .deliver(
            &format!("{}/inbox", app.base_url),
            &create(2, note(2, &missing)),
        )
        .await;
    let (stored,): (i64,) = sqlx::query_as("SELECT count(*) FROM comment WHERE ap_id = $1")
        .bind(format!("{}/notes/2", s.base))
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "{status} {body}");
    assert_eq!(unread(&app, &carol).await, 1);
}

#[tokio::test]
async fn an_edit_notifies_the_people_it_mentions_for_the_first_time_only() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let bob = alpha.user("bob").await;
    let carol = alpha.user("carol").await;
    let dave = beta.user("dave").await;
    let beta_authority = beta.public_url.trim_start_matches("http://").to_string();
    let post = alpha.community_with_post(&alice, "meadow").await;
    // Beta knows the community (so that the comment's copy there has its thread).
    let (s, r) = beta
        .get(
            &format!("/api/v1/resolve?q={}/c/meadow", alpha.public_url),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let comment = alpha.comment(&alice, post, None, "hello @bob").await;
    assert_eq!(unread(&alpha, &bob).await, 1);
    assert_eq!(unread(&alpha, &carol).await, 0);

    let edit = |text: String| {
        let alpha = &alpha;
        let alice = &alice;
        async move {
            let (s, b) = alpha
                .call(
                    Method::PATCH,
                    &format!("/api/v1/comments/{comment}"),
                    Some(alice),
                    Some(&json!({ "content": text })),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
    };
    // The edit adds carol and dave (on beta): both hear of it; bob is not notified again.
    edit(format!("hello @bob, @carol and @dave@{beta_authority}")).await;
    assert_eq!(unread(&alpha, &bob).await, 1, "bob once");
    assert_eq!(unread(&alpha, &carol).await, 1);
    let list = notifications(&alpha, &carol, "").await;
    assert_eq!(list["notifications"][0]["kind"], "mention");
    assert_eq!(list["notifications"][0]["comment_id"], comment);
    let n = eventually("dave is notified on beta of the edit", || async {
        let b = notifications(&beta, &dave, "").await;
        let items = b["notifications"].as_array().unwrap().clone();
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(n[0]["kind"], "mention");
    assert_eq!(n.len(), 1);
    // Editing again with the same mentions notifies nobody again.
    edit(format!(
        "hello again @bob, @carol and @dave@{beta_authority}"
    ))
    .await;
    assert_eq!(unread(&alpha, &bob).await, 1);
    assert_eq!(unread(&alpha, &carol).await, 1);
    let (_, c) = beta
        .get(
            &format!(
                "/api/v1/resolve?q={}",
                url::form_urlencoded::byte_serialize(
                    format!("{}/comment/{comment}", alpha.public_url).as_bytes()
                )
                .collect::<String>()
            ),
            None,
        )
        .await;
    let beta_comment = c["comment"]["id"].as_i64().unwrap();
    eventually("beta has the second edit", || async {
        let (_, v) = beta
            .get(&format!("/api/v1/comments/{beta_comment}"), None)
            .await;
        v["comment"]["content"]
            .as_str()
            .unwrap_or("")
            .starts_with("hello again")
            .then_some(())
    })
    .await;
    assert_eq!(unread(&beta, &dave).await, 1, "dave once");
}

#[tokio::test]
async fn a_mention_of_a_remote_user_is_tagged_addressed_and_notifies_at_home() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let carol = beta.user("carol").await;
    let post = alpha.community_with_post(&alice, "forest").await;
    let beta_authority = beta.public_url.trim_start_matches("http://").to_string();

    // Beta knows alpha's community (someone looked it up) but follows nothing there.
    let (s, r) = beta
        .get(
            &format!("/api/v1/resolve?q={}/c/forest", alpha.public_url),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");

    let text = format!("ping @carol@{beta_authority} and @ghost@{beta_authority}, not `@carol`");
    let comment = alpha.comment(&alice, post, None, &text).await;
    let (_, c) = alpha
        .get(&format!("/api/v1/comments/{comment}"), None)
        .await;
    let carol_ap = format!("{}/u/carol", beta.public_url);
    let html = c["comment"]["content_html"].as_str().unwrap();
    assert!(html.contains(&format!("href=\"{carol_ap}\"")), "{html}");
    assert!(
        html.contains(&format!("@ghost@{beta_authority}")),
        "unresolved stays text: {html}"
    );
    assert_eq!(
        c["comment"]["content"], text,
        "the source keeps what was written"
    );

    // The Note served at its id carries the Mention tag and addresses carol.
    let note: Value = reqwest::Client::new()
        .get(
            c["comment"]["ap_id"]
                .as_str()
                .unwrap()
                .replace(&alpha.public_url, &alpha.base_url),
        )
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        note["tag"],
        json!([{"type": "Mention", "href": carol_ap, "name": format!("@carol@{beta_authority}")}]),
        "{note}"
    );
    assert!(
        note["cc"].as_array().unwrap().contains(&json!(carol_ap)),
        "{note}"
    );

    // Nobody on beta follows alpha's community, yet carol hears of it: the Create went to her server.
    let n = eventually("carol is notified on beta", || async {
        let b = notifications(&beta, &carol, "").await;
        let items = b["notifications"].as_array().unwrap().clone();
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(n[0]["kind"], "mention");
    assert_eq!(n[0]["ap_id"], note["id"]);
    assert!(n[0]["creator"]["handle"]
        .as_str()
        .unwrap()
        .starts_with("alice@"));
    let (sent,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM delivery d JOIN outbox_activity a ON a.id = d.activity_id
         WHERE a.kind = 'Create' AND d.authority = $1",
    )
    .bind(&beta_authority)
    .fetch_one(&alpha.db)
    .await
    .unwrap();
    assert_eq!(sent, 1);
}
