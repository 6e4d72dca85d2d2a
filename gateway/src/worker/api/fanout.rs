//! Queries fanned out to gateways: the table of queries waiting for a linked gateway's reply,
//! the timeout, each reply read as the type of what was asked (a garbled one is an error naming
//! the gateway), and the answers of several gateways merged into one [`Answer`] that names the
//! gateways missing from it. A gateway answers in parts (`QueryReply` with `more`); each part
//! is read as it comes and joined to the ones before, so the answer is complete only once its
//! last part came within the timeout.

use super::{Api, ApiError, GatewayLink};
use crate::client_id::{ClientId, GatewayKey};
use crate::proto::query::Session;
use crate::proto::{Query, QueryKind, Reply, ReplyError, ToGateway};
use bytes::Bytes;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a query waits for gateways by default.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A merged answer from several gateways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer<T> {
    /// The merged value from the gateways that answered.
    pub value: T,
    /// True when every listed gateway answered.
    pub complete: bool,
    /// Gateways that did not answer (no link, timed out, or a garbled reply).
    pub missing: Vec<GatewayKey>,
}

impl<T> Answer<T> {
    /// The same answer with its value transformed.
    pub fn map_value<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        Answer {
            value: f(self.value),
            complete: self.complete,
            missing: self.missing,
        }
    }
}

/// A query waiting for its answer's parts.
#[derive(Debug)]
struct Waiting {
    kind: QueryKind,
    /// The parts read so far, joined.
    got: Option<Reply>,
    done: oneshot::Sender<Result<Reply, ReplyError>>,
}

/// Queries waiting for a reply, shared by every clone of an [`Api`].
#[derive(Debug)]
pub(super) struct Queries {
    pending: Mutex<HashMap<u64, Waiting>>,
    next_id: AtomicU64,
    timeout_ms: AtomicU64,
}

impl Default for Queries {
    fn default() -> Self {
        Queries {
            pending: Mutex::default(),
            next_id: AtomicU64::new(0),
            timeout_ms: AtomicU64::new(DEFAULT_QUERY_TIMEOUT.as_millis() as u64),
        }
    }
}

/// Takes the value out of a reply of the expected variant, or gives the reply back.
pub(super) type Take<T> = fn(Reply) -> Result<T, Reply>;

/// The value of a reply to `kind`, or the error naming what came instead.
fn expect<T>(key: GatewayKey, kind: QueryKind, r: Result<T, Reply>) -> Result<T, ApiError> {
    r.map_err(|other| {
        ApiError::BadReply(
            key,
            ReplyError {
                kind,
                reason: format!("a reply to {:?}", other.kind()),
            },
        )
    })
}

impl Api {
    /// Sets how long queries wait for gateways.
    pub fn set_query_timeout(&self, timeout: Duration) {
        self.inner
            .queries
            .timeout_ms
            .store(timeout.as_millis() as u64, Ordering::Relaxed);
    }

    /// A part of the answer to query `id` came (`more`: not its last). A part of a query no
    /// longer waited for (timed out) is dropped.
    pub(crate) fn query_part(&self, id: u64, more: bool, json: Bytes) {
        // Taken out while the part is read, so other queries' parts are not held up by it;
        // one query's parts all come from one link's reader, in order.
        let Some(mut waiting) = self.pending().remove(&id) else {
            return;
        };
        let joined = Reply::decode(waiting.kind, &json).and_then(|part| match &mut waiting.got {
            Some(got) => got.absorb(part),
            None => {
                waiting.got = Some(part);
                Ok(())
            }
        });
        match joined {
            Ok(()) if more => {
                if !waiting.done.is_closed() {
                    self.pending().insert(id, waiting);
                }
            }
            Ok(()) => {
                if let Some(reply) = waiting.got {
                    let _ = waiting.done.send(Ok(reply));
                }
            }
            Err(e) => {
                let _ = waiting.done.send(Err(e));
            }
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiting>> {
        self.inner
            .queries
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Asks one gateway; the reply read as the type of what was asked.
    pub(super) async fn query_one<T>(
        &self,
        key: GatewayKey,
        query: Query,
        take: Take<T>,
    ) -> Result<T, ApiError> {
        let kind = query.kind();
        let (id, rx) = match self.link(key)? {
            GatewayLink::Local(state) => return expect(key, kind, take(state.answer(&query))),
            GatewayLink::Remote(tx) => {
                let id = self.inner.queries.next_id.fetch_add(1, Ordering::Relaxed);
                let (done, orx) = oneshot::channel();
                self.pending().insert(
                    id,
                    Waiting {
                        kind,
                        got: None,
                        done,
                    },
                );
                if tx.send(ToGateway::Query { id, query }).await.is_err() {
                    self.forget_query(id);
                    return Err(ApiError::LinkClosed(key));
                }
                (id, orx)
            }
        };
        let timeout = Duration::from_millis(self.inner.queries.timeout_ms.load(Ordering::Relaxed));
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(reply))) => expect(key, kind, take(reply)),
            Ok(Ok(Err(e))) => Err(ApiError::BadReply(key, e)),
            Ok(Err(_)) => Err(ApiError::LinkClosed(key)),
            Err(_) => {
                self.forget_query(id);
                Err(ApiError::Timeout(key))
            }
        }
    }

    fn forget_query(&self, id: u64) {
        self.pending().remove(&id);
    }

    /// Asks every listed gateway at once; each answer with the gateway that gave it, and the
    /// gateways that gave none (a garbled reply counts as none, and is logged).
    pub(super) async fn query_each<T>(
        &self,
        query: Query,
        take: Take<T>,
    ) -> Answer<Vec<(GatewayKey, T)>> {
        let keys = self.listed_gateways();
        let asks = keys.iter().map(|k| self.query_one(*k, query.clone(), take));
        let results = futures_util::future::join_all(asks).await;
        let mut value = Vec::new();
        let mut missing = Vec::new();
        for (key, r) in keys.into_iter().zip(results) {
            match r {
                Ok(v) => value.push((key, v)),
                Err(e) => {
                    if let ApiError::BadReply(..) = e {
                        tracing::warn!("{e}");
                    }
                    missing.push(key)
                }
            }
        }
        Answer {
            value,
            complete: missing.is_empty(),
            missing,
        }
    }

    /// Asks every listed gateway at once; answers and the gateways that gave none.
    pub(super) async fn query_all<T>(&self, query: Query, take: Take<T>) -> Answer<Vec<T>> {
        self.query_each(query, take)
            .await
            .map_value(|answers| answers.into_iter().map(|(_, v)| v).collect())
    }

    /// The sorted union of every gateway's list.
    pub(super) async fn union<T: Ord>(&self, query: Query, take: Take<Vec<T>>) -> Answer<Vec<T>> {
        self.query_all(query, take).await.map_value(|answers| {
            let set: BTreeSet<T> = answers.into_iter().flatten().collect();
            set.into_iter().collect()
        })
    }

    /// The merge of every gateway's sessions.
    pub(super) async fn merged_sessions(
        &self,
        query: Query,
        take: Take<BTreeMap<ClientId, Session>>,
    ) -> Answer<BTreeMap<ClientId, Session>> {
        self.query_all(query, take)
            .await
            .map_value(|answers| answers.into_iter().flatten().collect())
    }
}
