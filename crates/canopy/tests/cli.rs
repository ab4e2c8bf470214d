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
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_canopy");
/// Generous: initdb with fsync on a busy 2-core CI machine can take a while.
const STARTUP: Duration = Duration::from_secs(90);

/// A `canopy` command with no CANOPY_* variables inherited from the caller.
fn canopy(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key
            .to_string_lossy()
            .to_ascii_uppercase()
            .starts_with("CANOPY_")
        {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir);
    cmd
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
    child: tokio::process::Child,
    url: String,
    log: PathBuf,
}

impl Server {
    async fn start(dir: &TempDir, run: u32) -> Self {
        let log = dir.0.join(format!("serve-{run}.log"));
        let mut cmd = tokio::process::Command::from(canopy(&dir.0));
        cmd.arg("serve")
            .env("CANOPY_DATA_DIR", dir.data())
            .env("CANOPY_BIND", "127.0.0.1:0")
            .env("CANOPY_LOG_LEVEL", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(STARTUP, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("Canopy listening on ") {
                    return url.trim().to_string();
                }
            }
            panic!(
                "serve exited without listening: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "serve did not listen in time: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, url, log }
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
    async fn terminate(mut self) {
        let pid = self.child.id().unwrap() as i32;
        kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("serve did not exit after SIGTERM")
            .unwrap();
        assert!(
            status.success(),
            "serve exited with {status}; log: {}",
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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
