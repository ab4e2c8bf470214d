//! The command line: global options and subcommands.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Canopy, a federated discussion node.
///
/// Settings come from built-in defaults, then the file given with --config, then CANOPY_*
/// environment variables (e.g. CANOPY_DATABASE_URL); see config/canopy.toml for all of them.
#[derive(Debug, Parser)]
#[command(name = "canopy", version, about, long_about)]
pub struct Cli {
    /// TOML configuration file (see config/canopy.toml for every setting and its default).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending database migrations, then serve the REST API and ActivityPub endpoints
    /// until SIGINT or SIGTERM.
    ///
    /// Without database_url, a private PostgreSQL cluster in <data_dir>/postgres is created
    /// on first start and stopped again when the server shuts down.
    Serve,
    /// Apply pending database migrations, then deliver outgoing activities until SIGINT or
    /// SIGTERM (`serve` already runs one worker; run more to share the delivery work).
    ///
    /// On SIGTERM the worker stops claiming, lets in-flight sends finish and returns the
    /// deliveries it claimed but did not send to the queue.
    Worker(WorkerArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// Arguments of `canopy worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Deliver only to instances of shard I out of N (`abs(hashtext(authority)) % N = I`),
    /// so that N workers split the instances between them.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// How long a claimed delivery stays reserved for this worker (default 120). Claims of a
    /// worker that dies without shutting down (SIGKILL, a lost machine) are taken over by
    /// others only after this; keep it longer than a send can take (10 s), or a slow send may
    /// be made a second time by another worker.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_secs: Option<u64>,
}

/// `I/N` with `I < N`.
#[derive(Debug, Clone, Copy)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("expected I/N such as 0/2, got {s:?}"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("shard index {i:?} is not a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("shard count {n:?} is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: need 0 <= I < N"));
        }
        Ok(Self { index, count })
    }
}

/// Subcommands of `canopy admin`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a local user account (applies pending migrations first).
    CreateUser(CreateUser),
    /// Show the outgoing delivery queue per remote instance: pending deliveries, age of the
    /// oldest, successes, failures, state and last error (applies pending migrations first).
    Queue(QueueArgs),
    /// Block instances, list the allowed ones, and show every known instance. Changes apply to
    /// every serve and worker process sharing the database within seconds.
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// Ban a person from this node: a local user can no longer post, comment, vote or create
    /// communities (the ban is sent to the instances following this node's communities); a
    /// remote person's activities are refused.
    Ban(BanArgs),
    /// Lift a person's ban from this node.
    Unban(UnbanArgs),
    /// Sync a remote thread with its home now and print what was added: URL names a post, a
    /// comment (its thread) or a community (its latest threads); an unknown URL is fetched
    /// first. Bounded by the `backfill_*` settings.
    Resync(ResyncArgs),
}

/// Arguments of `canopy admin resync`.
#[derive(Debug, Args)]
pub struct ResyncArgs {
    /// The ActivityPub URL of a post, a comment or a community.
    pub url: String,
}

/// Arguments of `canopy admin ban`.
#[derive(Debug, Args)]
pub struct BanArgs {
    /// A local user's name, or `name@host` of a remote person this node knows.
    pub person: String,
    /// Why; shown to the person when refused and sent with the ban.
    #[arg(long)]
    pub reason: Option<String>,
    /// When the ban ends (RFC 3339, e.g. 2027-01-31T00:00:00Z); without it, it does not end.
    #[arg(long)]
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
    /// Also remove their posts and comments on this node.
    #[arg(long)]
    pub remove_data: bool,
    /// The admin account the ban is made as (default: the oldest admin account).
    #[arg(long = "as", value_name = "ADMIN")]
    pub as_admin: Option<String>,
}

/// Arguments of `canopy admin unban`.
#[derive(Debug, Args)]
pub struct UnbanArgs {
    /// A local user's name, or `name@host` of a remote person this node knows.
    pub person: String,
    /// The admin account the unban is made as (default: the oldest admin account).
    #[arg(long = "as", value_name = "ADMIN")]
    pub as_admin: Option<String>,
}

/// Subcommands of `canopy admin instance`. HOST is the instance's host, with `:port` when it
/// is not the default (a URL such as `https://lemmy.example/` is read as its host).
#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Block an instance: its activities are refused, nothing is fetched from or delivered to
    /// it (pending deliveries are dropped), its follows of local communities and people end,
    /// and its content is hidden.
    Block {
        host: String,
        /// Why; shown in the instance list and in the refusals the node gives.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift an instance's block.
    Unblock { host: String },
    /// Put an instance on the allow-list (what federates when `federation_mode = "allowlist"`).
    Allow { host: String },
    /// Take an instance off the allow-list.
    Disallow { host: String },
    /// Show every known instance: software, delivery state, counts, blocked or allowed.
    List(QueueArgs),
}

/// Arguments of `canopy admin queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Print the report as JSON (the body of `GET /api/v1/admin/queue`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `canopy admin create-user`.
#[derive(Debug, Args)]
pub struct CreateUser {
    /// Login name of the new user.
    pub name: String,
    /// Password of the new user. When omitted, one line is read from standard input
    /// (which keeps the password out of the process list and shell history).
    #[arg(long)]
    pub password: Option<String>,
    /// Name shown to other people instead of the login name.
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,
    /// Make the user an instance administrator.
    #[arg(long)]
    pub admin: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn shard_is_index_over_count() {
        let s: Shard = "1/3".parse().unwrap();
        assert_eq!((s.index, s.count), (1, 3));
        assert!("3/3".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
        assert!("a/2".parse::<Shard>().is_err());
    }
}
