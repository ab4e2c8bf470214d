//! `canopy worker` processes against loopback receivers: a worker SIGKILLed in the middle of a
//! fan-out and started again delivers everything and sends again only what it had claimed;
//! two workers, or two shards, send each delivery once between them; SIGTERM lets in-flight
//! sends finish and hands the unsent claims back at once.
//!
//! Each test makes a node (the real router and database of `canopy_testkit::TestApp`, without
//! an in-process worker) whose community has remote followers on several loopback instances,
//! posts once through the API (one Announce, one delivery per follower inbox), and runs
//! `canopy worker` child processes against the node's database. Workers log as JSON with
//! `canopy_worker=debug`, so each `delivered` line tells which process sent which delivery.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use canopy_testkit::TestApp;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const BIN: &str = env!("CARGO_BIN_EXE_canopy");
/// `WorkerConfig::default().batch`: most deliveries one worker has claimed at once.
const BATCH: usize = 64;
/// `WorkerConfig::default().per_instance_concurrency` (checked by `defaults_are_what_these_tests_assume`).
const PER_INSTANCE: usize = 16;

#[test]
fn defaults_are_what_these_tests_assume() {
    let d = canopy_worker::WorkerConfig::default();
    assert_eq!((d.batch, d.per_instance_concurrency), (BATCH, PER_INSTANCE));
}

// ---- receivers ----

/// What every receiver instance shares with the test.
#[derive(Default)]
struct Counts {
    /// POSTs that arrived, per inbox URL (counted on arrival, before answering).
    per_inbox: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
}

#[derive(Clone)]
struct Inbox {
    authority: String,
    counts: Arc<Counts>,
    /// Answers wait while this is false.
    open: watch::Receiver<bool>,
    /// Each answer takes a random time below this.
    max_delay: Duration,
}

async fn inbox(
    State(s): State<Inbox>,
    Path(name): Path<String>,
    _body: axum::body::Bytes,
) -> StatusCode {
    let url = format!("http://{}/u/{name}/inbox", s.authority);
    *s.counts.per_inbox.lock().unwrap().entry(url).or_default() += 1;
    s.counts.total.fetch_add(1, Ordering::SeqCst);
    if !s.max_delay.is_zero() {
        let ms = rand::random::<u64>() % (s.max_delay.as_millis() as u64).max(1);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut open = s.open.clone();
    let _ = open.wait_for(|o| *o).await;
    StatusCode::ACCEPTED
}

/// Loopback instances (`localhost:PORT`, one port each, so distinct authorities) that accept
/// POSTs to `/u/{name}/inbox` and count them.
struct Receivers {
    authorities: Vec<String>,
    counts: Arc<Counts>,
    open: watch::Sender<bool>,
    max_delay: Duration,
}

impl Receivers {
    /// `n` instances; each answer takes up to `max_delay`; answers wait until [`Self::open`]
    /// unless `open`.
    async fn start(n: usize, max_delay: Duration, open: bool) -> Self {
        let mut receivers = Self {
            authorities: Vec::new(),
            counts: Arc::default(),
            open: watch::channel(open).0,
            max_delay,
        };
        for _ in 0..n {
            receivers.add().await;
        }
        receivers
    }

    /// One more instance; returns its authority.
    async fn add(&mut self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = format!("localhost:{}", listener.local_addr().unwrap().port());
        let state = Inbox {
            authority: authority.clone(),
            counts: self.counts.clone(),
            open: self.open.subscribe(),
            max_delay: self.max_delay,
        };
        let router = Router::new()
            .route("/u/{name}/inbox", post(inbox))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        self.authorities.push(authority.clone());
        authority
    }

    fn open(&self) {
        self.open.send_replace(true);
    }

    fn total(&self) -> usize {
        self.counts.total.load(Ordering::SeqCst)
    }

    fn per_inbox(&self) -> HashMap<String, usize> {
        self.counts.per_inbox.lock().unwrap().clone()
    }

    /// `per_instance` follower inboxes on each instance.
    fn inboxes(&self, per_instance: usize) -> Vec<String> {
        self.authorities
            .iter()
            .flat_map(|a| (0..per_instance).map(move |n| format!("http://{a}/u/f{n}/inbox")))
            .collect()
    }
}

// ---- the node ----

/// A node without a worker of its own whose community `town` has remote followers.
struct Node {
    app: TestApp,
    token: String,
    community: i64,
    inboxes: Vec<String>,
}

impl Node {
    async fn with_followers(inboxes: Vec<String>) -> Self {
        let mut node = Self::new().await;
        node.app.remote_followers("town", &inboxes).await;
        node.inboxes = inboxes;
        node
    }

    async fn new() -> Self {
        let app = TestApp::spawn_without_worker().await;
        let token = app.user("alice").await;
        let (s, c) = app
            .post(
                "/api/v1/communities",
                Some(&token),
                json!({"name": "town", "title": "Town"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        Self {
            app,
            token,
            community: c["id"].as_i64().unwrap(),
            inboxes: Vec::new(),
        }
    }

    /// Post through the API: the community announces it to every follower inbox.
    async fn post(&self, title: &str) {
        let (s, p) = self
            .app
            .post(
                "/api/v1/posts",
                Some(&self.token),
                json!({"community_id": self.community, "title": title}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
    }

    /// Deliveries per state.
    async fn states(&self) -> HashMap<String, i64> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, count(*) FROM delivery GROUP BY state")
                .fetch_all(&self.app.db)
                .await
                .unwrap();
        rows.into_iter().collect()
    }

    async fn pending(&self) -> i64 {
        canopy_db::outbox::pending_count(&self.app.db)
            .await
            .unwrap()
    }

    /// The database URL a worker process uses to reach the node's database.
    async fn database_url(&self) -> String {
        let (name,): (String,) = sqlx::query_as("SELECT current_database()")
            .fetch_one(&self.app.db)
            .await
            .unwrap();
        let mut url = url::Url::parse(&canopy_testkit::admin_url()).unwrap();
        url.set_path(&format!("/{name}"));
        url.to_string()
    }
}

// ---- worker processes ----

/// A directory for worker logs, removed at the end.
struct LogDir(PathBuf);

impl LogDir {
    fn new() -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "canopy-worker-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `canopy worker`; SIGKILLed if the test ends without stopping it. When the test
/// fails, the end of its log is printed.
struct Worker {
    name: String,
    child: tokio::process::Child,
    log: PathBuf,
}

impl Worker {
    fn start(node_db: &str, public_url: &str, dir: &LogDir, name: &str, args: &[&str]) -> Self {
        let log = dir.0.join(format!("{name}.log"));
        let mut cmd = tokio::process::Command::new(BIN);
        for (key, _) in std::env::vars_os() {
            if key
                .to_string_lossy()
                .to_ascii_uppercase()
                .starts_with("CANOPY_")
            {
                cmd.env_remove(key);
            }
        }
        cmd.arg("worker")
            .args(args)
            .env("CANOPY_DATABASE_URL", node_db)
            .env("CANOPY_PUBLIC_URL", public_url)
            .env("CANOPY_DATA_DIR", dir.0.join("data"))
            .env("CANOPY_LOG_FORMAT", "json")
            .env("CANOPY_LOG_LEVEL", "info,canopy_worker=debug")
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        Self {
            name: name.to_string(),
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id().expect("worker still running") as i32)
    }

    /// SIGKILL: no chance to finish or release anything.
    async fn kill(&mut self) {
        kill(self.pid(), Signal::SIGKILL).unwrap();
        self.child.wait().await.unwrap();
    }

    /// SIGTERM, without waiting for the exit.
    fn terminate(&self) {
        kill(self.pid(), Signal::SIGTERM).unwrap();
    }

    /// Wait (with a deadline) for a clean exit.
    async fn exited(&mut self) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit after SIGTERM", self.name))
            .unwrap();
        assert!(status.success(), "{} exited with {status}", self.name);
    }

    async fn stop(&mut self) {
        self.terminate();
        self.exited().await;
    }

    /// The log's JSON events.
    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The first event whose message is `message`.
    fn event(&self, message: &str) -> Option<Value> {
        self.events()
            .into_iter()
            .find(|e| e["fields"]["message"] == message)
    }

    /// The inboxes this process delivered to (one entry per delivery it recorded as done).
    fn delivered(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e["fields"]["message"] == "delivered")
            .map(|e| e["fields"]["inbox"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(20)..];
            println!("--- end of {} log ---\n{}", self.name, tail.join("\n"));
        }
    }
}

/// Poll `check` every 5 ms until it is true; panic with `what` after `limit`.
async fn until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Inboxes that got more than one POST, and how many did not get any.
fn duplicates_and_missing(
    inboxes: &[String],
    seen: &HashMap<String, usize>,
) -> (Vec<String>, usize) {
    let duplicated = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(i, _)| i.clone())
        .collect();
    let missing = inboxes.iter().filter(|i| !seen.contains_key(*i)).count();
    (duplicated, missing)
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_fan_out_and_restarted_delivers_all_and_resends_only_its_claims() {
    let receivers = Receivers::start(6, Duration::from_millis(10), true).await;
    let node = Node::with_followers(receivers.inboxes(400)).await;
    node.post("Market day").await;
    let total = node.inboxes.len();
    assert_eq!(node.states().await.get("pending"), Some(&(total as i64)));

    let dir = LogDir::new();
    let db = node.database_url().await;
    // The killed worker's claims stay reserved for the lease; a short one keeps the test short.
    let args = ["--lease-secs", "2"];
    let mut first = Worker::start(&db, &node.app.public_url, &dir, "first", &args);
    until(
        Duration::from_secs(60),
        "a quarter of the fan-out",
        || async { receivers.total() >= total / 4 },
    )
    .await;
    first.kill().await;
    // A statement the worker sent just before it died still runs to its end in PostgreSQL
    // (a delivery may yet be marked done); look at the claims once those have finished.
    until(
        Duration::from_secs(10),
        "the dead worker's statements to end",
        || async {
            let (active,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'",
            )
            .fetch_one(&node.app.db)
            .await
            .unwrap();
            active == 0
        },
    )
    .await;
    let arrived_before_kill = receivers.total();
    assert!(arrived_before_kill < total, "the kill came too late");
    // What the dead worker had claimed but not recorded: pending with an attempt counted.
    let claimed: Vec<(String,)> =
        sqlx::query_as("SELECT inbox_url FROM delivery WHERE state = 'pending' AND attempts > 0")
            .fetch_all(&node.app.db)
            .await
            .unwrap();
    let claimed: HashSet<String> = claimed.into_iter().map(|(i,)| i).collect();
    assert!(
        !claimed.is_empty() && claimed.len() <= BATCH,
        "{} claims at the kill",
        claimed.len()
    );

    let mut second = Worker::start(&db, &node.app.public_url, &dir, "second", &args);
    until(Duration::from_secs(60), "every delivery done", || async {
        node.pending().await == 0
    })
    .await;
    second.stop().await;

    let seen = receivers.per_inbox();
    let (duplicated, missing) = duplicates_and_missing(&node.inboxes, &seen);
    assert_eq!(missing, 0, "every follower inbox got the activity");
    assert!(
        seen.values().all(|n| *n <= 2),
        "nothing arrives three times"
    );
    for inbox in &duplicated {
        assert!(
            claimed.contains(inbox),
            "{inbox} arrived twice but was not claimed at the kill"
        );
    }
    assert!(duplicated.len() <= claimed.len() && claimed.len() <= BATCH);
    // The dead worker's claims were taken over once their lease ended: claimed twice.
    let twice: Vec<(String,)> =
        sqlx::query_as("SELECT inbox_url FROM delivery WHERE attempts >= 2")
            .fetch_all(&node.app.db)
            .await
            .unwrap();
    let twice: HashSet<String> = twice.into_iter().map(|(i,)| i).collect();
    assert!(claimed.is_subset(&twice));
    assert_eq!(
        node.states().await,
        HashMap::from([("done".into(), total as i64)])
    );
    println!(
        "crash: {arrived_before_kill} of {total} arrived before SIGKILL; {} claimed and unrecorded; {} sent twice",
        claimed.len(),
        duplicated.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_deliver_every_delivery_exactly_once_between_them() {
    let receivers = Receivers::start(6, Duration::from_millis(2), true).await;
    let node = Node::with_followers(receivers.inboxes(400)).await;
    node.post("Market day").await;
    let total = node.inboxes.len();

    let dir = LogDir::new();
    let db = node.database_url().await;
    let mut a = Worker::start(&db, &node.app.public_url, &dir, "a", &[]);
    let mut b = Worker::start(&db, &node.app.public_url, &dir, "b", &[]);
    until(Duration::from_secs(60), "every delivery done", || async {
        node.pending().await == 0
    })
    .await;
    a.stop().await;
    b.stop().await;

    let seen = receivers.per_inbox();
    let (duplicated, missing) = duplicates_and_missing(&node.inboxes, &seen);
    assert_eq!(
        (duplicated.len(), missing),
        (0, 0),
        "each inbox got it once"
    );
    assert_eq!(seen.len(), total);
    assert_eq!(
        node.states().await,
        HashMap::from([("done".into(), total as i64)])
    );
    // Both took part, and no delivery was recorded by both.
    let (by_a, by_b) = (a.delivered(), b.delivered());
    assert!(
        !by_a.is_empty() && !by_b.is_empty(),
        "{} and {}",
        by_a.len(),
        by_b.len()
    );
    let all: HashSet<&String> = by_a.iter().chain(&by_b).collect();
    assert_eq!((all.len(), by_a.len() + by_b.len()), (total, total));
    println!("two workers: {} and {} of {total}", by_a.len(), by_b.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_workers_send_only_to_their_instances_and_everything_once_together() {
    // Enough instances that each of two shards (`abs(hashtext(authority)) % 2`) has two.
    let mut receivers = Receivers::start(0, Duration::from_millis(2), true).await;
    let mut node = Node::new().await;
    let mut shard_of: HashMap<String, i64> = HashMap::new();
    for _ in 0..40 {
        let sizes = [0, 1].map(|s| shard_of.values().filter(|v| **v == s).count());
        if sizes.iter().all(|n| *n >= 2) {
            break;
        }
        let authority = receivers.add().await;
        let (shard,): (i64,) = sqlx::query_as("SELECT abs(hashtext($1)::bigint) % 2")
            .bind(&authority)
            .fetch_one(&node.app.db)
            .await
            .unwrap();
        shard_of.insert(authority, shard);
    }
    let in_shard = |inbox: &str, shard: i64| {
        let authority = url::Url::parse(inbox).unwrap();
        let authority = format!(
            "{}:{}",
            authority.host_str().unwrap(),
            authority.port().unwrap()
        );
        shard_of[&authority] == shard
    };
    node.inboxes = receivers.inboxes(150);
    node.app.remote_followers("town", &node.inboxes).await;
    node.post("Market day").await;
    let total = node.inboxes.len();
    let shard0 = node.inboxes.iter().filter(|i| in_shard(i, 0)).count();
    assert!(
        shard0 >= 300 && total - shard0 >= 300,
        "{shard0} of {total}"
    );

    let dir = LogDir::new();
    let db = node.database_url().await;
    let mut zero = Worker::start(
        &db,
        &node.app.public_url,
        &dir,
        "shard0",
        &["--shard", "0/2"],
    );
    until(Duration::from_secs(60), "shard 0 delivered", || async {
        receivers.total() >= shard0
    })
    .await;
    until(Duration::from_secs(30), "shard 0 recorded", || async {
        node.pending().await == (total - shard0) as i64
    })
    .await;
    // Shard 1's instances got nothing yet, and their deliveries were never claimed.
    let seen = receivers.per_inbox();
    assert!(seen.keys().all(|i| in_shard(i, 0)));
    let (untouched,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM delivery WHERE state = 'pending' AND attempts = 0")
            .fetch_one(&node.app.db)
            .await
            .unwrap();
    assert_eq!(untouched, (total - shard0) as i64);

    let mut one = Worker::start(
        &db,
        &node.app.public_url,
        &dir,
        "shard1",
        &["--shard", "1/2"],
    );
    until(Duration::from_secs(60), "every delivery done", || async {
        node.pending().await == 0
    })
    .await;
    zero.stop().await;
    one.stop().await;

    let seen = receivers.per_inbox();
    let (duplicated, missing) = duplicates_and_missing(&node.inboxes, &seen);
    assert_eq!(
        (duplicated.len(), missing),
        (0, 0),
        "each inbox got it once"
    );
    assert_eq!(
        node.states().await,
        HashMap::from([("done".into(), total as i64)])
    );
    let (by_zero, by_one) = (zero.delivered(), one.delivered());
    assert_eq!(by_zero.len(), shard0);
    assert!(by_zero.iter().all(|i| in_shard(i, 0)));
    assert_eq!(by_one.len(), total - shard0);
    assert!(by_one.iter().all(|i| in_shard(i, 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_fan_out_finishes_sends_in_flight_and_hands_back_the_rest_at_once() {
    // One slow instance whose answers wait until the test opens the gate.
    let receivers = Receivers::start(1, Duration::ZERO, false).await;
    let node = Node::with_followers(receivers.inboxes(200)).await;
    node.post("Market day").await;
    let total = node.inboxes.len();

    let dir = LogDir::new();
    let db = node.database_url().await;
    // The default lease (120 s): a delivery left claimed would wait far beyond the deadlines.
    let mut first = Worker::start(&db, &node.app.public_url, &dir, "first", &[]);
    until(Duration::from_secs(30), "sends in flight", || async {
        receivers.total() >= PER_INSTANCE
    })
    .await;
    first.terminate();
    until(
        Duration::from_secs(30),
        "the worker to stop claiming",
        || async { first.event("delivery worker stopping").is_some() },
    )
    .await;
    // Only now do the sends in flight get their answers.
    receivers.open();
    first.exited().await;

    assert_eq!(
        receivers.total(),
        PER_INSTANCE,
        "nothing new was sent after SIGTERM"
    );
    let states = node.states().await;
    assert_eq!(
        states.get("done"),
        Some(&(PER_INSTANCE as i64)),
        "in-flight sends finished"
    );
    let stopped = first.event("delivery worker stopped").unwrap();
    let released = stopped["fields"]["released"].as_u64().unwrap() as usize;
    // A claim takes at most PER_INSTANCE deliveries per instance, so usually nothing waits for
    // a permit at SIGTERM; whatever does is handed back.
    assert!(released + PER_INSTANCE <= BATCH, "released {released}");
    // Nothing is left reserved: every pending delivery is due now, its claim not counted.
    let (reserved, counted): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE next_attempt_at > now()), count(*) FILTER (WHERE attempts > 0)
         FROM delivery WHERE state = 'pending'",
    )
    .fetch_one(&node.app.db)
    .await
    .unwrap();
    assert_eq!((reserved, counted), (0, 0));

    let mut second = Worker::start(&db, &node.app.public_url, &dir, "second", &[]);
    until(Duration::from_secs(30), "every delivery done", || async {
        node.pending().await == 0
    })
    .await;
    second.stop().await;
    let seen = receivers.per_inbox();
    let (duplicated, missing) = duplicates_and_missing(&node.inboxes, &seen);
    assert_eq!(
        (duplicated.len(), missing),
        (0, 0),
        "each inbox got it once"
    );
    assert_eq!(
        node.states().await,
        HashMap::from([("done".into(), total as i64)])
    );
    println!("sigterm: {PER_INSTANCE} in flight finished, {released} claimed and handed back");
}
