//! Instances, keyed by authority (host and port).

use crate::DbError;
use canopy_core::InstanceId;
use sqlx::PgPool;

/// Make sure the row for this node exists and return its id. Fails with `Conflict` when the
/// database already belongs to a node with another public authority (the public URL changed).
pub async fn ensure_local(pool: &PgPool, authority: &str) -> Result<InstanceId, DbError> {
    let existing: Option<(i64, String)> =
        sqlx::query_as("SELECT id, authority FROM instance WHERE is_local")
            .fetch_optional(pool)
            .await?;
    if let Some((id, stored)) = existing {
        if stored == authority {
            return Ok(InstanceId(id));
        }
        return Err(DbError::Conflict(
            "a local instance with another public authority (the public URL changed)",
        ));
    }
    let id: (i64,) = sqlx::query_as(
        "INSERT INTO instance (authority, is_local) VALUES ($1, true)
         ON CONFLICT (authority) DO UPDATE SET is_local = true
         RETURNING id",
    )
    .bind(authority)
    .fetch_one(pool)
    .await?;
    Ok(InstanceId(id.0))
}
