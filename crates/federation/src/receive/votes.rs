//! Like, Dislike and their Undo: a person's vote on a post or comment.

use super::{person_of, relay};
use crate::error::FedError;
use crate::fetch::{Actor, FedData};
use crate::objects;
use crate::protocol::activities::{Undo, Vote};
use canopy_core::authority;
use canopy_db::actors::CommunityActor;
use canopy_db::bans::{self as db_bans, Refusal};
use canopy_db::votes as db_votes;
use serde_json::Value;

/// Record `signer`'s vote. Content this node has never seen is fetched once so the vote lands.
/// `via` is the community that relayed it (checked by [`relay`]), if any.
pub(super) async fn vote(
    v: &Vote,
    raw: &Value,
    signer: &Actor,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let voter = person_of(signer)?.id;
    let target = &v.object.0;
    let stored = objects::resolve(target, data, &mut Vec::new()).await?;
    if let Some(refusal) =
        db_bans::refusal_by_ap_id(&data.db, v.actor.0.as_str(), target.as_str()).await?
    {
        let (place, reason) = match refusal {
            Refusal::Site { reason } => ("this node", reason),
            Refusal::Community { reason } => ("the community", reason),
        };
        let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
        return Err(FedError::forbidden(format!(
            "{} is banned from {place}{reason}",
            v.actor.0
        )));
    }
    let activity_id = v.id.as_ref().map(|i| i.0.as_str()).unwrap_or_default();
    let changed =
        db_votes::vote_by_activity(&data.db, target.as_str(), voter, v.score, activity_id).await?;
    if changed && via.is_none() {
        relay::forward(stored.community(), raw, &authority(&v.actor.0), data).await?;
    }
    Ok(())
}

/// Take back `signer`'s vote.
pub(super) async fn undo(
    u: &Undo,
    raw: &Value,
    signer: &Actor,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let voter = person_of(signer)?.id;
    let target = &u.object.object.0;
    let changed = db_votes::unvote(&data.db, target.as_str(), voter).await?;
    if changed && via.is_none() {
        if let Some(content) = canopy_db::content::by_ap_id(&data.db, target.as_str()).await? {
            relay::forward(content.community_id, raw, &authority(&u.actor.0), data).await?;
        }
    }
    Ok(())
}
