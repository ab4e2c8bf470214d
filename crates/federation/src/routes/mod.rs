//! The ActivityPub discovery surface: WebFinger, NodeInfo, the instance actor, and the actor and
//! object documents at the ids stored with every row (`/u/{name}`, `/c/{name}`, `/post/{id}`,
//! `/comment/{id}`). Actor and object URLs answer ActivityPub peers with JSON and browsers with
//! HTML. The inbox routes live beside these, in `inbox`.

pub mod actors;
pub mod error;
pub mod extract;
pub mod html;
pub mod instance_actor;
pub mod negotiate;
pub mod nodeinfo;
pub mod objects;
pub mod outboxes;
pub mod threads;
pub mod webfinger;

pub use error::RouteError;

use crate::FedContext;
use axum::routing::get;
use axum::Router;

/// Every discovery route; the caller adds the state (`.with_state(ctx)`) and merges it.
pub fn router() -> Router<FedContext> {
    Router::new()
        .route("/.well-known/webfinger", get(webfinger::webfinger))
        .route("/.well-known/nodeinfo", get(nodeinfo::links))
        .route("/nodeinfo/2.1", get(nodeinfo::nodeinfo))
        .route("/", get(instance_actor::root))
        .route("/actor", get(instance_actor::actor))
        .route("/actor/outbox", get(instance_actor::outbox))
        .route("/u/{name}", get(actors::person))
        .route("/u/{name}/outbox", get(outboxes::person_outbox))
        .route("/u/{name}/followers", get(actors::person_followers))
        .route("/c/{name}", get(actors::group))
        .route("/c/{name}/outbox", get(outboxes::group_outbox))
        .route("/c/{name}/followers", get(actors::group_followers))
        .route("/c/{name}/moderators", get(actors::group_moderators))
        .route("/c/{name}/featured", get(actors::group_featured))
        .route("/post/{id}", get(objects::page))
        .route("/comment/{id}", get(objects::note))
        .route("/post/{id}/context", get(threads::post_context))
        .route("/post/{id}/replies", get(threads::post_replies))
        .route("/comment/{id}/replies", get(threads::comment_replies))
}
