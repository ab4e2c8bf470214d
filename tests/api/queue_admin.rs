//! `GET /api/v1/admin/queue`: who may read it, and the figures per instance after real
//! deliveries to loopback receivers that accept, keep failing, or refuse.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use canopy_db::outbox::{self, NewActivity, Signer};
use canopy_testkit::{fast_worker_config, TestApp};
use canopy_worker::WorkerConfig;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A loopback inbox that answers every POST with `status`; returns its inbox URL, authority
/// and the number of POSTs it has seen.
async fn receiver(status: StatusCode) -> (String, String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    async fn inbox(State((status, seen)): State<(StatusCode, Arc<AtomicUsize>)>) -> StatusCode {
        seen.fetch_add(1, Ordering::SeqCst);
        status
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = Router::new()
        .route("/inbox", post(inbox))
        .with_state((status, seen.clone()));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let authority = format!("localhost:{port}");
    (format!("http://{authority}/inbox"), authority, seen)
}

/// A node without a worker, a local person to sign with, and an admin's token.
async fn node() -> (TestApp, canopy_core::PersonId, String, String) {
    let app = TestApp::spawn_without_worker().await;
    app.user("sender").await;
    let person = canopy_db::people::local_by_name(&app.db, "sender")
        .await
        .unwrap();
    let admin = app.admin("boss").await;
    (app, person.id, person.ap_id, admin)
}

/// Register `name`, make it an instance administrator, and return its token.
/// Queue one Create about a fresh object, delivered to `inbox`.
async fn enqueue(
    app: &TestApp,
    (person, actor): (canopy_core::PersonId, &str),
    n: usize,
    inbox: &(String, String),
) {
    let id = format!(
        "{}/activities/create/{:032x}",
        app.public_url,
        rand::random::<u128>()
    );
    let object = format!("http://localhost:1/note/{n}");
    let payload = json!({"id": id, "type": "Create", "actor": actor, "object": object});
    let mut conn = app.db.acquire().await.unwrap();
    outbox::enqueue(
        &mut conn,
        &NewActivity {
            ap_id: &id,
            kind: "Create",
            object_ap_id: Some(&object),
            actor_ap_id: actor,
            signer: Signer::Person(person),
            payload: &payload,
        },
        std::slice::from_ref(inbox),
    )
    .await
    .unwrap();
}

/// The entry of `authority` in a queue report.
fn entry<'a>(report: &'a Value, authority: &str) -> &'a Value {
    report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["authority"] == authority)
        .unwrap_or_else(|| panic!("{authority} is not in {report}"))
}

#[tokio::test]
async fn the_queue_is_for_administrators_only() {
    let (app, _, _, admin) = node().await;
    let (status, body) = app.get("/api/v1/admin/queue", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "unauthorized");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));

    let user = app.user("someone").await;
    let (status, body) = app.get("/api/v1/admin/queue", Some(&user)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "forbidden");

    let (status, body) = app.get("/api/v1/admin/queue", Some("not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let (status, body) = app.get("/api/v1/admin/queue", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"pending": 0, "instances": []}));
}

#[tokio::test]
async fn the_queue_shows_depth_age_successes_failures_last_error_and_state_per_instance() {
    let (app, person, actor, admin) = node().await;
    let who = (person, actor.as_str());
    let (ok_inbox, ok, ok_seen) = receiver(StatusCode::ACCEPTED).await;
    let (down_inbox, down, down_seen) = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    let (refusing_inbox, refusing, _) = receiver(StatusCode::BAD_REQUEST).await;
    let ok_target = (ok_inbox, ok.clone());
    let down_target = (down_inbox, down.clone());
    for n in 0..3 {
        enqueue(&app, who, n, &ok_target).await;
    }
    for n in 3..5 {
        enqueue(&app, who, n, &down_target).await;
    }
    enqueue(&app, who, 5, &(refusing_inbox, refusing.clone())).await;

    // Quick retries until the failing instance is unreachable; then one probe an hour, so
    // the figures stop moving.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(canopy_worker::run(
        app.fed.clone(),
        WorkerConfig {
            retry_max: Duration::from_millis(40),
            unreachable_after: Duration::from_millis(300),
            probe_every: Duration::from_secs(3600),
            ..fast_worker_config()
        },
        stopped,
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, report) = app.get("/api/v1/admin/queue", Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let settled = report["instances"].as_array().unwrap().len() == 3
            && entry(&report, &ok)["succeeded"] == 3
            && entry(&report, &refusing)["failed"] == 1
            && entry(&report, &down)["state"] == "unreachable";
        if settled {
            break;
        }
        assert!(Instant::now() < deadline, "figures never settled: {report}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), worker)
        .await
        .expect("the worker stops")
        .unwrap();

    // Pretend the failing instance's deliveries were queued a while ago.
    sqlx::query(
        "UPDATE delivery SET created_at = created_at - interval '90 seconds' WHERE authority = $1",
    )
    .bind(&down)
    .execute(&app.db)
    .await
    .unwrap();
    let (status, report) = app.get("/api/v1/admin/queue", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["pending"], 2, "{report}");
    assert_eq!(
        report["instances"][0]["authority"], down,
        "most pending first: {report}"
    );

    let d = entry(&report, &down);
    assert_eq!(d["state"], "unreachable", "{d}");
    assert_eq!(d["pending"], 2, "{d}");
    let age = d["oldest_pending_age_secs"].as_i64().unwrap();
    assert!((90..3600).contains(&age), "{d}");
    assert!(d["oldest_pending_at"].is_string(), "{d}");
    assert_eq!(d["succeeded"], 0, "{d}");
    let attempts = down_seen.load(Ordering::SeqCst);
    assert!(attempts >= 2, "{attempts}");
    assert_eq!(d["failed"], attempts, "every failed attempt counts: {d}");
    assert!(d["last_error"].as_str().unwrap().starts_with("500"), "{d}");
    assert!(d["failing_since"].is_string(), "{d}");
    assert!(d["next_probe_at"].is_string(), "{d}");
    assert!(d["last_success_at"].is_null(), "{d}");

    let o = entry(&report, &ok);
    assert_eq!(o["state"], "ok", "{o}");
    assert_eq!(o["pending"], 0, "{o}");
    assert!(o["oldest_pending_at"].is_null() && o["oldest_pending_age_secs"].is_null());
    assert_eq!(o["succeeded"], 3, "{o}");
    assert_eq!(ok_seen.load(Ordering::SeqCst), 3);
    assert_eq!(o["failed"], 0, "{o}");
    assert!(o["last_error"].is_null(), "{o}");
    assert!(o["failing_since"].is_null(), "{o}");
    assert!(o["last_success_at"].is_string(), "{o}");

    let r = entry(&report, &refusing);
    assert_eq!(r["state"], "ok", "a refusal is an answer: {r}");
    assert_eq!(r["pending"], 0, "{r}");
    assert_eq!(r["succeeded"], 0, "{r}");
    assert_eq!(r["failed"], 1, "{r}");
    assert!(r["last_error"].as_str().unwrap().starts_with("400"), "{r}");
    assert!(r["failing_since"].is_null(), "{r}");
}
