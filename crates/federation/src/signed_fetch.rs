//! The instance actor as activitypub_federation sees it, so that the library signs every fetch
//! this node makes with the instance actor's key (servers in "authorized fetch" mode, such as
//! Mastodon's secure mode, refuse unsigned fetches).

use crate::error::FedError;
use crate::protocol::actors::{instance_actor_id, Application};
use crate::FedContext;
use activitypub_federation::config::Data;
use activitypub_federation::traits::{Actor, Object};
use canopy_db::published::InstanceActorKeys;
use url::Url;

/// This node's own actor (`/actor`), with its key pair.
#[derive(Debug, Clone)]
pub struct InstanceActor {
    id: Url,
    inbox: Url,
    keys: InstanceActorKeys,
}

impl InstanceActor {
    pub fn new(ctx: &FedContext, keys: InstanceActorKeys) -> Result<Self, FedError> {
        let id = Url::parse(&instance_actor_id(&ctx.base))
            .map_err(|e| FedError::Internal(e.to_string()))?;
        let inbox =
            Url::parse(&ctx.base.shared_inbox()).map_err(|e| FedError::Internal(e.to_string()))?;
        Ok(Self { id, inbox, keys })
    }
}

#[async_trait::async_trait]
impl Object for InstanceActor {
    type DataType = FedContext;
    type Kind = Application;
    type Error = FedError;

    fn id(&self) -> &Url {
        &self.id
    }

    /// Only our own instance actor is ever read this way.
    async fn read_from_id(
        object_id: Url,
        data: &Data<FedContext>,
    ) -> Result<Option<Self>, FedError> {
        if object_id.as_str() != instance_actor_id(&data.base) {
            return Ok(None);
        }
        let keys = crate::routes::instance_actor::instance_actor_keys(&data.db, data.instance_id)
            .await
            .map_err(|e| FedError::Internal(e.to_string()))?;
        Ok(Some(InstanceActor::new(data, keys)?))
    }

    async fn into_json(self, data: &Data<FedContext>) -> Result<Application, FedError> {
        Ok(Application::new(&self.keys, &data.base))
    }

    async fn verify(
        _json: &Application,
        _expected_domain: &Url,
        _data: &Data<FedContext>,
    ) -> Result<(), FedError> {
        Err(FedError::bad(
            "other servers' instance actors are not stored",
        ))
    }

    async fn from_json(_json: Application, _data: &Data<FedContext>) -> Result<Self, FedError> {
        Err(FedError::bad(
            "other servers' instance actors are not stored",
        ))
    }
}

impl Actor for InstanceActor {
    fn public_key_pem(&self) -> &str {
        &self.keys.public_key_pem
    }

    fn private_key_pem(&self) -> Option<String> {
        Some(self.keys.private_key_pem.clone())
    }

    fn inbox(&self) -> Url {
        self.inbox.clone()
    }
}
