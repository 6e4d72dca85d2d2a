//! The retention window of one worker link: every event the gateway wrote to the link, kept
//! until the worker acknowledges it, so that a worker that dies loses nothing (see
//! `worker_link`). A plain state machine: no I/O, no clock.
//!
//! **Numbering.** Events count from 1 in the order the link carries them; the worker counts
//! the same way, so no number travels with an event. [`Retention::push`] gives each its number.
//!
//! **Acknowledgement.** The worker acknowledges cumulatively ([`Retention::ack`]): "everything up
//! to `upto` is handled". An acknowledgement past the last event sent is clamped to it (a
//! confused peer cannot make the window forget events it never got), one behind the window's
//! start changes nothing.
//!
//! **Bounds.** The window holds at most `max_events` events and `max_bytes` bytes
//! ([`Retention::has_room`]); the link's writer stops taking events while it is full, so a
//! slow or stalled worker slows the clients routed to it (their connection tasks wait, TCP
//! slows the devices) and nothing is dropped. The bound is checked before each batch the
//! writer takes, so one batch may go past it.

use std::collections::VecDeque;

/// Events one link may hold unacknowledged: many times what a worker acknowledges per round
/// trip at full speed (100k events/s for 5 ms is 500), small enough that a stalled worker
/// costs the gateway a bounded table.
pub const MAX_EVENTS: usize = 16_384;

/// Bytes one link may hold unacknowledged (messages, as counted by [`ClientEvent::weight`]):
/// a kept event also keeps the read buffer its bytes were cut from, so the bound is kept
/// well below what a gateway may spend.
///
/// [`ClientEvent::weight`]: super::worker_slot::ClientEvent::weight
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// The unacknowledged events of one link, oldest first (see the module docs).
#[derive(Debug)]
pub struct Retention<T> {
    entries: VecDeque<(T, usize)>,
    /// The number of `entries[0]`; the next event sent gets `first + entries.len()`.
    first: u64,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
}

impl<T> Retention<T> {
    /// An empty window bounded by `max_events` and `max_bytes`.
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        Retention {
            entries: VecDeque::new(),
            first: 1,
            bytes: 0,
            max_events: max_events.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    /// Keeps `item` (`bytes` long) as the next event sent; returns its number.
    pub fn push(&mut self, item: T, bytes: usize) -> u64 {
        let seq = self.next();
        self.entries.push_back((item, bytes));
        self.bytes += bytes;
        seq
    }

    /// The number the next event sent will get.
    pub fn next(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    /// Whether the writer may take more events (both bounds below their limit).
    pub fn has_room(&self) -> bool {
        self.entries.len() < self.max_events && self.bytes < self.max_bytes
    }

    /// The worker handled every event up to `upto`: forgets them and moves them to `out`,
    /// oldest first (their clients may now be told).
    pub fn ack(&mut self, upto: u64, out: &mut Vec<T>) {
        let last = self.next() - 1;
        let upto = upto.min(last);
        if upto < self.first {
            return;
        }
        let n = (upto - self.first + 1) as usize;
        self.first = upto + 1;
        for (item, bytes) in self.entries.drain(..n) {
            self.bytes -= bytes;
            out.push(item);
        }
    }

    /// Event `seq`, if it is still held.
    pub fn get(&self, seq: u64) -> Option<&T> {
        let i = seq.checked_sub(self.first)?;
        self.entries.get(usize::try_from(i).ok()?).map(|(t, _)| t)
    }

    /// Every held event, oldest first, for redelivery; the window is then empty (numbering
    /// goes on, though the link that used it is over).
    pub fn take_all(&mut self) -> Vec<T> {
        self.first = self.next();
        self.bytes = 0;
        self.entries.drain(..).map(|(t, _)| t).collect()
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(r: &mut Retention<&'static str>, upto: u64) -> Vec<&'static str> {
        let mut out = Vec::new();
        r.ack(upto, &mut out);
        out
    }

    fn window(events: &[&'static str]) -> Retention<&'static str> {
        let mut r = Retention::new(100, 1000);
        for e in events {
            r.push(*e, e.len());
        }
        r
    }

    #[test]
    fn events_are_numbered_from_one_in_the_order_they_are_sent() {
        let mut r = Retention::new(10, 100);
        assert_eq!(r.push("a", 1), 1);
        assert_eq!(r.push("b", 1), 2);
        assert_eq!(r.get(1), Some(&"a"));
        assert_eq!(r.get(2), Some(&"b"));
        assert_eq!(r.get(0), None);
        assert_eq!(r.get(3), None);
    }

    #[test]
    fn an_ack_forgets_every_event_up_to_it_and_returns_them_in_order() {
        let mut r = window(&["a", "bb", "ccc"]);
        assert_eq!(ack(&mut r, 2), vec!["a", "bb"]);
        assert_eq!((r.len(), r.bytes()), (1, 3));
        assert_eq!(r.get(2), None);
        assert_eq!(r.get(3), Some(&"ccc"));
        assert_eq!(r.push("d", 1), 4, "numbering goes on");
    }

    #[test]
    fn an_old_or_repeated_ack_changes_nothing() {
        let mut r = window(&["a", "b", "c"]);
        assert_eq!(ack(&mut r, 2).len(), 2);
        assert!(ack(&mut r, 2).is_empty());
        assert!(ack(&mut r, 1).is_empty());
        assert!(ack(&mut r, 0).is_empty());
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn an_ack_past_what_was_sent_is_clamped_to_the_last_event() {
        let mut r = window(&["a", "b"]);
        assert_eq!(ack(&mut r, 1_000), vec!["a", "b"]);
        assert!(r.is_empty());
        assert_eq!(r.push("c", 1), 3, "the next event is still 3, not 1001");
        assert_eq!(ack(&mut r, 3), vec!["c"]);
    }

    #[test]
    fn the_window_is_full_at_either_bound_and_has_room_again_after_an_ack() {
        let mut r = Retention::new(2, 1000);
        r.push("a", 1);
        assert!(r.has_room());
        r.push("b", 1);
        assert!(!r.has_room(), "count bound");
        ack(&mut r, 1);
        assert!(r.has_room());

        let mut r = Retention::new(100, 10);
        r.push("big", 10);
        assert!(!r.has_room(), "byte bound");
        ack(&mut r, 1);
        assert!(r.has_room());
        assert_eq!(r.bytes(), 0);
    }

    #[test]
    fn take_all_hands_over_what_is_unacknowledged_oldest_first() {
        let mut r = window(&["a", "b", "c", "d"]);
        ack(&mut r, 1);
        assert_eq!(r.take_all(), vec!["b", "c", "d"]);
        assert!(r.is_empty());
        assert_eq!(r.bytes(), 0);
        assert!(ack(&mut r, 4).is_empty(), "nothing is acknowledged twice");
    }
}
