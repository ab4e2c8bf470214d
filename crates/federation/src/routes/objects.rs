//! Posts (`/post/{id}`, a `Page`) and comments (`/comment/{id}`, a `Note`). Only local objects
//! are served; a remote object's id is a URL on its own server. A browser asking for these URLs
//! gets the pages of `canopy-web`, which the node puts in front of these routes.

use super::actors::gone;
use super::error::RouteError;
use super::extract::RowId;
use super::negotiate::activity_json;
use crate::protocol::objects::{Note, Page};
use crate::protocol::Kind;
use crate::FedContext;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use canopy_core::{CommentId, PostId};
use canopy_db::published;

pub async fn page(
    State(ctx): State<FedContext>,
    RowId(id): RowId,
    headers: HeaderMap,
) -> Result<Response, RouteError> {
    let row = published::local_post(&ctx.db, PostId(id)).await?;
    if row.deleted || row.removed {
        return Ok(gone(&headers, &row.ap_id, Kind::Page, row.updated));
    }
    let mut conn = ctx.db.acquire().await.map_err(canopy_db::DbError::from)?;
    let content = canopy_db::outbox::post_ap(&mut conn, PostId(id)).await?;
    Ok(activity_json(StatusCode::OK, Page::from_content(&content)))
}

pub async fn note(
    State(ctx): State<FedContext>,
    RowId(id): RowId,
    headers: HeaderMap,
) -> Result<Response, RouteError> {
    let row = published::local_comment(&ctx.db, CommentId(id)).await?;
    if row.deleted || row.removed {
        return Ok(gone(&headers, &row.ap_id, Kind::Note, row.updated));
    }
    let mut conn = ctx.db.acquire().await.map_err(canopy_db::DbError::from)?;
    let content = canopy_db::outbox::comment_ap(&mut conn, CommentId(id)).await?;
    Ok(activity_json(StatusCode::OK, Note::from_content(&content)))
}
