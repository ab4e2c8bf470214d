//! Response bodies. Each is built from db rows here, so handlers stay short and every
//! endpoint shows one thing the same way.

use canopy_core::PersonId;
use canopy_db::comments::CommentView;
use canopy_db::communities::Community;
use canopy_db::people::Person;
use canopy_db::posts::PostView;
use canopy_db::tree::TreeNode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// `name` for local actors, `name@host[:port]` for remote ones.
pub(crate) fn handle(name: &str, local: bool, authority: &str) -> String {
    if local {
        name.to_string()
    } else {
        format!("{name}@{authority}")
    }
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub name: String,
    /// `name` for local users, `name@host` for remote ones.
    pub handle: String,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub bio_html: Option<String>,
    /// ActivityPub id.
    pub ap_id: String,
    pub local: bool,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    /// Profile picture: an http(s) URL elsewhere.
    pub avatar_url: Option<String>,
    /// Banner picture: an http(s) URL elsewhere.
    pub banner_url: Option<String>,
}

impl From<Person> for UserView {
    fn from(p: Person) -> Self {
        Self {
            id: p.id.0,
            handle: handle(&p.name, p.local, &p.authority),
            name: p.name,
            display_name: p.display_name,
            bio: p.bio,
            bio_html: p.bio_html,
            ap_id: p.ap_id,
            local: p.local,
            is_admin: p.is_admin,
            created_at: p.created_at,
            avatar_url: p.avatar_url,
            banner_url: p.banner_url,
        }
    }
}

/// The short form of a user shown with posts and comments.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorView {
    pub id: i64,
    pub name: String,
    pub handle: String,
    pub display_name: Option<String>,
    pub local: bool,
}

impl CreatorView {
    pub(crate) fn new(
        id: PersonId,
        name: String,
        display_name: Option<String>,
        local: bool,
        authority: &str,
    ) -> Self {
        Self {
            id: id.0,
            handle: handle(&name, local, authority),
            name,
            display_name,
            local,
        }
    }
}

/// A community.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommunityView {
    pub id: i64,
    pub name: String,
    /// `name` for local communities, `name@host` for remote ones.
    pub handle: String,
    pub title: String,
    /// Markdown source.
    pub description: Option<String>,
    /// Sanitised HTML rendered from `description`.
    pub description_html: Option<String>,
    pub ap_id: String,
    pub local: bool,
    pub subscriber_count: i32,
    pub post_count: i32,
    pub created_at: DateTime<Utc>,
    /// Only its moderators (and this node's admins) may start posts; anyone may comment.
    pub posting_restricted_to_mods: bool,
    /// Whether the logged-in viewer follows it; `none` for anonymous readers.
    pub subscribed: Subscribed,
}

/// A user's follow of a community: `none`, `pending` (sent to a remote community, not accepted
/// yet) or `accepted`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Subscribed {
    #[default]
    None,
    Pending,
    Accepted,
}

impl From<canopy_db::follows::Subscription> for Subscribed {
    fn from(s: canopy_db::follows::Subscription) -> Self {
        use canopy_db::follows::Subscription as S;
        match s {
            S::None => Subscribed::None,
            S::Pending => Subscribed::Pending,
            S::Accepted => Subscribed::Accepted,
        }
    }
}

impl CommunityView {
    /// Set `subscribed` on each of `views` as `viewer` follows them (one query; nothing for an
    /// anonymous viewer).
    pub async fn with_subscriptions(
        db: &canopy_db::PgPool,
        viewer: Option<canopy_core::PersonId>,
        views: &mut [CommunityView],
    ) -> Result<(), canopy_db::DbError> {
        let Some(viewer) = viewer else {
            return Ok(());
        };
        let ids: Vec<canopy_core::CommunityId> = views
            .iter()
            .map(|v| canopy_core::CommunityId(v.id))
            .collect();
        let states = canopy_db::follows::subscriptions(db, viewer, &ids).await?;
        for v in views {
            if let Some(s) = states.get(&canopy_core::CommunityId(v.id)) {
                v.subscribed = (*s).into();
            }
        }
        Ok(())
    }
}

impl From<Community> for CommunityView {
    fn from(c: Community) -> Self {
        Self {
            id: c.id.0,
            handle: handle(&c.name, c.local, &c.authority),
            name: c.name,
            title: c.title,
            description: c.description,
            description_html: c.description_html,
            ap_id: c.ap_id,
            local: c.local,
            subscriber_count: c.subscriber_count,
            post_count: c.post_count,
            created_at: c.created_at,
            posting_restricted_to_mods: c.posting_restricted_to_mods,
            subscribed: Subscribed::None,
        }
    }
}

/// The community a post belongs to, in short.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommunityRef {
    pub id: i64,
    pub name: String,
    pub handle: String,
    pub local: bool,
}

/// Maintained counters of a post. Every post starts with its author's upvote (as on Lemmy):
/// a new post has score 1 and one upvote.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostCounts {
    /// Upvotes minus downvotes, the author's own vote included.
    pub score: i32,
    /// Upvotes, the author's own (given at creation unless taken back) included.
    pub upvotes: i32,
    pub downvotes: i32,
    /// Comments stored on this node (deleted and removed ones included).
    pub comments: i32,
    /// A remote post only: how many comments its home counted at the last sync (its thread
    /// collection's `totalItems`), when it said; `null` for local posts and when unknown. A
    /// client can compare it with `comments` to say how complete this copy of the thread is.
    pub remote_comments: Option<i32>,
}

/// A post. A deleted post keeps its id and counts; its title, body and link are blanked.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostJson {
    pub id: i64,
    pub ap_id: String,
    pub local: bool,
    pub community: CommunityRef,
    pub creator: CreatorView,
    pub title: String,
    pub url: Option<String>,
    /// Markdown source.
    pub body: Option<String>,
    /// Sanitised HTML rendered from `body`.
    pub body_html: Option<String>,
    pub deleted: bool,
    pub removed: bool,
    pub locked: bool,
    /// Featured in its community by a moderator.
    pub featured: bool,
    pub published: DateTime<Utc>,
    pub updated: Option<DateTime<Utc>>,
    pub counts: PostCounts,
    /// The caller's vote (1 or -1), when logged in and voted. For the author this is 1 from the
    /// start (their implicit upvote) until they change or clear it.
    pub my_vote: Option<i16>,
    /// The caller saved the post (`PUT /api/v1/posts/{id}/save`); false when not logged in.
    pub saved: bool,
    /// A remote post only: when its thread was last synced with its home (backfill or resync);
    /// `null` when never.
    pub thread_synced_at: Option<DateTime<Utc>>,
}

impl From<PostView> for PostJson {
    fn from(p: PostView) -> Self {
        let hidden = p.deleted || p.removed;
        Self {
            id: p.id.0,
            ap_id: p.ap_id,
            local: p.local,
            community: CommunityRef {
                id: p.community_id.0,
                handle: handle(&p.community_name, p.community_local, &p.community_authority),
                name: p.community_name,
                local: p.community_local,
            },
            creator: CreatorView::new(
                p.creator_id,
                p.creator_name,
                p.creator_display_name,
                p.creator_local,
                &p.creator_authority,
            ),
            title: if hidden { String::new() } else { p.title },
            url: if hidden { None } else { p.url },
            body: if hidden { None } else { p.body },
            body_html: if hidden { None } else { p.body_html },
            deleted: p.deleted,
            removed: p.removed,
            locked: p.locked,
            featured: p.featured,
            published: p.published,
            updated: p.updated,
            counts: PostCounts {
                score: p.score,
                upvotes: p.upvotes,
                downvotes: p.downvotes,
                comments: p.comment_count,
                remote_comments: p.remote_comment_count,
            },
            my_vote: p.my_vote,
            saved: p.saved,
            thread_synced_at: p.thread_synced_at,
        }
    }
}

/// Maintained counters of a comment. Every comment starts with its author's upvote (as on
/// Lemmy): a new comment has score 1 and one upvote.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentCounts {
    /// Upvotes minus downvotes, the author's own vote included.
    pub score: i32,
    /// Upvotes, the author's own (given at creation unless taken back) included.
    pub upvotes: i32,
    pub downvotes: i32,
    /// Direct replies.
    pub replies: i32,
    /// Replies at any depth below this comment.
    pub descendants: i32,
}

/// A comment. A deleted comment keeps its place in the tree with its text blanked.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentJson {
    pub id: i64,
    pub post_id: i64,
    pub parent_id: Option<i64>,
    /// Ids from the top-level ancestor down to this comment.
    pub path: Vec<i64>,
    /// 0 for top-level comments.
    pub depth: i32,
    pub ap_id: String,
    pub local: bool,
    pub creator: CreatorView,
    /// Markdown source (empty when deleted).
    pub content: String,
    /// Sanitised HTML rendered from `content` (empty when deleted).
    pub content_html: String,
    pub deleted: bool,
    pub removed: bool,
    /// The viewer blocks its author: text blanked, kept only so that its replies keep their place.
    pub blocked: bool,
    pub published: DateTime<Utc>,
    pub updated: Option<DateTime<Utc>>,
    pub counts: CommentCounts,
    /// The caller's vote (1 or -1), when logged in and voted. For the author this is 1 from the
    /// start (their implicit upvote) until they change or clear it.
    pub my_vote: Option<i16>,
    /// The caller saved the comment (`PUT /api/v1/comments/{id}/save`); false when not logged in.
    pub saved: bool,
}

impl From<CommentView> for CommentJson {
    fn from(c: CommentView) -> Self {
        let hidden = c.deleted || c.removed || c.creator_blocked;
        Self {
            id: c.id.0,
            post_id: c.post_id.0,
            parent_id: c.parent_id.map(|p| p.0),
            path: c.path,
            depth: c.depth,
            ap_id: c.ap_id,
            local: c.local,
            creator: CreatorView::new(
                c.creator_id,
                c.creator_name,
                c.creator_display_name,
                c.creator_local,
                &c.creator_authority,
            ),
            content: if hidden { String::new() } else { c.content },
            content_html: if hidden {
                String::new()
            } else {
                c.content_html
            },
            deleted: c.deleted,
            removed: c.removed,
            blocked: c.creator_blocked,
            published: c.published,
            updated: c.updated,
            counts: CommentCounts {
                score: c.score,
                upvotes: c.upvotes,
                downvotes: c.downvotes,
                replies: c.child_count,
                descendants: c.descendant_count,
            },
            my_vote: c.my_vote,
            saved: c.saved,
        }
    }
}

/// Replies of a comment that a page left out.
#[derive(Debug, Serialize, ToSchema)]
pub struct MoreRepliesJson {
    /// How many direct replies are not in this page.
    pub count: i64,
    /// Pass as `cursor` to `GET /api/v1/posts/{id}/comments` to list them.
    pub cursor: String,
}

/// A comment with the replies included in this page.
#[derive(Debug, Serialize, ToSchema)]
#[schema(no_recursion)]
pub struct CommentNode {
    #[serde(flatten)]
    pub comment: CommentJson,
    pub replies: Vec<CommentNode>,
    /// Present when the comment has direct replies that this page does not include.
    pub more_replies: Option<MoreRepliesJson>,
}

impl From<TreeNode> for CommentNode {
    fn from(n: TreeNode) -> Self {
        Self {
            comment: n.comment.into(),
            replies: n.replies.into_iter().map(CommentNode::from).collect(),
            more_replies: n.more.map(|m| MoreRepliesJson {
                count: m.count,
                cursor: m.cursor,
            }),
        }
    }
}

/// Score counts after a vote.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoteResult {
    pub score: i32,
    pub upvotes: i32,
    pub downvotes: i32,
    /// The caller's vote now: 1, -1 or 0.
    pub my_vote: i16,
}

/// One entry of the moderation log.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModLogEntry {
    pub id: i64,
    /// `remove_post`, `restore_post`, `remove_comment`, `restore_comment`, `lock_post`,
    /// `unlock_post`, `add_moderator`, `remove_moderator`, `feature_post`, `unfeature_post`,
    /// `update_community`, `ban_person`, `unban_person` (from `community`, or without one from
    /// the whole node), `resolve_report`, `reopen_report` or `warn`.
    pub action: String,
    /// Who acted: `name` for a local user, `name@host` for a remote one.
    pub moderator: String,
    /// The moderator's ActivityPub id.
    pub moderator_ap_id: String,
    /// The community: `name` or `name@host`; absent for a site ban (about the whole node).
    pub community: Option<String>,
    pub post_id: Option<i64>,
    pub comment_id: Option<i64>,
    /// The person the action is about (a moderator added or removed), by ActivityPub id.
    pub target: Option<String>,
    pub reason: Option<String>,
    /// When a time-limited action ends.
    pub until: Option<DateTime<Utc>>,
    /// Taken on this node (true) or received from another server.
    pub local: bool,
    pub created_at: DateTime<Utc>,
}

impl From<canopy_db::moderation::Entry> for ModLogEntry {
    fn from(e: canopy_db::moderation::Entry) -> Self {
        Self {
            id: e.id,
            action: e.action,
            moderator: handle(&e.moderator_name, e.moderator_local, &e.moderator_authority),
            moderator_ap_id: e.moderator_ap_id,
            community: match (&e.community_name, &e.community_authority) {
                (Some(name), Some(authority)) => {
                    Some(handle(name, e.community_local.unwrap_or(false), authority))
                }
                _ => None,
            },
            post_id: e.post_id.map(|p| p.0),
            comment_id: e.comment_id.map(|c| c.0),
            target: e.target_ap_id,
            reason: e.reason,
            until: e.until,
            local: e.local,
            created_at: e.created_at,
        }
    }
}
