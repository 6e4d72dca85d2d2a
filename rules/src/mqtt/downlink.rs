//! Downlink: MQTT messages on configured topics become sends to a uid, through a
//! [`DownlinkSink`] the gateway implements.
//!
//! Offline policy ([`OfflinePolicy`]): `drop` counts and forgets a command for an offline uid;
//! `hold` keeps it in the store under `hold/<uid>\0<seq>` (flushed), bounded per uid (the oldest
//! is dropped when a uid's queue is full) and in total (a new command is dropped when the store
//! holds `hold_total`), all counted. Held commands go out in order from
//! [`Downlink::on_uid_online`], and a new command for a uid with held ones queues behind them.
//! Either way, a command that arrives while the bridge is disconnected is not seen at all: with a
//! clean session the broker keeps nothing for us.

use super::config::{DownlinkConfig, OfflinePolicy};
use super::stats::Counters;
use crate::error::StoreError;
use crate::store::{count_prefix, read_u64, Batch, StateStore};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A boxed, sendable future (what [`DownlinkSink`] returns, so the trait is object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The gateway could not be asked (no gateway reachable, ...); the command counts as undelivered.
#[derive(Debug, thiserror::Error)]
#[error("downlink sink: {0}")]
pub struct SinkError(pub String);

/// Where downlink commands go: the gateway's `send_to_uid`.
pub trait DownlinkSink: Send + Sync {
    /// Sends `data` to every connection bound to `uid`. `Ok(true)`: the uid was online and the
    /// data was handed over; `Ok(false)`: the uid is offline (nothing was sent).
    fn send_to_uid<'a>(
        &'a self,
        uid: &'a str,
        data: Bytes,
    ) -> BoxFuture<'a, Result<bool, SinkError>>;
}

#[derive(Debug, Clone, PartialEq)]
enum Level {
    Lit(String),
    Plus,
    Uid,
    Hash,
}

/// A downlink topic template such as `devices/{uid}/down`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TopicTemplate {
    levels: Vec<Level>,
    /// The subscription filter: `{uid}` as `+`.
    pub filter: String,
}

impl TopicTemplate {
    /// Parses a template: levels are literal, `+`, `#` (last only) or exactly one `{uid}`.
    pub fn parse(src: &str) -> Result<TopicTemplate, String> {
        let mut levels = Vec::new();
        let parts: Vec<&str> = src.split('/').collect();
        for (i, l) in parts.iter().enumerate() {
            levels.push(match *l {
                "{uid}" => Level::Uid,
                "+" => Level::Plus,
                "#" if i + 1 == parts.len() => Level::Hash,
                "#" => return Err(format!("{src:?}: `#` must be the last level")),
                l if l.contains(['+', '#', '{', '}', '\0']) => {
                    return Err(format!(
                        "{src:?}: level {l:?} mixes text with `+`, `#` or braces"
                    ))
                }
                l => Level::Lit(l.to_owned()),
            });
        }
        match levels.iter().filter(|l| **l == Level::Uid).count() {
            1 => {}
            _ => return Err(format!("{src:?} needs exactly one `{{uid}}` level")),
        }
        let filter = levels
            .iter()
            .map(|l| match l {
                Level::Lit(s) => s.as_str(),
                Level::Plus | Level::Uid => "+",
                Level::Hash => "#",
            })
            .collect::<Vec<_>>()
            .join("/");
        Ok(TopicTemplate { levels, filter })
    }

    /// The uid in `topic`, if the topic matches.
    pub fn uid_of<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let mut uid = None;
        let mut parts = topic.split('/');
        for l in &self.levels {
            if *l == Level::Hash {
                return uid;
            }
            let p = parts.next()?;
            match l {
                Level::Lit(s) if s != p => return None,
                Level::Uid if p.is_empty() => return None,
                Level::Uid => uid = Some(p),
                _ => {}
            }
        }
        if parts.next().is_some() {
            return None;
        }
        uid
    }
}

const HOLD: &[u8] = b"hold/";
const NEXT_SEQ: &[u8] = b"meta/hold_next_seq";

fn hold_prefix(uid: &str) -> Vec<u8> {
    let mut k = HOLD.to_vec();
    k.extend_from_slice(uid.as_bytes());
    k.push(0);
    k
}

struct Inner {
    store: Arc<dyn StateStore>,
    sink: Arc<dyn DownlinkSink>,
    cfg: DownlinkConfig,
    templates: Vec<TopicTemplate>,
    counters: Arc<Counters>,
    /// Serializes hold-queue changes: (next seq, held total).
    hold: tokio::sync::Mutex<(u64, u64)>,
}

/// Downlink delivery with the configured offline policy; clones share it.
#[derive(Clone)]
pub struct Downlink {
    inner: Arc<Inner>,
}

impl Downlink {
    /// Builds the downlink side; reads how many commands the store holds.
    pub(crate) fn open(
        store: Arc<dyn StateStore>,
        sink: Arc<dyn DownlinkSink>,
        cfg: DownlinkConfig,
        counters: Arc<Counters>,
    ) -> Result<Downlink, String> {
        let templates = cfg
            .topics
            .iter()
            .map(|t| TopicTemplate::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        let e = |e: StoreError| e.to_string();
        let held = count_prefix(store.as_ref(), HOLD).map_err(e)?;
        let seq = read_u64(store.as_ref(), NEXT_SEQ).map_err(e)?.unwrap_or(1);
        counters.downlink_held_now.store(held, Ordering::Relaxed);
        Ok(Downlink {
            inner: Arc::new(Inner {
                store,
                sink,
                cfg,
                templates,
                counters,
                hold: tokio::sync::Mutex::new((seq, held)),
            }),
        })
    }

    /// The subscription filters and QoS.
    pub(crate) fn filters(&self) -> Vec<String> {
        self.inner
            .templates
            .iter()
            .map(|t| t.filter.clone())
            .collect()
    }

    /// Handles one MQTT message from the broker.
    pub(crate) async fn deliver(&self, topic: &str, data: Bytes) {
        let c = &self.inner.counters;
        c.downlink_received.fetch_add(1, Ordering::Relaxed);
        let Some(uid) = self.inner.templates.iter().find_map(|t| t.uid_of(topic)) else {
            c.downlink_unmatched.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(topic, "downlink topic matches no template");
            return;
        };
        if self.inner.cfg.offline == OfflinePolicy::Drop {
            if !self.send(uid, data).await {
                c.downlink_dropped_offline.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let mut hold = self.inner.hold.lock().await;
        let queued = match self.inner.store.scan_prefix(&hold_prefix(uid), None, 1) {
            Ok(v) => !v.is_empty(),
            Err(e) => {
                tracing::error!(%e, "downlink hold queue unreadable");
                false
            }
        };
        if queued {
            self.hold(&mut hold, uid, &data);
            self.drain(&mut hold, uid).await;
        } else if !self.send(uid, data.clone()).await {
            self.hold(&mut hold, uid, &data);
        }
    }

    /// Sends what is held for `uid`, in order; call it when the uid comes online (bind_uid).
    pub async fn on_uid_online(&self, uid: &str) {
        if self.inner.cfg.offline == OfflinePolicy::Hold {
            let mut hold = self.inner.hold.lock().await;
            self.drain(&mut hold, uid).await;
        }
    }

    /// True when the sink took it.
    async fn send(&self, uid: &str, data: Bytes) -> bool {
        let c = &self.inner.counters;
        match self.inner.sink.send_to_uid(uid, data).await {
            Ok(true) => {
                c.downlink_delivered.fetch_add(1, Ordering::Relaxed);
                true
            }
            Ok(false) => false,
            Err(e) => {
                c.downlink_sink_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%e, uid, "downlink send failed");
                false
            }
        }
    }

    /// Appends to the uid's hold queue (caller holds the lock), enforcing both bounds.
    fn hold(&self, guard: &mut (u64, u64), uid: &str, data: &[u8]) {
        let c = &self.inner.counters;
        let cfg = &self.inner.cfg;
        let result = (|| -> Result<(), StoreError> {
            let prefix = hold_prefix(uid);
            let limit = usize::try_from(cfg.hold_per_uid).unwrap_or(usize::MAX);
            let existing = self.inner.store.scan_prefix(&prefix, None, limit)?;
            let mut b = Batch::new();
            let mut total = guard.1;
            if existing.len() as u64 >= cfg.hold_per_uid {
                if let Some((oldest, _)) = existing.into_iter().next() {
                    b.remove(oldest);
                    total -= 1;
                    c.downlink_hold_dropped.fetch_add(1, Ordering::Relaxed);
                }
            } else if total >= cfg.hold_total {
                c.downlink_hold_dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            let seq = guard.0;
            let mut k = prefix;
            k.extend_from_slice(&seq.to_be_bytes());
            b.put(k, data.to_vec());
            b.put(NEXT_SEQ, (seq + 1).to_be_bytes());
            self.inner.store.batch(b)?;
            self.inner.store.flush()?;
            *guard = (seq + 1, total + 1);
            c.downlink_held.fetch_add(1, Ordering::Relaxed);
            c.downlink_held_now.store(total + 1, Ordering::Relaxed);
            Ok(())
        })();
        if let Err(e) = result {
            c.downlink_hold_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%e, uid, "could not hold a downlink command; dropped");
        }
    }

    /// Sends held commands for `uid` until the queue is empty or the uid is offline again.
    /// A crash between a send and its removal sends that command again (at least once).
    async fn drain(&self, guard: &mut (u64, u64), uid: &str) {
        let prefix = hold_prefix(uid);
        loop {
            let batch = match self.inner.store.scan_prefix(&prefix, None, 32) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(%e, uid, "downlink hold queue unreadable");
                    return;
                }
            };
            if batch.is_empty() {
                return;
            }
            for (k, v) in batch {
                if !self.send(uid, Bytes::from(v)).await {
                    return;
                }
                let mut b = Batch::new();
                b.remove(k);
                if let Err(e) = self.inner.store.batch(b) {
                    tracing::error!(%e, uid, "could not remove a delivered downlink command");
                    return;
                }
                guard.1 = guard.1.saturating_sub(1);
                self.inner
                    .counters
                    .downlink_held_now
                    .store(guard.1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_map_topics_to_uids_and_give_the_filter() {
        let t = TopicTemplate::parse("devices/{uid}/down").unwrap();
        assert_eq!(t.filter, "devices/+/down");
        assert_eq!(t.uid_of("devices/abc/down"), Some("abc"));
        assert_eq!(t.uid_of("devices/abc/up"), None);
        assert_eq!(t.uid_of("devices//down"), None);
        assert_eq!(t.uid_of("devices/abc/down/x"), None);
        assert_eq!(t.uid_of("devices/abc"), None);
        let t = TopicTemplate::parse("+/{uid}/#").unwrap();
        assert_eq!(t.filter, "+/+/#");
        assert_eq!(t.uid_of("site/u1/a/b"), Some("u1"));
    }

    #[test]
    fn templates_need_one_uid_level_and_clean_wildcards() {
        assert!(TopicTemplate::parse("devices/+/down").is_err());
        assert!(TopicTemplate::parse("{uid}/{uid}").is_err());
        assert!(TopicTemplate::parse("a/#/{uid}").is_err());
        assert!(TopicTemplate::parse("a/x{uid}").is_err());
    }
}
