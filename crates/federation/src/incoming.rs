//! What an incoming activity does, once its signature and its actor are verified.
//!
//! Rules every handler keeps: an activity's id is on its actor's host (checked by the inbox);
//! an object created, updated or deleted by an actor is on the actor's host and attributed to
//! it; a wrapped activity inside an Announce is re-checked against its own actor, and content
//! the announcing community does not host is fetched from its origin rather than trusted.

use crate::error::FedError;
use crate::fetch::{self, Actor, FedData};
use crate::json::{id_of, kind_of, same_authority};
use crate::objects;
use crate::outgoing;
use canopy_core::{CommunityId, PersonId};
use canopy_db::remote;
use serde_json::Value;
use url::Url;

/// Handle a verified activity from `actor`.
pub async fn handle(activity: &Value, actor: &Actor, data: &FedData) -> Result<(), FedError> {
    let actor_id = Url::parse(&actor.row().ap_id).map_err(|e| FedError::Internal(e.to_string()))?;
    let object = activity
        .get("object")
        .ok_or_else(|| FedError::bad("activity without object"))?;
    match kind_of(activity) {
        "Follow" => follow(activity, object, actor, data).await,
        "Accept" => accept(object, actor, data).await,
        "Reject" => reject(object, actor, data).await,
        "Undo" => undo(object, &actor_id, actor, data).await,
        "Create" => create(activity, object, &actor_id, actor, None, data).await,
        "Update" => {
            update(object, &actor_id, data).await?;
            forward(object, activity, data).await
        }
        "Delete" => {
            delete(object, &actor_id, data).await?;
            forward(object, activity, data).await
        }
        "Like" | "Dislike" | "EmojiReact" => vote(activity, object, actor, data).await,
        "Announce" => announce(object, &actor_id, actor, data).await,
        other => Err(FedError::bad(format!(
            "activities of type {other:?} are not handled"
        ))),
    }
}

fn person_of(actor: &Actor) -> Result<PersonId, FedError> {
    match actor {
        Actor::Person(p) => Ok(PersonId(p.id)),
        Actor::Community(_) => Err(FedError::bad("a group cannot do that")),
    }
}

async fn follow(
    activity: &Value,
    object: &Value,
    actor: &Actor,
    data: &FedData,
) -> Result<(), FedError> {
    let follower = person_of(actor)?;
    let target = id_of(object).ok_or_else(|| FedError::bad("Follow without object"))?;
    if !fetch::is_local(&target, data) {
        return Err(FedError::bad("Follow of an actor that is not on this node"));
    }
    let activity_id = activity.get("id").and_then(Value::as_str);
    // Which dialect to speak to this follower's server (see outgoing::announce_in).
    fetch::detect_software(&actor.row().authority, data).await;
    match fetch::actor(&target, data, false).await? {
        Actor::Community(c) => {
            let mut tx = data.db.begin().await?;
            remote::follow_community(&mut tx, CommunityId(c.id), follower, false, activity_id)
                .await?;
            outgoing::accept_follow(&mut tx, &c, true, activity, actor.row(), data).await?;
            tx.commit().await?;
        }
        Actor::Person(p) => {
            let mut tx = data.db.begin().await?;
            remote::follow_person(&mut tx, PersonId(p.id), follower, activity_id).await?;
            outgoing::accept_follow(&mut tx, &p, false, activity, actor.row(), data).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// The follow this Accept answers: embedded (Lemmy, Mastodon) or named by id (Mitra).
async fn accept(object: &Value, actor: &Actor, data: &FedData) -> Result<(), FedError> {
    let Actor::Community(c) = actor else {
        // Person-to-person follows are recorded as accepted when sent.
        return Ok(());
    };
    let follower = match object.get("actor").and_then(id_of) {
        Some(f) => f,
        // The Follow named by id: it must be one this node sent to this community.
        None => {
            let follow_id = id_of(object).ok_or_else(|| FedError::bad("Accept without object"))?;
            let sent = canopy_db::outbox::sent_payload(&data.db, follow_id.as_str(), "Follow")
                .await?
                .ok_or_else(|| FedError::bad("Accept of a Follow this node did not send"))?;
            if sent
                .get("object")
                .and_then(id_of)
                .map(|o| o.as_str() == c.ap_id)
                != Some(true)
            {
                return Err(FedError::forbidden(
                    "Accept of a Follow sent to another actor",
                ));
            }
            sent.get("actor")
                .and_then(id_of)
                .ok_or_else(|| FedError::Internal("sent Follow without actor".into()))?
        }
    };
    if !fetch::is_local(&follower, data) {
        return Err(FedError::bad(
            "Accept of a follow by someone not on this node",
        ));
    }
    let person = remote::person_by_ap_id(&data.db, follower.as_str())
        .await?
        .ok_or_else(|| FedError::NotFound("follower not found".into()))?;
    remote::accept_community_follow(&data.db, CommunityId(c.id), PersonId(person.id)).await?;
    Ok(())
}

async fn reject(object: &Value, actor: &Actor, data: &FedData) -> Result<(), FedError> {
    if let (Actor::Community(c), Some(follower)) = (actor, object.get("actor").and_then(id_of)) {
        if let Some(p) = remote::person_by_ap_id(&data.db, follower.as_str()).await? {
            let mut tx = data.db.begin().await?;
            remote::unfollow_community(&mut tx, CommunityId(c.id), PersonId(p.id)).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

async fn undo(
    object: &Value,
    actor_id: &Url,
    actor: &Actor,
    data: &FedData,
) -> Result<(), FedError> {
    // The undone activity must be the actor's own.
    if let Some(inner_actor) = object.get("actor").and_then(id_of) {
        if &inner_actor != actor_id {
            return Err(FedError::forbidden("Undo of another actor's activity"));
        }
    }
    let inner = object.get("object");
    match kind_of(object) {
        "Follow" => {
            let follower = person_of(actor)?;
            let target = inner
                .and_then(id_of)
                .ok_or_else(|| FedError::bad("Undo(Follow) without target"))?;
            let mut tx = data.db.begin().await?;
            if let Some(c) = remote::community_by_ap_id(&data.db, target.as_str()).await? {
                remote::unfollow_community(&mut tx, CommunityId(c.id), follower).await?;
            } else if let Some(p) = remote::person_by_ap_id(&data.db, target.as_str()).await? {
                remote::unfollow_person(&mut tx, PersonId(p.id), follower).await?;
            }
            tx.commit().await?;
            Ok(())
        }
        "Like" | "Dislike" | "EmojiReact" => {
            let voter = person_of(actor)?;
            let target = inner
                .and_then(id_of)
                .ok_or_else(|| FedError::bad("Undo(Like) without target"))?;
            let stored = remote::unvote(&data.db, target.as_str(), voter).await?;
            announce_if_local_community(&target, object, data, stored).await
        }
        "" => Err(FedError::bad("Undo must embed the activity it undoes")),
        other => Err(FedError::bad(format!("Undo of {other:?} is not handled"))),
    }
}

async fn create(
    activity: &Value,
    object: &Value,
    actor_id: &Url,
    actor: &Actor,
    announced_by: Option<CommunityId>,
    data: &FedData,
) -> Result<(), FedError> {
    person_of(actor)?;
    if !object.is_object() {
        return Err(FedError::bad("Create must embed its object"));
    }
    objects::check_authorship(object, actor_id)?;
    let stored = objects::store_new(
        object,
        announced_by,
        Some(actor.row()),
        data,
        &mut Vec::new(),
    )
    .await?;
    if announced_by.is_none() {
        reannounce(stored.community(), activity, object, data).await?;
    }
    Ok(())
}

async fn update(object: &Value, actor_id: &Url, data: &FedData) -> Result<(), FedError> {
    match kind_of(object) {
        "Person" | "Group" | "Service" | "Application" | "Organization" => {
            let id = object
                .get("id")
                .and_then(id_of)
                .ok_or_else(|| FedError::bad("actor without id"))?;
            if &id != actor_id && !same_authority(&id, actor_id) {
                return Err(FedError::forbidden("Update of an actor on another host"));
            }
            fetch::store_actor(&id, object, data).await?;
            Ok(())
        }
        _ => {
            objects::check_authorship(object, actor_id)?;
            objects::update(object, None, data).await?;
            Ok(())
        }
    }
}

async fn delete(object: &Value, actor_id: &Url, data: &FedData) -> Result<(), FedError> {
    let target = id_of(object).ok_or_else(|| FedError::bad("Delete without object"))?;
    if !same_authority(&target, actor_id) {
        return Err(FedError::forbidden("Delete of an object on another host"));
    }
    if &target == actor_id {
        // An account deletion; its content stays, marked by its own deletes.
        return Ok(());
    }
    let creator = remote::content_by_ap_id(&data.db, target.as_str())
        .await?
        .map(|c| c.creator_ap_id);
    match creator {
        Some(c) if c == actor_id.as_str() => {
            remote::delete_remote_content(&data.db, target.as_str()).await?;
            Ok(())
        }
        Some(_) => Err(FedError::forbidden("Delete of someone else's content")),
        // Unknown object: nothing to delete.
        None => Ok(()),
    }
}

async fn vote(
    activity: &Value,
    object: &Value,
    actor: &Actor,
    data: &FedData,
) -> Result<(), FedError> {
    let voter = person_of(actor)?;
    let target = id_of(object).ok_or_else(|| FedError::bad("vote without object"))?;
    let score: i16 = if kind_of(activity) == "Dislike" {
        -1
    } else {
        1
    };
    let activity_id = activity
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Votes on content this node has never seen are fetched once so the vote can land.
    let stored = match objects::resolve(&target, data, &mut Vec::new()).await {
        Ok(_) => {
            remote::vote_by_activity(&data.db, target.as_str(), voter, score, activity_id).await?
        }
        Err(e) => return Err(e),
    };
    announce_if_local_community(&target, activity, data, stored).await
}

async fn announce(
    object: &Value,
    actor_id: &Url,
    actor: &Actor,
    data: &FedData,
) -> Result<(), FedError> {
    let Actor::Community(community) = actor else {
        // A boost by a person: Canopy does not show boosts, and ignoring one loses nothing.
        return Ok(());
    };
    let community_id = CommunityId(community.id);
    // The wrapped activity, embedded (Lemmy) or by id (fetched from its origin).
    let inner = match object {
        Value::Object(_) => object.clone(),
        _ => {
            let url = id_of(object).ok_or_else(|| FedError::bad("Announce without object"))?;
            fetch::fetch_json(&url, data).await?
        }
    };
    let inner_kind = kind_of(&inner).to_string();
    // Announce(Page) as Mastodon-style relays send: the object itself.
    if ["Page", "Article", "Note", "Video", "Question"].contains(&inner_kind.as_str()) {
        let object = verified_copy(&inner, actor_id, data).await?;
        objects::store(&object, Some(community_id), data, &mut Vec::new()).await?;
        return Ok(());
    }
    let inner_actor_id = inner
        .get("actor")
        .and_then(id_of)
        .ok_or_else(|| FedError::bad("announced activity without actor"))?;
    if let Some(inner_id) = inner.get("id").and_then(id_of) {
        if !same_authority(&inner_id, &inner_actor_id) {
            return Err(FedError::forbidden(
                "announced activity id on another host than its actor",
            ));
        }
    }
    let inner_actor = fetch::actor(&inner_actor_id, data, false).await?;
    let inner_object = inner.get("object").cloned().unwrap_or(Value::Null);
    match inner_kind.as_str() {
        // Our own content coming back from the community: this node is its origin.
        "Create" | "Update"
            if id_of(&inner_object).is_some_and(|id| fetch::is_local(&id, data)) =>
        {
            Ok(())
        }
        "Create" | "Update" => {
            let object = verified_copy(&inner_object, actor_id, data).await?;
            objects::check_authorship(&object, &inner_actor_id)?;
            if inner_kind == "Create" {
                objects::store(&object, Some(community_id), data, &mut Vec::new()).await?;
            } else {
                objects::update(&object, Some(community_id), data).await?;
            }
            Ok(())
        }
        "Delete" => delete(&inner_object, &inner_actor_id, data).await,
        "Like" | "Dislike" => vote(&inner, &inner_object, &inner_actor, data).await,
        "Undo" => undo(&inner_object, &inner_actor_id, &inner_actor, data).await,
        other => Err(FedError::bad(format!("announced {other:?} is not handled"))),
    }
}

/// An embedded object is trusted only when the announcing community's host serves it;
/// otherwise it is fetched from its own origin.
async fn verified_copy(object: &Value, announcer: &Url, data: &FedData) -> Result<Value, FedError> {
    let id = id_of(object).ok_or_else(|| FedError::bad("announced object without id"))?;
    if object.is_object() && same_authority(&id, announcer) {
        return Ok(object.clone());
    }
    fetch::fetch_json(&id, data).await
}

/// A local community forwards what it accepted to its followers (FEP-1b12).
async fn reannounce(
    community: CommunityId,
    activity: &Value,
    _object: &Value,
    data: &FedData,
) -> Result<(), FedError> {
    let Some(row) = remote::announcing_community(&data.db, community).await? else {
        return Ok(());
    };
    let mut tx = data.db.begin().await?;
    outgoing::announce(&mut tx, &row, activity, data).await?;
    tx.commit().await?;
    Ok(())
}

/// Forward an edit or deletion of content in a local community to the community's followers.
async fn forward(object: &Value, activity: &Value, data: &FedData) -> Result<(), FedError> {
    match id_of(object) {
        Some(target) => announce_if_local_community(&target, activity, data, true).await,
        None => Ok(()),
    }
}

async fn announce_if_local_community(
    target: &Url,
    activity: &Value,
    data: &FedData,
    changed: bool,
) -> Result<(), FedError> {
    if !changed {
        return Ok(());
    }
    let community = remote::content_by_ap_id(&data.db, target.as_str())
        .await?
        .map(|c| c.community_id);
    if let Some(c) = community {
        reannounce(CommunityId(c), activity, &Value::Null, data).await?;
    }
    Ok(())
}
