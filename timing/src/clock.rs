//! Tokio's clock as the machines see it: `std` instants in, timers armed at the instants they
//! return. Under a paused tokio clock (tests that pause it) both follow the paused time.

use std::time::Instant;

/// Now, on tokio's clock.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Sleeps until `at` on tokio's clock, or forever when there is nothing to wait for.
pub async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
