//! Canopy's ActivityPub side: actor keys, the URL layout of local objects, resolving remote
//! actors and objects, the inbox, and outgoing activities written to the outbox.
//!
//! This crate is the only one that knows ActivityStreams JSON.

pub mod actor_cache;
pub mod backfill;
pub mod context;
pub mod error;
pub mod fetch;
pub mod governance;
pub mod guard;
pub mod inbox;
pub mod json;
pub mod keys;
pub mod lemmy_api;
pub mod limits;
pub mod mentions;
pub mod node;
pub mod objects;
pub mod outbound;
pub mod outbox_fill;
pub mod outgoing;
pub mod protocol;
pub mod receive;
pub mod resolve;
pub mod routes;
pub mod signatures;
pub mod signed_fetch;
pub mod urls;

pub use context::FedContext;
pub use error::FedError;
pub use node::{Federation, StartError};

use axum::routing::post;
use axum::Router;

/// The inbox routes: the shared inbox and every actor's own inbox share one handler.
pub fn inbox_router<S: Clone + Send + Sync + 'static>(state: inbox::InboxState) -> Router<S> {
    Router::new()
        .route("/inbox", post(inbox::inbox))
        .route("/u/{name}/inbox", post(inbox::inbox))
        .route("/c/{name}/inbox", post(inbox::inbox))
        .with_state(state)
}
