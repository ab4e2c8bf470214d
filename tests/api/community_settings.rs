//! Edits that federate: a post's edit (`Update(Page)`), and a community's settings (title,
//! description, posting restricted to moderators) changed by its moderators and sent as
//! `Update(Group)`; a posting restriction enforced locally and on received posts; forged or
//! embedded copies of a community never taken from anyone but its home.

use canopy_testkit::standin::StandIn;
use canopy_testkit::{eventually, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

fn authority(app: &TestApp) -> String {
    app.public_url.trim_start_matches("http://").to_string()
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, path, Some(token), Some(&body))
        .await
}

async fn post_row(app: &TestApp, ap_id: &str) -> Option<(String, Option<String>)> {
    sqlx::query_as("SELECT title, body FROM post WHERE ap_id = $1")
        .bind(ap_id)
        .fetch_optional(&app.db)
        .await
        .unwrap()
}

async fn modlog(app: &TestApp) -> Vec<(String, bool)> {
    let (s, log) = app.get("/api/v1/modlog", None).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["local"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&app.db).await.unwrap();
    n
}

/// `token`'s user on `app` follows the remote community `handle`; returns once the follow is
/// accepted (activities a community announces reach accepted followers only).
async fn follow_and_wait(app: &TestApp, token: &str, handle: &str) {
    let (s, f) = app
        .post(
            "/api/v1/communities/follow",
            Some(token),
            json!({"community": handle}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    eventually("the follow is accepted", || async {
        (count(
            app,
            "SELECT count(*) FROM community_follow WHERE NOT pending",
        )
        .await
            == 1)
            .then_some(())
    })
    .await;
}

/// alpha hosts "forest", bob on beta follows it. alice edits her post and the community's
/// settings; beta converges on both and logs the received change. With posting restricted to
/// moderators, bob may no longer start a post there (refused on beta already), may still comment,
/// and a post sent straight to alpha by a stranger is refused; alice still posts.
#[tokio::test]
async fn post_edits_and_community_settings_federate_and_the_posting_restriction_holds() {
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
    let handle = format!("forest@{}", authority(&alpha));
    follow_and_wait(&beta, &bob, &handle).await;

    let (_, post) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": forest["id"], "title": "Trees", "body": "oak"}),
        )
        .await;
    let post_ap = post["ap_id"].as_str().unwrap().to_string();
    eventually("beta has the post", || post_row(&beta, &post_ap)).await;

    // A post's edit federates.
    let (s, edited) = patch(
        &alpha,
        &format!("/api/v1/posts/{}", post["id"]),
        &alice,
        json!({"title": "Old trees", "body": "oak and *beech*"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    eventually("beta has the edit", || async {
        post_row(&beta, &post_ap).await.filter(|(title, body)| {
            title == "Old trees" && body.as_deref() == Some("oak and *beech*")
        })
    })
    .await;

    // bob is no moderator: he may not change the settings (on alpha he is unknown; on beta the
    // community is remote).
    let (s, refused) = patch(
        &beta,
        &format!("/api/v1/communities/{handle}"),
        &bob,
        json!({"title": "Bob's"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{refused}");

    let (s, changed) = patch(
        &alpha,
        "/api/v1/communities/forest",
        &alice,
        json!({"title": "Old Forest", "description": "Trees *only*",
               "posting_restricted_to_mods": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(changed["title"], "Old Forest");
    assert_eq!(changed["posting_restricted_to_mods"], true);
    assert_eq!(modlog(&alpha).await[0], ("update_community".into(), true));
    // Served in the Group.
    let group: Value = reqwest::Client::new()
        .get(format!("{}/c/forest", alpha.base_url))
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(group["postingRestrictedToMods"], true);
    assert_eq!(group["name"], "Old Forest");

    let seen = eventually("beta has the new settings", || async {
        let (_, c) = beta
            .get(&format!("/api/v1/communities/{handle}"), None)
            .await;
        (c["title"] == "Old Forest").then_some(c)
    })
    .await;
    assert_eq!(seen["description"], "Trees *only*");
    assert_eq!(seen["posting_restricted_to_mods"], true);
    // Read from alpha first, then logged as a received moderator's action.
    eventually("beta logs the change", || async {
        (modlog(&beta).await.first() == Some(&("update_community".into(), false))).then_some(())
    })
    .await;

    // Restricted: bob may not start a post, nor may a stranger sending one straight to alpha.
    let posts_before = count(&alpha, "SELECT count(*) FROM post").await;
    let (s, refused) = beta
        .post(
            "/api/v1/posts",
            Some(&bob),
            json!({"community_id": seen["id"], "title": "Mine"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{refused}");
    let stranger_host = StandIn::start().await;
    let stranger = stranger_host.person("stranger");
    let page = json!({
        "id": format!("{}/posts/1", stranger_host.base), "type": "Page",
        "attributedTo": stranger, "name": "Uninvited", "content": "hello",
        "to": [PUBLIC], "cc": [forest["ap_id"]], "audience": forest["ap_id"],
    });
    let (s, body) = stranger_host
        .deliver(
            &format!("{}/inbox", alpha.base_url),
            &json!({"id": format!("{}/activities/c1", stranger_host.base), "type": "Create",
                    "actor": stranger, "object": page, "to": [PUBLIC], "cc": [forest["ap_id"]]}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("only its moderators may"), "{body}");
    assert_eq!(
        count(&alpha, "SELECT count(*) FROM post").await,
        posts_before
    );

    // Comments stay open to everyone; moderators still post.
    let beta_post: (i64,) = sqlx::query_as("SELECT id FROM post WHERE ap_id = $1")
        .bind(&post_ap)
        .fetch_one(&beta.db)
        .await
        .unwrap();
    beta.comment(&bob, beta_post.0, None, "nice trees").await;
    let (s, p) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": forest["id"], "title": "Rules"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
}

/// A community's settings come from its home only. On alpha (the home), an Update of the Group
/// from someone who does not moderate it is refused. On beta, an Update of alpha's community from
/// someone alpha lists as a moderator makes beta read the community again from alpha: the title
/// and key the sender embedded are not taken. The endpoint refuses unknown communities (404),
/// non-moderators (403) and remote communities (409), with nothing changed.
#[tokio::test]
async fn community_updates_are_taken_from_moderators_and_read_from_the_home() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let carol = alpha.user("carol").await;
    let bob = beta.user("bob").await;
    let (_, forest) = alpha
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "forest", "title": "Forest"}),
        )
        .await;
    let forest_ap = forest["ap_id"].as_str().unwrap().to_string();
    let handle = format!("forest@{}", authority(&alpha));
    let host = StandIn::start().await;
    let mallory = host.person("mallory");

    // The endpoint's refusals.
    let edit = json!({"title": "Taken"});
    let (s, _) = patch(&alpha, "/api/v1/communities/nowhere", &alice, edit.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = patch(&alpha, "/api/v1/communities/forest", &carol, edit.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = patch(
        &alpha,
        "/api/v1/communities/forest",
        &alice,
        json!({"title": "  "}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, c) = alpha.get("/api/v1/communities/forest", None).await;
    assert_eq!(c["title"], "Forest");

    // mallory moderates nothing on alpha.
    let forged_group = |title: &str| {
        json!({"id": forest_ap, "type": "Group", "preferredUsername": "forest", "name": title,
               "inbox": format!("{forest_ap}/inbox"),
               "publicKey": {"id": format!("{forest_ap}#main-key"), "owner": forest_ap,
                             "publicKeyPem": host.public_key_pem()}})
    };
    let update = |n: &str, title: &str| {
        json!({"id": format!("{}/activities/{n}", host.base), "type": "Update",
               "actor": mallory, "object": forged_group(title),
               "to": [PUBLIC], "cc": [forest_ap]})
    };
    let (s, body) = host
        .deliver(
            &format!("{}/inbox", alpha.base_url),
            &update("u1", "Hijacked"),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("is not a moderator of"), "{body}");
    let (_, c) = alpha.get("/api/v1/communities/forest", None).await;
    assert_eq!(c["title"], "Forest");

    // beta knows the community; mallory, not a moderator, is refused there too.
    follow_and_wait(&beta, &bob, &handle).await;
    // An admin of beta may moderate there, but a remote community's settings are its home's.
    sqlx::query(
        "UPDATE local_user SET is_admin = true
         WHERE person_id = (SELECT id FROM person WHERE local AND name = 'bob')",
    )
    .execute(&beta.db)
    .await
    .unwrap();
    let (s, body) = patch(
        &beta,
        &format!("/api/v1/communities/{handle}"),
        &bob,
        edit.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let beta_inbox = format!("{}/inbox", beta.base_url);
    let (s, body) = host.deliver(&beta_inbox, &update("u2", "Hijacked")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let key = |app: &TestApp| {
        let db = app.db.clone();
        let ap = forest_ap.clone();
        async move {
            let (t, k): (String, String) =
                sqlx::query_as("SELECT title, public_key_pem FROM community WHERE ap_id = $1")
                    .bind(ap)
                    .fetch_one(&db)
                    .await
                    .unwrap();
            (t, k)
        }
    };
    let (title, real_key) = key(&beta).await;
    assert_eq!(title, "Forest");

    // alice makes mallory a moderator; beta learns it from the community.
    let (s, r) = alpha
        .get(&format!("/api/v1/resolve?q={mallory}"), Some(&alice))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, m) = alpha
        .post(
            "/api/v1/communities/forest/moderators",
            Some(&alice),
            json!({"person": format!("mallory@{}", host.authority())}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    eventually("beta lists mallory as a moderator", || async {
        let (_, m) = beta
            .get(&format!("/api/v1/communities/{handle}/moderators"), None)
            .await;
        m["moderators"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == mallory.as_str())
            .then_some(())
    })
    .await;
    // Meanwhile alice renames it on alpha.
    let (s, _) = patch(
        &alpha,
        "/api/v1/communities/forest",
        &alice,
        json!({"title": "Real Forest"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // mallory's Update to beta is taken as a moderator's, but beta reads alpha's document.
    let (s, body) = host.deliver(&beta_inbox, &update("u3", "Hijacked")).await;
    assert!(s.is_success(), "{s} {body}");
    let (title, key_now) = key(&beta).await;
    assert_eq!(
        title, "Real Forest",
        "the title is alpha's, not mallory's copy"
    );
    assert_eq!(key_now, real_key, "mallory's key is not taken");
}

/// A remote community's featured posts are read from its featured collection whenever the node
/// reads the community: exactly the listed posts stored here are featured, others are not.
#[tokio::test]
async fn a_remote_communitys_featured_collection_is_read_with_the_community() {
    let app = TestApp::spawn_without_worker().await;
    let home = StandIn::start().await;
    let author = home.person("author");
    let group = home.group("harbour");
    let featured_url = format!("{group}/featured");
    let serve_group = |featured: &[&str]| {
        let mut doc = home.get("/c/harbour").unwrap();
        doc["featured"] = json!(featured_url);
        home.put("/c/harbour", doc);
        home.put(
            "/c/harbour/featured",
            json!({"id": featured_url, "type": "OrderedCollection",
                   "totalItems": featured.len(), "orderedItems": featured}),
        );
    };
    let page = |n: u32| {
        let id = format!("{}/posts/{n}", home.base);
        home.put(
            &format!("/posts/{n}"),
            json!({"id": id, "type": "Page", "attributedTo": author, "name": format!("post {n}"),
                   "content": "hello", "to": [PUBLIC, group], "audience": group}),
        );
        id
    };
    let (p1, p2) = (page(1), page(2));
    serve_group(&[]);
    for q in [&group, &p1, &p2] {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/resolve", app.base_url),
            &[("q", q.as_str())],
        )
        .unwrap();
        let r = app.client.get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{q}");
    }
    let featured = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT ap_id FROM post WHERE featured ORDER BY ap_id")
                    .fetch_all(&db)
                    .await
                    .unwrap();
            rows.into_iter().map(|(a,)| a).collect::<Vec<_>>()
        }
    };
    assert!(featured(&app).await.is_empty());

    // The community updates itself; the node reads it again, featured collection included.
    let update = |n: u32| {
        json!({"id": format!("{}/activities/update-{n}", home.base), "type": "Update",
               "actor": group, "object": home.get("/c/harbour").unwrap(), "to": [PUBLIC]})
    };
    let inbox = format!("{}/inbox", app.base_url);
    serve_group(&[&p1]);
    let (s, body) = home.deliver(&inbox, &update(1)).await;
    assert!(s.is_success(), "{s} {body}");
    assert_eq!(featured(&app).await, vec![p1]);
    serve_group(&[&p2, "https://elsewhere.example/posts/never-stored"]);
    let (s, body) = home.deliver(&inbox, &update(2)).await;
    assert!(s.is_success(), "{s} {body}");
    assert_eq!(featured(&app).await, vec![p2]);
}
