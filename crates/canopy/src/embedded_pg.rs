//! The embedded database: a private PostgreSQL cluster in `<data_dir>/postgres`, run from the
//! PostgreSQL binaries installed on the machine, reachable only through a unix socket.
//!
//! When the process runs as root, every PostgreSQL program runs as the `postgres` system user
//! (PostgreSQL refuses to run as root) and the directories it writes are handed to that user.
//! That user must be able to reach the cluster: when it cannot reach `data_dir` (a clone under
//! `/root`, or in a `mktemp -d` directory), the cluster lives in
//! `/var/lib/canopy/cluster-<hash of data_dir>` instead, the same place at every start, and the
//! start-up lines say so (see [`Placement`]).

use anyhow::{anyhow, bail, Context};
use nix::unistd::{chown, Uid, User};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The programs the embedded cluster needs from a PostgreSQL installation.
const PROGRAMS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// Socket file name inside the socket directory (PostgreSQL's default port).
const SOCKET_FILE: &str = ".s.PGSQL.5432";
/// Longest socket path we allow; the kernel limit (`sun_path`) is 108 bytes with the NUL.
const MAX_SOCKET_PATH: usize = 100;
/// Name of the generated settings file that `postgresql.conf` includes.
const CANOPY_CONF: &str = "canopy.conf";
/// Where a cluster goes, as root, when the postgres user cannot reach `data_dir`.
const RELOCATED_ROOT: &str = "/var/lib/canopy";
/// File in a relocated cluster's directory naming the data_dir it belongs to, for people.
const DATA_DIR_NOTE: &str = "data_dir.txt";

/// Where a cluster lives and how to run its programs; nothing is started yet.
#[derive(Debug)]
pub struct Cluster {
    bin_dir: PathBuf,
    /// The directory holding the cluster, its log and (usually) its socket directory:
    /// `data_dir`, or a directory under [`RELOCATED_ROOT`].
    home: PathBuf,
    placement: Placement,
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    /// The user PostgreSQL runs as when we are root; `None` means "as ourselves".
    run_as: Option<User>,
}

/// A running cluster. Dropping it stops the server (fast shutdown) if this process started it,
/// or if [`RunningCluster::stop_on_drop`] asked for that.
#[derive(Debug)]
pub struct RunningCluster {
    cluster: Cluster,
    socket_dir: PathBuf,
    port: u16,
    stop_on_drop: bool,
}

impl Cluster {
    /// Resolve paths and binaries for the cluster of `data_dir`, creating the directories it
    /// needs. `bin_dir` is the configured `postgres_bin_dir`, if any.
    pub fn prepare(data_dir: &Path, bin_dir: Option<&Path>) -> anyhow::Result<Self> {
        let bin_dir = find_binaries(bin_dir)?;
        let run_as = if Uid::effective().is_root() {
            let user = User::from_name("postgres")
                .context("looking up the postgres user")?
                .ok_or_else(|| {
                    anyhow!(
                        "running as root, the embedded PostgreSQL must run as the `postgres` user, \
                         which does not exist; create it, run Canopy as another user, or set database_url"
                    )
                })?;
            Some(user)
        } else {
            None
        };

        let data_dir = create_data_dir(data_dir)?;
        let relocated = relocated_home(Path::new(RELOCATED_ROOT), &data_dir);
        let placement = match &run_as {
            None => Placement::DataDir,
            Some(user) => Placement::choose(
                data_dir.join("postgres/PG_VERSION").exists(),
                relocated.join("postgres/PG_VERSION").exists(),
                can_traverse(user, &data_dir),
            ),
        };
        let home = match placement {
            Placement::DataDir => data_dir.clone(),
            Placement::Relocated => {
                create_relocated_home(&relocated, &data_dir)?;
                tracing::info!(
                    data_dir = %data_dir.display(),
                    cluster = %relocated.join("postgres").display(),
                    "the postgres user cannot reach data_dir, so the embedded cluster lives outside it"
                );
                relocated
            }
        };
        let cluster = Self {
            bin_dir,
            cluster_dir: home.join("postgres"),
            socket_dir: socket_dir_for(&home),
            log_file: home.join("postgres.log"),
            home,
            placement,
            run_as,
        };
        cluster.create_private_dir(&cluster.cluster_dir)?;
        cluster.create_private_dir(&cluster.socket_dir)?;
        cluster.check_reachable()?;
        cluster.create_log_file()?;
        Ok(cluster)
    }

    /// Initialise the cluster if it is new and start it unless it is already running.
    pub fn start(self) -> anyhow::Result<RunningCluster> {
        if !self.cluster_dir.join("PG_VERSION").exists() {
            self.initdb()?;
        }
        self.check_version()?;
        self.write_settings()?;

        let mut started_here = false;
        if !self.is_running()? {
            tracing::info!(cluster = %self.cluster_dir.display(), "starting embedded PostgreSQL");
            let output = self.run(
                self.program("pg_ctl")
                    .arg("start")
                    .arg("--wait")
                    .arg("--pgdata")
                    .arg(&self.cluster_dir)
                    .arg("--log")
                    .arg(&self.log_file),
            )?;
            if output.status.success() {
                started_here = true;
            } else if !self.is_running()? {
                // A concurrent `canopy` may have won the race; only fail if nobody did.
                bail!(
                    "embedded PostgreSQL did not start ({}); its log {} ends with: {}",
                    describe_output(&output),
                    self.log_file.display(),
                    tail(&self.log_file, 8)
                );
            }
        } else {
            tracing::info!(cluster = %self.cluster_dir.display(), "reusing running embedded PostgreSQL");
        }

        let (socket_dir, port) = self.read_pid_file()?;
        Ok(RunningCluster {
            cluster: self,
            socket_dir,
            port,
            // Leave a server we found running to whoever started it.
            stop_on_drop: started_here,
        })
    }

    fn initdb(&self) -> anyhow::Result<()> {
        let mut entries = fs::read_dir(&self.cluster_dir)
            .with_context(|| format!("reading {}", self.cluster_dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty but holds no PostgreSQL cluster (no PG_VERSION); \
                 move it away or choose another data_dir",
                self.cluster_dir.display()
            );
        }
        tracing::info!(cluster = %self.cluster_dir.display(), "creating embedded PostgreSQL cluster");
        let output = self.run(
            self.program("initdb")
                .arg("--pgdata")
                .arg(&self.cluster_dir)
                .args(["--username", "postgres"])
                .args(["--auth-local", "trust", "--auth-host", "reject"])
                .args(["--encoding", "UTF8", "--locale", "C"]),
        )?;
        if !output.status.success() {
            bail!("initdb failed: {}", describe_output(&output));
        }
        // Our generated settings (socket only, no TCP) are included from the main file.
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(self.cluster_dir.join("postgresql.conf"))
            .context("opening postgresql.conf")?;
        writeln!(
            conf,
            "\n# Added by canopy: settings it rewrites at every start.\ninclude '{CANOPY_CONF}'"
        )
        .context("writing postgresql.conf")?;
        Ok(())
    }

    /// Refuse a cluster made by another PostgreSQL major version with a message that says so.
    fn check_version(&self) -> anyhow::Result<()> {
        let cluster_version = fs::read_to_string(self.cluster_dir.join("PG_VERSION"))
            .context("reading PG_VERSION")?
            .trim()
            .to_string();
        let output = self.run(self.program("pg_ctl").arg("--version"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        // "pg_ctl (PostgreSQL) 15.8 (Debian 15.8-1)" -> "15"
        let binary_major = text
            .split_whitespace()
            .nth(2)
            .and_then(|v| v.split('.').next())
            .unwrap_or_default();
        if binary_major != cluster_version {
            bail!(
                "the embedded cluster {} was created by PostgreSQL {cluster_version} but the binaries in {} \
                 are version {binary_major:?}; set postgres_bin_dir to a PostgreSQL {cluster_version} installation",
                self.cluster_dir.display(),
                self.bin_dir.display()
            );
        }
        Ok(())
    }

    fn write_settings(&self) -> anyhow::Result<()> {
        let socket = self
            .socket_dir
            .to_str()
            .filter(|s| !s.contains(['\'', '\\', ',', '"']));
        let Some(socket) = socket else {
            bail!(
                "socket directory {} has characters PostgreSQL cannot take",
                self.socket_dir.display()
            );
        };
        let text = format!(
            "# Written by canopy at every start of the embedded cluster; changes here are lost.\n\
             listen_addresses = ''\n\
             port = 5432\n\
             unix_socket_directories = '{socket}'\n\
             unix_socket_permissions = 0700\n"
        );
        let path = self.cluster_dir.join(CANOPY_CONF);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        self.give_to_owner(&path)
    }

    fn is_running(&self) -> anyhow::Result<bool> {
        let output = self.run(
            self.program("pg_ctl")
                .arg("status")
                .arg("--pgdata")
                .arg(&self.cluster_dir),
        )?;
        // pg_ctl status: 0 running, 3 not running, 4 no usable data directory.
        match output.status.code() {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            _ => bail!("pg_ctl status failed: {}", describe_output(&output)),
        }
    }

    /// Socket directory and port of the running server, from its `postmaster.pid`.
    fn read_pid_file(&self) -> anyhow::Result<(PathBuf, u16)> {
        let path = self.cluster_dir.join("postmaster.pid");
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let lines: Vec<&str> = text.lines().collect();
        // Line 4 is the port, line 5 the first socket directory.
        let port = lines.get(3).and_then(|p| p.trim().parse().ok());
        let socket = lines.get(4).map(|s| s.trim()).filter(|s| !s.is_empty());
        match (socket, port) {
            (Some(socket), Some(port)) => Ok((PathBuf::from(socket), port)),
            _ => bail!(
                "{} names no unix socket; the cluster was not started by canopy",
                path.display()
            ),
        }
    }

    /// A command for one of the PostgreSQL programs, run as the cluster's owner.
    fn program(&self, name: &str) -> Command {
        self.as_owner(Command::new(self.bin_dir.join(name)))
    }

    fn as_owner(&self, mut command: Command) -> Command {
        if let Some(user) = &self.run_as {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        // The owner may not be able to enter our working directory (e.g. /root).
        command
            .current_dir(&self.home)
            .env_remove("PGDATA")
            .env_remove("PGPORT")
            .env_remove("PGHOST");
        command
    }

    fn run(&self, command: &mut Command) -> anyhow::Result<Output> {
        let program = command.get_program().to_string_lossy().into_owned();
        tracing::debug!(%program, "running");
        command
            .output()
            .with_context(|| format!("running {program}"))
    }

    /// Create `dir` (if needed) as a 0700 directory owned by the cluster's owner.
    fn create_private_dir(&self, dir: &Path) -> anyhow::Result<()> {
        match fs::symlink_metadata(dir) {
            Ok(meta) if meta.is_dir() => {
                if dir.starts_with(&self.home) {
                    self.give_to_owner(dir)?;
                } else {
                    // A shared place like /tmp: trust only a directory the owner already holds.
                    let owner = self.run_as.as_ref().map_or_else(Uid::effective, |u| u.uid);
                    if meta.uid() != owner.as_raw() || meta.mode() & 0o077 != 0 {
                        bail!(
                            "{} exists but is not a private directory of uid {owner}; remove it",
                            dir.display()
                        );
                    }
                }
            }
            Ok(_) => bail!("{} exists and is not a directory", dir.display()),
            Err(_) => {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                self.give_to_owner(dir)?;
            }
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting permissions of {}", dir.display()))
    }

    fn create_log_file(&self) -> anyhow::Result<()> {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .with_context(|| format!("creating {}", self.log_file.display()))?;
        self.give_to_owner(&self.log_file)
    }

    fn give_to_owner(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(user) = &self.run_as {
            chown(path, Some(user.uid), Some(user.gid))
                .with_context(|| format!("handing {} to the postgres user", path.display()))?;
        }
        Ok(())
    }

    /// As root, make sure the postgres user can actually reach the cluster directory.
    fn check_reachable(&self) -> anyhow::Result<()> {
        if self.run_as.is_none() {
            return Ok(());
        }
        let status = self
            .as_owner(Command::new("test"))
            .arg("-w")
            .arg(&self.cluster_dir)
            .status();
        // current_dir() itself fails to spawn when the data dir is closed to the user.
        if !matches!(status, Ok(s) if s.success()) {
            if self.placement == Placement::Relocated {
                bail!(
                    "the postgres user cannot reach {} (is {RELOCATED_ROOT} open to it?); \
                     make {RELOCATED_ROOT} traversable (mode 755), or set database_url",
                    self.cluster_dir.display()
                );
            }
            bail!(
                "the postgres user cannot reach the existing cluster {} (a parent directory is closed \
                 to it, e.g. one under /root); let it traverse every parent (chmod o+x), move data_dir \
                 with its cluster somewhere it can, or set database_url",
                self.cluster_dir.display()
            );
        }
        Ok(())
    }
}

impl RunningCluster {
    /// Connection URL for `database` over the cluster's unix socket, as the `postgres` superuser.
    pub fn url(&self, database: &str) -> String {
        let socket: String =
            url::form_urlencoded::byte_serialize(self.socket_dir.as_os_str().as_encoded_bytes())
                .collect();
        let database: String = url::form_urlencoded::byte_serialize(database.as_bytes()).collect();
        // sqlx takes a unix socket directory from the `host` query parameter; the URL's own
        // host stays empty, so the user goes in a parameter too (`user@` needs a host).
        format!(
            "postgres:///{database}?user=postgres&host={socket}&port={}",
            self.port
        )
    }

    /// The cluster's data directory.
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster.cluster_dir
    }

    /// Whether the cluster is in `data_dir` or, as root, outside it.
    pub fn placement(&self) -> Placement {
        self.cluster.placement
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The server's log file.
    pub fn log_file(&self) -> &Path {
        &self.cluster.log_file
    }

    /// Choose whether dropping this handle stops the server.
    pub fn stop_on_drop(&mut self, stop: bool) {
        self.stop_on_drop = stop;
    }

    fn stop_server(&self) -> anyhow::Result<()> {
        tracing::info!(cluster = %self.cluster.cluster_dir.display(), "stopping embedded PostgreSQL");
        let c = &self.cluster;
        let output = c.run(
            c.program("pg_ctl")
                .arg("stop")
                .arg("--wait")
                .args(["--mode", "fast"])
                .arg("--pgdata")
                .arg(&c.cluster_dir),
        )?;
        if !output.status.success() && c.is_running()? {
            bail!("pg_ctl stop failed: {}", describe_output(&output));
        }
        Ok(())
    }
}

impl Drop for RunningCluster {
    fn drop(&mut self) {
        if self.stop_on_drop {
            if let Err(error) = self.stop_server() {
                tracing::error!(
                    error = format!("{error:#}"),
                    "could not stop embedded PostgreSQL"
                );
            }
        }
    }
}

/// Where the embedded cluster lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In `<data_dir>/postgres`, the usual place.
    DataDir,
    /// As root, in `/var/lib/canopy/cluster-<hash of data_dir>/postgres`: the postgres user
    /// cannot reach `data_dir`, or an earlier start put the cluster there.
    Relocated,
}

impl Placement {
    /// As root: a cluster already in `data_dir` stays there (and its being unreachable is an
    /// error later, never a reason to start an empty one elsewhere); otherwise a cluster made
    /// elsewhere by an earlier start is used again, and a new one goes elsewhere when the
    /// postgres user cannot reach `data_dir`.
    fn choose(in_data_dir: bool, relocated_exists: bool, data_dir_reachable: bool) -> Self {
        if in_data_dir || (data_dir_reachable && !relocated_exists) {
            Placement::DataDir
        } else {
            Placement::Relocated
        }
    }
}

/// `<root>/cluster-<hash>`: one stable directory per data_dir (by its absolute path). The
/// socket inside stays well within the unix socket path limit.
fn relocated_home(root: &Path, data_dir: &Path) -> PathBuf {
    root.join(format!(
        "cluster-{:016x}",
        fnv1a(data_dir.as_os_str().as_encoded_bytes())
    ))
}

/// Whether `user` can reach `dir`: search permission on it and on every directory above.
fn can_traverse(user: &User, dir: &Path) -> bool {
    Command::new("test")
        .arg("-x")
        .arg(dir)
        .uid(user.uid.as_raw())
        .gid(user.gid.as_raw())
        .current_dir("/")
        .status()
        .is_ok_and(|s| s.success())
}

/// Create (as root) `home` and its parent as directories that only root writes and everyone
/// may traverse, and leave a note in `home` naming the data_dir it belongs to. An existing
/// one must already be like that: a directory someone else can write could be used to plant
/// links that root would then follow.
fn create_relocated_home(home: &Path, data_dir: &Path) -> anyhow::Result<()> {
    for dir in home
        .ancestors()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        if fs::symlink_metadata(dir).is_err() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
                .with_context(|| format!("setting permissions of {}", dir.display()))?;
        }
        let meta =
            fs::symlink_metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
        if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
            bail!(
                "{} must be a directory owned by root that no one else can write \
                 (it holds the embedded cluster of {}); fix it, or set database_url",
                dir.display(),
                data_dir.display()
            );
        }
    }
    let note = home.join(DATA_DIR_NOTE);
    fs::write(
        &note,
        format!(
            "The embedded PostgreSQL cluster of the Canopy data_dir {}\n",
            data_dir.display()
        ),
    )
    .with_context(|| format!("writing {}", note.display()))
}

/// Find a directory with `initdb`, `pg_ctl` and `postgres`: the configured one, then PATH, then
/// the usual Debian and RPM install locations (highest version first).
pub fn find_binaries(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = configured {
        if has_programs(dir) {
            return Ok(dir.to_path_buf());
        }
        bail!(
            "postgres_bin_dir {} does not contain {}",
            dir.display(),
            PROGRAMS.join(", ")
        );
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let candidates = on_path
        .into_iter()
        .chain(versioned_dirs(Path::new("/usr/lib/postgresql"), "", "bin"))
        .chain(versioned_dirs(Path::new("/usr"), "pgsql-", "bin"));
    for dir in candidates {
        if has_programs(&dir) {
            return Ok(dir);
        }
    }
    bail!(
        "no PostgreSQL installation found (looked for {} on PATH, in /usr/lib/postgresql/*/bin and \
         /usr/pgsql-*/bin); install PostgreSQL, set postgres_bin_dir, or set database_url",
        PROGRAMS.join(", ")
    )
}

fn has_programs(dir: &Path) -> bool {
    PROGRAMS.iter().all(|p| {
        fs::metadata(dir.join(p)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `<parent>/<prefix><version>/<sub>` for every numeric version, highest first.
fn versioned_dirs(parent: &Path, prefix: &str, sub: &str) -> Vec<PathBuf> {
    let mut found: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version: Option<Vec<u32>> = name
                .strip_prefix(prefix)?
                .split('.')
                .map(|n| n.parse().ok())
                .collect();
            Some((version?, entry.path().join(sub)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, path)| path).collect()
}

/// Create the data directory if needed and return its absolute path. A directory we create is
/// made 0755 so that the postgres user can traverse it when we run as root.
fn create_data_dir(data_dir: &Path) -> anyhow::Result<PathBuf> {
    if !data_dir.exists() {
        fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data_dir {}", data_dir.display()))?;
        fs::set_permissions(data_dir, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("setting permissions of {}", data_dir.display()))?;
    }
    data_dir
        .canonicalize()
        .with_context(|| format!("resolving data_dir {}", data_dir.display()))
}

/// `<data_dir>/pg-socket`, or a private directory under /tmp when that path would be too long
/// for a unix socket or holds characters PostgreSQL's settings cannot quote.
fn socket_dir_for(data_dir: &Path) -> PathBuf {
    let preferred = data_dir.join("pg-socket");
    let fits = preferred.as_os_str().len() + 1 + SOCKET_FILE.len() <= MAX_SOCKET_PATH;
    let plain = preferred
        .to_str()
        .is_some_and(|s| !s.contains(['\'', '\\', ',', '"']));
    if fits && plain {
        return preferred;
    }
    PathBuf::from(format!(
        "/tmp/canopy-pg-{:016x}",
        fnv1a(data_dir.as_os_str().as_encoded_bytes())
    ))
}

/// 64-bit FNV-1a: a stable name for a path (std's hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn describe_output(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if text.is_empty() {
        text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    }
    format!("{}: {}", output.status, text.replace('\n', " / "))
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn short_data_dirs_keep_the_socket_inside() {
        assert_eq!(
            socket_dir_for(Path::new("/var/lib/canopy")),
            Path::new("/var/lib/canopy/pg-socket")
        );
    }

    #[test]
    fn long_or_odd_data_dirs_get_a_stable_socket_dir_in_tmp() {
        let long = PathBuf::from(format!("/srv/{}", "x".repeat(120)));
        let a = socket_dir_for(&long);
        assert!(
            a.starts_with("/tmp") && a.as_os_str().len() + 1 + SOCKET_FILE.len() <= MAX_SOCKET_PATH
        );
        assert_eq!(a, socket_dir_for(&long));
        assert_ne!(a, socket_dir_for(&long.join("y")));
        assert!(socket_dir_for(Path::new("/srv/it's")).starts_with("/tmp"));
    }

    #[test]
    fn as_root_the_cluster_moves_out_of_an_unreachable_data_dir_and_stays_there() {
        use Placement::{DataDir, Relocated};
        // (cluster in data_dir, cluster relocated, data_dir reachable) -> placement
        for (in_data_dir, relocated, reachable, expected) in [
            (false, false, true, DataDir),
            (false, false, false, Relocated),
            // A later start finds it again, even if data_dir was opened meanwhile.
            (false, true, false, Relocated),
            (false, true, true, Relocated),
            // A cluster in data_dir is never abandoned for an empty one.
            (true, false, true, DataDir),
            (true, false, false, DataDir),
            (true, true, false, DataDir),
        ] {
            assert_eq!(
                Placement::choose(in_data_dir, relocated, reachable),
                expected,
                "{in_data_dir} {relocated} {reachable}"
            );
        }
    }

    #[test]
    fn a_relocated_cluster_has_one_short_stable_home_per_data_dir() {
        let root = Path::new(RELOCATED_ROOT);
        let a = relocated_home(root, Path::new("/root/src/canopy/data"));
        assert!(a.starts_with(root), "{}", a.display());
        assert_eq!(a, relocated_home(root, Path::new("/root/src/canopy/data")));
        assert_ne!(a, relocated_home(root, Path::new("/root/src/other/data")));
        // Long data_dirs still give a socket path PostgreSQL can bind.
        let long = relocated_home(root, &PathBuf::from(format!("/root/{}", "x".repeat(300))));
        assert_eq!(socket_dir_for(&long), long.join("pg-socket"));
    }

    #[test]
    fn a_relocated_home_refuses_a_parent_others_can_write() {
        let root = std::env::temp_dir().join(format!("canopy-relocated-{}", std::process::id()));
        fs::create_dir_all(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        let home = relocated_home(&root, Path::new("/root/data"));
        let err = create_relocated_home(&home, Path::new("/root/data")).unwrap_err();
        fs::remove_dir_all(&root).unwrap();
        let err = format!("{err:#}");
        assert!(
            err.contains(&*root.to_string_lossy()) && err.contains("no one else can write"),
            "{err}"
        );
        assert!(!home.exists());
    }

    #[test]
    fn versioned_dirs_sort_numerically() {
        let root = std::env::temp_dir().join(format!("canopy-versions-{}", std::process::id()));
        for v in ["9.6", "15", "13", "notes"] {
            fs::create_dir_all(root.join(v)).unwrap();
        }
        let found = versioned_dirs(&root, "", "bin");
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            found,
            vec![
                root.join("15/bin"),
                root.join("13/bin"),
                root.join("9.6/bin")
            ]
        );
    }
}
