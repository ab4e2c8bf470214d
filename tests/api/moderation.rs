//! Community moderation: the REST endpoints (who may act, what changes, the public log), the
//! federation of each action between Canopy nodes in both directions, and forged moderation
//! refused by the origin rules.

use canopy_testkit::standin::StandIn;
use canopy_testkit::{eventually, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

fn authority(app: &TestApp) -> String {
    app.public_url.trim_start_matches("http://").to_string()
}

async fn local_id(app: &TestApp, table: &str, ap_id: &str) -> Option<i64> {
    sqlx::query_as::<_, (i64,)>(&format!("SELECT id FROM {table} WHERE ap_id = $1"))
        .bind(ap_id)
        .fetch_optional(&app.db)
        .await
        .unwrap()
        .map(|(id,)| id)
}

/// `(removed, locked, deleted)` of the post or comment `ap_id` (locked is false for comments).
async fn state_of(app: &TestApp, ap_id: &str) -> Option<(bool, bool, bool)> {
    sqlx::query_as(
        "SELECT removed, locked, deleted FROM post WHERE ap_id = $1
         UNION ALL SELECT removed, false, deleted FROM comment WHERE ap_id = $1",
    )
    .bind(ap_id)
    .fetch_optional(&app.db)
    .await
    .unwrap()
}

/// Every row moderation can change, to show that a refused action changed none.
async fn tally(app: &TestApp) -> Vec<i64> {
    let mut out = vec![];
    for sql in [
        "SELECT count(*) FROM post WHERE removed",
        "SELECT count(*) FROM post WHERE locked",
        "SELECT count(*) FROM post WHERE featured",
        "SELECT count(*) FROM post WHERE deleted",
        "SELECT count(*) FROM comment WHERE removed",
        "SELECT count(*) FROM comment WHERE deleted",
        "SELECT count(*) FROM community_moderator",
        "SELECT count(*) FROM community_remote_moderator",
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

async fn moderators(app: &TestApp, community: &str) -> Vec<String> {
    let (s, m) = app
        .get(&format!("/api/v1/communities/{community}/moderators"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    m["moderators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

async fn ap_id_of(app: &TestApp, token: &str) -> String {
    let (_, me) = app.get("/api/v1/me", Some(token)).await;
    me["ap_id"].as_str().unwrap().to_string()
}

/// alpha hosts the community; bob on beta follows it. alice (its creator, so its moderator)
/// removes and restores bob's comment and makes bob a moderator; bob, from beta, locks, unlocks
/// and removes alice's post; alice takes bob's moderation back. Each node converges, and each
/// logs what it took and what it received.
#[tokio::test]
async fn moderation_federates_both_ways_between_two_nodes() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let bob = beta.user("bob").await;
    let alice_ap = ap_id_of(&alpha, &alice).await;
    let bob_ap = ap_id_of(&beta, &bob).await;
    let (s, forest) = alpha
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "forest", "title": "Forest"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{forest}");
    let handle = format!("forest@{}", authority(&alpha));
    assert_eq!(moderators(&alpha, "forest").await, vec![alice_ap.clone()]);

    let (s, f) = beta
        .post(
            "/api/v1/communities/follow",
            Some(&bob),
            json!({"community": handle}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    // beta read the community's moderators collection when it fetched the community.
    assert_eq!(moderators(&beta, &handle).await, vec![alice_ap.clone()]);
    eventually("the follow is accepted", || async {
        let (_, c) = alpha.get("/api/v1/communities/forest", None).await;
        (c["subscriber_count"] == 2).then_some(())
    })
    .await;
    eventually("beta sees the follow accepted", || async {
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM community_follow WHERE NOT pending")
                .fetch_one(&beta.db)
                .await
                .unwrap();
        (n == 1).then_some(())
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
    let alpha_post = post["id"].as_i64().unwrap();
    let beta_post = eventually("beta has the post", || local_id(&beta, "post", &post_ap)).await;
    let bob_comment = beta.comment(&bob, beta_post, None, "a comment").await;
    let (_, c) = beta
        .get(&format!("/api/v1/comments/{bob_comment}"), None)
        .await;
    let comment_ap = c["comment"]["ap_id"].as_str().unwrap().to_string();
    let alpha_comment = eventually("alpha has bob's comment", || {
        local_id(&alpha, "comment", &comment_ap)
    })
    .await;

    // The community's home removes bob's comment: beta converges and logs it.
    let (s, removed) = alpha
        .post(
            &format!("/api/v1/comments/{alpha_comment}/remove"),
            Some(&alice),
            json!({"reason": "off topic"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{removed}");
    assert_eq!(removed["removed"], true);
    eventually("beta removes the comment", || async {
        (state_of(&beta, &comment_ap).await? == (true, false, false)).then_some(())
    })
    .await;
    let log = modlog(&beta, &format!("?community={handle}")).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["action"], "remove_comment");
    assert_eq!(log[0]["moderator_ap_id"], alice_ap);
    assert_eq!(log[0]["reason"], "off topic");
    assert_eq!(log[0]["local"], false);
    assert_eq!(log[0]["comment_id"], bob_comment);

    let (s, _) = alpha
        .post(
            &format!("/api/v1/comments/{alpha_comment}/restore"),
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    eventually("beta restores the comment", || async {
        (state_of(&beta, &comment_ap).await? == (false, false, false)).then_some(())
    })
    .await;

    // bob deletes his own comment and takes the deletion back (Undo(Delete)); alpha follows.
    let (s, _) = beta
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{bob_comment}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    eventually("alpha deletes the comment", || async {
        (state_of(&alpha, &comment_ap).await? == (false, false, true)).then_some(())
    })
    .await;
    let (s, c) = beta
        .post(
            &format!("/api/v1/comments/{bob_comment}/restore"),
            Some(&bob),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    eventually("alpha restores bob's comment", || async {
        (state_of(&alpha, &comment_ap).await? == (false, false, false)).then_some(())
    })
    .await;

    // alice makes bob a moderator; beta learns it from the community's Announce(Add).
    let (s, mods) = alpha
        .post(
            "/api/v1/communities/forest/moderators",
            Some(&alice),
            json!({"person": format!("bob@{}", authority(&beta))}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{mods}");
    eventually("beta lists bob as a moderator", || async {
        moderators(&beta, &handle)
            .await
            .contains(&bob_ap)
            .then_some(())
    })
    .await;

    // bob, on beta, locks the post: beta locks it, sends Lock to the community, alpha converges.
    let (s, locked) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/lock"),
            Some(&bob),
            json!({"reason": "heated"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{locked}");
    assert_eq!(locked["locked"], true);
    eventually("alpha locks the post", || async {
        (state_of(&alpha, &post_ap).await? == (false, true, false)).then_some(())
    })
    .await;
    let log = modlog(&alpha, "?community=forest").await;
    assert_eq!(log[0]["action"], "lock_post");
    assert_eq!(log[0]["moderator"], format!("bob@{}", authority(&beta)));
    assert_eq!(log[0]["reason"], "heated");
    assert_eq!(log[0]["local"], false);
    // A locked post takes no new comment on either node.
    for (app, token, post) in [(&alpha, &alice, alpha_post), (&beta, &bob, beta_post)] {
        let (s, e) = app
            .post(
                "/api/v1/comments",
                Some(token),
                json!({"post_id": post, "content": "late"}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
        assert!(e["message"].as_str().unwrap().contains("locked"), "{e}");
    }

    let (s, _) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/unlock"),
            Some(&bob),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    eventually("alpha unlocks the post", || async {
        (state_of(&alpha, &post_ap).await? == (false, false, false)).then_some(())
    })
    .await;

    // alice features the post on alpha; bob unfeatures it from beta. Each converges.
    let (s, p) = alpha
        .post(
            &format!("/api/v1/posts/{alpha_post}/feature"),
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["featured"], true);
    let featured = alpha
        .client
        .get(format!("{}/c/forest/featured", alpha.base_url))
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(featured["orderedItems"][0]["id"], post_ap, "{featured}");
    assert_eq!(featured["orderedItems"][0]["type"], "Page");
    assert_eq!(
        featured["orderedItems"][0]["stickied"], true,
        "a featured Page says so (Lemmy's `stickied`)"
    );
    eventually("beta features the post", || async {
        let (_, p) = beta.get(&format!("/api/v1/posts/{beta_post}"), None).await;
        (p["featured"] == true).then_some(())
    })
    .await;
    let (s, _) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/unfeature"),
            Some(&bob),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    eventually("alpha unfeatures the post", || async {
        let (_, p) = alpha
            .get(&format!("/api/v1/posts/{alpha_post}"), None)
            .await;
        (p["featured"] == false).then_some(())
    })
    .await;

    // bob removes the post from beta; alpha converges.
    let (s, _) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/remove"),
            Some(&bob),
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    eventually("alpha removes the post", || async {
        (state_of(&alpha, &post_ap).await? == (true, false, false)).then_some(())
    })
    .await;
    let log = modlog(&alpha, &format!("?moderator=bob@{}", authority(&beta))).await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["remove_post", "unfeature_post", "unlock_post", "lock_post"]
    );

    // alice takes bob's moderation back; beta converges, and bob can no longer act from beta.
    let (s, mods) = alpha
        .call(
            Method::DELETE,
            "/api/v1/communities/forest/moderators",
            Some(&alice),
            Some(&json!({"person": format!("bob@{}", authority(&beta))})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{mods}");
    assert_eq!(mods["moderators"], json!([alice_ap]));
    eventually("beta no longer lists bob", || async {
        (!moderators(&beta, &handle).await.contains(&bob_ap)).then_some(())
    })
    .await;
    let (s, e) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/restore"),
            Some(&bob),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let actions: Vec<String> = modlog(&beta, "")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "remove_moderator",
            "remove_post",
            "unfeature_post",
            "feature_post",
            "unlock_post",
            "lock_post",
            "add_moderator",
            "restore_comment",
            "remove_comment"
        ]
    );
}

/// A node with alice's community, post and comment, and a hostile server with mallory (not a
/// moderator) and a community of its own.
struct World {
    app: TestApp,
    alice: String,
    evil_host: StandIn,
    mallory: String,
    evil: String,
    post_ap: String,
    comment_ap: String,
}

async fn world() -> World {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "home").await;
    let comment = app.comment(&alice, post, None, "a comment").await;
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    let (_, c) = app.get(&format!("/api/v1/comments/{comment}"), None).await;
    let evil_host = StandIn::start().await;
    let mallory = evil_host.person("mallory");
    let evil = evil_host.group("evil");
    World {
        app,
        alice,
        evil_host,
        mallory,
        evil,
        post_ap: p["ap_id"].as_str().unwrap().to_string(),
        comment_ap: c["comment"]["ap_id"].as_str().unwrap().to_string(),
    }
}

impl World {
    async fn deliver(&self, activity: &Value) -> (StatusCode, String) {
        self.evil_host
            .deliver(&format!("{}/inbox", self.app.base_url), activity)
            .await
    }

    fn id(&self, n: &str) -> String {
        format!("{}/activities/{n}", self.evil_host.base)
    }
}

#[track_caller]
fn assert_refused(status: StatusCode, body: &str, reason: &str, what: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    assert!(
        body.contains(reason),
        "{what}: {body} should say {reason:?}"
    );
}

/// mallory, who moderates nothing here, removes, locks and adds herself as a moderator: sent
/// directly, and relayed by her own community (not the content's). Each is refused with the rule
/// it broke and changes nothing; once alice makes her a moderator, the same activities act.
#[tokio::test]
async fn forged_moderation_by_a_non_moderator_is_refused_directly_and_relayed() {
    let w = world().await;
    let home = format!("{}/c/home", w.app.public_url);
    let before = tally(&w.app).await;
    let remove = |n: &str, object: &str| {
        json!({"id": w.id(n), "type": "Delete", "actor": w.mallory, "object": object,
               "summary": "gone", "to": [PUBLIC], "cc": [home]})
    };
    let lock = json!({"id": w.id("lock"), "type": "Lock", "actor": w.mallory,
                      "object": w.post_ap, "to": [PUBLIC], "cc": [home]});
    let add = json!({"id": w.id("add"), "type": "Add", "actor": w.mallory, "object": w.mallory,
                     "target": format!("{home}/moderators"), "to": [PUBLIC], "cc": [home]});
    let undo_delete = json!({"id": w.id("undo"), "type": "Undo", "actor": w.mallory,
        "object": remove("d3", &w.comment_ap)});
    for (what, activity) in [
        ("Delete with summary of the post", remove("d1", &w.post_ap)),
        (
            "Delete with summary of the comment",
            remove("d2", &w.comment_ap),
        ),
        ("Delete without summary of alice's comment", {
            let mut d = remove("d4", &w.comment_ap);
            d.as_object_mut().unwrap().remove("summary");
            d
        }),
        ("Undo(Delete) with summary", undo_delete.clone()),
        ("Lock", lock.clone()),
        ("Add to the moderators", add.clone()),
    ] {
        let (s, body) = w.deliver(&activity).await;
        assert_refused(s, &body, "is not a moderator of", what);
    }
    // Relayed by a community that is not the content's.
    for (n, inner) in [remove("r1", &w.post_ap), lock.clone(), add.clone()]
        .into_iter()
        .enumerate()
    {
        let announce = json!({"id": w.id(&format!("announce/{n}")), "type": "Announce",
            "actor": w.evil, "to": [PUBLIC], "object": inner});
        let (s, body) = w.deliver(&announce).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "relayed {n}: {body}");
    }
    assert_eq!(
        tally(&w.app).await,
        before,
        "refused moderation changes nothing"
    );
    assert_eq!(
        state_of(&w.app, &w.post_ap).await,
        Some((false, false, false))
    );

    // The genuine form: alice makes mallory a moderator; her Lock and removal now act.
    let handle = format!("mallory@{}", w.evil_host.authority());
    let (s, mods) = w
        .app
        .post(
            "/api/v1/communities/home/moderators",
            Some(&w.alice),
            json!({"person": handle}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{mods}");
    let (s, body) = w.deliver(&lock).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let (s, body) = w.deliver(&remove("d1", &w.comment_ap)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        state_of(&w.app, &w.post_ap).await,
        Some((false, true, false))
    );
    assert_eq!(
        state_of(&w.app, &w.comment_ap).await,
        Some((true, false, false))
    );
    // A reply from another server to the locked post is refused by the inbox.
    let replier = w.evil_host.person("replier");
    let reply = json!({"id": w.id("create/1"), "type": "Create", "actor": replier,
        "to": [PUBLIC], "cc": [home],
        "object": {"id": format!("{}/notes/1", w.evil_host.base), "type": "Note",
                   "attributedTo": replier, "inReplyTo": w.post_ap, "content": "late",
                   "to": [PUBLIC], "cc": [home]}});
    let (s, body) = w.deliver(&reply).await;
    assert_refused(
        s,
        &body,
        "reply to a locked post",
        "a reply to a locked post",
    );
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM comment")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(n, 1, "only alice's comment");
    let (s, body) = w.deliver(&undo_delete).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        state_of(&w.app, &w.comment_ap).await,
        Some((false, false, false))
    );
    let log = modlog(&w.app, &format!("?moderator={handle}")).await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["restore_comment", "remove_comment", "lock_post"]);
}

/// A remote person's Lock of a post in a remote community is acted on only when that
/// community's home lists them as a moderator, or when the community itself relays it.
#[tokio::test]
async fn a_remote_communitys_moderation_needs_its_listed_moderators_or_its_own_relay() {
    let app = TestApp::spawn_without_worker().await;
    let host = StandIn::start().await;
    let moderator = host.person("keeper");
    let mallory = host.person("mallory");
    let group = host.group("garden");
    let mut g = host.get("/c/garden").unwrap();
    g["attributedTo"] = json!(format!("{group}/moderators"));
    host.put("/c/garden", g);
    host.put(
        "/c/garden/moderators",
        json!({"id": format!("{group}/moderators"), "type": "OrderedCollection",
               "orderedItems": [moderator]}),
    );
    let page = format!("{}/post/1", host.base);
    host.put(
        "/post/1",
        json!({"id": page, "type": "Page", "attributedTo": mallory, "name": "a post",
               "to": [group, PUBLIC], "audience": group}),
    );
    // Resolving the community reads its moderators collection too.
    for url in [&group, &page] {
        let resp = app
            .client
            .get(format!("{}/api/v1/resolve", app.base_url))
            .query(&[("q", url)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "{}",
            resp.text().await.unwrap()
        );
    }
    let handle = format!("garden@{}", host.authority());
    assert_eq!(moderators(&app, &handle).await, vec![moderator.clone()]);

    let inbox = format!("{}/inbox", app.base_url);
    let lock = |actor: &str, n: u32| {
        json!({"id": format!("{}/activities/lock/{n}", host.base), "type": "Lock",
               "actor": actor, "object": page, "to": [PUBLIC], "cc": [group]})
    };
    let (s, body) = host.deliver(&inbox, &lock(&mallory, 1)).await;
    assert_refused(s, &body, "is not a moderator of", "mallory's Lock");
    assert_eq!(state_of(&app, &page).await, Some((false, false, false)));
    let (s, body) = host.deliver(&inbox, &lock(&moderator, 2)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(state_of(&app, &page).await, Some((false, true, false)));
    // The community relays an Undo(Lock) by one of its moderators: acted on.
    let undo = json!({"id": format!("{}/activities/undo/3", host.base), "type": "Undo",
        "actor": moderator, "object": lock(&moderator, 2)});
    let announce = json!({"id": format!("{}/activities/announce/4", host.base),
        "type": "Announce", "actor": group, "to": [PUBLIC], "object": undo});
    let (s, body) = host.deliver(&inbox, &announce).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(state_of(&app, &page).await, Some((false, false, false)));
}

/// Every moderation endpoint refuses a user who moderates nothing (403) and unknown targets
/// (404), changing nothing; admins may act; an author restores their own deletion; the log is
/// public, newest first, filtered and paged.
#[tokio::test]
async fn moderation_endpoints_refuse_non_moderators_and_unknown_targets() {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let post = app.community_with_post(&alice, "home").await;
    let comment = app.comment(&carol, post, None, "carol's comment").await;
    let before = tally(&app).await;
    for path in [
        format!("/api/v1/posts/{post}/remove"),
        format!("/api/v1/posts/{post}/restore"),
        format!("/api/v1/posts/{post}/lock"),
        format!("/api/v1/posts/{post}/unlock"),
        format!("/api/v1/posts/{post}/feature"),
        format!("/api/v1/posts/{post}/unfeature"),
        format!("/api/v1/comments/{comment}/remove"),
        format!("/api/v1/comments/{comment}/restore"),
    ] {
        let (s, e) = app.post(&path, Some(&carol), json!({"reason": "x"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {e}");
        let unknown = path
            .replace(&format!("/{post}/"), "/999999/")
            .replace(&format!("/{comment}/"), "/999999/");
        let (s, e) = app.post(&unknown, Some(&alice), json!({})).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{unknown}: {e}");
    }
    for method in [Method::POST, Method::DELETE] {
        let body = json!({"person": "carol"});
        let (s, e) = app
            .call(
                method.clone(),
                "/api/v1/communities/home/moderators",
                Some(&carol),
                Some(&body),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method}: {e}");
        let (s, e) = app
            .call(
                method.clone(),
                "/api/v1/communities/nowhere/moderators",
                Some(&alice),
                Some(&body),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method}: {e}");
        let (s, e) = app
            .call(
                method.clone(),
                "/api/v1/communities/home/moderators",
                Some(&alice),
                Some(&json!({"person": "nobody"})),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method}: {e}");
    }
    let (s, _) = app
        .post(
            &format!("/api/v1/posts/{post}/remove"),
            Some(&alice),
            json!({"reason": "r".repeat(1001)}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(tally(&app).await, before, "refused requests change nothing");

    // The community's moderator removes carol's comment; a removed comment is blanked.
    let (s, c) = app
        .post(
            &format!("/api/v1/comments/{comment}/remove"),
            Some(&alice),
            json!({"reason": "rude"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["removed"], true);
    let (s, _) = app
        .post(
            &format!("/api/v1/comments/{comment}/remove"),
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Its author cannot restore a removal.
    let (s, _) = app
        .post(
            &format!("/api/v1/comments/{comment}/restore"),
            Some(&carol),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // An admin who moderates nothing may act.
    sqlx::query(
        "UPDATE local_user SET is_admin = true
         WHERE person_id = (SELECT id FROM person WHERE name = 'dave')",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let (s, p) = app
        .post(
            &format!("/api/v1/posts/{post}/lock"),
            Some(&dave),
            json!({"reason": "cool down"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["locked"], true);
    let (s, _) = app
        .post(
            &format!("/api/v1/comments/{comment}/restore"),
            Some(&dave),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // carol deletes her own comment and restores it; the moderator cannot undo her deletion.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/comments/{comment}"),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .post(
            &format!("/api/v1/comments/{comment}/restore"),
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, c) = app
        .post(
            &format!("/api/v1/comments/{comment}/restore"),
            Some(&carol),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["deleted"], false);
    assert_eq!(c["content"], "carol's comment");

    // The log: newest first, filtered by moderator and community, a page at a time.
    let all = modlog(&app, "").await;
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["restore_comment", "lock_post", "remove_comment"]);
    assert_eq!(all[2]["moderator"], "alice");
    assert_eq!(all[2]["community"], "home");
    assert_eq!(all[2]["reason"], "rude");
    assert_eq!(all[2]["local"], true);
    assert_eq!(modlog(&app, "?moderator=dave").await.len(), 2);
    assert_eq!(modlog(&app, "?moderator=carol").await.len(), 0);
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?community=home&limit=1&cursor={c}"),
            None => "?community=home&limit=1".to_string(),
        };
        let (s, page) = app.get(&format!("/api/v1/modlog{q}"), None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        seen.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let ids: Vec<Value> = all.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(seen, ids);
    let (s, _) = app
        .get(
            &format!(
                "/api/v1/modlog?moderator=dave&cursor={}",
                cursor.unwrap_or_default()
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a cursor of another filter");
}
