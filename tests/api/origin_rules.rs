//! The origin rules of the receive path (crates/federation/src/receive/rules.rs), attacked
//! through the real inbox by correctly signing hostile servers: each forged activity is refused
//! and changes nothing; the genuine form of the same activity is acted on.

use canopy_federation::keys::generate_actor_keys;
use canopy_federation::signatures::{sign_post, PrivateKey};
use canopy_testkit::standin::{send, StandIn};
use canopy_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::SystemTime;

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// A node with a local user (alice) and her post in a local community, and a hostile server
/// (the stand-in) with a person (mallory) and a community (evil) of its own.
struct World {
    app: TestApp,
    evil_host: StandIn,
    mallory: String,
    evil: String,
    alice_ap: String,
    post_ap: String,
    post_id: i64,
}

async fn world(app: TestApp) -> World {
    let alice = app.user("alice").await;
    let post_id = app.community_with_post(&alice, "home").await;
    let (_, post) = app.get(&format!("/api/v1/posts/{post_id}"), None).await;
    let (_, me) = app.get("/api/v1/me", Some(&alice)).await;
    let evil_host = StandIn::start().await;
    let mallory = evil_host.person("mallory");
    let evil = evil_host.group("evil");
    World {
        app,
        evil_host,
        mallory,
        evil,
        alice_ap: me["ap_id"].as_str().unwrap().to_string(),
        post_ap: post["ap_id"].as_str().unwrap().to_string(),
        post_id,
    }
}

fn inbox(w: &World) -> String {
    format!("{}/inbox", w.app.base_url)
}

fn announce(w: &World, n: u32, inner: Value) -> Value {
    json!({"@context": "https://www.w3.org/ns/activitystreams",
           "id": format!("{}/activities/announce/{n}", w.evil_host.base),
           "type": "Announce", "actor": w.evil, "to": [PUBLIC], "object": inner})
}

async fn post_deleted(w: &World) -> bool {
    let (deleted,): (bool,) = sqlx::query_as("SELECT deleted FROM post WHERE id = $1")
        .bind(w.post_id)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    deleted
}

/// Votes on posts other than their authors' own (every post starts with its author's upvote).
const OTHERS_VOTES: &str = "SELECT count(*) FROM post_vote v JOIN post p ON p.id = v.post_id
                            WHERE v.person_id <> p.creator_id";

async fn count(w: &World, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&w.app.db).await.unwrap();
    n
}

fn assert_forbidden(status: StatusCode, body: &str, what: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: {body}"));
    assert_eq!(v["error"], "forbidden", "{what}: {body}");
}

#[tokio::test]
async fn a_relayed_delete_in_a_local_users_name_deletes_nothing() {
    let w = world(TestApp::spawn_without_worker().await).await;
    let local_id = format!("{}/activities/delete/forged", w.app.public_url);
    let announcer_id = format!("{}/activities/delete/forged", w.evil_host.base);
    let ids: [Option<&str>; 3] = [None, Some(&local_id), Some(&announcer_id)];
    for (n, id) in ids.into_iter().enumerate() {
        let mut delete = json!({"type": "Delete", "actor": w.alice_ap, "object": w.post_ap});
        if let Some(id) = id {
            delete["id"] = json!(id);
        }
        let (status, body) = w
            .evil_host
            .deliver(&inbox(&w), &announce(&w, n as u32, delete))
            .await;
        assert_forbidden(status, &body, &format!("relayed Delete with id {id:?}"));
        assert!(!post_deleted(&w).await, "alice's post survives ({id:?})");
    }
    // Mallory's own name does not help either: the post is not hers.
    let delete = json!({"id": format!("{}/activities/delete/m", w.evil_host.base),
        "type": "Delete", "actor": w.mallory, "object": w.post_ap});
    let (status, body) = w
        .evil_host
        .deliver(&inbox(&w), &announce(&w, 9, delete))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!post_deleted(&w).await);
}

#[tokio::test]
async fn a_relayed_vote_in_a_local_users_name_is_not_counted_nor_relayed() {
    let w = world(TestApp::spawn_without_worker().await).await;
    let follower_host = StandIn::start().await;
    w.app
        .remote_followers("home", &[format!("{}/u/f/inbox", follower_host.base)])
        .await;
    for (n, kind) in ["Like", "Dislike"].into_iter().enumerate() {
        let vote = json!({"type": kind, "actor": w.alice_ap, "object": w.post_ap});
        let (status, body) = w
            .evil_host
            .deliver(&inbox(&w), &announce(&w, n as u32, vote))
            .await;
        assert_forbidden(status, &body, kind);
    }
    // The only vote is alice's own upvote, as she got it with her post (a vote taken from an
    // activity would carry that activity's id).
    assert_eq!(count(&w, "SELECT count(*) FROM post_vote").await, 1);
    assert_eq!(
        count(
            &w,
            "SELECT count(*) FROM post_vote WHERE score = 1 AND ap_id IS NULL"
        )
        .await,
        1
    );
    let (_, post) = w
        .app
        .get(&format!("/api/v1/posts/{}", w.post_id), None)
        .await;
    assert_eq!(post["counts"]["score"], 1, "{post}");
    assert_eq!(
        count(
            &w,
            "SELECT count(*) FROM outbox_activity WHERE kind = 'Announce'"
        )
        .await,
        0,
        "nothing is relayed to the community's followers"
    );
}

#[tokio::test]
async fn a_relayed_vote_by_a_remote_person_needs_the_community_or_its_origin() {
    let w = world(TestApp::spawn_without_worker().await).await;
    // Mallory's vote on alice's post (which is not in the announcing community) without an id
    // to confirm it by: refused.
    let vote = json!({"type": "Like", "actor": w.mallory, "object": w.post_ap});
    let (status, body) = w
        .evil_host
        .deliver(&inbox(&w), &announce(&w, 1, vote))
        .await;
    assert_forbidden(status, &body, "unconfirmable relayed Like");
    // With an id that its origin does not serve: refused.
    let like_id = format!("{}/likes/1", w.evil_host.base);
    let vote = json!({"id": like_id, "type": "Like", "actor": w.mallory, "object": w.post_ap});
    let (status, body) = w
        .evil_host
        .deliver(&inbox(&w), &announce(&w, 2, vote.clone()))
        .await;
    assert_forbidden(status, &body, "relayed Like its origin does not confirm");
    assert_eq!(count(&w, OTHERS_VOTES).await, 0);
    // The origin serves it at its id: the vote is Mallory's own, so it counts.
    w.evil_host.put("/likes/1", vote.clone());
    let (status, body) = w
        .evil_host
        .deliver(&inbox(&w), &announce(&w, 3, vote))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(count(&w, OTHERS_VOTES).await, 1);
}

#[tokio::test]
async fn a_relayed_vote_on_content_of_the_announcing_community_counts() {
    let w = world(TestApp::spawn_without_worker().await).await;
    let page_id = format!("{}/post/1", w.evil_host.base);
    let page = json!({"id": page_id, "type": "Page", "attributedTo": w.mallory, "name": "evil news",
        "content": "<p>x</p>", "audience": w.evil, "to": [w.evil, PUBLIC],
        "published": "2026-11-01T10:00:00Z"});
    let create = json!({"id": format!("{}/activities/create/1", w.evil_host.base), "type": "Create",
        "actor": w.mallory, "to": [PUBLIC], "object": page});
    let (status, body) = w
        .evil_host
        .deliver(&inbox(&w), &announce(&w, 1, create))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let voter_host = StandIn::start().await;
    let bob = voter_host.person("bob");
    let vote = json!({"type": "Like", "actor": bob, "object": page_id});
    let (status, body) = w
        .evil_host
        .deliver(&inbox(&w), &announce(&w, 2, vote))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(count(&w, OTHERS_VOTES).await, 1);
    // The same relayed vote in a local user's name is still refused.
    let vote = json!({"type": "Like", "actor": w.alice_ap, "object": page_id});
    let (status, body) = w
        .evil_host
        .deliver(&inbox(&w), &announce(&w, 3, vote))
        .await;
    assert_forbidden(status, &body, "local voter");
    assert_eq!(count(&w, OTHERS_VOTES).await, 1);
}

#[tokio::test]
async fn a_relayed_undo_follow_removes_no_follower() {
    let w = world(TestApp::spawn_without_worker().await).await;
    let follower_host = StandIn::start().await;
    let bob = follower_host.person("bob");
    let follow = json!({"id": format!("{}/follows/1", follower_host.base), "type": "Follow",
        "actor": bob, "object": format!("{}/c/home", w.app.public_url)});
    let (status, body) = follower_host.deliver(&inbox(&w), &follow).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let followers = "SELECT count(*) FROM community_follow";
    assert_eq!(count(&w, followers).await, 2, "alice (creator) and bob");
    for (n, actor) in [&bob, &w.alice_ap].into_iter().enumerate() {
        let undo = json!({"type": "Undo", "actor": actor,
            "object": {"type": "Follow", "actor": actor, "object": format!("{}/c/home", w.app.public_url)}});
        let (status, body) = w
            .evil_host
            .deliver(&inbox(&w), &announce(&w, n as u32, undo))
            .await;
        assert_forbidden(status, &body, &format!("relayed Undo(Follow) by {actor}"));
    }
    assert_eq!(count(&w, followers).await, 2, "nobody was unfollowed");
}

#[tokio::test]
async fn updates_of_someone_elses_actor_or_content_on_the_same_host_are_refused() {
    let w = world(TestApp::spawn_without_worker().await).await;
    let carol = w.evil_host.person("carol");
    // Carol (same host as mallory) replies to alice's post.
    let note_id = format!("{}/notes/carol-1", w.evil_host.base);
    let note = json!({"id": note_id, "type": "Note", "attributedTo": carol, "inReplyTo": w.post_ap,
        "to": [PUBLIC], "content": "<p>carol's words</p>", "published": "2026-11-01T10:00:00Z"});
    let create = json!({"id": format!("{}/activities/c1", w.evil_host.base), "type": "Create",
        "actor": carol, "to": [PUBLIC], "object": note});
    let (status, body) = w.evil_host.deliver(&inbox(&w), &create).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // Mallory rewrites carol's note, claiming authorship in the new version.
    let forged = json!({"id": note_id, "type": "Note", "attributedTo": w.mallory, "inReplyTo": w.post_ap,
        "to": [PUBLIC], "content": "<p>forged</p>", "published": "2026-11-01T10:00:00Z",
        "updated": "2026-11-02T10:00:00Z"});
    let update = json!({"id": format!("{}/activities/u1", w.evil_host.base), "type": "Update",
        "actor": w.mallory, "to": [PUBLIC], "object": forged});
    let (status, body) = w.evil_host.deliver(&inbox(&w), &update).await;
    assert_forbidden(status, &body, "Update of carol's note by mallory");
    let (content,): (String,) = sqlx::query_as("SELECT content FROM comment WHERE ap_id = $1")
        .bind(&note_id)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert!(content.contains("carol's words"), "{content}");

    // Mallory rewrites carol's profile (same host, so the old host check let it through).
    let mut profile = w.evil_host.get("/users/carol").unwrap();
    profile["name"] = json!("carol (hijacked)");
    let update = json!({"id": format!("{}/activities/u2", w.evil_host.base), "type": "Update",
        "actor": w.mallory, "to": [PUBLIC], "object": profile});
    let (status, body) = w.evil_host.deliver(&inbox(&w), &update).await;
    assert_forbidden(status, &body, "Update of carol's actor by mallory");
    let (name,): (Option<String>,) =
        sqlx::query_as("SELECT display_name FROM person WHERE ap_id = $1")
            .bind(&carol)
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(name.as_deref(), Some("carol (stand-in)"));

    // Mallory deletes carol's note: refused, it stays.
    let delete = json!({"id": format!("{}/activities/d1", w.evil_host.base), "type": "Delete",
        "actor": w.mallory, "object": note_id});
    let (status, body) = w.evil_host.deliver(&inbox(&w), &delete).await;
    assert_forbidden(status, &body, "Delete of carol's note by mallory");
    assert_eq!(
        count(&w, "SELECT count(*) FROM comment WHERE deleted").await,
        0
    );
}

#[tokio::test]
async fn an_attributed_to_list_is_checked_against_its_one_author() {
    let w = world(TestApp::spawn_without_worker().await).await;
    let carol = w.evil_host.person("carol");
    // Mallory signs a note attributed to [carol, mallory]: it would have been stored as carol's.
    let note = json!({"id": format!("{}/notes/two", w.evil_host.base), "type": "Note",
        "attributedTo": [carol, w.mallory], "inReplyTo": w.post_ap, "to": [PUBLIC],
        "content": "<p>in carol's name</p>", "published": "2026-11-01T10:00:00Z"});
    let create = json!({"id": format!("{}/activities/c2", w.evil_host.base), "type": "Create",
        "actor": w.mallory, "to": [PUBLIC], "object": note});
    let (status, body) = w.evil_host.deliver(&inbox(&w), &create).await;
    assert_forbidden(status, &body, "two authors");
    // [carol] alone, signed by mallory: refused.
    let note = json!({"id": format!("{}/notes/carol", w.evil_host.base), "type": "Note",
        "attributedTo": [carol], "inReplyTo": w.post_ap, "to": [PUBLIC],
        "content": "<p>in carol's name</p>", "published": "2026-11-01T10:00:00Z"});
    let create = json!({"id": format!("{}/activities/c3", w.evil_host.base), "type": "Create",
        "actor": w.mallory, "to": [PUBLIC], "object": note});
    let (status, body) = w.evil_host.deliver(&inbox(&w), &create).await;
    assert_forbidden(status, &body, "someone else as the author");
    assert_eq!(count(&w, "SELECT count(*) FROM comment").await, 0);
    // A person and a group, as PeerTube and Lemmy write it: mallory is the author.
    let note = json!({"id": format!("{}/notes/ok", w.evil_host.base), "type": "Note",
        "attributedTo": [{"type": "Person", "id": w.mallory}, {"type": "Group", "id": w.evil}],
        "inReplyTo": w.post_ap, "to": [PUBLIC], "content": "<p>mine</p>",
        "published": "2026-11-01T10:00:00Z"});
    let create = json!({"id": format!("{}/activities/c4", w.evil_host.base), "type": "Create",
        "actor": w.mallory, "to": [PUBLIC], "object": note});
    let (status, body) = w.evil_host.deliver(&inbox(&w), &create).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (creator,): (String,) =
        sqlx::query_as("SELECT p.ap_id FROM comment c JOIN person p ON p.id = c.creator_id")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(creator, w.mallory);
}

#[tokio::test]
async fn a_relayed_reply_is_announced_to_other_instances_but_never_back_to_its_origin() {
    let w = world(TestApp::spawn_without_worker().await).await;
    let other_host = StandIn::start().await;
    w.app
        .remote_followers(
            "home",
            &[
                format!("{}/u/f1/inbox", w.evil_host.base),
                format!("{}/u/f2/inbox", other_host.base),
            ],
        )
        .await;
    let note = json!({"id": format!("{}/notes/r1", w.evil_host.base), "type": "Note",
        "attributedTo": w.mallory, "inReplyTo": w.post_ap, "to": [PUBLIC],
        "content": "<p>hello</p>", "published": "2026-11-01T10:00:00Z"});
    let create = json!({"id": format!("{}/activities/r1", w.evil_host.base), "type": "Create",
        "actor": w.mallory, "to": [PUBLIC], "object": note});
    let (status, body) = w.evil_host.deliver(&inbox(&w), &create).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let targets: Vec<(String,)> = sqlx::query_as(
        "SELECT d.authority FROM delivery d JOIN outbox_activity a ON a.id = d.activity_id
         WHERE a.kind = 'Announce' ORDER BY 1",
    )
    .fetch_all(&w.app.db)
    .await
    .unwrap();
    assert_eq!(targets, vec![(other_host.authority(),)]);
    // A replay relays nothing more.
    let (status, _) = w.evil_host.deliver(&inbox(&w), &create).await;
    assert!(status.is_success());
    assert_eq!(
        count(
            &w,
            "SELECT count(*) FROM outbox_activity WHERE kind = 'Announce'"
        )
        .await,
        1
    );
}

/// Sign `activity` for `inbox` with a key that is not its actor's.
fn forge(
    activity: &Value,
    inbox: &str,
    forger: &PrivateKey,
) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let body = serde_json::to_vec(activity).unwrap();
    let key_id = format!("{}#main-key", activity["actor"].as_str().unwrap());
    let url = url::Url::parse(inbox).unwrap();
    let headers = sign_post(forger, &key_id, &url, &body, SystemTime::now()).unwrap();
    (headers, body)
}

#[tokio::test]
async fn false_signatures_cause_at_most_one_key_refetch_and_store_nothing() {
    let w = world(TestApp::spawn_without_worker().await).await;
    let forger_keys = tokio::task::spawn_blocking(generate_actor_keys)
        .await
        .unwrap()
        .unwrap();
    let forger = PrivateKey::from_pem(&forger_keys.private_key_pem).unwrap();

    // An unknown actor with a false signature: fetched once to check, never stored.
    let stranger = w.evil_host.person("stranger");
    let note = json!({"id": format!("{}/notes/s", w.evil_host.base), "type": "Note",
        "attributedTo": stranger, "inReplyTo": w.post_ap, "to": [PUBLIC], "content": "x"});
    let create = json!({"id": format!("{}/activities/s", w.evil_host.base), "type": "Create",
        "actor": stranger, "to": [PUBLIC], "object": note});
    let (headers, body) = forge(&create, &inbox(&w), &forger);
    let (status, text) = send(&inbox(&w), headers, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert_eq!(
        count(
            &w,
            &format!("SELECT count(*) FROM person WHERE ap_id = '{stranger}'")
        )
        .await,
        0,
        "an actor whose key did not verify is not stored"
    );

    // A known actor: a genuine activity stores it; then a flood of false signatures in its
    // name refetches its key once, not once per request.
    let like = json!({"id": format!("{}/likes/genuine", w.evil_host.base), "type": "Like",
        "actor": w.mallory, "object": w.post_ap});
    let (status, text) = w.evil_host.deliver(&inbox(&w), &like).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let fetches_of_mallory = || {
        w.evil_host
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _)| path == "/users/mallory")
            .count()
    };
    let before = fetches_of_mallory();
    for n in 0..20 {
        let fake = json!({"id": format!("{}/likes/fake{n}", w.evil_host.base), "type": "Dislike",
            "actor": w.mallory, "object": w.post_ap});
        let (headers, body) = forge(&fake, &inbox(&w), &forger);
        let (status, text) = send(&inbox(&w), headers, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    }
    assert!(
        fetches_of_mallory() - before <= 1,
        "20 false signatures caused {} refetches",
        fetches_of_mallory() - before
    );
    let (_, post) = w
        .app
        .get(&format!("/api/v1/posts/{}", w.post_id), None)
        .await;
    assert_eq!(
        post["counts"]["score"], 2,
        "only the genuine like counts, beside alice's own upvote: {post}"
    );
}
