//! Serde types of the activities the inbox acts on, one per kind.
//!
//! Real servers write the same field in several ways: a URL, an embedded object with an `id`, or
//! an array of either; `type` may be a string or an array. [`Id`] reads all of these, so each
//! activity below states only what it needs. What an activity is *allowed* to do is not decided
//! here but in [`crate::receive::rules`].

use crate::error::FedError;
use crate::json::{id_of, kind_of};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use url::Url;

/// A field naming one object: a URL, an embedded object with an `id`, or an array whose first
/// entry is one of those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id(pub Url);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        id_of(&v)
            .map(Id)
            .ok_or_else(|| serde::de::Error::custom("not a URL nor an object with an id"))
    }
}

/// `Follow`: `actor` asks to follow `object`.
#[derive(Debug, Clone, Deserialize)]
pub struct Follow {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Id,
}

/// `Accept` or `Reject` of a Follow, embedded (Lemmy, Mastodon) or named by its id (Mitra).
#[derive(Debug, Clone, Deserialize)]
pub struct Answer {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Value,
}

impl Answer {
    /// The answered Follow when it is embedded with its actor.
    pub fn embedded_follow(&self) -> Option<Follow> {
        self.object
            .is_object()
            .then(|| Follow::deserialize(&self.object).ok())
            .flatten()
    }
}

/// `Create` or `Update`: `object` is the embedded object (a Note, a Page, or an actor).
#[derive(Debug, Clone, Deserialize)]
pub struct Publish {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Value,
}

/// `Delete` of the object named (a Tombstone embedded or its id). A moderator's removal carries
/// its reason in `summary` (Lemmy sends an empty one when none was given).
#[derive(Debug, Clone, Deserialize)]
pub struct Delete {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Id,
    #[serde(default)]
    pub summary: Option<String>,
}

/// `Lock` of a post (no new comments), with its reason in `summary`.
#[derive(Debug, Clone, Deserialize)]
pub struct Lock {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Id,
    #[serde(default)]
    pub summary: Option<String>,
}

/// `Add` or `Remove` of `object` to or from the collection `target` (a community's moderators).
#[derive(Debug, Clone, Deserialize)]
pub struct Collect {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Id,
    pub target: Id,
}

/// `Flag`: a report. `object` names what is reported: one post or comment (Lemmy), or a list
/// of an account and its statuses (Mastodon) or of a post and its author (Mbin). The reason is
/// in `summary` (Lemmy, Mbin) or `content` (Mastodon).
#[derive(Debug, Clone, Deserialize)]
pub struct Flag {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Value,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
}

/// `Resolve` of a `Flag` (Lemmy): the report embedded, or named by its id.
#[derive(Debug, Clone, Deserialize)]
pub struct Resolve {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Value,
}

/// `Warn` (Lemmy): a moderator warns the author of `object`, a post or comment, with the reason
/// in `summary`.
#[derive(Debug, Clone, Deserialize)]
pub struct Warn {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Id,
    #[serde(default)]
    pub summary: Option<String>,
}

/// `Block` of a person: with `target` a community, a ban from it (Lemmy); with `target` an
/// instance's own actor, a ban from that instance; without `target`, one person blocking another
/// (Mastodon), which concerns nobody else. The end is `expires` (Lemmy's older `endTime` too).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Id,
    #[serde(default)]
    pub target: Option<Id>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub remove_data: Option<bool>,
}

/// `Like` (`score` 1) or `Dislike` (`score` -1) of a post or comment. Mastodon's
/// `EmojiReact` counts as a Like.
#[derive(Debug, Clone, Deserialize)]
pub struct Vote {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Id,
    #[serde(skip)]
    pub score: i16,
}

/// What an `Undo` takes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoneKind {
    Follow,
    Vote,
    /// A Delete: its author's (restore) or a moderator's removal (with `summary`).
    Delete,
    Lock,
    /// A ban (`Block` with `target`).
    Block,
}

/// The activity inside an `Undo`: its actor may be left out (it is the Undo's own).
#[derive(Debug, Clone, Deserialize)]
pub struct Undone {
    #[serde(skip, default = "undone_default")]
    pub kind: UndoneKind,
    pub id: Option<Id>,
    pub actor: Option<Id>,
    pub object: Id,
    #[serde(default)]
    pub summary: Option<String>,
    /// Where an undone `Block` applied.
    #[serde(default)]
    pub target: Option<Id>,
}

fn undone_default() -> UndoneKind {
    UndoneKind::Vote
}

/// `Undo` of an earlier Follow, vote, Delete or Lock, which must be embedded.
#[derive(Debug, Clone)]
pub struct Undo {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Undone,
}

/// `Announce` of an activity (FEP-1b12, by a community) or of an object (a boost).
#[derive(Debug, Clone, Deserialize)]
pub struct Announce {
    pub id: Option<Id>,
    pub actor: Id,
    pub object: Value,
}

/// An incoming activity of a kind this node acts on.
#[derive(Debug, Clone)]
pub enum Incoming {
    Follow(Follow),
    Accept(Answer),
    Reject(Answer),
    Undo(Undo),
    Create(Publish),
    Update(Publish),
    Delete(Delete),
    Vote(Vote),
    Announce(Announce),
    Lock(Lock),
    Add(Collect),
    Remove(Collect),
    Block(Block),
    Flag(Flag),
    Resolve(Resolve),
    Warn(Warn),
}

fn typed<'a, T: Deserialize<'a>>(v: &'a Value, kind: &str) -> Result<T, FedError> {
    T::deserialize(v).map_err(|e| FedError::bad(format!("malformed {kind}: {e}")))
}

impl Incoming {
    /// Read an activity; unknown kinds and malformed fields are refused with what was wrong.
    pub fn parse(v: &Value) -> Result<Self, FedError> {
        let kind = kind_of(v);
        Ok(match kind {
            "Follow" => Incoming::Follow(typed(v, kind)?),
            "Accept" => Incoming::Accept(typed(v, kind)?),
            "Reject" => Incoming::Reject(typed(v, kind)?),
            "Create" => Incoming::Create(typed(v, kind)?),
            "Update" => Incoming::Update(typed(v, kind)?),
            "Delete" => Incoming::Delete(typed(v, kind)?),
            "Like" | "EmojiReact" => Incoming::Vote(Vote {
                score: 1,
                ..typed(v, kind)?
            }),
            "Dislike" => Incoming::Vote(Vote {
                score: -1,
                ..typed(v, kind)?
            }),
            "Announce" => Incoming::Announce(typed(v, kind)?),
            "Lock" => Incoming::Lock(typed(v, kind)?),
            "Add" => Incoming::Add(typed(v, kind)?),
            "Remove" => Incoming::Remove(typed(v, kind)?),
            "Block" => Incoming::Block(typed(v, kind)?),
            "Flag" => Incoming::Flag(typed(v, kind)?),
            "Resolve" => Incoming::Resolve(typed(v, kind)?),
            "Warn" => Incoming::Warn(typed(v, kind)?),
            "Undo" => {
                #[derive(Deserialize)]
                struct Envelope {
                    id: Option<Id>,
                    actor: Id,
                }
                let envelope: Envelope = typed(v, kind)?;
                let inner = v
                    .get("object")
                    .filter(|o| o.is_object())
                    .ok_or_else(|| FedError::bad("Undo must embed the activity it undoes"))?;
                let undone_kind = match kind_of(inner) {
                    "Follow" => UndoneKind::Follow,
                    "Like" | "Dislike" | "EmojiReact" => UndoneKind::Vote,
                    "Delete" => UndoneKind::Delete,
                    "Lock" => UndoneKind::Lock,
                    "Block" => UndoneKind::Block,
                    "" => return Err(FedError::bad("the activity inside Undo has no type")),
                    other => {
                        return Err(FedError::bad(format!("Undo of {other:?} is not handled")))
                    }
                };
                let object = Undone {
                    kind: undone_kind,
                    ..typed(inner, "undone activity")?
                };
                Incoming::Undo(Undo {
                    id: envelope.id,
                    actor: envelope.actor,
                    object,
                })
            }
            "" => return Err(FedError::bad("activity without a type")),
            other => {
                return Err(FedError::bad(format!(
                    "activities of type {other:?} are not handled"
                )))
            }
        })
    }

    /// The actor the activity names.
    pub fn actor(&self) -> &Url {
        match self {
            Incoming::Follow(a) => &a.actor.0,
            Incoming::Accept(a) | Incoming::Reject(a) => &a.actor.0,
            Incoming::Undo(a) => &a.actor.0,
            Incoming::Create(a) | Incoming::Update(a) => &a.actor.0,
            Incoming::Delete(a) => &a.actor.0,
            Incoming::Vote(a) => &a.actor.0,
            Incoming::Announce(a) => &a.actor.0,
            Incoming::Lock(a) => &a.actor.0,
            Incoming::Add(a) | Incoming::Remove(a) => &a.actor.0,
            Incoming::Block(a) => &a.actor.0,
            Incoming::Flag(a) => &a.actor.0,
            Incoming::Resolve(a) => &a.actor.0,
            Incoming::Warn(a) => &a.actor.0,
        }
    }

    /// The activity's own id, when it has one.
    pub fn id(&self) -> Option<&Url> {
        let id = match self {
            Incoming::Follow(a) => &a.id,
            Incoming::Accept(a) | Incoming::Reject(a) => &a.id,
            Incoming::Undo(a) => &a.id,
            Incoming::Create(a) | Incoming::Update(a) => &a.id,
            Incoming::Delete(a) => &a.id,
            Incoming::Vote(a) => &a.id,
            Incoming::Announce(a) => &a.id,
            Incoming::Lock(a) => &a.id,
            Incoming::Add(a) | Incoming::Remove(a) => &a.id,
            Incoming::Block(a) => &a.id,
            Incoming::Flag(a) => &a.id,
            Incoming::Resolve(a) => &a.id,
            Incoming::Warn(a) => &a.id,
        };
        id.as_ref().map(|i| &i.0)
    }

    /// The kind, for logs and error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Incoming::Follow(_) => "Follow",
            Incoming::Accept(_) => "Accept",
            Incoming::Reject(_) => "Reject",
            Incoming::Undo(_) => "Undo",
            Incoming::Create(_) => "Create",
            Incoming::Update(_) => "Update",
            Incoming::Delete(_) => "Delete",
            Incoming::Vote(v) if v.score < 0 => "Dislike",
            Incoming::Vote(_) => "Like",
            Incoming::Announce(_) => "Announce",
            Incoming::Lock(_) => "Lock",
            Incoming::Add(_) => "Add",
            Incoming::Remove(_) => "Remove",
            Incoming::Block(_) => "Block",
            Incoming::Flag(_) => "Flag",
            Incoming::Resolve(_) => "Resolve",
            Incoming::Warn(_) => "Warn",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_read_in_every_shape_servers_use() {
        let like = Incoming::parse(&json!({
            "type": ["Like"],
            "actor": [{"id": "https://a.example/u/x", "type": "Person"}],
            "object": {"id": "https://b.example/post/1"},
        }))
        .unwrap();
        let Incoming::Vote(v) = like else {
            panic!("a Like is a vote")
        };
        assert_eq!(v.actor.0.as_str(), "https://a.example/u/x");
        assert_eq!(v.object.0.as_str(), "https://b.example/post/1");
        assert_eq!(v.score, 1);
        assert!(v.id.is_none());
    }

    #[test]
    fn undo_must_embed_a_known_activity() {
        let by_id = json!({"type": "Undo", "actor": "https://a.example/u/x", "object": "https://a.example/like/1"});
        assert!(matches!(
            Incoming::parse(&by_id),
            Err(FedError::BadRequest(_))
        ));
        let of_create = json!({"type": "Undo", "actor": "https://a.example/u/x",
            "object": {"type": "Create", "object": "https://a.example/n/1"}});
        assert!(matches!(
            Incoming::parse(&of_create),
            Err(FedError::BadRequest(_))
        ));
        let dislike = json!({"type": "Undo", "actor": "https://a.example/u/x",
            "object": {"type": "Dislike", "object": "https://b.example/n/1"}});
        let Ok(Incoming::Undo(u)) = Incoming::parse(&dislike) else {
            panic!("Undo(Dislike) is read")
        };
        assert_eq!(u.object.kind, UndoneKind::Vote);
        assert!(u.object.actor.is_none());
    }

    #[test]
    fn missing_or_malformed_fields_are_refused_with_the_kind() {
        for bad in [
            json!({"type": "Follow", "actor": "https://a.example/u/x"}),
            json!({"type": "Delete", "actor": 3, "object": "https://a.example/n/1"}),
            json!({"type": "Create", "object": {}}),
            json!({"type": "Add", "actor": "https://a.example/u/x", "object": "https://a.example/u/y"}),
            json!({"type": "Move", "actor": "https://a.example/u/x", "object": "x"}),
            json!({"actor": "https://a.example/u/x"}),
        ] {
            assert!(
                matches!(Incoming::parse(&bad), Err(FedError::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
