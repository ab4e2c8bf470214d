//! Canopy's REST API: JSON under `/api/v1`, bearer tokens, one error shape
//! (`{"error": code, "message": text}`), cursor pagination. Conventions are in docs/API.md.
//!
//! This crate knows HTTP request and response shapes; it reaches the database only through
//! `canopy_db` and never sees ActivityStreams JSON.

pub mod auth;
pub mod error;
pub mod extract;
pub mod limits;
pub mod openapi;
pub mod routes;
pub mod validate;
pub mod views;

pub use error::ApiError;
pub use routes::accounts;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use canopy_core::InstanceId;
use canopy_db::PgPool;
use canopy_federation::urls::PublicBase;
use canopy_federation::Federation;
use routes::{
    admin, bans, blocks, comments, communities, listing, meta, moderation, notifications, posts,
    profiles, reports, saved, search,
};
use std::sync::Arc;

/// What every handler can reach: the pool, who this node is, the federation side it resolves
/// remote objects through, and the API's rate limiters.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub base: PublicBase,
    pub instance_id: InstanceId,
    /// The node's federation side, built by whoever composes the node.
    pub federation: Federation,
    /// Registration setting and the rate limiters of the API (see [`limits`]).
    pub limits: Arc<limits::Limiters>,
}

impl AppState {
    /// The API of the node whose federation side is `federation`, with the abuse settings
    /// `limits` (the inbox's limit among them belongs to `federation`, which enforces it).
    pub fn new(federation: Federation, limits: &limits::Limits) -> Self {
        let fed = federation.context();
        Self {
            db: fed.db.clone(),
            base: fed.base.clone(),
            instance_id: fed.instance_id,
            limits: Arc::new(limits::Limiters::new(limits)),
            federation,
        }
    }

    /// Request-scoped federation data (a fresh remote-fetch budget).
    pub fn fed_data(&self) -> canopy_federation::fetch::FedData {
        self.federation.request_data()
    }
}

/// The REST API: every route under `/api/v1`. The node merges it with the federation routes
/// and serves it with `into_make_service_with_connect_info::<SocketAddr>()`: the rate limits
/// count requests by the client's address.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(meta::health))
        .route("/openapi.json", get(meta::openapi))
        .route("/accounts", post(accounts::register))
        .route("/sessions", post(accounts::login))
        .route("/sessions/current", axum::routing::delete(accounts::logout))
        .route("/me", get(profiles::me).patch(profiles::edit_me))
        .route("/me/saved", get(saved::list))
        .route("/me/subscriptions", get(communities::subscriptions))
        .route("/users/{name}", get(accounts::get_user))
        .route("/users/{name}/posts", get(profiles::posts))
        .route("/users/{name}/comments", get(profiles::comments))
        .route("/notifications", get(notifications::list))
        .route("/notifications/count", get(notifications::count))
        .route(
            "/notifications/mark_all_read",
            post(notifications::mark_all_read),
        )
        .route(
            "/notifications/{id}/read",
            put(notifications::mark_read).delete(notifications::mark_unread),
        )
        .route(
            "/posts/{id}/save",
            put(saved::save_post).delete(saved::unsave_post),
        )
        .route(
            "/comments/{id}/save",
            put(saved::save_comment).delete(saved::unsave_comment),
        )
        .route(
            "/communities",
            post(communities::create).get(listing::communities),
        )
        .route(
            "/communities/{name}",
            get(communities::get).patch(moderation::edit_community),
        )
        .route("/communities/follow", post(communities::follow))
        .route(
            "/communities/{name}/follow",
            axum::routing::delete(communities::unfollow),
        )
        .route("/resolve", get(communities::resolve))
        .route("/communities/{name}/posts", get(listing::community_posts))
        .route("/posts", post(posts::create).get(listing::front_page))
        .route("/search", get(search::search))
        .route(
            "/posts/{id}",
            get(posts::get).patch(posts::edit).delete(posts::delete),
        )
        .route("/posts/{id}/vote", post(posts::vote))
        .route("/posts/{id}/comments", get(comments::tree))
        .route("/comments", post(comments::create))
        .route(
            "/comments/{id}",
            get(comments::get)
                .patch(comments::edit)
                .delete(comments::delete),
        )
        .route("/comments/{id}/vote", post(comments::vote))
        .route("/comments/{id}/replies", get(comments::replies))
        .route("/posts/{id}/remove", post(moderation::remove_post))
        .route("/posts/{id}/restore", post(moderation::restore_post))
        .route("/posts/{id}/lock", post(moderation::lock_post))
        .route("/posts/{id}/unlock", post(moderation::unlock_post))
        .route("/posts/{id}/feature", post(moderation::feature_post))
        .route("/posts/{id}/unfeature", post(moderation::unfeature_post))
        .route("/comments/{id}/remove", post(moderation::remove_comment))
        .route("/comments/{id}/restore", post(moderation::restore_comment))
        .route(
            "/communities/{name}/moderators",
            get(moderation::moderators)
                .post(moderation::add_moderator)
                .delete(moderation::remove_moderator),
        )
        .route("/modlog", get(moderation::modlog))
        .route(
            "/communities/{name}/bans",
            get(bans::community_bans).post(bans::ban_from_community),
        )
        .route(
            "/communities/{name}/bans/{person}",
            axum::routing::delete(bans::unban_from_community),
        )
        .route("/admin/bans", get(bans::site_bans).post(bans::site_ban))
        .route(
            "/admin/bans/{person}",
            axum::routing::delete(bans::site_unban),
        )
        .route("/me/blocks", get(blocks::list))
        .route(
            "/me/blocks/people/{person}",
            put(blocks::block_person).delete(blocks::unblock_person),
        )
        .route(
            "/me/blocks/communities/{name}",
            put(blocks::block_community).delete(blocks::unblock_community),
        )
        .route("/posts/{id}/report", post(reports::report_post))
        .route("/comments/{id}/report", post(reports::report_comment))
        .route("/reports", get(reports::list))
        .route("/reports/{id}/resolve", post(reports::resolve))
        .route("/reports/{id}/reopen", post(reports::reopen))
        .route("/admin/queue", get(admin::queue))
        .route("/admin/resync", post(admin::resync))
        .route("/admin/instances", get(admin::instances))
        .route(
            "/admin/instances/{host}/block",
            put(admin::block).delete(admin::unblock),
        )
        .route(
            "/admin/instances/{host}/allow",
            put(admin::allow).delete(admin::disallow),
        );

    Router::new().nest("/api/v1", api).with_state(state)
}

/// The answer to a request no route matches, in the API's error shape.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// The answer to a method a route does not take, in the API's error shape.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// The answer to a request whose handler panicked: a 500 in the API's error shape.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal().into_response()
}
