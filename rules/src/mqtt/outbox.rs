//! The durable uplink outbox: publishes wait here, in the state store, until the broker acks.
//!
//! Invariants:
//! - An entry is written (and, by the pipeline, flushed) before the publish counts as accepted.
//! - Ids are strictly increasing and never reused: the next id lives in the store
//!   (`meta/outbox_next_id`), written in the same atomic batch as each entry. A brand-new store
//!   starts at the current Unix time in microseconds, so even a wiped data directory continues
//!   above the ids it used before (unless it published more than a million messages a second).
//! - The bridge sends entries in id order and removes one only on its PubAck (QoS 1) or once
//!   written to the socket (QoS 0). Anything not removed is sent again after a reconnect or a
//!   restart, with the same id, so consumers drop duplicates by id.
//! - Bounded: at `max_entries` new publishes are refused and counted (`refused_full`); what is
//!   already queued is never dropped, so the stream a consumer sees has no holes.
//!
//! Record format under `outbox/<id: u64 big-endian>`: qos (1 byte), retain (1 byte), topic
//! length (u16 big-endian), topic (UTF-8), payload (JSON object with the id field set).

use super::config::MqttConfig;
use crate::error::StoreError;
use crate::store::{count_prefix, read_u64, Batch, StateStore};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

const PREFIX: &[u8] = b"outbox/";
const NEXT_ID: &[u8] = b"meta/outbox_next_id";
/// Room for the fixed MQTT publish header (type, remaining length, topic length, packet id).
const HEADER_ROOM: usize = 16;

/// Why a publish was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The outbox holds `max_entries` messages (the broker has been away too long).
    #[error("outbox full ({0} messages): publish refused")]
    Full(u64),
    /// The message would not fit in one MQTT packet of `max_packet_bytes`.
    #[error("message of {size} bytes exceeds max_packet_bytes {max}")]
    TooBig {
        /// Topic + payload bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The topic cannot be published to.
    #[error("bad topic {0:?}: empty, too long, or holding `+`, `#` or NUL")]
    BadTopic(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One queued message, as the bridge reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// The message id (also in the payload's id field).
    pub id: u64,
    /// The topic.
    pub topic: String,
    /// 0 or 1.
    pub qos: u8,
    /// MQTT retain flag.
    pub retain: bool,
    /// The payload bytes as published.
    pub payload: Vec<u8>,
}

/// A message taken by [`Outbox::stage`], for the caller's batch.
#[derive(Debug, Clone)]
pub struct StagedEntry {
    /// The message id.
    pub id: u64,
    record: Vec<u8>,
}

impl StagedEntry {
    /// Adds the message to `batch`; the batch must also hold [`next_id_write`] for the
    /// highest id it carries, so ids never go back after a restart.
    pub fn write_into(self, batch: &mut Batch) {
        batch.put(key(self.id), self.record);
    }
}

/// Adds to `batch` the outbox's next id after `highest`, the highest id the batch writes.
pub fn next_id_write(batch: &mut Batch, highest: u64) {
    batch.put(NEXT_ID, (highest + 1).to_be_bytes());
}

/// Outbox counters.
#[derive(Debug, Default)]
pub(crate) struct OutboxCounters {
    pub accepted: AtomicU64,
    pub refused_full: AtomicU64,
    pub refused_too_big: AtomicU64,
}

struct Inner {
    store: Arc<dyn StateStore>,
    max_entries: u64,
    max_packet: usize,
    id_field: String,
    /// (next id, entries held); the lock also orders ids with their writes.
    state: Mutex<(u64, u64)>,
    push_order: Mutex<()>,
    notify: Notify,
    counters: OutboxCounters,
}

/// The durable outbox; clones share it.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("len", &self.len()).finish()
    }
}

fn key(id: u64) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn encode(topic: &str, qos: u8, retain: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + topic.len() + payload.len());
    v.push(qos);
    v.push(u8::from(retain));
    // Topic length fits: push() refuses topics over u16::MAX bytes.
    v.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    v.extend_from_slice(topic.as_bytes());
    v.extend_from_slice(payload);
    v
}

fn decode(k: &[u8], v: &[u8]) -> Result<OutboxEntry, StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        key: String::from_utf8_lossy(k).into_owned(),
        reason: reason.into(),
    };
    let id = k
        .strip_prefix(PREFIX)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt("bad key"))?;
    let (head, rest) = v
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("short record"))?;
    let [qos, retain, a, b] = *head;
    let tlen = usize::from(u16::from_be_bytes([a, b]));
    if rest.len() < tlen || qos > 1 || retain > 1 {
        return Err(corrupt("bad header"));
    }
    let topic = std::str::from_utf8(&rest[..tlen]).map_err(|_| corrupt("topic is not UTF-8"))?;
    Ok(OutboxEntry {
        id,
        topic: topic.to_owned(),
        qos,
        retain: retain == 1,
        payload: rest[tlen..].to_vec(),
    })
}

/// Whether `topic` can be published to (MQTT forbids wildcards and NUL in topic names).
pub(crate) fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= usize::from(u16::MAX) && !topic.contains(['+', '#', '\0'])
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

impl Outbox {
    /// Opens the outbox kept in `store`, with limits and id field from `config`.
    pub fn open(store: Arc<dyn StateStore>, config: &MqttConfig) -> Result<Outbox, StoreError> {
        let len = count_prefix(store.as_ref(), PREFIX)?;
        let stored_next = read_u64(store.as_ref(), NEXT_ID)?;
        let next = match stored_next {
            Some(n) => n,
            None => {
                let n = now_micros();
                store.put(NEXT_ID, &n.to_be_bytes())?;
                store.flush()?;
                n
            }
        };
        Ok(Outbox {
            inner: Arc::new(Inner {
                store,
                max_entries: config.outbox.max_entries,
                max_packet: config.max_packet_bytes,
                id_field: config.id_field.clone(),
                state: Mutex::new((next, len)),
                push_order: Mutex::new(()),
                notify: Notify::new(),
                counters: OutboxCounters::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, (u64, u64)> {
        // The guarded numbers are only changed after a successful write: safe to reuse.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues one message and returns its id, writing it to the store at once. The write is
    /// not flushed here: flush the store before telling anyone the message is accepted.
    ///
    /// The payload's id field is set to the id (a non-object payload is wrapped as
    /// `{"payload": ..}`).
    pub fn push(
        &self,
        topic: &str,
        qos: u8,
        retain: bool,
        payload: &Value,
    ) -> Result<u64, OutboxError> {
        // Held from id to write, so the next id written never goes back between two pushes.
        let _order = self
            .inner
            .push_order
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let staged = self.stage(topic, qos, retain, payload)?;
        let id = staged.id;
        let mut b = Batch::new();
        staged.write_into(&mut b);
        next_id_write(&mut b, id);
        self.inner.store.batch(b)?;
        self.committed();
        Ok(id)
    }

    /// Takes one message and gives its id and record without writing anything: the caller
    /// writes them ([`StagedEntry::write_into`]) in its own batch and calls
    /// [`Outbox::committed`] once that batch is durable, so the bridge never publishes a
    /// message (and never sees an id) that a crash could take back.
    ///
    /// The id and the room are taken now: a batch that is never written leaves a gap in the
    /// ids (never a reuse) and counts against `max_entries` until the outbox is reopened.
    pub fn stage(
        &self,
        topic: &str,
        qos: u8,
        retain: bool,
        payload: &Value,
    ) -> Result<StagedEntry, OutboxError> {
        if !valid_topic(topic) {
            return Err(OutboxError::BadTopic(topic.to_owned()));
        }
        let mut obj = match payload {
            Value::Object(m) => m.clone(),
            other => {
                let mut m = Map::new();
                m.insert("payload".into(), other.clone());
                m
            }
        };
        let c = &self.inner.counters;
        let mut st = self.lock();
        let (next, len) = *st;
        if len >= self.inner.max_entries {
            c.refused_full.fetch_add(1, Ordering::Relaxed);
            return Err(OutboxError::Full(len));
        }
        obj.insert(self.inner.id_field.clone(), Value::from(next));
        let bytes = serde_json::to_vec(&Value::Object(obj))
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        let size = topic.len() + bytes.len() + HEADER_ROOM;
        if size > self.inner.max_packet {
            c.refused_too_big.fetch_add(1, Ordering::Relaxed);
            return Err(OutboxError::TooBig {
                size,
                max: self.inner.max_packet,
            });
        }
        *st = (next + 1, len + 1);
        drop(st);
        c.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(StagedEntry {
            id: next,
            record: encode(topic, qos.min(1), retain, &bytes),
        })
    }

    /// Staged messages are durable: wakes the bridge to publish them.
    pub fn committed(&self) {
        self.inner.notify.notify_one();
    }

    /// Messages waiting for their ack.
    pub fn len(&self) -> u64 {
        self.lock().1
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every accepted message durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.store.flush()
    }

    /// Up to `limit` entries after id `after`, in id order. A record that cannot be decoded is
    /// removed and returned as `Err` in its slot so the caller can count it and go on.
    pub(crate) fn read_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Result<OutboxEntry, u64>>, StoreError> {
        let start = after.map(key);
        let rows = self
            .inner
            .store
            .scan_prefix(PREFIX, start.as_deref(), limit)?;
        let mut out = Vec::with_capacity(rows.len());
        for (k, v) in rows {
            match decode(&k, &v) {
                Ok(e) => out.push(Ok(e)),
                Err(err) => {
                    tracing::error!(%err, "dropping an unreadable outbox record");
                    let id = k
                        .get(PREFIX.len()..)
                        .and_then(|b| <[u8; 8]>::try_from(b).ok())
                        .map_or(0, u64::from_be_bytes);
                    self.remove_key(k)?;
                    out.push(Err(id));
                }
            }
        }
        Ok(out)
    }

    fn remove_key(&self, k: Vec<u8>) -> Result<(), StoreError> {
        let mut st = self.lock();
        if self.inner.store.get(&k)?.is_some() {
            let mut b = Batch::new();
            b.remove(k);
            self.inner.store.batch(b)?;
            st.1 = st.1.saturating_sub(1);
        }
        Ok(())
    }

    /// Removes acknowledged entries in one batch (each id read from the outbox and acked once).
    /// Not flushed: losing a removal only means a duplicate.
    pub(crate) fn remove_acked(&self, ids: &[u64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut b = Batch::new();
        for id in ids {
            b.remove(key(*id));
        }
        let mut st = self.lock();
        self.inner.store.batch(b)?;
        st.1 = st.1.saturating_sub(ids.len() as u64);
        Ok(())
    }

    /// Resolves when a message was pushed since the last call (a missed wake-up is kept).
    pub(crate) async fn pushed(&self) {
        self.inner.notify.notified().await
    }

    pub(crate) fn counters(&self) -> &OutboxCounters {
        &self.inner.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use serde_json::json;

    fn outbox(max: u64) -> (Arc<MemoryStore>, Outbox) {
        let store = Arc::new(MemoryStore::new());
        let mut cfg = MqttConfig::new("127.0.0.1:1");
        cfg.outbox.max_entries = max;
        cfg.max_packet_bytes = 1024;
        (store.clone(), Outbox::open(store, &cfg).unwrap())
    }

    #[test]
    fn entries_come_back_in_id_order_with_the_id_in_the_payload() {
        let (_, ob) = outbox(10);
        let a = ob.push("t/a", 1, false, &json!({"x": 1})).unwrap();
        let b = ob.push("t/b", 0, true, &json!(5)).unwrap();
        assert_eq!(b, a + 1);
        let got: Vec<OutboxEntry> = ob
            .read_after(None, 10)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].id, got[0].topic.as_str(), got[0].qos, got[0].retain),
            (a, "t/a", 1, false)
        );
        let p: Value = serde_json::from_slice(&got[0].payload).unwrap();
        assert_eq!(p, json!({"x": 1, "msg_id": a}));
        let p: Value = serde_json::from_slice(&got[1].payload).unwrap();
        assert_eq!(p, json!({"payload": 5, "msg_id": b}));
        assert!(got[1].retain);
        assert_eq!(ob.read_after(Some(a), 10).unwrap().len(), 1);
    }

    #[test]
    fn a_full_outbox_refuses_new_messages_and_counts_them() {
        let (_, ob) = outbox(2);
        ob.push("t", 1, false, &json!({})).unwrap();
        ob.push("t", 1, false, &json!({})).unwrap();
        assert!(matches!(
            ob.push("t", 1, false, &json!({})),
            Err(OutboxError::Full(2))
        ));
        assert_eq!(ob.counters().refused_full.load(Ordering::Relaxed), 1);
        assert_eq!(ob.len(), 2);
    }

    #[test]
    fn oversized_and_wildcard_publishes_are_refused() {
        let (_, ob) = outbox(10);
        let big = json!({"s": "x".repeat(2000)});
        assert!(matches!(
            ob.push("t", 1, false, &big),
            Err(OutboxError::TooBig { .. })
        ));
        assert!(matches!(
            ob.push("a/+", 1, false, &json!({})),
            Err(OutboxError::BadTopic(_))
        ));
        assert!(matches!(
            ob.push("", 1, false, &json!({})),
            Err(OutboxError::BadTopic(_))
        ));
        assert!(ob.is_empty());
    }

    #[test]
    fn ids_are_never_reused_after_everything_was_acked_and_reopened() {
        let (store, ob) = outbox(10);
        let a = ob.push("t", 1, false, &json!({})).unwrap();
        ob.remove_acked(&[a]).unwrap();
        assert!(ob.is_empty());
        let ob2 = Outbox::open(store, &MqttConfig::new("127.0.0.1:1")).unwrap();
        assert!(ob2.push("t", 1, false, &json!({})).unwrap() > a);
    }

    #[test]
    fn unreadable_records_are_removed_and_reported_by_id() {
        let (store, ob) = outbox(10);
        let a = ob.push("t", 1, false, &json!({})).unwrap();
        store.put(&key(a + 100), b"\x07").unwrap();
        let got = ob.read_after(None, 10).unwrap();
        assert!(got[0].is_ok());
        assert_eq!(got[1], Err(a + 100));
        assert_eq!(ob.read_after(None, 10).unwrap().len(), 1);
    }
}
