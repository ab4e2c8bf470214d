//! What federation code can reach: the database, who this node is, and an HTTP client.

use canopy_core::InstanceId;
use sqlx::PgPool;
use std::sync::Arc;

use crate::actor_cache::ActorCache;
use crate::limits::InboxLimiter;
use crate::urls::PublicBase;

/// Shared by the ActivityPub routes, the inbox and the senders.
#[derive(Clone)]
pub struct FedContext {
    pub db: PgPool,
    pub base: PublicBase,
    pub instance_id: InstanceId,
    /// Client for fetching remote objects and delivering activities (rustls; loopback in tests).
    pub http: reqwest::Client,
    /// Remote actors seen recently by this process (see [`ActorCache`]).
    pub actors: Arc<ActorCache>,
    /// The inbox's rate limit per remote instance (see [`InboxLimiter`]).
    pub inbox_limiter: Arc<InboxLimiter>,
}
