//! The `canopy` binary from the outside: configuration errors, and `serve` with the embedded
//! PostgreSQL cluster across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_canopy");
/// Generous: initdb with fsync on a busy 2-core CI machine can take a while.
const STARTUP: Duration = Duration::from_secs(90);

/// A `canopy` command with no CANOPY_* variables inherited from the caller.
fn canopy(dir: &Path) -> std::process::Command {
    canopy_testkit::process::canopy_command(Path::new(BIN), dir)
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh directory under /tmp that the `postgres` user can traverse (so the tests also work
/// as root). Dropping it stops any cluster left in `<dir>/data/postgres` and deletes it.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let path = PathBuf::from(format!(
            "/tmp/canopy-cli-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self(path)
    }

    /// A fresh directory with mode 700, as `mktemp -d` makes: no other user, the `postgres`
    /// user among them, can enter it.
    fn private() -> Self {
        let dir = Self::new();
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    fn data(&self) -> PathBuf {
        self.0.join("data")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        stop_postmaster(&self.data().join("postgres"));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fast-shut-down a postmaster still running in `cluster` (SIGINT is PostgreSQL's fast mode).
fn stop_postmaster(cluster: &Path) {
    let pid_file = cluster.join("postmaster.pid");
    let Some(pid) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
    else {
        return;
    };
    if kill(Pid::from_raw(pid), Signal::SIGINT).is_err() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while pid_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn unknown_key_in_config_file_is_named() {
    let dir = TempDir::new();
    let file = dir.0.join("canopy.toml");
    std::fs::write(
        &file,
        "bind = \"127.0.0.1:0\"\ndatabse_url = \"postgres://x/y\"\n",
    )
    .unwrap();
    let out = canopy(&dir.0)
        .arg("--config")
        .arg(&file)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("databse_url") && err.contains("canopy.toml"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_config_file_is_an_error() {
    let dir = TempDir::new();
    let out = canopy(&dir.0)
        .args(["--config", "nope.toml", "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("nope.toml"), "{}", stderr_of(&out));
}

#[test]
fn unknown_canopy_environment_variable_is_named() {
    let dir = TempDir::new();
    let out = canopy(&dir.0)
        .env("CANOPY_FOO", "1")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("CANOPY_FOO"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn bad_bind_address_is_named() {
    let dir = TempDir::new();
    let out = canopy(&dir.0)
        .env("CANOPY_BIND", "localhost:http")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("bind") && err.contains("CANOPY_BIND"), "{err}");
    // It stopped before creating anything.
    assert!(!dir.data().exists());
}

#[test]
fn bad_public_url_is_named() {
    let dir = TempDir::new();
    let file = dir.0.join("canopy.toml");
    std::fs::write(&file, "public_url = \"https://example.com/canopy\"\n").unwrap();
    let out = canopy(&dir.0)
        .arg("--config")
        .arg(&file)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("public_url"),
        "{}",
        stderr_of(&out)
    );
}

/// A running `canopy serve`; killed (SIGKILL) if the test ends without stopping it.
struct Server {
    process: canopy_testkit::process::NodeProcess,
    url: String,
    /// The start-up line that says where the database is (`Database: ...`).
    database: String,
    /// The metrics URL, when `CANOPY_METRICS_BIND` was given.
    metrics: Option<String>,
}

impl Server {
    async fn start(dir: &TempDir, run: u32) -> Self {
        Self::start_with(dir, run, &[]).await
    }

    /// `serve` with extra `CANOPY_*` variables; its logs are `serve-RUN.*.log` in `dir`.
    async fn start_with(dir: &TempDir, run: u32, env: &[(&str, &str)]) -> Self {
        let mut serve = canopy_testkit::process::Serve::new(Path::new(BIN), &dir.0)
            .name(&format!("serve-{run}"))
            .env("CANOPY_DATA_DIR", dir.data().display().to_string())
            .env("CANOPY_BIND", "127.0.0.1:0");
        for (key, value) in env {
            serve = serve.env(key, *value);
        }
        if env.iter().any(|(k, _)| *k == "CANOPY_METRICS_BIND") {
            serve = serve.wait_for_line("Metrics on ");
        }
        let process = serve.start().await.unwrap_or_else(|e| panic!("{e:#}"));
        Self {
            url: process.listen_url.clone(),
            database: process.database_line.clone(),
            metrics: process
                .stdout_line("Metrics on ")
                .map(|m| m.trim().to_string()),
            process,
        }
    }

    /// Poll the health endpoint until it answers 200, with a deadline.
    async fn wait_healthy(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + STARTUP;
        loop {
            let response = client
                .get(format!("{}/api/v1/health", self.url))
                .send()
                .await;
            if matches!(&response, Ok(r) if r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never healthy: {response:?}; log: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then wait (with a deadline) for a clean exit.
    async fn terminate(self) {
        let logs = self.process.logs();
        let status = self.process.terminate().await.unwrap();
        assert!(status.success(), "serve exited with {status}; log: {logs}");
    }

    fn log_text(&self) -> String {
        self.process.logs()
    }
}

/// URL of the embedded cluster's `canopy` database, as `serve` builds it.
fn embedded_url(dir: &TempDir) -> String {
    format!(
        "postgres:///canopy?user=postgres&host={}",
        dir.data().join("pg-socket").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_embedded_postgres_survives_a_restart() {
    let dir = TempDir::new();

    let server = Server::start(&dir, 1).await;
    server.wait_healthy().await;
    assert!(
        server.log_text().contains("delivery worker settings"),
        "serve runs a worker: {}",
        server.log_text()
    );
    // Leave a mark in the database to find after the restart.
    let pool = sqlx::PgPool::connect(&embedded_url(&dir)).await.unwrap();
    for statement in [
        "CREATE TABLE cli_test_mark (note text)",
        "INSERT INTO cli_test_mark VALUES ('kept')",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
    server.terminate().await;
    // serve stops the cluster it ran on the way out.
    assert!(
        !dir.data().join("postgres/postmaster.pid").exists(),
        "cluster still running after serve exited"
    );

    // Between runs: an admin command starts the cluster, and stops it again when done.
    let out = canopy(&dir.0)
        .env("CANOPY_DATA_DIR", dir.data())
        .args([
            "admin",
            "create-user",
            "alice",
            "--password",
            "correct horse",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "create-user failed: {}",
        stderr_of(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("alice"));
    assert!(
        !dir.data().join("postgres/postmaster.pid").exists(),
        "admin left the cluster running"
    );
    // The account is stored: creating it again is refused, with a one-line error.
    let out = canopy(&dir.0)
        .env("CANOPY_DATA_DIR", dir.data())
        .args(["admin", "create-user", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"another password\n")?;
            child.wait_with_output()
        })
        .unwrap();
    let err = stderr_of(&out);
    assert!(!out.status.success(), "second create-user succeeded");
    assert!(
        err.contains("already exists") || err.contains("conflict"),
        "{err}"
    );

    let server = Server::start(&dir, 2).await;
    server.wait_healthy().await;
    let pool = sqlx::PgPool::connect(&embedded_url(&dir)).await.unwrap();
    let note: String = sqlx::query_scalar("SELECT note FROM cli_test_mark")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(note, "kept");
    pool.close().await;
    server.terminate().await;
}

/// The directory of the embedded cluster that serve's `Database:` line names.
fn cluster_dir_of(database_line: &str) -> PathBuf {
    let (_, rest) = database_line
        .split_once("embedded PostgreSQL cluster ")
        .unwrap_or_else(|| panic!("no embedded cluster in {database_line:?}"));
    PathBuf::from(rest.split_once(" (").unwrap().0)
}

/// The directory holding an embedded cluster (and its socket directory). When dropped, stops a
/// postmaster still running there and, for a cluster outside the test's directory, deletes it.
struct ClusterHome(PathBuf);

impl ClusterHome {
    fn url(&self) -> String {
        format!(
            "postgres:///canopy?user=postgres&host={}",
            self.0.join("pg-socket").display()
        )
    }
}

impl Drop for ClusterHome {
    fn drop(&mut self) {
        stop_postmaster(&self.0.join("postgres"));
        if self.0.starts_with("/var/lib/canopy/") {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The Quick start from a clone in a directory closed to other users (`/root/...`, or what
/// `mktemp -d` makes). As root, where PostgreSQL runs as the `postgres` user, the cluster goes
/// where that user can reach it and serve says where; as another user it stays in data_dir.
/// Either way serve starts, answers, and finds its data again after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_from_a_directory_closed_to_other_users_starts_and_keeps_its_data() {
    let dir = TempDir::private();
    let root = nix::unistd::Uid::effective().is_root();

    let server = Server::start(&dir, 1).await;
    let cluster = cluster_dir_of(&server.database);
    let home = ClusterHome(cluster.parent().unwrap().to_path_buf());
    let data = dir.data().canonicalize().unwrap();
    if root {
        assert!(
            cluster.starts_with("/var/lib/canopy/") && server.database.contains("cannot reach"),
            "the start-up lines say where the cluster is and why: {}",
            server.database
        );
        assert!(!data.join("postgres/PG_VERSION").exists());
        let note = std::fs::read_to_string(home.0.join("data_dir.txt")).unwrap();
        assert!(note.contains(&*data.to_string_lossy()), "{note}");
    } else {
        assert_eq!(cluster, data.join("postgres"), "{}", server.database);
    }
    server.wait_healthy().await;
    let pool = sqlx::PgPool::connect(&home.url()).await.unwrap();
    for statement in [
        "CREATE TABLE cli_test_mark (note text)",
        "INSERT INTO cli_test_mark VALUES ('kept')",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
    server.terminate().await;
    assert!(
        !cluster.join("postmaster.pid").exists(),
        "cluster still running after serve exited"
    );

    // Other commands find the same cluster.
    let out = canopy(&dir.0)
        .env("CANOPY_DATA_DIR", dir.data())
        .args([
            "admin",
            "create-user",
            "alice",
            "--password",
            "correct horse",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "create-user: {}", stderr_of(&out));

    let server = Server::start(&dir, 2).await;
    assert_eq!(
        cluster_dir_of(&server.database),
        cluster,
        "the same place at every start"
    );
    server.wait_healthy().await;
    let pool = sqlx::PgPool::connect(&home.url()).await.unwrap();
    let note: String = sqlx::query_scalar("SELECT note FROM cli_test_mark")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(note, "kept");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM local_user")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
    pool.close().await;
    server.terminate().await;
}

#[test]
fn bad_worker_duration_is_named() {
    let dir = TempDir::new();
    let out = canopy(&dir.0)
        .env("CANOPY_WORKER_LEASE", "90")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("worker_lease") && err.contains("CANOPY_WORKER_LEASE"),
        "{err}"
    );
    assert!(
        err.contains("\"90s\""),
        "the message shows the syntax: {err}"
    );

    let file = dir.0.join("canopy.toml");
    std::fs::write(&file, "worker_keep_failed = \"two weeks\"\n").unwrap();
    let out = canopy(&dir.0)
        .arg("--config")
        .arg(&file)
        .arg("worker")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("worker_keep_failed") && err.contains("canopy.toml"),
        "{err}"
    );
    assert!(!dir.data().exists(), "it stopped before starting anything");
}

#[test]
fn a_dedup_window_shorter_than_a_replayable_signature_is_refused_at_start_up() {
    let dir = TempDir::new();
    let out = canopy(&dir.0)
        .env("CANOPY_WORKER_KEEP_RECEIVED", "12h")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("worker_keep_received")
            && err.contains("CANOPY_WORKER_KEEP_RECEIVED")
            && err.contains("at least 24 hours"),
        "{err}"
    );
    assert!(!dir.data().exists(), "it stopped before starting anything");
}

/// Create the local user `name` through the binary (which also applies the migrations) and
/// return its person id.
async fn create_user(dir: &TempDir, database: &str, name: &str) -> i64 {
    let out = canopy(&dir.0)
        .env("CANOPY_DATABASE_URL", database)
        .args([
            "admin",
            "create-user",
            name,
            "--password",
            "a long password",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "create-user: {}", stderr_of(&out));
    let user: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    user["id"].as_i64().unwrap()
}

/// Queue an activity by `person` with one delivery to `authority` in `state`, created and (if
/// finished) finished `age` ago.
async fn delivery(pool: &sqlx::PgPool, person: i64, authority: &str, state: &str, age: &str) {
    let (activity,): (i64,) = sqlx::query_as(
        "INSERT INTO outbox_activity (ap_id, kind, actor_ap_id, person_id, payload, created_at)
         VALUES ('http://localhost:8536/activities/' || gen_random_uuid(), 'Create',
                 'http://localhost:8536/u/x', $1, '{}', now() - $2::interval)
         RETURNING id",
    )
    .bind(person)
    .bind(age)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO delivery (activity_id, inbox_url, authority, state, created_at, finished_at)
         VALUES ($1, 'https://' || $2 || '/inbox', $2, $3, now() - $4::interval,
                 CASE WHEN $3 = 'pending' THEN NULL ELSE now() - $4::interval END)",
    )
    .bind(activity)
    .bind(authority)
    .bind(state)
    .bind(age)
    .execute(pool)
    .await
    .unwrap();
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_queue_prints_the_queue_per_instance_as_a_table_and_as_json() {
    let dir = TempDir::new();
    let database = canopy_testkit::empty_database_url().await;
    let queue = |json: bool| {
        let mut cmd = canopy(&dir.0);
        cmd.env("CANOPY_DATABASE_URL", &database)
            .args(["admin", "queue"]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "admin queue: {}", stderr_of(&out));
        stdout_of(&out)
    };
    // A new database: migrated, and nothing to show.
    assert_eq!(queue(false), "No deliveries queued or made yet.\n");

    let person = create_user(&dir, &database, "alice").await;
    let pool = sqlx::PgPool::connect(&database).await.unwrap();
    delivery(&pool, person, "slow.example", "pending", "2 hours").await;
    delivery(&pool, person, "slow.example", "pending", "5 minutes").await;
    delivery(&pool, person, "fast.example:8443", "done", "1 minute").await;
    sqlx::query(
        "INSERT INTO instance (authority, delivery_state, failing_since, last_failure_at,
                               last_error, next_probe_at, deliveries_failed)
         VALUES ('slow.example', 'unreachable', now() - interval '4 days', now(),
                 'error sending request: operation timed out', now() + interval '1 hour', 4)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let text = queue(false);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("INSTANCE") && lines[0].contains("PENDING"),
        "{text}"
    );
    let slow: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &slow[..5],
        ["slow.example", "unreachable", "2", "2h", "0"],
        "{text}"
    );
    assert_eq!(slow[5], "4", "{text}");
    assert!(lines[1].ends_with("operation timed out"), "{text}");
    let fast: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        &fast[..6],
        ["fast.example:8443", "ok", "0", "-", "1", "0"],
        "{text}"
    );
    assert_eq!(
        lines[3],
        "2 pending deliveries; 2 instances, 1 unreachable."
    );

    let report: serde_json::Value = serde_json::from_str(&queue(true)).unwrap();
    assert_eq!(report["pending"], 2, "{report}");
    let slow = &report["instances"][0];
    assert_eq!(slow["authority"], "slow.example", "{report}");
    assert_eq!(slow["state"], "unreachable");
    assert_eq!(slow["failed"], 4);
    let age = slow["oldest_pending_age_secs"].as_i64().unwrap();
    assert!((7200..7300).contains(&age), "{report}");
    assert!(slow["next_probe_at"].is_string(), "{report}");
    assert_eq!(report["instances"][1]["succeeded"], 1, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_runs_with_the_settings_of_the_config_file() {
    let dir = TempDir::new();
    let database = canopy_testkit::empty_database_url().await;
    let person = create_user(&dir, &database, "bob").await;
    let pool = sqlx::PgPool::connect(&database).await.unwrap();
    // Delivered two hours ago: kept by the default retention (a day), not by the file's.
    delivery(&pool, person, "peer.example", "done", "2 hours").await;
    delivery(&pool, person, "peer.example", "done", "10 minutes").await;
    let file = dir.0.join("canopy.toml");
    std::fs::write(
        &file,
        "worker_batch = 7\nworker_keep_done = \"1h\"\nworker_cleanup_every = \"1s\"\n",
    )
    .unwrap();

    let log = dir.0.join("worker.log");
    let mut child = tokio::process::Command::from(canopy(&dir.0))
        .arg("--config")
        .arg(&file)
        .arg("worker")
        .env("CANOPY_DATABASE_URL", &database)
        .env("CANOPY_LOG_LEVEL", "info")
        .env("CANOPY_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + STARTUP;
    loop {
        let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM delivery")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old delivered row was never cleaned up ({left} left); log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (newer,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM delivery WHERE finished_at > now() - interval '1 hour'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(newer, 1, "the newer row stays");
    pool.close().await;

    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("worker did not exit after SIGTERM")
        .unwrap();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "worker exited with {status}; log: {log}");
    let settings: serde_json::Value = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["fields"]["message"] == "delivery worker settings")
        .unwrap_or_else(|| panic!("no settings logged: {log}"));
    assert_eq!(settings["fields"]["batch"], 7, "{settings}");
    assert_eq!(settings["fields"]["keep_done"], "1h", "{settings}");
    assert_eq!(settings["fields"]["cleanup_every"], "1s", "{settings}");
    assert_eq!(
        settings["fields"]["lease"], "2m",
        "defaults fill the rest: {settings}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_closed_refuses_the_api_but_admin_create_user_still_works() {
    let dir = TempDir::new();
    let database = canopy_testkit::empty_database_url().await;
    let env = [
        ("CANOPY_DATABASE_URL", database.as_str()),
        ("CANOPY_REGISTRATION", "closed"),
        ("CANOPY_WORKER_IN_SERVE", "false"),
    ];
    let server = Server::start_with(&dir, 1, &env).await;
    server.wait_healthy().await;
    let client = reqwest::Client::new();
    let account = |name: &str| serde_json::json!({"name": name, "password": "a long password"});

    let resp = client
        .post(format!("{}/api/v1/accounts", server.url))
        .json(&account("walkin"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "registration_closed", "{body}");

    // The administrators' way in works with the same settings, and the account it makes
    // logs in through the running server.
    let out = canopy(&dir.0)
        .envs(env.iter().copied())
        .args([
            "admin",
            "create-user",
            "invited",
            "--password",
            "a long password",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "create-user: {}", stderr_of(&out));
    let resp = client
        .post(format!("{}/api/v1/sessions", server.url))
        .json(&account("invited"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

    let pool = sqlx::PgPool::connect(&database).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM person ORDER BY name")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(names, ["invited"]);
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_made_with_the_cli_applies_to_a_running_serve_within_seconds() {
    let dir = TempDir::new();
    let database = canopy_testkit::empty_database_url().await;
    create_user(&dir, &database, "alice").await;
    let server = Server::start_with(&dir, 1, &[("CANOPY_DATABASE_URL", &database)]).await;
    server.wait_healthy().await;
    let inbox = format!("{}/inbox", server.url);
    let s = canopy_testkit::standin::StandIn::start().await;
    let eve = s.person("eve");
    let follow = |n: u32| {
        serde_json::json!({"id": format!("{}/follows/{n}", s.base), "type": "Follow",
                           "actor": eve, "object": "http://localhost:8536/u/alice"})
    };
    let (status, text) = s.deliver(&inbox, &follow(1)).await;
    assert!(status.is_success(), "{status}: {text}");

    let out = canopy(&dir.0)
        .env("CANOPY_DATABASE_URL", &database)
        .args([
            "admin",
            "instance",
            "block",
            &s.authority(),
            "--reason",
            "spam",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "block: {}", stderr_of(&out));
    // The Accept of the follow may or may not have been delivered yet: either count is right.
    let said = stdout_of(&out);
    assert!(
        said.starts_with(&format!("Blocked {}: ", s.authority()))
            && said.ends_with("pending deliveries dropped, 1 follows ended.\n"),
        "{said}"
    );

    // The running serve reads the change from the database, without a restart.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 2;
    loop {
        let (status, text) = s.deliver(&inbox, &follow(n)).await;
        if status == reqwest::StatusCode::FORBIDDEN {
            assert!(
                text.contains("is blocked") && text.contains("spam"),
                "{text}"
            );
            break;
        }
        assert!(status.is_success(), "{status}: {text}");
        assert!(
            Instant::now() < deadline,
            "the block never reached the running serve; log: {}",
            server.log_text()
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let list = |json: bool| {
        let mut cmd = canopy(&dir.0);
        cmd.env("CANOPY_DATABASE_URL", &database)
            .args(["admin", "instance", "list"]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "list: {}", stderr_of(&out));
        stdout_of(&out)
    };
    let report: serde_json::Value = serde_json::from_str(&list(true)).unwrap();
    let standin = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["authority"] == s.authority())
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(standin["blocked"], true);
    assert_eq!(standin["block_reason"], "spam");
    assert_eq!(standin["persons"], 1);
    let text = list(false);
    let row = text
        .lines()
        .find(|l| l.starts_with(&s.authority()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains(" blocked ") && row.ends_with("spam"), "{text}");
    assert!(
        text.ends_with("Federation mode open; 2 instances, 1 blocked.\n"),
        "{text}"
    );

    let out = canopy(&dir.0)
        .env("CANOPY_DATABASE_URL", &database)
        .args(["admin", "instance", "unblock", &s.authority()])
        .output()
        .unwrap();
    assert!(out.status.success(), "unblock: {}", stderr_of(&out));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, text) = s.deliver(&inbox, &follow(n)).await;
        if status.is_success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unblock never reached the running serve: {status}: {text}"
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.terminate().await;
}

/// The value of the sample of `name` whose labels include every one of `labels` (as written,
/// e.g. `outcome="accepted"`), summed over the samples that match; `None` when there is none.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        if metric != name || !labels.iter().all(|l| rest.contains(l)) {
            continue;
        }
        *found.get_or_insert(0.0) += value.parse::<f64>().unwrap();
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_reports_traffic_by_name_and_stays_off_the_public_router() {
    let dir = TempDir::new();
    let database = canopy_testkit::empty_database_url().await;
    create_user(&dir, &database, "alice").await;
    let server = Server::start_with(
        &dir,
        1,
        &[
            ("CANOPY_DATABASE_URL", &database),
            ("CANOPY_METRICS_BIND", "127.0.0.1:0"),
            ("CANOPY_RATE_LIMIT_REGISTRATIONS", "1/1h"),
            ("CANOPY_WORKER_POLL_INTERVAL", "20ms"),
        ],
    )
    .await;
    server.wait_healthy().await;
    let metrics_url = server.metrics.clone().expect("a Metrics line");
    let client = reqwest::Client::new();
    let scrape = || async {
        let response = client.get(&metrics_url).send().await.unwrap();
        assert!(response.status().is_success());
        response.text().await.unwrap()
    };
    // The sampler sets the pool gauges, then queries the queue: wait for its first full pass.
    let before = canopy_testkit::eventually("the first sample is complete", || async {
        let text = scrape().await;
        sample(&text, "canopy_delivery_queue_pending", &[]).map(|_| text)
    })
    .await;
    assert!(
        sample(&before, "canopy_db_pool_connections", &["state=\"size\""]).unwrap() >= 1.0,
        "{before}"
    );
    assert!(
        sample(&before, "canopy_delivery_queue_pending", &[]).is_some(),
        "{before}"
    );
    assert_eq!(
        sample(&before, "canopy_inbox_activities_total", &[]),
        None,
        "{before}"
    );

    // Not on the public router.
    let public = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), reqwest::StatusCode::NOT_FOUND);

    // Real traffic: an accepted follow (whose Accept is delivered), a refused activity, a
    // registration over the limit, and some requests to a route with a parameter.
    let s = canopy_testkit::standin::StandIn::start().await;
    let eve = s.person("eve");
    let inbox = format!("{}/inbox", server.url);
    let follow = serde_json::json!({"id": format!("{}/follows/1", s.base), "type": "Follow",
                                    "actor": eve, "object": "http://localhost:8536/u/alice"});
    let (status, text) = s.deliver(&inbox, &follow).await;
    assert!(status.is_success(), "{status}: {text}");
    let forged = serde_json::json!({"id": "http://elsewhere.example/a/1", "type": "Follow",
                                    "actor": eve, "object": "http://localhost:8536/u/alice"});
    let (status, _) = s.deliver(&inbox, &forged).await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
    for name in ["bob", "carol"] {
        client
            .post(format!("{}/api/v1/accounts", server.url))
            .json(&serde_json::json!({"name": name, "password": "a long password"}))
            .send()
            .await
            .unwrap();
    }
    for _ in 0..3 {
        client
            .get(format!("{}/api/v1/users/alice", server.url))
            .send()
            .await
            .unwrap();
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let text = scrape().await;
        let delivered = sample(&text, "canopy_deliveries_total", &["outcome=\"done\""]);
        let instances = sample(&text, "canopy_instances", &["state=\"ok\""]);
        if delivered >= Some(1.0) && instances >= Some(1.0) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the delivery or the instance never showed: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        sample(
            &after,
            "canopy_inbox_activities_total",
            &["outcome=\"accepted\""]
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "canopy_inbox_activities_total",
            &["outcome=\"refused\"", "reason=\"forbidden\""]
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "canopy_rate_limit_refusals_total",
            &["limit=\"registration\""]
        ),
        Some(1.0),
        "{after}"
    );
    // Latency by the matched route, not the raw path.
    assert_eq!(
        sample(
            &after,
            "canopy_http_request_duration_seconds_count",
            &["route=\"/api/v1/users/{name}\"", "status=\"200\""]
        ),
        Some(3.0),
        "{after}"
    );
    assert!(!after.contains("/api/v1/users/alice"), "{after}");
    assert!(
        sample(
            &after,
            "canopy_http_request_duration_seconds_bucket",
            &["route=\"/inbox\"", "le=\"+Inf\""]
        ) >= Some(2.0),
        "{after}"
    );
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_ban_and_unban_change_the_site_ban_as_the_oldest_admin() {
    let dir = TempDir::new();
    let database = canopy_testkit::empty_database_url().await;
    let run = |args: &[&str]| {
        canopy(&dir.0)
            .env("CANOPY_DATABASE_URL", &database)
            .args(args)
            .output()
            .unwrap()
    };
    // Without an admin account there is nobody to act as.
    create_user(&dir, &database, "carol").await;
    let out = run(&["admin", "ban", "carol"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("no admin account"),
        "{}",
        stderr_of(&out)
    );
    let out = run(&[
        "admin",
        "create-user",
        "root",
        "--password",
        "a long password",
        "--admin",
    ]);
    assert!(out.status.success(), "create-user: {}", stderr_of(&out));

    let out = run(&[
        "admin",
        "ban",
        "carol",
        "--reason",
        "abuse",
        "--expires",
        "2099-01-01T00:00:00Z",
    ]);
    assert!(out.status.success(), "ban: {}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "Banned carol from this node.\n");
    let pool = sqlx::PgPool::connect(&database).await.unwrap();
    let bans: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT p.name, b.reason, a.name FROM site_ban b JOIN person p ON p.id = b.person_id
         JOIN person a ON a.id = b.banned_by",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        bans,
        [("carol".into(), Some("abuse".into()), "root".into())]
    );

    let out = run(&["admin", "ban", "nobody"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("not found"), "{}", stderr_of(&out));
    let out = run(&["admin", "ban", "root", "--as", "carol"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("not an admin"),
        "{}",
        stderr_of(&out)
    );

    let out = run(&["admin", "unban", "carol"]);
    assert!(out.status.success(), "unban: {}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "Unbanned carol.\n");
    let out = run(&["admin", "unban", "carol"]);
    assert!(out.status.success(), "unban: {}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "carol was not banned.\n");
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM site_ban")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_resync_copies_a_remote_thread_and_prints_what_it_added() {
    // The thread's home: a node in this process, on loopback.
    let home = canopy_testkit::TestApp::spawn_without_worker().await;
    let alice = home.user("alice").await;
    let post = home.community_with_post(&alice, "forest").await;
    let first = home.comment(&alice, post, None, "first").await;
    home.comment(&alice, post, Some(first), "under first").await;
    home.comment(&alice, post, None, "second").await;
    let post_url = format!("{}/post/{post}", home.public_url);

    // A node that never heard of it: its own database, development mode (http public URL).
    let dir = TempDir::new();
    let database = canopy_testkit::empty_database_url().await;
    let run = || {
        canopy(&dir.0)
            .env("CANOPY_DATABASE_URL", &database)
            .env("CANOPY_PUBLIC_URL", "http://localhost:1")
            .args(["admin", "resync", &post_url])
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "resync: {}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(text.contains("source=context"), "{text}");
    assert!(text.contains("added_comments=3"), "{text}");
    assert!(
        text.ends_with(&format!("resync {post_url}: 1 thread(s), added 3\n")),
        "{text}"
    );
    let pool = sqlx::PgPool::connect(&database).await.unwrap();
    let mut stored: Vec<(String,)> = sqlx::query_as("SELECT content FROM comment")
        .fetch_all(&pool)
        .await
        .unwrap();
    stored.sort();
    assert_eq!(
        stored,
        [
            ("first".into(),),
            ("second".into(),),
            ("under first".into(),)
        ]
    );

    // Once more: nothing to add.
    let out = run();
    assert!(out.status.success(), "resync: {}", stderr_of(&out));
    assert!(
        stdout_of(&out).ends_with(&format!("resync {post_url}: 1 thread(s), added 0\n")),
        "{}",
        stdout_of(&out)
    );
    // Not a URL at all.
    let out = canopy(&dir.0)
        .env("CANOPY_DATABASE_URL", &database)
        .args(["admin", "resync", "not a url"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("not an http(s) URL"),
        "{}",
        stderr_of(&out)
    );
}
