//! Reports this node sends, in Lemmy's shapes: a local report about content of a remote
//! community goes to that community's inbox as a `Flag`; a report resolved here that another
//! server's reporter made (or about a remote community's content) is answered with a `Resolve`
//! wrapping the `Flag`. A local community forwards reports about its content, and their
//! resolution, to the servers of its moderators on other servers (an `Announce` of the `Flag` or
//! `Resolve`, as Lemmy does). Reports are never announced to a community's followers.

use super::{activity_id, context, enqueue, inbox_target};
use crate::error::FedError;
use crate::urls::PublicBase;
use canopy_core::authority;
use canopy_db::actors::{CommunityActor, PersonActor};
use canopy_db::outbox::Signer;
use canopy_db::PgConnection;
use serde_json::{json, Value};

/// A fresh id for a `Flag` of this node (a report is stored under it before it is sent).
pub fn flag_id(base: &PublicBase) -> String {
    activity_id(base, "Flag")
}

/// A report as a `Flag`: who reported what, to which community, why.
#[derive(Debug, Clone, Copy)]
pub struct FlagOf<'a> {
    pub id: &'a str,
    pub reporter: &'a str,
    pub community: &'a str,
    pub object: &'a str,
    pub reason: &'a str,
}

impl FlagOf<'_> {
    /// The `Flag` (without `@context`).
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "type": "Flag",
            "actor": self.reporter,
            "to": [self.community],
            "object": self.object,
            "summary": self.reason,
            "audience": self.community,
        })
    }
}

/// The local person `reporter` reported a post or comment of the remote community `community`:
/// a `Flag` to the community's inbox, signed by the reporter.
pub async fn reported(
    conn: &mut PgConnection,
    reporter: &PersonActor,
    community: &CommunityActor,
    flag: FlagOf<'_>,
) -> Result<(), FedError> {
    let mut activity = flag.json();
    activity["@context"] = context();
    let targets: Vec<(String, String)> = inbox_target(&community.inbox_url).into_iter().collect();
    enqueue(
        conn,
        &activity,
        Some(flag.object),
        &reporter.ap_id,
        Signer::Person(reporter.id),
        &targets,
    )
    .await
}

/// The local `moderator` resolved the report `flag`: a `Resolve` wrapping it, signed by the
/// moderator, to `inbox` when given (the reporter's server, or the remote community the report is
/// about). Returns the activity, for [`to_moderators`].
pub async fn resolved(
    conn: &mut PgConnection,
    base: &PublicBase,
    moderator: &PersonActor,
    flag: FlagOf<'_>,
    inbox: Option<&str>,
) -> Result<Value, FedError> {
    let activity = json!({
        "@context": context(),
        "id": activity_id(base, "Resolve"),
        "type": "Resolve",
        "actor": moderator.ap_id,
        "to": [flag.community],
        "object": flag.json(),
        "audience": flag.community,
    });
    if let Some(inbox) = inbox {
        let targets: Vec<(String, String)> = inbox_target(inbox).into_iter().collect();
        enqueue(
            conn,
            &activity,
            Some(flag.object),
            &moderator.ap_id,
            Signer::Person(moderator.id),
            &targets,
        )
        .await?;
    }
    Ok(activity)
}

/// The local community `community` forwards `activity` (a `Flag` or `Resolve` about its content
/// `object`) to the servers of its moderators on other servers, in an `Announce`, except to the
/// instances in `except` (authorities: where it came from, or was sent already).
pub async fn to_moderators(
    conn: &mut PgConnection,
    base: &PublicBase,
    community: &CommunityActor,
    activity: &Value,
    object: &str,
    except: &[&str],
) -> Result<(), FedError> {
    if !community.local {
        return Ok(());
    }
    let targets: Vec<(String, String)> =
        canopy_db::reports::remote_moderator_inboxes(conn, community.id)
            .await?
            .iter()
            .filter_map(|i| inbox_target(i))
            .filter(|(_, a)| !except.contains(&a.as_str()))
            .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let mut inner = activity.clone();
    if let Some(o) = inner.as_object_mut() {
        o.remove("@context");
    }
    let announce = json!({
        "@context": context(),
        "id": activity_id(base, "announce"),
        "type": "Announce",
        "actor": community.ap_id,
        "to": [super::moderators_url(&community.ap_id)],
        "object": inner,
    });
    enqueue(
        conn,
        &announce,
        Some(object),
        &community.ap_id,
        Signer::Community(community.id),
        &targets,
    )
    .await
}

/// The authority of an inbox URL, for [`to_moderators`]'s `except`.
pub fn authority_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok().map(|u| authority(&u))
}
