//! What an incoming activity does, once the inbox has verified its signature and its actor.
//!
//! Each activity is read into its type ([`Incoming`]), checked against the origin rules of
//! [`rules`] (one table for every kind, direct or relayed), and only then acted on:
//! [`follows`] (Follow, Accept, Reject, Undo(Follow)), [`content`] (Create, Update, Delete),
//! [`votes`] (Like, Dislike, Undo of them), [`moderation`] (a moderator's removal, Lock, Add and
//! Remove of moderators, Undo of them), [`bans`] (Block and Undo(Block) with a target),
//! [`reports`] (Flag, Resolve of a Flag, Warn) and [`relay`] (Announce by a community, FEP-1b12).

mod bans;
mod content;
mod follows;
mod moderation;
mod relay;
mod reports;
pub mod rules;
mod votes;

use crate::error::FedError;
use crate::fetch::{Actor, FedData};
use crate::protocol::activities::{Incoming, UndoneKind};
use canopy_db::actors::PersonActor;
use serde_json::Value;

/// Act on a verified activity `raw` sent by `signer` (the activity's actor).
pub async fn handle(raw: &Value, signer: &Actor, data: &FedData) -> Result<(), FedError> {
    let activity = Incoming::parse(raw)?;
    rules::envelope(&activity, data)?;
    if activity.actor().as_str() != signer.ap_id() {
        return Err(FedError::Unauthorized(format!(
            "the activity's actor {} is not its signer {}",
            activity.actor(),
            signer.ap_id()
        )));
    }
    match activity {
        Incoming::Follow(f) => follows::follow(&f, raw, signer, data).await,
        Incoming::Accept(a) => follows::accept(&a, signer, data).await,
        Incoming::Reject(r) => follows::reject(&r, signer, data).await,
        Incoming::Undo(u) => {
            if let Some(inner) = &u.object.actor {
                if inner.0 != u.actor.0 {
                    return Err(FedError::forbidden("Undo of another actor's activity"));
                }
            }
            if let Some(inner) = &u.object.id {
                if !canopy_core::same_authority(&inner.0, &u.actor.0) {
                    return Err(FedError::forbidden(
                        "Undo of an activity on another host than its actor",
                    ));
                }
            }
            match u.object.kind {
                UndoneKind::Follow => follows::undo_follow(&u, signer, data).await,
                UndoneKind::Vote => votes::undo(&u, raw, signer, None, data).await,
                UndoneKind::Delete => content::undo_delete(&u, raw, None, data).await,
                UndoneKind::Lock => {
                    let o = &u.object;
                    let reason = o.summary.as_deref();
                    moderation::lock(&u.actor.0, &o.object.0, reason, false, raw, None, data).await
                }
                UndoneKind::Block => bans::undo_block(&u, raw, None, data).await,
            }
        }
        Incoming::Create(p) => content::create(&p, raw, signer, data).await,
        Incoming::Update(p) => content::update(&p, raw, None, data).await,
        Incoming::Delete(d) => content::delete(&d, raw, None, data).await,
        Incoming::Vote(v) => votes::vote(&v, raw, signer, None, data).await,
        Incoming::Announce(a) => relay::announce(&a, signer, data).await,
        Incoming::Lock(l) => {
            let reason = l.summary.as_deref();
            moderation::lock(&l.actor.0, &l.object.0, reason, true, raw, None, data).await
        }
        Incoming::Add(c) => moderation::moderator(&c, true, raw, None, data).await,
        Incoming::Remove(c) => moderation::moderator(&c, false, raw, None, data).await,
        Incoming::Block(b) => bans::block(&b, raw, None, data).await,
        Incoming::Flag(f) => reports::flag(&f, person_of(signer)?, None, data).await,
        Incoming::Resolve(r) => reports::resolve(&r, raw, None, data).await,
        Incoming::Warn(w) => reports::warn(&w, data).await,
    }
}

/// The person behind `actor`, for activities only people send.
fn person_of(actor: &Actor) -> Result<&PersonActor, FedError> {
    match actor {
        Actor::Person(p) => Ok(p),
        Actor::Community(_) => Err(FedError::bad("a group cannot do that")),
    }
}
