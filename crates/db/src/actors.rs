//! Actors as federation deals with them: people and communities, local or remote, with their
//! keys and inboxes ([`ActorRow`]). Remote ones are written here, idempotently by ActivityPub id
//! (a replayed or re-fetched actor never duplicates a row) and never over a local row.

use crate::{instances, DbError};
use canopy_core::{CommunityId, PersonId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// An actor with what federation needs: keys and inboxes. `Id` says which table the row is
/// from: [`PersonActor`] or [`CommunityActor`], so a person's id is never taken for a
/// community's.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActorRow<Id> {
    pub id: Id,
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

/// A person as an actor.
pub type PersonActor = ActorRow<PersonId>;

/// A community as an actor.
pub type CommunityActor = ActorRow<CommunityId>;

/// [`PersonActor`]; append a `WHERE`.
const PERSON_ACTOR: &str = "SELECT p.id, p.ap_id, p.name, p.local, p.inbox_url, p.shared_inbox_url,
        p.public_key_pem, p.private_key_pem, i.authority, p.last_refreshed_at, p.deleted
    FROM person p JOIN instance i ON i.id = p.instance_id";

/// [`CommunityActor`]; append a `WHERE`.
const COMMUNITY_ACTOR: &str =
    "SELECT c.id, c.ap_id, c.name, c.local, c.inbox_url, c.shared_inbox_url,
        c.public_key_pem, c.private_key_pem, i.authority, c.last_refreshed_at, c.deleted
    FROM community c JOIN instance i ON i.id = c.instance_id";

pub async fn person_by_ap_id(pool: &PgPool, ap_id: &str) -> Result<Option<PersonActor>, DbError> {
    Ok(
        sqlx::query_as(&format!("{PERSON_ACTOR} WHERE p.ap_id = $1"))
            .bind(ap_id)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn person_by_id(pool: &PgPool, id: PersonId) -> Result<PersonActor, DbError> {
    sqlx::query_as(&format!("{PERSON_ACTOR} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("user"))
}

pub async fn community_by_ap_id(
    pool: &PgPool,
    ap_id: &str,
) -> Result<Option<CommunityActor>, DbError> {
    Ok(
        sqlx::query_as(&format!("{COMMUNITY_ACTOR} WHERE c.ap_id = $1"))
            .bind(ap_id)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn community_by_id(pool: &PgPool, id: CommunityId) -> Result<CommunityActor, DbError> {
    let mut conn = pool.acquire().await?;
    community_by_id_in(&mut conn, id).await
}

/// [`community_by_id`] inside the caller's transaction.
pub async fn community_by_id_in(
    conn: &mut PgConnection,
    id: CommunityId,
) -> Result<CommunityActor, DbError> {
    sqlx::query_as(&format!("{COMMUNITY_ACTOR} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(DbError::NotFound("community"))
}

/// The community `id` when it is local and has followers on other servers (someone to announce
/// its content to); `None` otherwise. One statement.
pub async fn announcing_community(
    pool: &PgPool,
    id: CommunityId,
) -> Result<Option<CommunityActor>, DbError> {
    Ok(sqlx::query_as(&format!(
        "{COMMUNITY_ACTOR} WHERE c.id = $1 AND c.local
           AND EXISTS (SELECT 1 FROM community_follow f JOIN person p ON p.id = f.person_id
                       WHERE f.community_id = c.id AND NOT f.pending AND NOT p.local)"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?)
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
    /// Profile picture and banner (`icon`, `image`), checked by the caller.
    pub avatar_url: Option<&'a str>,
    pub banner_url: Option<&'a str>,
}

/// Insert or refresh a remote person; returns its id. Never touches a local row.
pub async fn upsert_person(pool: &PgPool, p: &RemotePerson<'_>) -> Result<PersonId, DbError> {
    let mut tx = pool.begin().await?;
    let instance = instances::ensure(&mut tx, p.authority).await?;
    let row: Option<(PersonId,)> = sqlx::query_as(
        "INSERT INTO person (instance_id, name, display_name, bio, bio_html, ap_id, inbox_url,
                             shared_inbox_url, public_key_pem, local, avatar_url, banner_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false, $10, $11)
         ON CONFLICT (ap_id) DO UPDATE SET
             display_name = EXCLUDED.display_name, bio = EXCLUDED.bio, bio_html = EXCLUDED.bio_html,
             avatar_url = EXCLUDED.avatar_url, banner_url = EXCLUDED.banner_url,
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
    .bind(p.avatar_url)
    .bind(p.banner_url)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| DbError::conflict_on(e, "user with that name on that instance"))?;
    tx.commit().await?;
    row.map(|(id,)| id)
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
    /// Only its moderators may post (Lemmy's `postingRestrictedToMods`).
    pub posting_restricted_to_mods: bool,
}

/// Insert or refresh a remote community; returns its id. Never touches a local row.
pub async fn upsert_community(
    pool: &PgPool,
    c: &RemoteCommunity<'_>,
) -> Result<CommunityId, DbError> {
    let mut tx = pool.begin().await?;
    let instance = instances::ensure(&mut tx, c.authority).await?;
    let row: Option<(CommunityId,)> = sqlx::query_as(
        "INSERT INTO community (instance_id, name, title, description, description_html, ap_id,
                                inbox_url, shared_inbox_url, followers_url, public_key_pem, local,
                                posting_restricted_to_mods)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false, $11)
         ON CONFLICT (ap_id) DO UPDATE SET
             title = EXCLUDED.title, description = EXCLUDED.description,
             posting_restricted_to_mods = EXCLUDED.posting_restricted_to_mods,
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
    .bind(c.posting_restricted_to_mods)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| DbError::conflict_on(e, "community with that name on that instance"))?;
    tx.commit().await?;
    row.map(|(id,)| id)
        .ok_or(DbError::Conflict("a local community with that id"))
}
