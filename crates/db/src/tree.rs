//! Reading a comment tree one page at a time.
//!
//! A page starts with the children of one parent (the post itself for top-level comments),
//! `limit` of them after a keyset position, then walks down level by level: each level is one
//! query that takes, for every parent of the level above, its first few children in sort order
//! (a `LATERAL` top-k over the `(post_id, parent_key, <sort column>, id)` index). Every query reads
//! only the rows it returns, so the cost of a page follows the page and not the thread. Where a
//! comment has more children than the page returned, the page carries a cursor that continues
//! exactly there, so every comment of a thread of any size is reachable.

use crate::comments::{CommentView, VIEW_COLUMNS, VIEW_JOINS};
use crate::cursor::{self, Position, SortValue};
use crate::DbError;
use canopy_core::{CommentId, PersonId, PostId};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::HashMap;

/// Orders of siblings in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CommentSort {
    #[default]
    Hot,
    Top,
    New,
    Old,
    Controversial,
}

impl CommentSort {
    /// The stored column this order reads (each has a keyset index).
    fn column(self) -> &'static str {
        match self {
            CommentSort::Hot => "hot",
            CommentSort::Top => "score",
            CommentSort::New | CommentSort::Old => "published",
            CommentSort::Controversial => "controversy",
        }
    }

    /// `ORDER BY` and keyset comparison for this order over the alias `alias`.
    fn order_by(self, alias: &str) -> String {
        let col = self.column();
        match self {
            CommentSort::Old => format!("{alias}.{col} ASC, {alias}.id ASC"),
            _ => format!("{alias}.{col} DESC, {alias}.id DESC"),
        }
    }

    fn after(self, alias: &str, value: &str, id: &str) -> String {
        let col = self.column();
        let op = if self == CommentSort::Old { '>' } else { '<' };
        format!("({alias}.{col}, {alias}.id) {op} ({value}, {id})")
    }

    /// The keyset position of `c` in this order.
    pub fn position(self, c: &CommentView) -> Position {
        let value = match self {
            CommentSort::Hot => SortValue::Float(c.hot),
            CommentSort::Top => SortValue::Int(i64::from(c.score)),
            CommentSort::New | CommentSort::Old => SortValue::time(c.published),
            CommentSort::Controversial => SortValue::Float(c.controversy),
        };
        Position { value, id: c.id.0 }
    }
}

/// A continuation: the children of `parent` (0 for top level) of `post`, in `sort` order, after
/// `after` (from the first child when `None`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TreeCursor {
    #[serde(rename = "p")]
    pub post: i64,
    #[serde(rename = "r")]
    pub parent: i64,
    #[serde(rename = "s")]
    pub sort: CommentSort,
    #[serde(rename = "a")]
    pub after: Option<Position>,
}

impl TreeCursor {
    pub fn encode(&self) -> String {
        cursor::encode(self)
    }
    pub fn decode(raw: &str) -> Result<Self, DbError> {
        cursor::decode(raw)
    }

    /// Where a page asked for with this cursor (`raw`) continues: the parent, sort and position,
    /// after checking the cursor lists the children of `parent` (when the request names one) of
    /// `post`, in `sort` (when the request names one).
    pub fn continuing(
        raw: &str,
        post: PostId,
        parent: Option<CommentId>,
        sort: Option<CommentSort>,
    ) -> Result<(Option<CommentId>, CommentSort, Option<Position>), DbError> {
        let c = Self::decode(raw)?;
        if c.post != post.0 {
            return Err(DbError::BadCursor("it belongs to another post"));
        }
        if parent.is_some_and(|p| p.0 != c.parent) {
            return Err(DbError::BadCursor(
                "it lists the replies of another comment",
            ));
        }
        if sort.is_some_and(|s| s != c.sort) {
            return Err(DbError::BadCursor("it was made for another sort"));
        }
        let parent = (c.parent != 0).then_some(CommentId(c.parent));
        Ok((parent, c.sort, c.after))
    }
}

/// What one page of a tree should contain.
#[derive(Debug, Clone)]
pub struct TreeRequest {
    pub post: PostId,
    /// Whose children the page lists: `None` for top-level comments.
    pub parent: Option<CommentId>,
    pub sort: CommentSort,
    pub after: Option<Position>,
    /// How many children of `parent` the page lists.
    pub limit: i64,
    /// Levels returned, counting the page's own level as 1.
    pub max_depth: u32,
    /// At most this many replies of one comment per level.
    pub replies_per_comment: i64,
    /// At most this many comments in the whole page.
    pub max_comments: i64,
    pub viewer: Option<PersonId>,
}

/// A comment with the replies the page includes.
#[derive(Debug, Clone)]
pub struct TreeNode {
    pub comment: CommentView,
    pub replies: Vec<TreeNode>,
    /// Set when the comment has replies that this page does not include.
    pub more: Option<MoreReplies>,
}

/// Replies of a comment left out of a page, and the cursor that lists them.
#[derive(Debug, Clone)]
pub struct MoreReplies {
    pub count: i64,
    pub cursor: String,
}

#[derive(Debug, Clone)]
pub struct TreePage {
    pub comments: Vec<TreeNode>,
    /// Continues the list of `parent`'s children after this page, when there may be more.
    pub next_cursor: Option<String>,
    /// Number of comments in the page, at every level.
    pub total: usize,
}

/// Read one page of a tree. Cost: one query per level, each reading only the rows it returns.
pub async fn page(pool: &PgPool, req: &TreeRequest) -> Result<TreePage, DbError> {
    let parent_key = req.parent.map(|c| c.0).unwrap_or(0);
    let first = children_page(pool, req, parent_key).await?;
    let next_cursor = match first.last() {
        Some(last) if first.len() as i64 == req.limit => Some(
            TreeCursor {
                post: req.post.0,
                parent: parent_key,
                sort: req.sort,
                after: Some(req.sort.position(last)),
            }
            .encode(),
        ),
        _ => None,
    };

    let mut total = first.len();
    let mut levels = vec![first];
    for _ in 1..req.max_depth {
        let remaining = req.max_comments - total as i64;
        let Some(above) = levels.last() else { break };
        let mut parents: Vec<i64> = above
            .iter()
            .filter(|c| c.child_count > 0)
            .map(|c| c.id.0)
            .collect();
        if parents.is_empty() || remaining <= 0 {
            break;
        }
        parents.truncate(usize::try_from(remaining).unwrap_or(usize::MAX));
        let per_parent = req
            .replies_per_comment
            .min((remaining / parents.len() as i64).max(1));
        let rows = children_of_many(pool, req, &parents, per_parent).await?;
        total += rows.len();
        levels.push(rows);
    }

    Ok(TreePage {
        comments: assemble(levels, req),
        next_cursor,
        total,
    })
}

/// Nest the levels bottom-up and mark every comment whose replies were not all included.
/// Each node is moved once: into its parent's reply list, or into the result for the first level.
fn assemble(levels: Vec<Vec<CommentView>>, req: &TreeRequest) -> Vec<TreeNode> {
    let mut below: HashMap<i64, Vec<TreeNode>> = HashMap::new();
    let depth = levels.len();
    let mut first_level = Vec::new();
    for (index, level) in levels.into_iter().enumerate().rev() {
        let mut this_level: HashMap<i64, Vec<TreeNode>> = HashMap::new();
        for comment in level {
            let replies = below.remove(&comment.id.0).unwrap_or_default();
            let missing = i64::from(comment.child_count) - replies.len() as i64;
            let more = (missing > 0).then(|| MoreReplies {
                count: missing,
                cursor: TreeCursor {
                    post: req.post.0,
                    parent: comment.id.0,
                    sort: req.sort,
                    after: replies.last().map(|r| req.sort.position(&r.comment)),
                }
                .encode(),
            });
            let parent = comment.parent_id.map(|p| p.0).unwrap_or(0);
            let node = TreeNode {
                comment,
                replies,
                more,
            };
            if index == 0 {
                first_level.push(node);
            } else {
                this_level.entry(parent).or_default().push(node);
            }
        }
        below = this_level;
    }
    debug_assert!(depth == 0 || below.is_empty());
    first_level
}

/// A comment aliased `x` is left out for a viewer who blocks its author, unless it has replies:
/// then it stays, blanked (`creator_blocked`), so the thread keeps its shape.
fn unblocked_x() -> String {
    format!(
        "(x.child_count > 0 OR NOT {})",
        crate::blocks::blocks_person("x.creator_id")
    )
}

/// The first `req.limit` children of one parent after `req.after`.
async fn children_page(
    pool: &PgPool,
    req: &TreeRequest,
    parent_key: i64,
) -> Result<Vec<CommentView>, DbError> {
    let keyset = match req.after {
        Some(_) => format!("AND {}", req.sort.after("x", "$5", "$6")),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {VIEW_COLUMNS}
         FROM (SELECT * FROM comment x
               WHERE x.post_id = $2 AND x.parent_key = $3 {keyset} AND {visible} AND {unblocked}
               ORDER BY {order_x} LIMIT $4) c
         {VIEW_JOINS}
         ORDER BY {order_c}",
        order_x = req.sort.order_by("x"),
        order_c = req.sort.order_by("c"),
        visible = crate::governance::comment_visible("x"),
        unblocked = unblocked_x(),
    );
    let mut q = sqlx::query_as::<_, CommentView>(&sql)
        .bind(req.viewer)
        .bind(req.post)
        .bind(parent_key)
        .bind(req.limit);
    if let Some(pos) = req.after {
        q = match req.sort {
            CommentSort::Hot | CommentSort::Controversial => q.bind(pos.value.as_float()?),
            CommentSort::Top => q.bind(
                i32::try_from(pos.value.as_int()?)
                    .map_err(|_| DbError::BadCursor("score out of range"))?,
            ),
            CommentSort::New | CommentSort::Old => q.bind(pos.value.as_time()?),
        }
        .bind(pos.id);
    }
    Ok(q.fetch_all(pool).await?)
}

/// For each parent in `parents` (in that order), its first `per_parent` children.
async fn children_of_many(
    pool: &PgPool,
    req: &TreeRequest,
    parents: &[i64],
    per_parent: i64,
) -> Result<Vec<CommentView>, DbError> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS}
         FROM unnest($2::bigint[]) WITH ORDINALITY AS par(id, ord)
         CROSS JOIN LATERAL (SELECT * FROM comment x
                             WHERE x.post_id = $3 AND x.parent_key = par.id AND {visible} AND {unblocked}
                             ORDER BY {order_x} LIMIT $4) c
         {VIEW_JOINS}
         ORDER BY par.ord, {order_c}",
        order_x = req.sort.order_by("x"),
        order_c = req.sort.order_by("c"),
        visible = crate::governance::comment_visible("x"),
        unblocked = unblocked_x(),
    );
    Ok(sqlx::query_as::<_, CommentView>(&sql)
        .bind(req.viewer)
        .bind(parents)
        .bind(req.post)
        .bind(per_parent)
        .fetch_all(pool)
        .await?)
}
