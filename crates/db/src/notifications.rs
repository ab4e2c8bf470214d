//! Notifications of local users: replies to their posts and comments, and mentions of them.
//!
//! Written when the item is stored: a reply's by the comment insert itself (the trigger of
//! migration `20261207000100_reply_notification_trigger`: its parent's author, when local, not
//! the reply's author and not blocking them), mentions by [`mentions`] after it, in the same
//! transaction where the caller has one; read newest first. Items deleted or removed since,
//! authors the user blocks and authors on refused instances are left out when reading, so a
//! later block or removal hides notifications made before it.

use crate::DbError;
use canopy_core::{CommentId, PersonId, PostId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Notify the local people `mentioned` (by person id) of a mention in the post `post` or, with
/// `comment`, in that comment, written by `author`. The author, people who are not local and
/// people who block the author are skipped, and so is anyone already notified of the item (a
/// reply that mentions its parent's author notifies once). Returns how many were notified.
pub async fn mentions(
    conn: &mut PgConnection,
    post: PostId,
    comment: Option<CommentId>,
    author: PersonId,
    mentioned: &[PersonId],
) -> Result<u64, DbError> {
    if mentioned.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = mentioned.iter().map(|p| p.0).collect();
    let done = sqlx::query(
        "INSERT INTO notification (person_id, kind, post_id, comment_id, actor_id)
         SELECT r.id, 'mention', $1, $2, $3
         FROM person r
         WHERE r.id = ANY($4) AND r.local AND r.id <> $3
           AND NOT EXISTS (SELECT 1 FROM person_block b WHERE b.person_id = r.id AND b.target_id = $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(post)
    .bind(comment)
    .bind(author)
    .bind(&ids)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The local people among the ActivityPub ids `ap_ids` (for incoming `Mention` tags).
pub async fn local_people_by_ap_id(
    pool: &PgPool,
    ap_ids: &[String],
) -> Result<Vec<PersonId>, DbError> {
    if ap_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM person WHERE local AND NOT deleted AND ap_id = ANY($1)")
            .bind(ap_ids)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id,)| PersonId(id)).collect())
}

/// A notification as listed: what happened, the item and who wrote it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    /// `reply` or `mention`.
    pub kind: String,
    pub read: bool,
    pub created_at: DateTime<Utc>,
    pub post_id: PostId,
    pub post_title: String,
    pub comment_id: Option<CommentId>,
    /// The ActivityPub id of the comment (or of the post when the mention is in the post).
    pub item_ap_id: String,
    /// The comment's text (or the post's body), markdown.
    pub content: Option<String>,
    pub content_html: Option<String>,
    pub actor_id: PersonId,
    pub actor_name: String,
    pub actor_display_name: Option<String>,
    pub actor_local: bool,
    pub actor_authority: String,
}

/// What hides a notification `n` (joined with its post `p`, comment `c` and author `a` with
/// instance `ai`) from its recipient.
fn visible() -> String {
    format!(
        "NOT p.deleted AND NOT p.removed
         AND (n.comment_id IS NULL OR (NOT c.deleted AND NOT c.removed))
         AND NOT EXISTS (SELECT 1 FROM person_block b
                         WHERE b.person_id = n.person_id AND b.target_id = n.actor_id)
         AND {}",
        crate::governance::instance_visible("ai")
    )
}

const JOINS: &str = "FROM notification n JOIN post p ON p.id = n.post_id
    LEFT JOIN comment c ON c.id = n.comment_id
    JOIN person a ON a.id = n.actor_id JOIN instance ai ON ai.id = a.instance_id";

/// `person`'s notifications, newest first (only unread ones with `unread_only`), `limit` after
/// the cursor; returns the page and the next cursor when there may be one.
pub async fn list(
    pool: &PgPool,
    person: PersonId,
    unread_only: bool,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<Notification>, Option<String>), DbError> {
    let before: Option<i64> = cursor.map(crate::cursor::decode).transpose()?;
    let rows: Vec<Notification> = sqlx::query_as(&format!(
        "SELECT n.id, n.kind, n.read, n.created_at, n.post_id, p.title AS post_title, n.comment_id,
                coalesce(c.ap_id, p.ap_id) AS item_ap_id,
                CASE WHEN n.comment_id IS NULL THEN p.body ELSE c.content END AS content,
                CASE WHEN n.comment_id IS NULL THEN p.body_html ELSE c.content_html END
                    AS content_html,
                n.actor_id, a.name AS actor_name, a.display_name AS actor_display_name,
                a.local AS actor_local, ai.authority AS actor_authority
         {JOINS}
         WHERE n.person_id = $1 AND (NOT $2 OR NOT n.read)
           AND ($3::bigint IS NULL OR n.id < $3) AND {visible}
         ORDER BY n.id DESC LIMIT $4",
        visible = visible()
    ))
    .bind(person)
    .bind(unread_only)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == limit => Some(crate::cursor::encode(&last.id)),
        _ => None,
    };
    Ok((rows, next))
}

/// How many of `person`'s notifications are unread (those [`list`] would show).
pub async fn unread_count(pool: &PgPool, person: PersonId) -> Result<i64, DbError> {
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT count(*) {JOINS} WHERE n.person_id = $1 AND NOT n.read AND {}",
        visible()
    ))
    .bind(person)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// Mark one of `person`'s notifications read (`read` false: unread again). `NotFound` when it
/// is not theirs.
pub async fn mark(pool: &PgPool, person: PersonId, id: i64, read: bool) -> Result<(), DbError> {
    let done = sqlx::query("UPDATE notification SET read = $3 WHERE id = $2 AND person_id = $1")
        .bind(person)
        .bind(id)
        .bind(read)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::NotFound("notification"));
    }
    Ok(())
}

/// Mark all of `person`'s notifications read; returns how many were unread.
pub async fn mark_all_read(pool: &PgPool, person: PersonId) -> Result<u64, DbError> {
    let done = sqlx::query("UPDATE notification SET read = true WHERE person_id = $1 AND NOT read")
        .bind(person)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// The local people with these names (case-insensitive), for `@name` mentions.
pub async fn local_people_by_name(
    conn: &mut PgConnection,
    names: &[&str],
) -> Result<Vec<PersonId>, DbError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM person WHERE local AND NOT deleted AND lower(name) = ANY($1)",
    )
    .bind(&lower)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| PersonId(id)).collect())
}

/// Record who the local post `post` (or, with `comment`, that comment) mentions: ActivityPub
/// ids and `@name@host` texts, pairwise. They become its `Mention` tags.
pub async fn set_mentions(
    conn: &mut PgConnection,
    post: PostId,
    comment: Option<CommentId>,
    hrefs: &[String],
    names: &[String],
) -> Result<(), DbError> {
    let (hrefs, names) = if hrefs.is_empty() {
        (None, None)
    } else {
        (Some(hrefs), Some(names))
    };
    match comment {
        Some(c) => {
            sqlx::query("UPDATE comment SET mention_hrefs = $2, mention_names = $3 WHERE id = $1")
                .bind(c)
                .bind(hrefs)
                .bind(names)
                .execute(conn)
                .await?
        }
        None => {
            sqlx::query("UPDATE post SET mention_hrefs = $2, mention_names = $3 WHERE id = $1")
                .bind(post)
                .bind(hrefs)
                .bind(names)
                .execute(conn)
                .await?
        }
    };
    Ok(())
}

/// Where to deliver to the remote people among `ap_ids` (mentioned people): shared inboxes where
/// known, once each, with their authorities' instances.
pub async fn remote_inboxes(
    conn: &mut PgConnection,
    ap_ids: &[String],
) -> Result<Vec<String>, DbError> {
    if ap_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT coalesce(shared_inbox_url, inbox_url) FROM person
         WHERE ap_id = ANY($1) AND NOT local AND NOT deleted",
    )
    .bind(ap_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(i,)| i).collect())
}
