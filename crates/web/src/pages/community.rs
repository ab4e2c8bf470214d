//! A community's page (`/c/{name}`, `/c/name@host` for a remote one): its description and its
//! posts, a page at a time, in any of the listings' orders.

use super::listing::{ListQuery, Order};
use super::{db_error, Layout, PostItem, SortLink};
use crate::format;
use crate::render::page;
use crate::session::WebViewer;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use canopy_api::AppState;
use canopy_db::listing::Scope;
use canopy_db::DbError;
use chrono::Utc;

/// Posts per page.
const PAGE: i64 = 25;

#[derive(Template)]
#[template(path = "community.html")]
struct CommunityPage {
    layout: Layout,
    title: String,
    handle: String,
    description: Option<String>,
    subscribers: i32,
    post_count: i32,
    remote: bool,
    sorts: Vec<SortLink>,
    windows: Vec<SortLink>,
    posts: Vec<PostItem>,
    next: Option<String>,
}

/// `/c/{name}`.
pub async fn community(
    State(state): State<AppState>,
    viewer: WebViewer,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    match community_page(&state, &viewer, &name, &q).await {
        Ok(r) => r,
        Err(e) => db_error(&state, &viewer, e),
    }
}

async fn community_page(
    state: &AppState,
    viewer: &WebViewer,
    name: &str,
    q: &ListQuery,
) -> Result<Response, DbError> {
    let order = Order::from_query(q, Default::default())?;
    let community = canopy_db::communities::by_name(&state.db, name).await?;
    if community.deleted || community.removed {
        return Err(DbError::NotFound("community"));
    }
    let (rows, next_cursor) = canopy_db::listing::posts(
        &state.db,
        Scope::Community(community.id),
        order.sort,
        order.window,
        q.cursor.as_deref().filter(|c| !c.is_empty()),
        PAGE,
        viewer.person(),
    )
    .await?;
    let now = Utc::now();
    let handle = format::handle(&community.name, community.local, &community.authority);
    let path = format!("/c/{}", format::segment(&handle));
    let mut layout = Layout::new(state, viewer, &community.title, &path);
    layout.alternate = community.ap_id.clone();
    layout.description = community
        .description_html
        .as_deref()
        .map(|h| format::excerpt(h, 200))
        .unwrap_or_else(|| format!("!{handle}"));
    Ok(page(
        StatusCode::OK,
        &CommunityPage {
            layout,
            title: community.title.clone(),
            description: community.description_html.clone(),
            subscribers: community.subscriber_count,
            post_count: community.post_count,
            remote: !community.local,
            sorts: order.sort_links(&path, ""),
            windows: order.window_links(&path, ""),
            posts: rows.iter().map(|p| PostItem::new(p, now)).collect(),
            next: order.next(&path, "", next_cursor),
            handle,
        },
    ))
}
