//! Remote actors' fields are checked before anything of them is stored: URLs on the actor's own
//! host and of a sane length, keys of a sane size; names and bios are cut to their caps.

use canopy_testkit::standin::StandIn;
use canopy_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn deliver_like(
    app: &TestApp,
    host: &StandIn,
    actor: &str,
    post_ap: &str,
) -> (StatusCode, String) {
    let like = json!({"id": format!("{actor}/likes/1"), "type": "Like", "actor": actor, "object": post_ap});
    host.deliver(&format!("{}/inbox", app.base_url), &like)
        .await
}

async fn stored(app: &TestApp, actor: &str) -> bool {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM person WHERE ap_id = $1")
        .bind(actor)
        .fetch_one(&app.db)
        .await
        .unwrap();
    n > 0
}

#[tokio::test]
async fn actors_with_foreign_or_unusable_urls_or_huge_keys_are_not_stored() {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let post_id = app.community_with_post(&alice, "home").await;
    let (_, post) = app.get(&format!("/api/v1/posts/{post_id}"), None).await;
    let post_ap = post["ap_id"].as_str().unwrap();
    let host = StandIn::start().await;
    let elsewhere = StandIn::start().await;

    type Spoil<'a> = Box<dyn Fn(&mut Value) + 'a>;
    let cases: Vec<(&str, Spoil, StatusCode)> = vec![
        (
            "inbox on another host",
            Box::new(|a: &mut Value| a["inbox"] = json!(format!("{}/inbox", elsewhere.base))),
            StatusCode::FORBIDDEN,
        ),
        (
            "shared inbox on another host",
            Box::new(|a: &mut Value| {
                a["endpoints"]["sharedInbox"] = json!(format!("{}/inbox", elsewhere.base))
            }),
            StatusCode::FORBIDDEN,
        ),
        (
            "inbox that is not http(s)",
            Box::new(|a: &mut Value| a["inbox"] = json!("javascript:alert(1)")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "inbox longer than any URL stored",
            Box::new(|a: &mut Value| {
                let id = a["id"].as_str().unwrap().to_string();
                a["inbox"] = json!(format!("{id}/{}", "x".repeat(3000)))
            }),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a 20 KiB key",
            Box::new(|a: &mut Value| {
                a["publicKey"]["publicKeyPem"] = json!(format!(
                    "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                    "A".repeat(20 * 1024)
                ))
            }),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a 500-character username",
            Box::new(|a: &mut Value| a["preferredUsername"] = json!("u".repeat(500))),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (n, (what, spoil, expected)) in cases.into_iter().enumerate() {
        let name = format!("bad{n}");
        let actor = host.person(&name);
        let mut doc = host.get(&format!("/users/{name}")).unwrap();
        spoil(&mut doc);
        host.put(&format!("/users/{name}"), doc);
        let (status, body) = deliver_like(&app, &host, &actor, post_ap).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(!stored(&app, &actor).await, "{what}: the actor was stored");
    }
    // No vote but alice's own upvote of her post.
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM post_vote v JOIN post p ON p.id = v.post_id
         WHERE v.person_id <> p.creator_id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn long_names_and_bios_are_cut_to_their_caps() {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let post_id = app.community_with_post(&alice, "home").await;
    let (_, post) = app.get(&format!("/api/v1/posts/{post_id}"), None).await;
    let host = StandIn::start().await;
    let actor = host.person("verbose");
    let mut doc = host.get("/users/verbose").unwrap();
    doc["name"] = json!("n".repeat(5000));
    doc["summary"] = json!(format!("<p>{}</p>", "é".repeat(100_000)));
    host.put("/users/verbose", doc);
    let (status, body) = deliver_like(&app, &host, &actor, post["ap_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (name, bio_html): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT display_name, bio_html FROM person WHERE ap_id = $1")
            .bind(&actor)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(name.unwrap().chars().count(), 200);
    let bio_html = bio_html.unwrap();
    assert!(bio_html.len() <= 20_100, "bio is {} bytes", bio_html.len());
    assert!(bio_html.ends_with("</p>"), "the cut HTML is closed again");
}
