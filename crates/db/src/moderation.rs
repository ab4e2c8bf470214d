//! Community moderation: who moderates a community, what moderators change on posts and
//! comments (removed, locked), and the public moderation log.
//!
//! A local community's moderators are people in `community_moderator`; a remote community's are
//! the ActivityPub ids its home lists (`community_remote_moderator`), replaced whenever the
//! community is fetched again and changed by the `Add`/`Remove` its home relays.

use crate::cursor;
use crate::DbError;
use canopy_core::{CommentId, CommunityId, PersonId, PostId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Most moderators kept for a remote community (the rest of a longer list is ignored).
pub const MAX_REMOTE_MODERATORS: usize = 50;

/// Whether the person `ap_id` moderates `community`, as the community's home lists them: this
/// node's list for a local community, the stored copy of the home's list for a remote one.
pub async fn is_moderator(
    pool: &PgPool,
    community: CommunityId,
    ap_id: &str,
) -> Result<bool, DbError> {
    let (yes,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM community_moderator m JOIN person p ON p.id = m.person_id
                        JOIN community c ON c.id = m.community_id
                        WHERE m.community_id = $1 AND c.local AND p.ap_id = $2)
             OR EXISTS (SELECT 1 FROM community_remote_moderator r
                        JOIN community c ON c.id = r.community_id
                        WHERE r.community_id = $1 AND NOT c.local AND r.ap_id = $2)",
    )
    .bind(community)
    .bind(ap_id)
    .fetch_one(pool)
    .await?;
    Ok(yes)
}

/// A community's moderators' ActivityPub ids, longest-serving first.
pub async fn moderators(pool: &PgPool, community: CommunityId) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT p.ap_id FROM community_moderator m JOIN person p ON p.id = m.person_id
             JOIN community c ON c.id = m.community_id
         WHERE m.community_id = $1 AND c.local
         UNION ALL
         SELECT r.ap_id FROM community_remote_moderator r JOIN community c ON c.id = r.community_id
         WHERE r.community_id = $1 AND NOT c.local
         ORDER BY 1",
    )
    .bind(community)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(a,)| a).collect())
}

/// Make `person` a moderator of the local community `community`. Returns whether they were not.
pub async fn add_moderator(
    conn: &mut PgConnection,
    community: CommunityId,
    person: PersonId,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO community_moderator (community_id, person_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
    )
    .bind(community)
    .bind(person)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// `person` stops moderating the local community `community`. Returns whether they did.
pub async fn remove_moderator(
    conn: &mut PgConnection,
    community: CommunityId,
    person: PersonId,
) -> Result<bool, DbError> {
    let done =
        sqlx::query("DELETE FROM community_moderator WHERE community_id = $1 AND person_id = $2")
            .bind(community)
            .bind(person)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Add (`add`) or remove the person `ap_id` to or from the stored moderator list of the remote
/// community `community`. Returns whether the list changed.
pub async fn change_remote_moderator(
    conn: &mut PgConnection,
    community: CommunityId,
    ap_id: &str,
    add: bool,
) -> Result<bool, DbError> {
    let done = if add {
        sqlx::query(
            "INSERT INTO community_remote_moderator (community_id, ap_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(community)
        .bind(ap_id)
        .execute(&mut *conn)
        .await?
    } else {
        sqlx::query("DELETE FROM community_remote_moderator WHERE community_id = $1 AND ap_id = $2")
            .bind(community)
            .bind(ap_id)
            .execute(&mut *conn)
            .await?
    };
    Ok(done.rows_affected() > 0)
}

/// Replace the stored moderator list of the remote community `community` with `ap_ids` (at most
/// [`MAX_REMOTE_MODERATORS`] are kept).
pub async fn replace_remote_moderators(
    pool: &PgPool,
    community: CommunityId,
    ap_ids: &[String],
) -> Result<(), DbError> {
    let kept: Vec<&str> = ap_ids
        .iter()
        .take(MAX_REMOTE_MODERATORS)
        .map(String::as_str)
        .collect();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM community_remote_moderator
         WHERE community_id = $1 AND NOT (ap_id = ANY($2::text[]))",
    )
    .bind(community)
    .bind(&kept)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO community_remote_moderator (community_id, ap_id)
         SELECT $1, a FROM unnest($2::text[]) AS t(a)
         WHERE EXISTS (SELECT 1 FROM community WHERE id = $1 AND NOT local)
         ON CONFLICT DO NOTHING",
    )
    .bind(community)
    .bind(&kept)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Set the `removed` mark of the post `post` (`comment` `None`) or of the comment `comment`.
/// Returns whether it changed.
pub async fn set_removed(
    conn: &mut PgConnection,
    post: PostId,
    comment: Option<CommentId>,
    removed: bool,
) -> Result<bool, DbError> {
    let done = match comment {
        Some(c) => {
            sqlx::query("UPDATE comment SET removed = $2 WHERE id = $1 AND removed <> $2")
                .bind(c)
                .bind(removed)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("UPDATE post SET removed = $2 WHERE id = $1 AND removed <> $2")
                .bind(post)
                .bind(removed)
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(done.rows_affected() > 0)
}

/// Take back its author's deletion of the post `post` (`comment` `None`) or of the comment
/// `comment`. Returns whether it was deleted.
pub async fn undelete(
    conn: &mut PgConnection,
    post: PostId,
    comment: Option<CommentId>,
) -> Result<bool, DbError> {
    let done = match comment {
        Some(c) => {
            sqlx::query(
                "UPDATE comment SET deleted = false, updated = now() WHERE id = $1 AND deleted",
            )
            .bind(c)
            .execute(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(
                "UPDATE post SET deleted = false, updated = now() WHERE id = $1 AND deleted",
            )
            .bind(post)
            .execute(&mut *conn)
            .await?
        }
    };
    Ok(done.rows_affected() > 0)
}

/// Lock (no new comments) or unlock the post `post`. Returns whether it changed.
pub async fn set_locked(
    conn: &mut PgConnection,
    post: PostId,
    locked: bool,
) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE post SET locked = $2 WHERE id = $1 AND locked <> $2")
        .bind(post)
        .bind(locked)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Feature (`featured`) or unfeature the post `post` in its community. Returns whether it
/// changed.
pub async fn set_featured(
    conn: &mut PgConnection,
    post: PostId,
    featured: bool,
) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE post SET featured = $2 WHERE id = $1 AND featured <> $2")
        .bind(post)
        .bind(featured)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Most posts listed in a community's featured collection.
pub const MAX_FEATURED: i64 = 50;

/// The live featured posts of `community`, newest first (at most [`MAX_FEATURED`]).
pub async fn featured_posts(pool: &PgPool, community: CommunityId) -> Result<Vec<PostId>, DbError> {
    let rows: Vec<(PostId,)> = sqlx::query_as(
        "SELECT id FROM post WHERE community_id = $1 AND featured AND NOT deleted AND NOT removed
         ORDER BY id DESC LIMIT $2",
    )
    .bind(community)
    .bind(MAX_FEATURED)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Make the featured posts of the remote community `community` exactly those of `ap_ids` (its
/// home's featured collection) among the posts stored here; posts not stored are left out.
/// Returns how many posts changed.
pub async fn replace_remote_featured(
    pool: &PgPool,
    community: CommunityId,
    ap_ids: &[String],
) -> Result<u64, DbError> {
    let kept: Vec<&str> = ap_ids
        .iter()
        .take(MAX_FEATURED as usize)
        .map(String::as_str)
        .collect();
    let done = sqlx::query(
        "UPDATE post SET featured = (ap_id = ANY($2::text[]))
         WHERE community_id = $1 AND featured <> (ap_id = ANY($2::text[]))
           AND EXISTS (SELECT 1 FROM community WHERE id = $1 AND NOT local)",
    )
    .bind(community)
    .bind(&kept)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// What a moderation log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    RemovePost,
    RestorePost,
    RemoveComment,
    RestoreComment,
    LockPost,
    UnlockPost,
    AddModerator,
    RemoveModerator,
    FeaturePost,
    UnfeaturePost,
    /// Title, description or posting restriction of the community changed.
    UpdateCommunity,
    /// A person banned from the community (`target_ap_id`, until `until`); see [`crate::bans`].
    BanPerson,
    UnbanPerson,
    /// A report about a post or comment was resolved (its reporter is not named in the log).
    ResolveReport,
    /// A resolved report was opened again.
    ReopenReport,
    /// A moderator warned the author of a post or comment (`target_ap_id`).
    Warn,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::RemovePost => "remove_post",
            Action::RestorePost => "restore_post",
            Action::RemoveComment => "remove_comment",
            Action::RestoreComment => "restore_comment",
            Action::LockPost => "lock_post",
            Action::UnlockPost => "unlock_post",
            Action::AddModerator => "add_moderator",
            Action::RemoveModerator => "remove_moderator",
            Action::FeaturePost => "feature_post",
            Action::UnfeaturePost => "unfeature_post",
            Action::UpdateCommunity => "update_community",
            Action::BanPerson => "ban_person",
            Action::UnbanPerson => "unban_person",
            Action::ResolveReport => "resolve_report",
            Action::ReopenReport => "reopen_report",
            Action::Warn => "warn",
        }
    }

    /// Removal or restoration of a post (`comment` false) or of a comment.
    pub fn removal(comment: bool, remove: bool) -> Self {
        match (comment, remove) {
            (false, true) => Action::RemovePost,
            (false, false) => Action::RestorePost,
            (true, true) => Action::RemoveComment,
            (true, false) => Action::RestoreComment,
        }
    }
}

/// One moderation action to record.
#[derive(Debug)]
pub struct NewEntry<'a> {
    pub action: Action,
    pub moderator: PersonId,
    pub community: CommunityId,
    pub post: Option<PostId>,
    pub comment: Option<CommentId>,
    /// The person the action is about (a moderator added or removed).
    pub target_ap_id: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub until: Option<DateTime<Utc>>,
    /// Taken on this node rather than received.
    pub local: bool,
}

/// Record a moderation action in the caller's transaction.
pub async fn record(conn: &mut PgConnection, e: &NewEntry<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO mod_log (action, moderator_id, community_id, post_id, comment_id,
                              target_ap_id, reason, until, local)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(e.action.as_str())
    .bind(e.moderator)
    .bind(e.community)
    .bind(e.post)
    .bind(e.comment)
    .bind(e.target_ap_id)
    .bind(e.reason.filter(|r| !r.is_empty()))
    .bind(e.until)
    .bind(e.local)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One entry of the moderation log, with who and where.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub action: String,
    pub moderator_name: String,
    pub moderator_authority: String,
    pub moderator_local: bool,
    pub moderator_ap_id: String,
    /// The community, absent for an action about the whole node (a site ban).
    pub community_name: Option<String>,
    pub community_authority: Option<String>,
    pub community_local: Option<bool>,
    pub post_id: Option<PostId>,
    pub comment_id: Option<CommentId>,
    pub target_ap_id: Option<String>,
    pub reason: Option<String>,
    pub until: Option<DateTime<Utc>>,
    pub local: bool,
    pub created_at: DateTime<Utc>,
}

/// Which entries a page of the log shows.
#[derive(Debug, Default, Clone, Copy)]
pub struct Filter {
    pub community: Option<CommunityId>,
    pub moderator: Option<PersonId>,
}

/// Where a page of the log ended (entries are newest first, by id).
#[derive(serde::Serialize, serde::Deserialize)]
struct LogCursor {
    #[serde(rename = "c")]
    community: Option<i64>,
    #[serde(rename = "m")]
    moderator: Option<i64>,
    #[serde(rename = "id")]
    before: i64,
}

/// A page of the moderation log, newest first; the cursor must come from an earlier page with
/// the same filter.
pub async fn log(
    pool: &PgPool,
    filter: Filter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<Entry>, Option<String>), DbError> {
    let before = match cursor {
        Some(raw) => {
            let c: LogCursor = cursor::decode(raw)?;
            if c.community != filter.community.map(|c| c.0)
                || c.moderator != filter.moderator.map(|m| m.0)
            {
                return Err(DbError::BadCursor("cursor belongs to another filter"));
            }
            Some(c.before)
        }
        None => None,
    };
    let rows: Vec<Entry> = sqlx::query_as(
        "SELECT l.id, l.action, p.name AS moderator_name, pi.authority AS moderator_authority,
                p.local AS moderator_local, p.ap_id AS moderator_ap_id,
                c.name AS community_name, ci.authority AS community_authority,
                c.local AS community_local, l.post_id, l.comment_id, l.target_ap_id, l.reason,
                l.until, l.local, l.created_at
         FROM mod_log l
         JOIN person p ON p.id = l.moderator_id JOIN instance pi ON pi.id = p.instance_id
         LEFT JOIN community c ON c.id = l.community_id
         LEFT JOIN instance ci ON ci.id = c.instance_id
         WHERE ($1::bigint IS NULL OR l.community_id = $1)
           AND ($2::bigint IS NULL OR l.moderator_id = $2)
           AND ($3::bigint IS NULL OR l.id < $3)
         ORDER BY l.id DESC
         LIMIT $4",
    )
    .bind(filter.community)
    .bind(filter.moderator)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == limit => Some(cursor::encode(&LogCursor {
            community: filter.community.map(|c| c.0),
            moderator: filter.moderator.map(|m| m.0),
            before: last.id,
        })),
        _ => None,
    };
    Ok((rows, next))
}
