//! Bad input at the inbox: each kind is refused with a 4xx and a reason, and stores nothing.

use canopy_testkit::standin::{send, StandIn};
use canopy_testkit::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

struct Setup {
    app: TestApp,
    standin: StandIn,
    mallory: String,
    post_ap: String,
    post_id: i64,
    alice: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post_id = app.community_with_post(&alice, "sec").await;
    let (_, post) = app.get(&format!("/api/v1/posts/{post_id}"), None).await;
    let standin = StandIn::start().await;
    let mallory = standin.person("mallory");
    Setup {
        app,
        standin,
        mallory,
        post_ap: post["ap_id"].as_str().unwrap().to_string(),
        post_id,
        alice,
    }
}

fn note(actor: &str, id: &str, in_reply_to: &str, content: &str) -> Value {
    json!({"id": id, "type": "Note", "attributedTo": actor, "inReplyTo": in_reply_to,
           "to": ["https://www.w3.org/ns/activitystreams#Public"], "content": content,
           "published": "2026-11-01T10:00:00Z"})
}

fn create(actor: &str, id: &str, object: Value) -> Value {
    json!({"@context": "https://www.w3.org/ns/activitystreams", "id": id, "type": "Create",
           "actor": actor, "to": ["https://www.w3.org/ns/activitystreams#Public"], "object": object})
}

async fn comment_count(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM comment")
        .fetch_one(&app.db)
        .await
        .unwrap();
    n
}

fn inbox(s: &Setup) -> String {
    format!("{}/inbox", s.app.base_url)
}

fn assert_refused(status: StatusCode, body: &str, expected: StatusCode, reason: &str, what: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    let v: Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: not JSON: {body}"));
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(reason),
        "{what}: message {message:?} should mention {reason:?}"
    );
}

#[tokio::test]
async fn a_valid_reply_lands_once_and_a_replay_changes_nothing() {
    let s = setup().await;
    let id = format!("{}/notes/1", s.standin.base);
    let activity = create(
        &s.mallory,
        &format!("{}/activities/1", s.standin.base),
        note(
            &s.mallory,
            &id,
            &s.post_ap,
            "<p>hi <script>alert(1)</script><a href=\"javascript:x()\" onclick=\"y()\">l</a></p>",
        ),
    );
    let (status, body) = s.standin.deliver(&inbox(&s), &activity).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(comment_count(&s.app).await, 1);
    let (_, tree) = s
        .app
        .get(&format!("/api/v1/posts/{}/comments", s.post_id), None)
        .await;
    let c = &tree["comments"][0];
    assert_eq!(c["ap_id"], id.as_str());
    assert_eq!(
        c["creator"]["handle"],
        format!("mallory@{}", s.standin.authority())
    );
    let html = c["content_html"].as_str().unwrap();
    assert!(
        !html.contains("script") && !html.contains("javascript:") && !html.contains("onclick"),
        "{html}"
    );

    let (status, body) = s.standin.deliver(&inbox(&s), &activity).await;
    assert!(status.is_success(), "a replay is acknowledged: {body}");
    assert_eq!(comment_count(&s.app).await, 1, "a replay stores nothing");

    // The same Note in another Create (servers re-send content in new activities): accepted,
    // nothing new stored, the stored text unchanged (only an Update edits).
    let again = create(
        &s.mallory,
        &format!("{}/activities/2", s.standin.base),
        note(&s.mallory, &id, &s.post_ap, "<p>other text</p>"),
    );
    let (status, body) = s.standin.deliver(&inbox(&s), &again).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(comment_count(&s.app).await, 1, "the Note is stored once");
    let (content, html): (String, String) =
        sqlx::query_as("SELECT content, content_html FROM comment WHERE ap_id = $1")
            .bind(&id)
            .fetch_one(&s.app.db)
            .await
            .unwrap();
    assert!(content.starts_with("hi"), "{content}");
    assert!(html.starts_with("<p>hi"), "{html}");

    // Once the post is deleted, new replies are refused, but content already stored under it
    // that arrives again is acknowledged as known rather than refused.
    let (status, _) = s
        .app
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{}", s.post_id),
            Some(&s.alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let third = create(
        &s.mallory,
        &format!("{}/activities/3", s.standin.base),
        note(&s.mallory, &id, &s.post_ap, "<p>hi</p>"),
    );
    let (status, body) = s.standin.deliver(&inbox(&s), &third).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(comment_count(&s.app).await, 1);
}

#[tokio::test]
async fn signature_problems_are_401_with_a_reason() {
    let s = setup().await;
    let activity = create(
        &s.mallory,
        &format!("{}/activities/2", s.standin.base),
        note(
            &s.mallory,
            &format!("{}/notes/2", s.standin.base),
            &s.post_ap,
            "x",
        ),
    );
    let body = serde_json::to_vec(&activity).unwrap();
    let key_id = format!("{}#main-key", s.mallory);

    // Unsigned.
    let resp = s
        .app
        .client
        .post(inbox(&s))
        .header("content-type", "application/activity+json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_refused(
        status,
        &resp.text().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "Signature",
        "unsigned",
    );

    // Tampered body: signed for one body, another sent.
    let headers = s.standin.sign(&key_id, &inbox(&s), &body);
    let mut tampered = activity.clone();
    tampered["object"]["content"] = json!("changed in transit");
    let (status, text) = send(&inbox(&s), headers, serde_json::to_vec(&tampered).unwrap()).await;
    assert_refused(
        status,
        &text,
        StatusCode::UNAUTHORIZED,
        "Digest",
        "tampered body",
    );

    // Stale date.
    let old = SystemTime::now() - Duration::from_secs(13 * 3600);
    let headers = s.standin.sign_at(&key_id, &inbox(&s), &body, old);
    let (status, text) = send(&inbox(&s), headers, body.clone()).await;
    assert_refused(
        status,
        &text,
        StatusCode::UNAUTHORIZED,
        "12 hours",
        "stale date",
    );

    // Signed by a key that is not the actor's: another stand-in's key under mallory's key id.
    let other = StandIn::start().await;
    let headers = other.sign(&key_id, &inbox(&s), &body);
    let (status, text) = send(&inbox(&s), headers, body.clone()).await;
    assert_refused(
        status,
        &text,
        StatusCode::UNAUTHORIZED,
        "verify",
        "wrong key",
    );

    // A key of another actor than the activity's.
    let eve = s.standin.person("eve");
    let headers = s
        .standin
        .sign(&format!("{eve}#main-key"), &inbox(&s), &body);
    let (status, text) = send(&inbox(&s), headers, body.clone()).await;
    assert_refused(
        status,
        &text,
        StatusCode::UNAUTHORIZED,
        "does not belong",
        "key of another actor",
    );

    assert_eq!(comment_count(&s.app).await, 0);
}

#[tokio::test]
async fn spoofed_ids_and_authors_are_403() {
    let s = setup().await;
    let base = &s.standin.base;
    let elsewhere = StandIn::start().await;
    let cases = [
        (
            "activity id on another host than its actor",
            create(
                &s.mallory,
                &format!("{}/activities/3", elsewhere.base),
                note(&s.mallory, &format!("{base}/notes/3"), &s.post_ap, "x"),
            ),
            "another host than its actor",
        ),
        (
            "object id claiming another host",
            create(
                &s.mallory,
                &format!("{base}/activities/4"),
                note(
                    &s.mallory,
                    &format!("{}/notes/4", elsewhere.base),
                    &s.post_ap,
                    "x",
                ),
            ),
            "claims another host",
        ),
        (
            "attributedTo not the actor",
            create(
                &s.mallory,
                &format!("{base}/activities/5"),
                note(
                    &format!("{base}/users/eve"),
                    &format!("{base}/notes/5"),
                    &s.post_ap,
                    "x",
                ),
            ),
            "not attributed to its actor",
        ),
        (
            "a local actor claimed",
            create(
                &format!("{}/u/alice", s.app.public_url),
                &format!("{}/activities/6", s.app.public_url),
                json!({}),
            ),
            "",
        ),
    ];
    for (what, activity, reason) in cases {
        let (status, text) = s.standin.deliver(&inbox(&s), &activity).await;
        assert!(status.is_client_error(), "{what}: {status} {text}");
        if !reason.is_empty() {
            assert_refused(status, &text, StatusCode::FORBIDDEN, reason, what);
        }
    }
    assert_eq!(comment_count(&s.app).await, 0);
}

#[tokio::test]
async fn unknown_types_malformed_json_and_oversized_bodies_are_refused() {
    let s = setup().await;
    let key_id = format!("{}#main-key", s.mallory);

    let unknown = json!({"id": format!("{}/activities/7", s.standin.base), "type": "Teleport", "actor": s.mallory, "object": s.post_ap});
    let (status, text) = s.standin.deliver(&inbox(&s), &unknown).await;
    assert_refused(
        status,
        &text,
        StatusCode::BAD_REQUEST,
        "not handled",
        "unknown type",
    );

    let garbage = b"{\"id\": \"http://x\", ".to_vec();
    let headers = s.standin.sign(&key_id, &inbox(&s), &garbage);
    let (status, text) = send(&inbox(&s), headers, garbage).await;
    assert_refused(
        status,
        &text,
        StatusCode::BAD_REQUEST,
        "not JSON",
        "malformed JSON",
    );

    let huge = create(
        &s.mallory,
        &format!("{}/activities/8", s.standin.base),
        note(
            &s.mallory,
            &format!("{}/notes/8", s.standin.base),
            &s.post_ap,
            &"a".repeat(300 * 1024),
        ),
    );
    let (status, _) = s.standin.deliver(&inbox(&s), &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(comment_count(&s.app).await, 0);
}

#[tokio::test]
async fn unknown_parents_are_fetched_and_bad_chains_refused_without_half_inserted_rows() {
    let s = setup().await;
    let base = s.standin.base.clone();
    // A reachable chain: post <- n10 <- n11 <- (reply n12 delivered).
    s.standin.put(
        "/notes/10",
        note(&s.mallory, &format!("{base}/notes/10"), &s.post_ap, "ten"),
    );
    s.standin.put(
        "/notes/11",
        note(
            &s.mallory,
            &format!("{base}/notes/11"),
            &format!("{base}/notes/10"),
            "eleven",
        ),
    );
    let activity = create(
        &s.mallory,
        &format!("{base}/activities/12"),
        note(
            &s.mallory,
            &format!("{base}/notes/12"),
            &format!("{base}/notes/11"),
            "twelve",
        ),
    );
    let (status, text) = s.standin.deliver(&inbox(&s), &activity).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let (_, tree) = s
        .app
        .get(&format!("/api/v1/posts/{}/comments", s.post_id), None)
        .await;
    assert_eq!(
        tree["comments"][0]["replies"][0]["replies"][0]["ap_id"],
        format!("{base}/notes/12")
    );
    assert_eq!(comment_count(&s.app).await, 3);

    // A cycle: n20 <- n21 <- n20.
    s.standin.put(
        "/notes/20",
        note(
            &s.mallory,
            &format!("{base}/notes/20"),
            &format!("{base}/notes/21"),
            "a",
        ),
    );
    s.standin.put(
        "/notes/21",
        note(
            &s.mallory,
            &format!("{base}/notes/21"),
            &format!("{base}/notes/20"),
            "b",
        ),
    );
    let cyclic = create(
        &s.mallory,
        &format!("{base}/activities/22"),
        note(
            &s.mallory,
            &format!("{base}/notes/22"),
            &format!("{base}/notes/20"),
            "c",
        ),
    );
    let (status, text) = s.standin.deliver(&inbox(&s), &cyclic).await;
    assert_refused(
        status,
        &text,
        StatusCode::BAD_REQUEST,
        "cyclic",
        "cyclic chain",
    );

    // A very deep chain: 40 notes, each replying to the next, the last to the post.
    for i in 0..40 {
        let parent = if i == 39 {
            s.post_ap.clone()
        } else {
            format!("{base}/deep/{}", i + 1)
        };
        s.standin.put(
            &format!("/deep/{i}"),
            note(&s.mallory, &format!("{base}/deep/{i}"), &parent, "deep"),
        );
    }
    let deep = create(
        &s.mallory,
        &format!("{base}/activities/23"),
        note(
            &s.mallory,
            &format!("{base}/notes/23"),
            &format!("{base}/deep/0"),
            "d",
        ),
    );
    let (status, text) = s.standin.deliver(&inbox(&s), &deep).await;
    assert_refused(
        status,
        &text,
        StatusCode::UNPROCESSABLE_ENTITY,
        "deeper than",
        "deep chain",
    );

    // An unreachable parent.
    let lost = create(
        &s.mallory,
        &format!("{base}/activities/24"),
        note(
            &s.mallory,
            &format!("{base}/notes/24"),
            &format!("{base}/gone/1"),
            "e",
        ),
    );
    let (status, text) = s.standin.deliver(&inbox(&s), &lost).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");

    assert_eq!(
        comment_count(&s.app).await,
        3,
        "refused chains left no rows behind"
    );
}

#[tokio::test]
async fn a_reply_to_a_deleted_post_is_refused() {
    let s = setup().await;
    let (status, _) = s
        .app
        .call(
            Method::DELETE,
            &format!("/api/v1/posts/{}", s.post_id),
            Some(&s.alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let activity = create(
        &s.mallory,
        &format!("{}/activities/30", s.standin.base),
        note(
            &s.mallory,
            &format!("{}/notes/30", s.standin.base),
            &s.post_ap,
            "late",
        ),
    );
    let (status, text) = s.standin.deliver(&inbox(&s), &activity).await;
    assert_refused(
        status,
        &text,
        StatusCode::FORBIDDEN,
        "deleted post",
        "reply to a deleted post",
    );
    assert_eq!(comment_count(&s.app).await, 0);
}

#[tokio::test]
async fn fetches_are_signed_by_the_instance_actor() {
    let s = setup().await;
    let activity = create(
        &s.mallory,
        &format!("{}/activities/40", s.standin.base),
        note(
            &s.mallory,
            &format!("{}/notes/40", s.standin.base),
            &s.post_ap,
            "x",
        ),
    );
    let (status, text) = s.standin.deliver(&inbox(&s), &activity).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let seen = s.standin.seen.lock().unwrap().clone();
    let (_, signature) = seen
        .iter()
        .find(|(path, _)| path == "/users/mallory")
        .expect("the actor was fetched");
    let signature = signature.as_deref().expect("the fetch was signed");
    assert!(
        signature.contains(&format!("keyId=\"{}/actor#main-key\"", s.app.public_url)),
        "{signature}"
    );
    // The key it names is served at /actor.
    let resp = s
        .app
        .client
        .get(format!("{}/actor", s.app.base_url))
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap();
    let actor: Value = resp.json().await.unwrap();
    assert!(actor["publicKey"]["publicKeyPem"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
}
