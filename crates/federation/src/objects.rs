//! Remote posts (Page, Article, …) and comments (Note) become rows: the parent chain of a reply
//! is resolved first (from the database, else fetched, to a bounded depth), then the reply is
//! inserted under it. Nothing is inserted for a reply whose chain cannot be resolved.

use crate::error::FedError;
use crate::fetch::{self, FedData};
use crate::json::{id_of, ids_of, kind_of, markdown_source, str_field, time_field};
use crate::outgoing;
use canopy_core::{content, limits, same_authority, CommentId, CommunityId, PersonId, PostId};
use canopy_db::actors::{self, PersonActor};
use canopy_db::comments::NewComment;
use canopy_db::content::{ContentRow, ReplyTarget};
use canopy_db::posts::NewPost;
use serde_json::Value;
use url::Url;

/// Longest reply chain fetched to place one reply.
pub const MAX_CHAIN_DEPTH: usize = 16;

const POST_TYPES: [&str; 6] = ["Page", "Article", "Video", "Question", "Event", "Audio"];

/// Where a stored object sits.
#[derive(Debug, Clone, Copy)]
pub enum Stored {
    Post {
        id: PostId,
        community: CommunityId,
    },
    Comment {
        id: CommentId,
        post: PostId,
        community: CommunityId,
    },
}

impl Stored {
    /// The comment `comment` under the post `post`, or (`None`) the post itself, in `community`.
    fn at(comment: Option<CommentId>, post: PostId, community: CommunityId) -> Self {
        match comment {
            Some(id) => Stored::Comment {
                id,
                post,
                community,
            },
            None => Stored::Post {
                id: post,
                community,
            },
        }
    }

    fn of(row: &ContentRow) -> Self {
        Self::at(row.comment_id, row.post_id, row.community_id)
    }

    pub fn community(&self) -> CommunityId {
        match self {
            Stored::Post { community, .. } | Stored::Comment { community, .. } => *community,
        }
    }
}

/// The post or comment `ap_id`, from the database or fetched (with its chain) and stored.
pub async fn resolve(
    ap_id: &Url,
    data: &FedData,
    chain: &mut Vec<Url>,
) -> Result<Stored, FedError> {
    if let Some(s) = lookup(ap_id, data).await? {
        return Ok(s);
    }
    fetch_and_store(ap_id, data, chain).await
}

/// Fetch `ap_id`, which is not stored, from its origin and store it (with its own chain).
async fn fetch_and_store(
    ap_id: &Url,
    data: &FedData,
    chain: &mut Vec<Url>,
) -> Result<Stored, FedError> {
    if fetch::is_local(ap_id, data) {
        return Err(FedError::NotFound(format!(
            "no local post or comment {ap_id}"
        )));
    }
    if chain.contains(ap_id) {
        return Err(FedError::bad(format!(
            "cyclic inReplyTo chain through {ap_id}"
        )));
    }
    if chain.len() >= MAX_CHAIN_DEPTH {
        return Err(FedError::Unresolvable(format!(
            "reply chain deeper than {MAX_CHAIN_DEPTH} objects"
        )));
    }
    chain.push(ap_id.clone());
    let json = fetch::fetch_json(ap_id, data).await?;
    let stored = Box::pin(store_new(&json, None, None, None, data, chain)).await;
    chain.pop();
    stored
}

async fn lookup(ap_id: &Url, data: &FedData) -> Result<Option<Stored>, FedError> {
    Ok(canopy_db::content::by_ap_id(&data.db, ap_id.as_str())
        .await?
        .as_ref()
        .map(Stored::of))
}

/// Store a Note as a comment or a Page-like object as a post; returns where it sits (where it
/// already sat, when it was stored before). `community_hint` is the community that announced it,
/// if any.
pub async fn store(
    object: &Value,
    community_hint: Option<CommunityId>,
    data: &FedData,
    chain: &mut Vec<Url>,
) -> Result<Stored, FedError> {
    let id = object
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| FedError::bad("object without id"))?;
    if let Some(s) = lookup(&id, data).await? {
        return Ok(s);
    }
    store_new(object, community_hint, None, None, data, chain).await
}

/// A received activity that a local community forwards to its followers (FEP-1b12) in the
/// transaction that stores the content it carries.
pub struct Relay<'a> {
    /// The activity as received.
    pub activity: &'a Value,
    /// The authority it came from, which is not sent it back.
    pub origin: &'a str,
}

/// [`store`] for an object the caller expects to be new: it is inserted without looking it up
/// first, and a duplicate is found through the unique `ap_id` instead. `author` is the verified
/// sender when the caller has it: when the object is attributed to it, it is not looked up again.
/// With `relay`, a new object in a local community with remote followers is announced to them
/// in the transaction that inserts it.
pub async fn store_new(
    object: &Value,
    community_hint: Option<CommunityId>,
    author: Option<&PersonActor>,
    relay: Option<&Relay<'_>>,
    data: &FedData,
    chain: &mut Vec<Url>,
) -> Result<Stored, FedError> {
    let id = object
        .get("id")
        .and_then(id_of)
        .ok_or_else(|| FedError::bad("object without id"))?;
    let author_url = crate::receive::rules::one_author(object)?;
    if !same_authority(&id, &author_url) {
        return Err(FedError::forbidden(format!(
            "{id} is attributed to an actor on another host"
        )));
    }
    let kind = kind_of(object);
    let in_reply_to = object.get("inReplyTo").and_then(id_of);
    match (kind, in_reply_to) {
        ("Note", Some(parent_url)) | ("Article", Some(parent_url)) => {
            // Only the activity's own object is checked against bans: a parent fetched to
            // place it was written before, whoever wrote it.
            let author_check = chain.is_empty().then_some(&author_url);
            let (parent, announces) =
                match reply_parent(&parent_url, author_check, data, chain).await {
                    Ok(p) => p,
                    // Refused as a reply, but perhaps stored already (before its parent went away).
                    Err(e) => return lookup(&id, data).await?.ok_or(e),
                };
            let creator = creator_of(&author_url, author, data).await?;
            // Relayed only by a local community with remote followers.
            let relay = relay.filter(|_| announces);
            let stored = insert_comment(object, &id, parent, creator, relay, data).await?;
            notify(object, stored, creator, data).await;
            Ok(stored)
        }
        (k, None) if POST_TYPES.contains(&k) || k == "Note" => {
            let community = match community_hint {
                Some(c) => c,
                None => find_community(object, data).await?,
            };
            let creator = creator_of(&author_url, author, data).await?;
            if chain.is_empty() {
                refuse_banned(creator, community, data).await?;
            }
            // A post relayed by its (remote) community was taken by its home already.
            if community_hint.is_none()
                && !canopy_db::communities::takes_remote_post(&data.db, community, creator).await?
            {
                return Err(FedError::forbidden(format!(
                    "{author_url} may not start posts in this community: only its moderators may"
                )));
            }
            let stored = insert_post(object, &id, community, creator, relay, data).await?;
            notify(object, stored, creator, data).await;
            Ok(stored)
        }
        (k, Some(_)) => Err(FedError::bad(format!("a {k:?} cannot be a reply"))),
        (k, None) => Err(FedError::bad(format!(
            "objects of type {k:?} are not stored"
        ))),
    }
}

/// Notifications for a stored object of the local people its `Mention` tags name (its parent's
/// author, when local, was notified by the insert itself: see `canopy_db::notifications`). A
/// failure is logged: the object stays stored.
async fn notify(object: &Value, stored: Stored, creator: PersonId, data: &FedData) {
    if let Err(e) = crate::mentions::notify_incoming(object, stored, creator, data).await {
        tracing::warn!(error = %e, "mention notifications not written");
    }
}

/// The person `author_url`: `known` when that is who it is, else stored or fetched.
async fn creator_of(
    author_url: &Url,
    known: Option<&PersonActor>,
    data: &FedData,
) -> Result<PersonId, FedError> {
    match known {
        Some(a) if a.ap_id == author_url.as_str() => Ok(a.id),
        _ => Ok(fetch::person(author_url, data).await?.id),
    }
}

/// A reply's parent, stored or fetched with its own chain, checked to accept replies; and
/// whether its community relays replies (local, with remote followers).
/// With `author`, a reply by someone banned from the community (or from this node) is refused.
async fn reply_parent(
    ap_id: &Url,
    author: Option<&Url>,
    data: &FedData,
    chain: &mut Vec<Url>,
) -> Result<(Stored, bool), FedError> {
    let author_id = author.map(Url::as_str).unwrap_or_default();
    let target = match canopy_db::content::reply_target(&data.db, ap_id.as_str(), author_id).await?
    {
        Some(t) => t,
        None => {
            fetch_and_store(ap_id, data, chain).await?;
            let target = canopy_db::content::reply_target(&data.db, ap_id.as_str(), author_id)
                .await?
                .ok_or_else(|| FedError::Internal(format!("{ap_id} vanished after storing")))?;
            // The reply's ancestors were missing here: the thread may lack more.
            data.backfill
                .request(target.post_id, crate::backfill::Reason::MissingAncestors);
            target
        }
    };
    check_open(&target)?;
    if target.author_banned {
        return Err(FedError::forbidden(format!(
            "{author_id} is banned from the community of {ap_id} (or from this node)"
        )));
    }
    let stored = Stored::at(target.comment_id, target.post_id, target.community_id);
    Ok((stored, target.community_announces))
}

/// Replies go only under live content: not under a deleted, removed or locked post, nor under a
/// deleted comment.
fn check_open(target: &ReplyTarget) -> Result<(), FedError> {
    if target.post_gone {
        return Err(FedError::forbidden("reply to a deleted post"));
    }
    if target.post_locked {
        return Err(FedError::forbidden("reply to a locked post"));
    }
    if target.comment_gone {
        return Err(FedError::forbidden("reply to a deleted comment"));
    }
    Ok(())
}

/// Refuse a new post by `creator` in `community` while a ban keeps them out of it.
pub async fn refuse_banned(
    creator: PersonId,
    community: CommunityId,
    data: &FedData,
) -> Result<(), FedError> {
    use canopy_db::bans::Refusal;
    let why = |r: Option<String>| r.map(|r| format!(": {r}")).unwrap_or_default();
    match canopy_db::bans::refusal(&data.db, creator, Some(community)).await? {
        None => Ok(()),
        Some(Refusal::Site { reason }) => Err(FedError::forbidden(format!(
            "the author is banned from this node{}",
            why(reason)
        ))),
        Some(Refusal::Community { reason }) => Err(FedError::forbidden(format!(
            "the author is banned from this community{}",
            why(reason)
        ))),
    }
}

/// The community a top-level object is addressed to: `audience`, then `to`/`cc` and `Mention`
/// tags naming a known or fetchable Group.
async fn find_community(object: &Value, data: &FedData) -> Result<CommunityId, FedError> {
    let mut candidates = ids_of(object.get("audience"));
    candidates.extend(ids_of(object.get("to")));
    candidates.extend(ids_of(object.get("cc")));
    if let Some(Value::Array(tags)) = object.get("tag") {
        for t in tags {
            if kind_of(t) == "Mention" {
                if let Some(href) = t.get("href").and_then(id_of) {
                    candidates.push(href);
                }
            }
        }
    }
    for c in candidates {
        if c.as_str().ends_with("#Public") || c.as_str().ends_with("/followers") {
            continue;
        }
        if let Some(row) = actors::community_by_ap_id(&data.db, c.as_str()).await? {
            return Ok(row.id);
        }
    }
    Err(FedError::Unresolvable(
        "the object is not addressed to a community this node knows".into(),
    ))
}

/// Markdown source and sanitised HTML of an object's text.
fn text_of(object: &Value, max: usize) -> Result<(String, String), FedError> {
    let (source, html) = match markdown_source(object) {
        Some(md) => (md.to_string(), content::markdown_to_html(md)),
        None => {
            // Only HTML was sent: keep it as the HTML, and markdown made from it as the source.
            let html = content::sanitize_html(str_field(object, "content").unwrap_or(""));
            (content::html_to_markdown(&html), html)
        }
    };
    if source.len() > max {
        return Err(FedError::bad(format!("content longer than {max} bytes")));
    }
    Ok((source, html))
}

async fn insert_comment(
    object: &Value,
    id: &Url,
    parent: Stored,
    creator: PersonId,
    relay: Option<&Relay<'_>>,
    data: &FedData,
) -> Result<Stored, FedError> {
    let (post, parent_comment, community) = match parent {
        Stored::Post { id, community } => (id, None, community),
        Stored::Comment {
            id,
            post,
            community,
        } => (post, Some(id), community),
    };
    let (source, html) = text_of(object, limits::MAX_COMMENT_BODY_BYTES)?;
    let announcer = match relay {
        Some(_) => actors::announcing_community(&data.db, community).await?,
        None => None,
    };
    let new = NewComment {
        post_id: post,
        parent_id: parent_comment,
        creator_id: creator,
        content: &source,
        content_html: &html,
        local: false,
        ap_id: Some(id.as_str()),
        ap_id_prefix: "",
        published: time_field(object, "published"),
        updated: time_field(object, "updated"),
    };
    let comment = match (announcer, relay) {
        (Some(row), Some(relay)) => {
            // The comment and the Announce relaying it commit together.
            let mut tx = data.db.begin().await?;
            match canopy_db::comments::create(&mut tx, &new).await {
                Ok(c) => {
                    outgoing::announce(&mut tx, &row, relay.activity, data, Some(relay.origin))
                        .await?;
                    tx.commit().await?;
                    Ok(c)
                }
                Err(e) => Err(e),
            }
        }
        _ => {
            // One statement on its own (autocommit): the row locks its triggers take on the
            // ancestors and the post are held for the statement only, not across round trips.
            let mut conn = data.db.acquire().await?;
            canopy_db::comments::create(&mut conn, &new).await
        }
    };
    match comment {
        Ok(c) => {
            tracing::debug!(comment_id = %c, ap_id = %id, "remote comment stored");
            Ok(Stored::Comment {
                id: c,
                post,
                community,
            })
        }
        // Stored concurrently by another delivery of the same object.
        Err(canopy_db::DbError::Conflict(_)) => lookup(id, data)
            .await?
            .ok_or_else(|| FedError::Internal("comment conflict without row".into())),
        Err(e) => Err(e.into()),
    }
}

async fn insert_post(
    object: &Value,
    id: &Url,
    community: CommunityId,
    creator: PersonId,
    relay: Option<&Relay<'_>>,
    data: &FedData,
) -> Result<Stored, FedError> {
    let (source, html) = text_of(object, limits::MAX_POST_BODY_BYTES)?;
    let title = match str_field(object, "name").or_else(|| str_field(object, "summary")) {
        Some(t) => t.chars().take(limits::MAX_TITLE_CHARS).collect::<String>(),
        // A Mastodon-style Note addressed to a community: its first line is the title.
        None => {
            let plain = content::html_to_text(&html);
            let first = plain
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("untitled");
            first.trim().chars().take(limits::MAX_TITLE_CHARS).collect()
        }
    };
    let link = link_of(object);
    let mut tx = data.db.begin().await?;
    let post = canopy_db::posts::create(
        &mut tx,
        &NewPost {
            community_id: community,
            creator_id: creator,
            title: &title,
            url: link,
            body: Some(&source).filter(|s| !s.is_empty()).map(|s| s.as_str()),
            body_html: Some(&html).filter(|s| !s.is_empty()).map(|s| s.as_str()),
            local: false,
            ap_id: Some(id.as_str()),
            ap_id_prefix: "",
            published: time_field(object, "published"),
            updated: time_field(object, "updated"),
        },
    )
    .await;
    match post {
        Ok(p) => {
            // A post locked at its home (Lemmy: `commentsEnabled: false`) is locked here too.
            if object.get("commentsEnabled") == Some(&Value::Bool(false)) {
                canopy_db::moderation::set_locked(&mut tx, p, true).await?;
            }
            // Featured (Lemmy: `stickied`) at its home.
            if object.get("stickied") == Some(&Value::Bool(true)) {
                canopy_db::moderation::set_featured(&mut tx, p, true).await?;
            }
            let (context, replies) = crate::backfill::thread_urls(object, id);
            canopy_db::remote_threads::record(&mut tx, p, context.as_deref(), replies.as_deref())
                .await?;
            if let Some(relay) = relay {
                if let Some(row) = actors::announcing_community(&data.db, community).await? {
                    outgoing::announce(&mut tx, &row, relay.activity, data, Some(relay.origin))
                        .await?;
                }
            }
            tx.commit().await?;
            tracing::debug!(post_id = %p, ap_id = %id, "remote post stored");
            // A thread first learned of: read what its home has of it, in the background.
            data.backfill.request(p, crate::backfill::Reason::NewThread);
            Ok(Stored::Post { id: p, community })
        }
        Err(canopy_db::DbError::Conflict(_)) => lookup(id, data)
            .await?
            .ok_or_else(|| FedError::Internal("post conflict without row".into())),
        Err(e) => Err(e.into()),
    }
}

/// The http(s) link a post points to: its first `Link` attachment.
fn link_of(object: &Value) -> Option<&str> {
    let items = object.get("attachment")?.as_array()?;
    items
        .iter()
        .find(|i| kind_of(i) == "Link")
        .and_then(|l| str_field(l, "href"))
        .filter(|u| {
            u.len() <= limits::MAX_URL_BYTES
                && (u.starts_with("https://") || u.starts_with("http://"))
        })
}

/// Apply an Update of a remote object when newer than what is stored. `stored` is the object's
/// row, which the caller looked up (and checked the Update against). An Update of an object this
/// node has not seen stores it, as a Create would (servers announce edits of content some
/// followers never received). Returns where the object sits when something changed.
pub async fn update(
    object: &Value,
    stored: Option<&ContentRow>,
    community_hint: Option<CommunityId>,
    data: &FedData,
) -> Result<Option<Stored>, FedError> {
    let Some(row) = stored else {
        let new = store_new(object, community_hint, None, None, data, &mut Vec::new()).await?;
        return Ok(Some(new));
    };
    let updated = time_field(object, "updated").unwrap_or_else(chrono::Utc::now);
    let changed = match row.comment_id {
        Some(comment) => {
            let (source, html) = text_of(object, limits::MAX_COMMENT_BODY_BYTES)?;
            canopy_db::comments::update_remote_if_newer(&data.db, comment, &source, &html, updated)
                .await?
        }
        None => {
            let (source, html) = text_of(object, limits::MAX_POST_BODY_BYTES)?;
            let title = str_field(object, "name").unwrap_or("untitled");
            let title: String = title.chars().take(limits::MAX_TITLE_CHARS).collect();
            canopy_db::posts::update_remote_if_newer(
                &data.db,
                row.post_id,
                &title,
                link_of(object),
                Some(&source),
                Some(&html),
                updated,
            )
            .await?
        }
    };
    if !changed {
        return Ok(None);
    }
    let stored = Stored::of(row);
    // People the edit mentions for the first time are notified (no one twice for one item).
    notify(object, stored, row.creator_id, data).await;
    Ok(Some(stored))
}
