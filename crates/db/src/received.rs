//! Ids of incoming activities already seen, so that each is processed at most once. The
//! cleanup forgets them after a while ([`crate::queue::delete_received`]).

use crate::DbError;
use sqlx::PgPool;

/// Remember an incoming activity id. Returns false when it was seen before (a replay).
pub async fn record(pool: &PgPool, activity_ap_id: &str) -> Result<bool, DbError> {
    let done =
        sqlx::query("INSERT INTO received_activity (ap_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(activity_ap_id)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Forget an activity id whose processing failed, so that a retry from its sender is processed.
pub async fn forget(pool: &PgPool, activity_ap_id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM received_activity WHERE ap_id = $1")
        .bind(activity_ap_id)
        .execute(pool)
        .await?;
    Ok(())
}
