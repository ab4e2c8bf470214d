//! Instances, keyed by authority ([`canopy_core::authority`]: host, and port when not the
//! default), and the software each runs.

use crate::DbError;
use canopy_core::InstanceId;
use sqlx::{PgConnection, PgPool};

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

/// Find or create the instance row for `authority`.
pub async fn ensure(conn: &mut PgConnection, authority: &str) -> Result<InstanceId, DbError> {
    let (id,): (InstanceId,) = sqlx::query_as(
        "INSERT INTO instance (authority) VALUES (lower($1))
         ON CONFLICT (authority) DO UPDATE SET updated_at = now()
         RETURNING id",
    )
    .bind(authority)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// The software an instance runs, if known (from its NodeInfo).
pub async fn software(pool: &PgPool, authority: &str) -> Result<Option<String>, DbError> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT software FROM instance WHERE authority = lower($1)")
            .bind(authority)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(s,)| s))
}

/// The software an instance runs and its version, if known (from its NodeInfo).
pub async fn software_version(
    pool: &PgPool,
    authority: &str,
) -> Result<Option<(String, Option<String>)>, DbError> {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT software, version FROM instance WHERE authority = lower($1)")
            .bind(authority)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(s, v)| s.map(|s| (s, v))))
}

/// Record the software and version an instance reports.
pub async fn set_software(
    pool: &PgPool,
    authority: &str,
    software: &str,
    version: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query("UPDATE instance SET software = lower($2), version = $3, updated_at = now() WHERE authority = lower($1)")
        .bind(authority)
        .bind(software)
        .bind(version)
        .execute(pool)
        .await?;
    Ok(())
}
