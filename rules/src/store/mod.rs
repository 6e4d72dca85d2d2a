//! Device state and durable queues behind one small key-value trait.
//!
//! [`StateStore`] is all the pipeline and the MQTT bridge need: get, put, an atomic batch, a
//! bounded scan by prefix in key order, and flush. Writes are durable only after `flush`
//! returns, so callers flush before acknowledging anything that must not be lost.
//! [`SledStore`] (sled 0.34) is the default; [`MemoryStore`] is for tests and for running
//! without a data directory. A Redis or PostgreSQL store would implement the same trait.
//!
//! Keyspace (one flat, ordered key space; numbers are big-endian so order is numeric):
//! - `state/<uid>`: the device's state, a JSON object.
//! - `outbox/<u64 id>`: read once at open and moved into the outbox's own log (`mqtt::log`);
//!   earlier versions kept MQTT uplink messages here.
//! - `hold/<uid>\0<u64 seq>`: a downlink command held for an offline uid.
//! - `meta/<name>`: counters that must never go back (next outbox id, next hold seq).

pub(crate) mod cache;
mod memory;
mod sled_store;

pub use memory::MemoryStore;
pub use sled_store::SledStore;

use crate::error::StoreError;
use crate::event::DeviceState;

/// Key-value pairs read by a scan, in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One atomic group of writes.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub(crate) ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), Some(value.into())));
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), None));
    }

    /// Whether the batch holds no writes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A small ordered key-value store; every method may block on disk I/O.
pub trait StateStore: Send + Sync {
    /// The value at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets one key (not durable until [`StateStore::flush`]).
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Applies all writes of `batch` atomically (not durable until [`StateStore::flush`]).
    fn batch(&self, batch: Batch) -> Result<(), StoreError>;
    /// Up to `limit` entries whose key starts with `prefix`, in key order, after key `after`.
    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError>;
    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// The directory the store keeps its files in, where others (the MQTT outbox's log) may
    /// keep theirs beside; `None` for a store in memory.
    fn data_dir(&self) -> Option<&std::path::Path> {
        None
    }
}

/// The key of a uid's device state.
pub fn state_key(uid: &str) -> Vec<u8> {
    let mut k = b"state/".to_vec();
    k.extend_from_slice(uid.as_bytes());
    k
}

/// Reads a uid's device state (empty when it has none).
pub fn load_state(store: &dyn StateStore, uid: &str) -> Result<DeviceState, StoreError> {
    let key = state_key(uid);
    match store.get(&key)? {
        None => Ok(DeviceState::new()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            key: String::from_utf8_lossy(&key).into_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Adds the write of a uid's whole device state to `batch`.
pub fn stage_state(batch: &mut Batch, uid: &str, state: &DeviceState) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(state).map_err(|e| StoreError::Engine(e.to_string()))?;
    batch.put(state_key(uid), bytes);
    Ok(())
}

/// Reads a big-endian u64 counter under `key` (0 when absent).
pub(crate) fn read_u64(store: &dyn StateStore, key: &[u8]) -> Result<Option<u64>, StoreError> {
    match store.get(key)? {
        None => Ok(None),
        Some(b) => match <[u8; 8]>::try_from(b.as_slice()) {
            Ok(a) => Ok(Some(u64::from_be_bytes(a))),
            Err(_) => Err(StoreError::Corrupt {
                key: String::from_utf8_lossy(key).into_owned(),
                reason: format!("expected 8 bytes, found {}", b.len()),
            }),
        },
    }
}

/// Counts the keys under `prefix`, reading in bounded chunks.
pub(crate) fn count_prefix(store: &dyn StateStore, prefix: &[u8]) -> Result<u64, StoreError> {
    let mut n = 0u64;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let chunk = store.scan_prefix(prefix, after.as_deref(), 1024)?;
        n += chunk.len() as u64;
        match chunk.into_iter().last() {
            Some((k, _)) => after = Some(k),
            None => return Ok(n),
        }
    }
}
