//! `OrderedCollection`s: moderators, followers, outboxes, featured posts, and the paged thread
//! collections (a post's `context`, the `replies` of a post or comment).

use super::Kind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderedCollection {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub total_items: i64,
    /// Absent where only the count is published (followers, as Lemmy does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordered_items: Option<Vec<String>>,
}

impl OrderedCollection {
    /// A collection that lists its items.
    pub fn with_items(id: String, items: Vec<String>) -> Self {
        Self {
            id,
            kind: Kind::OrderedCollection,
            total_items: i64::try_from(items.len()).unwrap_or(i64::MAX),
            ordered_items: Some(items),
        }
    }

    /// A collection that publishes only its size.
    pub fn count_only(id: String, total_items: i64) -> Self {
        Self {
            id,
            kind: Kind::OrderedCollection,
            total_items,
            ordered_items: None,
        }
    }
}

/// A collection of embedded objects (a community's featured posts, as Lemmy serves them).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCollection {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub total_items: i64,
    pub ordered_items: Vec<serde_json::Value>,
}

impl ObjectCollection {
    pub fn new(id: String, items: Vec<serde_json::Value>) -> Self {
        Self {
            id,
            kind: Kind::OrderedCollection,
            total_items: i64::try_from(items.len()).unwrap_or(i64::MAX),
            ordered_items: items,
        }
    }

    /// A collection that lists the first `items` of `total_items` (an outbox's latest).
    pub fn first_of(id: String, items: Vec<serde_json::Value>, total_items: i64) -> Self {
        Self {
            id,
            kind: Kind::OrderedCollection,
            total_items,
            ordered_items: items,
        }
    }
}

/// A paged collection (a thread's `context`, an object's `replies`): the count and a link to
/// the first page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PagedCollection {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub total_items: i64,
    pub first: String,
}

impl PagedCollection {
    pub fn new(id: String, total_items: i64, first: String) -> Self {
        Self {
            id,
            kind: Kind::OrderedCollection,
            total_items,
            first,
        }
    }
}

/// One page of a paged collection (ids or embedded objects); `next` is absent on the last page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectionPage {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub part_of: String,
    pub ordered_items: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next: Option<String>,
}

impl CollectionPage {
    pub fn new(
        id: String,
        part_of: String,
        items: Vec<serde_json::Value>,
        next: Option<String>,
    ) -> Self {
        Self {
            id,
            kind: Kind::OrderedCollectionPage,
            part_of,
            ordered_items: items,
            next,
        }
    }
}
