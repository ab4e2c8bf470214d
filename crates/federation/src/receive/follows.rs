//! Follow, Accept, Reject and Undo(Follow): only ever sent directly by the actors concerned.

use super::person_of;
use crate::error::FedError;
use crate::fetch::{self, Actor, FedData};
use crate::json::id_of;
use crate::outgoing;
use crate::protocol::activities::{Answer, Follow, Undo};
use canopy_db::actors::{self, CommunityActor};
use canopy_db::follows as db_follows;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// A remote person follows a local community or person; the Accept goes out in the same
/// transaction as the follow row.
pub(super) async fn follow(
    f: &Follow,
    raw: &Value,
    signer: &Actor,
    data: &FedData,
) -> Result<(), FedError> {
    let follower = person_of(signer)?;
    let target = &f.object.0;
    if !fetch::is_local(target, data) {
        return Err(FedError::bad("Follow of an actor that is not on this node"));
    }
    let activity_id = f.id.as_ref().map(|i| i.0.as_str());
    // Which dialect to speak to this follower's server (see outgoing::announce_in).
    fetch::detect_software(&follower.authority, data).await;
    let mut tx = data.db.begin().await?;
    let followed = fetch::actor(target, data, false).await?;
    match &followed {
        Actor::Community(c) => {
            db_follows::follow_community(&mut tx, c.id, follower.id, false, activity_id).await?;
        }
        Actor::Person(p) => {
            db_follows::follow_person(&mut tx, p.id, follower.id, activity_id).await?;
        }
    }
    outgoing::accept_follow(&mut tx, &followed, raw, follower, data).await?;
    tx.commit().await?;
    Ok(())
}

/// The local follower of the Follow an Accept or Reject answers. The Follow must be one of
/// `community` by a local person: embedded, or named by the id of a Follow this node sent to it.
async fn answered_follower(
    a: &Answer,
    community: &CommunityActor,
    data: &FedData,
) -> Result<Url, FedError> {
    let (follower, followed) = match a.embedded_follow() {
        Some(f) => (f.actor.0, f.object.0),
        None => {
            let follow_id =
                id_of(&a.object).ok_or_else(|| FedError::bad("answer without object"))?;
            let sent = canopy_db::outbox::sent_payload(&data.db, follow_id.as_str(), "Follow")
                .await?
                .ok_or_else(|| FedError::bad("answer to a Follow this node did not send"))?;
            let follow = Follow::deserialize(&sent)
                .map_err(|e| FedError::Internal(format!("a sent Follow is unreadable: {e}")))?;
            (follow.actor.0, follow.object.0)
        }
    };
    if followed.as_str() != community.ap_id {
        return Err(FedError::forbidden(format!(
            "{} may answer only follows of itself, not of {followed}",
            community.ap_id
        )));
    }
    if !fetch::is_local(&follower, data) {
        return Err(FedError::bad(
            "answer to a follow by someone not on this node",
        ));
    }
    Ok(follower)
}

pub(super) async fn accept(a: &Answer, signer: &Actor, data: &FedData) -> Result<(), FedError> {
    let Actor::Community(c) = signer else {
        // Person-to-person follows are recorded as accepted when sent.
        return Ok(());
    };
    let follower = answered_follower(a, c, data).await?;
    let person = actors::person_by_ap_id(&data.db, follower.as_str())
        .await?
        .ok_or_else(|| FedError::NotFound("follower not found".into()))?;
    if db_follows::accept_community_follow(&data.db, c.id, person.id).await? {
        fill_in_background(c.clone(), data);
    }
    Ok(())
}

/// Fill a newly followed community's recent posts from its outbox, without holding up the
/// Accept: in its own task, on a fresh fetch budget.
fn fill_in_background(community: CommunityActor, data: &FedData) {
    let data = data.reset_request_count();
    tokio::spawn(async move {
        let max = crate::outbox_fill::DEFAULT_MAX;
        if let Err(e) = crate::outbox_fill::fill_recent_posts(&community, &data, max).await {
            tracing::info!(community = %community.ap_id, error = %e, "could not fill recent posts from the outbox");
        }
    });
}

pub(super) async fn reject(a: &Answer, signer: &Actor, data: &FedData) -> Result<(), FedError> {
    let Actor::Community(c) = signer else {
        return Ok(());
    };
    let follower = answered_follower(a, c, data).await?;
    if let Some(p) = actors::person_by_ap_id(&data.db, follower.as_str()).await? {
        let mut tx = data.db.begin().await?;
        db_follows::unfollow_community(&mut tx, c.id, p.id).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The signer stops following a local community or person.
pub(super) async fn undo_follow(u: &Undo, signer: &Actor, data: &FedData) -> Result<(), FedError> {
    let follower = person_of(signer)?.id;
    let target = &u.object.object.0;
    if !fetch::is_local(target, data) {
        return Err(FedError::bad(
            "Undo(Follow) of an actor that is not on this node",
        ));
    }
    let mut tx = data.db.begin().await?;
    if let Some(c) = actors::community_by_ap_id(&data.db, target.as_str()).await? {
        db_follows::unfollow_community(&mut tx, c.id, follower).await?;
    } else if let Some(p) = actors::person_by_ap_id(&data.db, target.as_str()).await? {
        db_follows::unfollow_person(&mut tx, p.id, follower).await?;
    }
    tx.commit().await?;
    Ok(())
}
