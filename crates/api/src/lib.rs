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

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use canopy_core::InstanceId;
use canopy_db::PgPool;
use canopy_federation::inbox::InboxState;
use canopy_federation::urls::PublicBase;
use canopy_federation::FedContext;
use routes::{admin, comments, communities, meta, posts};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// What every handler can reach: the pool, who this node is, and the federation side.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub base: PublicBase,
    pub instance_id: InstanceId,
    /// Database, identity and HTTP client for ActivityPub work.
    pub fed: FedContext,
    /// activitypub_federation's configuration (fetch limits, debug mode) for the inbox.
    pub inbox: InboxState,
    /// Registration setting and the rate limiters of the API (see [`limits`]).
    pub limits: Arc<limits::Limiters>,
}

/// Settings of the node that the HTTP surface and its federation side read; the binary fills
/// them from the configuration file. Each concern adds its own field with its own defaults.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The outbound policy: which addresses requests may reach, the host table, timeouts.
    pub outbound: canopy_federation::outbound::Settings,
    // --- Abuse limits: registration, rate limits, client addresses behind proxies ---
    /// Registration open or closed, the rate limits of the API and of the inbox, and the
    /// reverse proxies whose forwarding headers are believed.
    pub limits: limits::Limits,
    // --- end of abuse limits ---
}

impl Options {
    /// These options with `limits` in place of theirs.
    pub fn with_limits(mut self, limits: limits::Limits) -> Self {
        self.limits = limits;
        self
    }
}

impl AppState {
    /// Build the state with default [`Options`], registering this node's instance row when the
    /// database is new.
    pub async fn new(db: PgPool, base: PublicBase) -> Result<Self, ApiError> {
        Self::with_options(db, base, Options::default()).await
    }

    /// Build the state, registering this node's instance row when the database is new.
    pub async fn with_options(
        db: PgPool,
        base: PublicBase,
        options: Options,
    ) -> Result<Self, ApiError> {
        let Options { outbound, limits } = options;
        let instance_id = canopy_db::instances::ensure_local(&db, &base.authority())
            .await
            .map_err(|e| match e {
                canopy_db::DbError::Conflict(_) => ApiError::conflict(format!(
                    "this database belongs to another public URL than {}; \
                     Canopy's ids are URLs and cannot move",
                    base.as_str()
                )),
                other => other.into(),
            })?;
        let http = canopy_federation::outbound::Outbound::new(&outbound, &base).map_err(|e| {
            tracing::error!(error = %e, "HTTP client");
            ApiError::internal()
        })?;
        let fed = FedContext {
            db: db.clone(),
            base: base.clone(),
            instance_id,
            http,
            actors: Default::default(),
            guard: Default::default(),
            inbox_limiter: Arc::new(canopy_federation::limits::InboxLimiter::new(limits.inbox)),
        };
        let config = canopy_federation::fetch::federation_config(fed.clone()).await?;
        Ok(Self {
            db,
            base,
            instance_id,
            fed,
            inbox: InboxState { config },
            limits: Arc::new(limits::Limiters::new(&limits)),
        })
    }

    /// Request-scoped federation data (a fresh remote-fetch budget).
    pub fn fed_data(&self) -> canopy_federation::fetch::FedData {
        self.inbox.config.to_request_data()
    }
}

/// The whole HTTP surface of the node. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`: the rate limits count requests by
/// the client's address.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(meta::health))
        .route("/openapi.json", get(meta::openapi))
        .route("/accounts", post(accounts::register))
        .route("/sessions", post(accounts::login))
        .route("/sessions/current", axum::routing::delete(accounts::logout))
        .route("/me", get(accounts::me))
        .route("/users/{name}", get(accounts::get_user))
        .route(
            "/communities",
            post(communities::create).get(communities::list),
        )
        .route("/communities/{name}", get(communities::get))
        .route("/communities/follow", post(communities::follow))
        .route(
            "/communities/{name}/follow",
            axum::routing::delete(communities::unfollow),
        )
        .route("/resolve", get(communities::resolve))
        .route("/communities/{name}/posts", get(posts::list))
        .route("/posts", post(posts::create))
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
        .route("/admin/queue", get(admin::queue));

    Router::new()
        .nest("/api/v1", api)
        .merge(canopy_federation::routes::router().with_state(state.fed.clone()))
        .merge(canopy_federation::inbox_router(state.inbox.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(
            canopy_core::limits::MAX_REQUEST_BODY_BYTES,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}
