//! CPU and memory accounting of the processes that share this machine during a benchmark: the
//! node or worker, the PostgreSQL cluster and the benchmark itself, read from `/proc`. The
//! processes themselves are started by `canopy_testkit::process`.

pub use canopy_testkit::process::tail;
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
