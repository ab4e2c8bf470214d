//! A Canopy node (the release `canopy serve`) or delivery worker (`canopy worker`) in its own
//! process, and CPU and memory accounting of the processes that share this machine during a
//! benchmark: the node or worker, the PostgreSQL cluster and the benchmark itself, read from
//! `/proc`.

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

/// Resident memory of a process from `/proc/<pid>/status`, in KiB: (now `VmRSS`, peak `VmHWM`).
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU seconds (user + system) a process has used so far, its reaped children included.
pub fn process_cpu_seconds(pid: u32) -> f64 {
    cpu_ticks(pid, true).map_or(0.0, |(t, _)| t as f64 / TICKS_PER_SECOND)
}

/// The last lines of a log file, for error messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Clock ticks per second of `/proc/*/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime (and, with `children`, the times of reaped children) of a process, in ticks.
fn cpu_ticks(pid: u32, children: bool) -> Option<(u64, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces; fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    let ppid: u32 = fields.get(1)?.parse().ok()?;
    let mut ticks: u64 =
        fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    if children {
        ticks += fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    }
    Some((ticks, ppid))
}

/// CPU ticks used so far by the node, the PostgreSQL cluster and this process.
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    pub node: u64,
    pub postgres: u64,
    pub bench: u64,
}

/// Reads the CPU time of the node, of one PostgreSQL cluster (its postmaster and every child
/// of it) and of this process.
pub struct CpuMeter {
    node: u32,
    postmaster: Option<u32>,
}

impl CpuMeter {
    /// `backend` is the pid of any backend of the cluster (its parent is the postmaster).
    pub fn new(node: u32, backend: Option<u32>) -> Self {
        let postmaster = backend
            .and_then(|b| cpu_ticks(b, false))
            .map(|(_, ppid)| ppid);
        Self { node, postmaster }
    }

    pub fn has_postgres(&self) -> bool {
        self.postmaster.is_some()
    }

    pub fn snapshot(&self) -> CpuSnapshot {
        let node = cpu_ticks(self.node, true).map_or(0, |(t, _)| t);
        let bench = cpu_ticks(std::process::id(), true).map_or(0, |(t, _)| t);
        let mut postgres = 0;
        if let Some(pm) = self.postmaster {
            // The postmaster's child times include every backend it has reaped.
            postgres += cpu_ticks(pm, true).map_or(0, |(t, _)| t);
            if let Ok(dir) = std::fs::read_dir("/proc") {
                for entry in dir.flatten() {
                    let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                        continue;
                    };
                    if let Some((t, ppid)) = cpu_ticks(pid, false) {
                        if ppid == pm {
                            postgres += t;
                        }
                    }
                }
            }
        }
        CpuSnapshot {
            node,
            postgres,
            bench,
        }
    }
}

/// CPU seconds used between two snapshots: (node, postgres, bench).
pub fn cpu_seconds(before: &CpuSnapshot, after: &CpuSnapshot) -> (f64, f64, f64) {
    let s = |a: u64, b: u64| a.saturating_sub(b) as f64 / TICKS_PER_SECOND;
    // A backend that exits in between moves from the live sum into the postmaster's child
    // times, so the total stays comparable; one that starts in between counts from zero.
    (
        s(after.node, before.node),
        s(after.postgres, before.postgres),
        s(after.bench, before.bench),
    )
}
