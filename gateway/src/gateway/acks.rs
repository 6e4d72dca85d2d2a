//! Held acks: a device-family ack (a codec's `Inbound::Reply`) leaves only once the worker has
//! accepted the data events it confirms.
//!
//! [`AckWindow`] is the per-connection state machine, with no I/O and no clock: the connection
//! tells it what it routed and decoded and which events were accepted, and writes the replies
//! it releases, in the order they were decoded.
//!
//! **Numbering.** The connection numbers its data events (`FromGateway::Data`) 1, 2, 3, ... as it
//! routes them; each is either accepted when routing returns or pending until a completion
//! (`ClientHandle::event_done`) arrives, in any order.
//!
//! **Attachment.** A family codec yields a frame's reply before the frame's message, so a reply
//! attaches to the next data event routed in the same decode pass; replies still unattached
//! when the pass ends, or when a non-data event comes first, attach to the last data event
//! routed (0 when none was: such a reply confirms nothing and is released at once).
//!
//! **Release.** A reply attached to event `s` is released once every data event up to `s` is
//! accepted, and only after every reply decoded before it: replies never reorder, and a reply
//! also confirms whatever the device sent before (a tracker deletes what it was acked for).
//!
//! **Refusal.** A refused event ends the window: nothing more is released, and the connection
//! closes, so the device keeps and resends everything not yet confirmed.
//!
//! **Bounds.** The connection stops reading while [`AckWindow::can_read`] is false (see
//! [`MAX_PENDING`], [`MAX_HELD_BYTES`]): TCP back-pressure slows a device that outruns its
//! worker, and nothing is dropped. The bounds are checked between reads, so one read's worth
//! of frames may go past them.
//!
//! The connection keeps no window while nothing is pending (the fast path: a reply is written
//! as soon as the next data event is routed and accepted at once), so an idle connection pays
//! for an empty `Option<Box<AckWindow>>` only.

use bytes::Bytes;
use std::collections::VecDeque;

/// Data events of one connection that may wait for acceptance before it stops reading: far
/// more than a tracker sends in one burst (its memory replay after a coverage gap), few enough
/// that a stalled worker holds a small table per connection.
pub const MAX_PENDING: usize = 1024;

/// Reply bytes one connection may hold before it stops reading: GT06 acks are 10 bytes, so
/// this is thousands of them, yet a stalled worker costs each connection little more than its
/// socket buffers.
pub const MAX_HELD_BYTES: usize = 64 * 1024;

/// The held acks of one connection (see the module docs).
#[derive(Debug, Default)]
pub struct AckWindow {
    /// Data events not yet accepted, oldest first, each with whether its completion came
    /// already (completions arrive out of order; the front is always still waiting).
    pending: VecDeque<(u64, bool)>,
    /// Entries of `pending` whose completion has not come.
    waiting: usize,
    /// Attached replies not yet released, in decode order, with the event each confirms.
    held: VecDeque<(u64, Bytes)>,
    /// Replies decoded since the last data event routed in this pass, not yet attached.
    loose: Vec<Bytes>,
    /// Bytes in `held` and `loose`.
    held_bytes: usize,
    /// The last data event routed.
    last: u64,
    /// The first refused event.
    refused: Option<u64>,
}

impl AckWindow {
    /// An empty window: nothing routed, nothing pending.
    pub fn new() -> AckWindow {
        AckWindow::default()
    }

    /// Data event `seq` was routed, accepted already or `pending`; attaches the loose replies.
    #[must_use = "released replies must be written"]
    pub fn routed(&mut self, seq: u64, pending: bool) -> Released<'_> {
        debug_assert!(seq > self.last, "data events are routed in order");
        self.last = seq;
        for b in self.loose.drain(..) {
            self.held.push_back((seq, b));
        }
        if pending {
            self.pending.push_back((seq, false));
            self.waiting += 1;
        }
        Released { window: self }
    }

    /// Whether replies wait for the next data event routed.
    pub fn has_loose(&self) -> bool {
        !self.loose.is_empty()
    }

    /// The codec yielded a reply; it waits for the data event it attaches to.
    pub fn reply(&mut self, bytes: Bytes) {
        self.held_bytes += bytes.len();
        self.loose.push(bytes);
    }

    /// A decode pass ended, or a non-data event came: loose replies attach to the last event.
    #[must_use = "released replies must be written"]
    pub fn end_of_input(&mut self) -> Released<'_> {
        let last = self.last;
        for b in self.loose.drain(..) {
            self.held.push_back((last, b));
        }
        Released { window: self }
    }

    /// The worker accepted (`ok`) or refused data event `seq`. A completion for an event that
    /// is not pending (none should come) is ignored.
    #[must_use = "released replies must be written"]
    pub fn done(&mut self, seq: u64, ok: bool) -> Released<'_> {
        if let Ok(i) = self.pending.binary_search_by_key(&seq, |p| p.0) {
            if ok && !self.pending[i].1 {
                self.pending[i].1 = true;
                self.waiting -= 1;
                while self.pending.front().is_some_and(|p| p.1) {
                    self.pending.pop_front();
                }
            } else if !ok {
                self.refused.get_or_insert(seq);
            }
        }
        Released { window: self }
    }

    /// The first refused data event, if any: the connection must close.
    pub fn refused(&self) -> Option<u64> {
        self.refused
    }

    /// Whether the connection may read more: false while too much waits for acceptance.
    /// (Events accepted behind an older pending one still count: they keep their entry.)
    pub fn can_read(&self) -> bool {
        self.pending.len() < MAX_PENDING && self.held_bytes < MAX_HELD_BYTES
    }

    /// Nothing pending, held or refused: the connection may drop the window.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
            && self.held.is_empty()
            && self.loose.is_empty()
            && self.refused.is_none()
    }

    /// Data events waiting for acceptance.
    pub fn pending(&self) -> usize {
        self.waiting
    }

    fn next_released(&mut self) -> Option<Bytes> {
        if self.refused.is_some() {
            return None;
        }
        let &(seq, _) = self.held.front()?;
        // The front of `pending` is the oldest event still waiting.
        if self.pending.front().is_some_and(|p| p.0 <= seq) {
            return None;
        }
        let (_, b) = self.held.pop_front()?;
        self.held_bytes -= b.len();
        Some(b)
    }
}

/// The replies a call released, in order; those not taken stay held for the next call.
#[derive(Debug)]
pub struct Released<'a> {
    window: &'a mut AckWindow,
}

impl Iterator for Released<'_> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        self.window.next_released()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(n: u32) -> Bytes {
        Bytes::copy_from_slice(&n.to_be_bytes())
    }

    fn ids(it: Released<'_>) -> Vec<u32> {
        it.map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    #[test]
    fn a_reply_goes_out_with_its_event_when_the_event_is_accepted_at_once() {
        let mut w = AckWindow::new();
        w.reply(r(1));
        assert_eq!(ids(w.routed(1, false)), [1]);
        assert!(w.is_idle());
    }

    #[test]
    fn a_reply_waits_for_its_pending_event_and_goes_out_on_acceptance() {
        let mut w = AckWindow::new();
        w.reply(r(1));
        assert!(ids(w.routed(1, true)).is_empty());
        assert!(ids(w.end_of_input()).is_empty());
        assert!(!w.is_idle());
        assert_eq!(ids(w.done(1, true)), [1]);
        assert!(w.is_idle());
    }

    #[test]
    fn a_later_reply_waits_for_an_earlier_pending_event_even_when_its_own_is_accepted() {
        let mut w = AckWindow::new();
        w.reply(r(1));
        assert!(ids(w.routed(1, true)).is_empty());
        w.reply(r(2));
        assert!(ids(w.routed(2, false)).is_empty(), "event 1 still waits");
        assert_eq!(ids(w.done(1, true)), [1, 2]);
    }

    #[test]
    fn completions_out_of_order_release_replies_in_order() {
        let mut w = AckWindow::new();
        for seq in 1..=3 {
            w.reply(r(seq as u32));
            assert!(ids(w.routed(seq, true)).is_empty());
        }
        assert!(ids(w.done(3, true)).is_empty());
        assert!(ids(w.done(2, true)).is_empty());
        assert_eq!(ids(w.done(1, true)), [1, 2, 3]);
        assert!(w.is_idle());
    }

    #[test]
    fn a_reply_left_at_the_end_of_a_pass_attaches_to_the_last_routed_event() {
        let mut w = AckWindow::new();
        assert!(ids(w.routed(1, true)).is_empty());
        w.reply(r(7));
        assert!(ids(w.end_of_input()).is_empty());
        // Event 2 of the next pass is accepted at once: the reply was event 1's.
        assert!(ids(w.routed(2, false)).is_empty());
        assert_eq!(ids(w.done(1, true)), [7]);
    }

    #[test]
    fn a_reply_before_any_data_event_confirms_nothing_and_goes_out_at_the_end_of_the_pass() {
        let mut w = AckWindow::new();
        w.reply(r(1));
        assert_eq!(ids(w.end_of_input()), [1]);
    }

    #[test]
    fn a_refused_event_releases_nothing_more() {
        let mut w = AckWindow::new();
        w.reply(r(1));
        assert!(ids(w.routed(1, true)).is_empty());
        w.reply(r(2));
        assert!(ids(w.routed(2, true)).is_empty());
        assert!(ids(w.done(2, false)).is_empty());
        assert_eq!(w.refused(), Some(2));
        assert!(ids(w.done(1, true)).is_empty());
        assert!(!w.is_idle());
    }

    #[test]
    fn a_completion_for_an_event_that_is_not_pending_changes_nothing() {
        let mut w = AckWindow::new();
        w.reply(r(1));
        assert!(ids(w.routed(1, true)).is_empty());
        assert!(ids(w.done(9, true)).is_empty());
        assert!(ids(w.done(9, false)).is_empty());
        assert_eq!(w.refused(), None);
        assert_eq!(ids(w.done(1, true)), [1]);
    }

    #[test]
    fn reading_stops_at_the_pending_bound_and_resumes_when_completions_catch_up() {
        let mut w = AckWindow::new();
        for seq in 1..=MAX_PENDING as u64 {
            assert!(w.can_read());
            assert!(ids(w.routed(seq, true)).is_empty());
        }
        assert!(!w.can_read());
        assert!(ids(w.done(1, true)).is_empty());
        assert!(w.can_read());
    }

    #[test]
    fn reading_stops_at_the_held_bytes_bound() {
        let mut w = AckWindow::new();
        assert!(ids(w.routed(1, true)).is_empty());
        w.reply(Bytes::from(vec![0; MAX_HELD_BYTES - 1]));
        assert!(w.can_read());
        w.reply(Bytes::from_static(b"x"));
        assert!(ids(w.end_of_input()).is_empty());
        assert!(!w.can_read());
        assert_eq!(w.done(1, true).count(), 2);
        assert!(w.can_read());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Reply,
        Data {
            pending: bool,
        },
        NonData,
        EndOfInput,
        /// Completes the (n mod count)-th outstanding pending event.
        Done(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Reply),
            3 => any::<bool>().prop_map(|pending| Op::Data { pending }),
            1 => Just(Op::NonData),
            1 => Just(Op::EndOfInput),
            3 => any::<usize>().prop_map(Op::Done),
        ]
    }

    /// An independent model of the promise, checked against every release.
    #[derive(Default)]
    struct Model {
        /// Each reply's attachment once known, by reply id (ids count from 0).
        attached: Vec<Option<u64>>,
        /// The next reply id expected out.
        next_out: usize,
        /// Per data event (index seq - 1): accepted yet.
        accepted: Vec<bool>,
        /// Pending events not yet completed.
        outstanding: Vec<u64>,
    }

    impl Model {
        fn all_accepted_upto(&self, seq: u64) -> bool {
            self.accepted[..seq as usize].iter().all(|a| *a)
        }

        fn check(&mut self, out: Vec<u32>) -> Result<(), TestCaseError> {
            for id in out {
                let id = id as usize;
                prop_assert_eq!(id, self.next_out, "replies in order, none twice");
                let Some(seq) = self.attached[id] else {
                    return Err(TestCaseError::fail(format!(
                        "reply {id} out before attached"
                    )));
                };
                prop_assert!(
                    self.all_accepted_upto(seq),
                    "reply {} out before every event up to {} was accepted",
                    id,
                    seq
                );
                self.next_out += 1;
            }
            // Nothing held longer than needed: the next reply is not releasable yet.
            if let Some(Some(seq)) = self.attached.get(self.next_out) {
                prop_assert!(
                    !self.all_accepted_upto(*seq),
                    "reply {} is releasable but held",
                    self.next_out
                );
            }
            Ok(())
        }

        fn attach_loose(&mut self, seq: u64) {
            for a in self.attached.iter_mut().filter(|a| a.is_none()) {
                *a = Some(seq);
            }
        }
    }

    proptest! {
        #[test]
        fn replies_go_out_in_order_once_and_only_after_every_event_they_depend_on(
            ops in proptest::collection::vec(op(), 0..120),
        ) {
            let mut w = AckWindow::new();
            let mut m = Model::default();
            let mut seq = 0u64;
            for op in ops {
                let out = match op {
                    Op::Reply => {
                        m.attached.push(None);
                        w.reply(r(m.attached.len() as u32 - 1));
                        Vec::new()
                    }
                    Op::Data { pending } => {
                        seq += 1;
                        m.attach_loose(seq);
                        m.accepted.push(!pending);
                        if pending {
                            m.outstanding.push(seq);
                        }
                        ids(w.routed(seq, pending))
                    }
                    Op::NonData | Op::EndOfInput => {
                        m.attach_loose(seq);
                        ids(w.end_of_input())
                    }
                    Op::Done(n) => {
                        if m.outstanding.is_empty() {
                            continue;
                        }
                        let s = m.outstanding.swap_remove(n % m.outstanding.len());
                        m.accepted[s as usize - 1] = true;
                        ids(w.done(s, true))
                    }
                };
                m.check(out)?;
                prop_assert_eq!(w.pending(), m.outstanding.len());
            }
            m.attach_loose(seq);
            let out = ids(w.end_of_input());
            m.check(out)?;
            while let Some(s) = m.outstanding.pop() {
                m.accepted[s as usize - 1] = true;
                let out = ids(w.done(s, true));
                m.check(out)?;
            }
            prop_assert_eq!(m.next_out, m.attached.len(), "every reply out once all are accepted");
            prop_assert!(w.is_idle());
        }
    }
}
