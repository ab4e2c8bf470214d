//! Bans as Lemmy sends them: `Block` of a person with `target` the community (a community ban)
//! or this node's instance actor (a site ban), `summary` the reason, `expires` (and Lemmy's
//! older `endTime`) the end, `removeData` whether their content goes too; `Undo(Block)` lifts it.

use super::{activity_id, context, enqueue, in_community, inbox_target, PUBLIC};
use crate::error::FedError;
use crate::urls::PublicBase;
use canopy_db::actors::{CommunityActor, PersonActor};
use canopy_db::outbox::Signer;
use canopy_db::PgConnection;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// What a ban says.
#[derive(Debug, Clone, Copy)]
pub struct BanTerms<'a> {
    pub reason: Option<&'a str>,
    pub expires: Option<DateTime<Utc>>,
    pub remove_data: bool,
}

/// The `Block` (or, with `undo`, the `Undo` of one) of `person` by `moderator` in `target`.
fn block_activity(
    base: &PublicBase,
    moderator: &PersonActor,
    person: &PersonActor,
    target: &str,
    terms: BanTerms<'_>,
    undo: bool,
) -> Value {
    let cc = target;
    let mut block = json!({
        "id": activity_id(base, "block"),
        "type": "Block",
        "actor": moderator.ap_id,
        "to": [PUBLIC],
        "cc": [cc],
        "audience": cc,
        "object": person.ap_id,
        "target": target,
        "removeData": terms.remove_data,
        "summary": terms.reason.unwrap_or_default(),
    });
    if let Some(end) = terms.expires {
        let end = end.to_rfc3339_opts(SecondsFormat::Secs, true);
        block["expires"] = json!(end);
        block["endTime"] = json!(end);
    }
    let mut activity = if undo {
        json!({
            "id": activity_id(base, "undo"),
            "type": "Undo",
            "actor": moderator.ap_id,
            "to": [PUBLIC],
            "cc": [cc],
            "audience": cc,
            "object": block,
        })
    } else {
        block
    };
    activity["@context"] = context();
    activity
}

/// Send a community ban (or, with `undo`, its lifting) of `person` in `community` by
/// `moderator`: into the community (announced to its remote followers when it is local, sent to
/// its home when it is remote) and to the banned person's own inbox when they are remote.
pub async fn banned_from_community(
    conn: &mut PgConnection,
    base: &PublicBase,
    community: &CommunityActor,
    moderator: &PersonActor,
    person: &PersonActor,
    terms: BanTerms<'_>,
    undo: bool,
) -> Result<(), FedError> {
    let activity = block_activity(base, moderator, person, &community.ap_id, terms, undo);
    let by = (moderator.id, moderator.ap_id.as_str());
    in_community(conn, base, community, by, &person.ap_id, activity.clone()).await?;
    // A remote community's home has the ban already (it relays it); anyone else is told directly.
    let at_home = !community.local
        && inbox_target(&person.inbox_url).is_some_and(|(_, a)| a == community.authority);
    if !person.local && !at_home {
        let inbox = person
            .shared_inbox_url
            .as_deref()
            .unwrap_or(&person.inbox_url);
        let target: Vec<(String, String)> = inbox_target(inbox).into_iter().collect();
        enqueue(
            conn,
            &activity,
            Some(&person.ap_id),
            &moderator.ap_id,
            Signer::Person(moderator.id),
            &target,
        )
        .await?;
    }
    Ok(())
}

/// This node's instance actor: the `target` of the site bans it sends.
pub fn site_actor(base: &PublicBase) -> String {
    format!("{}/actor", base.as_str())
}

/// Send a site ban (or, with `undo`, its lifting) of the local user `person` by the admin
/// `admin` to every instance that follows a community of this node (where their content went).
pub async fn banned_from_site(
    conn: &mut PgConnection,
    base: &PublicBase,
    admin: &PersonActor,
    person: &PersonActor,
    terms: BanTerms<'_>,
    undo: bool,
) -> Result<(), FedError> {
    let site = site_actor(base);
    let activity = block_activity(base, admin, person, &site, terms, undo);
    let targets: Vec<(String, String)> = canopy_db::bans::site_ban_inboxes(conn)
        .await?
        .iter()
        .filter_map(|i| inbox_target(i))
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    enqueue(
        conn,
        &activity,
        Some(&person.ap_id),
        &admin.ap_id,
        Signer::Person(admin.id),
        &targets,
    )
    .await
}
