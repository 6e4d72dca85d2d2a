//! Heartbeat: one timer for the whole gateway (not one per connection, which would cost memory
//! on every idle client). Each interval, every client that sent nothing since the last tick
//! gets one more silent interval; a client silent for `ping_not_response_limit` intervals in a
//! row is closed (so after between `limit` and `limit + 1` intervals of silence). Any inbound
//! data, WebSocket pings included, resets the count. Others get a ping: `ping_data` if set,
//! else the codec's own ping (a WebSocket ping frame), else nothing.

use super::client::Out;
use super::GatewayState;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Runs the heartbeat until the process ends; returns at once when `ping_interval` is 0.
pub async fn run(state: Arc<GatewayState>) {
    let secs = state.settings.ping_interval;
    if secs == 0 {
        return;
    }
    let limit = state.settings.ping_not_response_limit;
    let mut tick = tokio::time::interval(Duration::from_secs(secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        for client in state.all_clients() {
            let silent = client.silent_intervals.fetch_add(1, Ordering::Relaxed);
            if limit > 0 && silent >= limit {
                state.stats.heartbeat_closes.fetch_add(1, Ordering::Relaxed);
                tracing::info!(client = %client.id, "silent for {silent} intervals: closing");
                client.close(None);
            } else {
                state.push(&client, Out::Ping);
            }
        }
    }
}
