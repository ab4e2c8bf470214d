//! What the ActivityPub side publishes about local actors and objects: keys, inboxes, moderators,
//! follower counts, the instance actor's key pair, and posts and comments with the ActivityPub
//! ids of the people and objects they point at. Only local rows are returned: a remote object is
//! served by its own server.

use crate::DbError;
use canopy_core::{CommentId, CommunityId, InstanceId, PersonId, PostId};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A local person as its actor document needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LocalPerson {
    pub id: PersonId,
    pub name: String,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub bio_html: Option<String>,
    pub ap_id: String,
    pub inbox_url: String,
    pub shared_inbox_url: Option<String>,
    pub public_key_pem: String,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub avatar_url: Option<String>,
    pub banner_url: Option<String>,
}

const LOCAL_PERSON: &str = "SELECT id, name, display_name, bio, bio_html, ap_id, inbox_url,
    shared_inbox_url, public_key_pem, deleted, created_at, updated_at, avatar_url, banner_url
    FROM person WHERE local AND";

/// A local person by name (case-insensitive), deleted or not.
pub async fn local_person(pool: &PgPool, name: &str) -> Result<LocalPerson, DbError> {
    sqlx::query_as(&format!("{LOCAL_PERSON} lower(name) = lower($1)"))
        .bind(name)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("user"))
}

/// A local person by id, in the caller's transaction.
pub async fn local_person_by_id(
    conn: &mut sqlx::PgConnection,
    id: PersonId,
) -> Result<LocalPerson, DbError> {
    sqlx::query_as(&format!("{LOCAL_PERSON} id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(DbError::NotFound("user"))
}

/// A local community as its actor document needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LocalCommunity {
    pub id: CommunityId,
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub description_html: Option<String>,
    pub ap_id: String,
    pub inbox_url: String,
    pub shared_inbox_url: Option<String>,
    pub followers_url: Option<String>,
    pub public_key_pem: String,
    pub deleted: bool,
    pub removed: bool,
    pub subscriber_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub posting_restricted_to_mods: bool,
}

/// [`LocalCommunity`]; append a condition.
const LOCAL_COMMUNITY: &str = "SELECT id, name, title, description, description_html, ap_id,
        inbox_url, shared_inbox_url, followers_url, public_key_pem, deleted, removed,
        subscriber_count, created_at, updated_at, posting_restricted_to_mods
    FROM community WHERE local AND";

/// A local community by name (case-insensitive), deleted or not.
pub async fn local_community(pool: &PgPool, name: &str) -> Result<LocalCommunity, DbError> {
    sqlx::query_as(&format!("{LOCAL_COMMUNITY} lower(name) = lower($1)"))
        .bind(name)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("community"))
}

/// A local community by id, in the caller's transaction.
pub async fn local_community_by_id(
    conn: &mut sqlx::PgConnection,
    id: CommunityId,
) -> Result<LocalCommunity, DbError> {
    sqlx::query_as(&format!("{LOCAL_COMMUNITY} id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(DbError::NotFound("community"))
}

/// The ActivityPub ids of a community's moderators, longest-serving first.
pub async fn moderator_ap_ids(
    pool: &PgPool,
    community: CommunityId,
) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT p.ap_id FROM community_moderator m JOIN person p ON p.id = m.person_id
         WHERE m.community_id = $1 AND NOT p.deleted
         ORDER BY m.created_at, p.id",
    )
    .bind(community)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(ap_id,)| ap_id).collect())
}

/// How many people follow a person (accepted follows only).
pub async fn person_follower_count(pool: &PgPool, person: PersonId) -> Result<i64, DbError> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM person_follow WHERE target_id = $1 AND NOT pending")
            .bind(person)
            .fetch_one(pool)
            .await?;
    Ok(count)
}

/// Counts NodeInfo publishes.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct LocalCounts {
    /// Local accounts that are not deleted.
    pub users: i64,
    /// Of those, the ones that posted, commented or voted in the last month.
    pub active_month: i64,
    /// Of those, the ones that posted, commented or voted in the last six months.
    pub active_halfyear: i64,
    /// Local posts that are neither deleted nor removed.
    pub posts: i64,
    /// Local comments that are neither deleted nor removed.
    pub comments: i64,
}

/// NodeInfo's figures. A person's last activity is the latest of their posts', comments' and
/// votes' `published` times, each one lookup on a (person, time) index; content deleted since
/// still counts as activity.
pub async fn local_counts(pool: &PgPool) -> Result<LocalCounts, DbError> {
    Ok(sqlx::query_as(
        "WITH last AS (
             SELECT greatest(
                 (SELECT max(published) FROM post WHERE creator_id = p.id),
                 (SELECT max(published) FROM comment WHERE creator_id = p.id),
                 (SELECT max(published) FROM post_vote WHERE person_id = p.id),
                 (SELECT max(published) FROM comment_vote WHERE person_id = p.id)) AS at
             FROM person p JOIN local_user u ON u.person_id = p.id
             WHERE p.local AND NOT p.deleted)
         SELECT (SELECT count(*) FROM last) AS users,
                (SELECT count(*) FROM last WHERE at > now() - interval '1 month') AS active_month,
                (SELECT count(*) FROM last WHERE at > now() - interval '6 months')
                    AS active_halfyear,
                (SELECT count(*) FROM post WHERE local AND NOT deleted AND NOT removed) AS posts,
                (SELECT count(*) FROM comment WHERE local AND NOT deleted AND NOT removed)
                    AS comments",
    )
    .fetch_one(pool)
    .await?)
}

/// The latest live posts of a local community, newest first, at most `limit`, with how many
/// live posts it has.
pub async fn community_recent_posts(
    pool: &PgPool,
    community: CommunityId,
    limit: i64,
) -> Result<(Vec<PostId>, i64), DbError> {
    let ids: Vec<(PostId,)> = sqlx::query_as(
        "SELECT id FROM post WHERE community_id = $1 AND NOT deleted AND NOT removed
         ORDER BY published DESC, id DESC LIMIT $2",
    )
    .bind(community)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM post WHERE community_id = $1 AND NOT deleted AND NOT removed",
    )
    .bind(community)
    .fetch_one(pool)
    .await?;
    Ok((ids.into_iter().map(|(id,)| id).collect(), total))
}

/// A post or a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authored {
    Post(PostId),
    Comment(CommentId),
}

/// The latest live posts and comments of a local person in live communities, newest first, at
/// most `limit`, with how many there are in all.
pub async fn person_recent_content(
    pool: &PgPool,
    person: PersonId,
    limit: i64,
) -> Result<(Vec<Authored>, i64), DbError> {
    const LIVE: &str = "
        SELECT p.id, false AS comment, p.published FROM post p
          JOIN community m ON m.id = p.community_id
         WHERE p.creator_id = $1 AND NOT p.deleted AND NOT p.removed
           AND NOT m.deleted AND NOT m.removed
        UNION ALL
        SELECT c.id, true AS comment, c.published FROM comment c
          JOIN post p ON p.id = c.post_id
          JOIN community m ON m.id = p.community_id
         WHERE c.creator_id = $1 AND NOT c.deleted AND NOT c.removed
           AND NOT p.deleted AND NOT p.removed AND NOT m.deleted AND NOT m.removed";
    let rows: Vec<(i64, bool)> = sqlx::query_as(&format!(
        "SELECT id, comment FROM ({LIVE}) AS a ORDER BY published DESC, id DESC LIMIT $2"
    ))
    .bind(person)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM ({LIVE}) AS a"))
        .bind(person)
        .fetch_one(pool)
        .await?;
    let items = rows
        .into_iter()
        .map(|(id, comment)| {
            if comment {
                Authored::Comment(CommentId(id))
            } else {
                Authored::Post(PostId(id))
            }
        })
        .collect();
    Ok((items, total))
}

/// The key pair of the instance actor (the `Application` that signs this node's own fetches).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceActorKeys {
    pub public_key_pem: String,
    pub private_key_pem: String,
    pub created_at: DateTime<Utc>,
}

/// The instance actor's key pair, if it has been created.
pub async fn instance_actor(
    pool: &PgPool,
    instance: InstanceId,
) -> Result<Option<InstanceActorKeys>, DbError> {
    Ok(sqlx::query_as(
        "SELECT public_key_pem, private_key_pem, created_at FROM instance_actor
         WHERE instance_id = $1",
    )
    .bind(instance)
    .fetch_optional(pool)
    .await?)
}

/// Store the instance actor's key pair unless one is stored already, and return the stored one:
/// when two processes race, both get the pair that won.
pub async fn insert_instance_actor(
    pool: &PgPool,
    instance: InstanceId,
    public_key_pem: &str,
    private_key_pem: &str,
) -> Result<InstanceActorKeys, DbError> {
    sqlx::query(
        "INSERT INTO instance_actor (instance_id, public_key_pem, private_key_pem)
         VALUES ($1, $2, $3) ON CONFLICT (instance_id) DO NOTHING",
    )
    .bind(instance)
    .bind(public_key_pem)
    .bind(private_key_pem)
    .execute(pool)
    .await?;
    instance_actor(pool, instance)
        .await?
        .ok_or(DbError::NotFound("instance actor"))
}

/// A local post with the ActivityPub ids it points at.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LocalPost {
    pub id: PostId,
    pub ap_id: String,
    pub title: String,
    pub url: Option<String>,
    pub body: Option<String>,
    pub body_html: Option<String>,
    pub deleted: bool,
    pub removed: bool,
    pub locked: bool,
    pub published: DateTime<Utc>,
    pub updated: Option<DateTime<Utc>>,
    pub creator_ap_id: String,
    pub community_ap_id: String,
}

/// A local post by id; `NotFound` for unknown and remote posts.
pub async fn local_post(pool: &PgPool, id: PostId) -> Result<LocalPost, DbError> {
    sqlx::query_as(
        "SELECT p.id, p.ap_id, p.title, p.url, p.body, p.body_html, p.deleted, p.removed,
                p.locked, p.published, p.updated,
                u.ap_id AS creator_ap_id, c.ap_id AS community_ap_id
         FROM post p
         JOIN person u ON u.id = p.creator_id
         JOIN community c ON c.id = p.community_id
         WHERE p.id = $1 AND p.local",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound("post"))
}

/// A local comment with the ActivityPub ids it points at.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LocalComment {
    pub id: CommentId,
    pub post_id: PostId,
    pub ap_id: String,
    pub content: String,
    pub content_html: String,
    pub deleted: bool,
    pub removed: bool,
    pub published: DateTime<Utc>,
    pub updated: Option<DateTime<Utc>>,
    pub creator_ap_id: String,
    pub post_ap_id: String,
    pub community_ap_id: String,
    /// The parent comment's id, `None` for a top-level comment.
    pub parent_ap_id: Option<String>,
    /// Who wrote what this comment replies to: the parent comment's author, or the post's.
    pub parent_creator_ap_id: String,
}

/// A local comment by id; `NotFound` for unknown and remote comments.
pub async fn local_comment(pool: &PgPool, id: CommentId) -> Result<LocalComment, DbError> {
    sqlx::query_as(
        "SELECT c.id, c.post_id, c.ap_id, c.content, c.content_html, c.deleted, c.removed,
                c.published, c.updated,
                u.ap_id AS creator_ap_id, p.ap_id AS post_ap_id, co.ap_id AS community_ap_id,
                pc.ap_id AS parent_ap_id,
                coalesce(pcu.ap_id, pu.ap_id) AS parent_creator_ap_id
         FROM comment c
         JOIN person u ON u.id = c.creator_id
         JOIN post p ON p.id = c.post_id
         JOIN person pu ON pu.id = p.creator_id
         JOIN community co ON co.id = p.community_id
         LEFT JOIN comment pc ON pc.id = c.parent_id
         LEFT JOIN person pcu ON pcu.id = pc.creator_id
         WHERE c.id = $1 AND c.local",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound("comment"))
}
