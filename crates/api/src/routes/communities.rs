//! Communities: create, get by name, follow, resolve (the list: `routes::listing`).

use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use crate::limits::{ClientAddr, Writer};
use crate::views::CommunityView;
use crate::{validate, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use canopy_core::{content, limits};
use canopy_db::communities::NewLocalCommunity;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCommunity {
    /// 1–32 characters of a-z, 0-9 and _; part of the community's URL.
    pub name: String,
    pub title: String,
    /// Markdown.
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommunityList {
    pub communities: Vec<CommunityView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Create a local community; the creator becomes its moderator.
#[utoipa::path(post, path = "/api/v1/communities", tag = "communities", request_body = CreateCommunity,
    security(("bearer" = [])),
    responses((status = 201, body = CommunityView), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Writer(user): Writer,
    Json(req): Json<CreateCommunity>,
) -> ApiResult<(StatusCode, Json<CommunityView>)> {
    validate::name("name", &req.name)?;
    crate::routes::bans::refuse_banned(&state, user.person_id, None).await?;
    let title = validate::title("title", &req.title)?;
    if let Some(d) = &req.description {
        validate::markdown("description", d, limits::MAX_SUMMARY_BYTES, false)?;
    }
    let description_html = req.description.as_deref().map(content::markdown_to_html);
    let keys = tokio::task::spawn_blocking(canopy_federation::keys::generate_actor_keys)
        .await
        .map_err(|_| crate::error::ApiError::internal())?
        .map_err(|_| crate::error::ApiError::internal())?;
    let ap_id = state.base.community(&req.name);
    let community = canopy_db::communities::create_local(
        &state.db,
        &NewLocalCommunity {
            instance_id: state.instance_id,
            name: &req.name,
            title,
            description: req.description.as_deref(),
            description_html: description_html.as_deref(),
            ap_id: &ap_id,
            inbox_url: &format!("{ap_id}/inbox"),
            shared_inbox_url: &state.base.shared_inbox(),
            followers_url: &format!("{ap_id}/followers"),
            public_key_pem: &keys.public_key_pem,
            private_key_pem: &keys.private_key_pem,
            creator_id: user.person_id,
        },
    )
    .await
    .map_err(|e| match e {
        canopy_db::DbError::Conflict(_) => {
            crate::error::ApiError::conflict(format!("a community named `{}` exists", req.name))
        }
        other => other.into(),
    })?;
    tracing::info!(community_id = %community.id, name = %community.name, "community created");
    Ok((StatusCode::CREATED, Json(community.into())))
}

/// A community by name: `name` for a local one, `name@host` for a remote one.
#[utoipa::path(get, path = "/api/v1/communities/{name}", tag = "communities",
    params(("name" = String, Path, description = "`name` or `name@host`")),
    responses((status = 200, body = CommunityView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    viewer: crate::auth::Viewer,
    Path(name): Path<String>,
) -> ApiResult<Json<CommunityView>> {
    let community = canopy_db::communities::by_name(&state.db, &name).await?;
    let mut views = [CommunityView::from(community)];
    CommunityView::with_subscriptions(&state.db, viewer.person(), &mut views).await?;
    let [view] = views;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowRequest {
    /// A local community's `name`, a remote one's `name@host`, or its URL.
    pub community: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowResponse {
    pub community: CommunityView,
    /// True until the community's server accepts the follow.
    pub pending: bool,
}

/// Find a community by name, handle or URL, fetching a remote one.
async fn find_or_fetch(
    state: &AppState,
    what: &str,
) -> Result<canopy_db::actors::CommunityActor, crate::error::ApiError> {
    let data = state.fed_data();
    let url = if what.starts_with("https://") || what.starts_with("http://") {
        url::Url::parse(what)
            .map_err(|_| crate::error::ApiError::invalid("`community` is not a valid URL"))?
    } else if what.contains('@') {
        canopy_federation::fetch::webfinger(what, Some("Group"), &data).await?
    } else {
        let local = canopy_db::communities::by_name(&state.db, what).await?;
        return Ok(canopy_db::actors::community_by_id(&state.db, local.id).await?);
    };
    Ok(canopy_federation::fetch::community(&url, &data).await?)
}

/// Follow a community, local or remote. A remote community is fetched, and a Follow is sent;
/// the follow stays pending until its server accepts. Idempotent: following again leaves an
/// accepted follow as it is and sends nothing; a pending follow's Follow is sent again only when
/// the last one went out more than an hour ago.
#[utoipa::path(post, path = "/api/v1/communities/follow", tag = "communities", request_body = FollowRequest,
    security(("bearer" = [])),
    responses((status = 200, body = FollowResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn follow(
    State(state): State<AppState>,
    Writer(user): Writer,
    Json(req): Json<FollowRequest>,
) -> ApiResult<Json<FollowResponse>> {
    use canopy_db::follows::FollowRequest as Outcome;
    let community = find_or_fetch(&state, req.community.trim()).await?;
    let follower = canopy_db::actors::person_by_id(&state.db, user.person_id).await?;
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    let outcome = canopy_db::follows::request_community_follow(
        &mut tx,
        community.id,
        user.person_id,
        !community.local,
    )
    .await?;
    let (send, pending) = match outcome {
        Outcome::New { pending } => (pending, pending),
        Outcome::Resend => (true, true),
        Outcome::Unchanged { pending } => (false, pending),
    };
    if send {
        canopy_federation::outgoing::follow_community(
            &mut tx,
            &state.base,
            &follower,
            &community,
            false,
        )
        .await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    let mut view =
        CommunityView::from(canopy_db::communities::by_id(&state.db, community.id).await?);
    view.subscribed = if pending {
        crate::views::Subscribed::Pending
    } else {
        crate::views::Subscribed::Accepted
    };
    Ok(Json(FollowResponse {
        community: view,
        pending,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    /// By name; each with `subscribed` `pending` or `accepted`.
    pub communities: Vec<CommunityView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The communities the logged-in user follows (pending follows included), by name.
#[utoipa::path(get, path = "/api/v1/me/subscriptions", tag = "communities", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = SubscriptionList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn subscriptions(
    State(state): State<AppState>,
    crate::auth::Auth(user): crate::auth::Auth,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<SubscriptionList>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let (rows, next_cursor) =
        canopy_db::follows::subscribed(&state.db, user.person_id, params.cursor.as_deref(), limit)
            .await?;
    let communities = rows
        .into_iter()
        .map(|r| {
            let mut v = CommunityView::from(r.community);
            v.subscribed = if r.pending {
                crate::views::Subscribed::Pending
            } else {
                crate::views::Subscribed::Accepted
            };
            v
        })
        .collect();
    Ok(Json(SubscriptionList {
        communities,
        next_cursor,
    }))
}

/// Stop following a community (`name` or `name@host`).
#[utoipa::path(delete, path = "/api/v1/communities/{name}/follow", tag = "communities",
    params(("name" = String, Path, description = "`name` or `name@host`")), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn unfollow(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let community = canopy_db::communities::by_name(&state.db, &name).await?;
    let row = canopy_db::actors::community_by_id(&state.db, community.id).await?;
    let follower = canopy_db::actors::person_by_id(&state.db, user.person_id).await?;
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    let was = canopy_db::follows::unfollow_community(&mut tx, community.id, user.person_id).await?;
    if was && !row.local {
        canopy_federation::outgoing::follow_community(&mut tx, &state.base, &follower, &row, true)
            .await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    if !was {
        return Err(crate::error::ApiError::not_found("follow"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResolveParams {
    /// A URL of a remote user, community, post or comment, or a `name@host` handle.
    pub q: String,
}

/// What a URL or handle resolved to; exactly one field besides `kind` is set.
#[derive(Debug, Serialize, ToSchema)]
pub struct Resolved {
    /// `community`, `user`, `post` or `comment`.
    pub kind: &'static str,
    pub community: Option<CommunityView>,
    pub user: Option<crate::views::UserView>,
    pub post: Option<crate::views::PostJson>,
    pub comment: Option<crate::views::CommentJson>,
}

/// Resolve a remote object by URL (or an actor by handle), fetching and storing it, so that it
/// can be read through the same API as local content.
#[utoipa::path(get, path = "/api/v1/resolve", tag = "communities", params(ResolveParams),
    responses((status = 200, body = Resolved), (status = 400, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    client: ClientAddr,
    Query(params): Query<ResolveParams>,
) -> ApiResult<Json<Resolved>> {
    state.limits.resolve(client)?;
    Ok(Json(resolve_query(&state, params.q.trim()).await?))
}

/// Whether `q` is what [`resolve_query`] takes (an http(s) URL or a `name@host` handle, with an
/// optional leading `@` for a person or `!` for a community) rather than words to search for.
pub(crate) fn is_resolvable(q: &str) -> bool {
    if q.starts_with("https://") || q.starts_with("http://") {
        return !q.contains(char::is_whitespace);
    }
    let handle = q.strip_prefix(['@', '!']).unwrap_or(q);
    match handle.split_once('@') {
        Some((name, host)) => {
            !name.is_empty()
                && !host.is_empty()
                && !handle.contains(char::is_whitespace)
                && !host.contains(['@', '/'])
        }
        None => false,
    }
}

/// Resolve a URL or handle to the object it names, fetching and storing a remote one (the work
/// of `GET /resolve`, shared with search).
pub(crate) async fn resolve_query(
    state: &AppState,
    q: &str,
) -> Result<Resolved, crate::error::ApiError> {
    let data = state.fed_data();
    let url = if q.starts_with("https://") || q.starts_with("http://") {
        url::Url::parse(q).map_err(|_| crate::error::ApiError::invalid("`q` is not a valid URL"))?
    } else {
        // `!name@host` is a community's handle and `@name@host` a person's (as Lemmy writes
        // them): when a host has both under one name, the prefix picks.
        let want = match q.chars().next() {
            Some('!') => Some("Group"),
            Some('@') => Some("Person"),
            _ => None,
        };
        canopy_federation::fetch::webfinger(q, want, &data).await?
    };
    let empty = |kind| Resolved {
        kind,
        community: None,
        user: None,
        post: None,
        comment: None,
    };
    Ok(
        match canopy_federation::resolve::resolve(&url, &data).await? {
            canopy_federation::resolve::Found::Community(id) => {
                let c = canopy_db::communities::by_id(&state.db, id).await?;
                Resolved {
                    community: Some(c.into()),
                    ..empty("community")
                }
            }
            canopy_federation::resolve::Found::Person(id) => {
                let p = canopy_db::people::by_id(&state.db, id).await?;
                Resolved {
                    user: Some(p.into()),
                    ..empty("user")
                }
            }
            canopy_federation::resolve::Found::Post(id) => {
                let p = canopy_db::posts::view(&state.db, id, None).await?;
                Resolved {
                    post: Some(p.into()),
                    ..empty("post")
                }
            }
            canopy_federation::resolve::Found::Comment(id) => {
                let c = canopy_db::comments::view(&state.db, id, None).await?;
                Resolved {
                    comment: Some(c.into()),
                    ..empty("comment")
                }
            }
        },
    )
}
