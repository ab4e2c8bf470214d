//! Posts: create, read, edit, delete, and a community's list (see [`crate::listing`]).

use crate::DbError;
use canopy_core::{CommunityId, PersonId, PostId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

/// Orders of the post lists (the front page and a community's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PostSort {
    /// Score and age: see `canopy_hot` (migration 20261129000002).
    #[default]
    Hot,
    /// Score; `top` alone takes a time window.
    Top,
    /// Newest first.
    New,
    /// The newest comment, else the post's publication.
    Active,
    /// Most comments.
    MostComments,
    /// Many votes, evenly split.
    Controversial,
}

/// A post with its community, creator and the viewer's vote.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PostView {
    pub id: PostId,
    pub ap_id: String,
    pub local: bool,
    pub title: String,
    pub url: Option<String>,
    pub body: Option<String>,
    pub body_html: Option<String>,
    pub deleted: bool,
    pub removed: bool,
    pub locked: bool,
    /// Featured in its community by a moderator.
    pub featured: bool,
    pub published: DateTime<Utc>,
    pub updated: Option<DateTime<Utc>>,
    pub score: i32,
    pub upvotes: i32,
    pub downvotes: i32,
    pub comment_count: i32,
    pub hot: f64,
    pub controversy: f64,
    /// The newest comment's publication, or the post's when it has none.
    pub active: DateTime<Utc>,
    pub community_id: CommunityId,
    pub community_name: String,
    pub community_local: bool,
    pub community_authority: String,
    pub creator_id: PersonId,
    pub creator_name: String,
    pub creator_display_name: Option<String>,
    pub creator_local: bool,
    pub creator_authority: String,
    pub my_vote: Option<i16>,
    /// The viewer saved the post (see [`crate::saved`]); false for anonymous viewers.
    pub saved: bool,
    /// A remote post's comment count at its home, as last synced (see `remote_threads`).
    pub remote_comment_count: Option<i32>,
    /// When a remote post's thread was last synced with its home.
    pub thread_synced_at: Option<DateTime<Utc>>,
}

/// The columns of [`PostView`] over `post p` and its joins; `$1` is the viewer.
pub(crate) const VIEW: &str =
    "SELECT p.id, p.ap_id, p.local, p.title, p.url, p.body, p.body_html, p.deleted,
        p.removed, p.locked, p.featured, p.published, p.updated, p.score, p.upvotes, p.downvotes,
        a.comment_count, p.hot, p.controversy, a.active,
        c.id AS community_id, c.name AS community_name, c.local AS community_local,
        ci.authority AS community_authority,
        u.id AS creator_id, u.name AS creator_name, u.display_name AS creator_display_name,
        u.local AS creator_local, ui.authority AS creator_authority,
        v.score AS my_vote, rt.remote_comment_count, rt.synced_at AS thread_synced_at,
        ($1::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM saved_item sv
            WHERE sv.person_id = $1 AND sv.post_id = p.id AND sv.comment_id IS NULL)) AS saved
    FROM post p
    JOIN post_aggregates a ON a.post_id = p.id
    JOIN community c ON c.id = p.community_id
    JOIN instance ci ON ci.id = c.instance_id
    JOIN person u ON u.id = p.creator_id
    JOIN instance ui ON ui.id = u.instance_id
    LEFT JOIN post_vote v ON v.post_id = p.id AND v.person_id = $1
    LEFT JOIN remote_thread rt ON rt.post_id = p.id";

/// A new post. `ap_id` is `None` for local posts: the id is then `ap_id_prefix` + row id.
#[derive(Debug)]
pub struct NewPost<'a> {
    pub community_id: CommunityId,
    pub creator_id: PersonId,
    pub title: &'a str,
    pub url: Option<&'a str>,
    pub body: Option<&'a str>,
    pub body_html: Option<&'a str>,
    pub local: bool,
    pub ap_id: Option<&'a str>,
    pub ap_id_prefix: &'a str,
    pub published: Option<DateTime<Utc>>,
    /// When a remote post was last edited at its home (`None`: never, or local).
    pub updated: Option<DateTime<Utc>>,
}

/// Insert a post inside the caller's transaction and return its id.
pub async fn create(conn: &mut PgConnection, new: &NewPost<'_>) -> Result<PostId, DbError> {
    let (id,): (i64,) = sqlx::query_as(
        "WITH n AS (SELECT nextval(pg_get_serial_sequence('post', 'id')) AS id)
         INSERT INTO post (id, community_id, creator_id, title, url, body, body_html, local, ap_id,
                           published, updated)
         SELECT n.id, $1, $2, $3, $4, $5, $6, $7, coalesce($8, $9 || n.id), coalesce($10, now()),
                $11
         FROM n
         RETURNING id",
    )
    .bind(new.community_id)
    .bind(new.creator_id)
    .bind(new.title)
    .bind(new.url)
    .bind(new.body)
    .bind(new.body_html)
    .bind(new.local)
    .bind(new.ap_id)
    .bind(new.ap_id_prefix)
    .bind(new.published)
    .bind(new.updated)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| DbError::conflict_on(e, "post"))?;
    Ok(PostId(id))
}

pub async fn view(
    pool: &PgPool,
    id: PostId,
    viewer: Option<PersonId>,
) -> Result<PostView, DbError> {
    sqlx::query_as(&format!("{VIEW} WHERE p.id = $2"))
        .bind(viewer)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("post"))
}

/// The posts `ids` as `viewer` sees them, in the order of `ids` (missing ones left out).
pub async fn views(
    pool: &PgPool,
    ids: &[i64],
    viewer: Option<PersonId>,
) -> Result<Vec<PostView>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<PostView> = sqlx::query_as(&format!("{VIEW} WHERE p.id = ANY($2)"))
        .bind(viewer)
        .bind(ids)
        .fetch_all(pool)
        .await?;
    let mut by_id: std::collections::HashMap<i64, PostView> =
        rows.into_iter().map(|p| (p.id.0, p)).collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// `creator`'s live posts (not deleted or removed) as `viewer` sees them, newest first, `limit`
/// after `(published, id)` (see [`crate::profiles::posts_by`]).
pub async fn by_creator(
    pool: &PgPool,
    creator: PersonId,
    viewer: Option<PersonId>,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Vec<PostView>, DbError> {
    Ok(sqlx::query_as(&format!(
        "{VIEW} WHERE p.creator_id = $2 AND NOT p.deleted AND NOT p.removed
           AND ($3::timestamptz IS NULL OR (p.published, p.id) < ($3, $4))
         ORDER BY p.published DESC, p.id DESC LIMIT $5"
    ))
    .bind(viewer)
    .bind(creator)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1).unwrap_or(0))
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Replace a post's editable fields.
pub async fn update(
    conn: &mut PgConnection,
    id: PostId,
    title: &str,
    url: Option<&str>,
    body: Option<&str>,
    body_html: Option<&str>,
) -> Result<(), DbError> {
    let done = sqlx::query(
        "UPDATE post SET title = $2, url = $3, body = $4, body_html = $5, updated = now()
         WHERE id = $1 AND NOT deleted",
    )
    .bind(id)
    .bind(title)
    .bind(url)
    .bind(body)
    .bind(body_html)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::NotFound("post"));
    }
    Ok(())
}

/// Mark a post deleted. Its comments stay readable under it.
pub async fn delete(conn: &mut PgConnection, id: PostId) -> Result<(), DbError> {
    let done = sqlx::query(
        "UPDATE post SET deleted = true, updated = now() WHERE id = $1 AND NOT deleted",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::NotFound("post"));
    }
    Ok(())
}

/// Apply an edit of a remote post from its home server, only when it is newer than what is
/// stored. Returns whether it was applied.
pub async fn update_remote_if_newer(
    pool: &PgPool,
    id: PostId,
    title: &str,
    url: Option<&str>,
    body: Option<&str>,
    body_html: Option<&str>,
    updated: DateTime<Utc>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE post SET title = $2, url = $3, body = $4, body_html = $5, updated = $6
         WHERE id = $1 AND NOT local AND coalesce(updated, published) < $6",
    )
    .bind(id)
    .bind(title)
    .bind(url)
    .bind(body)
    .bind(body_html)
    .bind(updated)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A page of a community's live (not deleted or removed) posts: [`crate::listing::posts`] with
/// the community's scope. The cursor must come from an earlier page of the same community,
/// sort and window.
pub async fn list(
    pool: &PgPool,
    community: CommunityId,
    sort: PostSort,
    cursor: Option<&str>,
    limit: i64,
    viewer: Option<PersonId>,
) -> Result<(Vec<PostView>, Option<String>), DbError> {
    crate::listing::posts(
        pool,
        crate::listing::Scope::Community(community),
        sort,
        crate::listing::Window::All,
        cursor,
        limit,
        viewer,
    )
    .await
}
