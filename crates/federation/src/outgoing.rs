//! Activities this node sends. Each is written to the outbox (with one delivery per target
//! inbox) inside the caller's transaction, so content and its activity commit together; the
//! sender delivers them later. Nothing is sent from a request path.

use crate::error::FedError;
use crate::fetch::Actor;
use crate::fetch::FedData;
use crate::urls::PublicBase;
use canopy_core::{authority, CommentId, PostId};
use canopy_db::actors::{self, CommunityActor, PersonActor};
use canopy_db::follows;
use canopy_db::outbox::{self, ContentAp, NewActivity, Signer};
use canopy_db::PgConnection;
use serde_json::{json, Value};
use url::Url;

pub mod reports;

pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

fn context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1"
    ])
}

fn activity_id(base: &PublicBase, kind: &str) -> String {
    format!(
        "{}/activities/{}/{}",
        base.as_str(),
        kind.to_lowercase(),
        uuid::Uuid::new_v4()
    )
}

fn inbox_target(url: &str) -> Option<(String, String)> {
    Url::parse(url)
        .ok()
        .map(|u| (url.to_string(), authority(&u)))
}

/// The ActivityStreams object of a post (Page) or comment (Note), exactly as it is served.
pub fn object_json(c: &ContentAp) -> Value {
    crate::protocol::objects::object_of(c)
}

/// The `Create` of a local post or comment as an outbox lists it: the shape [`created`] sends,
/// with an id made from the content's own (`{base}/activities/create/{post|comment}/{id}`), so
/// a peer reading the outbox twice sees the same activity.
pub fn listed_create(base: &PublicBase, c: &ContentAp, local_id: i64) -> Value {
    let what = if c.kind == "Page" { "post" } else { "comment" };
    json!({
        "id": format!("{}/activities/create/{what}/{local_id}", base.as_str()),
        "type": "Create",
        "actor": c.creator_ap_id,
        "to": [PUBLIC],
        "cc": [c.community_ap_id],
        "audience": c.community_ap_id,
        "object": object_json(c),
    })
}

/// A local community's `Announce` of `create` (from [`listed_create`]) as its outbox lists it:
/// the shape a follower receives.
pub fn listed_announce(
    base: &PublicBase,
    community_ap_id: &str,
    create: Value,
    post_id: i64,
) -> Value {
    json!({
        "id": format!("{}/activities/announce/create/post/{post_id}", base.as_str()),
        "type": "Announce",
        "actor": community_ap_id,
        "to": [PUBLIC],
        "cc": [format!("{community_ap_id}/followers")],
        "object": create,
    })
}

/// Store `activity` (its id and type are read from it) with a delivery to each target.
async fn enqueue(
    conn: &mut PgConnection,
    activity: &Value,
    object_ap_id: Option<&str>,
    actor_ap_id: &str,
    signer: Signer,
    targets: &[(String, String)],
) -> Result<(), FedError> {
    outbox::enqueue(
        conn,
        &NewActivity {
            ap_id: activity["id"].as_str().unwrap_or_default(),
            kind: activity["type"].as_str().unwrap_or_default(),
            object_ap_id,
            actor_ap_id,
            signer,
            payload: activity,
        },
        targets,
    )
    .await?;
    Ok(())
}

/// Send `activity` (by a person) about content in `c`'s community: to the community's inbox when
/// it is remote (it will announce it), or announced by the local community to its followers.
async fn publish(
    conn: &mut PgConnection,
    base: &PublicBase,
    c: &ContentAp,
    activity: Value,
) -> Result<(), FedError> {
    let community = actors::community_by_id_in(conn, c.community_id).await?;
    let by = (c.creator_id, c.creator_ap_id.as_str());
    in_community(conn, base, &community, by, &c.ap_id, activity).await
}

/// Send `activity` by the person `by` (id, ActivityPub id) about `object` in `community`: to the
/// community's inbox when it is remote (it will announce it), or announced by the local community
/// to its followers (nobody receives the person's activity directly).
async fn in_community(
    conn: &mut PgConnection,
    base: &PublicBase,
    community: &CommunityActor,
    by: (canopy_core::PersonId, &str),
    object: &str,
    activity: Value,
) -> Result<(), FedError> {
    if community.local {
        announce_in(conn, base, community, &activity, Some(object), None).await
    } else {
        let target: Vec<(String, String)> =
            inbox_target(&community.inbox_url).into_iter().collect();
        enqueue(
            conn,
            &activity,
            Some(object),
            by.1,
            Signer::Person(by.0),
            &target,
        )
        .await
    }
}

/// A local community wraps `activity` in an Announce to its remote followers, except those on
/// `origin`, the instance the activity came from (it has it, and would refuse the echo).
async fn announce_in(
    conn: &mut PgConnection,
    base: &PublicBase,
    community: &CommunityActor,
    activity: &Value,
    object_ap_id: Option<&str>,
    origin: Option<&str>,
) -> Result<(), FedError> {
    let mut inboxes = follows::community_follower_inboxes_by_software(conn, community.id).await?;
    if let Some(origin) = origin {
        inboxes.retain(|f| inbox_target(&f.inbox).is_some_and(|(_, a)| a != origin));
    }
    if inboxes.is_empty() {
        // No remote followers: nothing to send, nothing to store.
        return Ok(());
    }
    let (microblog, threaded): (Vec<_>, Vec<_>) = inboxes
        .into_iter()
        .partition(|f| f.software.as_deref().is_some_and(is_microblog));
    // Microblogs (Mastodon and kin) do not display an Announce of an activity; they get an
    // Announce of the new post itself, which they fetch and show as a boost. Only new posts are
    // sent to them: comments would flood a timeline, and votes and edits mean nothing there.
    let creates_page = activity["type"] == "Create" && activity["object"]["type"] == "Page";
    if !microblog.is_empty() && creates_page {
        if let Some(object) = activity.get("object").and_then(crate::json::id_of) {
            let boost = json!({
                "@context": context(),
                "id": activity_id(base, "announce"),
                "type": "Announce",
                "actor": community.ap_id,
                "to": [PUBLIC],
                "cc": [format!("{}/followers", community.ap_id)],
                "object": object.as_str(),
            });
            let targets: Vec<(String, String)> = microblog
                .iter()
                .filter_map(|f| inbox_target(&f.inbox))
                .collect();
            enqueue(
                conn,
                &boost,
                object_ap_id,
                &community.ap_id,
                Signer::Community(community.id),
                &targets,
            )
            .await?;
        }
    }
    let targets: Vec<(String, String)> = threaded
        .iter()
        .filter_map(|f| inbox_target(&f.inbox))
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
        "to": [PUBLIC],
        "cc": [format!("{}/followers", community.ap_id)],
        "object": inner,
    });
    enqueue(
        conn,
        &announce,
        object_ap_id,
        &community.ap_id,
        Signer::Community(community.id),
        &targets,
    )
    .await
}

/// Software that shows posts as a timeline of statuses rather than threads (by NodeInfo name).
fn is_microblog(software: &str) -> bool {
    const MICROBLOGS: [&str; 10] = [
        "mastodon",
        "pleroma",
        "akkoma",
        "misskey",
        "sharkey",
        "firefish",
        "gotosocial",
        "hometown",
        "iceshrimp",
        "glitch-soc",
    ];
    MICROBLOGS.contains(&software)
}

/// A local community forwards an activity it received from `origin` (an authority) to its
/// followers on other instances (FEP-1b12).
pub async fn announce(
    conn: &mut PgConnection,
    community: &CommunityActor,
    activity: &Value,
    data: &FedData,
    origin: Option<&str>,
) -> Result<(), FedError> {
    let object = activity
        .get("object")
        .and_then(crate::json::id_of)
        .map(|u| u.to_string());
    announce_in(
        conn,
        &data.base,
        community,
        activity,
        object.as_deref(),
        origin,
    )
    .await
}

/// Accept a Follow of a local community or person.
pub async fn accept_follow(
    conn: &mut PgConnection,
    target: &Actor,
    follow: &Value,
    follower: &PersonActor,
    data: &FedData,
) -> Result<(), FedError> {
    let mut follow = follow.clone();
    if let Some(o) = follow.as_object_mut() {
        o.remove("@context");
    }
    let accept = json!({
        "@context": context(),
        "id": activity_id(&data.base, "accept"),
        "type": "Accept",
        "actor": target.ap_id(),
        "to": [follower.ap_id],
        "object": follow,
    });
    let signer = match target {
        Actor::Community(c) => Signer::Community(c.id),
        Actor::Person(p) => Signer::Person(p.id),
    };
    let targets: Vec<(String, String)> = inbox_target(&follower.inbox_url).into_iter().collect();
    enqueue(conn, &accept, None, target.ap_id(), signer, &targets).await
}

/// A local post or comment was created.
pub async fn created(
    conn: &mut PgConnection,
    base: &PublicBase,
    what: Content,
) -> Result<(), FedError> {
    by_creator(conn, base, what, "Create").await
}

/// A local post or comment was edited.
pub async fn updated(
    conn: &mut PgConnection,
    base: &PublicBase,
    what: Content,
) -> Result<(), FedError> {
    by_creator(conn, base, what, "Update").await
}

/// A local post or comment was deleted by its creator.
pub async fn deleted(
    conn: &mut PgConnection,
    base: &PublicBase,
    what: Content,
) -> Result<(), FedError> {
    by_creator(conn, base, what, "Delete").await
}

/// Create, Update (with the object) or Delete (with its id) by the content's creator.
async fn by_creator(
    conn: &mut PgConnection,
    base: &PublicBase,
    what: Content,
    kind: &str,
) -> Result<(), FedError> {
    let c = what.load(conn).await?;
    let object = if kind == "Delete" {
        json!(c.ap_id)
    } else {
        object_json(&c)
    };
    let activity = json!({
        "@context": context(),
        "id": activity_id(base, kind),
        "type": kind,
        "actor": c.creator_ap_id,
        "to": [PUBLIC],
        "cc": [c.community_ap_id],
        "audience": c.community_ap_id,
        "object": object,
    });
    if kind == "Delete" {
        return publish(conn, base, &c, activity).await;
    }
    publish_with_mentions(conn, base, &c, activity).await
}

/// [`publish`], and the people the content mentions on other servers (whose servers may not
/// follow its community) get the activity from its author too: with a remote community's inbox
/// in one delivery list, or next to a local community's Announce.
async fn publish_with_mentions(
    conn: &mut PgConnection,
    base: &PublicBase,
    c: &ContentAp,
    activity: Value,
) -> Result<(), FedError> {
    let mentioned = c.mention_hrefs.clone().unwrap_or_default();
    let inboxes = canopy_db::notifications::remote_inboxes(conn, &mentioned).await?;
    if inboxes.is_empty() {
        return publish(conn, base, c, activity).await;
    }
    let community = actors::community_by_id_in(conn, c.community_id).await?;
    let mut targets: Vec<(String, String)> =
        inboxes.iter().filter_map(|i| inbox_target(i)).collect();
    if community.local {
        announce_in(conn, base, &community, &activity, Some(&c.ap_id), None).await?;
    } else if let Some(t) = inbox_target(&community.inbox_url) {
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    enqueue(
        conn,
        &activity,
        Some(&c.ap_id),
        &c.creator_ap_id,
        Signer::Person(c.creator_id),
        &targets,
    )
    .await
}

/// A post or comment its local author deleted is restored: `Undo(Delete)` by the author.
pub async fn undeleted(
    conn: &mut PgConnection,
    base: &PublicBase,
    what: Content,
) -> Result<(), FedError> {
    let c = what.load(conn).await?;
    let delete = json!({
        "id": activity_id(base, "delete"),
        "type": "Delete",
        "actor": c.creator_ap_id,
        "to": [PUBLIC],
        "cc": [c.community_ap_id],
        "audience": c.community_ap_id,
        "object": c.ap_id,
    });
    let activity = json!({
        "@context": context(),
        "id": activity_id(base, "undo"),
        "type": "Undo",
        "actor": c.creator_ap_id,
        "to": [PUBLIC],
        "cc": [c.community_ap_id],
        "audience": c.community_ap_id,
        "object": delete,
    });
    publish(conn, base, &c, activity).await
}

/// A moderator's action on a post or comment, as Lemmy sends it.
#[derive(Debug, Clone, Copy)]
pub enum Moderation<'a> {
    /// `Delete` with the reason in `summary` (empty when none was given).
    Remove { reason: Option<&'a str> },
    /// `Undo` of such a `Delete`.
    Restore { reason: Option<&'a str> },
    /// `Lock` of a post.
    Lock { reason: Option<&'a str> },
    /// `Undo` of a `Lock`.
    Unlock,
}

/// A moderator of the content's community (or an admin of this node) acted on a local or remote
/// post or comment. Sent like the content's own activities: announced by a local community to
/// its followers, or to a remote community's inbox for it to announce.
pub async fn moderated(
    conn: &mut PgConnection,
    base: &PublicBase,
    what: Content,
    moderator: &PersonActor,
    action: Moderation<'_>,
) -> Result<(), FedError> {
    let c = what.load(conn).await?;
    let inner = |kind: &str, reason: Option<&str>| {
        let mut a = json!({
            "id": activity_id(base, kind),
            "type": kind,
            "actor": moderator.ap_id,
            "to": [PUBLIC],
            "cc": [c.community_ap_id],
            "audience": c.community_ap_id,
            "object": c.ap_id,
        });
        if kind == "Delete" || reason.is_some() {
            a["summary"] = json!(reason.unwrap_or_default());
        }
        a
    };
    let undo = |object: Value| {
        json!({
            "id": activity_id(base, "undo"),
            "type": "Undo",
            "actor": moderator.ap_id,
            "to": [PUBLIC],
            "cc": [c.community_ap_id],
            "audience": c.community_ap_id,
            "object": object,
        })
    };
    let mut activity = match action {
        Moderation::Remove { reason } => inner("Delete", reason),
        Moderation::Restore { reason } => undo(inner("Delete", reason)),
        Moderation::Lock { reason } => inner("Lock", reason),
        Moderation::Unlock => undo(inner("Lock", None)),
    };
    activity["@context"] = context();
    let community = actors::community_by_id_in(conn, c.community_id).await?;
    let by = (moderator.id, moderator.ap_id.as_str());
    in_community(conn, base, &community, by, &c.ap_id, activity).await
}

/// The moderators collection of a community (Lemmy's layout, which Canopy serves too).
pub fn moderators_url(community_ap_id: &str) -> String {
    format!("{community_ap_id}/moderators")
}

/// `actor` added (`add`) or removed the person `person` as a moderator of `community`: `Add` or
/// `Remove` with `target` the community's moderators collection.
pub async fn moderator_changed(
    conn: &mut PgConnection,
    base: &PublicBase,
    community: &CommunityActor,
    actor: &PersonActor,
    person: &str,
    add: bool,
) -> Result<(), FedError> {
    let kind = if add { "Add" } else { "Remove" };
    let activity = json!({
        "@context": context(),
        "id": activity_id(base, kind),
        "type": kind,
        "actor": actor.ap_id,
        "to": [PUBLIC],
        "cc": [community.ap_id],
        "audience": community.ap_id,
        "object": person,
        "target": moderators_url(&community.ap_id),
    });
    let by = (actor.id, actor.ap_id.as_str());
    in_community(conn, base, community, by, &community.ap_id, activity).await
}

/// A moderator (or an admin) of the local community `community` changed its title,
/// description or posting restriction: `Update` of its Group by that person, announced by the
/// community to its followers (Lemmy's shape; a Canopy follower reads the community again from
/// here rather than trusting the copy).
pub async fn community_updated(
    conn: &mut PgConnection,
    base: &PublicBase,
    community: canopy_core::CommunityId,
    moderator: &PersonActor,
) -> Result<(), FedError> {
    let row = canopy_db::published::local_community_by_id(conn, community).await?;
    let group = crate::protocol::actors::Group::from_row(&row, base);
    let activity = json!({
        "@context": context(),
        "id": activity_id(base, "update"),
        "type": "Update",
        "actor": moderator.ap_id,
        "to": [PUBLIC],
        "cc": [row.ap_id],
        "audience": row.ap_id,
        "object": group,
    });
    let actor = actors::community_by_id_in(conn, community).await?;
    let by = (moderator.id, moderator.ap_id.as_str());
    in_community(conn, base, &actor, by, &row.ap_id, activity).await
}

/// A local person changed their profile: `Update` of their Person, signed by them, to the
/// servers that follow them and those of the communities they wrote in (the communities' homes
/// and the remote followers of local ones), once per inbox.
pub async fn person_updated(
    conn: &mut PgConnection,
    base: &PublicBase,
    person: canopy_core::PersonId,
) -> Result<(), FedError> {
    let row = canopy_db::published::local_person_by_id(conn, person).await?;
    let actor = crate::protocol::actors::Person::from_row(&row, base);
    let activity = json!({
        "@context": context(),
        "id": activity_id(base, "update"),
        "type": "Update",
        "actor": row.ap_id,
        "to": [PUBLIC],
        "cc": [format!("{}/followers", row.ap_id)],
        "object": actor,
    });
    let inboxes = canopy_db::profiles::profile_audience(conn, person).await?;
    let targets: Vec<(String, String)> = inboxes.iter().filter_map(|i| inbox_target(i)).collect();
    if targets.is_empty() {
        return Ok(());
    }
    enqueue(
        conn,
        &activity,
        Some(&row.ap_id),
        &row.ap_id,
        Signer::Person(person),
        &targets,
    )
    .await
}

/// The featured-posts collection of a community (Lemmy's layout, which Canopy serves too).
pub fn featured_url(community_ap_id: &str) -> String {
    format!("{community_ap_id}/featured")
}

/// A moderator featured (`add`) or unfeatured the post `post`: `Add` or `Remove` with `target`
/// the community's featured collection.
pub async fn featured_changed(
    conn: &mut PgConnection,
    base: &PublicBase,
    post: PostId,
    moderator: &PersonActor,
    add: bool,
) -> Result<(), FedError> {
    let c = Content::Post(post).load(conn).await?;
    let kind = if add { "Add" } else { "Remove" };
    let activity = json!({
        "@context": context(),
        "id": activity_id(base, kind),
        "type": kind,
        "actor": moderator.ap_id,
        "to": [PUBLIC],
        "cc": [c.community_ap_id],
        "audience": c.community_ap_id,
        "object": c.ap_id,
        "target": featured_url(&c.community_ap_id),
    });
    let community = actors::community_by_id_in(conn, c.community_id).await?;
    let by = (moderator.id, moderator.ap_id.as_str());
    in_community(conn, base, &community, by, &c.ap_id, activity).await
}

/// A local person voted (1, -1) or cleared a vote (0) on a post or comment.
pub async fn voted(
    conn: &mut PgConnection,
    base: &PublicBase,
    what: Content,
    voter: &PersonActor,
    score: i16,
) -> Result<(), FedError> {
    let c = what.load(conn).await?;
    let like = |kind: &str| {
        json!({
            "id": activity_id(base, kind),
            "type": kind,
            "actor": voter.ap_id,
            "object": c.ap_id,
            "audience": c.community_ap_id,
        })
    };
    let mut activity = match score {
        1 => like("Like"),
        -1 => like("Dislike"),
        _ => json!({
            "id": activity_id(base, "undo"),
            "type": "Undo",
            "actor": voter.ap_id,
            "object": like("Like"),
            "audience": c.community_ap_id,
        }),
    };
    activity["@context"] = context();
    let mut by_voter = c.clone();
    by_voter.creator_id = voter.id;
    by_voter.creator_ap_id = voter.ap_id.clone();
    publish(conn, base, &by_voter, activity).await
}

/// A local person follows (or stops following) a remote community.
pub async fn follow_community(
    conn: &mut PgConnection,
    base: &PublicBase,
    follower: &PersonActor,
    community: &CommunityActor,
    undo: bool,
) -> Result<(), FedError> {
    let follow = json!({
        "id": activity_id(base, "follow"),
        "type": "Follow",
        "actor": follower.ap_id,
        "object": community.ap_id,
        "to": [community.ap_id],
    });
    let mut activity = if undo {
        json!({
            "id": activity_id(base, "undo"),
            "type": "Undo",
            "actor": follower.ap_id,
            "object": follow,
            "to": [community.ap_id],
        })
    } else {
        follow
    };
    activity["@context"] = context();
    let targets: Vec<(String, String)> = inbox_target(&community.inbox_url).into_iter().collect();
    enqueue(
        conn,
        &activity,
        Some(&community.ap_id),
        &follower.ap_id,
        Signer::Person(follower.id),
        &targets,
    )
    .await
}

/// Which local content an activity is about.
#[derive(Debug, Clone, Copy)]
pub enum Content {
    Post(PostId),
    Comment(CommentId),
}

impl Content {
    async fn load(self, conn: &mut PgConnection) -> Result<ContentAp, FedError> {
        Ok(match self {
            Content::Post(id) => outbox::post_ap(conn, id).await?,
            Content::Comment(id) => outbox::comment_ap(conn, id).await?,
        })
    }
}

mod bans;
pub use bans::{banned_from_community, banned_from_site, site_actor, BanTerms};
