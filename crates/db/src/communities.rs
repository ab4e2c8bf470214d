//! Communities (group actors).

use crate::cursor;
use crate::DbError;
use canopy_core::{CommunityId, InstanceId, PersonId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Community {
    pub id: CommunityId,
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub description_html: Option<String>,
    pub ap_id: String,
    pub local: bool,
    pub authority: String,
    pub deleted: bool,
    pub removed: bool,
    pub subscriber_count: i32,
    pub post_count: i32,
    pub created_at: DateTime<Utc>,
    /// Only its moderators may post; anyone may comment.
    pub posting_restricted_to_mods: bool,
}

pub(crate) const COLUMNS: &str =
    "c.id, c.name, c.title, c.description, c.description_html, c.ap_id, c.local,
    i.authority, c.deleted, c.removed, c.subscriber_count, c.post_count, c.created_at,
    c.posting_restricted_to_mods";

#[derive(Debug)]
pub struct NewLocalCommunity<'a> {
    pub instance_id: InstanceId,
    pub name: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub description_html: Option<&'a str>,
    pub ap_id: &'a str,
    pub inbox_url: &'a str,
    pub shared_inbox_url: &'a str,
    pub followers_url: &'a str,
    pub public_key_pem: &'a str,
    pub private_key_pem: &'a str,
    pub creator_id: PersonId,
}

/// Create a local community; its creator becomes its first moderator and follower.
pub async fn create_local(
    pool: &PgPool,
    new: &NewLocalCommunity<'_>,
) -> Result<Community, DbError> {
    let mut tx = pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO community (instance_id, name, title, description, description_html, ap_id,
                                inbox_url, shared_inbox_url, followers_url, public_key_pem,
                                private_key_pem, local, creator_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true, $12)
         RETURNING id",
    )
    .bind(new.instance_id)
    .bind(new.name)
    .bind(new.title)
    .bind(new.description)
    .bind(new.description_html)
    .bind(new.ap_id)
    .bind(new.inbox_url)
    .bind(new.shared_inbox_url)
    .bind(new.followers_url)
    .bind(new.public_key_pem)
    .bind(new.private_key_pem)
    .bind(new.creator_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| DbError::conflict_on(e, "community"))?;
    sqlx::query("INSERT INTO community_moderator (community_id, person_id) VALUES ($1, $2)")
        .bind(id)
        .bind(new.creator_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO community_follow (community_id, person_id) VALUES ($1, $2)")
        .bind(id)
        .bind(new.creator_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    by_id(pool, CommunityId(id)).await
}

/// The settings of a local community its moderators change.
#[derive(Debug)]
pub struct Settings<'a> {
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub description_html: Option<&'a str>,
    pub posting_restricted_to_mods: bool,
}

/// Change a local community's settings in the caller's transaction; returns whether anything
/// changed (a remote community's settings are its home's, refreshed with the actor).
pub async fn update_settings(
    conn: &mut PgConnection,
    id: CommunityId,
    s: &Settings<'_>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE community SET title = $2, description = $3, description_html = $4,
                              posting_restricted_to_mods = $5, updated_at = now()
         WHERE id = $1 AND local
           AND (title, description, posting_restricted_to_mods)
               IS DISTINCT FROM ($2, $3, $5)",
    )
    .bind(id)
    .bind(s.title)
    .bind(s.description)
    .bind(s.description_html)
    .bind(s.posting_restricted_to_mods)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether `person` may start a post in `community`: it is not restricted to its moderators, or
/// the person is one of them (as its home lists them) or an admin of this node.
pub async fn may_post(
    pool: &PgPool,
    community: CommunityId,
    person: PersonId,
) -> Result<bool, DbError> {
    may_post_where(pool, community, person, "true").await
}

/// [`may_post`] for a post received from another server: only a local community's restriction is
/// applied here (a remote community's home applies its own, and relays what it took).
pub async fn takes_remote_post(
    pool: &PgPool,
    community: CommunityId,
    person: PersonId,
) -> Result<bool, DbError> {
    may_post_where(pool, community, person, "c.local").await
}

async fn may_post_where(
    pool: &PgPool,
    community: CommunityId,
    person: PersonId,
    applies: &str,
) -> Result<bool, DbError> {
    let (yes,): (bool,) = sqlx::query_as(&format!(
        "SELECT NOT ({applies} AND c.posting_restricted_to_mods)
             OR EXISTS (SELECT 1 FROM local_user u WHERE u.person_id = $2 AND u.is_admin)
             OR (c.local AND EXISTS (SELECT 1 FROM community_moderator m
                                     WHERE m.community_id = c.id AND m.person_id = $2))
             OR (NOT c.local AND EXISTS (SELECT 1 FROM community_remote_moderator r
                                         JOIN person p ON p.ap_id = r.ap_id
                                         WHERE r.community_id = c.id AND p.id = $2))
         FROM community c WHERE c.id = $1"
    ))
    .bind(community)
    .bind(person)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound("community"))?;
    Ok(yes)
}

pub async fn by_id(pool: &PgPool, id: CommunityId) -> Result<Community, DbError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM community c JOIN instance i ON i.id = c.instance_id WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound("community"))
}

/// A community by name: `name` for a local one, `name@authority` for a remote one.
pub async fn by_name(pool: &PgPool, name: &str) -> Result<Community, DbError> {
    let query = format!(
        "SELECT {COLUMNS} FROM community c JOIN instance i ON i.id = c.instance_id
         WHERE lower(c.name) = lower($1) AND (CASE WHEN $2::text IS NULL THEN c.local
                                                  ELSE i.authority = lower($2) END)"
    );
    let (local_name, authority) = match name.split_once('@') {
        Some((n, a)) => (n, Some(a)),
        None => (name, None),
    };
    sqlx::query_as(&query)
        .bind(local_name)
        .bind(authority)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("community"))
}

/// Where a page of the community list ended.
#[derive(serde::Serialize, serde::Deserialize)]
struct ListCursor {
    name: String,
    id: i64,
}

/// Communities ordered by name then id, `limit` after the cursor; returns the page and the
/// cursor of the next page when there may be one. Communities `viewer` blocks are left out.
pub async fn list(
    pool: &PgPool,
    cursor: Option<&str>,
    limit: i64,
    viewer: Option<PersonId>,
) -> Result<(Vec<Community>, Option<String>), DbError> {
    let after: Option<ListCursor> = cursor.map(cursor::decode).transpose()?;
    let rows: Vec<Community> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM community c JOIN instance i ON i.id = c.instance_id
         WHERE NOT c.deleted AND NOT c.removed AND {visible}
           AND ($1::text IS NULL OR (lower(c.name), c.id) > (lower($1), $2))
           AND ($4::bigint IS NULL OR NOT EXISTS (SELECT 1 FROM community_block cb
                                                  WHERE cb.person_id = $4 AND cb.community_id = c.id))
         ORDER BY lower(c.name), c.id
         LIMIT $3",
        visible = crate::governance::instance_visible("i")
    ))
    .bind(after.as_ref().map(|a| a.name.as_str()))
    .bind(after.as_ref().map(|a| a.id).unwrap_or(0))
    .bind(limit)
    .bind(viewer)
    .fetch_all(pool)
    .await?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == limit => Some(cursor::encode(&ListCursor {
            name: last.name.clone(),
            id: last.id.0,
        })),
        _ => None,
    };
    Ok((rows, next))
}
