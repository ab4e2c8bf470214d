//! Comments: create (top-level or reply), read one with its ancestors, edit, delete.
//! Reading pages of a tree lives in [`crate::tree`].

use crate::DbError;
use canopy_core::{CommentId, PersonId, PostId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// A comment with its creator and the viewer's vote.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentView {
    pub id: CommentId,
    pub post_id: PostId,
    pub parent_id: Option<CommentId>,
    pub path: Vec<i64>,
    pub depth: i32,
    pub content: String,
    pub content_html: String,
    pub ap_id: String,
    pub local: bool,
    pub deleted: bool,
    pub removed: bool,
    pub published: DateTime<Utc>,
    pub updated: Option<DateTime<Utc>>,
    pub score: i32,
    pub upvotes: i32,
    pub downvotes: i32,
    pub child_count: i32,
    pub descendant_count: i32,
    pub hot: f64,
    pub controversy: f64,
    pub creator_id: PersonId,
    pub creator_name: String,
    pub creator_display_name: Option<String>,
    pub creator_local: bool,
    pub creator_authority: String,
    pub my_vote: Option<i16>,
    /// The viewer blocks the comment's author (see [`crate::blocks`]).
    pub creator_blocked: bool,
    /// The viewer saved the comment (see [`crate::saved`]); false for anonymous viewers.
    pub saved: bool,
}

/// Columns of [`CommentView`], for a query over `comment c` joined as in [`VIEW_JOINS`].
pub(crate) const VIEW_COLUMNS: &str = "c.id, c.post_id, c.parent_id, c.path, c.depth, c.content,
    c.content_html, c.ap_id, c.local, c.deleted, c.removed, c.published, c.updated, c.score,
    c.upvotes, c.downvotes, c.child_count, c.descendant_count, c.hot, c.controversy,
    u.id AS creator_id, u.name AS creator_name, u.display_name AS creator_display_name,
    u.local AS creator_local, ui.authority AS creator_authority, v.score AS my_vote,
    ($1::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM person_block pb
        WHERE pb.person_id = $1 AND pb.target_id = c.creator_id)) AS creator_blocked,
    ($1::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM saved_item sv
        WHERE sv.person_id = $1 AND sv.post_id = c.post_id AND sv.comment_id = c.id)) AS saved";

/// Joins for [`VIEW_COLUMNS`]; `$1` is the viewer (NULL for anonymous).
pub(crate) const VIEW_JOINS: &str = "JOIN person u ON u.id = c.creator_id
    JOIN instance ui ON ui.id = u.instance_id
    LEFT JOIN comment_vote v ON v.comment_id = c.id AND v.person_id = $1";

/// The facts about a comment that writes need to check first.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentHead {
    pub id: CommentId,
    pub post_id: PostId,
    pub creator_id: PersonId,
    pub deleted: bool,
    pub removed: bool,
}

/// A new comment. `ap_id` is `None` for local comments: the id is then `ap_id_prefix` + row id.
#[derive(Debug)]
pub struct NewComment<'a> {
    pub post_id: PostId,
    pub parent_id: Option<CommentId>,
    pub creator_id: PersonId,
    pub content: &'a str,
    pub content_html: &'a str,
    pub local: bool,
    pub ap_id: Option<&'a str>,
    pub ap_id_prefix: &'a str,
    pub published: Option<DateTime<Utc>>,
    /// When a remote comment was last edited at its home (`None`: never, or local).
    pub updated: Option<DateTime<Utc>>,
}

/// Insert a comment inside the caller's transaction. The parent, when given, must exist and belong
/// to the same post (checked here: otherwise `NotFound("parent comment")`).
pub async fn create(conn: &mut PgConnection, new: &NewComment<'_>) -> Result<CommentId, DbError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "WITH n AS (SELECT nextval(pg_get_serial_sequence('comment', 'id')) AS id),
              parent AS (SELECT path FROM comment WHERE id = $2 AND post_id = $1)
         INSERT INTO comment (id, post_id, parent_id, path, creator_id, content, content_html,
                              local, ap_id, published, updated)
         SELECT n.id, $1, $2, coalesce((SELECT path FROM parent), '{}') || n.id, $3, $4, $5, $6,
                coalesce($7, $8 || n.id), coalesce($9, now()), $10
         FROM n
         WHERE $2::bigint IS NULL OR EXISTS (SELECT 1 FROM parent)
         RETURNING id",
    )
    .bind(new.post_id)
    .bind(new.parent_id)
    .bind(new.creator_id)
    .bind(new.content)
    .bind(new.content_html)
    .bind(new.local)
    .bind(new.ap_id)
    .bind(new.ap_id_prefix)
    .bind(new.published)
    .bind(new.updated)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| DbError::conflict_on(e, "comment"))?;
    row.map(|(id,)| CommentId(id))
        .ok_or(DbError::NotFound("parent comment"))
}

pub async fn head(pool: &PgPool, id: CommentId) -> Result<CommentHead, DbError> {
    sqlx::query_as("SELECT id, post_id, creator_id, deleted, removed FROM comment WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("comment"))
}

pub async fn view(
    pool: &PgPool,
    id: CommentId,
    viewer: Option<PersonId>,
) -> Result<CommentView, DbError> {
    sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM comment c {VIEW_JOINS} WHERE c.id = $2"
    ))
    .bind(viewer)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound("comment"))
}

/// The ancestors of a comment, from the top-level one down to its parent: one index lookup per
/// id of its path.
pub async fn ancestors(
    pool: &PgPool,
    comment: &CommentView,
    viewer: Option<PersonId>,
) -> Result<Vec<CommentView>, DbError> {
    let ids = &comment.path[..comment.path.len().saturating_sub(1)];
    Ok(sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM comment c {VIEW_JOINS} WHERE c.id = ANY($2) ORDER BY c.depth"
    ))
    .bind(viewer)
    .bind(ids)
    .fetch_all(pool)
    .await?)
}

/// Replace a comment's text.
pub async fn update(
    conn: &mut PgConnection,
    id: CommentId,
    content: &str,
    content_html: &str,
) -> Result<(), DbError> {
    let done = sqlx::query(
        "UPDATE comment SET content = $2, content_html = $3, updated = now()
         WHERE id = $1 AND NOT deleted",
    )
    .bind(id)
    .bind(content)
    .bind(content_html)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::NotFound("comment"));
    }
    Ok(())
}

/// Mark a comment deleted. The row keeps its place in the tree so its replies stay attached.
pub async fn delete(conn: &mut PgConnection, id: CommentId) -> Result<(), DbError> {
    let done = sqlx::query(
        "UPDATE comment SET deleted = true, updated = now() WHERE id = $1 AND NOT deleted",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::NotFound("comment"));
    }
    Ok(())
}

/// Apply an edit of a remote comment from its home server, only when it is newer than what is
/// stored. Returns whether it was applied.
pub async fn update_remote_if_newer(
    pool: &PgPool,
    id: CommentId,
    content: &str,
    content_html: &str,
    updated: DateTime<Utc>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE comment SET content = $2, content_html = $3, updated = $4
         WHERE id = $1 AND NOT local AND coalesce(updated, published) < $4",
    )
    .bind(id)
    .bind(content)
    .bind(content_html)
    .bind(updated)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
