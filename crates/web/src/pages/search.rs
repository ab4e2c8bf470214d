//! Search results (`/search?q=…&type=…`): the full-text search of the API
//! (`canopy_db::search`), best first, a page at a time. The form is in every page's header.
//! A pasted URL or handle (`https://…`, `name@host`, `@user@host`, `!community@host`) is
//! resolved as the API's search resolves it (fetched and stored when remote, under the same rate
//! limit) and the reader is sent to its page here.

use super::listing::{name, pick};
use super::{db_error, error_page, Layout, PostItem, SortLink};
use crate::format;
use crate::render::page;
use crate::session::WebViewer;
use crate::tree::CommentItem;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use canopy_api::limits::ClientAddr;
use canopy_api::routes::communities::Resolved;
use canopy_api::routes::search::{resolve_pasted, MAX_QUERY_CHARS};
use canopy_api::AppState;
use canopy_db::search::{Filters, Hit, SearchType};
use canopy_db::DbError;
use chrono::Utc;
use serde::Deserialize;

/// Results per page.
const PAGE: i64 = 20;

const TYPES: [(SearchType, &str); 5] = [
    (SearchType::All, "all"),
    (SearchType::Posts, "posts"),
    (SearchType::Comments, "comments"),
    (SearchType::Communities, "communities"),
    (SearchType::Users, "users"),
];

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    cursor: Option<String>,
}

/// One result as the page shows it.
pub enum Result_ {
    Post(PostItem),
    Comment {
        item: CommentItem,
        post: i64,
    },
    Actor {
        kind: &'static str,
        title: String,
        handle: String,
        path: String,
    },
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    layout: Layout,
    q: String,
    types: Vec<SortLink>,
    results: Vec<Result_>,
    next: Option<String>,
    searched: bool,
}

/// `/search`.
pub async fn search(
    State(state): State<AppState>,
    viewer: WebViewer,
    client: ClientAddr,
    Query(q): Query<SearchQuery>,
) -> Response {
    let text = q.q.as_deref().unwrap_or("").trim().to_string();
    match resolve_pasted(&state, client, &text, viewer.person()).await {
        Ok(None) => {}
        Ok(Some(Some(found))) => {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, page_of(&found))]).into_response()
        }
        Ok(Some(None)) => {
            return error_page(
                &state,
                &viewer,
                StatusCode::NOT_FOUND,
                "Not found",
                "What this address names is not shown here.",
            )
        }
        Err(e) => {
            return error_page(
                &state,
                &viewer,
                e.status,
                "Could not look that up",
                &e.message,
            )
        }
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return error_page(
            &state,
            &viewer,
            StatusCode::BAD_REQUEST,
            "Search too long",
            &format!("A search is at most {MAX_QUERY_CHARS} characters."),
        );
    }
    match search_page(&state, &viewer, &text, &q).await {
        Ok(r) => r,
        Err(e) => db_error(&state, &viewer, e),
    }
}

/// The path of the page showing what a pasted address resolved to.
fn page_of(found: &Resolved) -> String {
    if let Some(p) = &found.post {
        format!("/post/{}", p.id)
    } else if let Some(c) = &found.comment {
        format!("/comment/{}", c.id)
    } else if let Some(c) = &found.community {
        format!("/c/{}", format::segment(&c.handle))
    } else if let Some(u) = &found.user {
        format!("/u/{}", format::segment(&u.handle))
    } else {
        "/search".to_string()
    }
}

async fn search_page(
    state: &AppState,
    viewer: &WebViewer,
    text: &str,
    q: &SearchQuery,
) -> Result<Response, DbError> {
    let kind = pick(&TYPES, q.kind.as_deref())?.unwrap_or_default();
    let (hits, next_cursor) = if text.is_empty() {
        (Vec::new(), None)
    } else {
        canopy_db::search::search(
            &state.db,
            text,
            kind,
            Filters::default(),
            q.cursor.as_deref().filter(|c| !c.is_empty()),
            PAGE,
            viewer.person(),
        )
        .await?
    };
    let now = Utc::now();
    let results = hits
        .iter()
        .map(|h| match h {
            Hit::Post(p) => Result_::Post(PostItem::new(p, now)),
            Hit::Comment(c) => Result_::Comment {
                item: CommentItem::new(c, now),
                post: c.post_id.0,
            },
            Hit::Community(c) => {
                let handle = format::handle(&c.name, c.local, &c.authority);
                Result_::Actor {
                    kind: "community",
                    title: c.title.clone(),
                    path: format!("/c/{}", format::segment(&handle)),
                    handle: format!("!{handle}"),
                }
            }
            Hit::User(u) => {
                let handle = format::handle(&u.name, u.local, &u.authority);
                Result_::Actor {
                    kind: "user",
                    title: u
                        .display_name
                        .clone()
                        .filter(|d| !d.trim().is_empty())
                        .unwrap_or_else(|| u.name.clone()),
                    path: format!("/u/{}", format::segment(&handle)),
                    handle: format!("@{handle}"),
                }
            }
        })
        .collect();
    let qv = format::query_value(text);
    let type_name = name(&TYPES, kind);
    let title = if text.is_empty() {
        "Search".to_string()
    } else {
        format!("Search: {text}")
    };
    let layout = Layout::new(state, viewer, &title, &format!("/search?q={qv}"));
    Ok(page(
        StatusCode::OK,
        &SearchPage {
            layout,
            types: TYPES
                .iter()
                .map(|(t, n)| SortLink {
                    name: n,
                    href: format!("/search?q={qv}&type={n}"),
                    current: *t == kind,
                })
                .collect(),
            results,
            next: next_cursor.map(|c| {
                format!(
                    "/search?q={qv}&type={type_name}&cursor={}",
                    format::query_value(&c)
                )
            }),
            searched: !text.is_empty(),
            q: text.to_string(),
        },
    ))
}
