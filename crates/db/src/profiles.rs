//! Profiles and settings of local users, and what a user wrote (posts and comments, local and
//! remote users alike) a page at a time.

use crate::comments::{CommentView, VIEW_COLUMNS, VIEW_JOINS};
use crate::cursor::{self, Position, SortValue};
use crate::posts::PostView;
use crate::DbError;
use canopy_core::PersonId;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// A local user's profile as they edit it. Every field is written (the API merges a partial
/// change with the stored profile first).
#[derive(Debug)]
pub struct Profile<'a> {
    pub display_name: Option<&'a str>,
    pub bio: Option<&'a str>,
    pub bio_html: Option<&'a str>,
    pub avatar_url: Option<&'a str>,
    pub banner_url: Option<&'a str>,
}

/// Write a local user's profile in the caller's transaction; returns whether anything changed
/// (the Person actor's `updated` moves only then).
pub async fn update_profile(
    conn: &mut PgConnection,
    person: PersonId,
    p: &Profile<'_>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE person SET display_name = $2, bio = $3, bio_html = $4, avatar_url = $5,
                           banner_url = $6, updated_at = now()
         WHERE id = $1 AND local
           AND (display_name, bio, avatar_url, banner_url) IS DISTINCT FROM ($2, $3, $5, $6)",
    )
    .bind(person)
    .bind(p.display_name)
    .bind(p.bio)
    .bind(p.bio_html)
    .bind(p.avatar_url)
    .bind(p.banner_url)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A local user's settings.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Settings {
    /// A post sort name (`hot`, `new`, …), checked by the API.
    pub default_sort: String,
    /// A listing scope (`all`, `local`, `subscribed`), checked by the API.
    pub default_listing: String,
}

pub async fn settings(pool: &PgPool, person: PersonId) -> Result<Settings, DbError> {
    sqlx::query_as("SELECT default_sort, default_listing FROM local_user WHERE person_id = $1")
        .bind(person)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("user"))
}

pub async fn update_settings(
    conn: &mut PgConnection,
    person: PersonId,
    s: &Settings,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE local_user SET default_sort = $2, default_listing = $3 WHERE person_id = $1",
    )
    .bind(person)
    .bind(&s.default_sort)
    .bind(&s.default_listing)
    .execute(conn)
    .await?;
    Ok(())
}

/// The inboxes of
/// the servers that follow the user or a community the user posted or commented in (shared
/// inboxes where known, once each), where an Update of the user's actor goes.
pub async fn profile_audience(
    conn: &mut PgConnection,
    person: PersonId,
) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT coalesce(fp.shared_inbox_url, fp.inbox_url)
         FROM person_follow f JOIN person fp ON fp.id = f.follower_id
         WHERE f.target_id = $1 AND NOT f.pending AND NOT fp.local
         UNION
         SELECT coalesce(c.shared_inbox_url, c.inbox_url)
         FROM community c
         WHERE NOT c.local AND c.id IN (SELECT community_id FROM post WHERE creator_id = $1
                                        UNION
                                        SELECT p.community_id FROM comment m
                                        JOIN post p ON p.id = m.post_id WHERE m.creator_id = $1)
         UNION
         SELECT DISTINCT coalesce(fp.shared_inbox_url, fp.inbox_url)
         FROM community_follow f JOIN person fp ON fp.id = f.person_id
         WHERE NOT f.pending AND NOT fp.local
           AND f.community_id IN (SELECT community_id FROM post WHERE creator_id = $1
                                  UNION
                                  SELECT p.community_id FROM comment m
                                  JOIN post p ON p.id = m.post_id WHERE m.creator_id = $1)",
    )
    .bind(person)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(i,)| i).collect())
}

/// `creator`'s posts as `viewer` sees them, newest first, without deleted or removed ones;
/// `limit` after the cursor. Returns the page and the next cursor when there may be one.
pub async fn posts_by(
    pool: &PgPool,
    creator: PersonId,
    viewer: Option<PersonId>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<PostView>, Option<String>), DbError> {
    let after = cursor.map(crate::threads::decode_position).transpose()?;
    let rows = crate::posts::by_creator(pool, creator, viewer, after, limit).await?;
    let next = next_cursor(
        rows.last().map(|r| (r.published, r.id.0)),
        rows.len(),
        limit,
    );
    Ok((rows, next))
}

/// `creator`'s comments as `viewer` sees them, newest first, without deleted or removed ones;
/// `limit` after the cursor. Returns the page and the next cursor when there may be one.
pub async fn comments_by(
    pool: &PgPool,
    creator: PersonId,
    viewer: Option<PersonId>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<CommentView>, Option<String>), DbError> {
    let after = cursor.map(crate::threads::decode_position).transpose()?;
    let rows: Vec<CommentView> = sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM comment c {VIEW_JOINS}
         JOIN post p ON p.id = c.post_id
         WHERE c.creator_id = $2 AND NOT c.deleted AND NOT c.removed
           AND NOT p.deleted AND NOT p.removed
           AND ($3::timestamptz IS NULL OR (c.published, c.id) < ($3, $4))
         ORDER BY c.published DESC, c.id DESC LIMIT $5"
    ))
    .bind(viewer)
    .bind(creator)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1).unwrap_or(0))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let next = next_cursor(
        rows.last().map(|r| (r.published, r.id.0)),
        rows.len(),
        limit,
    );
    Ok((rows, next))
}

/// The cursor after `last` (its publication and id) when the page was full.
fn next_cursor(last: Option<(DateTime<Utc>, i64)>, len: usize, limit: i64) -> Option<String> {
    match last {
        Some((published, id)) if len as i64 == limit => Some(cursor::encode(&Position {
            value: SortValue::time(published),
            id,
        })),
        _ => None,
    }
}
