//! One simulated device's life: wait for its turn in the ramp, connect, run its behaviour,
//! and when the connection drops, reconnect after a backoff, as a real device would, until the
//! run ends.

use crate::behaviour::{DeviceBehaviour, SessionEnd, Shared};
use crate::transport::Connector;
use std::sync::Arc;
use std::time::Duration;
use timing::Backoff;
use tokio::time::Instant;

/// A connection that stayed up this long resets the backoff.
const STABLE: Duration = Duration::from_secs(1);

/// Runs device `index` (fleet-wide) from `start_at` until the run ends.
pub async fn run_device<B: DeviceBehaviour>(
    behaviour: Arc<B>,
    connector: Arc<Connector>,
    shared: Arc<Shared>,
    index: u64,
    start_at: Instant,
) {
    let stop = &shared.stop;
    tokio::select! {
        _ = tokio::time::sleep_until(start_at) => {}
        _ = stop.cancelled() => return,
    }
    let timing = &shared.timing;
    let mut backoff = Backoff::new(timing.backoff_min, timing.backoff_max);
    let mut state = B::State::default();
    let mut connected_before = false;
    loop {
        let attempt = tokio::select! {
            attempt = connector.connect(index) => attempt,
            _ = stop.cancelled() => break,
        };
        match attempt {
            Err(_) => shared.stats.connect_failed(),
            Ok(link) => {
                shared.stats.connected(connected_before);
                connected_before = true;
                let up_since = Instant::now();
                let end = behaviour.session(link, index, &mut state, &shared).await;
                shared.stats.closed(end == SessionEnd::Dropped);
                if end == SessionEnd::Stopped {
                    break;
                }
                if up_since.elapsed() >= STABLE {
                    backoff.reset();
                }
            }
        }
        let delay = backoff.next_delay(&mut rand::thread_rng());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => break,
        }
    }
    behaviour.finish(&mut state, &shared);
}

/// The planned start of the `k`-th device of a group ramping at `ramp` connections per second.
pub fn start_offset(k: u64, ramp: Option<f64>) -> Duration {
    match ramp {
        Some(rate) if rate > 0.0 => Duration::from_secs_f64(k as f64 / rate),
        _ => Duration::ZERO,
    }
}
