//! What federation code can reach: the database, who this node is, and an HTTP client.

use canopy_core::InstanceId;
use sqlx::PgPool;
use std::sync::Arc;

use crate::actor_cache::ActorCache;
use crate::guard::FetchGuard;
use crate::limits::InboxLimiter;
use crate::outbound::Outbound;
use crate::urls::PublicBase;

/// Shared by the ActivityPub routes, the inbox and the senders.
#[derive(Clone)]
pub struct FedContext {
    pub db: PgPool,
    pub base: PublicBase,
    pub instance_id: InstanceId,
    /// The one way out: every request to another server goes through it (see
    /// [`crate::outbound`]).
    pub http: Outbound,
    /// Remote actors seen recently by this process (see [`ActorCache`]).
    pub actors: Arc<ActorCache>,
    /// Bounds on the fetching outsiders can cause: key refetches, failing hosts (see [`FetchGuard`]).
    pub guard: Arc<FetchGuard>,
    /// The inbox's rate limit per remote instance (see [`InboxLimiter`]).
    pub inbox_limiter: Arc<InboxLimiter>,
}
