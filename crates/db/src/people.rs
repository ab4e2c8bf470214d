//! People (user actors) and local accounts.

use crate::DbError;
use canopy_core::{InstanceId, PersonId};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A person as the API shows it (no keys).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Person {
    pub id: PersonId,
    pub name: String,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub bio_html: Option<String>,
    pub ap_id: String,
    pub local: bool,
    pub deleted: bool,
    pub authority: String,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    /// Profile picture and banner: URLs elsewhere (see [`crate::profiles`]).
    pub avatar_url: Option<String>,
    pub banner_url: Option<String>,
}

pub(crate) const PERSON_COLUMNS: &str =
    "p.id, p.name, p.display_name, p.bio, p.bio_html, p.ap_id, p.local,
    p.deleted, i.authority, coalesce(u.is_admin, false) AS is_admin, p.created_at,
    p.avatar_url, p.banner_url";

/// Everything needed to create a local account and its actor.
#[derive(Debug)]
pub struct NewLocalUser<'a> {
    pub instance_id: InstanceId,
    pub name: &'a str,
    pub display_name: Option<&'a str>,
    pub ap_id: &'a str,
    pub inbox_url: &'a str,
    pub shared_inbox_url: &'a str,
    pub public_key_pem: &'a str,
    pub private_key_pem: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
}

/// Create the person row and the local account in one transaction.
/// A name already taken on this instance (case-insensitively) is `Conflict("user")`.
pub async fn create_local_user(pool: &PgPool, new: &NewLocalUser<'_>) -> Result<Person, DbError> {
    let mut tx = pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO person (instance_id, name, display_name, ap_id, inbox_url, shared_inbox_url,
                             public_key_pem, private_key_pem, local)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true)
         RETURNING id",
    )
    .bind(new.instance_id)
    .bind(new.name)
    .bind(new.display_name)
    .bind(new.ap_id)
    .bind(new.inbox_url)
    .bind(new.shared_inbox_url)
    .bind(new.public_key_pem)
    .bind(new.private_key_pem)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| DbError::conflict_on(e, "user"))?;
    sqlx::query("INSERT INTO local_user (person_id, password_hash, is_admin) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(new.password_hash)
        .bind(new.is_admin)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    by_id(pool, PersonId(id)).await
}

pub async fn by_id(pool: &PgPool, id: PersonId) -> Result<Person, DbError> {
    sqlx::query_as(&format!(
        "SELECT {PERSON_COLUMNS} FROM person p JOIN instance i ON i.id = p.instance_id
         LEFT JOIN local_user u ON u.person_id = p.id WHERE p.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound("user"))
}

/// A local user by name (case-insensitive).
pub async fn local_by_name(pool: &PgPool, name: &str) -> Result<Person, DbError> {
    sqlx::query_as(&format!(
        "SELECT {PERSON_COLUMNS} FROM person p JOIN instance i ON i.id = p.instance_id
         LEFT JOIN local_user u ON u.person_id = p.id
         WHERE p.local AND lower(p.name) = lower($1)"
    ))
    .bind(name)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound("user"))
}

/// A person by handle: `name` for a local user, `name@authority` for a remote person this node
/// has stored.
pub async fn by_handle(pool: &PgPool, handle: &str) -> Result<Person, DbError> {
    let (name, authority) = match handle.split_once('@') {
        Some((n, a)) => (n, Some(a)),
        None => (handle, None),
    };
    sqlx::query_as(&format!(
        "SELECT {PERSON_COLUMNS} FROM person p JOIN instance i ON i.id = p.instance_id
         LEFT JOIN local_user u ON u.person_id = p.id
         WHERE lower(p.name) = lower($1)
           AND (CASE WHEN $2::text IS NULL THEN p.local ELSE i.authority = lower($2) END)
         ORDER BY p.id LIMIT 1"
    ))
    .bind(name)
    .bind(authority)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound("user"))
}

/// The local admin account that has existed longest, if any.
pub async fn first_admin(pool: &PgPool) -> Result<Option<Person>, DbError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PERSON_COLUMNS} FROM person p JOIN instance i ON i.id = p.instance_id
         JOIN local_user u ON u.person_id = p.id
         WHERE u.is_admin AND NOT p.deleted ORDER BY p.id LIMIT 1"
    ))
    .fetch_optional(pool)
    .await?)
}

/// The password hash of a local account, for log-in.
pub async fn password_hash(
    pool: &PgPool,
    name: &str,
) -> Result<Option<(PersonId, String)>, DbError> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT p.id, u.password_hash FROM person p JOIN local_user u ON u.person_id = p.id
         WHERE p.local AND lower(p.name) = lower($1) AND NOT p.deleted",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, hash)| (PersonId(id), hash)))
}
