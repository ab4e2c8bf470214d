//! Thread collections of local posts and comments: `/post/{id}/context` (FEP-7888: the post, then
//! every comment of the thread oldest first), `/post/{id}/replies` (top-level comments) and
//! `/comment/{id}/replies` (direct replies). Each answers ActivityPub peers with an
//! `OrderedCollection` (`totalItems`, `first`), whose pages (`?page=first`, then `?page={cursor}`
//! from `next`) are keyset-paged; a browser is sent to the object's own page. Comments made here
//! are embedded in the pages (see [`page_of`]); the post and comments from elsewhere are ids.

use super::actors::gone;
use super::error::RouteError;
use super::extract::RowId;
use super::negotiate::{activity_json, wants_activity_json};
use crate::protocol::collections::{CollectionPage, PagedCollection};
use crate::protocol::objects::{context_url, replies_url, Note, Tombstone};
use crate::protocol::Kind;
use crate::FedContext;
use axum::extract::{Query, State};
use axum::http::header::{LOCATION, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use canopy_core::{CommentId, PostId};
use canopy_db::threads::{self, ThreadItem};
use canopy_db::{outbox, DbError};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// Items per page.
pub const PAGE_SIZE: i64 = 50;

/// The value of `page` that asks for the first page.
const FIRST: &str = "first";

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

enum Wanted {
    Collection,
    First,
    After(DateTime<Utc>, i64),
}

fn wanted(q: &PageQuery) -> Result<Wanted, RouteError> {
    match q.page.as_deref() {
        None => Ok(Wanted::Collection),
        Some(FIRST) => Ok(Wanted::First),
        Some(raw) => match threads::decode_position(raw) {
            Ok((t, id)) => Ok(Wanted::After(t, id)),
            Err(DbError::BadCursor(_)) => Err(RouteError::bad_request("bad page cursor")),
            Err(e) => Err(e.into()),
        },
    }
}

/// A browser asking for a collection is sent to the object it belongs to.
fn see_object(ap_id: &str) -> Response {
    match HeaderValue::from_str(ap_id) {
        Ok(location) => (
            StatusCode::SEE_OTHER,
            [
                (LOCATION, location),
                (VARY, HeaderValue::from_static("Accept")),
            ],
        )
            .into_response(),
        Err(_) => RouteError::internal().into_response(),
    }
}

fn page_url(collection: &str, page: &str) -> String {
    format!("{collection}?page={page}")
}

/// A page of `items` (fetched with one more than `limit` to know whether more follow), after
/// `lead` when given. Comments made here are embedded (FEP-f228 allows it): a live one as the
/// `Note` its id serves, a deleted or removed one as a `Tombstone`, so a peer reading the thread
/// needs no request per item; a peer takes an embedded object only from its own host, so
/// comments from elsewhere are listed by id.
async fn page_of(
    ctx: &FedContext,
    collection: &str,
    page: &str,
    lead: Option<&str>,
    mut items: Vec<ThreadItem>,
    limit: i64,
) -> Result<CollectionPage, RouteError> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = items.len() > limit;
    items.truncate(limit);
    let next = if more {
        items
            .last()
            .map(|last| page_url(collection, &threads::encode_position(&last.position())))
    } else {
        None
    };
    let live: Vec<CommentId> = items
        .iter()
        .filter(|i| i.local && !i.gone)
        .map(|i| CommentId(i.id))
        .collect();
    let mut notes: HashMap<String, Value> = HashMap::new();
    if !live.is_empty() {
        let mut conn = ctx.db.acquire().await.map_err(DbError::from)?;
        for c in outbox::comments_ap(&mut conn, &live).await? {
            let note = serde_json::to_value(Note::from_content(&c)).unwrap_or_default();
            notes.insert(c.ap_id, note);
        }
    }
    let embedded = items.into_iter().map(|i| {
        if !i.local {
            return Value::String(i.ap_id);
        }
        if i.gone {
            return serde_json::to_value(Tombstone::new(&i.ap_id, Kind::Note, i.updated))
                .unwrap_or_default();
        }
        // Deleted between the two reads: listed by id (which answers the Tombstone).
        notes.remove(&i.ap_id).unwrap_or(Value::String(i.ap_id))
    });
    let items = lead
        .map(|l| Value::String(l.to_string()))
        .into_iter()
        .chain(embedded)
        .collect();
    Ok(CollectionPage::new(
        page_url(collection, page),
        collection.to_string(),
        items,
        next,
    ))
}

fn raw_page(q: &PageQuery) -> &str {
    q.page.as_deref().unwrap_or(FIRST)
}

/// `/post/{id}/context`: the post, then every comment of its thread by publication time.
pub async fn post_context(
    State(ctx): State<FedContext>,
    RowId(id): RowId,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, RouteError> {
    let post = threads::local_post(&ctx.db, PostId(id)).await?;
    if post.deleted || post.removed {
        return Ok(gone(&headers, &post.ap_id, Kind::Page, None));
    }
    if !wants_activity_json(&headers) {
        return Ok(see_object(&post.ap_id));
    }
    let collection = context_url(&post.ap_id);
    let ok = |body| Ok(activity_json(StatusCode::OK, body));
    match wanted(&q)? {
        Wanted::Collection => {
            let total = threads::thread_count(&ctx.db, post.id).await? + 1;
            ok(serde_json::to_value(PagedCollection::new(
                collection.clone(),
                total,
                page_url(&collection, FIRST),
            ))
            .unwrap_or_default())
        }
        Wanted::First => {
            // The post takes the first place of the first page.
            let items = threads::thread_page(&ctx.db, post.id, None, PAGE_SIZE).await?;
            let page = page_of(
                &ctx,
                &collection,
                FIRST,
                Some(&post.ap_id),
                items,
                PAGE_SIZE - 1,
            )
            .await?;
            ok(serde_json::to_value(page).unwrap_or_default())
        }
        Wanted::After(t, after) => {
            let items =
                threads::thread_page(&ctx.db, post.id, Some((t, after)), PAGE_SIZE + 1).await?;
            let page = page_of(&ctx, &collection, raw_page(&q), None, items, PAGE_SIZE).await?;
            ok(serde_json::to_value(page).unwrap_or_default())
        }
    }
}

/// `/post/{id}/replies`: the post's top-level comments.
pub async fn post_replies(
    State(ctx): State<FedContext>,
    RowId(id): RowId,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, RouteError> {
    let post = threads::local_post(&ctx.db, PostId(id)).await?;
    if post.deleted || post.removed {
        return Ok(gone(&headers, &post.ap_id, Kind::Page, None));
    }
    replies(&ctx, &headers, &q, &post.ap_id, post.id, None).await
}

/// `/comment/{id}/replies`: the comment's direct replies. Served for a deleted or removed comment
/// too: its replies are still there.
pub async fn comment_replies(
    State(ctx): State<FedContext>,
    RowId(id): RowId,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Result<Response, RouteError> {
    let comment = threads::local_comment(&ctx.db, CommentId(id)).await?;
    replies(
        &ctx,
        &headers,
        &q,
        &comment.ap_id,
        comment.post_id,
        Some(comment.id),
    )
    .await
}

async fn replies(
    ctx: &FedContext,
    headers: &HeaderMap,
    q: &PageQuery,
    ap_id: &str,
    post: PostId,
    parent: Option<CommentId>,
) -> Result<Response, RouteError> {
    if !wants_activity_json(headers) {
        return Ok(see_object(ap_id));
    }
    let collection = replies_url(ap_id);
    let body = match wanted(q)? {
        Wanted::Collection => {
            let total = threads::replies_count(&ctx.db, post, parent).await?;
            serde_json::to_value(PagedCollection::new(
                collection.clone(),
                total,
                page_url(&collection, FIRST),
            ))
        }
        Wanted::First => {
            let items = threads::replies_page(&ctx.db, post, parent, None, PAGE_SIZE + 1).await?;
            serde_json::to_value(page_of(ctx, &collection, FIRST, None, items, PAGE_SIZE).await?)
        }
        Wanted::After(t, after) => {
            let items =
                threads::replies_page(&ctx.db, post, parent, Some((t, after)), PAGE_SIZE + 1)
                    .await?;
            serde_json::to_value(
                page_of(ctx, &collection, raw_page(q), None, items, PAGE_SIZE).await?,
            )
        }
    };
    Ok(activity_json(StatusCode::OK, body.unwrap_or_default()))
}
