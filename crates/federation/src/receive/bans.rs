//! Bans received, as Lemmy sends them: `Block` of a person with `target` the community they are
//! banned from, or their own instance's actor for a ban from that instance; `Undo(Block)` lifts
//! it. `summary` is the reason, `expires` (or `endTime`) the end, `removeData` asks for their
//! content to go too.
//!
//! Who may say it (see the table in [`rules`]): a community ban only a moderator of that
//! community as its home lists them ([`rules::moderates`]), or the community relaying it; a
//! site ban only an actor of the banned person's own instance, naming that instance's actor as
//! the target (a ban an instance puts on someone of another instance concerns that instance
//! alone). A `Block` without `target` is one person blocking another (Mastodon): it concerns
//! nobody here and changes nothing.

use super::{relay, rules};
use crate::error::FedError;
use crate::fetch::{self, FedData};
use crate::protocol::activities::{Block, Undo};
use canopy_core::{authority, same_authority};
use canopy_db::actors::{self, CommunityActor, PersonActor};
use canopy_db::bans::{self as db_bans, Scope};
use canopy_db::moderation::{self as db_moderation, Action, NewEntry};
use chrono::{DateTime, Utc};
use serde_json::Value;
use url::Url;

/// What a received ban says.
struct Terms {
    reason: Option<String>,
    expires: Option<DateTime<Utc>>,
    remove_data: bool,
}

/// `actor` bans (`Block`) `object` where `target` says.
pub(super) async fn block(
    b: &Block,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let Some(target) = &b.target else {
        return Ok(());
    };
    let end = b.expires.as_deref().or(b.end_time.as_deref());
    let expires = match end {
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|e| FedError::bad(format!("`expires` {t:?} is not a date-time: {e}")))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let reason = b
        .summary
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.chars()
                .take(canopy_core::limits::MAX_REASON_CHARS)
                .collect()
        });
    let terms = Terms {
        reason,
        expires,
        remove_data: b.remove_data.unwrap_or(false),
    };
    apply(
        &b.actor.0,
        &b.object.0,
        &target.0,
        Some(terms),
        raw,
        via,
        data,
    )
    .await
}

/// `actor` lifts (`Undo(Block)`) a ban it sent.
pub(super) async fn undo_block(
    u: &Undo,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    let Some(target) = &u.object.target else {
        return Ok(());
    };
    apply(
        &u.actor.0,
        &u.object.object.0,
        &target.0,
        None,
        raw,
        via,
        data,
    )
    .await
}

/// Whether `target` names an instance's own actor rather than a community: Lemmy's site actor
/// is the instance's root URL, Canopy's (and Mastodon's) is `/actor`.
fn is_site_actor(target: &Url) -> bool {
    matches!(target.path(), "" | "/" | "/actor") && target.query().is_none()
}

/// Ban (`terms` given) or unban `person` where `target` says, for `actor`.
async fn apply(
    actor: &Url,
    person: &Url,
    target: &Url,
    terms: Option<Terms>,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    if let Some(community) = actors::community_by_ap_id(&data.db, target.as_str()).await? {
        return in_community(actor, person, &community, terms, raw, via, data).await;
    }
    if !is_site_actor(target) {
        // A community this node does not know: nobody here posts in it.
        return Ok(());
    }
    if via.is_some() {
        return Err(FedError::forbidden(
            "a community does not relay an instance's bans",
        ));
    }
    if !same_authority(target, actor) || !same_authority(person, actor) {
        return Err(FedError::forbidden(format!(
            "{actor} may not ban {person} from {target}: a ban from an instance is taken only \
             from that instance about its own people"
        )));
    }
    rules::not_local_actor(person, data)?;
    let moderator = fetch::person(actor, data).await?;
    let banned = fetch::person(person, data).await?;
    let mut tx = data.db.begin().await?;
    let changed = match &terms {
        Some(t) => {
            db_bans::ban(
                &mut tx,
                Scope::Site,
                banned.id,
                t.reason.as_deref(),
                t.expires,
                Some(moderator.id),
            )
            .await?
        }
        None => db_bans::unban(&mut tx, Scope::Site, banned.id).await?,
    };
    if changed {
        let reason = terms.as_ref().and_then(|t| t.reason.as_deref());
        let until = terms.as_ref().and_then(|t| t.expires);
        db_bans::record_site(
            &mut tx,
            terms.is_some(),
            moderator.id,
            person.as_str(),
            reason,
            until,
            false,
        )
        .await?;
    }
    if let Some(t) = terms.as_ref().filter(|t| t.remove_data) {
        remove_data(&mut tx, &moderator, &banned, None, t).await?;
    }
    tx.commit().await?;
    tracing::info!(person = %person, by = %actor, banned = terms.is_some(), "site ban received");
    Ok(())
}

/// A community ban (or unban) of `person` by `actor`, a moderator of `community`.
async fn in_community(
    actor: &Url,
    person: &Url,
    community: &CommunityActor,
    terms: Option<Terms>,
    raw: &Value,
    via: Option<&CommunityActor>,
    data: &FedData,
) -> Result<(), FedError> {
    rules::moderates(community, actor, via, data).await?;
    let moderator = fetch::person(actor, data).await?;
    let banned = fetch::person(person, data).await?;
    let scope = Scope::Community(community.id);
    let mut tx = data.db.begin().await?;
    // Logged when the ban was not in force yet (the same ban arrives directly and relayed).
    let changed = match &terms {
        Some(t) => {
            db_bans::ban(
                &mut tx,
                scope,
                banned.id,
                t.reason.as_deref(),
                t.expires,
                Some(moderator.id),
            )
            .await?
        }
        None => db_bans::unban(&mut tx, scope, banned.id).await?,
    };
    if changed {
        db_moderation::record(
            &mut tx,
            &NewEntry {
                action: if terms.is_some() {
                    Action::BanPerson
                } else {
                    Action::UnbanPerson
                },
                moderator: moderator.id,
                community: community.id,
                post: None,
                comment: None,
                target_ap_id: Some(person.as_str()),
                reason: terms.as_ref().and_then(|t| t.reason.as_deref()),
                until: terms.as_ref().and_then(|t| t.expires),
                local: false,
            },
        )
        .await?;
    }
    if let Some(t) = terms.as_ref().filter(|t| t.remove_data) {
        remove_data(&mut tx, &moderator, &banned, Some(community.id), t).await?;
    }
    tx.commit().await?;
    if changed && via.is_none() {
        relay::forward(community.id, raw, &authority(actor), data).await?;
    }
    Ok(())
}

/// Remove `banned`'s posts and comments in `community` (everywhere with `None`) and log each
/// removal as `moderator`'s.
async fn remove_data(
    tx: &mut sqlx::PgConnection,
    moderator: &PersonActor,
    banned: &PersonActor,
    community: Option<canopy_core::CommunityId>,
    terms: &Terms,
) -> Result<(), FedError> {
    let removed = db_bans::remove_content(tx, banned.id, community).await?;
    for r in &removed {
        db_moderation::record(
            tx,
            &NewEntry {
                action: Action::removal(r.comment_id.is_some(), true),
                moderator: moderator.id,
                community: r.community_id,
                post: Some(r.post_id),
                comment: r.comment_id,
                target_ap_id: None,
                reason: terms.reason.as_deref(),
                until: None,
                local: false,
            },
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_actors_are_an_instance_root_or_its_actor() {
        for (url, site) in [
            ("https://lemmy.example/", true),
            ("https://canopy.example/actor", true),
            ("https://lemmy.example/c/main", false),
            ("https://lemmy.example/u/admin", false),
        ] {
            assert_eq!(is_site_actor(&Url::parse(url).unwrap()), site, "{url}");
        }
    }
}
