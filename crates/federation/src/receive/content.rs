//! Create, Update and Delete of posts and comments (and Update of an actor, Delete of an account).

use super::{moderation, person_of, relay, rules};
use crate::error::FedError;
use crate::fetch::{self, Actor, FedData};
use crate::json::{id_of, kind_of};
use crate::objects::{self, Relay};
use crate::protocol::activities::{Delete, Publish, Undo};
use canopy_core::{authority, same_authority};
use canopy_db::actors::CommunityActor;
use serde_json::Value;

/// Kinds of actor documents an `Update` may carry.
const ACTOR_KINDS: [&str; 5] = ["Person", "Group", "Service", "Application", "Organization"];

/// A post or comment created by the signer. A reply in a local community is relayed to its
/// followers in the transaction that stores it.
pub(super) async fn create(
    p: &Publish,
    raw: &Value,
    signer: &Actor,
    data: &FedData,
) -> Result<(), FedError> {
    let author = person_of(signer)?;
    if !p.object.is_object() {
        return Err(FedError::bad("Create must embed its object"));
    }
    rules::authored_by(&p.object, &p.actor.0)?;
    let origin = authority(&p.actor.0);
    let relay = Relay {
        activity: raw,
        origin: &origin,
    };
    objects::store_new(
        &p.object,
        None,
        Some(author),
        Some(&relay),
        data,
        &mut Vec::new(),
    )
    .await?;
    Ok(())
}

/// An edit of a post or comment by its creator, or an actor's update of itself. `via` is the
/// community that relayed it, if any (then the object was checked by [`relay`]).
pub(super) async fn update(
    p: &Publish,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let actor = &p.actor.0;
    if ACTOR_KINDS.contains(&kind_of(&p.object)) {
        let id = p
            .object
            .get("id")
            .and_then(id_of)
            .ok_or_else(|| FedError::bad("actor without id"))?;
        if via.is_none() && &id == actor {
            fetch::store_actor(&id, &p.object, data).await?;
            return Ok(());
        }
        if kind_of(&p.object) == "Group" {
            return moderation::update_community(&id, &p.object, actor, raw, via, data).await;
        }
        if via.is_some() {
            return Err(FedError::forbidden(
                "a community does not relay updates of people",
            ));
        }
        return rules::updates_itself(&id, actor);
    }
    if !p.object.is_object() {
        return Err(FedError::bad("Update must embed its object"));
    }
    let id = rules::authored_by(&p.object, actor)?;
    let stored = canopy_db::content::by_ap_id(&data.db, id.as_str()).await?;
    if let Some(stored) = &stored {
        rules::may_change(&stored.creator_ap_id, actor, &id)?;
    }
    let community = via.map(|c| c.id);
    let changed = objects::update(&p.object, stored.as_ref(), community, data).await?;
    if let (None, Some(changed)) = (via, changed) {
        relay::forward(changed.community(), raw, &authority(actor), data).await?;
    }
    Ok(())
}

/// A Delete by the creator of the content (an account deleting itself keeps its content, which
/// its own Deletes mark), or a moderator's removal (see [`moderation::is_removal`]).
pub(super) async fn delete(
    d: &Delete,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let actor = &d.actor.0;
    let target = &d.object.0;
    if target == actor {
        if via.is_some() {
            return Err(FedError::forbidden(
                "a community does not relay account deletions",
            ));
        }
        return Ok(());
    }
    let stored = canopy_db::content::by_ap_id(&data.db, target.as_str()).await?;
    let summary = d.summary.as_deref();
    match &stored {
        Some(stored) if moderation::is_removal(summary, actor, &stored.creator_ap_id) => {
            return moderation::remove(actor, target, summary, true, raw, via, data).await;
        }
        // A removal of content this node never stored: nothing to remove.
        None if summary.is_some() => return Ok(()),
        _ => {}
    }
    if !same_authority(target, actor) {
        return Err(FedError::forbidden(format!(
            "{actor} may not delete {target}, an object on another host"
        )));
    }
    let Some(stored) = stored else {
        // Unknown object: nothing to delete.
        return Ok(());
    };
    rules::may_change(&stored.creator_ap_id, actor, target)?;
    canopy_db::content::delete_remote(&data.db, target.as_str()).await?;
    if via.is_none() {
        relay::forward(stored.community_id, raw, &authority(actor), data).await?;
    }
    Ok(())
}

/// `Undo(Delete)`: its creator restores deleted content, or a moderator restores removed content.
pub(super) async fn undo_delete(
    u: &Undo,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let actor = &u.actor.0;
    let target = &u.object.object.0;
    let Some(stored) = canopy_db::content::by_ap_id(&data.db, target.as_str()).await? else {
        return Ok(());
    };
    let summary = u.object.summary.as_deref();
    if moderation::is_removal(summary, actor, &stored.creator_ap_id) {
        return moderation::remove(actor, target, summary, false, raw, via, data).await;
    }
    rules::may_change(&stored.creator_ap_id, actor, target)?;
    let mut conn = data.db.acquire().await?;
    let changed =
        canopy_db::moderation::undelete(&mut conn, stored.post_id, stored.comment_id).await?;
    drop(conn);
    if changed && via.is_none() {
        relay::forward(stored.community_id, raw, &authority(actor), data).await?;
    }
    Ok(())
}
