//! Actors: people (`Person`), communities (`Group`, Lemmy's shape) and the instance actor
//! (`Application`).

use super::{Endpoints, Kind, PublicKey, Source};
use crate::urls::PublicBase;
use canopy_db::published::{InstanceActorKeys, LocalCommunity, LocalPerson};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A local user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub preferred_username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The bio as sanitised HTML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    pub inbox: String,
    pub outbox: String,
    pub followers: String,
    pub endpoints: Endpoints,
    pub public_key: PublicKey,
    pub published: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
    /// The profile page; the actor id itself answers browsers with HTML.
    pub url: String,
    pub manually_approves_followers: bool,
    pub discoverable: bool,
    /// The profile picture (Mastodon's and Lemmy's `icon`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<Image>,
    /// The banner (Mastodon's header, Lemmy's banner: `image`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
}

/// A picture elsewhere: `{"type": "Image", "url": …}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Image {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

impl Image {
    fn at(url: Option<&str>) -> Option<Self> {
        url.map(|u| Image {
            kind: "Image".into(),
            url: u.to_string(),
        })
    }
}

impl Person {
    pub fn from_row(row: &LocalPerson, base: &PublicBase) -> Self {
        let summary = row.bio_html.clone().filter(|s| !s.is_empty());
        Self {
            id: row.ap_id.clone(),
            kind: Kind::Person,
            preferred_username: row.name.clone(),
            name: row.display_name.clone(),
            source: summary
                .as_ref()
                .and(row.bio.as_deref())
                .map(Source::markdown),
            summary,
            inbox: row.inbox_url.clone(),
            outbox: format!("{}/outbox", row.ap_id),
            followers: format!("{}/followers", row.ap_id),
            endpoints: shared_inbox(row.shared_inbox_url.as_deref(), base),
            public_key: PublicKey::main_key(&row.ap_id, &row.public_key_pem),
            published: row.created_at,
            updated: row.updated_at,
            url: row.ap_id.clone(),
            manually_approves_followers: false,
            discoverable: true,
            icon: Image::at(row.avatar_url.as_deref()),
            image: Image::at(row.banner_url.as_deref()),
        }
    }
}

/// A local community, shaped like Lemmy's so Lemmy, Kbin/Mbin and Mastodon all follow it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub preferred_username: String,
    /// The community's title.
    pub name: String,
    /// The description as sanitised HTML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The moderators collection (Lemmy names it here).
    pub attributed_to: String,
    /// The featured posts collection (Lemmy's name for it).
    pub featured: String,
    pub inbox: String,
    pub outbox: String,
    pub followers: String,
    pub endpoints: Endpoints,
    pub public_key: PublicKey,
    pub published: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
    pub url: String,
    pub posting_restricted_to_mods: bool,
    pub manually_approves_followers: bool,
    pub discoverable: bool,
}

impl Group {
    pub fn from_row(row: &LocalCommunity, base: &PublicBase) -> Self {
        let summary = row.description_html.clone().filter(|s| !s.is_empty());
        Self {
            id: row.ap_id.clone(),
            kind: Kind::Group,
            preferred_username: row.name.clone(),
            name: row.title.clone(),
            source: summary
                .as_ref()
                .and(row.description.as_deref())
                .map(Source::markdown),
            summary,
            attributed_to: format!("{}/moderators", row.ap_id),
            featured: crate::outgoing::featured_url(&row.ap_id),
            inbox: row.inbox_url.clone(),
            outbox: format!("{}/outbox", row.ap_id),
            followers: row
                .followers_url
                .clone()
                .unwrap_or_else(|| format!("{}/followers", row.ap_id)),
            endpoints: shared_inbox(row.shared_inbox_url.as_deref(), base),
            public_key: PublicKey::main_key(&row.ap_id, &row.public_key_pem),
            published: row.created_at,
            updated: row.updated_at,
            url: row.ap_id.clone(),
            posting_restricted_to_mods: row.posting_restricted_to_mods,
            manually_approves_followers: false,
            discoverable: true,
        }
    }
}

/// The instance actor at `/actor`: it signs fetches the node makes on its own behalf.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The node's host name.
    pub preferred_username: String,
    pub inbox: String,
    pub outbox: String,
    pub endpoints: Endpoints,
    pub public_key: PublicKey,
    pub published: DateTime<Utc>,
    pub manually_approves_followers: bool,
}

impl Application {
    /// The instance actor's `preferredUsername`: the node's host name.
    pub fn preferred_username_of(base: &PublicBase) -> String {
        host(base)
    }

    pub fn new(keys: &InstanceActorKeys, base: &PublicBase) -> Self {
        let id = instance_actor_id(base);
        Self {
            preferred_username: host(base),
            inbox: base.shared_inbox(),
            outbox: format!("{id}/outbox"),
            endpoints: shared_inbox(None, base),
            public_key: PublicKey::main_key(&id, &keys.public_key_pem),
            published: keys.created_at,
            manually_approves_followers: true,
            kind: Kind::Application,
            id,
        }
    }
}

/// `{base}/actor`.
pub fn instance_actor_id(base: &PublicBase) -> String {
    format!("{}/actor", base.as_str())
}

/// The host of the node's authority, without the port.
fn host(base: &PublicBase) -> String {
    url::Url::parse(base.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| base.authority().to_string())
}

fn shared_inbox(stored: Option<&str>, base: &PublicBase) -> Endpoints {
    Endpoints {
        shared_inbox: stored.map_or_else(|| base.shared_inbox(), str::to_string),
    }
}
