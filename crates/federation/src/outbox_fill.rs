//! On following a remote community, fill its recent posts from its outbox: a community followed
//! today would otherwise show only what is posted from now on.
//!
//! The outbox is read from the community's own document (on its authority), one page of it.
//! Each listed item names a post: `Announce(Create(Page))` as Lemmy and Canopy serve it,
//! `Create(Page)`, or the object itself. An embedded object is only a hint: every post is
//! fetched from its own id (the item is trusted because its origin served it) and stored only
//! when it is a post addressed to this community. One item failing skips that item only.

use crate::error::FedError;
use crate::fetch::{self, FedData};
use crate::json::{id_of, ids_of, kind_of};
use crate::objects;
use canopy_core::{limits, same_authority};
use canopy_db::actors::CommunityActor;
use serde_json::Value;
use url::Url;

/// How many of the outbox's items a fill takes, by default.
pub const DEFAULT_MAX: usize = 20;

/// Object types stored as posts.
const POST_TYPES: [&str; 6] = ["Page", "Article", "Video", "Question", "Event", "Audio"];

/// Store the posts listed first in `community`'s outbox (at most `max` items are looked at) that
/// this node does not have; returns how many were added. Each fetch for an item runs on a fresh
/// fetch budget (`data`'s covers the community and its outbox). Nothing is done for a local
/// community.
pub async fn fill_recent_posts(
    community: &CommunityActor,
    data: &FedData,
    max: usize,
) -> Result<usize, FedError> {
    if community.local || max == 0 {
        return Ok(0);
    }
    let group_id = Url::parse(&community.ap_id)
        .map_err(|_| FedError::Internal(format!("stored community id {}", community.ap_id)))?;
    let ids = outbox_post_ids(&group_id, data, max).await?;
    let mut added = 0;
    for id in ids {
        if canopy_db::content::by_ap_id(&data.db, id.as_str())
            .await?
            .is_some()
        {
            continue;
        }
        match fill_one(&id, community, &data.reset_request_count()).await {
            Ok(()) => added += 1,
            Err(e) => {
                tracing::info!(community = %group_id, post = %id, error = %e, "outbox item not filled");
            }
        }
    }
    tracing::debug!(community = %group_id, added, "filled recent posts from the outbox");
    Ok(added)
}

/// The ids of the posts the first `max` items of the community's outbox name, in its order,
/// without duplicates or local ids.
async fn outbox_post_ids(group_id: &Url, data: &FedData, max: usize) -> Result<Vec<Url>, FedError> {
    let group = fetch::fetch_json(group_id, data).await?;
    let outbox = group
        .get("outbox")
        .and_then(id_of)
        .ok_or_else(|| FedError::Unresolvable(format!("{group_id} names no outbox")))?;
    if !same_authority(&outbox, group_id) {
        return Err(FedError::forbidden(format!(
            "the outbox of {group_id} is on another host: {outbox}"
        )));
    }
    let collection = fetch::fetch_json(&outbox, data).await?;
    let items = match items_of(&collection) {
        Some(items) => items.clone(),
        None => {
            // The items are on the first page, linked or embedded.
            let first = collection
                .get("first")
                .ok_or_else(|| FedError::Unresolvable(format!("{outbox} lists no items")))?;
            let page = match first {
                Value::Object(_) => first.clone(),
                link => {
                    let url = id_of(link)
                        .filter(|u| same_authority(u, group_id))
                        .ok_or_else(|| {
                            FedError::Unresolvable(format!(
                                "{outbox}'s first page is not on its host"
                            ))
                        })?;
                    fetch::fetch_json(&url, data).await?
                }
            };
            items_of(&page)
                .cloned()
                .ok_or_else(|| FedError::Unresolvable(format!("{outbox} lists no items")))?
        }
    };
    let mut ids: Vec<Url> = Vec::new();
    for item in items.iter().take(max) {
        if let Some(id) = post_id_of(item) {
            if !fetch::is_local(&id, data) && !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

fn items_of(collection: &Value) -> Option<&Vec<Value>> {
    collection
        .get("orderedItems")
        .or_else(|| collection.get("items"))
        .and_then(Value::as_array)
}

/// The id of the post an outbox item names: through `Announce` and `Create` (embedded or by
/// id), or the item itself. Only http(s) ids within the URL length limit.
fn post_id_of(item: &Value) -> Option<Url> {
    let mut current = item;
    // Announce(Create(object)) at most: two wrappers.
    for _ in 0..2 {
        match kind_of(current) {
            "Announce" | "Create" => current = current.get("object")?,
            _ => break,
        }
    }
    let id = id_of(current)?;
    (matches!(id.scheme(), "http" | "https") && id.as_str().len() <= limits::MAX_URL_BYTES)
        .then_some(id)
}

/// Fetch `id` from its origin and store it, when it is a top-level post addressed to
/// `community`.
async fn fill_one(id: &Url, community: &CommunityActor, data: &FedData) -> Result<(), FedError> {
    let object = fetch::fetch_json(id, data).await?;
    // The library re-fetches an object from its own id when a host answers another id of its
    // own; what is stored is what that id served, under that id.
    let kind = kind_of(&object);
    if !POST_TYPES.contains(&kind) || object.get("inReplyTo").is_some_and(|v| !v.is_null()) {
        return Err(FedError::bad(format!("{id} is a {kind:?}, not a post")));
    }
    let addressed = ["audience", "to", "cc"]
        .iter()
        .flat_map(|f| ids_of(object.get(*f)))
        .any(|u| u.as_str() == community.ap_id);
    if !addressed {
        return Err(FedError::forbidden(format!(
            "{id} is not addressed to {}",
            community.ap_id
        )));
    }
    objects::store(&object, Some(community.id), data, &mut Vec::new()).await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_name_their_posts_through_announce_and_create() {
        let page = "https://a.example/post/1";
        for item in [
            json!(page),
            json!({"id": page, "type": "Page"}),
            json!({"type": "Create", "object": {"id": page, "type": "Page"}}),
            json!({"type": "Create", "object": page}),
            json!({"type": "Announce", "object": {"type": "Create", "object": {"id": page}}}),
            json!({"type": "Announce", "object": {"type": "Create", "object": page}}),
        ] {
            assert_eq!(post_id_of(&item).unwrap().as_str(), page, "{item}");
        }
        for item in [
            json!({"type": "Announce"}),
            json!({"type": "Create", "object": "javascript:x"}),
            json!(5),
            json!({"type": "Announce", "object": {"type": "Announce", "object": {"type": "Create", "object": page}}}),
        ] {
            let found = post_id_of(&item);
            assert!(
                found.as_ref().is_none_or(|u| u.as_str() != page),
                "{item}: {found:?}"
            );
        }
    }
}
