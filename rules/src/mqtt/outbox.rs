//! The durable uplink outbox: publishes wait here, in the outbox's log (`mqtt::log`), until
//! the broker acks.
//!
//! Invariants:
//! - An entry is written and synced ([`Outbox::commit`]) before the publish counts as accepted,
//!   and the bridge never sees one before that.
//! - Ids are strictly increasing and never reused: at open the next id is above every id in
//!   the log and at least the current Unix time in microseconds, so even a wiped data directory
//!   continues above the ids it used before (unless it published more than a million messages
//!   a second).
//! - The bridge sends entries in id order and removes one only on its PubAck (QoS 1) or once
//!   written to the socket (QoS 0). Anything not removed is sent again after a reconnect or a
//!   restart, with the same id, so consumers drop duplicates by id.
//! - Bounded: at `max_entries` new publishes are refused and counted (`refused_full`); what is
//!   already queued is never dropped, so the stream a consumer sees has no holes. With
//!   `when_full = "wait"` (the default) the rules handler stops taking new events a little
//!   before that ([`Outbox::room`]), so devices are acked at the broker's pace instead.
//!
//! Entries of earlier versions, kept in the state store under `outbox/<id>`, are moved into
//! the log when it opens.

use super::config::{MqttConfig, WhenFull};
use super::log::{self, Log};
use crate::error::StoreError;
use crate::store::{read_u64, Batch, StateStore};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

const LEGACY_PREFIX: &[u8] = b"outbox/";
const LEGACY_NEXT_ID: &[u8] = b"meta/outbox_next_id";
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

/// A message taken by [`Outbox::stage`], to be written by [`Outbox::commit`].
#[derive(Debug, Clone)]
pub struct StagedEntry {
    /// The message id.
    pub id: u64,
    record: Vec<u8>,
}

/// A checked and serialized message waiting for its id ([`Outbox::stage`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    topic: String,
    qos: u8,
    retain: bool,
    /// The payload as a JSON object, without the id field.
    json: Vec<u8>,
}

/// Outbox counters.
#[derive(Debug, Default)]
pub(crate) struct OutboxCounters {
    pub accepted: AtomicU64,
    pub refused_full: AtomicU64,
    pub refused_too_big: AtomicU64,
}

struct Inner {
    log: Log,
    max_entries: u64,
    /// [`Outbox::room`] waits while this many messages are held.
    high_water: u64,
    when_full: WhenFull,
    max_packet: usize,
    id_field: String,
    /// `id_field` as a JSON string, quoted and escaped.
    id_key: Vec<u8>,
    /// (next id, entries held or staged); the lock also orders ids.
    state: Mutex<(u64, u64)>,
    push_order: Mutex<()>,
    /// Wakes the bridge: entries were committed.
    notify: Notify,
    /// Wakes those waiting in [`Outbox::room`]: entries were acknowledged.
    freed: Notify,
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

/// Whether `topic` can be published to (MQTT forbids wildcards and NUL in topic names).
pub(crate) fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= usize::from(u16::MAX) && !topic.contains(['+', '#', '\0'])
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Engine(format!("outbox log: {e}"))
}

/// Decodes an entry an earlier version kept in the state store.
fn legacy_entry(k: &[u8], v: &[u8]) -> Option<OutboxEntry> {
    let id = u64::from_be_bytes(<[u8; 8]>::try_from(k.strip_prefix(LEGACY_PREFIX)?).ok()?);
    let (&[qos, retain, a, b], rest) = v.split_first_chunk::<4>()?;
    let tlen = usize::from(u16::from_be_bytes([a, b]));
    let topic = std::str::from_utf8(rest.get(..tlen)?).ok()?;
    (qos <= 1 && retain <= 1).then(|| OutboxEntry {
        id,
        topic: topic.to_owned(),
        qos,
        retain: retain == 1,
        payload: rest[tlen..].to_vec(),
    })
}

/// Moves entries of an earlier version from the state store into `log`; returns the highest
/// id moved. Appended and synced before they are removed from the store, so a crash between
/// the two only sends them twice.
fn move_legacy(store: &dyn StateStore, log: &Log) -> Result<Option<u64>, StoreError> {
    let mut highest = None;
    loop {
        let rows = store.scan_prefix(LEGACY_PREFIX, None, 1024)?;
        if rows.is_empty() {
            return Ok(highest);
        }
        let (mut records, mut ids, mut remove) = (Vec::new(), Vec::new(), Batch::new());
        for (k, v) in rows {
            match legacy_entry(&k, &v) {
                Some(e) => {
                    log::encode(&mut records, e.id, &e.topic, e.qos, e.retain, &e.payload);
                    ids.push(e.id);
                    highest = highest.max(Some(e.id));
                }
                None => {
                    tracing::error!("dropping an unreadable outbox record of an earlier version")
                }
            }
            remove.remove(k);
        }
        log.append(&records, &ids).map_err(io)?;
        store.batch(remove)?;
        store.flush()?;
        tracing::info!(
            moved = ids.len(),
            "outbox: entries of an earlier version moved into the log"
        );
    }
}

impl Outbox {
    /// Opens the outbox: its log in `outbox/` beside the store's files (in memory for a store
    /// without a directory), with limits and id field from `config`.
    pub fn open(store: Arc<dyn StateStore>, config: &MqttConfig) -> Result<Outbox, StoreError> {
        let opened = match store.data_dir() {
            Some(dir) => Log::open(&dir.join("outbox")).map_err(io)?,
            None => Log::memory(),
        };
        let log = opened.log;
        let moved = move_legacy(store.as_ref(), &log)?;
        let legacy_next = read_u64(store.as_ref(), LEGACY_NEXT_ID)?;
        let next = [
            opened.last_id.max(moved).map(|l| l + 1),
            legacy_next,
            Some(now_micros()),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(1);
        let len = log.unacked();
        let max_entries = config.outbox.max_entries;
        Ok(Outbox {
            inner: Arc::new(Inner {
                log,
                max_entries,
                high_water: max_entries - max_entries / 10,
                when_full: config.outbox.when_full,
                max_packet: config.max_packet_bytes,
                id_field: config.id_field.clone(),
                id_key: serde_json::to_vec(&config.id_field)
                    .map_err(|e| StoreError::Engine(e.to_string()))?,
                state: Mutex::new((next, len)),
                push_order: Mutex::new(()),
                notify: Notify::new(),
                freed: Notify::new(),
                counters: OutboxCounters::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, (u64, u64)> {
        // The guarded numbers are changed in single steps: safe to reuse.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues one message, written and synced when this returns, and returns its id. For tools
    /// and tests: a server stages messages and commits them in batches. Not to be mixed with a
    /// pipeline's batches on the same outbox (ids must reach the log in order).
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
        // Held from id to write, so ids reach the log in order.
        let _order = self
            .inner
            .push_order
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let staged = self.stage(self.prepare(topic, qos, retain, payload)?)?;
        let id = staged.id;
        self.commit(vec![staged])?;
        Ok(id)
    }

    /// Checks and serializes one message, without an id yet (the expensive part, done
    /// outside any lock).
    ///
    /// The payload's id field will be set to the id (a non-object payload is wrapped as
    /// `{"payload": ..}`).
    pub fn prepare(
        &self,
        topic: &str,
        qos: u8,
        retain: bool,
        payload: &Value,
    ) -> Result<Prepared, OutboxError> {
        if !valid_topic(topic) {
            return Err(OutboxError::BadTopic(topic.to_owned()));
        }
        let id_field = self.inner.id_field.as_str();
        let json = match payload {
            Value::Object(m) if m.contains_key(id_field) => {
                let mut m = m.clone();
                m.remove(id_field);
                serde_json::to_vec(&m)
            }
            Value::Object(m) => serde_json::to_vec(m),
            other => serde_json::to_vec(&serde_json::json!({ "payload": other })),
        }
        .map_err(|e| StoreError::Engine(e.to_string()))?;
        // `,"<id_field>":<u64>` takes at most this much more.
        let size = topic.len() + json.len() + id_field.len() + 24 + HEADER_ROOM;
        if size > self.inner.max_packet {
            self.inner
                .counters
                .refused_too_big
                .fetch_add(1, Ordering::Relaxed);
            return Err(OutboxError::TooBig {
                size,
                max: self.inner.max_packet,
            });
        }
        Ok(Prepared {
            topic: topic.to_owned(),
            qos: qos.min(1),
            retain,
            json,
        })
    }

    /// Gives a prepared message its id and record without writing anything: the caller hands
    /// it to [`Outbox::commit`] with the rest of its batch once it may be written, so the
    /// bridge never publishes a message (and never sees an id) that a crash could take back.
    /// Ids must reach the log in the order they are taken: call this in commit order (the
    /// pipeline does, under its commit lock).
    ///
    /// The id and the room are taken now: a message never committed leaves a gap in the ids
    /// (never a reuse) and counts against `max_entries` until the outbox is reopened.
    pub fn stage(&self, p: Prepared) -> Result<StagedEntry, OutboxError> {
        let mut st = self.lock();
        let (next, len) = *st;
        if len >= self.inner.max_entries {
            self.inner
                .counters
                .refused_full
                .fetch_add(1, Ordering::Relaxed);
            return Err(OutboxError::Full(len));
        }
        *st = (next + 1, len + 1);
        drop(st);
        self.inner.counters.accepted.fetch_add(1, Ordering::Relaxed);
        // The id goes in last: `{...}` becomes `{...,"msg_id":N}`.
        let mut json = p.json;
        json.pop();
        if json.len() > 1 {
            json.push(b',');
        }
        json.extend_from_slice(&self.inner.id_key);
        json.push(b':');
        json.extend_from_slice(next.to_string().as_bytes());
        json.push(b'}');
        let mut record = Vec::with_capacity(32 + p.topic.len() + json.len());
        log::encode(&mut record, next, &p.topic, p.qos, p.retain, &json);
        Ok(StagedEntry { id: next, record })
    }

    /// Writes staged messages (ids ascending, as staged) to the log and syncs it; then wakes
    /// the bridge to publish them. On error none of them will be published.
    pub fn commit(&self, entries: Vec<StagedEntry>) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
        let records = if entries.len() == 1 {
            entries
                .into_iter()
                .map(|e| e.record)
                .next()
                .unwrap_or_default()
        } else {
            entries.into_iter().flat_map(|e| e.record).collect()
        };
        self.inner.log.append(&records, &ids).map_err(io)?;
        self.inner.notify.notify_one();
        Ok(())
    }

    /// Messages held or staged.
    pub fn len(&self) -> u64 {
        self.lock().1
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once the outbox has room for new events' publishes: at once with
    /// `when_full = "refuse"` or below 90% of `max_entries`, else when acknowledgements bring it
    /// there. The rules handler waits here before taking an event, so a broker slower than
    /// the devices slows their acks instead of refusing their publishes.
    pub async fn room(&self) {
        if self.inner.when_full == WhenFull::Refuse {
            return;
        }
        loop {
            let freed = self.inner.freed.notified();
            if self.len() < self.inner.high_water {
                return;
            }
            freed.await;
        }
    }

    /// Up to `limit` unacknowledged entries after id `after`, in id order, and the id to pass
    /// as `after` next time (`None` when there was nothing to read).
    pub(crate) fn read_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<OutboxEntry>, Option<u64>), StoreError> {
        self.inner.log.read_after(after, limit).map_err(io)
    }

    /// Removes acknowledged entries (each id read from the outbox and acked once). Not synced:
    /// losing a removal only means a duplicate.
    pub(crate) fn remove_acked(&self, ids: &[u64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let newly = self.inner.log.ack(ids);
        let mut st = self.lock();
        st.1 = st.1.saturating_sub(newly);
        drop(st);
        self.inner.freed.notify_waiters();
        Ok(())
    }

    /// Records found damaged in the log.
    pub(crate) fn damaged(&self) -> u64 {
        self.inner.log.damaged()
    }

    /// Resolves when a message was committed since the last call (a missed wake-up is kept).
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
    use crate::store::{MemoryStore, SledStore};
    use serde_json::json;

    fn config(max: u64) -> MqttConfig {
        let mut cfg = MqttConfig::new("127.0.0.1:1");
        cfg.outbox.max_entries = max;
        cfg.max_packet_bytes = 1024;
        cfg
    }

    fn outbox(max: u64) -> Outbox {
        Outbox::open(Arc::new(MemoryStore::new()), &config(max)).unwrap()
    }

    fn read_all(ob: &Outbox) -> Vec<OutboxEntry> {
        ob.read_after(None, 1000).unwrap().0
    }

    #[test]
    fn entries_come_back_in_id_order_with_the_id_in_the_payload() {
        let ob = outbox(10);
        let a = ob.push("t/a", 1, false, &json!({"x": 1})).unwrap();
        let b = ob.push("t/b", 0, true, &json!(5)).unwrap();
        assert_eq!(b, a + 1);
        let got = read_all(&ob);
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
        assert_eq!(ob.read_after(Some(a), 10).unwrap().0.len(), 1);
    }

    #[test]
    fn the_id_field_is_set_whatever_the_payload_held() {
        let ob = outbox(10);
        let a = ob.push("t", 1, false, &json!({})).unwrap();
        let b = ob
            .push("t", 1, false, &json!({"msg_id": "theirs", "q": "\"}"}))
            .unwrap();
        let got = read_all(&ob);
        let p: Value = serde_json::from_slice(&got[0].payload).unwrap();
        assert_eq!(p, json!({ "msg_id": a }));
        let p: Value = serde_json::from_slice(&got[1].payload).unwrap();
        assert_eq!(p, json!({"msg_id": b, "q": "\"}"}));
    }

    #[test]
    fn a_full_outbox_refuses_new_messages_and_counts_them() {
        let ob = outbox(2);
        ob.push("t", 1, false, &json!({})).unwrap();
        ob.push("t", 1, false, &json!({})).unwrap();
        assert!(matches!(
            ob.push("t", 1, false, &json!({})),
            Err(OutboxError::Full(2))
        ));
        assert_eq!(ob.counters().refused_full.load(Ordering::Relaxed), 1);
        assert_eq!(ob.len(), 2);
    }

    #[tokio::test]
    async fn room_waits_near_full_until_acks_free_some() {
        let ob = outbox(10);
        let ids: Vec<u64> = (0..9)
            .map(|_| ob.push("t", 1, false, &json!({})).unwrap())
            .collect();
        let waiting = tokio::spawn({
            let ob = ob.clone();
            async move { ob.room().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "9 of 10 held: no room");
        ob.remove_acked(&ids[..1]).unwrap();
        waiting.await.unwrap();
        let mut refusing = config(10);
        refusing.outbox.when_full = WhenFull::Refuse;
        let ob = Outbox::open(Arc::new(MemoryStore::new()), &refusing).unwrap();
        for _ in 0..10 {
            ob.push("t", 1, false, &json!({})).unwrap();
        }
        ob.room().await;
    }

    #[test]
    fn oversized_and_wildcard_publishes_are_refused() {
        let ob = outbox(10);
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
        let dir = tempfile::tempdir().unwrap();
        let a = {
            let store = Arc::new(SledStore::open(dir.path()).unwrap());
            let ob = Outbox::open(store, &config(10)).unwrap();
            let a = ob.push("t", 1, false, &json!({})).unwrap();
            ob.remove_acked(&[a]).unwrap();
            assert!(ob.is_empty());
            a
        };
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let ob = Outbox::open(store, &config(10)).unwrap();
        assert!(ob.is_empty());
        assert!(
            read_all(&ob).is_empty(),
            "the acknowledged one stays acknowledged"
        );
        assert!(ob.push("t", 1, false, &json!({})).unwrap() > a);
    }

    #[test]
    fn unacknowledged_entries_survive_a_reopen_and_acknowledged_ones_do_not_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<u64> = {
            let store = Arc::new(SledStore::open(dir.path()).unwrap());
            let ob = Outbox::open(store, &config(10)).unwrap();
            let ids = (0..4)
                .map(|i| ob.push("t", 1, false, &json!({ "i": i })).unwrap())
                .collect::<Vec<_>>();
            // Out of order, as QoS 0 and QoS 1 acks can come.
            ob.remove_acked(&[ids[0], ids[2]]).unwrap();
            ids
        };
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let ob = Outbox::open(store, &config(10)).unwrap();
        let got: Vec<u64> = read_all(&ob).iter().map(|e| e.id).collect();
        // The mark kept is the lowest unacknowledged id: ids[2] is sent again (a duplicate,
        // allowed); ids[0] is not.
        assert_eq!(got, vec![ids[1], ids[2], ids[3]]);
        assert_eq!(ob.len(), 3);
    }

    #[test]
    fn entries_of_an_earlier_version_in_the_store_move_into_the_log() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            let mut v = vec![1, 0, 0, 3];
            v.extend_from_slice(b"a/b{\"msg_id\":7}");
            let mut k = LEGACY_PREFIX.to_vec();
            k.extend_from_slice(&7u64.to_be_bytes());
            store.put(&k, &v).unwrap();
            store.put(LEGACY_NEXT_ID, &8u64.to_be_bytes()).unwrap();
            store.flush().unwrap();
        }
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let ob = Outbox::open(store.clone(), &config(10)).unwrap();
        let got = read_all(&ob);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].id, got[0].topic.as_str()), (7, "a/b"));
        assert_eq!(got[0].payload, b"{\"msg_id\":7}");
        assert!(store
            .scan_prefix(LEGACY_PREFIX, None, 10)
            .unwrap()
            .is_empty());
        assert!(ob.push("t", 1, false, &json!({})).unwrap() > 7);
    }
}
