//! Resolve any URL to a stored row: an actor, a post or a comment, fetching it when unknown.

use crate::error::FedError;
use crate::fetch::{self, Actor, FedData};
use crate::json::kind_of;
use crate::objects::{self, Stored};
use canopy_core::{CommentId, CommunityId, PersonId, PostId};
use url::Url;

/// What a URL names.
#[derive(Debug, Clone, Copy)]
pub enum Found {
    Person(PersonId),
    Community(CommunityId),
    Post(PostId),
    Comment(CommentId),
}

pub async fn resolve(url: &Url, data: &FedData) -> Result<Found, FedError> {
    if let Some(p) = canopy_db::actors::person_by_ap_id(&data.db, url.as_str()).await? {
        return Ok(Found::Person(p.id));
    }
    if let Some(c) = canopy_db::actors::community_by_ap_id(&data.db, url.as_str()).await? {
        return Ok(Found::Community(c.id));
    }
    let json = fetch::fetch_json(url, data).await.or_else(|e| match e {
        // A local URL that is not an actor may still be a post or comment.
        FedError::NotFound(_) => Ok(serde_json::Value::Null),
        other => Err(other),
    })?;
    let stored = match kind_of(&json) {
        "Person" | "Group" | "Service" | "Application" | "Organization" => {
            return Ok(match fetch::store_actor(url, &json, data).await? {
                Actor::Person(p) => Found::Person(p.id),
                Actor::Community(c) => Found::Community(c.id),
            });
        }
        "" => objects::resolve(url, data, &mut Vec::new()).await?,
        _ => objects::store(&json, None, data, &mut Vec::new()).await?,
    };
    Ok(match stored {
        Stored::Post { id, .. } => Found::Post(id),
        Stored::Comment { id, .. } => Found::Comment(id),
    })
}
