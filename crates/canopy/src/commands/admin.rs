//! `canopy admin …`.

use crate::cli::CreateUser;
use crate::config::Settings;
use crate::database::Database;
use anyhow::{anyhow, bail, Context};
use std::io::{BufRead, IsTerminal, Write};

/// Create a local user and print it as JSON.
pub async fn create_user(settings: Settings, args: CreateUser) -> anyhow::Result<()> {
    let password = match args.password {
        Some(p) => p,
        None => read_password()?,
    };
    if password.is_empty() {
        bail!("the password must not be empty");
    }

    let db = Database::open(&settings.config).await?;
    let result = async {
        canopy_db::migrate(&db.pool)
            .await
            .context("applying migrations")?;
        let state = canopy_api::AppState::new(db.pool.clone(), settings.public_base.clone())
            .await
            .map_err(|e| anyhow!("{e}"))?;
        canopy_api::accounts::create_account(
            &state,
            &args.name,
            &password,
            args.display_name.as_deref(),
            args.admin,
        )
        .await
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("creating user {}", args.name))
    }
    .await;
    db.close().await?;

    let user = result?;
    let json = serde_json::to_string(&user).context("printing the new user")?;
    #[allow(clippy::print_stdout)] // the command's output
    {
        println!("{json}");
    }
    Ok(())
}

/// One line from stdin, without its line ending; prompts when stdin is a terminal.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (will be echoed): ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
