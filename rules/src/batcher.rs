//! Group commit as plain code: which events' durable effects go into which flush, and what may
//! be released once a flush is done. No I/O and no clock: the caller passes `now` in, runs the
//! flush it is told to run, and reports how it went (quinn-proto's style, ../shared/STYLE.md).
//!
//! Tickets: every batch has a number, its ticket, counting up from 1. An event with durable
//! effects joins the open batch ([`Batcher::stage`]) and gets its ticket. Whatever depends on
//! an event (a reply, a device's ack, the worker's acceptance) waits ([`Batcher::wait`]) under
//! a key (the connection) for its ticket. One batch is flushed at a time, in ticket order: the
//! open batch is handed out ([`Batcher::poll`]) when it holds `max_events` events or its first
//! event is `max_delay` old, and the next opens at once, so events keep arriving during a
//! flush and the next flush takes them all.
//!
//! Invariants (checked against a model in the tests below):
//! - a waiter on ticket `t` is released `Ok` only after the flush of batch `t` succeeded, and
//!   released as failed when that flush failed; never before the flush reported;
//! - waiters of one key are released in the order they waited, even when a later one has no
//!   effects of its own (it waits behind the key's earlier ticket);
//! - every waiter is released exactly once.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Failed batches remembered for late waiters.
const FAILED_KEPT: usize = 64;

/// When a batch is flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// A batch holding this many events is flushed without waiting for the deadline.
    pub max_events: usize,
    /// A batch is flushed at the latest this long after its first event.
    pub max_delay: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        // A flush on this machine's disk takes 0.5-1 ms (BENCHMARKS.md): waiting about as long
        // again costs a lone event little, while under load a batch fills long before.
        BatchConfig {
            max_events: 512,
            max_delay: Duration::from_millis(1),
        }
    }
}

/// Where a released waiter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its effects are durable (or it had none and nothing before it on its key failed).
    Durable,
    /// The flush of its batch failed: nothing may be confirmed.
    Failed,
}

/// The group-commit state machine; `K` names a waiter's key, `T` is what waits.
#[derive(Debug)]
pub struct Batcher<K, T> {
    config: BatchConfig,
    /// Ticket of the open batch.
    open: u64,
    open_events: usize,
    open_since: Option<Instant>,
    /// Ticket of the batch being flushed.
    flushing: Option<u64>,
    /// Every batch up to this ticket has reported its flush.
    settled: u64,
    /// Waiters by ticket, each ticket's in the order they waited.
    waiting: BTreeMap<u64, VecDeque<(K, T)>>,
    /// The most recent batches whose flush failed, for waiters that arrive after their batch
    /// settled (staging and waiting are two steps for the caller).
    failed: VecDeque<u64>,
    /// Per key with waiters: the ticket of its last waiter and how many wait.
    keys: HashMap<K, (u64, usize)>,
}

impl<K: Eq + Hash + Clone, T> Batcher<K, T> {
    /// An empty batcher; the first batch is ticket 1.
    pub fn new(config: BatchConfig) -> Self {
        Batcher {
            config,
            open: 1,
            open_events: 0,
            open_since: None,
            flushing: None,
            settled: 0,
            waiting: BTreeMap::new(),
            failed: VecDeque::new(),
            keys: HashMap::new(),
        }
    }

    /// An event with durable effects joins the open batch; returns the batch's ticket.
    pub fn stage(&mut self, now: Instant) -> u64 {
        if self.open_events == 0 {
            self.open_since = Some(now);
        }
        self.open_events += 1;
        self.open
    }

    /// Waiters queued (not yet released).
    pub fn waiters(&self) -> usize {
        self.keys.values().map(|(_, n)| n).sum()
    }

    /// Whether a waiter under `key` on `ticket` would be released at once (its ticket settled
    /// well, nothing of its key waiting): then the caller need not build what would wait.
    pub fn ready<Q>(&self, key: &Q, ticket: Option<u64>) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let t = ticket.unwrap_or(0);
        t <= self.settled && !self.failed.contains(&t) && !self.keys.contains_key(key)
    }

    /// `item` waits under `key` for ticket `ticket` (None: no effects of its own). Returns it
    /// back with its outcome when it is released at once: its ticket has settled and nothing of
    /// its key waits.
    pub fn wait(&mut self, key: K, ticket: Option<u64>, item: T) -> Option<(T, Outcome)> {
        let own = ticket.unwrap_or(0);
        let after = self.keys.get(&key).map_or(0, |(t, _)| *t);
        if own <= self.settled && after == 0 {
            let outcome = if self.failed.contains(&own) {
                Outcome::Failed
            } else {
                Outcome::Durable
            };
            return Some((item, outcome));
        }
        // A key's queued waiter is on an unsettled ticket (settling releases every waiter up
        // to it), so waiting behind it keeps the key's order.
        let t = own.max(after);
        let entry = self.keys.entry(key.clone()).or_insert((0, 0));
        entry.0 = t;
        entry.1 += 1;
        self.waiting.entry(t).or_default().push_back((key, item));
        None
    }

    /// The batch to flush now, if one is due and none is being flushed. Its ticket is then
    /// flushing; new events go to the next batch.
    pub fn poll(&mut self, now: Instant) -> Option<u64> {
        if self.flushing.is_some() || self.open_events == 0 {
            return None;
        }
        let due = self.open_events >= self.config.max_events
            || self
                .open_since
                .is_some_and(|t| now.saturating_duration_since(t) >= self.config.max_delay);
        if !due {
            return None;
        }
        let t = self.open;
        self.flushing = Some(t);
        self.open += 1;
        self.open_events = 0;
        self.open_since = None;
        Some(t)
    }

    /// When [`Batcher::poll`] will next hand out a batch by deadline (None: nothing open, or a
    /// flush is running and its end is the next event).
    pub fn deadline(&self) -> Option<Instant> {
        if self.flushing.is_some() {
            return None;
        }
        self.open_since.map(|t| t + self.config.max_delay)
    }

    /// Events in the open batch.
    pub fn open_events(&self) -> usize {
        self.open_events
    }

    /// Whether the open batch is full (the flusher should not wait for the deadline).
    pub fn is_full(&self) -> bool {
        self.open_events >= self.config.max_events
    }

    /// The flush of `ticket` is done (`ok`) or failed; returns the waiters released by it, in
    /// order. A report for a batch that is not flushing changes nothing.
    pub fn flushed(&mut self, ticket: u64, ok: bool) -> Vec<(T, Outcome)> {
        if self.flushing != Some(ticket) {
            return Vec::new();
        }
        self.flushing = None;
        self.settled = ticket;
        if !ok {
            // Staging and waiting are a few instructions apart: a short memory is enough.
            if self.failed.len() == FAILED_KEPT {
                self.failed.pop_front();
            }
            self.failed.push_back(ticket);
        }
        // Empty batches that were opened and never staged into settle with this one.
        let rest = self.waiting.split_off(&(ticket + 1));
        let done = std::mem::replace(&mut self.waiting, rest);
        let mut out = Vec::new();
        for (t, queue) in done {
            let outcome = if t == ticket && !ok {
                Outcome::Failed
            } else {
                Outcome::Durable
            };
            for (key, item) in queue {
                if let Some(k) = self.keys.get_mut(&key) {
                    k.1 -= 1;
                    if k.1 == 0 {
                        self.keys.remove(&key);
                    }
                }
                out.push((item, outcome));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn cfg(max_events: usize) -> BatchConfig {
        BatchConfig {
            max_events,
            max_delay: Duration::from_millis(2),
        }
    }

    #[test]
    fn a_batch_is_due_when_full_or_when_its_first_event_is_old_enough() {
        let t0 = Instant::now();
        let mut b: Batcher<u8, u8> = Batcher::new(cfg(2));
        assert_eq!(b.poll(t0), None, "nothing staged");
        assert_eq!(b.stage(t0), 1);
        assert_eq!(b.poll(t0), None);
        assert_eq!(b.deadline(), Some(t0 + Duration::from_millis(2)));
        assert_eq!(b.poll(t0 + Duration::from_millis(2)), Some(1));
        assert_eq!(b.stage(t0), 2);
        assert_eq!(b.stage(t0), 2);
        assert_eq!(b.poll(t0), None, "full, but batch 1 is still flushing");
        assert!(b.flushed(1, true).is_empty());
        assert_eq!(b.poll(t0), Some(2), "full: no need to wait");
    }

    #[test]
    fn a_waiter_without_effects_goes_at_once_unless_its_key_waits() {
        let t0 = Instant::now();
        let mut b: Batcher<u8, &str> = Batcher::new(cfg(10));
        assert_eq!(b.wait(1, None, "a"), Some(("a", Outcome::Durable)));
        let t = b.stage(t0);
        assert_eq!(b.wait(1, Some(t), "b"), None);
        assert_eq!(b.wait(1, None, "c"), None, "behind b");
        assert!(b.ready(&2, None), "another key is not held");
        assert!(!b.ready(&1, None));
        let t = b.poll(t0 + Duration::from_secs(1)).unwrap();
        let got = b.flushed(t, true);
        assert_eq!(got, vec![("b", Outcome::Durable), ("c", Outcome::Durable)]);
        assert_eq!(b.wait(1, None, "e"), Some(("e", Outcome::Durable)));
    }

    #[test]
    fn a_failed_flush_fails_its_own_waiters_only() {
        let t0 = Instant::now();
        let mut b: Batcher<u8, &str> = Batcher::new(cfg(1));
        let t1 = b.stage(t0);
        b.wait(1, Some(t1), "a");
        assert_eq!(b.poll(t0), Some(t1));
        let t2 = b.stage(t0);
        b.wait(2, Some(t2), "b");
        assert_eq!(b.flushed(t1, false), vec![("a", Outcome::Failed)]);
        assert_eq!(b.poll(t0), Some(t2));
        assert_eq!(b.flushed(t2, true), vec![("b", Outcome::Durable)]);
        assert_eq!(b.waiters(), 0);
        // Staged into batch 1, waiting only after it failed: still failed.
        assert_eq!(b.wait(3, Some(t1), "c"), Some(("c", Outcome::Failed)));
        assert!(!b.ready(&3, Some(t1)));
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Device `k` sends an event, with durable effects or not.
        Event { key: u8, effects: bool },
        /// Time passes.
        Tick(u8),
        /// The running flush (if any) ends, well or badly.
        FlushEnds { ok: bool },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..6, any::<bool>()).prop_map(|(key, effects)| Step::Event { key, effects }),
            2 => (0u8..4).prop_map(Step::Tick),
            2 => prop_oneof![9 => Just(true), 1 => Just(false)].prop_map(|ok| Step::FlushEnds { ok }),
        ]
    }

    proptest! {
        /// A model of the committer: events of random devices, with or without effects; flushes
        /// that succeed, fail, or take long (several steps); time that passes in random steps.
        #[test]
        fn releases_follow_flushes_keep_each_devices_order_and_happen_once(
            steps in proptest::collection::vec(step(), 1..200),
            max_events in 1usize..6,
        ) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut b: Batcher<u8, (u8, u32, Option<u64>)> = Batcher::new(cfg(max_events));
            let mut next_seq = [0u32; 6];
            // Per device, the last released seq; per ticket, how its flush ended.
            let mut last_released: HashMap<u8, u32> = HashMap::new();
            let mut flushed: HashMap<u64, bool> = HashMap::new();
            let mut released: HashSet<(u8, u32)> = HashSet::new();
            let mut running: Option<u64> = None;
            let mut sent = 0usize;
            let mut check = |(key, seq, ticket): (u8, u32, Option<u64>), outcome: Outcome,
                             flushed: &HashMap<u64, bool>| {
                prop_assert!(released.insert((key, seq)), "released twice: {key}/{seq}");
                if let Some(t) = ticket {
                    let done = flushed.get(&t);
                    prop_assert!(done.is_some(), "released before its flush reported: {key}/{seq} t{t}");
                    if outcome == Outcome::Durable {
                        prop_assert_eq!(done, Some(&true), "released durable after a failed flush");
                    }
                }
                let prev = last_released.insert(key, seq);
                prop_assert!(prev.is_none_or(|p| p < seq), "device {key}: {seq} after {prev:?}");
                Ok(())
            };
            for s in steps.iter().cloned().chain(
                std::iter::repeat_n(Step::Tick(3), 1).chain(std::iter::repeat_n(Step::FlushEnds { ok: true }, 1)),
            ) {
                match s {
                    Step::Event { key, effects } => {
                        let seq = next_seq[key as usize];
                        next_seq[key as usize] += 1;
                        sent += 1;
                        let ticket = effects.then(|| b.stage(now));
                        if let Some((item, outcome)) = b.wait(key, ticket, (key, seq, ticket)) {
                            check(item, outcome, &flushed)?;
                        }
                    }
                    Step::Tick(ms) => now += Duration::from_millis(u64::from(ms)),
                    Step::FlushEnds { ok } => {
                        if let Some(t) = running.take() {
                            flushed.insert(t, ok);
                            for (item, outcome) in b.flushed(t, ok) {
                                check(item, outcome, &flushed)?;
                            }
                        }
                    }
                }
                if running.is_none() {
                    running = b.poll(now);
                }
            }
            // Drain: time passes and every flush succeeds until nothing waits.
            for _ in 0..1000 {
                if b.waiters() == 0 {
                    break;
                }
                now += Duration::from_millis(5);
                if running.is_none() {
                    running = b.poll(now);
                }
                if let Some(t) = running.take() {
                    flushed.insert(t, true);
                    for (item, outcome) in b.flushed(t, true) {
                        check(item, outcome, &flushed)?;
                    }
                }
            }
            prop_assert_eq!(released.len(), sent, "every waiter released once");
        }
    }
}
