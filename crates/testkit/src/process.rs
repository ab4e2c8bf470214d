//! Canopy in its own process: `canopy serve` ([`NodeProcess`]) and `canopy worker`
//! ([`WorkerProcess`]) started from a given binary (the release build, for benchmarks and the
//! release tests), and [`free_port`].

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the node may take to migrate and start listening.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `canopy serve`; killed when dropped.
pub struct NodeProcess {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`, where it listens.
    pub listen_url: String,
    /// `http://localhost:PORT`, its public URL (ActivityPub ids are built from it).
    pub public_url: String,
    pub port: u16,
    /// Its stderr (logs at `warn`).
    pub log: PathBuf,
}

/// A free loopback port: bind port 0, read the port, close the socket. The node binds it again
/// right after; its public URL must name the port before it starts, so port 0 cannot be passed.
pub fn free_port() -> Result<u16> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(socket.local_addr()?.port())
}

impl NodeProcess {
    /// Start `bin serve` on `port` against `database_url`, with its data directory and log in
    /// `dir`; returns once it prints the line `Canopy listening on http://…`.
    pub async fn start(
        bin: &Path,
        port: u16,
        database_url: &str,
        max_connections: Option<u32>,
        dir: &Path,
    ) -> Result<Self> {
        let public_url = format!("http://localhost:{port}");
        let log = dir.join("canopy.log");
        let stderr = std::fs::File::create(&log)
            .with_context(|| format!("create the node's log {}", log.display()))?;
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .env("CANOPY_DATABASE_URL", database_url)
            .env("CANOPY_BIND", format!("127.0.0.1:{port}"))
            .env("CANOPY_PUBLIC_URL", &public_url)
            .env("CANOPY_LOG_LEVEL", "warn")
            .env("CANOPY_DATA_DIR", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        if let Some(n) = max_connections {
            command.env("CANOPY_DATABASE_MAX_CONNECTIONS", n.to_string());
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the node exited at once"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout of the node"))?;
        let mut lines = BufReader::new(stdout).lines();
        let listening = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("Canopy listening on ") {
                    return Ok(Some(url.trim().to_string()));
                }
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        let listen_url = match listening {
            Ok(Ok(Some(url))) => url,
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child.wait().await.ok();
                bail!(
                    "the node stopped before listening ({status:?}); its log {}:\n{}",
                    log.display(),
                    tail(&log)
                );
            }
            Err(_) => bail!(
                "the node did not listen within {START_TIMEOUT:?}; its log:\n{}",
                tail(&log)
            ),
        };
        // Keep reading stdout so that the node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            pid,
            listen_url,
            public_url,
            port,
            log,
        })
    }

    /// Fails if the node has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the node exited ({status}); its log:\n{}", tail(&self.log));
        }
        Ok(())
    }

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
