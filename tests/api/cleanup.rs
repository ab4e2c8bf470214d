//! The scheduled cleanup: finished deliveries past their retention go, in batches; newer rows,
//! pending deliveries, activities with deliveries left and sent Follows stay; the success
//! counts the operators see do not change when delivered rows are deleted. Deliveries that keep
//! failing are given up after `give_up_after`; incoming activity ids are forgotten after
//! `keep_received` (never sooner than a signed request could be replayed); expired sessions go.

use axum::http::StatusCode;
use canopy_db::outbox::{self, NewActivity, Signer};
use canopy_testkit::standin::{send, StandIn};
use canopy_testkit::{fast_worker_config, TestApp};
use canopy_worker::cleanup::{self, CleanupConfig, Removed};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

const REMOTE: &str = "remote.example";

/// A node without a worker and a local person to sign with.
async fn node() -> (TestApp, canopy_core::PersonId, String) {
    let app = TestApp::spawn_without_worker().await;
    app.user("sender").await;
    let person = canopy_db::people::local_by_name(&app.db, "sender")
        .await
        .unwrap();
    (app, person.id, person.ap_id)
}

/// Queue an activity `kind` to `inboxes` (paths on remote.example); returns its id.
async fn enqueue(
    app: &TestApp,
    who: (canopy_core::PersonId, &str),
    kind: &str,
    inboxes: &[&str],
) -> String {
    let targets: Vec<(String, String)> = inboxes
        .iter()
        .map(|path| (format!("https://{REMOTE}{path}"), REMOTE.to_string()))
        .collect();
    enqueue_to(app, who, kind, &format!("https://{REMOTE}/c/x"), &targets).await
}

/// Queue an activity `kind` about `object` to each `(inbox, authority)`; returns its id.
async fn enqueue_to(
    app: &TestApp,
    (person, actor): (canopy_core::PersonId, &str),
    kind: &str,
    object: &str,
    targets: &[(String, String)],
) -> String {
    let id = format!(
        "{}/activities/{:032x}",
        app.public_url,
        rand::random::<u128>()
    );
    let payload = json!({"id": id, "type": kind, "actor": actor, "object": object});
    let mut conn = app.db.acquire().await.unwrap();
    outbox::enqueue(
        &mut conn,
        &NewActivity {
            ap_id: &id,
            kind,
            object_ap_id: Some(object),
            actor_ap_id: actor,
            signer: Signer::Person(person),
            payload: &payload,
        },
        targets,
    )
    .await
    .unwrap();
    id
}

/// Make the activity `id` and its deliveries look `age` old (a PostgreSQL interval), and mark
/// the delivery to `path` `state`, finished then (`pending` leaves it unfinished).
async fn age(app: &TestApp, id: &str, path: &str, state: &str, age: &str) {
    sqlx::query("UPDATE outbox_activity SET created_at = now() - $2::interval WHERE ap_id = $1")
        .bind(id)
        .bind(age)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE delivery SET created_at = now() - $3::interval, state = $4,
             finished_at = CASE WHEN $4 = 'pending' THEN NULL ELSE now() - $3::interval END
         WHERE activity_id = (SELECT id FROM outbox_activity WHERE ap_id = $1)
           AND inbox_url = $2",
    )
    .bind(id)
    .bind(format!("https://{REMOTE}{path}"))
    .bind(age)
    .bind(state)
    .execute(&app.db)
    .await
    .unwrap();
}

/// The states of the deliveries of activity `id`, or `None` when the activity is gone.
async fn deliveries(app: &TestApp, id: &str) -> Option<Vec<String>> {
    let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM outbox_activity WHERE ap_id = $1")
        .bind(id)
        .fetch_optional(&app.db)
        .await
        .unwrap();
    exists?;
    Some(
        canopy_db::delivery::of_activity(&app.db, id)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.state)
            .collect(),
    )
}

async fn succeeded(app: &TestApp) -> i64 {
    canopy_db::queue::by_instance(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|q| q.authority == REMOTE)
        .map_or(0, |q| q.succeeded)
}

fn config(batch: i64) -> CleanupConfig {
    CleanupConfig {
        batch,
        ..CleanupConfig::default()
    }
}

#[tokio::test]
async fn cleanup_deletes_finished_rows_past_their_retention_and_keeps_the_rest() {
    let (app, person, actor) = node().await;
    let who = (person, actor.as_str());
    // Defaults: delivered rows are kept a day, failed ones 14 days.
    let old_done = enqueue(&app, who, "Create", &["/inbox"]).await;
    age(&app, &old_done, "/inbox", "done", "2 days").await;
    let new_done = enqueue(&app, who, "Create", &["/inbox"]).await;
    age(&app, &new_done, "/inbox", "done", "1 hour").await;
    let old_failed = enqueue(&app, who, "Create", &["/inbox"]).await;
    age(&app, &old_failed, "/inbox", "failed", "15 days").await;
    let newer_failed = enqueue(&app, who, "Create", &["/inbox"]).await;
    age(&app, &newer_failed, "/inbox", "failed", "3 days").await;
    // Pending for longer than give_up_after (7 days): given up, and kept as failed.
    let old_pending = enqueue(&app, who, "Create", &["/inbox"]).await;
    age(&app, &old_pending, "/inbox", "pending", "20 days").await;
    let newer_pending = enqueue(&app, who, "Create", &["/other/inbox"]).await;
    age(&app, &newer_pending, "/other/inbox", "pending", "6 days").await;
    // One delivery done long ago, another still pending: the activity is still needed.
    let half_done = enqueue(&app, who, "Announce", &["/a/inbox", "/b/inbox"]).await;
    age(&app, &half_done, "/a/inbox", "done", "2 days").await;
    age(&app, &half_done, "/b/inbox", "pending", "2 days").await;
    // A Follow may be accepted by id at any time, so it outlives its delivery.
    let follow = enqueue(&app, who, "Follow", &["/inbox"]).await;
    age(&app, &follow, "/inbox", "done", "30 days").await;
    // Enough old delivered rows for several batches.
    let mut many = Vec::new();
    for _ in 0..5 {
        let id = enqueue(&app, who, "Like", &["/inbox"]).await;
        age(&app, &id, "/inbox", "done", "25 hours").await;
        many.push(id);
    }
    let before = succeeded(&app).await;
    assert_eq!(before, 9, "every delivered row counts");

    let (_stop, stopped) = watch::channel(false);
    let removed = cleanup::once(&app.db, &config(2), &stopped).await.unwrap();
    assert_eq!(
        removed,
        Removed {
            given_up: 1,
            done: 8,
            failed: 1,
            activities: 7,
            received: 0,
            sessions: 0,
        }
    );

    assert_eq!(deliveries(&app, &old_done).await, None);
    assert_eq!(deliveries(&app, &old_failed).await, None);
    for id in &many {
        assert_eq!(deliveries(&app, id).await, None);
    }
    assert_eq!(deliveries(&app, &new_done).await, Some(vec!["done".into()]));
    assert_eq!(
        deliveries(&app, &newer_failed).await,
        Some(vec!["failed".into()])
    );
    assert_eq!(
        deliveries(&app, &old_pending).await,
        Some(vec!["failed".into()])
    );
    let given_up = canopy_db::delivery::of_activity(&app.db, &old_pending)
        .await
        .unwrap();
    assert_eq!(
        given_up[0].last_error.as_deref(),
        Some("gave up: not delivered within 7 days of being queued")
    );
    assert_eq!(
        deliveries(&app, &newer_pending).await,
        Some(vec!["pending".into()])
    );
    assert_eq!(
        deliveries(&app, &half_done).await,
        Some(vec!["pending".into()])
    );
    assert_eq!(deliveries(&app, &follow).await, Some(vec![]));
    let payload = canopy_db::outbox::sent_payload(&app.db, &follow, "Follow")
        .await
        .unwrap();
    assert!(payload.is_some(), "the Follow can still be read back");

    assert_eq!(
        succeeded(&app).await,
        before,
        "deleted successes still count"
    );
    // Nothing more to do the second time.
    let again = cleanup::once(&app.db, &config(2), &stopped).await.unwrap();
    assert_eq!(again, Removed::default());
    assert_eq!(succeeded(&app).await, before);
}

#[tokio::test]
async fn two_cleanups_at_once_delete_and_count_each_row_once() {
    let (app, person, actor) = node().await;
    let mut ids = Vec::new();
    for _ in 0..60 {
        let id = enqueue(&app, (person, &actor), "Like", &["/inbox"]).await;
        age(&app, &id, "/inbox", "done", "2 days").await;
        ids.push(id);
    }
    assert_eq!(succeeded(&app).await, 60);
    let (_stop, stopped) = watch::channel(false);
    let small = config(5);
    let (a, b) = tokio::join!(
        cleanup::once(&app.db, &small, &stopped),
        cleanup::once(&app.db, &small, &stopped),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.done + b.done, 60, "{a:?} {b:?}");
    assert_eq!(a.activities + b.activities, 60, "{a:?} {b:?}");
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM delivery")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(succeeded(&app).await, 60, "counted once");
}

#[tokio::test]
async fn the_cleanup_task_runs_at_start_and_stops_on_shutdown() {
    let (app, person, actor) = node().await;
    let id = enqueue(&app, (person, &actor), "Create", &["/inbox"]).await;
    age(&app, &id, "/inbox", "done", "2 days").await;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(cleanup::run(app.db.clone(), config(100), stopped));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while deliveries(&app, &id).await.is_some() {
        assert!(std::time::Instant::now() < deadline, "never cleaned up");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), task)
        .await
        .expect("the cleanup stops")
        .unwrap();
}

/// A loopback inbox that answers every POST with 503 and counts them, per activity id.
async fn failing_receiver() -> (String, String, Arc<std::sync::Mutex<Vec<String>>>) {
    let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let state = seen.clone();
    let inbox = move |body: axum::body::Bytes| {
        let seen = state.clone();
        async move {
            let activity: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let id = activity["id"].as_str().unwrap_or_default().to_string();
            seen.lock().unwrap().push(id);
            (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance")
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = axum::Router::new().route("/inbox", axum::routing::post(inbox));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let authority = format!("localhost:{port}");
    (format!("http://{authority}/inbox"), authority, seen)
}

/// Poll `check` until it holds, failing with `what` after 20 seconds.
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_delivery_failing_for_longer_than_the_give_up_age_fails_for_good_at_its_next_attempt() {
    let (app, person, actor) = node().await;
    let (inbox, authority, seen) = failing_receiver().await;
    let target = [(inbox, authority.clone())];
    let old = enqueue_to(
        &app,
        (person, &actor),
        "Create",
        "https://x.example/1",
        &target,
    )
    .await;
    sqlx::query(
        "UPDATE delivery SET created_at = now() - interval '8 days'
         WHERE activity_id = (SELECT id FROM outbox_activity WHERE ap_id = $1)",
    )
    .bind(&old)
    .execute(&app.db)
    .await
    .unwrap();
    let new = enqueue_to(
        &app,
        (person, &actor),
        "Create",
        "https://x.example/2",
        &target,
    )
    .await;

    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(canopy_worker::run(
        app.fed.clone(),
        fast_worker_config(),
        stopped,
    ));
    let state_of = |id: String| {
        let db = app.db.clone();
        async move {
            canopy_db::delivery::of_activity(&db, &id)
                .await
                .unwrap()
                .remove(0)
        }
    };
    wait_until("the old delivery is given up", || async {
        state_of(old.clone()).await.state == "failed"
    })
    .await;
    // The fresh one, failing the same way, is retried.
    wait_until("the new delivery is tried again", || async {
        state_of(new.clone()).await.attempts >= 2
    })
    .await;
    stop.send(true).unwrap();
    worker.await.unwrap();

    let given_up = state_of(old.clone()).await;
    let error = given_up.last_error.unwrap_or_default();
    assert!(
        error.starts_with("gave up: not delivered within 7 days of being queued; last error: ")
            && error.contains("503"),
        "{error}"
    );
    assert_eq!(given_up.attempts, 1, "given up at its next attempt");
    let hits = seen.lock().unwrap().iter().filter(|id| **id == old).count();
    assert_eq!(hits, 1, "the attempt was made, and only one");
    assert_eq!(state_of(new.clone()).await.state, "pending");
    // The failed attempt still counts for the instance's health.
    let health = canopy_db::delivery::instance_health(&app.db, &authority)
        .await
        .unwrap()
        .unwrap();
    assert!(health.failing_since.is_some(), "{health:?}");
}

/// A Like of a local post by a stand-in's user, and the node's inbox URL.
struct Voting {
    app: TestApp,
    standin: StandIn,
    inbox: String,
    post: i64,
    like: serde_json::Value,
    undo: serde_json::Value,
}

async fn voting() -> Voting {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let post = app.community_with_post(&alice, "votes").await;
    let (_, view) = app.get(&format!("/api/v1/posts/{post}"), None).await;
    let post_ap = view["ap_id"].as_str().unwrap().to_string();
    let standin = StandIn::start().await;
    let mallory = standin.person("mallory");
    let like = json!({"@context": "https://www.w3.org/ns/activitystreams",
        "id": format!("{}/activities/like-1", standin.base), "type": "Like",
        "actor": mallory, "object": post_ap});
    let undo = json!({"@context": "https://www.w3.org/ns/activitystreams",
        "id": format!("{}/activities/undo-1", standin.base), "type": "Undo",
        "actor": mallory, "object": like});
    let inbox = format!("{}/inbox", app.base_url);
    Voting {
        app,
        standin,
        inbox,
        post,
        like,
        undo,
    }
}

impl Voting {
    async fn upvotes(&self) -> i64 {
        let (_, view) = self
            .app
            .get(&format!("/api/v1/posts/{}", self.post), None)
            .await;
        view["counts"]["upvotes"].as_i64().unwrap()
    }

    /// The Like as a request signed at `at`: headers and body, to send (and re-send) as is.
    fn signed_like(&self, at: SystemTime) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let body = serde_json::to_vec(&self.like).unwrap();
        let key_id = format!("{}#main-key", self.like["actor"].as_str().unwrap());
        (self.standin.sign_at(&key_id, &self.inbox, &body, at), body)
    }

    async fn received(&self, activity: &serde_json::Value) -> bool {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT ap_id FROM received_activity WHERE ap_id = $1")
                .bind(activity["id"].as_str().unwrap())
                .fetch_optional(&self.app.db)
                .await
                .unwrap();
        row.is_some()
    }

    async fn age_received(&self, activity: &serde_json::Value, age: &str) {
        sqlx::query(
            "UPDATE received_activity SET received_at = now() - $2::interval WHERE ap_id = $1",
        )
        .bind(activity["id"].as_str().unwrap())
        .bind(age)
        .execute(&self.app.db)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn received_ids_stay_for_the_window_so_a_replay_changes_nothing_and_go_after_it() {
    let v = voting().await;
    let before = v.upvotes().await;
    let (headers, body) = v.signed_like(SystemTime::now());
    let (status, text) = send(&v.inbox, headers.clone(), body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(v.upvotes().await, before + 1);
    let (status, text) = v.standin.deliver(&v.inbox, &v.undo).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(v.upvotes().await, before);

    // A day and a half later (inside the default two days) the cleanup keeps both ids ...
    v.age_received(&v.like, "36 hours").await;
    let (_stop, stopped) = watch::channel(false);
    let removed = cleanup::once(&v.app.db, &CleanupConfig::default(), &stopped)
        .await
        .unwrap();
    assert_eq!(removed.received, 0);
    assert!(v.received(&v.like).await && v.received(&v.undo).await);
    // ... so the captured Like, sent again exactly as it was, is acknowledged and does nothing.
    let (status, text) = send(&v.inbox, headers, body).await;
    assert!(
        status.is_success(),
        "a replay is acknowledged: {status} {text}"
    );
    assert_eq!(
        v.upvotes().await,
        before,
        "the replayed Like counted no vote"
    );

    // Past the window the Like's id is forgotten; the Undo's, newer, stays.
    v.age_received(&v.like, "49 hours").await;
    let removed = cleanup::once(&v.app.db, &CleanupConfig::default(), &stopped)
        .await
        .unwrap();
    assert_eq!(removed.received, 1);
    assert!(!v.received(&v.like).await);
    assert!(v.received(&v.undo).await);
}

#[tokio::test]
async fn a_replay_after_the_dedup_window_is_refused_by_the_signature_date_window() {
    let v = voting().await;
    let before = v.upvotes().await;
    // The Like is delivered and counted, then undone; its id ages past the window, as if 49
    // hours had gone by ...
    let (status, text) = v.standin.deliver(&v.inbox, &v.like).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let (status, text) = v.standin.deliver(&v.inbox, &v.undo).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    v.age_received(&v.like, "49 hours").await;
    let (_stop, stopped) = watch::channel(false);
    cleanup::once(&v.app.db, &CleanupConfig::default(), &stopped)
        .await
        .unwrap();
    assert!(!v.received(&v.like).await, "its id is forgotten");
    // ... and the request as captured back then, replayed now, carries a Date 49 hours old:
    // older than the 12 hours the inbox accepts.
    let captured = SystemTime::now() - Duration::from_secs(49 * 3600);
    let (headers, body) = v.signed_like(captured);
    let (status, text) = send(&v.inbox, headers, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.contains("12 hours"), "{text}");
    assert_eq!(v.upvotes().await, before, "no vote");
    assert!(!v.received(&v.like).await, "nothing stored");
}

#[test]
fn keep_received_shorter_than_a_replayable_signature_is_refused() {
    let with = |hours: u64| CleanupConfig {
        keep_received: Duration::from_secs(hours * 3600),
        ..CleanupConfig::default()
    };
    assert!(CleanupConfig::default().check().is_ok());
    assert!(with(24).check().is_ok());
    let err = with(23).check().unwrap_err();
    assert!(err.to_string().contains("at least 24 hours"), "{err}");
}

#[tokio::test]
async fn expired_sessions_are_deleted_and_valid_ones_stay() {
    let app = TestApp::spawn_without_worker().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (status, _) = app.get("/api/v1/me", Some(&alice)).await;
    assert_eq!(status, StatusCode::OK);
    sqlx::query(
        "UPDATE session SET expires_at = now() - interval '1 minute'
         WHERE person_id = (SELECT id FROM person WHERE name = 'alice' AND local)",
    )
    .execute(&app.db)
    .await
    .unwrap();
    // Many expired sessions, for more than one batch.
    sqlx::query(
        "INSERT INTO session (token_hash, person_id, expires_at)
         SELECT sha256(g::text::bytea), s.person_id, now() - interval '1 day'
         FROM generate_series(1, 25) g, (SELECT person_id FROM session LIMIT 1) s",
    )
    .execute(&app.db)
    .await
    .unwrap();

    let (_stop, stopped) = watch::channel(false);
    let removed = cleanup::once(&app.db, &config(10), &stopped).await.unwrap();
    assert_eq!(removed.sessions, 26);
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM session")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 1, "bob's session stays");
    let (status, _) = app.get("/api/v1/me", Some(&bob)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/me", Some(&alice)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let again = cleanup::once(&app.db, &config(10), &stopped).await.unwrap();
    assert_eq!(again.sessions, 0);
}
