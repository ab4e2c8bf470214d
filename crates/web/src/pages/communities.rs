//! The list of communities (`/communities?sort=…`): every community the node knows and shows,
//! by subscribers (default), activity, newest or name, a page at a time.

use super::listing::{name, pick};
use super::{db_error, Layout, SortLink};
use crate::format;
use crate::render::page;
use crate::session::WebViewer;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use canopy_api::AppState;
use canopy_db::listing::CommunitySort;
use canopy_db::DbError;
use serde::Deserialize;

/// Communities per page.
const PAGE: i64 = 30;

const SORTS: [(CommunitySort, &str); 4] = [
    (CommunitySort::Subscribers, "subscribers"),
    (CommunitySort::Active, "active"),
    (CommunitySort::New, "new"),
    (CommunitySort::Name, "name"),
];

#[derive(Debug, Deserialize)]
pub struct CommunitiesQuery {
    sort: Option<String>,
    cursor: Option<String>,
}

/// One community as the list shows it.
pub struct CommunityItem {
    pub title: String,
    pub handle: String,
    pub path: String,
    pub remote: bool,
    pub subscribers: i32,
    pub posts: i32,
    /// Plain text: the start of the description.
    pub about: String,
}

#[derive(Template)]
#[template(path = "communities.html")]
struct CommunitiesPage {
    layout: Layout,
    sorts: Vec<SortLink>,
    communities: Vec<CommunityItem>,
    next: Option<String>,
}

/// `/communities`.
pub async fn communities(
    State(state): State<AppState>,
    viewer: WebViewer,
    Query(q): Query<CommunitiesQuery>,
) -> Response {
    match communities_page(&state, &viewer, &q).await {
        Ok(r) => r,
        Err(e) => db_error(&state, &viewer, e),
    }
}

async fn communities_page(
    state: &AppState,
    viewer: &WebViewer,
    q: &CommunitiesQuery,
) -> Result<Response, DbError> {
    let sort = pick(&SORTS, q.sort.as_deref())?.unwrap_or_default();
    let sort_name = name(&SORTS, sort);
    let (rows, next_cursor) = canopy_db::listing::communities(
        &state.db,
        sort,
        q.cursor.as_deref().filter(|c| !c.is_empty()),
        PAGE,
        viewer.person(),
    )
    .await?;
    let communities = rows
        .iter()
        .map(|c| {
            let handle = format::handle(&c.name, c.local, &c.authority);
            CommunityItem {
                title: c.title.clone(),
                path: format!("/c/{}", format::segment(&handle)),
                handle,
                remote: !c.local,
                subscribers: c.subscriber_count,
                posts: c.post_count,
                about: c
                    .description_html
                    .as_deref()
                    .map(|h| format::excerpt(h, 160))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let mut layout = Layout::new(state, viewer, "Communities", "/communities");
    layout.description = format!("Communities on {}", layout.site);
    Ok(page(
        StatusCode::OK,
        &CommunitiesPage {
            layout,
            sorts: SORTS
                .iter()
                .map(|(s, n)| SortLink {
                    name: n,
                    href: format!("/communities?sort={n}"),
                    current: *s == sort,
                })
                .collect(),
            communities,
            next: next_cursor.map(|c| {
                format!(
                    "/communities?sort={sort_name}&cursor={}",
                    format::query_value(&c)
                )
            }),
        },
    ))
}
