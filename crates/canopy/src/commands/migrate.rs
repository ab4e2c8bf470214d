//! `canopy migrate`.

use crate::config::Settings;
use crate::database::Database;
use anyhow::Context;

/// Apply pending migrations and exit.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let db = Database::open(&settings.config).await?;
    let result = canopy_db::migrate(&db.pool)
        .await
        .context("applying migrations");
    if result.is_ok() {
        tracing::info!(database = %db.location, "migrations applied");
    }
    db.close().await?;
    result
}
