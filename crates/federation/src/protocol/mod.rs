//! Serde types for the ActivityStreams JSON this node emits, and builders that make them from
//! database rows. Handlers and (later) outgoing activities both build objects here, so an actor
//! or a post looks the same wherever it leaves the node.

pub mod activities;
pub mod actors;
pub mod collections;
pub mod nodeinfo;
pub mod objects;
pub mod webfinger;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The special collection that addresses everyone.
pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// Media type of ActivityStreams documents we serve.
pub const ACTIVITY_JSON: &str = "application/activity+json; charset=utf-8";

/// The `@context` of every document: ActivityStreams, the security vocabulary (for
/// `publicKey`), and the Lemmy, Mastodon and PeerTube extension terms we use.
pub fn context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {
            "lemmy": "https://join-lemmy.org/ns#",
            "pt": "https://joinpeertube.org/ns#",
            "toot": "http://joinmastodon.org/ns#",
            "sensitive": "as:sensitive",
            "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
            "postingRestrictedToMods": "lemmy:postingRestrictedToMods",
            "commentsEnabled": "pt:commentsEnabled",
            "discoverable": "toot:discoverable",
            "source": "as:source"
        }
    ])
}

/// A document with its `@context` in front.
#[derive(Debug, Clone, Serialize)]
pub struct WithContext<T> {
    #[serde(rename = "@context")]
    pub context: Value,
    #[serde(flatten)]
    pub inner: T,
}

impl<T> WithContext<T> {
    pub fn new(inner: T) -> Self {
        Self {
            context: context(),
            inner,
        }
    }
}

/// The `type` of the objects we emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Person,
    Group,
    Application,
    Page,
    Note,
    Tombstone,
    OrderedCollection,
    OrderedCollectionPage,
    Link,
}

/// The markdown an object's HTML was rendered from (Lemmy and Mastodon keep it for editing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub content: String,
    pub media_type: String,
}

impl Source {
    pub fn markdown(content: &str) -> Self {
        Self {
            content: content.to_string(),
            media_type: "text/markdown".to_string(),
        }
    }
}

/// An actor's signing key, at `{actor}#main-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    pub id: String,
    pub owner: String,
    pub public_key_pem: String,
}

impl PublicKey {
    pub fn main_key(owner: &str, public_key_pem: &str) -> Self {
        Self {
            id: format!("{owner}#main-key"),
            owner: owner.to_string(),
            public_key_pem: public_key_pem.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    pub shared_inbox: String,
}
