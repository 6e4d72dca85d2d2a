//! Device state in memory: a bounded cache in front of the store, written through by the
//! pipeline's batches, so an event reads its device's state without touching the store.
//!
//! Entries are spread over shards by uid; a shard's lock is held while one event of that uid
//! is evaluated, so two events of one device never lose an update. An entry changed by a batch
//! that is not flushed yet is *dirty* (it remembers that batch's ticket): it is never evicted,
//! and an event that reads it waits for that batch before anything it says leaves. Clean
//! entries are evicted oldest first (by first load) when a shard is full.

use super::{load_state, StateStore};
use crate::error::StoreError;
use crate::event::DeviceState;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

/// Shards of the cache: enough that two cores rarely meet on one lock.
const SHARDS: usize = 16;

/// One device's cached state.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The state with every staged change applied.
    pub state: DeviceState,
    /// Ticket of the last batch that changed it (0: never changed here).
    pub dirty: u64,
}

/// One shard: entries and their load order, for eviction.
#[derive(Debug, Default)]
pub(crate) struct Shard {
    map: HashMap<String, Entry>,
    order: VecDeque<String>,
}

impl Shard {
    /// The entry of `uid`, loaded from `store` on a miss; a full shard first evicts clean
    /// entries (`dirty <= settled`), oldest first.
    pub fn entry(
        &mut self,
        uid: &str,
        store: &dyn StateStore,
        max: usize,
        settled: u64,
    ) -> Result<&mut Entry, StoreError> {
        if !self.map.contains_key(uid) {
            let state = load_state(store, uid)?;
            self.evict(max, settled);
            self.map.insert(uid.to_owned(), Entry { state, dirty: 0 });
            self.order.push_back(uid.to_owned());
        }
        // Present: found or inserted just above.
        self.map
            .get_mut(uid)
            .ok_or_else(|| StoreError::Engine("state cache lost an entry".into()))
    }

    fn evict(&mut self, max: usize, settled: u64) {
        let mut tries = self.order.len();
        while self.map.len() >= max && tries > 0 {
            tries -= 1;
            let Some(uid) = self.order.pop_front() else {
                return;
            };
            match self.map.get(&uid) {
                Some(e) if e.dirty > settled => self.order.push_back(uid),
                _ => {
                    self.map.remove(&uid);
                }
            }
        }
    }

    /// The cached state of `uid`, if cached.
    pub fn get(&self, uid: &str) -> Option<&Entry> {
        self.map.get(uid)
    }
}

/// The bounded device-state cache.
#[derive(Debug)]
pub(crate) struct StateCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

impl StateCache {
    /// A cache of about `max_entries` devices (dirty ones may exceed it until flushed).
    pub fn new(max_entries: usize) -> StateCache {
        StateCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: max_entries.div_ceil(SHARDS).max(1),
        }
    }

    /// Most entries a shard keeps.
    pub fn per_shard(&self) -> usize {
        self.per_shard
    }

    /// The shard holding `uid`, locked.
    pub fn shard(&self, uid: &str) -> MutexGuard<'_, Shard> {
        let mut h = DefaultHasher::new();
        uid.hash(&mut h);
        let i = (h.finish() as usize) % self.shards.len();
        // Entries are replaced whole under the lock: a poisoned one is still consistent.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{stage_state, Batch, MemoryStore};
    use serde_json::json;

    #[test]
    fn a_full_shard_evicts_clean_entries_and_keeps_dirty_ones() {
        let store = MemoryStore::new();
        let mut b = Batch::new();
        let mut s = DeviceState::new();
        s.0.insert("x".into(), json!(1));
        stage_state(&mut b, "a", &s).unwrap();
        store.batch(b).unwrap();
        let mut shard = Shard::default();
        assert_eq!(shard.entry("a", &store, 2, 0).unwrap().state, s, "loaded");
        shard.entry("a", &store, 2, 0).unwrap().dirty = 5;
        shard.entry("b", &store, 2, 0).unwrap();
        // Full: "a" is dirty (batch 5 not settled), so "b" goes.
        shard.entry("c", &store, 2, 4).unwrap();
        assert!(shard.get("a").is_some());
        assert!(shard.get("b").is_none());
        // Batch 5 settled: "a" may go now.
        shard.entry("d", &store, 2, 5).unwrap();
        assert!(shard.get("a").is_none());
        assert!(shard.get("c").is_some() && shard.get("d").is_some());
    }
}
