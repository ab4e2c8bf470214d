//! One module per subcommand; each opens what it needs and closes it again.

mod admin;
mod migrate;
mod serve;
mod worker;

use crate::cli::{AdminCommand, Command};
use crate::config::Settings;

/// Run `command` to completion.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::run(settings).await,
        Command::Worker(args) => worker::run(settings, args).await,
        Command::Migrate => migrate::run(settings).await,
        Command::Admin(AdminCommand::CreateUser(args)) => admin::create_user(settings, args).await,
        Command::Admin(AdminCommand::Queue(args)) => admin::queue(settings, args).await,
        Command::Admin(AdminCommand::Instance(command)) => admin::instance(settings, command).await,
        Command::Admin(AdminCommand::Ban(args)) => admin::ban(settings, args).await,
        Command::Admin(AdminCommand::Unban(args)) => admin::unban(settings, args).await,
        Command::Admin(AdminCommand::Resync(args)) => admin::resync(settings, args).await,
    }
}
