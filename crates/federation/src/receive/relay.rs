//! Announce: a remote community relaying an activity in it (FEP-1b12), and a local community
//! forwarding what it accepted to its followers.
//!
//! A relayed activity is acted on only when it can be trusted (see the table in [`rules`]): its
//! object lives in the announcing community, which is the authority for its own content, or the
//! activity was fetched from its own id on its actor's host. Otherwise it is refused, and the
//! inbox logs why.

use super::{bans, content, moderation, person_of, reports, rules, votes};
use crate::error::FedError;
use crate::fetch::{self, Actor, FedData};
use crate::json::{id_of, kind_of};
use crate::objects;
use crate::outgoing;
use crate::protocol::activities::{Announce, Incoming, UndoneKind};
use canopy_core::{same_authority, CommunityId};
use canopy_db::actors::{self, CommunityActor};
use serde_json::Value;
use url::Url;

/// Object types a community may announce directly (Mastodon-style relays boost the object).
const OBJECT_KINDS: [&str; 5] = ["Page", "Article", "Note", "Video", "Question"];

pub(super) async fn announce(a: &Announce, signer: &Actor, data: &FedData) -> Result<(), FedError> {
    let Actor::Community(community) = signer else {
        // A boost by a person: Canopy does not show boosts, and ignoring one loses nothing.
        return Ok(());
    };
    // The wrapped activity, embedded (Lemmy) or by id (then fetched from its origin).
    let (inner, fetched) = match &a.object {
        Value::Object(_) => (a.object.clone(), false),
        other => {
            let url = id_of(other).ok_or_else(|| FedError::bad("Announce without object"))?;
            rules::not_local_actor(&url, data).map_err(|_| {
                FedError::forbidden(format!("{url} is on this node; it is not fetched"))
            })?;
            (fetch::fetch_json(&url, data).await?, true)
        }
    };
    if OBJECT_KINDS.contains(&kind_of(&inner)) {
        let object = verified_copy(&inner, &a.actor.0, data).await?;
        objects::store(&object, Some(community.id), data, &mut Vec::new()).await?;
        return Ok(());
    }
    let activity = Incoming::parse(&inner)?;
    rules::envelope(&activity, data)?;
    if data.governance.site_banned(activity.actor().as_str()) {
        return Err(FedError::forbidden(format!(
            "{} is banned from this node",
            activity.actor()
        )));
    }
    let inner_actor = fetch::actor(activity.actor(), data, false).await?;
    let via = Some(community);
    match &activity {
        Incoming::Create(p) | Incoming::Update(p) => {
            let object_id = p
                .object
                .get("id")
                .and_then(id_of)
                .or_else(|| id_of(&p.object))
                .ok_or_else(|| FedError::bad("announced object without id"))?;
            // Our own content coming back from the community: this node is its origin.
            if fetch::is_local(&object_id, data) {
                return Ok(());
            }
            let object = verified_copy(&p.object, &a.actor.0, data).await?;
            let checked = crate::protocol::activities::Publish {
                object,
                ..p.clone()
            };
            if matches!(activity, Incoming::Create(_)) {
                rules::authored_by(&checked.object, &checked.actor.0)?;
                objects::store(&checked.object, Some(community.id), data, &mut Vec::new()).await?;
                Ok(())
            } else {
                content::update(&checked, &inner, via, data).await
            }
        }
        Incoming::Delete(d) => {
            // A removal (with `summary`) is checked by the stricter moderator rule instead.
            if d.summary.is_none() {
                vouched(&activity, &d.object.0, community, fetched, data).await?;
            }
            content::delete(d, &inner, via, data).await
        }
        Incoming::Vote(v) => {
            // The content is fetched first if unknown, so its community can be checked.
            objects::resolve(&v.object.0, data, &mut Vec::new()).await?;
            vouched(&activity, &v.object.0, community, fetched, data).await?;
            votes::vote(v, &inner, &inner_actor, via, data).await
        }
        Incoming::Undo(u) if u.object.kind != UndoneKind::Follow => {
            if let Some(inner_actor_id) = &u.object.actor {
                if inner_actor_id.0 != u.actor.0 {
                    return Err(FedError::forbidden("Undo of another actor's activity"));
                }
            }
            let target = &u.object.object.0;
            match u.object.kind {
                UndoneKind::Lock => {
                    let reason = u.object.summary.as_deref();
                    moderation::lock(&u.actor.0, target, reason, false, &inner, via, data).await
                }
                UndoneKind::Delete => {
                    if u.object.summary.is_none() {
                        vouched(&activity, target, community, fetched, data).await?;
                    }
                    content::undo_delete(u, &inner, via, data).await
                }
                UndoneKind::Block => bans::undo_block(u, &inner, via, data).await,
                _ => {
                    vouched(&activity, target, community, fetched, data).await?;
                    votes::undo(u, &inner, &inner_actor, via, data).await
                }
            }
        }
        Incoming::Lock(l) => {
            let reason = l.summary.as_deref();
            moderation::lock(&l.actor.0, &l.object.0, reason, true, &inner, via, data).await
        }
        Incoming::Add(c) => moderation::moderator(c, true, &inner, via, data).await,
        Incoming::Remove(c) => moderation::moderator(c, false, &inner, via, data).await,
        Incoming::Block(b) => bans::block(b, &inner, via, data).await,
        // Lemmy forwards reports about a community's content to its moderators' instances.
        Incoming::Flag(f) => reports::flag(f, person_of(&inner_actor)?, via, data).await,
        Incoming::Resolve(r) => reports::resolve(r, &inner, via, data).await,
        Incoming::Announce(_) => Err(FedError::bad("an Announce inside an Announce")),
        other => Err(FedError::forbidden(format!(
            "a community does not relay {}; it is sent to its object directly",
            other.kind()
        ))),
    }
}

/// Whether a relayed activity about `target` may be acted on: the content is stored in the
/// announcing `community` (the community vouches for its own content), or the activity was
/// fetched from its own id, or can be now.
async fn vouched(
    activity: &Incoming,
    target: &Url,
    community: &CommunityActor,
    fetched: bool,
    data: &FedData,
) -> Result<(), FedError> {
    if fetched {
        return Ok(());
    }
    let stored = canopy_db::content::by_ap_id(&data.db, target.as_str()).await?;
    if stored.is_some_and(|c| c.community_id == community.id) {
        return Ok(());
    }
    // Not the community's to vouch for: ask the actor's own server for the activity.
    let Some(id) = activity.id() else {
        return Err(FedError::forbidden(format!(
            "relayed {} about {target}, which is not in {}, has no id to confirm it by",
            activity.kind(),
            community.ap_id
        )));
    };
    let confirmed = fetch::fetch_json(id, data)
        .await
        .ok()
        .and_then(|json| Incoming::parse(&json).ok())
        .is_some_and(|again| {
            again.kind() == activity.kind()
                && again.actor() == activity.actor()
                && target_of(&again).as_ref() == Some(target)
        });
    if !confirmed {
        return Err(FedError::forbidden(format!(
            "relayed {} {id} about {target}, which is not in {}, could not be confirmed at its origin",
            activity.kind(),
            community.ap_id
        )));
    }
    Ok(())
}

fn target_of(activity: &Incoming) -> Option<Url> {
    match activity {
        Incoming::Delete(d) => Some(d.object.0.clone()),
        Incoming::Vote(v) => Some(v.object.0.clone()),
        Incoming::Undo(u) => Some(u.object.object.0.clone()),
        _ => None,
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

/// A local community forwards an edit, deletion or vote it accepted about content in it to its
/// followers (FEP-1b12), except to the instance the activity came from. `community` is the
/// content's community; nothing is sent unless it is local with remote followers.
pub(super) async fn forward(
    community: CommunityId,
    activity: &Value,
    origin: &str,
    data: &FedData,
) -> Result<(), FedError> {
    let Some(row) = actors::announcing_community(&data.db, community).await? else {
        return Ok(());
    };
    let mut tx = data.db.begin().await?;
    outgoing::announce(&mut tx, &row, activity, data, Some(origin)).await?;
    tx.commit().await?;
    Ok(())
}
