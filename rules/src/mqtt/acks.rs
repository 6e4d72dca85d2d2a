//! Which outbox entry an incoming PubAck completes, and how many publishes may be outstanding:
//! the bridge's ack pairing as a state machine, with no I/O, tested without a broker.
//!
//! rumqttc assigns packet ids as it takes publishes off its request channel, in order, and
//! reports each as `Outgoing::Publish(pkid)`. So the outbox ids handed to rumqttc wait in a
//! FIFO until their send is reported, then move to a pkid -> outbox id table that the PubAck
//! empties. QoS 0 entries are complete once sent. No ack has a timeout of its own: a broker
//! that stops acking is caught by MQTT's keep-alive, which ends the connection, and the outbox
//! resends everything unacknowledged on the next one.

use std::collections::{HashMap, VecDeque};

/// Outbox entries handed to the MQTT client and not yet acknowledged, and those acknowledged.
#[derive(Debug)]
pub(crate) struct AckWindow {
    window: usize,
    /// Handed to rumqttc, its send not yet reported: (outbox id, qos), in hand-over order.
    handed: VecDeque<(u64, u8)>,
    /// Sent with QoS 1, waiting for their PubAck: pkid -> outbox id.
    inflight: HashMap<u16, u64>,
    /// Complete, not yet removed from the outbox.
    acked: Vec<u64>,
}

impl AckWindow {
    /// A window of `window` outstanding publishes (at least 1).
    pub fn new(window: usize) -> Self {
        let window = window.max(1);
        AckWindow {
            window,
            handed: VecDeque::with_capacity(window),
            inflight: HashMap::with_capacity(window),
            acked: Vec::new(),
        }
    }

    /// Publishes handed over and not yet acknowledged.
    pub fn outstanding(&self) -> usize {
        self.handed.len() + self.inflight.len()
    }

    /// Room left in the window.
    pub fn free(&self) -> usize {
        self.window - self.outstanding().min(self.window)
    }

    /// Whether to top the window up now: once an eighth of it is free (or all of it), not per
    /// PubAck, so one outbox read serves several publishes.
    pub fn wants_top_up(&self) -> bool {
        self.free() >= (self.window / 8).max(1)
    }

    /// Entry `id` was handed to the client to publish with `qos`.
    pub fn on_handed(&mut self, id: u64, qos: u8) {
        self.handed.push_back((id, qos));
    }

    /// The client reports it sent the oldest handed publish under `pkid`.
    pub fn on_sent(&mut self, pkid: u16) {
        if let Some((id, qos)) = self.handed.pop_front() {
            if qos == 0 {
                self.acked.push(id);
            } else {
                self.inflight.insert(pkid, id);
            }
        }
    }

    /// A PubAck for `pkid` arrived; one for no publish of ours is ignored.
    pub fn on_puback(&mut self, pkid: u16) {
        if let Some(id) = self.inflight.remove(&pkid) {
            self.acked.push(id);
        }
    }

    /// Entries complete since the last [`AckWindow::clear_acked`], in completion order.
    pub fn acked(&self) -> &[u64] {
        &self.acked
    }

    /// Forgets the complete entries (they were removed from the outbox).
    pub fn clear_acked(&mut self) {
        self.acked.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_puback_completes_the_entry_sent_under_its_pkid_even_out_of_order() {
        let mut w = AckWindow::new(8);
        for id in [10, 11, 12] {
            w.on_handed(id, 1);
        }
        for pkid in [1, 2, 3] {
            w.on_sent(pkid);
        }
        assert!(w.acked().is_empty());
        w.on_puback(3);
        w.on_puback(1);
        assert_eq!(w.acked(), &[12, 10]);
        assert_eq!(w.outstanding(), 1);
    }

    #[test]
    fn qos0_entries_are_complete_once_sent_and_not_before() {
        let mut w = AckWindow::new(8);
        w.on_handed(5, 0);
        w.on_handed(6, 1);
        assert!(w.acked().is_empty());
        w.on_sent(1);
        assert_eq!(w.acked(), &[5]);
        w.on_sent(2);
        w.on_puback(2);
        assert_eq!(w.acked(), &[5, 6]);
        assert_eq!(w.outstanding(), 0);
    }

    #[test]
    fn unknown_or_repeated_pubacks_and_unexpected_sends_change_nothing() {
        let mut w = AckWindow::new(8);
        w.on_sent(1);
        w.on_puback(7);
        w.on_handed(1, 1);
        w.on_sent(4);
        w.on_puback(4);
        w.on_puback(4);
        assert_eq!(w.acked(), &[1]);
        assert_eq!(w.outstanding(), 0);
    }

    #[test]
    fn a_pkid_reused_after_its_ack_pairs_with_the_new_entry() {
        let mut w = AckWindow::new(8);
        w.on_handed(1, 1);
        w.on_sent(1);
        w.on_puback(1);
        w.on_handed(2, 1);
        w.on_sent(1);
        w.on_puback(1);
        assert_eq!(w.acked(), &[1, 2]);
        w.clear_acked();
        assert!(w.acked().is_empty());
    }

    #[test]
    fn the_window_is_topped_up_once_an_eighth_of_it_is_free() {
        let mut w = AckWindow::new(16);
        assert!(w.wants_top_up());
        for id in 0..16 {
            w.on_handed(id, 1);
            w.on_sent(id as u16);
        }
        assert_eq!(w.free(), 0);
        assert!(!w.wants_top_up());
        w.on_puback(0);
        assert_eq!(w.free(), 1);
        assert!(
            !w.wants_top_up(),
            "one free slot of 16 is less than an eighth"
        );
        w.on_puback(1);
        assert!(w.wants_top_up());
        assert_eq!(w.free(), 2);
    }

    #[test]
    fn a_tiny_window_is_topped_up_as_soon_as_one_slot_is_free() {
        let mut w = AckWindow::new(2);
        w.on_handed(1, 1);
        w.on_handed(2, 1);
        assert!(!w.wants_top_up());
        w.on_sent(1);
        w.on_puback(1);
        assert!(w.wants_top_up());
    }
}
