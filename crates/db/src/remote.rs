//! Rows that arrive from other servers: remote instances, actors, posts, comments, votes and
//! follows, written idempotently by ActivityPub id so that a replayed or re-fetched object
//! never duplicates a row.

use crate::DbError;
use canopy_core::{CommentId, CommunityId, InstanceId, PersonId, PostId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Find or create the instance row for `authority` (host, plus port when not the default).
pub async fn ensure_instance(
    conn: &mut PgConnection,
    authority: &str,
) -> Result<InstanceId, DbError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO instance (authority) VALUES (lower($1))
         ON CONFLICT (authority) DO UPDATE SET updated_at = now()
         RETURNING id",
    )
    .bind(authority)
    .fetch_one(&mut *conn)
    .await?;
    Ok(InstanceId(id))
}

/// An actor (person or community) with what federation needs: keys and inboxes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActorRow {
    pub id: i64,
    pub ap_id: String,
    pub name: String,
    pub local: bool,
    pub inbox_url: String,
    pub shared_inbox_url: Option<String>,
    pub public_key_pem: String,
    pub private_key_pem: Option<String>,
    pub authority: String,
    pub last_refreshed_at: DateTime<Utc>,
    pub deleted: bool,
}

/// [`ActorRow`] of a person; append a `WHERE`.
const PERSON_ACTOR: &str = "SELECT p.id, p.ap_id, p.name, p.local, p.inbox_url, p.shared_inbox_url,
        p.public_key_pem, p.private_key_pem, i.authority, p.last_refreshed_at, p.deleted
    FROM person p JOIN instance i ON i.id = p.instance_id";

/// [`ActorRow`] of a community; append a `WHERE`.
const COMMUNITY_ACTOR: &str =
    "SELECT c.id, c.ap_id, c.name, c.local, c.inbox_url, c.shared_inbox_url,
        c.public_key_pem, c.private_key_pem, i.authority, c.last_refreshed_at, c.deleted
    FROM community c JOIN instance i ON i.id = c.instance_id";

pub async fn person_by_ap_id(pool: &PgPool, ap_id: &str) -> Result<Option<ActorRow>, DbError> {
    Ok(
        sqlx::query_as(&format!("{PERSON_ACTOR} WHERE p.ap_id = $1"))
            .bind(ap_id)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn person_by_id(pool: &PgPool, id: PersonId) -> Result<ActorRow, DbError> {
    sqlx::query_as(&format!("{PERSON_ACTOR} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("user"))
}

pub async fn community_by_ap_id(pool: &PgPool, ap_id: &str) -> Result<Option<ActorRow>, DbError> {
    Ok(
        sqlx::query_as(&format!("{COMMUNITY_ACTOR} WHERE c.ap_id = $1"))
            .bind(ap_id)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn community_by_id(pool: &PgPool, id: CommunityId) -> Result<ActorRow, DbError> {
    sqlx::query_as(&format!("{COMMUNITY_ACTOR} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("community"))
}

/// Count a failed refresh of a remote actor as a refresh, so that the next attempt waits as
/// long as after a successful one.
pub async fn postpone_refresh(pool: &PgPool, ap_id: &str) -> Result<(), DbError> {
    sqlx::query(
        "WITH p AS (UPDATE person SET last_refreshed_at = now() WHERE ap_id = $1 AND NOT local)
         UPDATE community SET last_refreshed_at = now() WHERE ap_id = $1 AND NOT local",
    )
    .bind(ap_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// A remote person as its server describes it.
#[derive(Debug)]
pub struct RemotePerson<'a> {
    pub authority: &'a str,
    pub ap_id: &'a str,
    pub name: &'a str,
    pub display_name: Option<&'a str>,
    pub bio: Option<&'a str>,
    pub bio_html: Option<&'a str>,
    pub inbox_url: &'a str,
    pub shared_inbox_url: Option<&'a str>,
    pub public_key_pem: &'a str,
}

/// Insert or refresh a remote person; returns its id. Never touches a local row.
pub async fn upsert_person(pool: &PgPool, p: &RemotePerson<'_>) -> Result<PersonId, DbError> {
    let mut tx = pool.begin().await?;
    let instance = ensure_instance(&mut tx, p.authority).await?;
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO person (instance_id, name, display_name, bio, bio_html, ap_id, inbox_url,
                             shared_inbox_url, public_key_pem, local)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false)
         ON CONFLICT (ap_id) DO UPDATE SET
             display_name = EXCLUDED.display_name, bio = EXCLUDED.bio, bio_html = EXCLUDED.bio_html,
             inbox_url = EXCLUDED.inbox_url, shared_inbox_url = EXCLUDED.shared_inbox_url,
             public_key_pem = EXCLUDED.public_key_pem, last_refreshed_at = now(), updated_at = now()
         WHERE NOT person.local
         RETURNING id",
    )
    .bind(instance)
    .bind(p.name)
    .bind(p.display_name)
    .bind(p.bio)
    .bind(p.bio_html)
    .bind(p.ap_id)
    .bind(p.inbox_url)
    .bind(p.shared_inbox_url)
    .bind(p.public_key_pem)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| DbError::conflict_on(e, "user with that name on that instance"))?;
    tx.commit().await?;
    row.map(|(id,)| PersonId(id))
        .ok_or(DbError::Conflict("a local user with that id"))
}

/// A remote community as its server describes it.
#[derive(Debug)]
pub struct RemoteCommunity<'a> {
    pub authority: &'a str,
    pub ap_id: &'a str,
    pub name: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub description_html: Option<&'a str>,
    pub inbox_url: &'a str,
    pub shared_inbox_url: Option<&'a str>,
    pub followers_url: Option<&'a str>,
    pub public_key_pem: &'a str,
}

pub async fn upsert_community(
    pool: &PgPool,
    c: &RemoteCommunity<'_>,
) -> Result<CommunityId, DbError> {
    let mut tx = pool.begin().await?;
    let instance = ensure_instance(&mut tx, c.authority).await?;
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO community (instance_id, name, title, description, description_html, ap_id,
                                inbox_url, shared_inbox_url, followers_url, public_key_pem, local)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false)
         ON CONFLICT (ap_id) DO UPDATE SET
             title = EXCLUDED.title, description = EXCLUDED.description,
             description_html = EXCLUDED.description_html, inbox_url = EXCLUDED.inbox_url,
             shared_inbox_url = EXCLUDED.shared_inbox_url, followers_url = EXCLUDED.followers_url,
             public_key_pem = EXCLUDED.public_key_pem, last_refreshed_at = now(), updated_at = now()
         WHERE NOT community.local
         RETURNING id",
    )
    .bind(instance)
    .bind(c.name)
    .bind(c.title)
    .bind(c.description)
    .bind(c.description_html)
    .bind(c.ap_id)
    .bind(c.inbox_url)
    .bind(c.shared_inbox_url)
    .bind(c.followers_url)
    .bind(c.public_key_pem)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| DbError::conflict_on(e, "community with that name on that instance"))?;
    tx.commit().await?;
    row.map(|(id,)| CommunityId(id))
        .ok_or(DbError::Conflict("a local community with that id"))
}

/// What federation needs to know about a stored post or comment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContentRow {
    /// A comment (`id` is the comment's) or a post (`id == post_id`).
    pub is_comment: bool,
    pub id: i64,
    pub ap_id: String,
    pub local: bool,
    pub post_id: i64,
    pub community_id: i64,
    pub creator_id: i64,
    pub creator_ap_id: String,
    pub deleted: bool,
    pub updated: Option<DateTime<Utc>>,
    pub published: DateTime<Utc>,
}

/// A stored comment or post by its ActivityPub id.
pub async fn content_by_ap_id(pool: &PgPool, ap_id: &str) -> Result<Option<ContentRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT true AS is_comment, c.id, c.ap_id, c.local, c.post_id, p.community_id,
                c.creator_id, u.ap_id AS creator_ap_id, c.deleted, c.updated, c.published
         FROM comment c JOIN post p ON p.id = c.post_id JOIN person u ON u.id = c.creator_id
         WHERE c.ap_id = $1
         UNION ALL
         SELECT false, p.id, p.ap_id, p.local, p.id, p.community_id, p.creator_id,
                u.ap_id, p.deleted, p.updated, p.published
         FROM post p JOIN person u ON u.id = p.creator_id WHERE p.ap_id = $1
         LIMIT 1",
    )
    .bind(ap_id)
    .fetch_optional(pool)
    .await?)
}

/// Apply an edit from the content's home server only when it is newer than what is stored.
/// Returns whether it was applied.
pub async fn update_post_if_newer(
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

pub async fn update_comment_if_newer(
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

/// Mark remote content deleted by its id. Returns whether a row changed.
pub async fn delete_remote_content(pool: &PgPool, ap_id: &str) -> Result<bool, DbError> {
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

/// Record a remote vote (by the vote activity's id so that its Undo can find it).
pub async fn vote_by_activity(
    pool: &PgPool,
    target_ap_id: &str,
    person: PersonId,
    score: i16,
    activity_ap_id: &str,
) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    let c = sqlx::query(
        "INSERT INTO comment_vote (comment_id, person_id, post_id, score, ap_id)
         SELECT id, $2, post_id, $3, $4 FROM comment WHERE ap_id = $1
         ON CONFLICT (comment_id, person_id) DO UPDATE SET score = EXCLUDED.score, ap_id = EXCLUDED.ap_id",
    )
    .bind(target_ap_id)
    .bind(person)
    .bind(score)
    .bind(activity_ap_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let p = sqlx::query(
        "INSERT INTO post_vote (post_id, person_id, score, ap_id)
         SELECT id, $2, $3, $4 FROM post WHERE ap_id = $1
         ON CONFLICT (post_id, person_id) DO UPDATE SET score = EXCLUDED.score, ap_id = EXCLUDED.ap_id",
    )
    .bind(target_ap_id)
    .bind(person)
    .bind(score)
    .bind(activity_ap_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(c + p > 0)
}

/// Remove `person`'s vote on the object `target_ap_id`.
pub async fn unvote(pool: &PgPool, target_ap_id: &str, person: PersonId) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    let c = sqlx::query(
        "DELETE FROM comment_vote WHERE person_id = $2
           AND comment_id = (SELECT id FROM comment WHERE ap_id = $1)",
    )
    .bind(target_ap_id)
    .bind(person)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let p = sqlx::query(
        "DELETE FROM post_vote WHERE person_id = $2 AND post_id = (SELECT id FROM post WHERE ap_id = $1)",
    )
    .bind(target_ap_id)
    .bind(person)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(c + p > 0)
}

/// Record that `person` follows `community` (accepted unless `pending`).
pub async fn follow_community(
    conn: &mut PgConnection,
    community: CommunityId,
    person: PersonId,
    pending: bool,
    activity_ap_id: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO community_follow (community_id, person_id, pending, ap_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (community_id, person_id) DO UPDATE SET pending = EXCLUDED.pending,
             ap_id = coalesce(EXCLUDED.ap_id, community_follow.ap_id)",
    )
    .bind(community)
    .bind(person)
    .bind(pending)
    .bind(activity_ap_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The community accepted `person`'s follow.
pub async fn accept_community_follow(
    pool: &PgPool,
    community: CommunityId,
    person: PersonId,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE community_follow SET pending = false WHERE community_id = $1 AND person_id = $2 AND pending",
    )
    .bind(community)
    .bind(person)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn unfollow_community(
    conn: &mut PgConnection,
    community: CommunityId,
    person: PersonId,
) -> Result<bool, DbError> {
    let done =
        sqlx::query("DELETE FROM community_follow WHERE community_id = $1 AND person_id = $2")
            .bind(community)
            .bind(person)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn follow_person(
    conn: &mut PgConnection,
    target: PersonId,
    follower: PersonId,
    activity_ap_id: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO person_follow (target_id, follower_id, pending, ap_id) VALUES ($1, $2, false, $3)
         ON CONFLICT (target_id, follower_id) DO UPDATE SET pending = false",
    )
    .bind(target)
    .bind(follower)
    .bind(activity_ap_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn unfollow_person(
    conn: &mut PgConnection,
    target: PersonId,
    follower: PersonId,
) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM person_follow WHERE target_id = $1 AND follower_id = $2")
        .bind(target)
        .bind(follower)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Remember an incoming activity id. Returns false when it was seen before (a replay).
pub async fn mark_received(pool: &PgPool, activity_ap_id: &str) -> Result<bool, DbError> {
    let done =
        sqlx::query("INSERT INTO received_activity (ap_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(activity_ap_id)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Forget an activity id whose processing failed, so that a retry from its sender is processed.
pub async fn unmark_received(pool: &PgPool, activity_ap_id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM received_activity WHERE ap_id = $1")
        .bind(activity_ap_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// [`community_by_id`] inside the caller's transaction.
pub async fn community_by_id_in(
    conn: &mut PgConnection,
    id: CommunityId,
) -> Result<ActorRow, DbError> {
    sqlx::query_as(&format!("{COMMUNITY_ACTOR} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(DbError::NotFound("community"))
}

/// The software an instance runs, if known (from its NodeInfo).
pub async fn instance_software(pool: &PgPool, authority: &str) -> Result<Option<String>, DbError> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT software FROM instance WHERE authority = lower($1)")
            .bind(authority)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(s,)| s))
}

/// Record the software and version an instance reports.
pub async fn set_instance_software(
    pool: &PgPool,
    authority: &str,
    software: &str,
    version: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query("UPDATE instance SET software = lower($2), version = $3, updated_at = now() WHERE authority = lower($1)")
        .bind(authority)
        .bind(software)
        .bind(version)
        .execute(pool)
        .await?;
    Ok(())
}

/// A follower inbox with the software its instance runs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FollowerInbox {
    pub inbox: String,
    pub software: Option<String>,
}

/// Where to deliver to a community's remote followers: each instance's shared inbox when it has
/// one, else the follower's own inbox, once each, with the instance's software (to pick the
/// dialect to speak).
pub async fn community_follower_inboxes_by_software(
    conn: &mut PgConnection,
    community: CommunityId,
) -> Result<Vec<FollowerInbox>, DbError> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT coalesce(p.shared_inbox_url, p.inbox_url) AS inbox, i.software
         FROM community_follow f JOIN person p ON p.id = f.person_id JOIN instance i ON i.id = p.instance_id
         WHERE f.community_id = $1 AND NOT f.pending AND NOT p.local",
    )
    .bind(community)
    .fetch_all(&mut *conn)
    .await?)
}

/// A stored post or comment that a new reply names as its parent, with what decides whether
/// the reply may go under it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReplyTarget {
    /// A comment (`id` is the comment's) or a post (`id == post_id`).
    pub is_comment: bool,
    pub id: i64,
    pub post_id: i64,
    pub community_id: i64,
    /// The post is deleted or removed.
    pub post_gone: bool,
    pub post_locked: bool,
    /// The parent is a comment that is deleted or removed.
    pub comment_gone: bool,
    /// The community is local and has accepted followers on other servers: a reply stored
    /// under this target is relayed to them (see [`announcing_community`]).
    pub community_announces: bool,
}

/// Whether the community of the post `p` is local with accepted remote followers, as SQL.
const POST_COMMUNITY_ANNOUNCES: &str = "EXISTS (SELECT 1 FROM community co
             JOIN community_follow f ON f.community_id = co.id
             JOIN person fp ON fp.id = f.person_id
             WHERE co.id = p.community_id AND co.local AND NOT f.pending AND NOT fp.local)";

/// The post or comment `ap_id` as a reply target, in one statement (which also says whether
/// a reply under it is relayed, so the common case of no remote followers costs no second one).
pub async fn reply_target(pool: &PgPool, ap_id: &str) -> Result<Option<ReplyTarget>, DbError> {
    Ok(sqlx::query_as(&format!(
        "SELECT true AS is_comment, c.id, c.post_id, p.community_id,
                p.deleted OR p.removed AS post_gone, p.locked AS post_locked,
                c.deleted OR c.removed AS comment_gone,
                {POST_COMMUNITY_ANNOUNCES} AS community_announces
         FROM comment c JOIN post p ON p.id = c.post_id
         WHERE c.ap_id = $1
         UNION ALL
         SELECT false, p.id, p.id, p.community_id, p.deleted OR p.removed, p.locked, false,
                {POST_COMMUNITY_ANNOUNCES}
         FROM post p WHERE p.ap_id = $1
         LIMIT 1"
    ))
    .bind(ap_id)
    .fetch_optional(pool)
    .await?)
}

/// The community `id` when it is local and has followers on other servers (someone to announce
/// its content to); `None` otherwise. One statement.
pub async fn announcing_community(
    pool: &PgPool,
    id: CommunityId,
) -> Result<Option<ActorRow>, DbError> {
    Ok(sqlx::query_as(&format!(
        "{COMMUNITY_ACTOR} WHERE c.id = $1 AND c.local
           AND EXISTS (SELECT 1 FROM community_follow f JOIN person p ON p.id = f.person_id
                       WHERE f.community_id = c.id AND NOT f.pending AND NOT p.local)"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?)
}
