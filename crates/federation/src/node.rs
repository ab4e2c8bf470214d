//! The federation side of a node, built once at start-up: the [`FedContext`] (database,
//! identity, the outgoing HTTP client, caches and limiters) and activitypub_federation's
//! configuration over it. The API resolves remote objects through it, the delivery workers send
//! with its context, and [`Federation::router`] serves the ActivityPub routes and the inbox.

use crate::context::FedContext;
use crate::error::FedError;
use crate::fetch::FedData;
use crate::inbox::InboxState;
use crate::outbound;
use crate::urls::PublicBase;
use activitypub_federation::config::FederationConfig;
use axum::Router;
use canopy_core::rate_limit::Limit;
use canopy_db::DbError;
use sqlx::PgPool;

/// Why the federation side could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database's local instance row names another authority: ids are URLs and cannot move.
    #[error(
        "this database belongs to another public URL than {0}; Canopy's ids are URLs and cannot move"
    )]
    PublicUrlChanged(String),
    #[error("registering this node's instance")]
    Database(#[source] DbError),
    #[error("building the outgoing HTTP client")]
    Client(#[source] outbound::BuildError),
    #[error("configuring ActivityPub")]
    Config(#[source] FedError),
}

/// A handle to the federation side of a running node; cheap to clone.
#[derive(Clone)]
pub struct Federation {
    context: FedContext,
    config: FederationConfig<FedContext>,
}

impl Federation {
    /// Build the federation side of the node at `base` (see [`FedContext::build`]), with the
    /// instance actor that signs its fetches.
    pub async fn start(
        db: PgPool,
        base: PublicBase,
        outbound: &outbound::Settings,
        inbox_limit: Limit,
        mode: Option<crate::governance::FederationMode>,
    ) -> Result<Self, StartError> {
        let context = FedContext::build(db, base, outbound, inbox_limit, mode).await?;
        let config = crate::fetch::federation_config(context.clone())
            .await
            .map_err(StartError::Config)?;
        Ok(Self { context, config })
    }

    /// Database, identity and HTTP client for ActivityPub work (what the workers send with).
    pub fn context(&self) -> &FedContext {
        &self.context
    }

    /// Request-scoped federation data: the context with a fresh remote-fetch budget.
    pub fn request_data(&self) -> FedData {
        self.config.to_request_data()
    }

    /// Run thread backfills in this process with `settings`: the triggers' requests and the
    /// background resync pass (see [`crate::backfill`]). Once per process; `None` when started
    /// already.
    pub fn start_backfills(
        &self,
        settings: crate::backfill::Settings,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let config = self.config.clone();
        self.context
            .backfill
            .start(settings, move || config.to_request_data())
    }

    /// The ActivityPub surface: WebFinger, NodeInfo, actor and object documents, and the inboxes.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        crate::routes::router()
            .with_state(self.context.clone())
            .merge(crate::inbox_router(InboxState {
                config: self.config.clone(),
            }))
    }
}
