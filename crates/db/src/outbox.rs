//! The transactional outbox: an activity and one delivery row per target inbox, written in the
//! same transaction as the content the activity announces. The worker claims and records
//! deliveries through [`crate::delivery`].

use crate::DbError;
use canopy_core::{CommunityId, PersonId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Who signs an activity.
#[derive(Debug, Clone, Copy)]
pub enum Signer {
    Person(PersonId),
    Community(CommunityId),
}

#[derive(Debug)]
pub struct NewActivity<'a> {
    pub ap_id: &'a str,
    pub kind: &'a str,
    pub object_ap_id: Option<&'a str>,
    pub actor_ap_id: &'a str,
    pub signer: Signer,
    pub payload: &'a serde_json::Value,
}

/// Store an activity and a pending delivery for each `(inbox, authority)`; returns the activity
/// row id. Duplicate inboxes are delivered once; inboxes on instances the node refuses
/// (blocked, or unlisted in allow-list mode: see [`crate::governance`]) get none.
pub async fn enqueue(
    conn: &mut PgConnection,
    activity: &NewActivity<'_>,
    inboxes: &[(String, String)],
) -> Result<i64, DbError> {
    let (person, community) = match activity.signer {
        Signer::Person(p) => (Some(p), None),
        Signer::Community(c) => (None, Some(c)),
    };
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO outbox_activity (ap_id, kind, object_ap_id, actor_ap_id, person_id, community_id, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(activity.ap_id)
    .bind(activity.kind)
    .bind(activity.object_ap_id)
    .bind(activity.actor_ap_id)
    .bind(person)
    .bind(community)
    .bind(activity.payload)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| DbError::conflict_on(e, "activity"))?;
    if !inboxes.is_empty() {
        let urls: Vec<&str> = inboxes.iter().map(|(u, _)| u.as_str()).collect();
        let authorities: Vec<&str> = inboxes.iter().map(|(_, a)| a.as_str()).collect();
        sqlx::query(
            "INSERT INTO delivery (activity_id, inbox_url, authority, object_ap_id)
             SELECT $1, u, a, $4 FROM unnest($2::text[], $3::text[]) AS t(u, a)
             WHERE NOT federation_refuses(a)
             ON CONFLICT (activity_id, inbox_url) DO NOTHING",
        )
        .bind(id)
        .bind(&urls)
        .bind(&authorities)
        .bind(activity.object_ap_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// Deliveries not yet done, for tests and operators.
pub async fn pending_count(pool: &PgPool) -> Result<i64, DbError> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM delivery WHERE state = 'pending'")
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// A post or comment with the ids and addresses its activities need.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContentAp {
    pub ap_id: String,
    pub kind: String,
    pub title: Option<String>,
    pub url: Option<String>,
    pub source: Option<String>,
    pub html: Option<String>,
    pub published: DateTime<Utc>,
    pub updated: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// The post (or the comment's post) takes no new comments.
    pub locked: bool,
    /// The post is featured in its community (false for comments).
    pub featured: bool,
    pub creator_id: PersonId,
    pub creator_ap_id: String,
    pub creator_local: bool,
    pub post_ap_id: String,
    /// The object itself was made here (its id is on this node).
    pub local: bool,
    /// The post of the thread is local, so this node serves the thread's `context`.
    pub post_local: bool,
    /// A remote post's thread collection, when its home named one (`remote_thread`).
    pub remote_context: Option<String>,
    pub in_reply_to: Option<String>,
    pub parent_author_ap_id: Option<String>,
    pub community_id: CommunityId,
    pub community_ap_id: String,
    pub community_local: bool,
    pub community_inbox: String,
    pub community_authority: String,
    /// Who the content mentions (local content only): ActivityPub ids, and the `@name@host`
    /// texts at the same positions.
    pub mention_hrefs: Option<Vec<String>>,
    pub mention_names: Option<Vec<String>>,
}

/// The columns of a comment as its activities describe it (followed by a `WHERE` on `c`).
const COMMENT_AP: &str = "SELECT c.ap_id, 'Note' AS kind, NULL::text AS title, NULL::text AS url, c.content AS source,
                c.content_html AS html, c.published, c.updated, c.deleted, p.locked,
                false AS featured,
                u.id AS creator_id, u.ap_id AS creator_ap_id, u.local AS creator_local,
                p.ap_id AS post_ap_id, c.local, p.local AS post_local,
                (SELECT context_url FROM remote_thread WHERE post_id = p.id) AS remote_context,
                coalesce(pc.ap_id, p.ap_id) AS in_reply_to,
                coalesce(pcu.ap_id, pu.ap_id) AS parent_author_ap_id,
                m.id AS community_id, m.ap_id AS community_ap_id, m.local AS community_local,
                coalesce(m.shared_inbox_url, m.inbox_url) AS community_inbox, mi.authority AS community_authority,
                c.mention_hrefs, c.mention_names
         FROM comment c
         JOIN person u ON u.id = c.creator_id
         JOIN post p ON p.id = c.post_id
         JOIN person pu ON pu.id = p.creator_id
         LEFT JOIN comment pc ON pc.id = c.parent_id
         LEFT JOIN person pcu ON pcu.id = pc.creator_id
         JOIN community m ON m.id = p.community_id
         JOIN instance mi ON mi.id = m.instance_id";

/// A comment as its activities describe it.
pub async fn comment_ap(
    conn: &mut PgConnection,
    id: canopy_core::CommentId,
) -> Result<ContentAp, DbError> {
    sqlx::query_as(&format!("{COMMENT_AP} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(DbError::NotFound("comment"))
}

/// Several comments as their activities describe them (any order; ids not found are left out).
pub async fn comments_ap(
    conn: &mut PgConnection,
    ids: &[canopy_core::CommentId],
) -> Result<Vec<ContentAp>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = ids.iter().map(|c| c.0).collect();
    Ok(
        sqlx::query_as(&format!("{COMMENT_AP} WHERE c.id = ANY($1)"))
            .bind(ids)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// A post as its activities describe it.
pub async fn post_ap(
    conn: &mut PgConnection,
    id: canopy_core::PostId,
) -> Result<ContentAp, DbError> {
    sqlx::query_as(
        "SELECT p.ap_id, 'Page' AS kind, p.title, p.url, p.body AS source, p.body_html AS html,
                p.published, p.updated, p.deleted, p.locked, p.featured,
                u.id AS creator_id, u.ap_id AS creator_ap_id, u.local AS creator_local,
                p.ap_id AS post_ap_id, p.local, p.local AS post_local,
                (SELECT context_url FROM remote_thread WHERE post_id = p.id) AS remote_context,
                NULL::text AS in_reply_to, NULL::text AS parent_author_ap_id,
                m.id AS community_id, m.ap_id AS community_ap_id, m.local AS community_local,
                coalesce(m.shared_inbox_url, m.inbox_url) AS community_inbox, mi.authority AS community_authority,
                p.mention_hrefs, p.mention_names
         FROM post p
         JOIN person u ON u.id = p.creator_id
         JOIN community m ON m.id = p.community_id
         JOIN instance mi ON mi.id = m.instance_id
         WHERE p.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(DbError::NotFound("post"))
}

/// The payload of an activity this node sent, by id and kind.
pub async fn sent_payload(
    pool: &PgPool,
    ap_id: &str,
    kind: &str,
) -> Result<Option<serde_json::Value>, DbError> {
    let row: Option<(serde_json::Value,)> =
        sqlx::query_as("SELECT payload FROM outbox_activity WHERE ap_id = $1 AND kind = $2")
            .bind(ap_id)
            .bind(kind)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(p,)| p))
}
