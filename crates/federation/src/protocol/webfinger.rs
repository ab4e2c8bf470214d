//! WebFinger (RFC 7033) documents, as Mastodon and Lemmy read them.

use super::Kind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `properties` key that tells Lemmy-style clients which kind of actor a link is.
pub const TYPE_PROPERTY: &str = "https://www.w3.org/ns/activitystreams#type";

pub const REL_SELF: &str = "self";
pub const REL_PROFILE_PAGE: &str = "http://webfinger.net/rel/profile-page";

/// Media type of WebFinger responses.
pub const JRD_JSON: &str = "application/jrd+json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Webfinger {
    pub subject: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub aliases: Vec<String>,
    pub links: Vec<WebfingerLink>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebfingerLink {
    pub rel: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub href: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub properties: BTreeMap<String, String>,
}

/// An actor WebFinger can name.
#[derive(Debug, Clone)]
pub struct WebfingerActor {
    pub ap_id: String,
    pub kind: Kind,
}

impl Webfinger {
    /// The document for `acct:{name}@{authority}` naming `actors` in the given order: a `self`
    /// link per actor, typed, then a profile page per actor.
    pub fn new(subject: String, actors: &[WebfingerActor]) -> Self {
        let selves = actors.iter().map(|a| WebfingerLink {
            rel: REL_SELF.to_string(),
            kind: Some("application/activity+json".to_string()),
            href: a.ap_id.clone(),
            properties: BTreeMap::from([(TYPE_PROPERTY.to_string(), kind_name(a.kind))]),
        });
        let pages = actors.iter().map(|a| WebfingerLink {
            rel: REL_PROFILE_PAGE.to_string(),
            kind: Some("text/html".to_string()),
            href: a.ap_id.clone(),
            properties: BTreeMap::new(),
        });
        Self {
            subject,
            aliases: actors.iter().map(|a| a.ap_id.clone()).collect(),
            links: selves.chain(pages).collect(),
        }
    }
}

fn kind_name(kind: Kind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
