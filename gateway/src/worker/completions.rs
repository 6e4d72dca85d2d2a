//! The worker's side of acknowledged delivery: which events of one gateway link are handled,
//! and what to acknowledge.
//!
//! The link numbers the events it reads 1, 2, 3, ... (the gateway numbers them the same way as
//! it writes them); only finished numbers are reported here. Handler shards finish them in any order; the gateway is told cumulatively
//! (`ToGateway::Ack { upto }`) how far every event is finished, and separately which ones were
//! refused. [`Completions`] is the state machine (no I/O, no clock); [`LinkCompletions`] shares
//! it between the shards, which report through the events' [`Accept`](crate::delivery::Accept)
//! tokens, and the task that sends the acknowledgements.

use crate::delivery::EventDone;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// The events of one link: received, finished in any order, acknowledged up to a point.
#[derive(Debug, Default)]
pub struct Completions {
    /// Every event up to here is finished.
    upto: u64,
    /// Events `upto + 1 ..`, each with whether it is finished; the front is never finished.
    open: VecDeque<bool>,
}

impl Completions {
    /// Nothing received yet.
    pub fn new() -> Self {
        Completions::default()
    }

    /// Event `seq` is finished (handled or refused). Returns the new acknowledgement point when
    /// it moved. A number finished already changes nothing.
    ///
    /// Events are numbered by the link as they are read, and a number is finished only after
    /// it was read, so the received events need no record of their own: one finished past the
    /// open ones opens the numbers before it, unfinished, and the point never passes an event
    /// that is not finished.
    pub fn finished(&mut self, seq: u64) -> Option<u64> {
        let i = usize::try_from(seq.checked_sub(self.upto + 1)?).ok()?;
        if i >= self.open.len() {
            self.open.resize(i + 1, false);
        }
        let slot = self.open.get_mut(i)?;
        *slot = true;
        if i != 0 {
            return None;
        }
        while self.open.front() == Some(&true) {
            self.open.pop_front();
            self.upto += 1;
        }
        Some(self.upto)
    }

    /// Every event up to this one is finished.
    pub fn upto(&self) -> u64 {
        self.upto
    }

    /// Events known to be open: finished out of order, or waiting for those before them.
    pub fn open(&self) -> usize {
        self.open.len()
    }
}

/// One link's completions, shared by its shards' tokens and its acknowledging task.
#[derive(Debug, Default)]
pub struct LinkCompletions {
    state: Mutex<(Completions, Vec<u64>)>,
    /// Woken when the acknowledgement point moves or an event is refused.
    pub changed: Notify,
}

impl LinkCompletions {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Completions, Vec<u64>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The refusals to report since the last call, and the acknowledgement point now.
    pub fn take(&self) -> (Vec<u64>, u64) {
        let mut s = self.lock();
        (std::mem::take(&mut s.1), s.0.upto())
    }

    /// Events known to be open (see [`Completions::open`]).
    pub fn open(&self) -> usize {
        self.lock().0.open()
    }
}

/// A finished event's report, from its token.
impl EventDone for LinkCompletions {
    fn event_done(&self, seq: u64, accepted: bool) {
        let moved = {
            let mut s = self.lock();
            if !accepted {
                s.1.push(seq);
            }
            s.0.finished(seq).is_some() || !accepted
        };
        if moved {
            self.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_finished_in_order_move_the_point_one_by_one() {
        let mut c = Completions::new();
        assert_eq!(c.finished(1), Some(1));
        assert_eq!(c.finished(2), Some(2));
        assert_eq!(c.open(), 0);
    }

    #[test]
    fn an_event_finished_early_waits_for_the_ones_before_it() {
        let mut c = Completions::new();
        assert_eq!(c.finished(3), None);
        assert_eq!(c.finished(2), None);
        assert_eq!(c.upto(), 0);
        assert_eq!(c.finished(1), Some(3), "1, 2 and 3 are all finished now");
        assert_eq!(c.finished(4), Some(4));
    }

    #[test]
    fn zero_and_repeated_numbers_change_nothing() {
        let mut c = Completions::new();
        assert_eq!(c.finished(0), None);
        assert_eq!(c.finished(1), Some(1));
        assert_eq!(c.finished(1), None, "already acknowledged");
        assert_eq!(c.finished(2), Some(2));
        assert_eq!(c.upto(), 2);
        assert_eq!(c.open(), 0);
    }

    #[test]
    fn an_event_finished_ahead_never_lets_the_point_pass_an_unfinished_one() {
        let mut c = Completions::new();
        assert_eq!(c.finished(5), None);
        assert_eq!(c.open(), 5);
        for seq in 1..4 {
            assert_eq!(c.finished(seq), Some(seq));
        }
        assert_eq!(c.finished(4), Some(5), "4 closes the gap up to 5");
    }

    #[test]
    fn a_refusal_is_reported_and_still_moves_the_point() {
        let l = LinkCompletions::default();
        l.event_done(2, false);
        assert_eq!(l.take(), (vec![2], 0));
        l.event_done(1, true);
        assert_eq!(l.take(), (vec![], 2));
        assert_eq!(l.open(), 0);
    }
}
