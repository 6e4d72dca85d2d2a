//! The pipeline the gateway's `rules` handler calls: rules + device state + outbox, committed
//! in batches.
//!
//! [`Pipeline::process`] evaluates one event at once, in the caller's thread: the device's
//! state comes from a bounded in-memory cache (`store::cache`), `set_state` patches are merged
//! into it and `publish` actions take their outbox id. Nothing is written to the store there:
//! the event's durable effects join the open batch of a [`Batcher`], and one flusher thread
//! writes each batch: every dirty device's state as one atomic store batch, flushed, then the
//! new outbox entries, appended to the outbox's log and synced. The remaining actions (reply, send, bind, join)
//! are returned at once when they depend on nothing unflushed; otherwise they wait, with the
//! caller's [`Waiter`], until the batch holding what they depend on is flushed, and come back
//! through the waiter, in each connection's order. So nothing an event says leaves before its
//! effects, and those of every earlier event of its connection, survive a crash; an event
//! that writes nothing and reads nothing unflushed costs no store access and no thread hop.
//! [`Pipeline::handle`] is the blocking form of the same, for tests and tools.

use crate::action::Action;
use crate::batcher::{BatchConfig, Batcher, Outcome};
use crate::error::StoreError;
use crate::event::{DeviceState, Event};
use crate::mqtt::{Outbox, OutboxError, StagedEntry};
use crate::ruleset::RuleSet;
use crate::store::cache::StateCache;
use crate::store::{load_state, stage_state, Batch, StateStore};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// Why an event could not be handled (nothing of it was acknowledged).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The batch holding the event's effects could not be written or flushed.
    #[error("the batch holding this event could not be made durable")]
    Commit,
    /// The pipeline stopped before the event's batch was flushed.
    #[error("the pipeline stopped")]
    Stopped,
}

/// Called once the batch an event waited for is flushed (`Outcome::Durable`) or failed, with
/// the event's remaining actions. Runs on the flusher thread: hand the work on, do not block.
pub type Waiter = Box<dyn FnOnce(Vec<Action>, Outcome) + Send>;

/// How the pipeline batches and caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineOptions {
    /// When a batch is flushed.
    pub batch: BatchConfig,
    /// Devices whose state is kept in memory (about; unflushed ones are never dropped).
    pub state_cache: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            batch: BatchConfig::default(),
            state_cache: 100_000,
        }
    }
}

crate::counters! {
    /// Pipeline counters (totals since start), named `rules_<field>` in status and metrics.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct PipelineStats prefix "rules_" {
        /// Events handled by the rules pipeline.
        Counter events: u64,
        /// Actions returned to the caller (reply, send, bind, join, skipped).
        Counter actions: u64,
        /// Actions skipped (missing template fields, outbox refusals).
        Counter skipped: u64,
        /// Device state updates written.
        Counter state_updates: u64,
        /// Publishes accepted into the outbox.
        Counter published: u64,
        /// Publishes the outbox refused (full, too big, bad topic).
        Counter publish_refused: u64,
        /// Publishes ignored because no MQTT bridge is configured.
        Counter publish_without_bridge: u64,
        /// Batches flushed.
        Counter flushes: u64,
        /// Events whose effects those batches held (events per flush = this / flushes).
        Counter flushed_events: u64,
        /// Batches whose write or flush failed.
        Counter flush_failures: u64,
    }
}

#[derive(Default)]
struct Counters {
    events: AtomicU64,
    actions: AtomicU64,
    skipped: AtomicU64,
    state_updates: AtomicU64,
    published: AtomicU64,
    publish_refused: AtomicU64,
    publish_without_bridge: AtomicU64,
    flushes: AtomicU64,
    flushed_events: AtomicU64,
    flush_failures: AtomicU64,
}

/// What the open batch will write, beside the batcher that numbers it.
struct Commit {
    batcher: Batcher<String, (Vec<Action>, Waiter)>,
    /// Devices whose state the open batch writes.
    dirty: HashSet<String>,
    /// Outbox entries the open batch writes.
    entries: Vec<StagedEntry>,
    stopping: bool,
}

struct Shared {
    rules: RwLock<Arc<RuleSet>>,
    store: Arc<dyn StateStore>,
    outbox: Option<Outbox>,
    cache: StateCache,
    commit: Mutex<Commit>,
    /// Wakes the flusher: a batch opened, filled, or the pipeline stops.
    wake: Condvar,
    /// Copy of the batcher's settled ticket, for cache eviction without the commit lock.
    settled: AtomicU64,
    counters: Counters,
}

/// Rules, device state and the outbox, with batched durable commits.
pub struct Pipeline {
    shared: Arc<Shared>,
    flusher: Option<std::thread::JoinHandle<()>>,
}

/// Effects of one event, gathered while its rules run.
#[derive(Default)]
struct Effects {
    /// Ticket the event's released actions must wait for.
    ticket: Option<u64>,
}

impl Effects {
    fn wait_for(&mut self, t: u64) {
        self.ticket = Some(self.ticket.map_or(t, |c| c.max(t)));
    }
}

impl Pipeline {
    /// A pipeline over `store` with default batching; `outbox` is `None` when no MQTT bridge
    /// is configured.
    pub fn new(rules: RuleSet, store: Arc<dyn StateStore>, outbox: Option<Outbox>) -> Pipeline {
        Pipeline::with_options(rules, store, outbox, PipelineOptions::default())
    }

    /// A pipeline with the given batching and cache size; starts its flusher thread.
    pub fn with_options(
        rules: RuleSet,
        store: Arc<dyn StateStore>,
        outbox: Option<Outbox>,
        options: PipelineOptions,
    ) -> Pipeline {
        let shared = Arc::new(Shared {
            rules: RwLock::new(Arc::new(rules)),
            store,
            outbox,
            cache: StateCache::new(options.state_cache),
            commit: Mutex::new(Commit {
                batcher: Batcher::new(options.batch),
                dirty: HashSet::new(),
                entries: Vec::new(),
                stopping: false,
            }),
            wake: Condvar::new(),
            settled: AtomicU64::new(0),
            counters: Counters::default(),
        });
        let s = shared.clone();
        let flusher = std::thread::Builder::new()
            .name("devgate-flusher".into())
            .spawn(move || flusher(&s))
            .map_err(|e| tracing::error!("cannot start the flusher thread: {e}"))
            .ok();
        Pipeline { shared, flusher }
    }

    /// Swaps in new rules (a reload); events already running finish with the old ones.
    pub fn replace_rules(&self, rules: RuleSet) {
        *self.shared.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
    }

    /// The state of `uid` with every accepted change (flushed or about to be).
    pub fn state(&self, uid: &str) -> Result<DeviceState, StoreError> {
        if let Some(e) = self.shared.cache.shard(uid).get(uid) {
            return Ok(e.state.clone());
        }
        load_state(self.shared.store.as_ref(), uid)
    }

    /// Handles one event at time `now` (Unix milliseconds) and returns the actions left for
    /// the gateway (reply, send_to_uid, send_to_group, bind_uid, join_group, skipped ones)
    /// once they may be carried out. Blocks until the event's batch is flushed: for tests and
    /// tools; a server calls [`Pipeline::process`].
    pub fn handle(&self, event: &Event, now: u64) -> Result<Vec<Action>, PipelineError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let waiter = move || -> Waiter {
            Box::new(move |actions, outcome| {
                let _ = tx.send((actions, outcome));
            })
        };
        match self.process(event, now, &event.client_id, waiter)? {
            Some(actions) => Ok(actions),
            None => match rx.recv() {
                Ok((actions, Outcome::Durable)) => Ok(actions),
                Ok((_, Outcome::Failed)) => Err(PipelineError::Commit),
                Err(_) => Err(PipelineError::Stopped),
            },
        }
    }

    /// Evaluates one event of connection `key` at time `now` (Unix milliseconds). Returns its
    /// actions when they may be carried out at once; otherwise returns `None` and hands them
    /// to the waiter `make()` builds, once the batch they wait for is flushed. A connection's
    /// actions come out in its events' order either way. Does no disk I/O but for loading a
    /// device's state the cache does not hold.
    pub fn process(
        &self,
        event: &Event,
        now: u64,
        key: &str,
        make: impl FnOnce() -> Waiter,
    ) -> Result<Option<Vec<Action>>, PipelineError> {
        let s = &*self.shared;
        let c = &s.counters;
        c.events.fetch_add(1, Ordering::Relaxed);
        let rules = s.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut fx = Effects::default();
        let mut others: BTreeMap<String, serde_json::Map<String, serde_json::Value>> =
            BTreeMap::new();
        let mut publishes = Vec::new();
        let mut out = Vec::new();
        let empty = DeviceState::new();
        let mut sort = |action: Action, own: Option<&str>, state: &mut Option<&mut DeviceState>| {
            match action {
                Action::SetState { uid, state: patch } => {
                    c.state_updates.fetch_add(1, Ordering::Relaxed);
                    match state.as_deref_mut() {
                        Some(st) if own == Some(uid.as_str()) => {
                            st.merge(&patch);
                            true
                        }
                        _ => {
                            others.entry(uid).or_default().extend(patch);
                            false
                        }
                    }
                }
                p @ Action::Publish { .. } => {
                    publishes.push(p);
                    false
                }
                other => {
                    out.push(other);
                    false
                }
            }
        };
        // Actions that need no sorting (no state, no publish: an echo, a ping) are kept as
        // they come, without a second vector.
        let mut plain = None;
        match &event.uid {
            None => {
                let actions = rules.evaluate(event, &empty, now);
                if actions
                    .iter()
                    .any(|a| matches!(a, Action::SetState { .. } | Action::Publish { .. }))
                {
                    for a in actions {
                        sort(a, None, &mut None);
                    }
                } else {
                    plain = Some(actions);
                }
            }
            Some(uid) => {
                let settled = s.settled.load(Ordering::Acquire);
                let mut shard = s.cache.shard(uid);
                let per_shard = s.cache.per_shard();
                let entry = shard.entry(uid, s.store.as_ref(), per_shard, settled)?;
                if entry.dirty > settled {
                    // It reads what an unflushed batch wrote.
                    fx.wait_for(entry.dirty);
                }
                let actions = rules.evaluate(event, &entry.state, now);
                let mut changed = false;
                let mut st = Some(&mut entry.state);
                for a in actions {
                    changed |= sort(a, Some(uid), &mut st);
                }
                if changed {
                    let t = self.stage(|commit| {
                        commit.dirty.insert(uid.clone());
                    });
                    entry.dirty = t;
                    fx.wait_for(t);
                }
            }
        }
        if let Some(actions) = plain {
            out = actions;
        }
        for (uid, patch) in others {
            // After a bind_uid to another uid: that device's shard, after the first is let go.
            let settled = s.settled.load(Ordering::Acquire);
            let mut shard = s.cache.shard(&uid);
            let per_shard = s.cache.per_shard();
            let entry = shard.entry(&uid, s.store.as_ref(), per_shard, settled)?;
            entry.state.merge(&patch);
            let t = self.stage(|commit| {
                commit.dirty.insert(uid.clone());
            });
            entry.dirty = t;
            fx.wait_for(t);
        }
        self.publish(publishes, &mut out, &mut fx);
        let skipped = out
            .iter()
            .filter(|a| matches!(a, Action::Skipped { .. }))
            .count() as u64;
        c.skipped.fetch_add(skipped, Ordering::Relaxed);
        c.actions.fetch_add(out.len() as u64, Ordering::Relaxed);

        if self.flusher.is_none() {
            return Err(PipelineError::Stopped);
        }
        let mut commit = self.lock_commit();
        if commit.batcher.ready(key, fx.ticket) {
            return Ok(Some(out));
        }
        match commit
            .batcher
            .wait(key.to_owned(), fx.ticket, (out, make()))
        {
            None => Ok(None),
            // `ready` said no, so this does not happen; if it did, the waiter still runs.
            Some(((actions, waiter), outcome)) => {
                drop(commit);
                waiter(actions, outcome);
                Ok(None)
            }
        }
    }

    fn publish(&self, publishes: Vec<Action>, out: &mut Vec<Action>, fx: &mut Effects) {
        let s = &*self.shared;
        let c = &s.counters;
        let refused = |out: &mut Vec<Action>, topic: &str, e: OutboxError| {
            if !matches!(e, OutboxError::Store(_)) {
                c.publish_refused.fetch_add(1, Ordering::Relaxed);
            }
            out.push(Action::Skipped {
                rule: "outbox".into(),
                action: 0,
                reason: format!("publish to {topic}: {e}"),
            });
        };
        let mut prepared = Vec::new();
        for p in publishes {
            let Action::Publish {
                topic,
                qos,
                retain,
                payload,
            } = p
            else {
                continue;
            };
            let Some(outbox) = &s.outbox else {
                // No bridge is a configuration choice the embedder states once at start (the
                // gateway logs "no [worker.mqtt]: publish actions are skipped"); here it is
                // only counted, so a busy device does not fill the log or any queue.
                if c.publish_without_bridge.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::debug!("first publish skipped: no MQTT outbox (no bridge)");
                }
                continue;
            };
            match outbox.prepare(&topic, qos, retain, &payload) {
                Ok(p) => prepared.push((topic, p)),
                Err(e) => refused(out, &topic, e),
            }
        }
        let Some(outbox) = &s.outbox else { return };
        if prepared.is_empty() {
            return;
        }
        // Ids are taken under the commit lock, so they reach the outbox's log in order: an
        // id taken earlier is never committed in a later batch (the bridge reads the log in
        // id order and would pass it by).
        let mut commit = self.lock_commit();
        let mut staged = 0;
        for (topic, p) in prepared {
            match outbox.stage(p) {
                Ok(e) => {
                    c.published.fetch_add(1, Ordering::Relaxed);
                    commit.entries.push(e);
                    staged += 1;
                }
                Err(e) => refused(out, &topic, e),
            }
        }
        if staged > 0 {
            let t = Self::stage_locked(&s.wake, &mut commit);
            fx.wait_for(t);
        }
    }

    fn lock_commit(&self) -> MutexGuard<'_, Commit> {
        // The commit state is changed in single steps under the lock: usable after a panic.
        self.shared.commit.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds effects (written by `add`) to the open batch; returns its ticket.
    fn stage(&self, add: impl FnOnce(&mut Commit)) -> u64 {
        let mut commit = self.lock_commit();
        add(&mut commit);
        Self::stage_locked(&self.shared.wake, &mut commit)
    }

    /// Counts one event's effects into the open batch; returns its ticket.
    fn stage_locked(wake: &Condvar, commit: &mut Commit) -> u64 {
        let t = commit.batcher.stage(Instant::now());
        if commit.batcher.open_events() == 1 || commit.batcher.is_full() {
            wake.notify_one();
        }
        t
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PipelineStats {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PipelineStats {
            events: g(&c.events),
            actions: g(&c.actions),
            skipped: g(&c.skipped),
            state_updates: g(&c.state_updates),
            published: g(&c.published),
            publish_refused: g(&c.publish_refused),
            publish_without_bridge: g(&c.publish_without_bridge),
            flushes: g(&c.flushes),
            flushed_events: g(&c.flushed_events),
            flush_failures: g(&c.flush_failures),
        }
    }
}

/// The counters as `rules_*` samples, for the gateway's registry.
impl crate::Samples for Pipeline {
    fn samples(&self, out: &mut Vec<crate::Sample>) {
        crate::Samples::samples(&self.stats(), out)
    }
}

impl Drop for Pipeline {
    /// Flushes what is staged and releases every waiter before returning.
    fn drop(&mut self) {
        self.lock_commit().stopping = true;
        self.shared.wake.notify_one();
        if let Some(f) = self.flusher.take() {
            let _ = f.join();
        }
    }
}

/// Far enough ahead that any open batch is due: used to drain at stop.
const DRAIN: Duration = Duration::from_secs(3600);

/// The flusher thread: waits for a due batch, writes and flushes it, releases its waiters.
fn flusher(s: &Shared) {
    loop {
        let mut commit = s.commit.lock().unwrap_or_else(|p| p.into_inner());
        let (ticket, events) = loop {
            let now = Instant::now();
            let due_at = if commit.stopping { now + DRAIN } else { now };
            let events = commit.batcher.open_events();
            if let Some(t) = commit.batcher.poll(due_at) {
                break (t, events);
            }
            if commit.stopping && commit.batcher.open_events() == 0 {
                return;
            }
            commit = match commit.batcher.deadline() {
                Some(d) => {
                    let wait = d.saturating_duration_since(now);
                    s.wake
                        .wait_timeout(commit, wait)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0)
                }
                None => s.wake.wait(commit).unwrap_or_else(|p| p.into_inner()),
            };
        };
        let dirty = std::mem::take(&mut commit.dirty);
        let entries = std::mem::take(&mut commit.entries);
        drop(commit);

        let result = write_batch(s, dirty, entries);
        if let Err(e) = &result {
            s.counters.flush_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!("state store: a batch could not be made durable: {e}");
        }
        let ok = result.is_ok();
        let released = {
            let mut commit = s.commit.lock().unwrap_or_else(|p| p.into_inner());
            commit.batcher.flushed(ticket, ok)
        };
        s.settled.store(ticket, Ordering::Release);
        s.counters.flushes.fetch_add(1, Ordering::Relaxed);
        s.counters
            .flushed_events
            .fetch_add(events as u64, Ordering::Relaxed);
        for ((actions, waiter), outcome) in released {
            waiter(actions, outcome);
        }
    }
}

/// One batch: every dirty device's current state, written atomically and flushed, then the
/// new outbox entries, appended to the outbox's log and synced. In that order a failure leaves
/// no publish of an event that is refused (its device sends it again).
fn write_batch(
    s: &Shared,
    dirty: HashSet<String>,
    entries: Vec<StagedEntry>,
) -> Result<(), StoreError> {
    if !dirty.is_empty() {
        let mut batch = Batch::new();
        for uid in dirty {
            let shard = s.cache.shard(&uid);
            // A dirty entry is never evicted; its state may already hold later changes, which
            // only makes what is written newer.
            if let Some(e) = shard.get(&uid) {
                stage_state(&mut batch, &uid, &e.state)?;
            }
        }
        if !batch.is_empty() {
            s.store.batch(batch)?;
        }
        s.store.flush()?;
    }
    match &s.outbox {
        Some(o) => o.commit(entries),
        None => Ok(()),
    }
}
