//! Content objects: posts are `Page`s and comments are `Note`s (Lemmy's shapes); deleted or
//! removed content is a `Tombstone`.

use super::{Kind, Source, PUBLIC};
use canopy_db::outbox::ContentAp;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A link a post points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub href: String,
}

/// A post.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub attributed_to: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// The community (FEP-1b12).
    pub audience: String,
    /// The title.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    pub media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub attachment: Vec<Attachment>,
    pub published: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
    pub sensitive: bool,
    pub comments_enabled: bool,
    /// Featured in its community (Lemmy's name).
    pub stickied: bool,
    /// The thread (FEP-7888): the collection of the post and all its comments. Absent on a
    /// remote post, whose thread its own server serves.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub context: Option<String>,
    /// The collection of the post's top-level comments (local posts only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub replies: Option<String>,
    /// `Mention`s of the people the post names (`@name@host`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tag: Vec<Mention>,
}

/// A mention of a person: `{"type": "Mention", "href": actor id, "name": "@name@host"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    #[serde(rename = "type")]
    pub kind: String,
    pub href: String,
    pub name: String,
}

/// The Mention tags of local content.
fn mentions(c: &ContentAp) -> Vec<Mention> {
    match (&c.mention_hrefs, &c.mention_names) {
        (Some(hrefs), Some(names)) => hrefs
            .iter()
            .zip(names)
            .map(|(href, name)| Mention {
                kind: "Mention".into(),
                href: href.clone(),
                name: name.clone(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `cc` with the mentioned people added (as Mastodon and Lemmy address them), once each.
fn cc_with_mentions(mut cc: Vec<String>, tags: &[Mention]) -> Vec<String> {
    for t in tags {
        if !cc.contains(&t.href) {
            cc.push(t.href.clone());
        }
    }
    cc
}

impl Page {
    /// A post as it is served at its id and embedded in the activities about it.
    pub fn from_content(c: &ContentAp) -> Self {
        let tag = mentions(c);
        Self {
            id: c.ap_id.clone(),
            kind: Kind::Page,
            attributed_to: c.creator_ap_id.clone(),
            to: vec![c.community_ap_id.clone(), PUBLIC.to_string()],
            cc: cc_with_mentions(vec![], &tag),
            audience: c.community_ap_id.clone(),
            name: c.title.clone().unwrap_or_default(),
            content: c.html.clone().filter(|h| !h.is_empty()),
            media_type: "text/html".to_string(),
            source: c
                .source
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(Source::markdown),
            attachment: c
                .url
                .iter()
                .map(|href| Attachment {
                    kind: Kind::Link,
                    href: href.clone(),
                })
                .collect(),
            published: c.published,
            updated: c.updated,
            sensitive: false,
            comments_enabled: !c.locked,
            stickied: c.featured,
            context: if c.post_local {
                Some(context_url(&c.post_ap_id))
            } else {
                c.remote_context.clone()
            },
            replies: c.local.then(|| replies_url(&c.ap_id)),
            tag,
        }
    }
}

/// A comment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub attributed_to: String,
    pub to: Vec<String>,
    /// The community and the author of what this replies to, so both hear of it.
    pub cc: Vec<String>,
    pub audience: String,
    pub content: String,
    pub media_type: String,
    pub source: Source,
    /// The parent comment, or the post for a top-level comment.
    pub in_reply_to: String,
    /// The thread (FEP-7888): the `context` collection of a local post; for a remote post, the
    /// collection its home named (stored when the post was), else the post's own id.
    pub context: String,
    /// The collection of the comment's direct replies (local comments only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub replies: Option<String>,
    pub published: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
    /// `Mention`s of the people the comment names (`@name@host`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tag: Vec<Mention>,
}

impl Note {
    /// A comment as it is served at its id and embedded in the activities about it.
    pub fn from_content(c: &ContentAp) -> Self {
        let mut cc = vec![c.community_ap_id.clone()];
        cc.extend(c.parent_author_ap_id.iter().cloned());
        let tag = mentions(c);
        let cc = cc_with_mentions(cc, &tag);
        Self {
            id: c.ap_id.clone(),
            kind: Kind::Note,
            attributed_to: c.creator_ap_id.clone(),
            to: vec![PUBLIC.to_string()],
            cc,
            audience: c.community_ap_id.clone(),
            content: c.html.clone().unwrap_or_default(),
            media_type: "text/html".to_string(),
            source: Source::markdown(c.source.as_deref().unwrap_or_default()),
            in_reply_to: c
                .in_reply_to
                .clone()
                .unwrap_or_else(|| c.post_ap_id.clone()),
            // A remote thread: the collection its home named, else the post's own id.
            context: if c.post_local {
                context_url(&c.post_ap_id)
            } else {
                c.remote_context
                    .clone()
                    .unwrap_or_else(|| c.post_ap_id.clone())
            },
            replies: c.local.then(|| replies_url(&c.ap_id)),
            published: c.published,
            updated: c.updated,
            tag,
        }
    }
}

/// The `context` collection of a local post: the post's id with `/context`.
pub fn context_url(post_ap_id: &str) -> String {
    format!("{}/context", post_ap_id.trim_end_matches('/'))
}

/// The `replies` collection of a local post or comment: its id with `/replies`.
pub fn replies_url(ap_id: &str) -> String {
    format!("{}/replies", ap_id.trim_end_matches('/'))
}

/// The object of a post (`Page`) or comment (`Note`): the one shape a peer gets, whether it
/// fetches the object or receives it inside an activity.
pub fn object_of(c: &ContentAp) -> serde_json::Value {
    let object = if c.kind == "Page" {
        serde_json::to_value(Page::from_content(c))
    } else {
        serde_json::to_value(Note::from_content(c))
    };
    object.unwrap_or_default()
}

/// What stays of deleted or removed content (served with 410 Gone).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub former_type: Kind,
    /// When it was deleted, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DateTime<Utc>>,
}

impl Tombstone {
    pub fn new(id: &str, former_type: Kind, deleted: Option<DateTime<Utc>>) -> Self {
        Self {
            id: id.to_string(),
            kind: Kind::Tombstone,
            former_type,
            deleted,
        }
    }
}
