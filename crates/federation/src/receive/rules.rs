//! Who may say what: the origin rules of every activity the inbox acts on, in one place.
//!
//! Before any rule here runs, the inbox has checked that the request is signed by the key of the
//! activity's `actor`, that the actor's authority (host and port) is the activity id's, and that
//! the actor is not on this node. "Authority" below always means host *and* port.
//!
//! | activity | sent directly by its actor | relayed inside an `Announce` by a remote community C |
//! |---|---|---|
//! | every kind | the actor is never local; an id, when present, is on the actor's authority and never on ours | the same, for the inner actor and inner id |
//! | `Follow` | a person, of an actor on this node | refused: a community does not relay follows |
//! | `Accept` / `Reject` | the followed community, of a Follow by a local person *of that community* (embedded, or by the id of a Follow this node sent to it) | refused |
//! | `Undo(Follow)` | the follower itself (the inner actor, when named, is the signer) | refused unless fetched from its own id |
//! | `Create` of a Note/Page | the object's one author (see [`one_author`]); the object's id on the author's authority | the object embedded from C's own host, or fetched from its own id; its one author is the inner actor |
//! | `Update` of a Note/Page | as Create, and when the object is stored, its stored creator is the actor | as Create, and the stored creator is the inner actor |
//! | `Update` of an actor | the actor itself, same id (no other actor, not even on the same host) | refused, except a Group's |
//! | `Update` of a Group by another actor (its settings) | a moderator of that community, as its home lists them; a remote community is then read again from its home (the embedded Group is never stored); a local one takes title, description and posting restriction only | C is that community (then read again from its home) |
//! | `Delete` of a Note/Page | its stored creator | its stored creator, and the content is in C; otherwise the inner Delete is fetched from its own id |
//! | `Delete` of an actor | the actor itself (its content stays) | refused |
//! | `Like` / `Dislike` / `Undo` of them | the voter (a person), on content stored or fetchable | the content is in C; otherwise the inner activity is fetched from its own id |
//! | `Announce` | by a community: see the right-hand column; by a person (a boost): ignored | refused (no nesting) |
//! | `Delete` with `summary`, or of content not the actor's (a moderator's removal) | a moderator of the content's community, as its home lists them (see [`moderates`]) | C is the content's community |
//! | `Undo(Delete)` | by the content's creator: restores its deletion; a removal (with `summary`, or not the actor's content): as the removal | as Delete: the creator's when the content is in C or fetched from its own id; a removal when C is the content's community |
//! | `Lock` / `Undo(Lock)` of a post | a moderator of the post's community, as its home lists them; a `Lock` of a comment is refused (Canopy locks posts) | C is the post's community |
//! | `Add` / `Remove` to a community's moderators or featured collection (`target`) | a moderator of that community, as its home lists them (a featured post must be that community's); other collections are refused | C is that community |
//! | `Block` / `Undo(Block)` of a person with `target` a community (a ban) | a moderator of that community, as its home lists them | C is that community |
//! | `Block` / `Undo(Block)` with `target` an instance's actor (a site ban) | an actor of that instance, about a person of that same instance (a ban of someone of another instance is refused) | refused |
//! | `Block` without `target` (a person blocking a person) | acknowledged, changes nothing | the same |
//! | anything from a person banned from this node, or (Create, Like/Dislike) in a community that bans them | refused (403) | the same |
//! | `Flag` (a report; Lemmy's, Mastodon's and Mbin's shapes) | any person (Mastodon: its instance actor) not banned from the content's community; each post or comment named that is stored here becomes a report for its community's moderators; with none, an account stored here becomes a report for the admins; nothing is fetched, and what is not stored here is dropped | every content named is in C (Lemmy, and Canopy, forward reports to a community's moderators' instances), else 403; an account alone is dropped |
//! | `Resolve` of a `Flag` | a moderator of the reported content's community, as its home lists them (see [`moderates`]); a `Resolve` of a report about an account or about content not stored here changes nothing (those are this node's admins' to resolve) | C is the content's community |
//! | `Warn` of a post's or comment's author | a moderator of the content's community, as its home lists them | refused (Lemmy sends it to the author directly) |
//!
//! "Fetched from its own id" means the inner activity was given (or re-read) by URL and fetched
//! from the actor's own authority, so the actor's server vouches for it; the fetch library checks
//! that the document's `id` is the URL fetched. Anything that fails a rule is refused with a 4xx
//! naming the rule, and the inbox logs it; nothing is written before the rules pass.

use crate::error::FedError;
use crate::fetch::{self, FedData};
use crate::json::{id_of, kind_of};
use crate::protocol::activities::Incoming;
use canopy_core::same_authority;
use canopy_db::actors::CommunityActor;
use serde_json::Value;
use url::Url;

/// Actor types that are people (they author content and vote).
pub const PERSON_TYPES: [&str; 4] = ["Person", "Service", "Application", "Organization"];

/// Nothing from outside acts as, or in the name of, a local actor.
pub fn not_local_actor(actor: &Url, data: &FedData) -> Result<(), FedError> {
    if fetch::is_local(actor, data) {
        return Err(FedError::forbidden(format!(
            "{actor} is an actor of this node; activities from outside cannot act in its name"
        )));
    }
    Ok(())
}

/// The envelope rules every activity keeps, directly sent or relayed: the actor is not local,
/// and an id, when present, is on the actor's authority (so not on ours).
pub fn envelope(activity: &Incoming, data: &FedData) -> Result<(), FedError> {
    let actor = activity.actor();
    not_local_actor(actor, data)?;
    if let Some(id) = activity.id() {
        if !same_authority(id, actor) {
            return Err(FedError::forbidden(format!(
                "{} id {id} is on another host than its actor {actor}",
                activity.kind()
            )));
        }
    }
    Ok(())
}

/// The one author of an object. `attributedTo` may be a list (PeerTube and Lemmy name the
/// channel or community beside the person): typed entries that are not people are left out,
/// and exactly one author must remain.
pub fn one_author(object: &Value) -> Result<Url, FedError> {
    let field = object
        .get("attributedTo")
        .ok_or_else(|| FedError::bad("the object has no attributedTo"))?;
    let entries: Vec<&Value> = match field {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut people = entries.into_iter().filter(|e| {
        let kind = kind_of(e);
        kind.is_empty() || PERSON_TYPES.contains(&kind)
    });
    let first = people
        .next()
        .and_then(id_of)
        .ok_or_else(|| FedError::bad("attributedTo names no person"))?;
    if let Some(second) = people.next().and_then(id_of) {
        if second != first {
            return Err(FedError::forbidden(format!(
                "attributedTo names several authors ({first}, {second}); content has one"
            )));
        }
    }
    Ok(first)
}

/// An object `actor` publishes: its id is on the actor's authority and its one author is the
/// actor. Returns the object's id.
pub fn authored_by(object: &Value, actor: &Url) -> Result<Url, FedError> {
    let id = object
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| FedError::bad("object without id"))?;
    if !same_authority(&id, actor) {
        return Err(FedError::forbidden(format!(
            "object {id} claims another host than its actor {actor}"
        )));
    }
    let author = one_author(object)?;
    if &author != actor {
        return Err(FedError::forbidden(format!(
            "object {id} is not attributed to its actor {actor} (it names {author})"
        )));
    }
    Ok(id)
}

/// Stored content is changed (updated, deleted) only by its creator.
pub fn may_change(stored_creator: &str, actor: &Url, what: &Url) -> Result<(), FedError> {
    if stored_creator != actor.as_str() {
        return Err(FedError::forbidden(format!(
            "{actor} may not change {what}: it was created by {stored_creator}"
        )));
    }
    Ok(())
}

/// A moderation of `community` (a removal, a restoration, a lock, a change of its moderators) is
/// taken from `actor` only when the community's home lists the actor as one of its moderators
/// (this node's list for a local community; for a remote one, the list read from its moderators
/// collection when it was last fetched, kept up to date by the `Add`/`Remove` it relays), or when
/// `via`, the community that relayed it, is that community itself: a community is the authority
/// on its own moderation. A community relaying the moderation of another's content is refused.
/// Admins of other instances are not recognised: nothing in ActivityPub tells them apart.
pub async fn moderates(
    community: &CommunityActor,
    actor: &Url,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    match via {
        Some(c) if c.id == community.id => Ok(()),
        Some(c) => Err(FedError::forbidden(format!(
            "{} relayed a moderation of {}'s content; a community relays only its own",
            c.ap_id, community.ap_id
        ))),
        None if canopy_db::moderation::is_moderator(&data.db, community.id, actor.as_str())
            .await? =>
        {
            Ok(())
        }
        None => Err(FedError::forbidden(format!(
            "{actor} is not a moderator of {} as its home lists them",
            community.ap_id
        ))),
    }
}

/// An actor updates only itself: the same id, not merely the same host.
pub fn updates_itself(object_id: &Url, actor: &Url) -> Result<(), FedError> {
    if object_id != actor {
        return Err(FedError::forbidden(format!(
            "{actor} may update only itself, not {object_id}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_author_leaves_out_groups_and_refuses_two_people() {
        let peertube = json!({"attributedTo": [
            {"type": "Person", "id": "https://v.example/accounts/a"},
            {"type": "Group", "id": "https://v.example/video-channels/c"}]});
        assert_eq!(
            one_author(&peertube).unwrap().as_str(),
            "https://v.example/accounts/a"
        );
        let plain = json!({"attributedTo": "https://a.example/u/x"});
        assert_eq!(
            one_author(&plain).unwrap().as_str(),
            "https://a.example/u/x"
        );
        let two = json!({"attributedTo": ["https://a.example/u/victim", "https://a.example/u/x"]});
        assert!(matches!(one_author(&two), Err(FedError::Forbidden(_))));
        let none = json!({"attributedTo": [{"type": "Group", "id": "https://a.example/c/g"}]});
        assert!(matches!(one_author(&none), Err(FedError::BadRequest(_))));
    }

    #[test]
    fn authored_by_compares_whole_authorities_and_the_one_author() {
        let actor = Url::parse("http://localhost:8001/u/x").unwrap();
        let other_port =
            json!({"id": "http://localhost:8002/n/1", "attributedTo": "http://localhost:8001/u/x"});
        assert!(matches!(
            authored_by(&other_port, &actor),
            Err(FedError::Forbidden(_))
        ));
        let someone_else =
            json!({"id": "http://localhost:8001/n/1", "attributedTo": "http://localhost:8001/u/y"});
        assert!(matches!(
            authored_by(&someone_else, &actor),
            Err(FedError::Forbidden(_))
        ));
        let own = json!({"id": "http://localhost:8001/n/1", "attributedTo": ["http://localhost:8001/u/x"]});
        assert!(authored_by(&own, &actor).is_ok());
    }

    #[test]
    fn an_actor_updates_only_itself() {
        let x = Url::parse("https://a.example/u/x").unwrap();
        let y = Url::parse("https://a.example/u/y").unwrap();
        assert!(updates_itself(&x, &x).is_ok());
        assert!(matches!(
            updates_itself(&y, &x),
            Err(FedError::Forbidden(_))
        ));
    }
}
