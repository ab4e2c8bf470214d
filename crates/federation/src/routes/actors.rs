//! People (`/u/{name}`) and communities (`/c/{name}`) with their collections.

use super::error::RouteError;
use super::extract::Name;
use super::negotiate::{activity_json, html, wants_activity_json};
use crate::protocol::actors::{Group, Person};
use crate::protocol::collections::OrderedCollection;
use crate::protocol::objects::Tombstone;
use crate::protocol::Kind;
use crate::FedContext;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_db::published::{self, LocalCommunity, LocalPerson};
use chrono::{DateTime, Utc};

/// A deleted actor or object: a `Tombstone` (or a short page) with 410 Gone.
pub(super) fn gone(
    headers: &HeaderMap,
    ap_id: &str,
    former: Kind,
    deleted: Option<DateTime<Utc>>,
) -> Response {
    if wants_activity_json(headers) {
        activity_json(StatusCode::GONE, Tombstone::new(ap_id, former, deleted))
    } else {
        html(StatusCode::GONE, super::html::gone(ap_id))
    }
}

pub async fn person(
    State(ctx): State<FedContext>,
    Name(name): Name,
    headers: HeaderMap,
) -> Result<Response, RouteError> {
    let row = published::local_person(&ctx.db, &name).await?;
    if row.deleted {
        return Ok(gone(&headers, &row.ap_id, Kind::Person, row.updated_at));
    }
    Ok(activity_json(
        StatusCode::OK,
        Person::from_row(&row, &ctx.base),
    ))
}

pub(super) async fn live_person(ctx: &FedContext, name: &str) -> Result<LocalPerson, RouteError> {
    let row = published::local_person(&ctx.db, name).await?;
    if row.deleted {
        return Err(RouteError::gone("user"));
    }
    Ok(row)
}

pub async fn person_followers(
    State(ctx): State<FedContext>,
    Name(name): Name,
) -> Result<Response, RouteError> {
    let row = live_person(&ctx, &name).await?;
    let count = published::person_follower_count(&ctx.db, row.id).await?;
    let id = format!("{}/followers", row.ap_id);
    Ok(activity_json(
        StatusCode::OK,
        OrderedCollection::count_only(id, count),
    ))
}

pub async fn group(
    State(ctx): State<FedContext>,
    Name(name): Name,
    headers: HeaderMap,
) -> Result<Response, RouteError> {
    let row = published::local_community(&ctx.db, &name).await?;
    if row.deleted || row.removed {
        return Ok(gone(&headers, &row.ap_id, Kind::Group, row.updated_at));
    }
    Ok(activity_json(
        StatusCode::OK,
        Group::from_row(&row, &ctx.base),
    ))
}

pub(super) async fn live_community(
    ctx: &FedContext,
    name: &str,
) -> Result<LocalCommunity, RouteError> {
    let row = published::local_community(&ctx.db, name).await?;
    if row.deleted || row.removed {
        return Err(RouteError::gone("community"));
    }
    Ok(row)
}

pub async fn group_moderators(
    State(ctx): State<FedContext>,
    Name(name): Name,
) -> Result<Response, RouteError> {
    let row = live_community(&ctx, &name).await?;
    let moderators = published::moderator_ap_ids(&ctx.db, row.id).await?;
    let id = format!("{}/moderators", row.ap_id);
    Ok(activity_json(
        StatusCode::OK,
        OrderedCollection::with_items(id, moderators),
    ))
}

/// Only the count, as Lemmy publishes it: a follower list is nobody else's business.
pub async fn group_followers(
    State(ctx): State<FedContext>,
    Name(name): Name,
) -> Result<Response, RouteError> {
    let row = live_community(&ctx, &name).await?;
    let id = row
        .followers_url
        .clone()
        .unwrap_or_else(|| format!("{}/followers", row.ap_id));
    Ok(activity_json(
        StatusCode::OK,
        OrderedCollection::count_only(id, i64::from(row.subscriber_count)),
    ))
}

/// The community's featured posts as embedded Pages (Lemmy's shape).
pub async fn group_featured(
    State(ctx): State<FedContext>,
    Name(name): Name,
) -> Result<Response, RouteError> {
    let row = live_community(&ctx, &name).await?;
    let ids = canopy_db::moderation::featured_posts(&ctx.db, row.id).await?;
    let mut conn = ctx.db.acquire().await.map_err(canopy_db::DbError::from)?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let post = canopy_db::outbox::post_ap(&mut conn, id).await?;
        items.push(crate::protocol::objects::object_of(&post));
    }
    let id = crate::outgoing::featured_url(&row.ap_id);
    Ok(activity_json(
        StatusCode::OK,
        crate::protocol::collections::ObjectCollection::new(id, items),
    ))
}
