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
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// Subcommands of `canopy admin`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a local user account (applies pending migrations first).
    CreateUser(CreateUser),
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
}
