//! Resolve any URL to a stored row: an actor, a post or a comment, fetching it when unknown.

use crate::error::FedError;
use crate::fetch::{self, Actor, FedData};
use crate::json::{id_of, kind_of};
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
        _ => {
            learn_community(&json, data).await;
            objects::store(&json, None, data, &mut Vec::new()).await?
        }
    };
    Ok(match stored {
        Stored::Post { id, .. } => Found::Post(id),
        Stored::Comment { id, .. } => Found::Comment(id),
    })
}

/// A post or comment names its community in `audience` (Lemmy, Mbin): when this node does not
/// know that community yet, it is fetched first, so that looking up a thread of a community
/// nobody here follows works as it does for a known one (its posts are stored only once the
/// community is, and a comment's thread is fetched up to its post). Only a lookup someone asked
/// for does this: an activity in the inbox for an unknown community is still refused. A failure
/// is logged and leaves the object to be refused as before.
async fn learn_community(object: &serde_json::Value, data: &FedData) {
    let Some(url) = object.get("audience").and_then(id_of) else {
        return;
    };
    match canopy_db::actors::community_by_ap_id(&data.db, url.as_str()).await {
        Ok(None) => {}
        Ok(Some(_)) => return,
        Err(e) => {
            tracing::warn!(community = %url, error = %e, "community lookup failed");
            return;
        }
    }
    if let Err(e) = fetch::community(&url, data).await {
        tracing::info!(community = %url, error = %e, "the object's community could not be fetched");
    }
}
