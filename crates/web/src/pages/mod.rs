//! The pages, one module each, and what they share: the layout every page fills, posts as lists
//! and thread pages show them, and error pages.

pub mod communities;
pub mod community;
pub mod front;
pub mod listing;
pub mod search;
pub mod thread;
pub mod user;

use crate::format;
use crate::render::page;
use crate::session::WebViewer;
use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use canopy_api::AppState;
use canopy_db::posts::PostView;
use canopy_db::DbError;
use chrono::{DateTime, Utc};

/// What the layout of every page needs: the site, the reader, and the page's own metadata
/// (`<title>`, the OpenGraph tags, the ActivityStreams alternate).
pub struct Layout {
    /// The node's name as shown in the header (its authority).
    pub site: String,
    pub title: String,
    /// The logged-in reader's name.
    pub viewer: Option<String>,
    /// This page's absolute URL (`og:url`).
    pub canonical: String,
    /// This page's path, for the login form to come back to.
    pub path: String,
    /// The ActivityPub id of what the page shows (`<link rel="alternate">`): the instance actor
    /// on pages that show no one object.
    pub alternate: String,
    /// A plain-text summary (`og:description`, `<meta name="description">`).
    pub description: String,
    /// `og:type`: `website`, `article` or `profile`.
    pub og_type: &'static str,
}

impl Layout {
    pub fn new(state: &AppState, viewer: &WebViewer, title: &str, path: &str) -> Self {
        Self {
            site: state.base.authority().to_string(),
            title: title.to_string(),
            viewer: viewer.name(),
            canonical: format!("{}{path}", state.base.as_str()),
            path: path.to_string(),
            alternate: format!("{}/actor", state.base.as_str()),
            description: String::new(),
            og_type: "website",
        }
    }

    /// The query value of this page's path (the login link's `next`).
    pub fn next(&self) -> String {
        format::query_value(&self.path)
    }
}

/// A post as lists and thread pages show it.
pub struct PostItem {
    pub id: i64,
    pub title: String,
    /// The post's link, when it is one that may be followed (http or https).
    pub link: Option<String>,
    pub domain: Option<String>,
    /// Sanitised HTML of the body.
    pub html: Option<String>,
    pub author: String,
    pub author_path: String,
    pub community: String,
    pub community_path: String,
    pub age: String,
    pub published: String,
    pub edited: bool,
    pub score: i32,
    pub comments: i32,
    /// The home's count at the last sync, for a remote post whose copy here may be incomplete.
    pub remote_comments: Option<i32>,
    pub featured: bool,
    pub locked: bool,
    /// Where a remote post lives (its ActivityPub id, when a followable link).
    pub original: Option<String>,
}

impl PostItem {
    pub fn new(p: &PostView, now: DateTime<Utc>) -> Self {
        let link = p.url.as_deref().and_then(format::followable);
        Self {
            id: p.id.0,
            title: p.title.clone(),
            domain: link.as_deref().and_then(format::domain),
            link,
            html: p.body_html.clone().filter(|h| !h.is_empty()),
            author: format::handle(&p.creator_name, p.creator_local, &p.creator_authority),
            author_path: format::actor_path(
                "u",
                &p.creator_name,
                p.creator_local,
                &p.creator_authority,
            ),
            community: format::handle(&p.community_name, p.community_local, &p.community_authority),
            community_path: format::actor_path(
                "c",
                &p.community_name,
                p.community_local,
                &p.community_authority,
            ),
            age: format::age(p.published, now),
            published: p.published.to_rfc3339(),
            edited: p.updated.is_some(),
            score: p.score,
            comments: p.comment_count,
            remote_comments: p
                .remote_comment_count
                .filter(|remote| !p.local && *remote > p.comment_count),
            featured: p.featured,
            locked: p.locked,
            original: (!p.local).then(|| format::followable(&p.ap_id)).flatten(),
        }
    }
}

/// A link of a sort switch.
pub struct SortLink {
    pub name: &'static str,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: String,
    message: String,
}

/// An error page with `status`.
pub fn error_page(
    state: &AppState,
    viewer: &WebViewer,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> Response {
    let layout = Layout::new(state, viewer, heading, "/");
    page(
        status,
        &ErrorPage {
            layout,
            heading: heading.to_string(),
            message: message.to_string(),
        },
    )
}

/// The page for a database error: 404 for what does not exist, 400 for a cursor that is not
/// one of ours, 500 (logged) for anything else.
pub fn db_error(state: &AppState, viewer: &WebViewer, e: DbError) -> Response {
    match e {
        DbError::NotFound(what) => error_page(
            state,
            viewer,
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("There is no such {what} here."),
        ),
        DbError::BadCursor(_) => error_page(
            state,
            viewer,
            StatusCode::BAD_REQUEST,
            "Bad link",
            "This page link is not one of ours (or it belongs to another page).",
        ),
        e => {
            tracing::error!(error = %e, "a page's query failed");
            error_page(
                state,
                viewer,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The error has been logged.",
            )
        }
    }
}

/// Any other path the pages' router is given.
pub async fn not_found(State(state): State<AppState>, viewer: WebViewer, uri: Uri) -> Response {
    tracing::debug!(path = %uri.path(), "no page here");
    error_page(
        &state,
        &viewer,
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no page here.",
    )
}
