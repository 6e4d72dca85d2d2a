//! The pipeline the gateway's `rules` handler calls: rules + state store + outbox.
//!
//! [`Pipeline::handle`] loads the device's state, evaluates the rules, merges `set_state`
//! patches into the store and queues `publish` actions in the outbox, flushes the store, and
//! only then returns the remaining actions for the gateway to carry out. So once `handle`
//! returns, every state update and publish of that event survives a crash.

use crate::action::Action;
use crate::error::StoreError;
use crate::event::{DeviceState, Event};
use crate::mqtt::{Outbox, OutboxError};
use crate::ruleset::RuleSet;
use crate::store::group_flush::GroupFlush;
use crate::store::{load_state, stage_state, Batch, StateStore};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Why an event could not be handled (nothing of it was acknowledged).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Pipeline counters (totals since start).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PipelineStats {
    /// Events handled.
    pub events: u64,
    /// Actions returned to the caller (reply, send, bind, join, skipped).
    pub actions: u64,
    /// Actions skipped (missing template fields, outbox refusals).
    pub skipped: u64,
    /// Device state updates written.
    pub state_updates: u64,
    /// Publishes accepted into the outbox.
    pub published: u64,
    /// Publishes the outbox refused (full, too big, bad topic).
    pub publish_refused: u64,
    /// Publishes ignored because no MQTT bridge is configured.
    pub publish_without_bridge: u64,
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
}

/// Rules, device state and the outbox, behind one call per event.
pub struct Pipeline {
    rules: RwLock<Arc<RuleSet>>,
    store: Arc<dyn StateStore>,
    outbox: Option<Outbox>,
    /// Serializes read-evaluate-write so two events of one uid never lose an update.
    write: Mutex<()>,
    /// Concurrent callers share flushes (group commit).
    flush: GroupFlush,
    counters: Counters,
}

impl Pipeline {
    /// A pipeline over `store`; `outbox` is `None` when no MQTT bridge is configured.
    pub fn new(rules: RuleSet, store: Arc<dyn StateStore>, outbox: Option<Outbox>) -> Pipeline {
        Pipeline {
            rules: RwLock::new(Arc::new(rules)),
            store,
            outbox,
            write: Mutex::new(()),
            flush: GroupFlush::default(),
            counters: Counters::default(),
        }
    }

    /// Swaps in new rules (a reload); events already running finish with the old ones.
    pub fn replace_rules(&self, rules: RuleSet) {
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
    }

    /// The stored state of `uid`.
    pub fn state(&self, uid: &str) -> Result<DeviceState, StoreError> {
        load_state(self.store.as_ref(), uid)
    }

    /// Handles one event at time `now` (Unix milliseconds) and returns the actions left for the
    /// gateway: reply, send_to_uid, send_to_group, bind_uid, join_group and skipped ones.
    /// `set_state` and `publish` are already applied and flushed when it returns.
    ///
    /// Blocks on disk I/O (a flush per event that changed anything, shared by concurrent
    /// callers): call it from `spawn_blocking` or a blocking-friendly thread.
    pub fn handle(&self, event: &Event, now: u64) -> Result<Vec<Action>, PipelineError> {
        let c = &self.counters;
        c.events.fetch_add(1, Ordering::Relaxed);
        let rules = self.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
        let guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let state = match &event.uid {
            Some(uid) => load_state(self.store.as_ref(), uid)?,
            None => DeviceState::new(),
        };
        let mut out = Vec::new();
        let mut states: BTreeMap<String, DeviceState> = BTreeMap::new();
        let mut publishes = Vec::new();
        for action in rules.evaluate(event, &state, now) {
            match action {
                Action::SetState { uid, state: patch } => {
                    if !states.contains_key(&uid) {
                        let current = if event.uid.as_deref() == Some(uid.as_str()) {
                            state.clone()
                        } else {
                            load_state(self.store.as_ref(), &uid)?
                        };
                        states.insert(uid.clone(), current);
                    }
                    if let Some(s) = states.get_mut(&uid) {
                        s.merge(&patch);
                    }
                    c.state_updates.fetch_add(1, Ordering::Relaxed);
                }
                p @ Action::Publish { .. } => publishes.push(p),
                other => out.push(other),
            }
        }
        let mut dirty = false;
        let mut batch = Batch::new();
        for (uid, s) in &states {
            stage_state(&mut batch, uid, s)?;
        }
        if !batch.is_empty() {
            self.store.batch(batch)?;
            dirty = true;
        }
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
            let Some(outbox) = &self.outbox else {
                // No bridge is a configuration choice the embedder states once at start (the
                // gateway logs "no [worker.mqtt]: publish actions are skipped"); here it is
                // only counted, so a busy device does not fill the log or any queue.
                if c.publish_without_bridge.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::debug!("first publish skipped: no MQTT outbox (no bridge)");
                }
                continue;
            };
            match outbox.push(&topic, qos, retain, &payload) {
                Ok(_) => {
                    c.published.fetch_add(1, Ordering::Relaxed);
                    dirty = true;
                }
                Err(OutboxError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    c.publish_refused.fetch_add(1, Ordering::Relaxed);
                    out.push(Action::Skipped {
                        rule: "outbox".into(),
                        action: 0,
                        reason: format!("publish to {topic}: {e}"),
                    });
                }
            }
        }
        // Taken under the write lock, so a ticket never covers writes that are not applied yet.
        let ticket = dirty.then(|| self.flush.ticket());
        drop(guard);
        if let Some(t) = ticket {
            // Outside the lock: concurrent callers share one flush instead of queueing on it.
            self.flush.wait_durable(self.store.as_ref(), t)?;
        }
        let skipped = out
            .iter()
            .filter(|a| matches!(a, Action::Skipped { .. }))
            .count() as u64;
        c.skipped.fetch_add(skipped, Ordering::Relaxed);
        c.actions.fetch_add(out.len() as u64, Ordering::Relaxed);
        Ok(out)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PipelineStats {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PipelineStats {
            events: g(&c.events),
            actions: g(&c.actions),
            skipped: g(&c.skipped),
            state_updates: g(&c.state_updates),
            published: g(&c.published),
            publish_refused: g(&c.publish_refused),
            publish_without_bridge: g(&c.publish_without_bridge),
        }
    }
}
