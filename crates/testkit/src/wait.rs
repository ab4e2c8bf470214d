//! Waiting for something another node or process does: poll with a deadline, never sleep as
//! synchronisation.

use std::future::Future;
use std::time::{Duration, Instant};

/// Poll `check` every 50 ms until it returns `Some`, for at most 30 s; then fail naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(
        Duration::from_secs(30),
        Duration::from_millis(50),
        what,
        check,
    )
    .await
}

/// Poll `check` every `every` until it returns `Some`, for at most `limit`; then fail naming
/// `what`.
pub async fn eventually_within<T, F, Fut>(
    limit: Duration,
    every: Duration,
    what: &str,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}
