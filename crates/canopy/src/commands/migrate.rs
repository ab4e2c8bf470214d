//! `canopy migrate`.

use crate::config::Settings;
use crate::database::Database;

/// Apply pending migrations and exit.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let db = Database::open(&settings.config).await?;
    let result = canopy::node::migrate(&db.pool).await.map_err(Into::into);
    if result.is_ok() {
        tracing::info!(database = %db.location, "migrations applied");
    }
    db.close().await?;
    result
}
