//! Bridge counters: lock-free while running, copied into [`BridgeStats`] for status/metrics.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Live counters shared by the bridge task and the downlink side.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    pub connection_errors: AtomicU64,
    pub published: AtomicU64,
    pub retried: AtomicU64,
    pub acked: AtomicU64,
    pub subscribe_failed: AtomicU64,
    pub subscribe_acked: AtomicU64,
    pub downlink_received: AtomicU64,
    pub downlink_delivered: AtomicU64,
    pub downlink_unmatched: AtomicU64,
    pub downlink_dropped_offline: AtomicU64,
    pub downlink_sink_errors: AtomicU64,
    pub downlink_held: AtomicU64,
    pub downlink_held_now: AtomicU64,
    pub downlink_hold_dropped: AtomicU64,
}

/// A snapshot of the bridge's counters (totals since start unless noted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BridgeStats {
    /// Whether a broker connection is up now.
    pub connected: bool,
    /// Successful connections (ConnAck).
    pub connects: u64,
    /// Connection attempts or connections that failed.
    pub connection_errors: u64,
    /// Outbox messages sent for the first time (by this process).
    pub published: u64,
    /// Outbox messages sent again after a reconnect (same id).
    pub retried: u64,
    /// Messages acknowledged (QoS 1 PubAck, or QoS 0 written) and removed from the outbox.
    pub acked: u64,
    /// Messages in the outbox now.
    pub outbox_len: u64,
    /// Publishes accepted into the outbox.
    pub outbox_accepted: u64,
    /// Publishes refused because the outbox was full.
    pub outbox_refused_full: u64,
    /// Publishes refused because they exceed `max_packet_bytes`.
    pub outbox_refused_too_big: u64,
    /// Damaged records found in the outbox's log (each ends the rest of its segment).
    pub corrupt_dropped: u64,
    /// Downlink subscriptions the broker refused.
    pub subscribe_failed: u64,
    /// Downlink subscriptions the broker granted (once per subscription per connection).
    pub subscribe_acked: u64,
    /// Downlink messages received.
    pub downlink_received: u64,
    /// Downlink messages handed to the sink (directly or from the hold queue).
    pub downlink_delivered: u64,
    /// Downlink messages whose topic matched no template.
    pub downlink_unmatched: u64,
    /// Downlink messages dropped because the uid was offline (policy `drop`).
    pub downlink_dropped_offline: u64,
    /// Sink calls that failed.
    pub downlink_sink_errors: u64,
    /// Downlink messages put in the hold queue (policy `hold`).
    pub downlink_held: u64,
    /// Downlink messages in the hold queue now.
    pub downlink_held_now: u64,
    /// Downlink messages dropped by the hold queue's bounds.
    pub downlink_hold_dropped: u64,
}

impl Counters {
    pub fn snapshot(&self) -> BridgeStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BridgeStats {
            connected: self.connected.load(Ordering::Relaxed),
            connects: g(&self.connects),
            connection_errors: g(&self.connection_errors),
            published: g(&self.published),
            retried: g(&self.retried),
            acked: g(&self.acked),
            corrupt_dropped: 0,
            subscribe_failed: g(&self.subscribe_failed),
            subscribe_acked: g(&self.subscribe_acked),
            downlink_received: g(&self.downlink_received),
            downlink_delivered: g(&self.downlink_delivered),
            downlink_unmatched: g(&self.downlink_unmatched),
            downlink_dropped_offline: g(&self.downlink_dropped_offline),
            downlink_sink_errors: g(&self.downlink_sink_errors),
            downlink_held: g(&self.downlink_held),
            downlink_held_now: g(&self.downlink_held_now),
            downlink_hold_dropped: g(&self.downlink_hold_dropped),
            ..BridgeStats::default()
        }
    }
}
