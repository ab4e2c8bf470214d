//! Whole threads as collections: a post's `context` (the post, then every comment of the
//! thread by publication time) and the direct `replies` of a post or a comment. Every page is a
//! keyset scan over `(published, id)` on an index scoped to the post (or to the post and parent),
//! so a page reads the rows it returns whatever the size of the thread.
//!
//! Deleted and removed comments stay listed: their ids answer with a Tombstone, and listing them
//! keeps the replies below them reachable. Comments by authors of refused instances are left out.

use crate::cursor::{self, Position, SortValue};
use crate::DbError;
use canopy_core::{CommentId, PostId};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// The keyset condition, written out only when there is a position so that the scan starts at
/// it on the index (an `IS NULL OR` form would let a generic plan scan from the start). The
/// parameters stay bound either way; the first form just does not read them.
const AFTER_2_3: [&str; 2] = [
    "($2::timestamptz IS NULL AND $3::bigint IS NOT NULL)",
    "(x.published, x.id) > ($2::timestamptz, $3::bigint)",
];
const AFTER_3_4: [&str; 2] = [
    "($3::timestamptz IS NULL AND $4::bigint IS NOT NULL)",
    "(x.published, x.id) > ($3::timestamptz, $4::bigint)",
];

/// A local post whose thread this node serves.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThreadPost {
    pub id: PostId,
    pub ap_id: String,
    pub deleted: bool,
    pub removed: bool,
}

/// A local comment whose replies this node serves.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThreadComment {
    pub id: CommentId,
    pub post_id: PostId,
    pub ap_id: String,
    pub deleted: bool,
    pub removed: bool,
}

/// One listed item: its id (the keyset tie-breaker), publication time and ActivityPub id, and
/// what a page needs to embed it (made here; deleted or removed, and since when).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThreadItem {
    pub id: i64,
    pub published: DateTime<Utc>,
    pub ap_id: String,
    pub local: bool,
    pub gone: bool,
    pub updated: Option<DateTime<Utc>>,
}

impl ThreadItem {
    /// The keyset position just after this item.
    pub fn position(&self) -> Position {
        Position {
            value: SortValue::time(self.published),
            id: self.id,
        }
    }
}

/// Encode a page position for a `next` link.
pub fn encode_position(p: &Position) -> String {
    cursor::encode(p)
}

/// Decode a position from a `next` link; anything else is `BadCursor`.
pub fn decode_position(raw: &str) -> Result<(DateTime<Utc>, i64), DbError> {
    let p: Position = cursor::decode(raw)?;
    Ok((p.value.as_time()?, p.id))
}

pub async fn local_post(pool: &PgPool, id: PostId) -> Result<ThreadPost, DbError> {
    sqlx::query_as("SELECT id, ap_id, deleted, removed FROM post WHERE id = $1 AND local")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("post"))
}

pub async fn local_comment(pool: &PgPool, id: CommentId) -> Result<ThreadComment, DbError> {
    sqlx::query_as(
        "SELECT id, post_id, ap_id, deleted, removed FROM comment WHERE id = $1 AND local",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound("comment"))
}

/// Number of comments of the thread that its `context` lists (the post not counted).
pub async fn thread_count(pool: &PgPool, post: PostId) -> Result<i64, DbError> {
    let sql = format!(
        "SELECT count(*) FROM comment x WHERE x.post_id = $1 AND {}",
        crate::governance::comment_visible("x")
    );
    let (n,): (i64,) = sqlx::query_as(&sql).bind(post).fetch_one(pool).await?;
    Ok(n)
}

/// Up to `limit` comments of the thread after `after`, oldest first.
pub async fn thread_page(
    pool: &PgPool,
    post: PostId,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Vec<ThreadItem>, DbError> {
    let sql = format!(
        "SELECT x.id, x.published, x.ap_id, x.local, (x.deleted OR x.removed) AS gone, x.updated
         FROM comment x
         WHERE x.post_id = $1
           AND {after}
           AND {visible}
         ORDER BY x.published, x.id
         LIMIT $4",
        after = AFTER_2_3[usize::from(after.is_some())],
        visible = crate::governance::comment_visible("x")
    );
    let (time, id) = after.map_or((None, 0), |(t, i)| (Some(t), i));
    Ok(sqlx::query_as(&sql)
        .bind(post)
        .bind(time)
        .bind(id)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// Number of direct replies of `parent` (`None`: top-level comments of the post).
pub async fn replies_count(
    pool: &PgPool,
    post: PostId,
    parent: Option<CommentId>,
) -> Result<i64, DbError> {
    let sql = format!(
        "SELECT count(*) FROM comment x WHERE x.post_id = $1 AND x.parent_key = $2 AND {}",
        crate::governance::comment_visible("x")
    );
    let (n,): (i64,) = sqlx::query_as(&sql)
        .bind(post)
        .bind(parent.map_or(0, |c| c.0))
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// Up to `limit` direct replies of `parent` after `after`, oldest first.
pub async fn replies_page(
    pool: &PgPool,
    post: PostId,
    parent: Option<CommentId>,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Vec<ThreadItem>, DbError> {
    let sql = format!(
        "SELECT x.id, x.published, x.ap_id, x.local, (x.deleted OR x.removed) AS gone, x.updated
         FROM comment x
         WHERE x.post_id = $1 AND x.parent_key = $2
           AND {after}
           AND {visible}
         ORDER BY x.published, x.id
         LIMIT $5",
        after = AFTER_3_4[usize::from(after.is_some())],
        visible = crate::governance::comment_visible("x")
    );
    let (time, id) = after.map_or((None, 0), |(t, i)| (Some(t), i));
    Ok(sqlx::query_as(&sql)
        .bind(post)
        .bind(parent.map_or(0, |c| c.0))
        .bind(time)
        .bind(id)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}
