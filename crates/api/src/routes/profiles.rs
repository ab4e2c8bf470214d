//! Profiles: the logged-in user's profile and settings, and what a user (local or remote) wrote,
//! a page at a time.

use crate::auth::{Auth, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::limits::Writer;
use crate::views::{CommentJson, PostJson, UserView};
use crate::{validate, AppState};
use axum::extract::State;
use canopy_core::{content, limits};
use canopy_db::profiles::{self as db, Profile, Settings};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Sorts a client may keep as its user's default (those of the post listings).
pub const SORTS: [&str; 6] = [
    "hot",
    "active",
    "new",
    "top",
    "most_comments",
    "controversial",
];
/// Listings a client may keep as its user's default.
pub const LISTINGS: [&str; 3] = ["all", "local", "subscribed"];

/// A field that may be absent (unchanged), `null` (cleared) or set.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A change of the logged-in user's profile and settings. Absent fields stay as they are;
/// `null` (or an empty string) clears a profile field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    /// At most 200 characters, one line.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    /// Markdown, at most 5,000 bytes; rendered to sanitised HTML (`bio_html`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub bio: Option<Option<String>>,
    /// An absolute http(s) URL of a picture elsewhere (not an upload), at most 2,000 bytes.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub avatar_url: Option<Option<String>>,
    /// An absolute http(s) URL of a banner picture elsewhere, at most 2,000 bytes.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub banner_url: Option<Option<String>>,
    /// `hot`, `active`, `new`, `top`, `most_comments` or `controversial`.
    pub default_sort: Option<String>,
    /// `all`, `local` or `subscribed`.
    pub default_listing: Option<String>,
}

/// A local user's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsJson {
    pub default_sort: String,
    pub default_listing: String,
}

impl From<Settings> for SettingsJson {
    fn from(s: Settings) -> Self {
        Self {
            default_sort: s.default_sort,
            default_listing: s.default_listing,
        }
    }
}

/// The logged-in user: their profile and their settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    pub settings: SettingsJson,
}

/// The logged-in user with their settings.
pub async fn me_view(state: &AppState, person: canopy_core::PersonId) -> ApiResult<MeView> {
    let user = canopy_db::people::by_id(&state.db, person).await?;
    let settings = db::settings(&state.db, person).await?;
    Ok(MeView {
        user: user.into(),
        settings: settings.into(),
    })
}

/// A new value for an optional text: `None` keeps `old`, `Some(None)` or blank clears it.
fn merged(new: Option<Option<String>>, old: Option<String>) -> Option<String> {
    match new {
        None => old,
        Some(v) => v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
    }
}

fn one_of(field: &str, value: String, allowed: &[&str]) -> Result<String, ApiError> {
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(ApiError::invalid(format!(
            "`{field}` must be one of {}",
            allowed.join(", ")
        )))
    }
}

/// Change the logged-in user's profile and settings. A change of the profile is sent as an
/// `Update` of their Person to the servers that follow them or host (or follow) communities they
/// wrote in.
#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", request_body = ProfileChange,
    security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn edit_me(
    State(state): State<AppState>,
    Writer(user): Writer,
    Json(req): Json<ProfileChange>,
) -> ApiResult<Json<MeView>> {
    let person = canopy_db::people::by_id(&state.db, user.person_id).await?;
    let settings = db::settings(&state.db, user.person_id).await?;
    let display_name = merged(req.display_name, person.display_name);
    if let Some(d) = &display_name {
        validate::title("display_name", d)?;
    }
    let bio = merged(req.bio, person.bio);
    if let Some(b) = &bio {
        validate::markdown("bio", b, limits::MAX_SUMMARY_BYTES, false)?;
    }
    let bio_html = bio.as_deref().map(content::markdown_to_html);
    let avatar_url = merged(req.avatar_url, person.avatar_url);
    if let Some(u) = &avatar_url {
        validate::link("avatar_url", u)?;
    }
    let banner_url = merged(req.banner_url, person.banner_url);
    if let Some(u) = &banner_url {
        validate::link("banner_url", u)?;
    }
    let settings = Settings {
        default_sort: match req.default_sort {
            Some(s) => one_of("default_sort", s, &SORTS)?,
            None => settings.default_sort,
        },
        default_listing: match req.default_listing {
            Some(s) => one_of("default_listing", s, &LISTINGS)?,
            None => settings.default_listing,
        },
    };
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    let changed = db::update_profile(
        &mut tx,
        user.person_id,
        &Profile {
            display_name: display_name.as_deref(),
            bio: bio.as_deref(),
            bio_html: bio_html.as_deref(),
            avatar_url: avatar_url.as_deref(),
            banner_url: banner_url.as_deref(),
        },
    )
    .await?;
    db::update_settings(&mut tx, user.person_id, &settings).await?;
    if changed {
        canopy_federation::outgoing::person_updated(&mut tx, &state.base, user.person_id).await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    Ok(Json(me_view(&state, user.person_id).await?))
}

/// The logged-in user with their settings.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(State(state): State<AppState>, Auth(user): Auth) -> ApiResult<Json<MeView>> {
    Ok(Json(me_view(&state, user.person_id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPosts {
    /// Newest first.
    pub posts: Vec<PostJson>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserComments {
    /// Newest first.
    pub comments: Vec<CommentJson>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A user's posts, newest first (deleted and removed ones left out).
#[utoipa::path(get, path = "/api/v1/users/{name}/posts", tag = "accounts",
    params(("name" = String, Path, description = "`name` or `name@host`"), PageParams),
    responses((status = 200, body = UserPosts), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn posts(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(params): Query<PageParams>,
) -> ApiResult<Json<UserPosts>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let person = canopy_db::people::by_handle(&state.db, &name).await?;
    let (rows, next_cursor) = db::posts_by(
        &state.db,
        person.id,
        viewer.person(),
        params.cursor.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(UserPosts {
        posts: rows.into_iter().map(PostJson::from).collect(),
        next_cursor,
    }))
}

/// A user's comments, newest first (deleted and removed ones, and those under deleted or
/// removed posts, left out).
#[utoipa::path(get, path = "/api/v1/users/{name}/comments", tag = "accounts",
    params(("name" = String, Path, description = "`name` or `name@host`"), PageParams),
    responses((status = 200, body = UserComments), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn comments(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(params): Query<PageParams>,
) -> ApiResult<Json<UserComments>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let person = canopy_db::people::by_handle(&state.db, &name).await?;
    let (rows, next_cursor) = db::comments_by(
        &state.db,
        person.id,
        viewer.person(),
        params.cursor.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(UserComments {
        comments: rows.into_iter().map(CommentJson::from).collect(),
        next_cursor,
    }))
}
