//! The delivery worker against loopback receivers: retries with growing waits, unreachable
//! instances skipped and revived, per-object order with parallel sends, and several workers
//! on one database sending each delivery once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use canopy_db::outbox::{self, NewActivity, Signer};
use canopy_testkit::{fast_worker_config, TestApp};
use canopy_worker::WorkerConfig;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// One POST the receiver saw: when, the activity id and its object id.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    id: String,
    object: String,
    accepted: bool,
}

type Decide = Arc<dyn Fn(&Value, usize) -> (StatusCode, Duration) + Send + Sync>;

#[derive(Clone)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    decide: Decide,
}

/// A loopback inbox at `http://localhost:PORT/inbox`; `decide(activity, attempts so far of
/// this activity)` gives the status to answer and how long to take.
async fn receiver(
    decide: impl Fn(&Value, usize) -> (StatusCode, Duration) + Send + Sync + 'static,
) -> (String, String, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let state = Receiver {
        seen: seen.clone(),
        decide: Arc::new(decide),
    };
    async fn inbox(State(r): State<Receiver>, body: axum::body::Bytes) -> StatusCode {
        let activity: Value = serde_json::from_slice(&body).unwrap();
        let id = activity["id"].as_str().unwrap().to_string();
        let before = r.seen.lock().unwrap().iter().filter(|s| s.id == id).count();
        let (status, delay) = (r.decide)(&activity, before);
        tokio::time::sleep(delay).await;
        r.seen.lock().unwrap().push(Seen {
            at: Instant::now(),
            object: activity["object"].as_str().unwrap_or_default().to_string(),
            id,
            accepted: status.is_success(),
        });
        status
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = Router::new().route("/inbox", post(inbox)).with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let authority = format!("localhost:{port}");
    (format!("http://{authority}/inbox"), authority, seen)
}

/// A node without a worker of its own and a local person to sign with.
async fn node() -> (TestApp, canopy_core::PersonId, String) {
    let app = TestApp::spawn_without_worker().await;
    app.user("sender").await;
    let person = canopy_db::people::local_by_name(&app.db, "sender")
        .await
        .unwrap();
    (app, person.id, person.ap_id)
}

/// Queue one activity `kind` about `object` to each `(inbox, authority)`; returns its id.
async fn enqueue(
    app: &TestApp,
    (person, actor): (canopy_core::PersonId, &str),
    kind: &str,
    object: &str,
    inboxes: &[(String, String)],
) -> String {
    let id = format!("{}/activities/{}", app.public_url, uuid_like());
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
        inboxes,
    )
    .await
    .unwrap();
    id
}

fn uuid_like() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Run a worker on `app` until the returned sender says stop.
fn start_worker(
    app: &TestApp,
    config: WorkerConfig,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = watch::channel(false);
    let handle = tokio::spawn(canopy_worker::run(app.fed.clone(), config, stopped));
    (stop, handle)
}

/// Poll `check` every 10 ms until it is true; panic with `what` after `limit`.
async fn until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn stop(worker: (watch::Sender<bool>, tokio::task::JoinHandle<()>)) {
    worker.0.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), worker.1)
        .await
        .expect("the worker stops")
        .unwrap();
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_the_activity_once_after_growing_waits() {
    let (app, person, actor) = node().await;
    let (inbox, authority, seen) = receiver(|_, before| {
        let status = if before < 3 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::ACCEPTED
        };
        (status, Duration::ZERO)
    })
    .await;
    let id = enqueue(
        &app,
        (person, &actor),
        "Create",
        "http://localhost:1/note/1",
        &[(inbox, authority)],
    )
    .await;
    let worker = start_worker(
        &app,
        WorkerConfig {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(10),
            ..fast_worker_config()
        },
    );
    until(
        Duration::from_secs(20),
        "the delivery to be done",
        || async {
            canopy_db::delivery::of_activity(&app.db, &id)
                .await
                .unwrap()[0]
                .state
                == "done"
        },
    )
    .await;
    stop(worker).await;

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "three failures and one success: {seen:?}");
    assert_eq!(seen.iter().filter(|s| s.accepted).count(), 1);
    assert!(seen[3].accepted);
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps[0] < gaps[1] && gaps[1] < gaps[2],
        "waits grow: {gaps:?}"
    );
    assert!(gaps[0] >= Duration::from_millis(75), "{gaps:?}");
    let d = &canopy_db::delivery::of_activity(&app.db, &id)
        .await
        .unwrap()[0];
    assert_eq!(d.attempts, 4);
}

/// A 401 usually means the receiver could not verify our signature with the key it had (a stale
/// copy, or none because it could not fetch ours just then): worth a few retries after longer
/// waits, but not forever, and the instance answered, so it is not failing.
#[tokio::test]
async fn a_401_is_retried_after_longer_waits_and_fails_for_good_on_the_fourth_attempt() {
    let (app, person, actor) = node().await;
    // The receiver refuses the "healing" activity twice, the other one always.
    let (inbox, authority, seen) = receiver(|activity, before| {
        let refusals = if activity["object"] == "http://localhost:1/note/healing" {
            2
        } else {
            usize::MAX
        };
        let status = if before < refusals {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::ACCEPTED
        };
        (status, Duration::ZERO)
    })
    .await;
    let inboxes = [(inbox, authority.clone())];
    let healing = enqueue(
        &app,
        (person, &actor),
        "Create",
        "http://localhost:1/note/healing",
        &inboxes,
    )
    .await;
    let refused = enqueue(
        &app,
        (person, &actor),
        "Create",
        "http://localhost:1/note/refused",
        &inboxes,
    )
    .await;
    let retry_base = Duration::from_millis(10);
    let worker = start_worker(
        &app,
        WorkerConfig {
            retry_base,
            retry_max: Duration::from_secs(2),
            ..fast_worker_config()
        },
    );
    until(
        Duration::from_secs(20),
        "both deliveries to end",
        || async { outbox::pending_count(&app.db).await.unwrap() == 0 },
    )
    .await;
    stop(worker).await;

    let healed = &canopy_db::delivery::of_activity(&app.db, &healing)
        .await
        .unwrap()[0];
    assert_eq!((healed.state.as_str(), healed.attempts), ("done", 3));
    let given_up = &canopy_db::delivery::of_activity(&app.db, &refused)
        .await
        .unwrap()[0];
    assert_eq!((given_up.state.as_str(), given_up.attempts), ("failed", 4));
    assert!(given_up
        .last_error
        .as_deref()
        .is_some_and(|e| e.starts_with("401")));
    let seen = seen.lock().unwrap().clone();
    let of = |id: &str| -> Vec<Seen> { seen.iter().filter(|s| s.id == id).cloned().collect() };
    assert_eq!(of(&healing).len(), 3, "two refusals, then taken");
    let refusals = of(&refused);
    assert_eq!(refusals.len(), 4, "four tries, then none: {refusals:?}");
    // A 5xx would be retried after about retry_base; a 401 waits 32 times as long (±20%).
    for pair in refusals.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= retry_base * 32 * 3 / 4, "{gap:?} between 401s");
    }
    let health = canopy_db::delivery::instance_health(&app.db, &authority)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(health.delivery_state, "ok");
    assert!(health.failing_since.is_none(), "the instance answered");
    assert!(health.last_error.is_some_and(|e| e.starts_with("401")));
    let (failed,): (i64,) =
        sqlx::query_as("SELECT deliveries_failed FROM instance WHERE authority = $1")
            .bind(&authority)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(failed, 6, "every 401 counts as a failed attempt");
}

#[tokio::test]
async fn an_instance_that_stays_down_is_marked_unreachable_probed_and_revived() {
    let (app, person, actor) = node().await;
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = up.clone();
    let (inbox, authority, seen) = receiver(move |_, _| {
        let status = if flag.load(std::sync::atomic::Ordering::SeqCst) {
            StatusCode::ACCEPTED
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, Duration::ZERO)
    })
    .await;
    let inboxes = [(inbox, authority.clone())];
    let mut ids = Vec::new();
    for n in 0..3 {
        let object = format!("http://localhost:1/note/{n}");
        ids.push(enqueue(&app, (person, &actor), "Create", &object, &inboxes).await);
    }
    let probe_every = Duration::from_millis(200);
    let worker = start_worker(
        &app,
        WorkerConfig {
            retry_max: Duration::from_millis(40),
            unreachable_after: Duration::from_millis(300),
            probe_every,
            ..fast_worker_config()
        },
    );
    until(
        Duration::from_secs(20),
        "the instance to be unreachable",
        || async {
            canopy_db::delivery::instance_health(&app.db, &authority)
                .await
                .unwrap()
                .is_some_and(|h| h.delivery_state == "unreachable" && h.failing_since.is_some())
        },
    )
    .await;
    // Sends already under way when it turned unreachable may still arrive; after them, only
    // one probe per period.
    let marked = seen.lock().unwrap().len();
    until(Duration::from_secs(20), "four probes", || async {
        seen.lock().unwrap().len() >= marked + 6
    })
    .await;
    let later: Vec<Instant> = seen.lock().unwrap()[marked + 2..]
        .iter()
        .map(|s| s.at)
        .collect();
    for pair in later.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= probe_every.mul_f64(0.75),
            "an unreachable instance is only probed: {gap:?} between attempts"
        );
    }
    for id in &ids {
        let d = &canopy_db::delivery::of_activity(&app.db, id).await.unwrap()[0];
        assert_eq!(d.state, "pending", "skipped, not given up");
    }

    up.store(true, std::sync::atomic::Ordering::SeqCst);
    until(
        Duration::from_secs(20),
        "every delivery after the revival",
        || async { outbox::pending_count(&app.db).await.unwrap() == 0 },
    )
    .await;
    let health = canopy_db::delivery::instance_health(&app.db, &authority)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(health.delivery_state, "ok");
    assert!(health.failing_since.is_none());
    assert!(health.last_success_at.is_some());
    stop(worker).await;
    let seen = seen.lock().unwrap().clone();
    for id in &ids {
        let accepted = seen.iter().filter(|s| &s.id == id && s.accepted).count();
        assert_eq!(accepted, 1, "{id} arrives once");
    }
}

#[tokio::test]
async fn activities_about_one_object_arrive_in_order_while_others_overtake_a_failing_one() {
    let (app, person, actor) = node().await;
    let bad = "http://localhost:1/note/bad".to_string();
    let refused = bad.clone();
    let (inbox, authority, seen) = receiver(move |activity, _| {
        if activity["object"] == refused.as_str() {
            return (StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO);
        }
        // Uneven answer times: without the ordering rule, parallel sends would overtake.
        let delay = Duration::from_millis(rand::random::<u64>() % 40);
        (StatusCode::ACCEPTED, delay)
    })
    .await;
    let inboxes = [(inbox, authority)];
    let who = (person, actor.as_str());
    let failing = enqueue(&app, who, "Create", &bad, &inboxes).await;
    let failing_update = enqueue(&app, who, "Update", &bad, &inboxes).await;
    let mut ordered = Vec::new();
    let mut unrelated = Vec::new();
    for round in 0..3 {
        let object = format!("http://localhost:1/note/{round}");
        for kind in ["Create", "Update", "Delete"] {
            ordered.push((
                object.clone(),
                enqueue(&app, who, kind, &object, &inboxes).await,
            ));
        }
        for n in 0..4 {
            let object = format!("http://localhost:1/other/{round}-{n}");
            unrelated.push(enqueue(&app, who, "Create", &object, &inboxes).await);
        }
    }
    let worker = start_worker(
        &app,
        WorkerConfig {
            per_instance_concurrency: 4,
            ..fast_worker_config()
        },
    );
    let expected = ordered.len() + unrelated.len();
    until(
        Duration::from_secs(30),
        "all but the failing object",
        || async { seen.lock().unwrap().iter().filter(|s| s.accepted).count() >= expected },
    )
    .await;
    // The failing Create has been tried more than once by now, and is still behind nothing.
    until(
        Duration::from_secs(20),
        "retries of the failing one",
        || async {
            seen.lock()
                .unwrap()
                .iter()
                .filter(|s| s.id == failing)
                .count()
                >= 2
        },
    )
    .await;
    stop(worker).await;

    let seen = seen.lock().unwrap().clone();
    let accepted: Vec<&Seen> = seen.iter().filter(|s| s.accepted).collect();
    assert_eq!(accepted.len(), expected, "each arrives once");
    for chunk in ordered.chunks(3) {
        let arrival: Vec<usize> = chunk
            .iter()
            .map(|(_, id)| accepted.iter().position(|s| &s.id == id).unwrap())
            .collect();
        assert!(
            arrival[0] < arrival[1] && arrival[1] < arrival[2],
            "Create, Update, Delete of {} in order: {arrival:?}",
            chunk[0].0
        );
    }
    assert!(accepted.iter().all(|s| s.object != bad));
    assert!(
        seen.iter().all(|s| s.id != failing_update),
        "the Update waits behind its failing Create"
    );
    let statuses = canopy_db::delivery::of_activity(&app.db, &failing_update)
        .await
        .unwrap();
    assert_eq!(statuses[0].state, "pending");
    assert_eq!(statuses[0].attempts, 0);
}

#[tokio::test]
async fn two_workers_deliver_five_hundred_deliveries_exactly_once_between_them() {
    let (app, person, actor) = node().await;
    let mut receivers = Vec::new();
    for _ in 0..2 {
        receivers.push(receiver(|_, _| (StatusCode::ACCEPTED, Duration::ZERO)).await);
    }
    let mut ids = Vec::new();
    for n in 0..250 {
        let object = format!("http://localhost:1/note/{n}");
        let inboxes: Vec<(String, String)> = receivers
            .iter()
            .map(|(inbox, authority, _)| (inbox.clone(), authority.clone()))
            .collect();
        ids.push(enqueue(&app, (person, &actor), "Create", &object, &inboxes).await);
    }
    let config = WorkerConfig {
        batch: 16,
        ..fast_worker_config()
    };
    let a = start_worker(&app, config.clone());
    let b = start_worker(&app, config);
    until(Duration::from_secs(60), "all 500 deliveries", || async {
        outbox::pending_count(&app.db).await.unwrap() == 0
    })
    .await;
    stop(a).await;
    stop(b).await;
    for (_, authority, seen) in &receivers {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for s in seen.lock().unwrap().iter() {
            *counts.entry(s.id.clone()).or_default() += 1;
        }
        assert_eq!(counts.len(), ids.len(), "{authority} got every activity");
        assert!(
            counts.values().all(|n| *n == 1),
            "{authority} got each activity once"
        );
    }
}

/// Loopback instance serving `/u/{name}/inbox`; `status(name)` is the answer to each POST.
/// Returns the authority and the inbox names in the order the POSTs arrived.
async fn named_inboxes(
    status: impl Fn(&str) -> StatusCode + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    type State_ = (
        Arc<Mutex<Vec<String>>>,
        Arc<dyn Fn(&str) -> StatusCode + Send + Sync>,
    );
    async fn inbox(
        State((seen, status)): State<State_>,
        axum::extract::Path(name): axum::extract::Path<String>,
        _body: axum::body::Bytes,
    ) -> StatusCode {
        seen.lock().unwrap().push(name.clone());
        status(&name)
    }
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = format!("localhost:{}", listener.local_addr().unwrap().port());
    let state: State_ = (seen.clone(), Arc::new(status));
    let router = Router::new()
        .route("/u/{name}/inbox", post(inbox))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (authority, seen)
}

/// A local community `town` with a node that delivers (its own fast worker).
async fn node_with_community() -> (TestApp, String, i64) {
    let app = TestApp::spawn_with_worker(Some(fast_worker_config())).await;
    let token = app.user("alice").await;
    let (s, c) = app
        .post(
            "/api/v1/communities",
            Some(&token),
            json!({"name": "town", "title": "Town"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    (app, token, c["id"].as_i64().unwrap())
}

async fn post_in(app: &TestApp, token: &str, community: i64, title: &str) {
    let (s, p) = app
        .post(
            "/api/v1/posts",
            Some(token),
            json!({"community_id": community, "title": title}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
}

/// Inboxes of each Announce, oldest first, with each delivery's state.
async fn announce_deliveries(app: &TestApp) -> Vec<Vec<(String, String)>> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT a.id, d.inbox_url, d.state FROM delivery d JOIN outbox_activity a ON a.id = d.activity_id
         WHERE a.kind = 'Announce' ORDER BY a.id, d.inbox_url",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let mut out: Vec<(i64, Vec<(String, String)>)> = Vec::new();
    for (activity, inbox, state) in rows {
        match out.last_mut() {
            Some((a, list)) if *a == activity => list.push((inbox, state)),
            _ => out.push((activity, vec![(inbox, state)])),
        }
    }
    out.into_iter().map(|(_, list)| list).collect()
}

#[tokio::test]
async fn a_410_gone_removes_that_follower_and_later_activities_skip_it_while_others_still_get_them()
{
    let (app, token, community) = node_with_community().await;
    // Instance one: "gone" answers 410, "stays" takes everything; instance two: "other".
    let (one, seen_one) = named_inboxes(|name| {
        if name == "gone" {
            StatusCode::GONE
        } else {
            StatusCode::ACCEPTED
        }
    })
    .await;
    let (two, seen_two) = named_inboxes(|_| StatusCode::ACCEPTED).await;
    let gone = format!("http://{one}/u/gone/inbox");
    let stays = format!("http://{one}/u/stays/inbox");
    let other = format!("http://{two}/u/other/inbox");
    app.remote_followers("town", &[gone.clone(), stays.clone(), other.clone()])
        .await;
    // The gone person also follows alice.
    sqlx::query(
        "INSERT INTO person_follow (target_id, follower_id)
         SELECT t.id, f.id FROM person t, person f WHERE t.name = 'alice' AND t.local AND f.inbox_url = $1",
    )
    .bind(&gone)
    .execute(&app.db)
    .await
    .unwrap();
    let follows_of = |inbox: String| {
        let db = app.db.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM community_follow f JOIN person p ON p.id = f.person_id WHERE p.inbox_url = $1)
                      + (SELECT count(*) FROM person_follow f JOIN person p ON p.id = f.follower_id WHERE p.inbox_url = $1)",
            )
            .bind(inbox)
            .fetch_one(&db)
            .await
            .unwrap();
            n
        }
    };
    assert_eq!(follows_of(gone.clone()).await, 2);
    let subscribers = || async {
        let (n,): (i32,) = sqlx::query_as("SELECT subscriber_count FROM community WHERE id = $1")
            .bind(community)
            .fetch_one(&app.db)
            .await
            .unwrap();
        n
    };
    let subscribed = subscribers().await;

    post_in(&app, &token, community, "first").await;
    until(Duration::from_secs(20), "the first fan-out", || async {
        outbox::pending_count(&app.db).await.unwrap() == 0
    })
    .await;
    let mut expected = vec![
        (gone.clone(), "failed".to_string()),
        (stays.clone(), "done".to_string()),
        (other.clone(), "done".to_string()),
    ];
    expected.sort();
    assert_eq!(announce_deliveries(&app).await[0], expected);
    let (error,): (String,) =
        sqlx::query_as("SELECT last_error FROM delivery WHERE inbox_url = $1")
            .bind(&gone)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(error.starts_with("410"), "{error}");
    assert_eq!(follows_of(gone.clone()).await, 0, "both follows removed");
    assert_eq!(follows_of(stays.clone()).await, 1);
    assert_eq!(follows_of(other.clone()).await, 1);
    assert_eq!(subscribers().await, subscribed - 1);

    post_in(&app, &token, community, "second").await;
    until(Duration::from_secs(20), "the second fan-out", || async {
        outbox::pending_count(&app.db).await.unwrap() == 0
    })
    .await;
    let all = announce_deliveries(&app).await;
    assert_eq!(all.len(), 2);
    let mut second: Vec<(String, String)> = all[1].clone();
    second.sort();
    let mut expected = vec![(stays, "done".to_string()), (other, "done".to_string())];
    expected.sort();
    assert_eq!(second, expected, "nothing more for the gone inbox");
    let mut one_seen = seen_one.lock().unwrap().clone();
    one_seen.sort();
    assert_eq!(one_seen, ["gone", "stays", "stays"]);
    assert_eq!(*seen_two.lock().unwrap(), ["other", "other"]);
}

#[tokio::test]
async fn one_activity_goes_to_several_inboxes_of_an_instance_at_once_and_the_next_about_its_object_waits(
) {
    #[derive(Clone, Default)]
    struct Gate {
        /// `(type, inbox name, Creates answered when it arrived)`.
        arrivals: Arc<Mutex<Vec<(String, String, usize)>>>,
        creates_arrived: Arc<tokio::sync::watch::Sender<usize>>,
        creates_answered: Arc<std::sync::atomic::AtomicUsize>,
    }
    const INBOXES: usize = 4;
    async fn inbox(
        State(g): State<Gate>,
        axum::extract::Path(name): axum::extract::Path<String>,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let activity: Value = serde_json::from_slice(&body).unwrap();
        let kind = activity["type"].as_str().unwrap().to_string();
        let answered = g.creates_answered.load(std::sync::atomic::Ordering::SeqCst);
        g.arrivals
            .lock()
            .unwrap()
            .push((kind.clone(), name, answered));
        if kind != "Create" {
            return StatusCode::ACCEPTED;
        }
        // Hold each Create until all of them are in flight together.
        g.creates_arrived.send_modify(|n| *n += 1);
        let mut arrived = g.creates_arrived.subscribe();
        let together =
            tokio::time::timeout(Duration::from_secs(10), arrived.wait_for(|n| *n >= INBOXES))
                .await
                .is_ok();
        g.creates_answered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if together {
            StatusCode::ACCEPTED
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
    let gate = Gate::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = format!("localhost:{}", listener.local_addr().unwrap().port());
    let router = Router::new()
        .route("/u/{name}/inbox", post(inbox))
        .with_state(gate.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let (app, person, actor) = node().await;
    let inboxes: Vec<(String, String)> = (0..INBOXES)
        .map(|n| {
            (
                format!("http://{authority}/u/f{n}/inbox"),
                authority.clone(),
            )
        })
        .collect();
    let object = "http://localhost:1/note/1";
    enqueue(&app, (person, &actor), "Create", object, &inboxes).await;
    enqueue(&app, (person, &actor), "Update", object, &inboxes).await;
    let worker = start_worker(&app, fast_worker_config());
    until(Duration::from_secs(20), "every delivery", || async {
        outbox::pending_count(&app.db).await.unwrap() == 0
    })
    .await;
    stop(worker).await;

    let arrivals = gate.arrivals.lock().unwrap().clone();
    assert_eq!(
        arrivals.len(),
        2 * INBOXES,
        "each arrives once: {arrivals:?}"
    );
    let (creates, updates): (Vec<_>, Vec<_>) =
        arrivals.iter().partition(|(kind, _, _)| kind == "Create");
    assert_eq!(creates.len(), INBOXES);
    assert!(
        creates.iter().all(|(_, _, answered)| *answered == 0),
        "the Creates were in flight together: {arrivals:?}"
    );
    assert!(
        updates.iter().all(|(_, _, answered)| *answered == INBOXES),
        "no Update before every Create was answered: {arrivals:?}"
    );
}
