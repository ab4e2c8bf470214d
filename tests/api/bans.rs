//! Bans and personal blocks: community bans between two Canopy nodes (ban, removal of the
//! person's content, unban, each logged on both), bans enforced on local writes and in the inbox,
//! expiry, forged bans refused, site bans made here and received from a person's own instance,
//! the endpoints' authorization, and personal blocks hiding exactly what was blocked.

use canopy_testkit::standin::StandIn;
use canopy_testkit::{eventually, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

fn authority(app: &TestApp) -> String {
    app.public_url.trim_start_matches("http://").to_string()
}

async fn ap_id_of(app: &TestApp, token: &str) -> String {
    let (_, me) = app.get("/api/v1/me", Some(token)).await;
    me["ap_id"].as_str().unwrap().to_string()
}

async fn local_id(app: &TestApp, table: &str, ap_id: &str) -> Option<i64> {
    sqlx::query_as::<_, (i64,)>(&format!("SELECT id FROM {table} WHERE ap_id = $1"))
        .bind(ap_id)
        .fetch_optional(&app.db)
        .await
        .unwrap()
        .map(|(id,)| id)
}

/// Whether the post or comment `ap_id` is removed.
async fn removed(app: &TestApp, ap_id: &str) -> Option<bool> {
    sqlx::query_as::<_, (bool,)>(
        "SELECT removed FROM post WHERE ap_id = $1
         UNION ALL SELECT removed FROM comment WHERE ap_id = $1",
    )
    .bind(ap_id)
    .fetch_optional(&app.db)
    .await
    .unwrap()
    .map(|(r,)| r)
}

/// Whether a ban of the person `person` (ActivityPub id) is in force in the community
/// `community` (ActivityPub id).
async fn banned_in(app: &TestApp, community: &str, person: &str) -> bool {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM community_ban b JOIN community c ON c.id = b.community_id
         JOIN person p ON p.id = b.person_id
         WHERE c.ap_id = $1 AND p.ap_id = $2 AND (b.expires IS NULL OR b.expires > now())",
    )
    .bind(community)
    .bind(person)
    .fetch_one(&app.db)
    .await
    .unwrap();
    n == 1
}

/// Every row bans and blocks can change, to show that a refused request changed none.
async fn tally(app: &TestApp) -> Vec<i64> {
    let mut out = vec![];
    for sql in [
        "SELECT count(*) FROM community_ban",
        "SELECT count(*) FROM site_ban",
        "SELECT count(*) FROM person_block",
        "SELECT count(*) FROM community_block",
        "SELECT count(*) FROM post",
        "SELECT count(*) FROM post WHERE removed",
        "SELECT count(*) FROM comment",
        "SELECT count(*) FROM comment WHERE removed",
        "SELECT count(*) FROM post_vote",
        "SELECT count(*) FROM comment_vote",
        "SELECT count(*) FROM mod_log",
        "SELECT count(*) FROM outbox_activity",
    ] {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&app.db).await.unwrap();
        out.push(n);
    }
    out
}

async fn modlog(app: &TestApp, query: &str) -> Vec<Value> {
    let (s, log) = app.get(&format!("/api/v1/modlog{query}"), None).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    log["entries"].as_array().unwrap().clone()
}

fn actions(log: &[Value]) -> Vec<&str> {
    log.iter().map(|e| e["action"].as_str().unwrap()).collect()
}

#[track_caller]
fn assert_forbidden(status: StatusCode, body: &Value, reason: &str, what: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(reason),
        "{what}: {message:?} should say {reason:?}"
    );
}

/// alpha hosts "forest" (alice moderates it); bob on beta follows it and comments. alice bans
/// bob with a reason, an end and `remove_data`: both nodes remove his comment, log the ban and
/// the removal, and refuse bob's new comment; beta refuses it locally. alice unbans him: both
/// log it, and bob comments again.
#[tokio::test]
async fn a_community_ban_federates_to_the_other_node_and_so_does_the_unban() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let bob = beta.user("bob").await;
    let bob_ap = ap_id_of(&beta, &bob).await;
    let (s, forest) = alpha
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "forest", "title": "Forest"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{forest}");
    let forest_ap = format!("{}/c/forest", alpha.public_url);
    let handle = format!("forest@{}", authority(&alpha));
    let (s, f) = beta
        .post(
            "/api/v1/communities/follow",
            Some(&bob),
            json!({"community": handle}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    eventually("the follow is accepted", || async {
        let (_, c) = alpha.get("/api/v1/communities/forest", None).await;
        (c["subscriber_count"] == 2).then_some(())
    })
    .await;
    let (_, post) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": forest["id"], "title": "Trees"}),
        )
        .await;
    let post_ap = post["ap_id"].as_str().unwrap().to_string();
    let beta_post = eventually("beta has the post", || local_id(&beta, "post", &post_ap)).await;
    let bob_comment = beta.comment(&bob, beta_post, None, "spam").await;
    let (_, c) = beta
        .get(&format!("/api/v1/comments/{bob_comment}"), None)
        .await;
    let comment_ap = c["comment"]["ap_id"].as_str().unwrap().to_string();
    eventually("alpha has bob's comment", || {
        local_id(&alpha, "comment", &comment_ap)
    })
    .await;

    let bob_handle = format!("bob@{}", authority(&beta));
    let until = "2099-01-01T00:00:00Z";
    let (s, ban) = alpha
        .post(
            "/api/v1/communities/forest/bans",
            Some(&alice),
            json!({"person": bob_handle, "reason": "spam", "expires": until, "remove_data": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ban}");
    assert_eq!(ban["person"], bob_handle);
    assert_eq!(ban["reason"], "spam");
    assert_eq!(ban["expires"], until);
    assert!(banned_in(&alpha, &forest_ap, &bob_ap).await);
    assert_eq!(removed(&alpha, &comment_ap).await, Some(true));
    let (s, list) = alpha
        .get("/api/v1/communities/forest/bans", Some(&alice))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["bans"].as_array().unwrap().len(), 1, "{list}");

    eventually("beta stores the ban", || async {
        banned_in(&beta, &forest_ap, &bob_ap).await.then_some(())
    })
    .await;
    eventually("beta removes bob's comment", || async {
        removed(&beta, &comment_ap).await?.then_some(())
    })
    .await;
    for app in [&alpha, &beta] {
        let log = modlog(app, "").await;
        assert_eq!(actions(&log), ["remove_comment", "ban_person"], "{log:?}");
        assert_eq!(log[1]["target"], bob_ap);
        assert_eq!(log[1]["reason"], "spam");
        assert_eq!(log[1]["until"], until);
    }
    assert_eq!(modlog(&beta, "").await[1]["local"], false);

    // bob's new comment is refused on beta already, and alpha would refuse it too.
    let (comments_before,): (i64,) = sqlx::query_as("SELECT count(*) FROM comment")
        .fetch_one(&beta.db)
        .await
        .unwrap();
    let (s, body) = beta
        .post(
            "/api/v1/comments",
            Some(&bob),
            json!({"post_id": beta_post, "content": "again"}),
        )
        .await;
    assert_forbidden(s, &body, "banned from this community: spam", "bob comments");
    let (s, body) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/vote"),
            Some(&bob),
            json!({"score": 1}),
        )
        .await;
    assert_forbidden(s, &body, "banned from this community", "bob votes");
    let (comments_after,): (i64,) = sqlx::query_as("SELECT count(*) FROM comment")
        .fetch_one(&beta.db)
        .await
        .unwrap();
    assert_eq!(comments_before, comments_after);

    let (s, body) = alpha
        .call(
            Method::DELETE,
            &format!("/api/v1/communities/forest/bans/{bob_handle}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    assert!(!banned_in(&alpha, &forest_ap, &bob_ap).await);
    eventually("beta lifts the ban", || async {
        (!banned_in(&beta, &forest_ap, &bob_ap).await).then_some(())
    })
    .await;
    eventually("beta logs the unban", || async {
        (actions(&modlog(&beta, "").await)[0] == "unban_person").then_some(())
    })
    .await;
    assert_eq!(actions(&modlog(&alpha, "").await)[0], "unban_person");
    let again = beta.comment(&bob, beta_post, None, "sorry").await;
    let (_, c) = beta.get(&format!("/api/v1/comments/{again}"), None).await;
    let again_ap = c["comment"]["ap_id"].as_str().unwrap().to_string();
    eventually("alpha takes bob's comment again", || {
        local_id(&alpha, "comment", &again_ap)
    })
    .await;
}

/// A node with alice's community "home" and post, carol (a local user), and a remote server
/// with mallory (who comments here) and eve.
struct World {
    app: TestApp,
    alice: String,
    carol: String,
    host: StandIn,
    mallory: String,
    post: i64,
    post_ap: String,
    home: String,
}

async fn world() -> World {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let carol = app.user("carol").await;
    let post = app.community_with_post(&alice, "home").await;
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    let host = StandIn::start().await;
    let mallory = host.person("mallory");
    let home = format!("{}/c/home", app.public_url);
    World {
        app,
        alice,
        carol,
        host,
        mallory,
        post,
        post_ap: p["ap_id"].as_str().unwrap().to_string(),
        home,
    }
}

impl World {
    async fn deliver(&self, activity: &Value) -> (StatusCode, String) {
        self.host
            .deliver(&format!("{}/inbox", self.app.base_url), activity)
            .await
    }

    fn id(&self, n: &str) -> String {
        format!("{}/activities/{n}", self.host.base)
    }

    /// A Create of a reply to the post by `actor`, numbered `n`.
    fn reply(&self, actor: &str, n: &str) -> Value {
        json!({"id": self.id(&format!("create/{n}")), "type": "Create", "actor": actor,
            "to": [PUBLIC], "cc": [self.home],
            "object": {"id": format!("{}/notes/{n}", self.host.base), "type": "Note",
                       "attributedTo": actor, "inReplyTo": self.post_ap, "content": "hello",
                       "to": [PUBLIC], "cc": [self.home]}})
    }

    /// A Create of a post in "home" by `actor`, numbered `n`.
    fn page(&self, actor: &str, n: &str) -> Value {
        json!({"id": self.id(&format!("create/page/{n}")), "type": "Create", "actor": actor,
            "to": [PUBLIC], "cc": [self.home],
            "object": {"id": format!("{}/pages/{n}", self.host.base), "type": "Page",
                       "attributedTo": actor, "name": "a page", "audience": self.home,
                       "to": [PUBLIC], "cc": [self.home]}})
    }

    fn like(&self, actor: &str, n: &str) -> Value {
        json!({"id": self.id(&format!("like/{n}")), "type": "Like", "actor": actor,
               "object": self.post_ap})
    }

    fn mallory_handle(&self) -> String {
        format!("mallory@{}", self.host.authority())
    }

    async fn ban(&self, token: &str, person: &str, extra: Value) -> (StatusCode, Value) {
        let mut body = json!({"person": person, "reason": "rude"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.app
            .post("/api/v1/communities/home/bans", Some(token), body)
            .await
    }
}

/// mallory (remote) and carol (local) are banned from "home": mallory's reply, post and vote are
/// refused by the inbox with the reason, carol's post, comment and vote by the API, and nothing
/// of theirs is stored. When the ban's end passes, both act again without anyone lifting it.
#[tokio::test]
async fn a_banned_persons_posts_comments_and_votes_are_refused_until_the_ban_ends() {
    let w = world().await;
    let (s, body) = w.deliver(&w.reply(&w.mallory, "1")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let (s, ban) = w
        .ban(
            &w.alice,
            &w.mallory_handle(),
            json!({"expires": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ban}");
    let (s, ban) = w.ban(&w.alice, "carol", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{ban}");
    let before = tally(&w.app).await;

    for (what, activity) in [
        ("a reply", w.reply(&w.mallory, "2")),
        ("a post", w.page(&w.mallory, "3")),
        ("a vote", w.like(&w.mallory, "4")),
    ] {
        let (s, body) = w.deliver(&activity).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{what}: {body}");
        assert!(body.contains("banned"), "{what}: {body}");
    }
    let (_, home) = w.app.get("/api/v1/communities/home", None).await;
    let community_id = home["id"].clone();
    let (s, body) = w
        .app
        .post(
            "/api/v1/posts",
            Some(&w.carol),
            json!({"community_id": community_id, "title": "mine"}),
        )
        .await;
    assert_forbidden(s, &body, "banned from this community: rude", "carol posts");
    let (s, body) = w
        .app
        .post(
            "/api/v1/comments",
            Some(&w.carol),
            json!({"post_id": w.post, "content": "hi"}),
        )
        .await;
    assert_forbidden(s, &body, "banned from this community", "carol comments");
    let (s, body) = w
        .app
        .post(
            &format!("/api/v1/posts/{}/vote", w.post),
            Some(&w.carol),
            json!({"score": 1}),
        )
        .await;
    assert_forbidden(s, &body, "banned from this community", "carol votes");
    assert_eq!(tally(&w.app).await, before, "nothing of theirs is stored");

    // An end in the past is refused; a ban whose end passes stops applying by itself.
    let (s, body) = w
        .ban(
            &w.alice,
            "carol",
            json!({"expires": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    sqlx::query("UPDATE community_ban SET expires = now() - interval '1 second'")
        .execute(&w.app.db)
        .await
        .unwrap();
    let (s, body) = w.deliver(&w.reply(&w.mallory, "5")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let (s, body) = w.deliver(&w.like(&w.mallory, "6")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    w.app.comment(&w.carol, w.post, None, "back").await;
    let (s, list) = w
        .app
        .get("/api/v1/communities/home/bans", Some(&w.alice))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["bans"], json!([]), "expired bans are not listed");
}

/// mallory, who moderates nothing here, bans carol from "home" and lifts alice's ban of eve:
/// sent directly and relayed by mallory's own community. Each is refused and changes nothing;
/// once alice makes her a moderator, her Block acts.
#[tokio::test]
async fn a_ban_by_a_non_moderator_is_refused_directly_and_relayed() {
    let w = world().await;
    let carol_ap = format!("{}/u/carol", w.app.public_url);
    let eve = w.host.person("eve");
    let (s, body) = w.deliver(&w.reply(&eve, "1")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let (s, body) = w
        .ban(&w.alice, &format!("eve@{}", w.host.authority()), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let block = |n: &str, object: &str| {
        json!({"id": w.id(n), "type": "Block", "actor": w.mallory, "object": object,
               "target": w.home, "summary": "mine now", "removeData": true,
               "to": [PUBLIC], "cc": [w.home]})
    };
    let undo = json!({"id": w.id("undo"), "type": "Undo", "actor": w.mallory,
                      "object": block("b2", &eve)});
    let before = tally(&w.app).await;
    for (what, activity) in [
        ("Block of carol", block("b1", &carol_ap)),
        ("Undo(Block) of eve", undo.clone()),
    ] {
        let (s, body) = w.deliver(&activity).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{what}: {body}");
        assert!(body.contains("is not a moderator of"), "{what}: {body}");
    }
    let evil = w.host.group("evil");
    let announce = json!({"id": w.id("announce"), "type": "Announce", "actor": evil,
                          "to": [PUBLIC], "object": block("b3", &carol_ap)});
    let (s, body) = w.deliver(&announce).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "relayed: {body}");
    assert_eq!(tally(&w.app).await, before, "refused bans change nothing");
    assert!(!banned_in(&w.app, &w.home, &carol_ap).await);
    assert!(banned_in(&w.app, &w.home, &eve).await);

    let (s, mods) = w
        .app
        .post(
            "/api/v1/communities/home/moderators",
            Some(&w.alice),
            json!({"person": w.mallory_handle()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{mods}");
    let (s, body) = w.deliver(&block("b4", &carol_ap)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert!(banned_in(&w.app, &w.home, &carol_ap).await);
    let (s, body) = w.deliver(&undo).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert!(!banned_in(&w.app, &w.home, &eve).await);
    let log = modlog(&w.app, &format!("?moderator={}", w.mallory_handle())).await;
    assert_eq!(actions(&log), ["unban_person", "ban_person"]);
}

/// An admin bans carol from the node: she can no longer create communities, post, comment or
/// vote (403 with the reason), and the ban is listed; unbanned, she can again.
#[tokio::test]
async fn a_site_banned_local_user_cannot_post_comment_vote_or_create_communities() {
    let w = world().await;
    let admin = w.app.admin("root").await;
    let (s, ban) = w
        .app
        .post(
            "/api/v1/admin/bans",
            Some(&admin),
            json!({"person": "carol", "reason": "abuse"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ban}");
    let (s, list) = w.app.get("/api/v1/admin/bans", Some(&admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["bans"][0]["person"], "carol", "{list}");
    let before = tally(&w.app).await;
    let (_, home) = w.app.get("/api/v1/communities/home", None).await;
    for (what, path, body) in [
        (
            "community",
            "/api/v1/communities".to_string(),
            json!({"name": "carols", "title": "Carol's"}),
        ),
        (
            "post",
            "/api/v1/posts".to_string(),
            json!({"community_id": home["id"], "title": "hi"}),
        ),
        (
            "comment",
            "/api/v1/comments".to_string(),
            json!({"post_id": w.post, "content": "hi"}),
        ),
        (
            "vote",
            format!("/api/v1/posts/{}/vote", w.post),
            json!({"score": 1}),
        ),
    ] {
        let (s, body) = w.app.post(&path, Some(&w.carol), body).await;
        assert_forbidden(s, &body, "banned from this node: abuse", what);
    }
    assert_eq!(tally(&w.app).await, before, "nothing of carol's is stored");
    let (_, carols) = w.app.get("/api/v1/communities/carols", None).await;
    assert_eq!(carols["error"], "not_found", "{carols}");
    let (s, body) = w
        .app
        .call(
            Method::DELETE,
            "/api/v1/admin/bans/carol",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    w.app.comment(&w.carol, w.post, None, "back").await;
    let log = modlog(&w.app, "").await;
    assert_eq!(actions(&log), ["unban_person", "ban_person"]);
    let carol_ap = format!("{}/u/carol", w.app.public_url);
    assert_eq!(
        log[1]["community"],
        Value::Null,
        "a site ban has no community"
    );
    assert_eq!(log[1]["target"], carol_ap);
    assert_eq!(log[1]["reason"], "abuse");
    assert_eq!(log[1]["moderator"], "root");
}

/// mallory's own instance bans her from it, with removeData: this node removes her content and
/// refuses everything she sends from then on. Another instance's ban of one of mallory's
/// neighbours is refused and changes nothing. Her instance lifts the ban, and she acts again.
#[tokio::test]
async fn a_site_ban_is_taken_from_the_persons_own_instance_only() {
    let w = world().await;
    let (s, body) = w.deliver(&w.reply(&w.mallory, "1")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let note = format!("{}/notes/1", w.host.base);
    let root = w.host.person("root");
    let site = format!("{}/", w.host.base);
    let block = json!({"id": w.id("block"), "type": "Block", "actor": root,
        "object": w.mallory, "target": site, "summary": "spam", "removeData": true,
        "to": [PUBLIC]});

    // Another instance bans mallory from *its* site: not this node's concern.
    let other = StandIn::start().await;
    let stranger = other.person("admin");
    let foreign = json!({"id": format!("{}/activities/block", other.base), "type": "Block",
        "actor": stranger, "object": w.mallory, "target": format!("{}/", other.base),
        "removeData": true, "to": [PUBLIC]});
    let before = tally(&w.app).await;
    let (s, body) = other
        .deliver(&format!("{}/inbox", w.app.base_url), &foreign)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("about its own people"), "{body}");
    assert_eq!(
        tally(&w.app).await,
        before,
        "a foreign site ban changes nothing"
    );

    let (s, body) = w.deliver(&block).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(removed(&w.app, &note).await, Some(true));
    let log = modlog(&w.app, "").await;
    assert_eq!(actions(&log), ["remove_comment", "ban_person"]);
    assert_eq!(log[1]["community"], Value::Null);
    assert_eq!(log[1]["target"], w.mallory);
    assert_eq!(log[1]["local"], false);
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM site_ban")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let comments = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM comment")
                .fetch_one(&db)
                .await
                .unwrap();
            n
        }
    };
    let stored = comments(&w.app).await;
    let (s, body) = w.deliver(&w.reply(&w.mallory, "2")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("banned"), "{body}");
    let (s, body) = w.deliver(&w.like(&w.mallory, "3")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    // Every other kind too (a Follow here), once the process has reloaded its policy.
    eventually("the node's policy has the ban", || async {
        w.app.fed.governance.site_banned(&w.mallory).then_some(())
    })
    .await;
    let follow = json!({"id": w.id("follow"), "type": "Follow", "actor": w.mallory,
                        "object": w.home});
    let (s, body) = w.deliver(&follow).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("banned from this node"), "{body}");
    assert_eq!(comments(&w.app).await, stored);
    let (follows,): (i64,) = sqlx::query_as("SELECT count(*) FROM community_follow")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(follows, 1, "only alice follows her community");

    let undo = json!({"id": w.id("undo"), "type": "Undo", "actor": root, "object": block,
                      "to": [PUBLIC]});
    let (s, body) = w.deliver(&undo).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let w = &w;
    let mut n = 10;
    eventually("the inbox takes mallory's activities again", || {
        n += 1;
        let reply = w.reply(&w.mallory, &n.to_string());
        async move {
            let (s, _) = w.deliver(&reply).await;
            (s == StatusCode::ACCEPTED).then_some(())
        }
    })
    .await;
}

/// Every ban endpoint refuses who may not use it (403), unknown communities and people (404),
/// and an unban of someone not banned (409), with nothing changed.
#[tokio::test]
async fn ban_endpoints_refuse_non_moderators_and_unknown_targets() {
    let w = world().await;
    let before = tally(&w.app).await;
    let no_one = "nobody";
    for (method, path, token, body, status) in [
        // carol moderates nothing.
        (
            Method::POST,
            "/api/v1/communities/home/bans",
            &w.carol,
            Some(json!({"person": "alice"})),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/api/v1/communities/home/bans",
            &w.carol,
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::DELETE,
            "/api/v1/communities/home/bans/alice",
            &w.carol,
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/api/v1/admin/bans",
            &w.carol,
            Some(json!({"person": "alice"})),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/api/v1/admin/bans",
            &w.carol,
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::DELETE,
            "/api/v1/admin/bans/alice",
            &w.carol,
            None,
            StatusCode::FORBIDDEN,
        ),
        // Unknown community, unknown person.
        (
            Method::POST,
            "/api/v1/communities/nowhere/bans",
            &w.alice,
            Some(json!({"person": "carol"})),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/api/v1/communities/nowhere/bans",
            &w.alice,
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/api/v1/communities/home/bans",
            &w.alice,
            Some(json!({"person": no_one})),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/api/v1/communities/home/bans/nobody",
            &w.alice,
            None,
            StatusCode::NOT_FOUND,
        ),
        // Not banned; banning oneself.
        (
            Method::DELETE,
            "/api/v1/communities/home/bans/carol",
            &w.alice,
            None,
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/api/v1/communities/home/bans",
            &w.alice,
            Some(json!({"person": "alice"})),
            StatusCode::BAD_REQUEST,
        ),
        // Personal blocks of what does not exist.
        (
            Method::PUT,
            "/api/v1/me/blocks/people/nobody",
            &w.carol,
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PUT,
            "/api/v1/me/blocks/communities/nowhere",
            &w.carol,
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/api/v1/me/blocks/people/alice",
            &w.carol,
            None,
            StatusCode::CONFLICT,
        ),
    ] {
        let (s, b) = w
            .app
            .call(method.clone(), path, Some(token), body.as_ref())
            .await;
        assert_eq!(s, status, "{method} {path}: {b}");
    }
    let admin = w.app.admin("root").await;
    // A community's moderator does not ban the node's admins.
    let (s, b) = w.ban(&w.alice, "root", json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let before_admin = tally(&w.app).await;
    for (method, path, body, status) in [
        (
            Method::POST,
            "/api/v1/admin/bans",
            Some(json!({"person": "nobody"})),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/api/v1/admin/bans/nobody",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/api/v1/admin/bans/carol",
            None,
            StatusCode::CONFLICT,
        ),
    ] {
        let (s, b) = w
            .app
            .call(method.clone(), path, Some(&admin), body.as_ref())
            .await;
        assert_eq!(s, status, "{method} {path}: {b}");
    }
    let (s, _) = w.app.get("/api/v1/me/blocks", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(before[..], before_admin[..before.len()]);
    assert_eq!(tally(&w.app).await, before_admin, "nothing changed");
}

/// alice blocks dave and the community "noise": dave's post leaves her post list, his comment
/// without replies leaves her tree, his comment with a reply stays as a blanked placeholder
/// (with the reply), and "noise" leaves her community list. carol's content, and what everyone
/// else sees, does not change. Unblocked, everything is back.
#[tokio::test]
async fn personal_blocks_hide_exactly_what_was_blocked() {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let carol_post = app.community_with_post(&carol, "main").await;
    app.community_with_post(&carol, "noise").await;
    let (_, main) = app.get("/api/v1/communities/main", None).await;
    let (_, dave_post) = app
        .post(
            "/api/v1/posts",
            Some(&dave),
            json!({"community_id": main["id"], "title": "dave's"}),
        )
        .await;
    let dave_post = dave_post["id"].as_i64().unwrap();
    let leaf = app.comment(&dave, carol_post, None, "dave alone").await;
    let parent = app.comment(&dave, carol_post, None, "dave asks").await;
    let reply = app
        .comment(&carol, carol_post, Some(parent), "carol answers")
        .await;
    let other = app.comment(&carol, carol_post, None, "carol says").await;

    let post_ids = |body: &Value| -> Vec<i64> {
        body["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect()
    };
    let community_names = |body: &Value| -> Vec<String> {
        body["communities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    /// Top-level comments of a tree: (id, blocked, content, reply ids).
    fn top(body: &Value) -> Vec<(i64, bool, String, Vec<i64>)> {
        body["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["id"].as_i64().unwrap(),
                    n["blocked"].as_bool().unwrap(),
                    n["content"].as_str().unwrap().to_string(),
                    n["replies"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r["id"].as_i64().unwrap())
                        .collect(),
                )
            })
            .collect()
    }
    let view = |token: Option<String>| {
        let app = &app;
        async move {
            let t = token.as_deref();
            let (_, posts) = app.get("/api/v1/communities/main/posts?sort=new", t).await;
            let (_, tree) = app
                .get(&format!("/api/v1/posts/{carol_post}/comments?sort=old"), t)
                .await;
            let (_, communities) = app.get("/api/v1/communities?sort=name", t).await;
            (post_ids(&posts), top(&tree), community_names(&communities))
        }
    };
    let everything = view(None).await;
    assert_eq!(everything.0, [dave_post, carol_post]);
    assert_eq!(
        everything.1,
        [
            (leaf, false, "dave alone".to_string(), vec![]),
            (parent, false, "dave asks".to_string(), vec![reply]),
            (other, false, "carol says".to_string(), vec![]),
        ]
    );
    assert_eq!(everything.2, ["main", "noise"]);
    assert_eq!(view(Some(alice.clone())).await, everything);

    for path in [
        "/api/v1/me/blocks/people/dave",
        "/api/v1/me/blocks/communities/noise",
    ] {
        let (s, b) = app.call(Method::PUT, path, Some(&alice), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{path}: {b}");
    }
    let (s, blocks) = app.get("/api/v1/me/blocks", Some(&alice)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(blocks["people"][0]["handle"], "dave", "{blocks}");
    assert_eq!(blocks["communities"][0]["handle"], "noise", "{blocks}");

    let blocked = view(Some(alice.clone())).await;
    assert_eq!(blocked.0, [carol_post]);
    assert_eq!(
        blocked.1,
        [
            (parent, true, String::new(), vec![reply]),
            (other, false, "carol says".to_string(), vec![]),
        ]
    );
    assert_eq!(blocked.2, ["main"]);
    // Nobody else's view changes.
    assert_eq!(view(None).await, everything);
    assert_eq!(view(Some(carol.clone())).await, everything);

    for path in [
        "/api/v1/me/blocks/people/dave",
        "/api/v1/me/blocks/communities/noise",
    ] {
        let (s, b) = app.call(Method::DELETE, path, Some(&alice), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{path}: {b}");
    }
    assert_eq!(view(Some(alice)).await, everything);
}

/// alpha's admin bans alice, a local user of alpha, with `remove_data`: beta, which follows a
/// community of alpha, takes the ban from alice's own instance (site ban stored, her post there
/// removed); the unban reaches it too.
#[tokio::test]
async fn a_site_ban_of_a_local_user_reaches_the_instances_following_its_communities() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let root = alpha.admin("root").await;
    let alice = alpha.user("alice").await;
    let alice_ap = ap_id_of(&alpha, &alice).await;
    let bob = beta.user("bob").await;
    let alpha_post = alpha.community_with_post(&alice, "forest").await;
    let (_, p) = alpha
        .get(&format!("/api/v1/posts/{alpha_post}"), None)
        .await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    let (s, f) = beta
        .post(
            "/api/v1/communities/follow",
            Some(&bob),
            json!({"community": format!("forest@{}", authority(&alpha))}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    eventually("alpha accepts the follow", || async {
        let (_, c) = alpha.get("/api/v1/communities/forest", None).await;
        (c["subscriber_count"] == 2).then_some(())
    })
    .await;
    // beta stores alice's post when it fetches it, as a reader resolving it would.
    let (s, r) = beta
        .get(&format!("/api/v1/resolve?q={post_ap}"), Some(&bob))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(removed(&beta, &post_ap).await, Some(false));

    let site_banned = |app: &TestApp| {
        let db = app.db.clone();
        let who = alice_ap.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM site_ban b JOIN person p ON p.id = b.person_id
                 WHERE p.ap_id = $1",
            )
            .bind(who)
            .fetch_one(&db)
            .await
            .unwrap();
            n == 1
        }
    };
    let (s, ban) = alpha
        .post(
            "/api/v1/admin/bans",
            Some(&root),
            json!({"person": "alice", "reason": "abuse", "remove_data": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ban}");
    assert_eq!(removed(&alpha, &post_ap).await, Some(true));
    eventually("beta takes alpha's ban of its own user", || async {
        site_banned(&beta).await.then_some(())
    })
    .await;
    eventually("beta removes alice's post", || async {
        removed(&beta, &post_ap).await?.then_some(())
    })
    .await;

    let (s, body) = alpha
        .call(
            Method::DELETE,
            "/api/v1/admin/bans/alice",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    eventually("beta lifts the ban", || async {
        (!site_banned(&beta).await).then_some(())
    })
    .await;
    let log = modlog(&beta, "").await;
    assert_eq!(
        actions(&log),
        ["unban_person", "remove_post", "ban_person"],
        "{log:?}"
    );
    assert_eq!(log[2]["reason"], "abuse");
    assert_eq!(log[2]["community"], Value::Null);
}
