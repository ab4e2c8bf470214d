//! The front page (`/`): posts across communities — every community this node knows (`all`),
//! those hosted here (`local`), or those the reader follows (`subscribed`) — in any of the
//! listings' orders, a page at a time. A logged-in reader's default listing and sort are their
//! settings.

use super::listing::{sort_named, ListQuery, Order};
use super::{db_error, Layout, PostItem, SortLink};
use crate::render::page;
use crate::session::WebViewer;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use canopy_api::AppState;
use canopy_db::listing::Scope;
use canopy_db::DbError;
use chrono::Utc;

/// Posts per page.
const PAGE: i64 = 25;

#[derive(Template)]
#[template(path = "front.html")]
struct FrontPage {
    layout: Layout,
    scopes: Vec<SortLink>,
    sorts: Vec<SortLink>,
    windows: Vec<SortLink>,
    posts: Vec<PostItem>,
    next: Option<String>,
    /// `subscribed` was asked for without a login.
    needs_login: bool,
}

/// `/`.
pub async fn front(
    State(state): State<AppState>,
    viewer: WebViewer,
    Query(q): Query<ListQuery>,
) -> Response {
    match front_page(&state, &viewer, &q).await {
        Ok(r) => r,
        Err(e) => db_error(&state, &viewer, e),
    }
}

async fn front_page(
    state: &AppState,
    viewer: &WebViewer,
    q: &ListQuery,
) -> Result<Response, DbError> {
    let settings = match viewer.person() {
        Some(p) => Some(canopy_db::profiles::settings(&state.db, p).await?),
        None => None,
    };
    let default_sort = settings
        .as_ref()
        .map_or_else(Default::default, |s| sort_named(&s.default_sort));
    let scope_name = match q.scope.as_deref().filter(|s| !s.is_empty()) {
        Some(s @ ("all" | "local" | "subscribed")) => s.to_string(),
        Some(_) => return Err(DbError::BadCursor("unknown scope")),
        None => settings
            .as_ref()
            .map(|s| s.default_listing.clone())
            .filter(|s| matches!(s.as_str(), "all" | "local" | "subscribed"))
            .unwrap_or_else(|| "all".to_string()),
    };
    let order = Order::from_query(q, default_sort)?;
    let scope = match (scope_name.as_str(), viewer.person()) {
        ("local", _) => Some(Scope::Local),
        ("subscribed", Some(p)) => Some(Scope::Subscribed(p)),
        ("subscribed", None) => None,
        _ => Some(Scope::All),
    };
    let (rows, next_cursor) = match scope {
        Some(scope) => {
            canopy_db::listing::posts(
                &state.db,
                scope,
                order.sort,
                order.window,
                q.cursor.as_deref().filter(|c| !c.is_empty()),
                PAGE,
                viewer.person(),
            )
            .await?
        }
        None => (Vec::new(), None),
    };
    let now = Utc::now();
    let extra = format!("scope={scope_name}&");
    let mut layout = Layout::new(state, viewer, "Front page", "/");
    layout.description = format!("Discussions on {}", layout.site);
    Ok(page(
        StatusCode::OK,
        &FrontPage {
            scopes: ["all", "local", "subscribed"]
                .into_iter()
                .map(|s| SortLink {
                    name: s,
                    href: format!("/?scope={s}&{}", order.query("")),
                    current: s == scope_name,
                })
                .collect(),
            sorts: order.sort_links("/", &extra),
            windows: order.window_links("/", &extra),
            posts: rows.iter().map(|p| PostItem::new(p, now)).collect(),
            next: order.next("/", &extra, next_cursor),
            needs_login: scope.is_none(),
            layout,
        },
    ))
}
