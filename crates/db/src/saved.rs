//! Posts and comments a local user saved, listed newest saved first.

use crate::comments::{CommentView, VIEW_COLUMNS, VIEW_JOINS};
use crate::posts::PostView;
use crate::DbError;
use canopy_core::{CommentId, PersonId, PostId};
use sqlx::PgPool;

/// What is saved: a post, or a comment (with its post).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Post(PostId),
    Comment(CommentId),
}

/// Save `item` for `person`. Returns whether it was not saved yet; `NotFound` when the item
/// does not exist.
pub async fn save(pool: &PgPool, person: PersonId, item: Item) -> Result<bool, DbError> {
    let (inserted,): (Option<bool>,) = match item {
        Item::Post(post) => {
            sqlx::query_as(
                "WITH it AS (SELECT id FROM post WHERE id = $2),
                  ins AS (INSERT INTO saved_item (person_id, post_id)
                          SELECT $1, id FROM it ON CONFLICT DO NOTHING RETURNING 1)
             SELECT CASE WHEN EXISTS (SELECT 1 FROM it) THEN EXISTS (SELECT 1 FROM ins) END",
            )
            .bind(person)
            .bind(post)
            .fetch_one(pool)
            .await?
        }
        Item::Comment(comment) => {
            sqlx::query_as(
                "WITH it AS (SELECT id, post_id FROM comment WHERE id = $2),
                  ins AS (INSERT INTO saved_item (person_id, post_id, comment_id)
                          SELECT $1, post_id, id FROM it ON CONFLICT DO NOTHING RETURNING 1)
             SELECT CASE WHEN EXISTS (SELECT 1 FROM it) THEN EXISTS (SELECT 1 FROM ins) END",
            )
            .bind(person)
            .bind(comment)
            .fetch_one(pool)
            .await?
        }
    };
    inserted.ok_or(DbError::NotFound(match item {
        Item::Post(_) => "post",
        Item::Comment(_) => "comment",
    }))
}

/// Forget a saved item. Returns whether it was saved.
pub async fn unsave(pool: &PgPool, person: PersonId, item: Item) -> Result<bool, DbError> {
    let done = match item {
        Item::Post(post) => sqlx::query(
            "DELETE FROM saved_item WHERE person_id = $1 AND post_id = $2 AND comment_id IS NULL",
        )
        .bind(person)
        .bind(post)
        .execute(pool)
        .await?,
        Item::Comment(comment) => {
            sqlx::query("DELETE FROM saved_item WHERE person_id = $1 AND comment_id = $2")
                .bind(person)
                .bind(comment)
                .execute(pool)
                .await?
        }
    };
    Ok(done.rows_affected() > 0)
}

/// One saved item as listed: the post or the comment as the saver sees it.
#[derive(Debug, Clone)]
pub enum SavedView {
    Post(Box<PostView>),
    Comment(Box<CommentView>),
}

/// A saved item with its place in the list.
#[derive(Debug, Clone)]
pub struct Saved {
    /// Keyset position (the save's id): newest saved first.
    pub id: i64,
    pub saved_at: chrono::DateTime<chrono::Utc>,
    pub item: SavedView,
}

/// `person`'s saved posts and comments, newest saved first, `limit` after the cursor (the id of
/// the last item of the previous page, opaque to clients). Returns the page and the next cursor
/// when there may be one. Two statements: the page of saves, then its posts and its comments.
pub async fn list(
    pool: &PgPool,
    person: PersonId,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<Saved>, Option<String>), DbError> {
    let before: Option<i64> = cursor.map(crate::cursor::decode).transpose()?;
    let saves: Vec<(i64, i64, Option<i64>, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT id, post_id, comment_id, created_at FROM saved_item
         WHERE person_id = $1 AND ($2::bigint IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(person)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let post_ids: Vec<i64> = saves
        .iter()
        .filter(|s| s.2.is_none())
        .map(|s| s.1)
        .collect();
    let comment_ids: Vec<i64> = saves.iter().filter_map(|s| s.2).collect();
    let posts = crate::posts::views(pool, &post_ids, Some(person)).await?;
    let comments: Vec<CommentView> = sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM comment c {VIEW_JOINS} WHERE c.id = ANY($2)"
    ))
    .bind(person)
    .bind(&comment_ids)
    .fetch_all(pool)
    .await?;
    let mut posts: std::collections::HashMap<i64, PostView> =
        posts.into_iter().map(|p| (p.id.0, p)).collect();
    let mut comments: std::collections::HashMap<i64, CommentView> =
        comments.into_iter().map(|c| (c.id.0, c)).collect();
    let next = match saves.last() {
        Some(last) if saves.len() as i64 == limit => Some(crate::cursor::encode(&last.0)),
        _ => None,
    };
    let items = saves
        .into_iter()
        .filter_map(|(id, post, comment, saved_at)| {
            let item = match comment {
                Some(c) => SavedView::Comment(Box::new(comments.remove(&c)?)),
                None => SavedView::Post(Box::new(posts.remove(&post)?)),
            };
            Some(Saved { id, saved_at, item })
        })
        .collect();
    Ok((items, next))
}
