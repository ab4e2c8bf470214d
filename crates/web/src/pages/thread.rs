//! A post with its comment tree (`/post/{id}`), and a comment's permalink (`/comment/{id}`: the
//! post, the comment's ancestors, the comment and its replies). Both read the tree a page at a
//! time exactly as the API does (`canopy_db::tree`), so a thread of any size is browsable: "more
//! replies" and "next page" links carry the tree's cursors.

use super::{db_error, error_page, Layout, PostItem, SortLink};
use crate::format;
use crate::render::page;
use crate::session::WebViewer;
use crate::tree::{self, CommentItem, Row, SORTS};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use canopy_api::AppState;
use canopy_core::{CommentId, PostId};
use canopy_db::tree::{CommentSort, TreeCursor, TreeRequest};
use canopy_db::DbError;
use chrono::Utc;
use serde::Deserialize;

/// Top-level comments (or direct replies on a permalink) per page.
const PAGE: i64 = 50;
/// Levels shown below them.
const DEPTH: u32 = 8;
/// Replies shown per comment per level before a "more replies" link.
const REPLIES_PER_COMMENT: i64 = 10;
/// Comments per page at every level.
const MAX_COMMENTS: i64 = 300;

#[derive(Debug, Deserialize)]
pub struct TreeQuery {
    sort: Option<String>,
    cursor: Option<String>,
}

fn parse_sort(raw: Option<&str>) -> Result<Option<CommentSort>, ()> {
    match raw {
        None | Some("") => Ok(None),
        Some(s) => SORTS
            .into_iter()
            .find(|x| tree::sort_name(*x) == s)
            .map(Some)
            .ok_or(()),
    }
}

/// The tree request for the children of `parent` of `post`, from the query's sort and cursor.
fn request(
    post: PostId,
    parent: Option<CommentId>,
    q: &TreeQuery,
    viewer: &WebViewer,
) -> Result<TreeRequest, DbError> {
    let sort = parse_sort(q.sort.as_deref()).map_err(|()| DbError::BadCursor("unknown sort"))?;
    let (parent, sort, after) = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        // A thread's page continues its top-level comments; a permalink its comment's replies.
        Some(raw) => match TreeCursor::continuing(raw, post, parent, sort)? {
            (p, _, _) if p != parent => {
                return Err(DbError::BadCursor(
                    "it lists the replies of another comment",
                ))
            }
            c => c,
        },
        None => (parent, sort.unwrap_or_default(), None),
    };
    Ok(TreeRequest {
        post,
        parent,
        sort,
        after,
        limit: PAGE,
        max_depth: DEPTH,
        replies_per_comment: REPLIES_PER_COMMENT,
        max_comments: MAX_COMMENTS,
        viewer: viewer.person(),
    })
}

fn sort_links(base: &str, current: CommentSort) -> Vec<SortLink> {
    SORTS
        .into_iter()
        .map(|s| SortLink {
            name: tree::sort_name(s),
            href: format!("{base}?sort={}", tree::sort_name(s)),
            current: s == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "thread.html")]
struct ThreadPage {
    layout: Layout,
    post: PostItem,
    sorts: Vec<SortLink>,
    rows: Vec<Row>,
    /// The next page of top-level comments.
    next: Option<String>,
    /// This is a later page (reached through a cursor).
    continued: bool,
}

/// `/post/{id}`.
pub async fn thread(
    State(state): State<AppState>,
    viewer: WebViewer,
    Path(id): Path<i64>,
    Query(q): Query<TreeQuery>,
) -> Response {
    match thread_page(&state, &viewer, PostId(id), &q).await {
        Ok(r) => r,
        Err(e) => db_error(&state, &viewer, e),
    }
}

async fn thread_page(
    state: &AppState,
    viewer: &WebViewer,
    id: PostId,
    q: &TreeQuery,
) -> Result<Response, DbError> {
    let post = canopy_db::posts::view(&state.db, id, viewer.person()).await?;
    if post.deleted || post.removed {
        return Ok(gone(state, viewer, post.removed));
    }
    let req = request(post.id, None, q, viewer)?;
    canopy_api::routes::comments::resync_if_stale(state, &post);
    let tree = canopy_db::tree::page(&state.db, &req).await?;
    let now = Utc::now();
    let path = format!("/post/{}", post.id.0);
    let mut layout = Layout::new(state, viewer, &post.title, &path);
    layout.alternate = post.ap_id.clone();
    layout.og_type = "article";
    layout.description = post
        .body_html
        .as_deref()
        .map(|h| format::excerpt(h, 200))
        .unwrap_or_default();
    let next = tree
        .next_cursor
        .as_ref()
        .map(|c| tree::page_link(&path, req.sort, c));
    let item = PostItem::new(&post, now);
    if layout.description.is_empty() {
        layout.description = format!("{} in {}", item.title, item.community);
    }
    Ok(page(
        StatusCode::OK,
        &ThreadPage {
            layout,
            sorts: sort_links(&path, req.sort),
            rows: tree::rows(&tree.comments, req.sort, now),
            next,
            continued: req.after.is_some(),
            post: item,
        },
    ))
}

fn gone(state: &AppState, viewer: &WebViewer, removed: bool) -> Response {
    let message = if removed {
        "This post was removed by a moderator."
    } else {
        "This post was deleted by its author."
    };
    error_page(state, viewer, StatusCode::GONE, "Gone", message)
}

#[derive(Template)]
#[template(path = "permalink.html")]
struct PermalinkPage {
    layout: Layout,
    post: PostItem,
    /// The ancestors, the comment itself (`focus`), its replies; then everything closes.
    ancestors: Vec<CommentItem>,
    focus: CommentItem,
    rows: Vec<Row>,
    next: Option<String>,
    sorts: Vec<SortLink>,
    parent_link: Option<String>,
}

/// `/comment/{id}`.
pub async fn permalink(
    State(state): State<AppState>,
    viewer: WebViewer,
    Path(id): Path<i64>,
    Query(q): Query<TreeQuery>,
) -> Response {
    match permalink_page(&state, &viewer, CommentId(id), &q).await {
        Ok(r) => r,
        Err(e) => db_error(&state, &viewer, e),
    }
}

async fn permalink_page(
    state: &AppState,
    viewer: &WebViewer,
    id: CommentId,
    q: &TreeQuery,
) -> Result<Response, DbError> {
    let comment = canopy_db::comments::view(&state.db, id, viewer.person()).await?;
    let post = canopy_db::posts::view(&state.db, comment.post_id, viewer.person()).await?;
    if post.deleted || post.removed {
        return Ok(gone(state, viewer, post.removed));
    }
    let req = request(post.id, Some(comment.id), q, viewer)?;
    let ancestors = canopy_db::comments::ancestors(&state.db, &comment, viewer.person()).await?;
    let tree = canopy_db::tree::page(&state.db, &req).await?;
    let now = Utc::now();
    let path = format!("/comment/{}", comment.id.0);
    let focus = CommentItem::new(&comment, now);
    let mut layout = Layout::new(
        state,
        viewer,
        &format!("{} on \u{201c}{}\u{201d}", focus.author, post.title),
        &path,
    );
    layout.alternate = comment.ap_id.clone();
    layout.og_type = "article";
    layout.description = focus
        .html
        .as_deref()
        .map(|h| format::excerpt(h, 200))
        .unwrap_or_default();
    let next = tree
        .next_cursor
        .as_ref()
        .map(|c| tree::page_link(&path, req.sort, c));
    let parent_link = comment
        .parent_id
        .map(|p| format!("/comment/{}", p.0))
        .or_else(|| Some(format!("/post/{}", post.id.0)));
    Ok(page(
        StatusCode::OK,
        &PermalinkPage {
            layout,
            post: PostItem::new(&post, now),
            ancestors: ancestors.iter().map(|a| CommentItem::new(a, now)).collect(),
            focus,
            rows: tree::rows(&tree.comments, req.sort, now),
            next,
            sorts: sort_links(&path, req.sort),
            parent_link,
        },
    ))
}
