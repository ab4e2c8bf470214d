//! Content objects: posts are `Page`s and comments are `Note`s (Lemmy's shapes); deleted or
//! removed content is a `Tombstone`.

use super::{Kind, Source, PUBLIC};
use canopy_db::actors::{LocalComment, LocalPost};
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
}

impl Page {
    pub fn from_row(row: &LocalPost) -> Self {
        Self {
            id: row.ap_id.clone(),
            kind: Kind::Page,
            attributed_to: row.creator_ap_id.clone(),
            to: vec![row.community_ap_id.clone(), PUBLIC.to_string()],
            cc: vec![],
            audience: row.community_ap_id.clone(),
            name: row.title.clone(),
            content: row.body_html.clone(),
            media_type: "text/html".to_string(),
            source: row.body.as_deref().map(Source::markdown),
            attachment: row
                .url
                .iter()
                .map(|href| Attachment {
                    kind: Kind::Link,
                    href: href.clone(),
                })
                .collect(),
            published: row.published,
            updated: row.updated,
            sensitive: false,
            comments_enabled: !row.locked,
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
    /// The post the thread belongs to (FEP-7888).
    pub context: String,
    pub published: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
}

impl Note {
    pub fn from_row(row: &LocalComment) -> Self {
        Self {
            id: row.ap_id.clone(),
            kind: Kind::Note,
            attributed_to: row.creator_ap_id.clone(),
            to: vec![PUBLIC.to_string()],
            cc: vec![
                row.community_ap_id.clone(),
                row.parent_creator_ap_id.clone(),
            ],
            audience: row.community_ap_id.clone(),
            content: row.content_html.clone(),
            media_type: "text/html".to_string(),
            source: Source::markdown(&row.content),
            in_reply_to: row
                .parent_ap_id
                .clone()
                .unwrap_or_else(|| row.post_ap_id.clone()),
            context: row.post_ap_id.clone(),
            published: row.published,
            updated: row.updated,
        }
    }
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
