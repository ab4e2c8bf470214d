//! A community's moderators at work, as Lemmy sends it: removal and restoration of posts and
//! comments (`Delete` with `summary`, `Undo` of it), `Lock`/`Undo(Lock)` of posts, and
//! `Add`/`Remove` of moderators. Each is checked by [`rules::moderates`] before anything is
//! written, recorded in the moderation log, and (sent directly about a local community) forwarded
//! by the community to its followers.

use super::{relay, rules};
use crate::error::FedError;
use crate::fetch::{self, FedData};
use crate::protocol::activities::Collect;
use canopy_core::authority;
use canopy_db::actors::{self, CommunityActor};
use canopy_db::moderation::{self as db_moderation, Action, NewEntry};
use serde_json::Value;
use url::Url;

/// A received reason, cut to [`canopy_core::limits::MAX_REASON_CHARS`].
fn cut_reason(reason: Option<&str>) -> Option<String> {
    reason.map(|r| {
        r.chars()
            .take(canopy_core::limits::MAX_REASON_CHARS)
            .collect()
    })
}

/// The end of every received moderator action, once its change is made in `tx`: when it
/// changed something (`entry`), record it in the log, commit, and, when it was sent directly
/// (not relayed by the community), forward it to the community's followers.
async fn conclude(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    entry: Option<NewEntry<'_>>,
    raw: &Value,
    actor: &Url,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let Some(entry) = entry else {
        tx.commit().await?;
        return Ok(());
    };
    db_moderation::record(&mut tx, &entry).await?;
    tx.commit().await?;
    if via.is_none() {
        relay::forward(entry.community, raw, &authority(actor), data).await?;
    }
    Ok(())
}

/// Whether a `Delete` (or its `Undo`) by `actor` of content created by `creator` is a
/// moderator's removal rather than its author's deletion: it carries a `summary` (Lemmy's mark of
/// a removal), or the content is someone else's.
pub(super) fn is_removal(summary: Option<&str>, actor: &Url, creator: &str) -> bool {
    summary.is_some() || creator != actor.as_str()
}

/// `actor` removes (`remove`) or restores the post or comment `object`. Content this node never
/// stored is not fetched for this: there is nothing to remove.
pub(super) async fn remove(
    actor: &Url,
    object: &Url,
    reason: Option<&str>,
    remove: bool,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let Some(stored) = canopy_db::content::by_ap_id(&data.db, object.as_str()).await? else {
        return Ok(());
    };
    let community = actors::community_by_id(&data.db, stored.community_id).await?;
    rules::moderates(&community, actor, via, data).await?;
    let moderator = fetch::person(actor, data).await?;
    let mut tx = data.db.begin().await?;
    let changed =
        db_moderation::set_removed(&mut tx, stored.post_id, stored.comment_id, remove).await?;
    let reason = cut_reason(reason);
    let entry = NewEntry {
        action: Action::removal(stored.comment_id.is_some(), remove),
        moderator: moderator.id,
        community: community.id,
        post: Some(stored.post_id),
        comment: stored.comment_id,
        target_ap_id: None,
        reason: reason.as_deref(),
        until: None,
        local: false,
    };
    conclude(tx, changed.then_some(entry), raw, actor, via, data).await
}

/// `actor` locks (`locked`) or unlocks the post `object`. Canopy locks whole posts: a `Lock` of a
/// comment is refused.
pub(super) async fn lock(
    actor: &Url,
    object: &Url,
    reason: Option<&str>,
    locked: bool,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let Some(stored) = canopy_db::content::by_ap_id(&data.db, object.as_str()).await? else {
        return Ok(());
    };
    if stored.comment_id.is_some() {
        return Err(FedError::bad(format!(
            "{object} is a comment; Canopy locks whole posts, not single comments"
        )));
    }
    let community = actors::community_by_id(&data.db, stored.community_id).await?;
    rules::moderates(&community, actor, via, data).await?;
    let moderator = fetch::person(actor, data).await?;
    let mut tx = data.db.begin().await?;
    let changed = db_moderation::set_locked(&mut tx, stored.post_id, locked).await?;
    let reason = cut_reason(reason);
    let entry = NewEntry {
        action: if locked {
            Action::LockPost
        } else {
            Action::UnlockPost
        },
        moderator: moderator.id,
        community: community.id,
        post: Some(stored.post_id),
        comment: None,
        target_ap_id: None,
        reason: reason.as_deref(),
        until: None,
        local: false,
    };
    conclude(tx, changed.then_some(entry), raw, actor, via, data).await
}

/// `Add` (`add`) or `Remove` of a person to or from a community's moderators collection, or of
/// a post to or from its featured collection. Other collections are not handled.
pub(super) async fn moderator(
    c: &Collect,
    add: bool,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let kind = if add { "Add" } else { "Remove" };
    let target = &c.target.0;
    if let Some(community_id) = target.as_str().strip_suffix("/featured") {
        return feature(c, community_id, add, raw, via, data).await;
    }
    let Some(community_id) = target.as_str().strip_suffix("/moderators") else {
        return Err(FedError::bad(format!(
            "{kind} to {target} is not handled: only a community's moderators or featured \
             collection is"
        )));
    };
    let Some(community) = actors::community_by_ap_id(&data.db, community_id).await? else {
        // A community this node does not know: nobody here needs its moderators.
        return Ok(());
    };
    let actor = &c.actor.0;
    rules::moderates(&community, actor, via, data).await?;
    let moderator = fetch::person(actor, data).await?;
    let person = &c.object.0;
    // A local community's moderators are people this node stores (fetched now if unknown).
    let local_person = match community.local {
        true => Some(fetch::person(person, data).await?),
        false => None,
    };
    let mut tx = data.db.begin().await?;
    let changed = match (&local_person, add) {
        (Some(p), true) => db_moderation::add_moderator(&mut tx, community.id, p.id).await?,
        (Some(p), false) => db_moderation::remove_moderator(&mut tx, community.id, p.id).await?,
        (None, _) => {
            db_moderation::change_remote_moderator(&mut tx, community.id, person.as_str(), add)
                .await?
        }
    };
    let entry = NewEntry {
        action: if add {
            Action::AddModerator
        } else {
            Action::RemoveModerator
        },
        moderator: moderator.id,
        community: community.id,
        post: None,
        comment: None,
        target_ap_id: Some(person.as_str()),
        reason: None,
        until: None,
        local: false,
    };
    conclude(tx, changed.then_some(entry), raw, actor, via, data).await
}

/// `Add` (`add`) or `Remove` of a post of the community `community_id` to or from its featured
/// collection. A post this node never stored is not fetched for this.
async fn feature(
    c: &Collect,
    community_id: &str,
    add: bool,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let object = &c.object.0;
    let Some(stored) = canopy_db::content::by_ap_id(&data.db, object.as_str()).await? else {
        return Ok(());
    };
    let community = actors::community_by_id(&data.db, stored.community_id).await?;
    if stored.comment_id.is_some() || community.ap_id != community_id {
        return Err(FedError::bad(format!(
            "{object} is not a post of {community_id}; only its own posts are featured"
        )));
    }
    let actor = &c.actor.0;
    rules::moderates(&community, actor, via, data).await?;
    let moderator = fetch::person(actor, data).await?;
    let mut tx = data.db.begin().await?;
    let changed = db_moderation::set_featured(&mut tx, stored.post_id, add).await?;
    let entry = NewEntry {
        action: if add {
            Action::FeaturePost
        } else {
            Action::UnfeaturePost
        },
        moderator: moderator.id,
        community: community.id,
        post: Some(stored.post_id),
        comment: None,
        target_ap_id: None,
        reason: None,
        until: None,
        local: false,
    };
    conclude(tx, changed.then_some(entry), raw, actor, via, data).await
}

/// `Update` of the community `group` by `actor`, one of its moderators (Lemmy's shape: sent to
/// the community, which announces it), or relayed by the community itself.
///
/// - A remote community is read again from its home: the Group a moderator (or a relay) embeds is
///   never stored, so nobody but the community's own server sets its title, description, posting
///   restriction or key here.
/// - A local community takes its title, description and posting restriction (nothing else) from
///   the embedded Group of a moderator of it, then forwards the activity to its followers.
///
/// A change is recorded in the moderation log as `update_community`; an update of a community
/// this node does not know changes nothing.
pub(super) async fn update_community(
    group: &Url,
    object: &Value,
    actor: &Url,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let Some(community) = actors::community_by_ap_id(&data.db, group.as_str()).await? else {
        return Ok(());
    };
    rules::moderates(&community, actor, via, data).await?;
    let before = canopy_db::communities::by_id(&data.db, community.id).await?;
    let mut tx = data.db.begin().await?;
    let changed = if community.local {
        let text = fetch::actor_text(object);
        let settings = canopy_db::communities::Settings {
            title: text
                .display_name
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .unwrap_or(&before.title),
            description: text.bio.as_deref(),
            description_html: text.bio_html.as_deref(),
            posting_restricted_to_mods: object.get("postingRestrictedToMods")
                == Some(&Value::Bool(true)),
        };
        canopy_db::communities::update_settings(&mut tx, community.id, &settings).await?
    } else {
        fetch::actor(group, data, true).await?;
        let after = canopy_db::communities::by_id(&data.db, community.id).await?;
        (
            &after.title,
            &after.description,
            after.posting_restricted_to_mods,
        ) != (
            &before.title,
            &before.description,
            before.posting_restricted_to_mods,
        )
    };
    // The community relaying an update of itself is no moderator's action.
    if actor == group {
        tx.commit().await?;
        return Ok(());
    }
    let moderator = fetch::person(actor, data).await?;
    let entry = NewEntry {
        action: Action::UpdateCommunity,
        moderator: moderator.id,
        community: community.id,
        post: None,
        comment: None,
        target_ap_id: None,
        reason: None,
        until: None,
        local: false,
    };
    conclude(tx, changed.then_some(entry), raw, actor, via, data).await
}
