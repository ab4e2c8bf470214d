//! Personal blocks: people and communities a local user does not want to see. They change only
//! what that user is shown (see docs/MODERATION.md); nothing is sent to anyone.

use crate::DbError;
use canopy_core::{CommunityId, PersonId};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// What a user blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Person(PersonId),
    Community(CommunityId),
}

/// Block `target` for `user`. Returns whether it was not blocked yet.
pub async fn block(pool: &PgPool, user: PersonId, target: Target) -> Result<bool, DbError> {
    let done = match target {
        Target::Person(p) => {
            sqlx::query(
                "INSERT INTO person_block (person_id, target_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(user)
            .bind(p)
            .execute(pool)
            .await?
        }
        Target::Community(c) => {
            sqlx::query(
                "INSERT INTO community_block (person_id, community_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(user)
            .bind(c)
            .execute(pool)
            .await?
        }
    };
    Ok(done.rows_affected() > 0)
}

/// Unblock `target` for `user`. Returns whether it was blocked.
pub async fn unblock(pool: &PgPool, user: PersonId, target: Target) -> Result<bool, DbError> {
    let done = match target {
        Target::Person(p) => {
            sqlx::query("DELETE FROM person_block WHERE person_id = $1 AND target_id = $2")
                .bind(user)
                .bind(p)
                .execute(pool)
                .await?
        }
        Target::Community(c) => {
            sqlx::query("DELETE FROM community_block WHERE person_id = $1 AND community_id = $2")
                .bind(user)
                .bind(c)
                .execute(pool)
                .await?
        }
    };
    Ok(done.rows_affected() > 0)
}

/// One blocked person or community, with the handle the API shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Blocked {
    pub ap_id: String,
    pub name: String,
    pub authority: String,
    pub local: bool,
    pub created_at: DateTime<Utc>,
}

/// The people `user` blocks, newest first.
pub async fn people(pool: &PgPool, user: PersonId) -> Result<Vec<Blocked>, DbError> {
    Ok(sqlx::query_as(
        "SELECT p.ap_id, p.name, i.authority, p.local, b.created_at
         FROM person_block b JOIN person p ON p.id = b.target_id
         JOIN instance i ON i.id = p.instance_id
         WHERE b.person_id = $1 ORDER BY b.created_at DESC, p.id DESC",
    )
    .bind(user)
    .fetch_all(pool)
    .await?)
}

/// The communities `user` blocks, newest first.
pub async fn communities(pool: &PgPool, user: PersonId) -> Result<Vec<Blocked>, DbError> {
    Ok(sqlx::query_as(
        "SELECT c.ap_id, c.name, i.authority, c.local, b.created_at
         FROM community_block b JOIN community c ON c.id = b.community_id
         JOIN instance i ON i.id = c.instance_id
         WHERE b.person_id = $1 ORDER BY b.created_at DESC, c.id DESC",
    )
    .bind(user)
    .fetch_all(pool)
    .await?)
}

/// As SQL: the viewer `$1` (NULL for anonymous) blocks the person `creator` (an expression).
pub(crate) fn blocks_person(creator: &str) -> String {
    format!(
        "($1::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM person_block pb
             WHERE pb.person_id = $1 AND pb.target_id = {creator}))"
    )
}
