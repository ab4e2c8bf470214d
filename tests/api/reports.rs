//! Reports: a user reports a post or comment, its community's moderators (and admins) list and
//! resolve them, between two Canopy nodes in both directions (`Flag` there, `Resolve` back),
//! and everyone else is refused with nothing changed. The captured Lemmy, Mastodon and Mbin
//! fixtures are driven through the inbox in `interop.rs`.

use canopy_testkit::standin::StandIn;
use canopy_testkit::{eventually, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

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

/// Rows reports and their handling change, to show that a refused request changed none.
async fn tally(app: &TestApp) -> Vec<i64> {
    let mut out = vec![];
    for sql in [
        "SELECT count(*) FROM report",
        "SELECT count(*) FROM report WHERE resolved",
        "SELECT count(*) FROM mod_log",
        "SELECT count(*) FROM outbox_activity",
        "SELECT coalesce(sum(length(reason)), 0)::bigint FROM report",
    ] {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&app.db).await.unwrap();
        out.push(n);
    }
    out
}

async fn reports(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    app.get(&format!("/api/v1/reports{query}"), Some(token))
        .await
}

async fn modlog_actions(app: &TestApp) -> Vec<String> {
    let (s, log) = app.get("/api/v1/modlog", None).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

async fn make_admin(app: &TestApp, name: &str) {
    sqlx::query(
        "UPDATE local_user SET is_admin = true
         WHERE person_id = (SELECT id FROM person WHERE name = $1 AND local)",
    )
    .bind(name)
    .execute(&app.db)
    .await
    .unwrap();
}

/// alpha hosts "forest" (alice moderates it); carol on beta reports alice's post there. The
/// report reaches alpha as a `Flag`, alpha's moderator lists and resolves it, and the `Resolve`
/// she sends back resolves carol's copy on beta. dave, who moderates nothing, can neither list
/// nor resolve it.
#[tokio::test]
async fn a_report_from_another_node_reaches_the_communitys_moderators_who_resolve_it() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let dave = alpha.user("dave").await;
    let carol = beta.user("carol").await;
    let alice_ap = ap_id_of(&alpha, &alice).await;
    let carol_ap = ap_id_of(&beta, &carol).await;
    let (s, forest) = alpha
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "forest", "title": "Forest"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{forest}");
    let (s, post) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": forest["id"], "title": "Trees"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{post}");
    let post_ap = post["ap_id"].as_str().unwrap().to_string();
    let alpha_post = post["id"].as_i64().unwrap();

    // beta learns the community (with its moderators) and the post by resolving them.
    let forest_ap = format!("{}/c/forest", alpha.public_url);
    for url in [&forest_ap, &post_ap] {
        let (s, found) = beta
            .get(
                &format!("/api/v1/resolve?q={}", urlencode(url)),
                Some(&carol),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{found}");
    }
    let beta_post = local_id(&beta, "post", &post_ap).await.unwrap();

    let (s, mine) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/report"),
            Some(&carol),
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["state"], "open");
    assert_eq!(mine["local"], true);
    assert_eq!(mine["community"], format!("forest@{}", authority(&alpha)));
    assert_eq!(mine["object_ap_id"], post_ap);
    assert_eq!(mine["person_ap_id"], alice_ap);

    let (s, list) = eventually("alpha receives the report", || async {
        let (s, list) = reports(&alpha, &alice, "").await;
        (list["reports"].as_array()?.len() == 1).then_some((s, list))
    })
    .await;
    assert_eq!(s, StatusCode::OK);
    let got = &list["reports"][0];
    assert_eq!(got["reporter"], format!("carol@{}", authority(&beta)));
    assert_eq!(got["reporter_ap_id"], carol_ap);
    assert_eq!(got["reason"], "spam");
    assert_eq!(got["local"], false);
    assert_eq!(got["post_id"], alpha_post);
    assert_eq!(got["community"], "forest");
    let report = got["id"].as_i64().unwrap();

    // Reporting again while the report is open updates its reason, here and there.
    let (s, again) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/report"),
            Some(&carol),
            json!({"reason": "spam, and a scam"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["id"], mine["id"]);
    eventually("alpha updates the reason", || async {
        let (_, list) = reports(&alpha, &alice, "?community=forest").await;
        (list["reports"][0]["reason"] == "spam, and a scam").then_some(())
    })
    .await;
    let (_, list) = reports(&alpha, &alice, "").await;
    assert_eq!(list["reports"].as_array().unwrap().len(), 1, "{list}");

    // dave moderates nothing: no list, no resolving, nothing changed.
    let before = tally(&alpha).await;
    for query in ["", "?community=forest", "?state=all"] {
        let (s, body) = reports(&alpha, &dave, query).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{query}: {body}");
    }
    for action in ["resolve", "reopen"] {
        let (s, body) = alpha
            .post(
                &format!("/api/v1/reports/{report}/{action}"),
                Some(&dave),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{action}: {body}");
    }
    let (s, _) = reports(&alpha, &alice, "?community=nowhere").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = alpha
        .post("/api/v1/reports/987654/resolve", Some(&alice), json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = alpha.get("/api/v1/reports", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        tally(&alpha).await,
        before,
        "refused requests change nothing"
    );

    // alice resolves it: logged, listed as resolved, and answered to beta.
    let (s, done) = alpha
        .post(
            &format!("/api/v1/reports/{report}/resolve"),
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "resolved");
    assert_eq!(done["resolved_by"], alice_ap);
    let (s, _) = alpha
        .post(
            &format!("/api/v1/reports/{report}/resolve"),
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, open) = reports(&alpha, &alice, "").await;
    assert_eq!(open["reports"].as_array().unwrap().len(), 0, "{open}");
    let (_, resolved) = reports(&alpha, &alice, "?state=resolved").await;
    assert_eq!(resolved["reports"][0]["id"], report);
    assert_eq!(modlog_actions(&alpha).await[0], "resolve_report");
    let (_, log) = alpha.get("/api/v1/modlog", None).await;
    assert_eq!(log["entries"][0]["post_id"], alpha_post);
    assert_eq!(
        log["entries"][0]["target"],
        Value::Null,
        "the public log does not name the reporter"
    );

    eventually("beta's copy of the report is resolved", || async {
        let (resolved,): (bool,) = sqlx::query_as("SELECT resolved FROM report")
            .fetch_one(&beta.db)
            .await
            .unwrap();
        resolved.then_some(())
    })
    .await;
    let beta_log = modlog_actions(&beta).await;
    assert_eq!(beta_log, vec!["resolve_report"]);

    // Reopened, and resolved again.
    let (s, reopened) = alpha
        .post(
            &format!("/api/v1/reports/{report}/reopen"),
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{reopened}");
    assert_eq!(reopened["state"], "open");
    assert_eq!(reopened["resolved_by"], Value::Null);
    assert_eq!(modlog_actions(&alpha).await[0], "reopen_report");
}

/// carol, on beta, moderates alpha's "forest" (alpha lists her). fred, on beta, reports a post
/// there: carol sees the report on beta, resolves it there, and the `Resolve` goes to the
/// community, whose home resolves its copy. dave, on alpha, reports the post: the community
/// forwards the report to carol's server, and alice's resolution after it.
#[tokio::test]
async fn a_communitys_moderator_on_another_node_sees_and_resolves_its_reports_both_ways() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let carol = beta.user("carol").await;
    let fred = beta.user("fred").await;
    let carol_ap = ap_id_of(&beta, &carol).await;
    let (_, forest) = alpha
        .post(
            "/api/v1/communities",
            Some(&alice),
            json!({"name": "forest", "title": "Forest"}),
        )
        .await;
    let (_, post) = alpha
        .post(
            "/api/v1/posts",
            Some(&alice),
            json!({"community_id": forest["id"], "title": "Trees"}),
        )
        .await;
    let post_ap = post["ap_id"].as_str().unwrap().to_string();
    let (s, _) = alpha
        .get(&format!("/api/v1/resolve?q={}", urlencode(&carol_ap)), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, mods) = alpha
        .post(
            "/api/v1/communities/forest/moderators",
            Some(&alice),
            json!({"person": format!("carol@{}", authority(&beta))}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{mods}");
    let forest_ap = format!("{}/c/forest", alpha.public_url);
    for url in [&forest_ap, &post_ap] {
        let (s, found) = beta
            .get(&format!("/api/v1/resolve?q={}", urlencode(url)), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{found}");
    }
    let beta_post = local_id(&beta, "post", &post_ap).await.unwrap();
    let (s, r) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/report"),
            Some(&fred),
            json!({"reason": "misleading"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");

    let (s, seen) = reports(&beta, &carol, "").await;
    assert_eq!(s, StatusCode::OK, "{seen}");
    assert_eq!(seen["reports"][0]["id"], r["id"]);
    let alpha_report = eventually("alpha receives the report", || async {
        let (_, list) = reports(&alpha, &alice, "").await;
        list["reports"][0]["id"].as_i64()
    })
    .await;
    let (s, done) = beta
        .post(
            &format!("/api/v1/reports/{}/resolve", r["id"]),
            Some(&carol),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    eventually("alpha resolves its copy", || async {
        let (_, list) = reports(&alpha, &alice, "?state=resolved").await;
        (list["reports"][0]["id"].as_i64() == Some(alpha_report)).then_some(())
    })
    .await;
    let (_, list) = reports(&alpha, &alice, "?state=resolved").await;
    assert_eq!(list["reports"][0]["resolved_by"], carol_ap);
    let (_, log) = alpha.get("/api/v1/modlog", None).await;
    assert_eq!(log["entries"][0]["action"], "resolve_report");
    assert_eq!(log["entries"][0]["local"], false);

    // dave reports the post on alpha: the community forwards the report to carol's server,
    // where she sees it; alice resolves it on alpha and carol's copy follows.
    let dave = alpha.user("dave").await;
    let dave_ap = ap_id_of(&alpha, &dave).await;
    let (s, r) = alpha
        .post(
            &format!("/api/v1/posts/{}/report", post["id"]),
            Some(&dave),
            json!({"reason": "duplicate"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let forwarded = eventually("carol sees dave's report on beta", || async {
        let (_, list) = reports(&beta, &carol, "").await;
        let first = list["reports"].get(0)?.clone();
        (first["reporter_ap_id"] == dave_ap.as_str()).then_some(first)
    })
    .await;
    assert_eq!(forwarded["reason"], "duplicate");
    assert_eq!(forwarded["local"], false);
    let (s, done) = alpha
        .post(
            &format!("/api/v1/reports/{}/resolve", r["id"]),
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    eventually("carol's copy is resolved", || async {
        let (_, list) = reports(&beta, &carol, "").await;
        list["reports"].as_array()?.is_empty().then_some(())
    })
    .await;
    let (_, list) = reports(&beta, &carol, "?state=resolved").await;
    assert_eq!(list["reports"][0]["id"], forwarded["id"]);
    assert_eq!(
        list["reports"][0]["resolved_by"],
        ap_id_of(&alpha, &alice).await
    );
}

/// A local report about a local community's comment: seen by its moderator and by an admin who
/// moderates nothing, not by other users; nothing is sent anywhere.
#[tokio::test]
async fn moderators_and_admins_see_reports_of_local_content_and_others_do_not() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let erin = app.user("erin").await;
    let root = app.user("root").await;
    let post = app.community_with_post(&alice, "meadow").await;
    let other = app.community_with_post(&erin, "pond").await;
    let comment = app.comment(&alice, post, None, "a comment").await;
    let outbox_before = tally(&app).await[3];

    let (s, r) = app
        .post(
            &format!("/api/v1/comments/{comment}/report"),
            Some(&erin),
            json!({"reason": "  rude\nand loud  "}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["reason"], "rude\nand loud");
    assert_eq!(r["comment_id"], comment);
    assert_eq!(r["post_id"], post);
    let (s, r2) = app
        .post(
            &format!("/api/v1/posts/{other}/report"),
            Some(&alice),
            json!({"reason": "off topic"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r2}");
    assert_eq!(tally(&app).await[3], outbox_before, "nothing is sent");

    // alice moderates meadow only; erin moderates pond only; root moderates nothing.
    let (_, a) = reports(&app, &alice, "").await;
    let ids: Vec<&Value> = a["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, vec![&r["id"]], "{a}");
    let (s, _) = reports(&app, &alice, "?community=pond").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, e) = reports(&app, &erin, "").await;
    assert_eq!(e["reports"][0]["id"], r2["id"]);
    let (s, _) = reports(&app, &root, "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .post(
            &format!("/api/v1/reports/{}/resolve", r["id"]),
            Some(&erin),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    make_admin(&app, "root").await;
    let (s, all) = reports(&app, &root, "?limit=1").await;
    assert_eq!(s, StatusCode::OK, "{all}");
    assert_eq!(all["reports"][0]["id"], r2["id"], "newest first");
    let cursor = all["next_cursor"].as_str().unwrap();
    let (s, next) = reports(&app, &root, &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(s, StatusCode::OK, "{next}");
    assert_eq!(next["reports"][0]["id"], r["id"]);
    let (s, bad) = reports(&app, &root, &format!("?limit=1&state=all&cursor={cursor}")).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a cursor of another filter: {bad}"
    );
    let (s, done) = app
        .post(
            &format!("/api/v1/reports/{}/resolve", r["id"]),
            Some(&root),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(modlog_actions(&app).await, vec!["resolve_report"]);

    // Once resolved, erin may report the comment again: a new report. The old one cannot be
    // reopened beside it (one open report per reporter and item).
    let (s, again) = app
        .post(
            &format!("/api/v1/comments/{comment}/report"),
            Some(&erin),
            json!({"reason": "rude again"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_ne!(again["id"], r["id"]);
    let before = tally(&app).await;
    let (s, body) = app
        .post(
            &format!("/api/v1/reports/{}/reopen", r["id"]),
            Some(&root),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(tally(&app).await, before, "nothing changed");
}

/// Bad input is refused with nothing stored: unknown content 404, an empty, blank or oversized
/// reason 400, no token 401, deleted content 409, an unknown state 400.
#[tokio::test]
async fn bad_reports_are_refused_and_store_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "meadow").await;
    let before = tally(&app).await;
    let this = format!("/api/v1/posts/{post}/report");
    for (path, body, status) in [
        (
            "/api/v1/posts/987654/report",
            json!({"reason": "spam"}),
            404,
        ),
        (
            "/api/v1/comments/987654/report",
            json!({"reason": "spam"}),
            404,
        ),
        (this.as_str(), json!({"reason": ""}), 400),
        (this.as_str(), json!({"reason": " \n "}), 400),
        (this.as_str(), json!({"reason": "x".repeat(1001)}), 400),
        (this.as_str(), json!({"reason": "a\u{0}b"}), 400),
        (this.as_str(), json!({"reason": "spam", "extra": 1}), 422),
    ] {
        let (s, b) = app.post(path, Some(&alice), body.clone()).await;
        assert_eq!(s.as_u16(), status, "{path} {body}: {b}");
        assert!(b["error"].is_string(), "{b}");
    }
    let (s, _) = app
        .post(
            &format!("/api/v1/posts/{post}/report"),
            None,
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = reports(&app, &alice, "?state=closed").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/posts/{post}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .post(
            &format!("/api/v1/posts/{post}/report"),
            Some(&alice),
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(tally(&app).await, before, "nothing stored");
    // Someone banned from the community reports nothing there.
    let post2 = app.community_with_post(&alice, "pond").await;
    let erin = app.user("erin").await;
    let (s, ban) = app
        .post(
            "/api/v1/communities/pond/bans",
            Some(&alice),
            json!({"person": "erin"}),
        )
        .await;
    assert!(s.is_success(), "{ban}");
    let before = tally(&app).await;
    let (s, body) = app
        .post(
            &format!("/api/v1/posts/{post2}/report"),
            Some(&erin),
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(tally(&app).await, before, "nothing stored");
    // 1,000 characters is the limit, not over it.
    let post = post2;
    let (s, r) = app
        .post(
            &format!("/api/v1/posts/{post}/report"),
            Some(&alice),
            json!({"reason": "é".repeat(1000)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
}

/// A remote person sends many `Flag`s about one post: one open report, with the latest reason.
/// A remote community relays a report about content that is not its own, and a person who
/// moderates nothing resolves the report: both refused (403), nothing changed.
#[tokio::test]
async fn flooding_flags_keep_one_report_and_forged_relays_or_resolves_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "meadow").await;
    let (_, p) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = p["ap_id"].as_str().unwrap().to_string();
    let meadow = format!("{}/c/meadow", app.public_url);
    let inbox = format!("{}/inbox", app.base_url);
    let standin = StandIn::start().await;
    let spammer = standin.person("spammer");
    let flag = |n: usize| {
        json!({"id": format!("{}/flags/{n}", standin.base), "type": "Flag", "actor": spammer,
               "to": [meadow], "object": post_ap, "summary": format!("reason {n}")})
    };
    for n in 0..5 {
        let (status, body) = standin.deliver(&inbox, &flag(n)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (_, list) = reports(&app, &alice, "").await;
    let list = list["reports"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["reason"], "reason 4");

    let before = tally(&app).await;
    // A stand-in community relays a report about the local post, which is not its content.
    let elsewhere = standin.group("elsewhere");
    let mut inner = flag(9);
    inner["summary"] = json!("relayed");
    let announce = json!({"id": format!("{}/announces/1", standin.base), "type": "Announce",
                          "actor": elsewhere, "object": inner});
    let (status, body) = standin.deliver(&inbox, &announce).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.contains("relays only reports about its own content"),
        "{body}"
    );
    // The spammer resolves his own report: he moderates nothing here.
    let resolve = json!({"id": format!("{}/resolves/1", standin.base), "type": "Resolve",
                         "actor": spammer, "to": [meadow], "object": flag(4)});
    let (status, body) = standin.deliver(&inbox, &resolve).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("is not a moderator of"), "{body}");
    assert_eq!(tally(&app).await, before, "nothing changed");
    // Once banned from the community, the spammer's Flags are refused.
    let (s, ban) = app
        .post(
            "/api/v1/communities/meadow/bans",
            Some(&alice),
            json!({"person": format!("spammer@{}", standin.authority())}),
        )
        .await;
    assert!(s.is_success(), "{ban}");
    let before = tally(&app).await;
    let (status, body) = standin.deliver(&inbox, &flag(20)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("is banned from the community"), "{body}");
    assert_eq!(tally(&app).await, before, "nothing changed");
    let (_, list) = reports(&app, &alice, "").await;
    assert_eq!(list["reports"][0]["state"], "open");
    assert_eq!(list["reports"][0]["reason"], "reason 4");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
