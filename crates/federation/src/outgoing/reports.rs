//! Reports this node sends, in Lemmy's shapes: a local report about content of a remote
//! community goes to that community's inbox as a `Flag`; a report resolved here that another
//! server's reporter made (or that this node sent to a remote community) is answered with a
//! `Resolve` wrapping the `Flag`. Reports are never announced to a community's followers.

use super::{activity_id, context, enqueue, inbox_target};
use crate::error::FedError;
use crate::urls::PublicBase;
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
    fn json(&self) -> Value {
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
/// moderator, to `inbox` (the reporter's server, or the remote community the report was sent
/// to).
pub async fn resolved(
    conn: &mut PgConnection,
    base: &PublicBase,
    moderator: &PersonActor,
    flag: FlagOf<'_>,
    inbox: &str,
) -> Result<(), FedError> {
    let activity = json!({
        "@context": context(),
        "id": activity_id(base, "Resolve"),
        "type": "Resolve",
        "actor": moderator.ap_id,
        "to": [flag.community],
        "object": flag.json(),
        "audience": flag.community,
    });
    let targets: Vec<(String, String)> = inbox_target(inbox).into_iter().collect();
    enqueue(
        conn,
        &activity,
        Some(flag.object),
        &moderator.ap_id,
        Signer::Person(moderator.id),
        &targets,
    )
    .await
}
