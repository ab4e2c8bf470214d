//! Outboxes of local actors: what a peer reads to catch up on an actor it starts following.
//! A community lists the `Announce(Create(Page))` of its latest posts, as Lemmy serves it; a
//! person the `Create`s of their latest posts and comments. Deleted and removed content is left
//! out; `totalItems` counts everything that could be listed, the list holds the latest
//! [`OUTBOX_ITEMS`], newest first.

use super::actors::{live_community, live_person};
use super::error::RouteError;
use super::extract::Name;
use super::negotiate::activity_json;
use crate::outgoing::{listed_announce, listed_create};
use crate::protocol::collections::ObjectCollection;
use crate::FedContext;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use canopy_db::published::{self, Authored};
use canopy_db::DbError;

/// How many activities an outbox lists.
pub const OUTBOX_ITEMS: i64 = 20;

pub async fn group_outbox(
    State(ctx): State<FedContext>,
    Name(name): Name,
) -> Result<Response, RouteError> {
    let row = live_community(&ctx, &name).await?;
    let (ids, total) = published::community_recent_posts(&ctx.db, row.id, OUTBOX_ITEMS).await?;
    let mut conn = ctx.db.acquire().await.map_err(DbError::from)?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let post = canopy_db::outbox::post_ap(&mut conn, id).await?;
        let create = listed_create(&ctx.base, &post, id.0);
        items.push(listed_announce(&ctx.base, &row.ap_id, create, id.0));
    }
    let id = format!("{}/outbox", row.ap_id);
    Ok(activity_json(
        StatusCode::OK,
        ObjectCollection::first_of(id, items, total),
    ))
}

pub async fn person_outbox(
    State(ctx): State<FedContext>,
    Name(name): Name,
) -> Result<Response, RouteError> {
    let row = live_person(&ctx, &name).await?;
    let (listed, total) = published::person_recent_content(&ctx.db, row.id, OUTBOX_ITEMS).await?;
    let mut conn = ctx.db.acquire().await.map_err(DbError::from)?;
    let mut items = Vec::with_capacity(listed.len());
    for what in listed {
        let (content, local_id) = match what {
            Authored::Post(id) => (canopy_db::outbox::post_ap(&mut conn, id).await?, id.0),
            Authored::Comment(id) => (canopy_db::outbox::comment_ap(&mut conn, id).await?, id.0),
        };
        items.push(listed_create(&ctx.base, &content, local_id));
    }
    let id = format!("{}/outbox", row.ap_id);
    Ok(activity_json(
        StatusCode::OK,
        ObjectCollection::first_of(id, items, total),
    ))
}
