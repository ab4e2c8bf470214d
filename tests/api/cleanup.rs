//! The scheduled cleanup of finished deliveries: rows past their retention go, in batches;
//! newer rows, pending deliveries, activities with deliveries left and sent Follows stay; and
//! the success counts the operators see do not change when delivered rows are deleted.

use canopy_db::outbox::{self, NewActivity, Signer};
use canopy_tests::TestApp;
use canopy_worker::cleanup::{self, CleanupConfig, Removed};
use serde_json::json;
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
    (person, actor): (canopy_core::PersonId, &str),
    kind: &str,
    inboxes: &[&str],
) -> String {
    let id = format!(
        "{}/activities/{:032x}",
        app.public_url,
        rand::random::<u128>()
    );
    let object = format!("https://{REMOTE}/c/x");
    let payload = json!({"id": id, "type": kind, "actor": actor, "object": object});
    let targets: Vec<(String, String)> = inboxes
        .iter()
        .map(|path| (format!("https://{REMOTE}{path}"), REMOTE.to_string()))
        .collect();
    let mut conn = app.db.acquire().await.unwrap();
    outbox::enqueue(
        &mut conn,
        &NewActivity {
            ap_id: &id,
            kind,
            object_ap_id: Some(&object),
            actor_ap_id: actor,
            signer: Signer::Person(person),
            payload: &payload,
        },
        &targets,
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
    let old_pending = enqueue(&app, who, "Create", &["/inbox"]).await;
    age(&app, &old_pending, "/inbox", "pending", "20 days").await;
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
            done: 8,
            failed: 1,
            activities: 7
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
