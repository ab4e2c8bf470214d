//! Search: full-text over posts, comments, communities and users (`canopy_db::search`), or, for
//! a pasted URL or handle, the object it names (the resolution of `GET /resolve`).

use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::limits::ClientAddr;
use crate::routes::communities::{is_resolvable, resolve_query, Resolved};
use crate::{validate, AppState};
use axum::extract::State;
use canopy_db::search::{Filters, Hit, Kind, SearchType};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Longest search text, in characters (a URL may be as long as any link).
pub const MAX_QUERY_CHARS: usize = 256;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words (web search syntax: `"a phrase"`, `-excluded`, `or`), at most 256 characters; or an
    /// http(s) URL of an ActivityPub object, or a handle (`name@host`, `@user@host`,
    /// `!community@host`), which resolves to that object.
    pub q: String,
    /// `all` (default), `posts`, `comments`, `communities` or `users`.
    #[param(value_type = Option<String>, rename = "type")]
    #[serde(rename = "type")]
    pub kind: Option<SearchType>,
    /// Only posts and comments in this community (`name` or `name@host`).
    pub community: Option<String>,
    /// Only posts and comments by this user (`name` or `name@host`).
    pub author: Option<String>,
    /// 1–50, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (same `q`, type and filters).
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    /// Best first; each has `kind` and the one field of that kind set.
    pub results: Vec<Resolved>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// True when `q` was a URL or handle and `results` holds what it resolved to.
    pub resolved: bool,
}

fn hit(h: Hit) -> Resolved {
    let empty = |kind| Resolved {
        kind,
        community: None,
        user: None,
        post: None,
        comment: None,
    };
    match h {
        Hit::Post(p) => Resolved {
            post: Some(p.into()),
            ..empty("post")
        },
        Hit::Comment(c) => Resolved {
            comment: Some(c.into()),
            ..empty("comment")
        },
        Hit::Community(c) => Resolved {
            community: Some(c.into()),
            ..empty("community")
        },
        Hit::User(u) => Resolved {
            user: Some(u.into()),
            ..empty("user")
        },
    }
}

/// When `q` is a pasted URL or handle (rather than words): the object it names, fetched and
/// stored when remote (under the resolve rate limit of `client`), or `Some(None)` when `viewer`
/// may not see it (what a search would leave out). `None` when `q` is words to search for.
pub async fn resolve_pasted(
    state: &AppState,
    client: ClientAddr,
    q: &str,
    viewer: Option<canopy_core::PersonId>,
) -> ApiResult<Option<Option<Resolved>>> {
    if !is_resolvable(q) {
        return Ok(None);
    }
    if q.len() > canopy_core::limits::MAX_URL_BYTES {
        return Err(ApiError::invalid(format!(
            "`q` must be at most {} bytes",
            canopy_core::limits::MAX_URL_BYTES
        )));
    }
    state.limits.resolve(client)?;
    let found = resolve_query(state, q).await?;
    let target = match (&found.post, &found.comment, &found.community, &found.user) {
        (Some(p), _, _, _) => (Kind::Post, p.id),
        (_, Some(c), _, _) => (Kind::Comment, c.id),
        (_, _, Some(c), _) => (Kind::Community, c.id),
        (_, _, _, Some(u)) => (Kind::User, u.id),
        _ => return Err(ApiError::internal()),
    };
    let shown = canopy_db::search::visible(&state.db, target.0, target.1, viewer).await?;
    Ok(Some(shown.then_some(found)))
}

/// Search posts, comments, communities and users by text, ranked (title and name words above
/// body words), a page at a time; hidden content (deleted, removed, refused instances, what the
/// caller blocks) never matches. A pasted URL or handle answers with the object it names.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResults), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    viewer: Viewer,
    client: ClientAddr,
    Query(params): Query<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    let q = params.q.trim();
    if q.is_empty() {
        return Err(ApiError::invalid("`q` must not be empty"));
    }
    let limit = validate::page_size("limit", params.limit, 20, 50)?;
    let what = params.kind.unwrap_or_default();
    if let Some(found) = resolve_pasted(&state, client, q, viewer.person()).await? {
        return Ok(Json(SearchResults {
            results: found.into_iter().collect(),
            next_cursor: None,
            resolved: true,
        }));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid(format!(
            "`q` must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let mut filters = Filters::default();
    if let Some(name) = params.community.as_deref().filter(|n| !n.trim().is_empty()) {
        filters.community = Some(
            canopy_db::communities::by_name(&state.db, name.trim())
                .await?
                .id,
        );
    }
    if let Some(name) = params.author.as_deref().filter(|n| !n.trim().is_empty()) {
        filters.author = Some(
            canopy_db::people::by_handle(&state.db, name.trim())
                .await?
                .id,
        );
    }
    if !filters.is_empty() && matches!(what, SearchType::Communities | SearchType::Users) {
        return Err(ApiError::invalid(
            "`community` and `author` narrow posts and comments only",
        ));
    }
    let (hits, next_cursor) = canopy_db::search::search(
        &state.db,
        q,
        what,
        filters,
        params.cursor.as_deref(),
        limit,
        viewer.person(),
    )
    .await?;
    Ok(Json(SearchResults {
        results: hits.into_iter().map(hit).collect(),
        next_cursor,
        resolved: false,
    }))
}
