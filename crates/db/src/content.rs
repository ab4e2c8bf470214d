//! Posts and comments named by their ActivityPub id, as federation meets them: an id may name
//! either, so each query here looks in both tables. What is specific to one table lives in
//! [`crate::posts`] or [`crate::comments`].

use crate::DbError;
use canopy_core::{CommentId, CommunityId, PersonId, PostId};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// What federation needs to know about a stored post or comment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContentRow {
    /// The comment, or `None` when the row is the post `post_id` itself.
    pub comment_id: Option<CommentId>,
    pub post_id: PostId,
    pub ap_id: String,
    pub local: bool,
    pub community_id: CommunityId,
    pub creator_id: PersonId,
    pub creator_ap_id: String,
    pub deleted: bool,
    pub updated: Option<DateTime<Utc>>,
    pub published: DateTime<Utc>,
}

/// A stored comment or post by its ActivityPub id.
pub async fn by_ap_id(pool: &PgPool, ap_id: &str) -> Result<Option<ContentRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT c.id AS comment_id, c.post_id, c.ap_id, c.local, p.community_id,
                c.creator_id, u.ap_id AS creator_ap_id, c.deleted, c.updated, c.published
         FROM comment c JOIN post p ON p.id = c.post_id JOIN person u ON u.id = c.creator_id
         WHERE c.ap_id = $1
         UNION ALL
         SELECT NULL, p.id, p.ap_id, p.local, p.community_id, p.creator_id,
                u.ap_id, p.deleted, p.updated, p.published
         FROM post p JOIN person u ON u.id = p.creator_id WHERE p.ap_id = $1
         LIMIT 1",
    )
    .bind(ap_id)
    .fetch_optional(pool)
    .await?)
}

/// Mark remote content deleted by its id. Returns whether a row changed.
pub async fn delete_remote(pool: &PgPool, ap_id: &str) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    let c = sqlx::query(
        "UPDATE comment SET deleted = true, updated = now() WHERE ap_id = $1 AND NOT deleted",
    )
    .bind(ap_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let p = sqlx::query(
        "UPDATE post SET deleted = true, updated = now() WHERE ap_id = $1 AND NOT deleted",
    )
    .bind(ap_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(c + p > 0)
}

/// A stored post or comment that a new reply names as its parent, with what decides whether
/// the reply may go under it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReplyTarget {
    /// The comment, or `None` when the parent is the post `post_id` itself.
    pub comment_id: Option<CommentId>,
    pub post_id: PostId,
    pub community_id: CommunityId,
    /// The post is deleted or removed.
    pub post_gone: bool,
    pub post_locked: bool,
    /// The parent is a comment that is deleted or removed.
    pub comment_gone: bool,
    /// The community is local and has accepted followers on other servers: a reply stored
    /// under this target is relayed to them (see [`crate::actors::announcing_community`]).
    pub community_announces: bool,
    /// The reply's author is banned from the community or from this node (see
    /// [`crate::bans`]); false when the author is not stored yet (nobody banned them here).
    pub author_banned: bool,
}

/// Whether the community of the post `p` is local with accepted remote followers, as SQL.
const POST_COMMUNITY_ANNOUNCES: &str = "EXISTS (SELECT 1 FROM community co
             JOIN community_follow f ON f.community_id = co.id
             JOIN person fp ON fp.id = f.person_id
             WHERE co.id = p.community_id AND co.local AND NOT f.pending AND NOT fp.local)";

/// The post or comment `ap_id` as a reply target for a reply by `author` (an ActivityPub id), in
/// one statement (which also says whether a reply under it is relayed, so the common case of no
/// remote followers costs no second one, and whether the author is banned there).
pub async fn reply_target(
    pool: &PgPool,
    ap_id: &str,
    author: &str,
) -> Result<Option<ReplyTarget>, DbError> {
    let banned = crate::bans::banned_sql("$2", "p.community_id");
    Ok(sqlx::query_as(&format!(
        "SELECT c.id AS comment_id, c.post_id, p.community_id,
                p.deleted OR p.removed AS post_gone, p.locked AS post_locked,
                c.deleted OR c.removed AS comment_gone,
                {POST_COMMUNITY_ANNOUNCES} AS community_announces,
                {banned} AS author_banned
         FROM comment c JOIN post p ON p.id = c.post_id
         WHERE c.ap_id = $1
         UNION ALL
         SELECT NULL, p.id, p.community_id, p.deleted OR p.removed, p.locked, false,
                {POST_COMMUNITY_ANNOUNCES}, {banned}
         FROM post p WHERE p.ap_id = $1
         LIMIT 1"
    ))
    .bind(ap_id)
    .bind(author)
    .fetch_optional(pool)
    .await?)
}
