//! Bridge counters: lock-free while running, copied into [`BridgeStats`], whose fields are the
//! `mqtt_*` samples of status and metrics (declared once, with their help, by `counters!`).

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

crate::counters! {
    /// A snapshot of the bridge's counters (totals since start unless noted), named
    /// `mqtt_<field>` in status and metrics.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct BridgeStats prefix "mqtt_" {
        /// Whether a broker connection is up now (1) or not (0).
        Gauge connected: bool,
        /// Successful broker connections (ConnAck).
        Counter connects: u64,
        /// Broker connection attempts or connections that failed.
        Counter connection_errors: u64,
        /// Outbox messages sent for the first time (by this process).
        Counter published: u64,
        /// Outbox messages sent again after a reconnect (same id).
        Counter retried: u64,
        /// Messages acknowledged (QoS 1 PubAck, or QoS 0 written) and removed from the outbox.
        Counter acked: u64,
        /// Messages in the outbox now.
        Gauge outbox_len: u64,
        /// Publishes accepted into the outbox.
        Counter outbox_accepted: u64,
        /// Publishes refused because the outbox was full.
        Counter outbox_refused_full: u64,
        /// Publishes refused because they exceed max_packet_bytes.
        Counter outbox_refused_too_big: u64,
        /// Damaged records found in the outbox's log (each ends the rest of its segment).
        Counter corrupt_dropped: u64,
        /// Downlink subscriptions the broker refused.
        Counter subscribe_failed: u64,
        /// Downlink subscriptions the broker granted (once per subscription per connection).
        Counter subscribe_acked: u64,
        /// Downlink messages received.
        Counter downlink_received: u64,
        /// Downlink messages handed to the sink (directly or from the hold queue).
        Counter downlink_delivered: u64,
        /// Downlink messages whose topic matched no template.
        Counter downlink_unmatched: u64,
        /// Downlink messages dropped because the uid was offline (policy drop).
        Counter downlink_dropped_offline: u64,
        /// Downlink sink calls that failed.
        Counter downlink_sink_errors: u64,
        /// Downlink messages put in the hold queue (policy hold).
        Counter downlink_held: u64,
        /// Downlink messages in the hold queue now.
        Gauge downlink_held_now: u64,
        /// Downlink messages dropped by the hold queue's bounds.
        Counter downlink_hold_dropped: u64,
    }
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

/// The bridge's counters as `mqtt_*` samples, for the gateway's registry.
impl crate::Samples for super::BridgeHandle {
    fn samples(&self, out: &mut Vec<crate::Sample>) {
        crate::Samples::samples(&self.stats(), out)
    }
}
