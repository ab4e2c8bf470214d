//! Canopy against a real Fedify server (`tests/peers/fedify`, run with Node.js), standing in for
//! a Mastodon user. Fedify checks every HTTP signature it receives; for a request to a personal
//! inbox it fetches the sender's key with a loader that signs as the recipient, for the shared
//! inbox with a plain one. docs/INTEROP.md tells what that meant for Canopy's Accepts.

use canopy_testkit::fedify_peer::{FedifyPeer, PrivateAddresses};
use canopy_testkit::{fast_worker_config, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Generous: the peer runs in Node beside a loaded build machine.
const LIMIT: Duration = Duration::from_secs(60);

/// A request the peer refused, or a failure inside it.
fn refused(event: &Value) -> bool {
    matches!(
        event["event"].as_str(),
        Some("rejected" | "inbox_error" | "server_error" | "object_failed")
    )
}

/// A node with a quick worker and a local community `garden`; returns the owner's token and
/// the community as the API shows it.
async fn node_with_community() -> (TestApp, String, Value) {
    let app = TestApp::spawn_with_worker(Some(fast_worker_config())).await;
    let token = app.user("owner").await;
    let (status, community) = app
        .post(
            "/api/v1/communities",
            Some(&token),
            json!({"name": "garden", "title": "Garden"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{community}");
    (app, token, community)
}

#[tokio::test]
async fn a_fedify_user_follows_a_community_gets_a_verified_accept_and_then_its_posts() {
    let ((app, token, community), peer) = tokio::join!(
        node_with_community(),
        FedifyPeer::start("mastodon", PrivateAddresses::All)
    );
    let community_id = format!("{}/c/garden", app.public_url);

    // The Follow goes through Canopy's inbox; the Accept comes back to alice's personal inbox,
    // where Fedify fetches the community's key signed as alice.
    let follow = peer.follow(&community_id).await;
    let accepted = peer
        .wait_for(
            LIMIT,
            "the peer to take Canopy's Accept",
            |e| e["event"] == "accepted" && e["follow"] == follow.as_str(),
            refused,
        )
        .await;
    assert_eq!(accepted["by"], community_id.as_str());
    let accept = peer
        .events_of("received")
        .into_iter()
        .find(|e| e["type"] == "Accept")
        .unwrap();
    assert_eq!(accept["inbox"], "personal", "{accept}");
    assert_eq!(accept["recipient"], "alice");
    let deliveries = canopy_db::delivery::of_activity(&app.db, accept["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].inbox_url, format!("{}/inbox", peer.alice()));
    assert_eq!(deliveries[0].attempts, 1, "{deliveries:?}");
    let (followers,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM community_follow f JOIN person p ON p.id = f.person_id
         WHERE p.ap_id = $1",
    )
    .bind(peer.alice())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(followers, 1);

    // A new post reaches the follower's server and verifies there too; a Mastodon-like server
    // gets an Announce of the post at its shared inbox and fetches the post from Canopy.
    let (status, post) = app
        .post(
            "/api/v1/posts",
            Some(&token),
            json!({"community_id": community["id"], "title": "First bloom", "body": "hello"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let post_id = format!("{}/post/{}", app.public_url, post["id"]);
    let object = peer
        .wait_for(
            LIMIT,
            "the peer to take the post's Announce and fetch the post",
            |e| e["event"] == "object" && e["id"] == post_id.as_str(),
            refused,
        )
        .await;
    assert_eq!(object["type"], "Page", "{object}");
    let announce = peer
        .events_of("received")
        .into_iter()
        .find(|e| e["type"] == "Announce")
        .unwrap();
    assert_eq!(announce["actor"], community_id.as_str());
    assert_eq!(announce["inbox"], "shared", "{announce}");

    // Nothing was refused along the way, not even once before a retry got through.
    let refusals: Vec<Value> = peer.events().into_iter().filter(refused).collect();
    assert!(refusals.is_empty(), "{}", peer.transcript());
    peer.stop().await;
}

/// The set-up behind the report of unverifiable Accepts: a peer that may fetch documents from
/// loopback but not keys for its personal inboxes refuses every Accept there with 401, whatever
/// Canopy signs. Canopy retries the 401 a bounded number of times, then gives the delivery up,
/// and the instance still counts as reachable; the shared inbox keeps verifying.
#[tokio::test]
async fn a_peer_that_cannot_fetch_our_key_for_its_personal_inbox_gets_the_accept_four_times_then_none(
) {
    let ((app, token, community), peer) = tokio::join!(
        node_with_community(),
        FedifyPeer::start("mastodon", PrivateAddresses::UnsignedOnly)
    );
    let community_id = format!("{}/c/garden", app.public_url);
    let follow = peer.follow(&community_id).await;

    // The Follow is handled before the peer's POST is answered, so its Accept is queued by now.
    let (accept_id,): (String,) = sqlx::query_as(
        "SELECT ap_id FROM outbox_activity WHERE kind = 'Accept' AND payload->'object'->>'id' = $1",
    )
    .bind(&follow)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let deadline = Instant::now() + LIMIT;
    let delivery = loop {
        let rows = canopy_db::delivery::of_activity(&app.db, &accept_id)
            .await
            .unwrap();
        if rows.len() == 1 && rows[0].state != "pending" {
            break rows.into_iter().next().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the Accept's delivery is still pending: {rows:?}\n{}",
            peer.transcript()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(delivery.state, "failed", "{delivery:?}");
    assert_eq!(delivery.attempts, 4, "{delivery:?}");
    let error = delivery.last_error.clone().unwrap_or_default();
    assert!(
        error.starts_with("401") && error.contains("Failed to verify the request signature"),
        "{error}"
    );
    let rejected: Vec<Value> = peer
        .events_of("rejected")
        .into_iter()
        .filter(|e| e["path"] == "/users/alice/inbox")
        .collect();
    assert_eq!(rejected.len(), 4, "{}", peer.transcript());
    assert!(rejected.iter().all(|e| e["status"] == 401));
    assert!(peer.events_of("accepted").is_empty());
    let (state, failing): (String, bool) = sqlx::query_as(
        "SELECT delivery_state, failing_since IS NOT NULL FROM instance WHERE authority = $1",
    )
    .bind(peer.origin.trim_start_matches("http://"))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((state.as_str(), failing), ("ok", false));

    // The same peer's shared inbox fetches keys unsigned, so the community's posts verify.
    let (status, post) = app
        .post(
            "/api/v1/posts",
            Some(&token),
            json!({"community_id": community["id"], "title": "Still here", "body": "hello"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    let post_id = format!("{}/post/{}", app.public_url, post["id"]);
    peer.wait_for(
        LIMIT,
        "the post's Announce at the shared inbox",
        |e| e["event"] == "object" && e["id"] == post_id.as_str(),
        |e| refused(e) && e["path"] != "/users/alice/inbox",
    )
    .await;
    assert_eq!(peer.events_of("rejected").len(), 4, "{}", peer.transcript());
    peer.stop().await;
}
