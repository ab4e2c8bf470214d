//! Canopy in its own process: `canopy serve` ([`NodeProcess`]) and `canopy worker`
//! ([`WorkerProcess`]) started from a given binary (the release build, for benchmarks and the
//! release tests), and [`free_port`].

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long the node may take to migrate and start listening (initdb of an embedded cluster on
/// a busy two-core machine included).
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A free loopback port: bind port 0, read the port, close the socket. The node binds it again
/// right after; its public URL must name the port before it starts, so port 0 cannot be passed.
pub fn free_port() -> Result<u16> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(socket.local_addr()?.port())
}

/// A `canopy` command run in `dir` with no `CANOPY_*` variable inherited from the caller, so
/// only what a test or benchmark sets applies. A relative `bin` is taken from the current
/// directory, not from `dir`.
pub fn canopy_command(bin: &Path, dir: &Path) -> std::process::Command {
    let bin = std::path::absolute(bin).unwrap_or_else(|_| bin.to_path_buf());
    let mut cmd = std::process::Command::new(bin);
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

/// How to start `canopy serve`: its binary, the directory it runs in (its data directory and
/// logs go there unless set), and its `CANOPY_*` settings.
pub struct Serve {
    bin: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    name: String,
    also_wait_for: Vec<String>,
}

impl Serve {
    /// `bin serve` run in `dir`, logging at `info`, with its data directory `dir/data`.
    pub fn new(bin: &Path, dir: &Path) -> Self {
        Self {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            env: vec![
                (
                    "CANOPY_DATA_DIR".into(),
                    dir.join("data").display().to_string(),
                ),
                ("CANOPY_LOG_LEVEL".into(), "info".into()),
            ],
            name: "serve".into(),
            also_wait_for: Vec::new(),
        }
    }

    /// Wait at start-up also for a line that starts with `prefix` (say, `Metrics on `).
    pub fn wait_for_line(mut self, prefix: &str) -> Self {
        self.also_wait_for.push(prefix.into());
        self
    }

    /// Set (or replace) a `CANOPY_*` variable.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    /// Its logs are `dir/NAME.stdout.log` and `dir/NAME.stderr.log` (`serve` by default).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Start it and wait (up to [`START_TIMEOUT`]) until it prints where it listens and where
    /// its database is.
    pub async fn start(self) -> Result<NodeProcess> {
        let stdout_log = self.dir.join(format!("{}.stdout.log", self.name));
        let stderr_log = self.dir.join(format!("{}.stderr.log", self.name));
        let create = |path: &Path| {
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))
        };
        let mut command = Command::from(canopy_command(&self.bin, &self.dir));
        command
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(create(&stdout_log)?))
            .stderr(Stdio::from(create(&stderr_log)?))
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("start {} serve", self.bin.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("serve exited at once"))?;
        let mut node = NodeProcess {
            child,
            pid,
            listen_url: String::new(),
            database_line: String::new(),
            stdout_log,
            stderr_log,
        };
        let started = std::time::Instant::now();
        loop {
            let stdout = std::fs::read_to_string(&node.stdout_log).unwrap_or_default();
            let listening = stdout
                .lines()
                .find_map(|l| l.strip_prefix("Canopy listening on "));
            let database = stdout.lines().find(|l| l.starts_with("Database: "));
            let others = self
                .also_wait_for
                .iter()
                .all(|p| stdout.lines().any(|l| l.starts_with(p.as_str())));
            if let (Some(url), Some(database), true) = (listening, database, others) {
                node.listen_url = url.trim().to_string();
                node.database_line = database.to_string();
                return Ok(node);
            }
            if let Some(status) = node.child.try_wait()? {
                bail!("serve exited ({status}) before listening:\n{}", node.logs());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "serve did not listen within {START_TIMEOUT:?}:\n{}",
                    node.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A running `canopy serve`; killed (SIGKILL) when dropped.
pub struct NodeProcess {
    child: Child,
    pub pid: u32,
    /// `http://ADDRESS:PORT`, where it listens (from its start-up line).
    pub listen_url: String,
    /// Its start-up line that says where the database is (`Database: …`).
    pub database_line: String,
    pub stdout_log: PathBuf,
    pub stderr_log: PathBuf,
}

impl NodeProcess {
    /// The rest of the first line of its stdout that starts with `prefix`.
    pub fn stdout_line(&self, prefix: &str) -> Option<String> {
        std::fs::read_to_string(&self.stdout_log)
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
    }

    /// Both logs, for failure messages.
    pub fn logs(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "--- stdout ({}) ---\n{}--- stderr ({}) ---\n{}",
            self.stdout_log.display(),
            read(&self.stdout_log),
            self.stderr_log.display(),
            read(&self.stderr_log)
        )
    }

    /// Fails if the node has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the node exited ({status}):\n{}", self.logs());
        }
        Ok(())
    }

    /// SIGTERM, then wait up to a minute for the exit status.
    pub async fn terminate(mut self) -> Result<std::process::ExitStatus> {
        let pid = i32::try_from(self.pid).context("pid out of range")?;
        kill(Pid::from_raw(pid), Signal::SIGTERM).context("send SIGTERM")?;
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .map_err(|_| anyhow!("serve did not exit within 60 s of SIGTERM"))?
            .context("wait for serve")
    }

    /// SIGKILL and reap.
    pub async fn stop(mut self) -> Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

/// A running `canopy worker`; killed when dropped.
pub struct WorkerProcess {
    child: Child,
    pub pid: u32,
    /// Its stderr (logs at `warn`, and `info` for the worker crate).
    pub log: PathBuf,
}

/// The line the worker logs once its loop runs.
const WORKER_STARTED: &str = "delivery worker started";

impl WorkerProcess {
    /// Start `bin worker` against `database_url` as the node of `public_url` (the worker
    /// refuses a database that belongs to another public URL), logging to `log`; returns once
    /// it has logged that its loop runs.
    pub async fn start(
        bin: &Path,
        database_url: &str,
        public_url: &str,
        log: &Path,
    ) -> Result<Self> {
        let stderr = std::fs::File::create(log)
            .with_context(|| format!("create the worker's log {}", log.display()))?;
        let dir = log.parent().unwrap_or(Path::new("."));
        let mut child = Command::new(bin)
            .arg("worker")
            .env("CANOPY_DATABASE_URL", database_url)
            .env("CANOPY_PUBLIC_URL", public_url)
            .env("CANOPY_LOG_LEVEL", "warn,canopy_worker=info")
            .env("CANOPY_DATA_DIR", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {} worker", bin.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the worker exited at once"))?;
        let started = std::time::Instant::now();
        loop {
            if std::fs::read_to_string(log).is_ok_and(|text| text.contains(WORKER_STARTED)) {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("the worker exited ({status}); its log:\n{}", tail(log));
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "the worker did not start within {START_TIMEOUT:?}; its log:\n{}",
                    tail(log)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Self {
            child,
            pid,
            log: log.to_path_buf(),
        })
    }

    /// Fails if the worker has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the worker exited ({status}); its log:\n{}",
                tail(&self.log)
            );
        }
        Ok(())
    }

    pub async fn stop(mut self) -> Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

/// The last lines of a log file, for error messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
