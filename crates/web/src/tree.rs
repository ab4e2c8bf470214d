//! A page of a comment tree as a flat list of rows the template prints in order: each comment
//! opens a `<details>` element, its replies follow, then (where the page left some out) a link
//! to them, then the element closes. A template cannot recurse, a list can.

use crate::format;
use canopy_db::comments::CommentView;
use canopy_db::tree::{CommentSort, TreeNode};
use chrono::{DateTime, Utc};

/// One comment as a page shows it.
pub struct CommentItem {
    pub id: i64,
    pub author: String,
    pub author_path: String,
    pub age: String,
    pub published: String,
    pub edited: bool,
    pub score: i32,
    /// The sanitised HTML of the comment; `None` when a placeholder takes its place.
    pub html: Option<String>,
    /// Why the text is not shown (deleted, removed, blocked author).
    pub placeholder: &'static str,
}

impl CommentItem {
    pub fn new(c: &CommentView, now: DateTime<Utc>) -> Self {
        let placeholder = if c.removed {
            "removed by a moderator"
        } else if c.deleted {
            "deleted by its author"
        } else if c.creator_blocked {
            "from someone you block"
        } else {
            ""
        };
        Self {
            id: c.id.0,
            author: format::handle(&c.creator_name, c.creator_local, &c.creator_authority),
            author_path: format::actor_path(
                "u",
                &c.creator_name,
                c.creator_local,
                &c.creator_authority,
            ),
            age: format::age(c.published, now),
            published: c.published.to_rfc3339(),
            edited: c.updated.is_some(),
            score: c.score,
            html: placeholder.is_empty().then(|| c.content_html.clone()),
            placeholder,
        }
    }
}

pub enum Row {
    Open(CommentItem),
    /// Replies of the comment just above that the page left out.
    More {
        href: String,
        count: i64,
    },
    Close,
}

/// The rows of `nodes` (one page of a tree read with `sort`).
pub fn rows(nodes: &[TreeNode], sort: CommentSort, now: DateTime<Utc>) -> Vec<Row> {
    let mut out = Vec::new();
    for n in nodes {
        push(&mut out, n, sort, now);
    }
    out
}

fn push(out: &mut Vec<Row>, n: &TreeNode, sort: CommentSort, now: DateTime<Utc>) {
    out.push(Row::Open(CommentItem::new(&n.comment, now)));
    for r in &n.replies {
        push(out, r, sort, now);
    }
    if let Some(more) = &n.more {
        out.push(Row::More {
            href: page_link(&format!("/comment/{}", n.comment.id.0), sort, &more.cursor),
            count: more.count,
        });
    }
    out.push(Row::Close);
}

/// The link to a later page of a tree at `path` (a thread or a permalink): its sort and cursor.
pub fn page_link(path: &str, sort: CommentSort, cursor: &str) -> String {
    format!(
        "{path}?sort={}&cursor={}",
        sort_name(sort),
        format::query_value(cursor)
    )
}

/// The name of a sort in links.
pub fn sort_name(sort: CommentSort) -> &'static str {
    match sort {
        CommentSort::Hot => "hot",
        CommentSort::Top => "top",
        CommentSort::New => "new",
        CommentSort::Old => "old",
        CommentSort::Controversial => "controversial",
    }
}

/// Every sort, in the order the switch shows them.
pub const SORTS: [CommentSort; 5] = [
    CommentSort::Hot,
    CommentSort::Top,
    CommentSort::New,
    CommentSort::Old,
    CommentSort::Controversial,
];
