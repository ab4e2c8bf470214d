//! What federation code can reach: the database, who this node is, and an HTTP client.

use canopy_core::rate_limit::Limit;
use canopy_core::InstanceId;
use canopy_db::DbError;
use sqlx::PgPool;
use std::sync::Arc;

use crate::actor_cache::ActorCache;
use crate::governance::{FederationMode, Governance};
use crate::guard::FetchGuard;
use crate::limits::InboxLimiter;
use crate::node::StartError;
use crate::outbound::{self, Outbound};
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
    /// Blocked instances and the allow-list, kept current (see [`Governance`]).
    pub governance: Arc<Governance>,
    /// Thread backfills in the background (see [`crate::backfill`]); requests are ignored in a
    /// process that does not run them.
    pub backfill: Arc<crate::backfill::Backfills>,
    /// The instance actor's key for the fetches this node signs itself, loaded on first use.
    pub fetch_signer: Arc<tokio::sync::OnceCell<crate::fetch::FetchSigner>>,
}

impl FedContext {
    /// The context of the node at `base`: registers this node's instance row when the database
    /// is new (refusing a database that belongs to another public URL), builds the one outgoing
    /// HTTP client with `outbound`'s policy, and the inbox limiter allowing `inbox_limit` per
    /// remote instance. The actor cache and the fetch guard start empty. `mode`, when given, is
    /// written to the database (every process sharing it follows the last one started); the
    /// instance policy is loaded, and a task started that keeps it current.
    pub async fn build(
        db: PgPool,
        base: PublicBase,
        outbound: &outbound::Settings,
        inbox_limit: Limit,
        mode: Option<FederationMode>,
    ) -> Result<Self, StartError> {
        let instance_id = canopy_db::instances::ensure_local(&db, base.authority())
            .await
            .map_err(|e| match e {
                DbError::Conflict(_) => StartError::PublicUrlChanged(base.as_str().to_string()),
                other => StartError::Database(other),
            })?;
        if let Some(mode) = mode {
            canopy_db::governance::set_allowlist(&db, mode == FederationMode::Allowlist)
                .await
                .map_err(StartError::Database)?;
        }
        let governance = Governance::load(db.clone(), base.authority())
            .await
            .map_err(StartError::Database)?;
        governance.watch(crate::governance::REFRESH_INTERVAL);
        let http =
            Outbound::new(outbound, &base, Some(governance.clone())).map_err(StartError::Client)?;
        Ok(Self {
            db,
            base,
            instance_id,
            http,
            actors: Default::default(),
            guard: Default::default(),
            inbox_limiter: Arc::new(InboxLimiter::new(inbox_limit)),
            governance,
            backfill: Default::default(),
            fetch_signer: Default::default(),
        })
    }
}
