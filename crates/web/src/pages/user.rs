//! A person's page (`/u/{name}`, `/u/name@host` for a remote one): the profile, then their posts
//! or their comments, newest first, a page at a time (`canopy_db::profiles`).

use super::{db_error, Layout, PostItem, SortLink};
use crate::format;
use crate::render::page;
use crate::session::WebViewer;
use crate::tree::CommentItem;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use canopy_api::AppState;
use canopy_db::DbError;
use chrono::Utc;
use serde::Deserialize;

/// Items per page.
const PAGE: i64 = 20;

#[derive(Debug, Deserialize)]
pub struct UserQuery {
    show: Option<String>,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    layout: Layout,
    shown: String,
    handle: String,
    bio: Option<String>,
    joined: String,
    joined_age: String,
    remote: bool,
    admin: bool,
    avatar: Option<String>,
    tabs: Vec<SortLink>,
    posts: Vec<PostItem>,
    /// A user's comments, each with its post's id.
    comments: Vec<(CommentItem, i64)>,
    show_comments: bool,
    next: Option<String>,
}

/// `/u/{name}`.
pub async fn user(
    State(state): State<AppState>,
    viewer: WebViewer,
    Path(name): Path<String>,
    Query(q): Query<UserQuery>,
) -> Response {
    match user_page(&state, &viewer, &name, &q).await {
        Ok(r) => r,
        Err(e) => db_error(&state, &viewer, e),
    }
}

async fn user_page(
    state: &AppState,
    viewer: &WebViewer,
    name: &str,
    q: &UserQuery,
) -> Result<Response, DbError> {
    let person = canopy_db::people::by_handle(&state.db, name).await?;
    if person.deleted {
        return Err(DbError::NotFound("user"));
    }
    let handle = format::handle(&person.name, person.local, &person.authority);
    let shown = person
        .display_name
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| person.name.clone());
    let path = format!("/u/{}", format::segment(&handle));
    let mut layout = Layout::new(state, viewer, &shown, &path);
    layout.alternate = person.ap_id.clone();
    layout.og_type = "profile";
    layout.description = person
        .bio_html
        .as_deref()
        .map(|h| format::excerpt(h, 200))
        .unwrap_or_else(|| format!("@{handle}"));
    let show_comments = match q.show.as_deref() {
        None | Some("" | "posts") => false,
        Some("comments") => true,
        Some(_) => return Err(DbError::BadCursor("unknown list")),
    };
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty());
    let now = Utc::now();
    let (posts, comments, next_cursor) = if show_comments {
        let (rows, next) =
            canopy_db::profiles::comments_by(&state.db, person.id, viewer.person(), cursor, PAGE)
                .await?;
        let items = rows
            .iter()
            .map(|c| (CommentItem::new(c, now), c.post_id.0))
            .collect();
        (Vec::new(), items, next)
    } else {
        let (rows, next) =
            canopy_db::profiles::posts_by(&state.db, person.id, viewer.person(), cursor, PAGE)
                .await?;
        (
            rows.iter().map(|p| PostItem::new(p, now)).collect(),
            Vec::new(),
            next,
        )
    };
    let show = if show_comments { "comments" } else { "posts" };
    let tabs = ["posts", "comments"]
        .into_iter()
        .map(|t| SortLink {
            name: t,
            href: format!("{path}?show={t}"),
            current: t == show,
        })
        .collect();
    let next =
        next_cursor.map(|c| format!("{path}?show={show}&cursor={}", format::query_value(&c)));
    Ok(page(
        StatusCode::OK,
        &UserPage {
            layout,
            shown,
            bio: person.bio_html.clone().filter(|b| !b.is_empty()),
            joined: person.created_at.to_rfc3339(),
            joined_age: format::age(person.created_at, Utc::now()),
            remote: !person.local,
            admin: person.is_admin,
            avatar: person.avatar_url.as_deref().and_then(format::followable),
            tabs,
            posts,
            comments,
            show_comments,
            next,
            handle,
        },
    ))
}
