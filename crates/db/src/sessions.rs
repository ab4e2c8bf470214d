//! Sessions: bearer tokens stored as SHA-256 hashes.

use crate::DbError;
use canopy_core::PersonId;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The account a valid token belongs to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionUser {
    pub person_id: PersonId,
    pub name: String,
    pub is_admin: bool,
}

pub async fn create(
    pool: &PgPool,
    token_hash: &[u8],
    person_id: PersonId,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query("INSERT INTO session (token_hash, person_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash)
        .bind(person_id)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// The user of an unexpired session, if any.
pub async fn lookup(pool: &PgPool, token_hash: &[u8]) -> Result<Option<SessionUser>, DbError> {
    Ok(sqlx::query_as(
        "SELECT p.id AS person_id, p.name, u.is_admin
         FROM session s JOIN local_user u ON u.person_id = s.person_id
         JOIN person p ON p.id = s.person_id
         WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT p.deleted",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?)
}

/// End a session. Returns whether it existed.
pub async fn delete(pool: &PgPool, token_hash: &[u8]) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM session WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Delete, in one batch of at most `limit`, sessions that have expired (they no longer log
/// anyone in). Returns how many went.
pub async fn delete_expired(pool: &PgPool, limit: i64) -> Result<u64, DbError> {
    let done = sqlx::query(
        "DELETE FROM session WHERE token_hash IN (
             SELECT token_hash FROM session WHERE expires_at <= now()
             ORDER BY expires_at LIMIT $1
             FOR UPDATE SKIP LOCKED)",
    )
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
