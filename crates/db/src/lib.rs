//! Canopy's PostgreSQL side: the pool, migrations, typed rows and every SQL query.
//!
//! Queries are written with `sqlx::query_as` and checked by the test suite against a real
//! PostgreSQL (see ARCHITECTURE.md for why they are not compile-time macros). Each public
//! function is one use-case step; functions that must share a transaction take a
//! `&mut PgConnection` so the caller decides where the transaction begins and ends.

pub mod actors;
pub mod bans;
pub mod blocks;
pub mod comments;
pub mod communities;
pub mod content;
pub mod cursor;
pub mod delivery;
pub mod error;
pub mod follows;
pub mod governance;
pub mod instances;
pub mod listing;
pub mod moderation;
pub mod notifications;
pub mod outbox;
pub mod people;
pub mod posts;
pub mod profiles;
pub mod published;
pub mod queue;
pub mod received;
pub mod remote_threads;
pub mod reports;
pub mod saved;
pub mod search;
pub mod sessions;
pub mod threads;
pub mod tree;
pub mod votes;

pub use error::DbError;
pub use sqlx::{PgConnection, PgPool};

use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// The migrations in the repository's `migrations/` folder, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Open a connection pool to `url`.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    Ok(pool)
}

/// Apply every migration that has not been applied yet.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Cheap liveness query for the health endpoint.
pub async fn ping(pool: &PgPool) -> Result<(), DbError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}
