//! Snapshots of the activities we emit to other servers, so that a change of the wire format
//! shows up as a diff. Hosts, activity uuids and times are normalised.

use canopy_testkit::TestApp;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn normalise(v: &Value, hosts: &[(&str, &str)]) -> Value {
    match v {
        Value::String(s) => {
            let mut s = s.clone();
            for (from, to) in hosts {
                s = s.replace(from, to);
            }
            if s.contains("/activities/") {
                if let Some(i) = s.rfind('/') {
                    s = format!("{}/[uuid]", &s[..i]);
                }
            }
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| normalise(x, hosts)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let x = if k == "published" || k == "updated" {
                        json!("[time]")
                    } else {
                        normalise(x, hosts)
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Payloads of `kind` activities; `Announce:Create` selects announces of a Create.
async fn outbox(app: &TestApp, kind: &str) -> Vec<Value> {
    let (kind, inner) = kind.split_once(':').unwrap_or((kind, ""));
    let rows: Vec<(Value,)> = sqlx::query_as(
        "SELECT payload FROM outbox_activity
         WHERE kind = $1 AND ($2 = '' OR payload->'object'->>'type' = $2) ORDER BY id",
    )
    .bind(kind)
    .bind(inner)
    .fetch_all(&app.db)
    .await
    .unwrap();
    rows.into_iter().map(|(v,)| v).collect()
}

async fn wait_for(app: &TestApp, kind: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = outbox(app, kind).await.into_iter().next() {
            return v;
        }
        assert!(Instant::now() < deadline, "no {kind} in the outbox");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn emitted_activities_keep_their_shape() {
    let alpha = TestApp::spawn().await;
    let beta = TestApp::spawn().await;
    let alice = alpha.user("alice").await;
    let bob = beta.user("bob").await;
    let post = alpha.community_with_post(&alice, "wire").await;
    // A follower on a third instance: the community relays beta's reply there (never back to beta).
    let gamma = canopy_testkit::standin::StandIn::start().await;
    alpha
        .remote_followers("wire", &[format!("{}/u/watcher/inbox", gamma.base)])
        .await;
    let handle = format!("wire@{}", alpha.public_url.trim_start_matches("http://"));
    let (s, f) = beta
        .post(
            "/api/v1/communities/follow",
            Some(&bob),
            json!({"community": handle}),
        )
        .await;
    assert_eq!(s, 200, "{f}");
    let follow = wait_for(&beta, "Follow").await;
    let accept = wait_for(&alpha, "Accept").await;
    // Wait for the accepted follow, then have bob reply and vote from beta.
    let deadline = Instant::now() + Duration::from_secs(30);
    let beta_post = loop {
        let (_, page) = beta
            .get(&format!("/api/v1/communities/{handle}/posts"), None)
            .await;
        let accepted: (i64,) =
            sqlx::query_as("SELECT count(*) FROM community_follow WHERE NOT pending")
                .fetch_one(&beta.db)
                .await
                .unwrap();
        if accepted.0 == 1 {
            // The post existed before the follow; resolve it by URL on beta.
            let (_, p) = alpha.get(&format!("/api/v1/posts/{post}"), None).await;
            let (s, r) = beta
                .get(
                    &format!("/api/v1/resolve?q={}", p["ap_id"].as_str().unwrap()),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{r} {page}");
            break r["post"]["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "follow not accepted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    beta.comment(&bob, beta_post, None, "a *reply*").await;
    let (s, _) = beta
        .post(
            &format!("/api/v1/posts/{beta_post}/vote"),
            Some(&bob),
            json!({"score": 1}),
        )
        .await;
    assert_eq!(s, 200);
    let create = wait_for(&beta, "Create").await;
    let like = wait_for(&beta, "Like").await;
    let announce = wait_for(&alpha, "Announce:Create").await;

    let hosts = [
        (alpha.public_url.as_str(), "https://alpha.example"),
        (beta.public_url.as_str(), "https://beta.example"),
    ];
    insta::assert_json_snapshot!("follow", normalise(&follow, &hosts));
    insta::assert_json_snapshot!("accept", normalise(&accept, &hosts));
    insta::assert_json_snapshot!("create_note", normalise(&create, &hosts));
    insta::assert_json_snapshot!("like", normalise(&like, &hosts));
    insta::assert_json_snapshot!("announce", normalise(&announce, &hosts));
}
