//! Votes on posts and comments, local (by row id) and remote (by the ActivityPub ids of the
//! content and of the vote). Counts are maintained by triggers in the voter's transaction (see
//! the migrations), so they stay exact under concurrent votes.

use crate::DbError;
use canopy_core::{CommentId, PersonId, PostId};
use sqlx::{PgConnection, PgPool};

/// Score, upvotes and downvotes of a voted item after the vote.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Tally {
    pub score: i32,
    pub upvotes: i32,
    pub downvotes: i32,
}

/// Set `person`'s vote on a post: 1 up, -1 down, 0 clears it.
pub async fn vote_post(
    pool: &PgPool,
    post: PostId,
    person: PersonId,
    score: i16,
) -> Result<Tally, DbError> {
    let mut tx = pool.begin().await?;
    let tally = vote_post_in(&mut tx, post, person, score).await?;
    tx.commit().await?;
    Ok(tally)
}

/// [`vote_post`] inside the caller's transaction (so the vote and its activity commit together).
pub async fn vote_post_in(
    tx: &mut PgConnection,
    post: PostId,
    person: PersonId,
    score: i16,
) -> Result<Tally, DbError> {
    if score == 0 {
        sqlx::query("DELETE FROM post_vote WHERE post_id = $1 AND person_id = $2")
            .bind(post)
            .bind(person)
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query(
            "INSERT INTO post_vote (post_id, person_id, score) VALUES ($1, $2, $3)
             ON CONFLICT (post_id, person_id) DO UPDATE SET score = EXCLUDED.score, published = now()
             WHERE post_vote.score <> EXCLUDED.score",
        )
        .bind(post)
        .bind(person)
        .bind(score)
        .execute(&mut *tx)
        .await?;
    }
    let tally = sqlx::query_as("SELECT score, upvotes, downvotes FROM post WHERE id = $1")
        .bind(post)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DbError::NotFound("post"))?;
    Ok(tally)
}

/// Set `person`'s vote on a comment: 1 up, -1 down, 0 clears it.
pub async fn vote_comment(
    pool: &PgPool,
    comment: CommentId,
    person: PersonId,
    score: i16,
) -> Result<Tally, DbError> {
    let mut tx = pool.begin().await?;
    let tally = vote_comment_in(&mut tx, comment, person, score).await?;
    tx.commit().await?;
    Ok(tally)
}

/// [`vote_comment`] inside the caller's transaction.
pub async fn vote_comment_in(
    tx: &mut PgConnection,
    comment: CommentId,
    person: PersonId,
    score: i16,
) -> Result<Tally, DbError> {
    if score == 0 {
        sqlx::query("DELETE FROM comment_vote WHERE comment_id = $1 AND person_id = $2")
            .bind(comment)
            .bind(person)
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query(
            "INSERT INTO comment_vote (comment_id, person_id, post_id, score)
             SELECT id, $2, post_id, $3 FROM comment WHERE id = $1
             ON CONFLICT (comment_id, person_id) DO UPDATE SET score = EXCLUDED.score, published = now()
             WHERE comment_vote.score <> EXCLUDED.score",
        )
        .bind(comment)
        .bind(person)
        .bind(score)
        .execute(&mut *tx)
        .await?;
    }
    let tally = sqlx::query_as("SELECT score, upvotes, downvotes FROM comment WHERE id = $1")
        .bind(comment)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DbError::NotFound("comment"))?;
    Ok(tally)
}

/// Record a remote vote on the post or comment `target_ap_id` (with the vote activity's id, so
/// that its Undo can find it). Returns whether a vote was stored.
pub async fn vote_by_activity(
    pool: &PgPool,
    target_ap_id: &str,
    person: PersonId,
    score: i16,
    activity_ap_id: &str,
) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    let c = sqlx::query(
        "INSERT INTO comment_vote (comment_id, person_id, post_id, score, ap_id)
         SELECT id, $2, post_id, $3, $4 FROM comment WHERE ap_id = $1
         ON CONFLICT (comment_id, person_id) DO UPDATE SET score = EXCLUDED.score, ap_id = EXCLUDED.ap_id",
    )
    .bind(target_ap_id)
    .bind(person)
    .bind(score)
    .bind(activity_ap_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let p = sqlx::query(
        "INSERT INTO post_vote (post_id, person_id, score, ap_id)
         SELECT id, $2, $3, $4 FROM post WHERE ap_id = $1
         ON CONFLICT (post_id, person_id) DO UPDATE SET score = EXCLUDED.score, ap_id = EXCLUDED.ap_id",
    )
    .bind(target_ap_id)
    .bind(person)
    .bind(score)
    .bind(activity_ap_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(c + p > 0)
}

/// Remove `person`'s vote on the post or comment `target_ap_id`. Returns whether one was there.
pub async fn unvote(pool: &PgPool, target_ap_id: &str, person: PersonId) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    let c = sqlx::query(
        "DELETE FROM comment_vote WHERE person_id = $2
           AND comment_id = (SELECT id FROM comment WHERE ap_id = $1)",
    )
    .bind(target_ap_id)
    .bind(person)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let p = sqlx::query(
        "DELETE FROM post_vote WHERE person_id = $2 AND post_id = (SELECT id FROM post WHERE ap_id = $1)",
    )
    .bind(target_ap_id)
    .bind(person)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(c + p > 0)
}
