//! The GatewayWorker-style API, for handlers and for any program (see `client::StandaloneApi`).
//!
//! Commands go to the gateway that owns a client (found from the client_id itself) or to every
//! gateway (uid, group and broadcast operations). Queries fan out to every listed gateway at
//! once and wait at most `query_timeout`; each reply is read as the type of what was asked
//! (`proto::query`). The [`Answer`] says whether every gateway answered and names those that
//! did not (or answered garbled), so a partial result is never silent.

use crate::client_id::{ClientId, GatewayKey};
use crate::fast_hash::FastHash;
use crate::gateway::GatewayState;
use crate::proto::query::Session;
use crate::proto::{Query, QueryKind, Reply, ReplyError, StatusReport, ToGateway};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

/// How long a query waits for gateways by default.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why an API call failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    /// No live link to the gateway that owns this client.
    #[error("no link to gateway {0}")]
    NoGateway(GatewayKey),
    /// The link closed while sending.
    #[error("the link to gateway {0} closed")]
    LinkClosed(GatewayKey),
    /// The gateway did not answer within the query timeout.
    #[error("gateway {0} did not answer in time")]
    Timeout(GatewayKey),
    /// The gateway's reply was garbled or answered another question.
    #[error("gateway {0}: {1}")]
    BadReply(GatewayKey, ReplyError),
}

/// How commands reach one gateway.
#[derive(Debug, Clone)]
pub enum GatewayLink {
    /// Over the internal link's bounded writer queue.
    Remote(mpsc::Sender<ToGateway>),
    /// Directly into a gateway in this process (`devgate start`).
    Local(Arc<GatewayState>),
}

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

#[derive(Debug, Default)]
struct Inner {
    links: RwLock<HashMap<GatewayKey, GatewayLink, FastHash>>,
    listed: RwLock<BTreeSet<GatewayKey>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Bytes>>>,
    next_query: AtomicU64,
    query_timeout_ms: AtomicU64,
}

/// The API. Cheap to clone; every clone shares the links.
#[derive(Debug, Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

impl Default for Api {
    fn default() -> Self {
        Api::new()
    }
}

/// A reply's value when it is of variant `$v`, for the typed query calls.
macro_rules! reply_as {
    ($v:ident) => {
        |r: Reply| match r {
            Reply::$v(v) => Ok(v),
            other => Err(other),
        }
    };
}

/// Takes the value out of a reply of the expected variant, or gives the reply back.
type Take<T> = fn(Reply) -> Result<T, Reply>;

/// A command handed to its link: done at once (the usual case), or waiting, boxed, for room
/// in a full link queue. Kept small on purpose: an API call's future (and so every handler's)
/// holds it, and handler futures are moved byte by byte once or more per event.
enum Sending {
    Done(Option<Result<(), ApiError>>),
    Waiting(Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send>>),
}

impl Future for Sending {
    type Output = Result<(), ApiError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Sending::Done(done) => Poll::Ready(done.take().unwrap_or(Ok(()))),
            Sending::Waiting(wait) => wait.as_mut().poll(cx),
        }
    }
}

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
    /// An API with no gateway yet (links are added as gateways are found).
    pub fn new() -> Self {
        let inner = Inner::default();
        inner
            .query_timeout_ms
            .store(DEFAULT_QUERY_TIMEOUT.as_millis() as u64, Ordering::Relaxed);
        Api {
            inner: Arc::new(inner),
        }
    }

    /// Sets how long queries wait for gateways.
    pub fn set_query_timeout(&self, timeout: Duration) {
        self.inner
            .query_timeout_ms
            .store(timeout.as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_link(&self, key: GatewayKey, link: GatewayLink) {
        self.inner
            .links
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, link);
    }

    pub(crate) fn remove_link(&self, key: GatewayKey) {
        self.inner
            .links
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    pub(crate) fn set_listed(&self, keys: BTreeSet<GatewayKey>) {
        *self.inner.listed.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }

    pub(crate) fn complete_query(&self, id: u64, result: Bytes) {
        let tx = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(tx) = tx {
            let _ = tx.send(result);
        }
    }

    fn link(&self, key: GatewayKey) -> Result<GatewayLink, ApiError> {
        self.inner
            .links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
            .ok_or(ApiError::NoGateway(key))
    }

    /// The gateways currently linked.
    pub fn gateways(&self) -> Vec<GatewayKey> {
        let mut v: Vec<_> = self
            .inner
            .links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        v.sort();
        v
    }

    /// The gateways the registers list (linked or not).
    pub fn listed_gateways(&self) -> Vec<GatewayKey> {
        let listed = self.inner.listed.read().unwrap_or_else(|p| p.into_inner());
        let mut all: BTreeSet<GatewayKey> = listed.iter().copied().collect();
        all.extend(self.gateways());
        all.into_iter().collect()
    }

    /// Hands `msg` to its gateway's link at once; the returned future waits only when that
    /// link's queue is full.
    fn command(&self, key: GatewayKey, msg: ToGateway) -> Sending {
        let link = match self.link(key) {
            Ok(link) => link,
            Err(e) => return Sending::Done(Some(Err(e))),
        };
        match link {
            GatewayLink::Remote(tx) => match tx.try_send(msg) {
                Ok(()) => Sending::Done(Some(Ok(()))),
                Err(TrySendError::Full(msg)) => Sending::Waiting(Box::pin(async move {
                    tx.send(msg).await.map_err(|_| ApiError::LinkClosed(key))
                })),
                Err(TrySendError::Closed(_)) => Sending::Done(Some(Err(ApiError::LinkClosed(key)))),
            },
            GatewayLink::Local(state) => {
                state.execute(msg);
                Sending::Done(Some(Ok(())))
            }
        }
    }

    /// Sends a command to every listed gateway; returns the failures (a listed gateway with
    /// no link is one: `NoGateway`).
    async fn command_all(&self, msg: impl Fn(GatewayKey) -> ToGateway) -> Vec<ApiError> {
        let mut errors = Vec::new();
        for key in self.listed_gateways() {
            if let Err(e) = self.command(key, msg(key)).await {
                errors.push(e);
            }
        }
        errors
    }

    /// Asks one gateway; the reply read as the type of what was asked.
    async fn query_one<T>(
        &self,
        key: GatewayKey,
        query: Query,
        take: Take<T>,
    ) -> Result<T, ApiError> {
        let kind = query.kind();
        let (id, rx) = match self.link(key)? {
            GatewayLink::Local(state) => return expect(key, kind, take(state.answer(&query))),
            GatewayLink::Remote(tx) => {
                let id = self.inner.next_query.fetch_add(1, Ordering::Relaxed);
                let (otx, orx) = oneshot::channel();
                self.inner
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id, otx);
                if tx.send(ToGateway::Query { id, query }).await.is_err() {
                    self.forget_query(id);
                    return Err(ApiError::LinkClosed(key));
                }
                (id, orx)
            }
        };
        let timeout = Duration::from_millis(self.inner.query_timeout_ms.load(Ordering::Relaxed));
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(json)) => {
                let reply = Reply::decode(kind, &json).map_err(|e| ApiError::BadReply(key, e))?;
                expect(key, kind, take(reply))
            }
            Ok(Err(_)) => Err(ApiError::LinkClosed(key)),
            Err(_) => {
                self.forget_query(id);
                Err(ApiError::Timeout(key))
            }
        }
    }

    fn forget_query(&self, id: u64) {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Asks every listed gateway at once; each answer with the gateway that gave it, and the
    /// gateways that gave none (a garbled reply counts as none, and is logged).
    async fn query_each<T>(&self, query: Query, take: Take<T>) -> Answer<Vec<(GatewayKey, T)>> {
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
    async fn query_all<T>(&self, query: Query, take: Take<T>) -> Answer<Vec<T>> {
        self.query_each(query, take)
            .await
            .map_value(|answers| answers.into_iter().map(|(_, v)| v).collect())
    }

    // ---- sending ----

    /// Sends `data` to one client.
    pub async fn send_to_client(
        &self,
        client: ClientId,
        data: impl Into<Bytes>,
    ) -> Result<(), ApiError> {
        let data = data.into();
        if let GatewayLink::Local(state) = self.link(client.gateway())? {
            state.send_to_client(client, data);
            return Ok(());
        }
        self.command(client.gateway(), ToGateway::SendToClient { client, data })
            .await
    }

    /// Closes a client, after sending `last` when given.
    pub async fn close_client(
        &self,
        client: ClientId,
        last: Option<Bytes>,
    ) -> Result<(), ApiError> {
        let last = last.unwrap_or_default();
        self.command(client.gateway(), ToGateway::CloseClient { client, last })
            .await
    }

    /// Sends to every client (or only to `only` when not empty), minus `exclude`, on every
    /// linked gateway. Returns the gateways that could not be reached.
    pub async fn send_to_all(
        &self,
        data: impl Into<Bytes>,
        only: &[ClientId],
        exclude: &[ClientId],
    ) -> Vec<ApiError> {
        let data = data.into();
        if only.is_empty() {
            return self
                .command_all(|key| ToGateway::SendToAll {
                    data: data.clone(),
                    only: Vec::new(),
                    exclude: exclude
                        .iter()
                        .filter(|c| c.gateway() == key)
                        .copied()
                        .collect(),
                })
                .await;
        }
        let mut by_gateway: BTreeMap<GatewayKey, Vec<ClientId>> = BTreeMap::new();
        for c in only.iter().filter(|c| !exclude.contains(c)) {
            by_gateway.entry(c.gateway()).or_default().push(*c);
        }
        let mut errors = Vec::new();
        for (key, clients) in by_gateway {
            let msg = ToGateway::SendToAll {
                data: data.clone(),
                only: clients,
                exclude: Vec::new(),
            };
            if let Err(e) = self.command(key, msg).await {
                errors.push(e);
            }
        }
        errors
    }

    /// Sends to every connection of each uid, on every gateway.
    pub async fn send_to_uid(&self, uids: &[&str], data: impl Into<Bytes>) -> Vec<ApiError> {
        let data = data.into();
        let uids: Vec<String> = uids.iter().map(|s| s.to_string()).collect();
        self.command_all(|_| ToGateway::SendToUid {
            uids: uids.clone(),
            data: data.clone(),
        })
        .await
    }

    /// Sends to every member of each group, minus `exclude`, on every gateway.
    pub async fn send_to_group(
        &self,
        groups: &[&str],
        data: impl Into<Bytes>,
        exclude: &[ClientId],
    ) -> Vec<ApiError> {
        let data = data.into();
        let groups: Vec<String> = groups.iter().map(|s| s.to_string()).collect();
        self.command_all(|key| ToGateway::SendToGroup {
            groups: groups.clone(),
            data: data.clone(),
            exclude: exclude
                .iter()
                .filter(|c| c.gateway() == key)
                .copied()
                .collect(),
        })
        .await
    }

    /// Closes every connection of `uid`, after sending `last` when given.
    pub async fn close_uid(&self, uid: &str, last: Option<Bytes>) -> Vec<ApiError> {
        let last = last.unwrap_or_default();
        self.command_all(|_| ToGateway::CloseUid {
            uid: uid.to_string(),
            last: last.clone(),
        })
        .await
    }

    // ---- binding and groups ----

    /// Binds `uid` to `client` (a client has one uid: binding again replaces it).
    pub async fn bind_uid(&self, client: ClientId, uid: &str) -> Result<(), ApiError> {
        let uid = uid.to_string();
        self.command(client.gateway(), ToGateway::BindUid { client, uid })
            .await
    }

    /// Unbinds `uid` from `client`.
    pub async fn unbind_uid(&self, client: ClientId, uid: &str) -> Result<(), ApiError> {
        let uid = uid.to_string();
        self.command(client.gateway(), ToGateway::UnbindUid { client, uid })
            .await
    }

    /// Adds `client` to `group`.
    pub async fn join_group(&self, client: ClientId, group: &str) -> Result<(), ApiError> {
        let group = group.to_string();
        self.command(client.gateway(), ToGateway::JoinGroup { client, group })
            .await
    }

    /// Removes `client` from `group`.
    pub async fn leave_group(&self, client: ClientId, group: &str) -> Result<(), ApiError> {
        let group = group.to_string();
        self.command(client.gateway(), ToGateway::LeaveGroup { client, group })
            .await
    }

    /// Empties `group` on every gateway.
    pub async fn ungroup(&self, group: &str) -> Vec<ApiError> {
        self.command_all(|_| ToGateway::Ungroup {
            group: group.to_string(),
        })
        .await
    }

    // ---- sessions ----

    /// Replaces a client's session.
    pub async fn set_session(
        &self,
        client: ClientId,
        session: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let session = Bytes::from(serde_json::to_vec(session).unwrap_or_default());
        self.command(client.gateway(), ToGateway::SetSession { client, session })
            .await
    }

    /// Sets the given keys of a client's session, keeping the others.
    pub async fn update_session(
        &self,
        client: ClientId,
        keys: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let session = Bytes::from(serde_json::to_vec(keys).unwrap_or_default());
        self.command(
            client.gateway(),
            ToGateway::UpdateSession { client, session },
        )
        .await
    }

    /// A client's session (None when the client is not connected).
    pub async fn get_session(&self, client: ClientId) -> Result<Option<Session>, ApiError> {
        self.query_one(client.gateway(), Query::Session(client), reply_as!(Session))
            .await
    }

    // ---- queries ----

    /// True when the client is connected.
    pub async fn is_online(&self, client: ClientId) -> Result<bool, ApiError> {
        self.query_one(
            client.gateway(),
            Query::IsOnline(client),
            reply_as!(IsOnline),
        )
        .await
    }

    /// The uid bound to a client.
    pub async fn get_uid_by_client_id(&self, client: ClientId) -> Result<Option<String>, ApiError> {
        let query = Query::UidOfClient(client);
        self.query_one(client.gateway(), query, reply_as!(UidOfClient))
            .await
    }

    /// Client ids of many uids at once (uids with no connection are absent).
    pub async fn get_client_ids_by_uids(
        &self,
        uids: &[&str],
    ) -> Answer<BTreeMap<String, Vec<ClientId>>> {
        let args = uids.iter().map(|s| s.to_string()).collect();
        self.query_all(Query::ClientsOfUids(args), reply_as!(ClientsOfUids))
            .await
            .map_value(|answers| {
                let mut out: BTreeMap<String, Vec<ClientId>> = BTreeMap::new();
                for (uid, list) in answers.into_iter().flatten() {
                    out.entry(uid).or_default().extend(list);
                }
                for v in out.values_mut() {
                    v.sort();
                }
                out
            })
    }

    /// Client ids bound to `uid`, across all gateways.
    pub async fn get_client_id_by_uid(&self, uid: &str) -> Answer<Vec<ClientId>> {
        self.get_client_ids_by_uids(&[uid])
            .await
            .map_value(|mut m| m.remove(uid).unwrap_or_default())
    }

    /// True when `uid` has at least one connection.
    pub async fn is_uid_online(&self, uid: &str) -> Answer<bool> {
        self.get_client_id_by_uid(uid)
            .await
            .map_value(|v| !v.is_empty())
    }

    /// Which of `uids` are online.
    pub async fn online_uids(&self, uids: &[&str]) -> Answer<Vec<String>> {
        self.get_client_ids_by_uids(uids)
            .await
            .map_value(|m| m.into_keys().collect())
    }

    /// The sorted union of every gateway's list.
    async fn union<T: Ord>(&self, query: Query, take: Take<Vec<T>>) -> Answer<Vec<T>> {
        self.query_all(query, take).await.map_value(|answers| {
            let set: BTreeSet<T> = answers.into_iter().flatten().collect();
            set.into_iter().collect()
        })
    }

    /// The merge of every gateway's sessions.
    async fn merged_sessions(
        &self,
        query: Query,
        take: Take<BTreeMap<ClientId, Session>>,
    ) -> Answer<BTreeMap<ClientId, Session>> {
        self.query_all(query, take)
            .await
            .map_value(|answers| answers.into_iter().flatten().collect())
    }

    /// Every bound uid.
    pub async fn get_all_uid_list(&self) -> Answer<Vec<String>> {
        self.union(Query::AllUids, reply_as!(AllUids)).await
    }

    /// Number of distinct bound uids.
    pub async fn get_all_uid_count(&self) -> Answer<usize> {
        self.get_all_uid_list().await.map_value(|v| v.len())
    }

    /// Every non-empty group.
    pub async fn get_all_group_id_list(&self) -> Answer<Vec<String>> {
        self.union(Query::AllGroups, reply_as!(AllGroups)).await
    }

    /// Client counts of many groups at once.
    pub async fn get_client_count_by_groups(
        &self,
        groups: &[&str],
    ) -> Answer<BTreeMap<String, usize>> {
        let args = groups.iter().map(|s| s.to_string()).collect();
        self.query_all(
            Query::ClientCountOfGroups(args),
            reply_as!(ClientCountOfGroups),
        )
        .await
        .map_value(|answers| {
            let mut out: BTreeMap<String, usize> =
                groups.iter().map(|g| (g.to_string(), 0)).collect();
            for (g, n) in answers.into_iter().flatten() {
                *out.entry(g).or_default() += n as usize;
            }
            out
        })
    }

    /// Number of clients in `group`.
    pub async fn get_client_id_count_by_group(&self, group: &str) -> Answer<usize> {
        self.get_client_count_by_groups(&[group])
            .await
            .map_value(|m| m.get(group).copied().unwrap_or(0))
    }

    /// Client ids in `group`.
    pub async fn get_client_id_list_by_group(&self, group: &str) -> Answer<Vec<ClientId>> {
        let query = Query::ClientsOfGroup(group.to_string());
        self.union(query, reply_as!(ClientsOfGroup)).await
    }

    /// Distinct uids of the clients in `group`.
    pub async fn get_uid_list_by_group(&self, group: &str) -> Answer<Vec<String>> {
        let query = Query::UidsOfGroup(group.to_string());
        self.union(query, reply_as!(UidsOfGroup)).await
    }

    /// Number of distinct uids in `group`.
    pub async fn get_uid_count_by_group(&self, group: &str) -> Answer<usize> {
        self.get_uid_list_by_group(group)
            .await
            .map_value(|v| v.len())
    }

    /// Sessions of the clients in `group`.
    pub async fn get_client_sessions_by_group(
        &self,
        group: &str,
    ) -> Answer<BTreeMap<ClientId, Session>> {
        let query = Query::SessionsOfGroup(group.to_string());
        self.merged_sessions(query, reply_as!(SessionsOfGroup))
            .await
    }

    /// Sessions of every client.
    pub async fn get_all_client_sessions(&self) -> Answer<BTreeMap<ClientId, Session>> {
        self.merged_sessions(Query::AllSessions, reply_as!(AllSessions))
            .await
    }

    /// Waits until every listed gateway has executed the commands sent before this call
    /// (each link is ordered, so an answered query proves it). Use before a program exits.
    pub async fn sync(&self) -> Answer<()> {
        self.query_all(Query::ClientCount, reply_as!(ClientCount))
            .await
            .map_value(|_| ())
    }

    /// Every connected client id.
    pub async fn get_all_client_id_list(&self) -> Answer<Vec<ClientId>> {
        self.union(Query::AllClients, reply_as!(AllClients)).await
    }

    /// Each gateway's live counts, in gateway order: clients, uids, groups, every traffic and
    /// overflow counter (`stats`), events held for no worker (`held`, `None` while the hold
    /// queue is busy; `held_overflows`) and the linked workers with their client counts.
    /// A gateway whose reply is not a status report counts as missing.
    pub async fn gateway_status(&self) -> Answer<Vec<(GatewayKey, StatusReport)>> {
        self.query_each(Query::Status, reply_as!(Status))
            .await
            .map_value(|answers| answers.into_iter().map(|(k, s)| (k, *s)).collect())
    }

    /// Number of connected clients.
    pub async fn get_all_client_id_count(&self) -> Answer<usize> {
        self.query_all(Query::ClientCount, reply_as!(ClientCount))
            .await
            .map_value(|answers| answers.iter().sum::<u64>() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_call_future_stays_small() {
        // Every handler's future holds its API calls' futures and is moved once or more per
        // event: with the link's send future inline, send_to_client was 648 bytes.
        let api = Api::new();
        let client: ClientId = "7f00000100010000002a".parse().unwrap();
        let send = api.send_to_client(client, Bytes::new());
        assert!(
            std::mem::size_of_val(&send) <= 128,
            "{}",
            std::mem::size_of_val(&send)
        );
    }

    /// An API linked to one fake gateway that answers every query with `reply`; the fake
    /// answers each query as it arrives, so no timer is involved.
    fn answered_with(reply: &'static [u8]) -> (Api, GatewayKey, ClientId) {
        let client: ClientId = "7f00000100010000002a".parse().unwrap();
        let key = client.gateway();
        let api = Api::new();
        let (tx, mut rx) = mpsc::channel(8);
        api.set_link(key, GatewayLink::Remote(tx));
        api.set_listed([key].into());
        let gateway = api.clone();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                if let ToGateway::Query { id, .. } = msg {
                    gateway.complete_query(id, Bytes::from_static(reply));
                }
            }
        });
        (api, key, client)
    }

    #[tokio::test]
    async fn a_garbled_reply_is_an_error_naming_the_gateway_not_a_null_answer() {
        for garbled in [&b"null"[..], b"{not json", b"[1, 2]"] {
            let (api, key, client) = answered_with(garbled);
            let err = api.is_online(client).await.unwrap_err();
            assert!(
                matches!(&err, ApiError::BadReply(k, e) if *k == key && e.kind == QueryKind::IsOnline),
                "{err}"
            );
            let count = api.get_all_client_id_count().await;
            assert!(!count.complete, "{count:?}");
            assert_eq!(count.missing, [key]);
        }
    }

    #[tokio::test]
    async fn a_well_formed_reply_is_read_as_the_type_of_the_query() {
        let (api, _, client) = answered_with(b"true");
        assert_eq!(api.is_online(client).await, Ok(true));
        let (api, key, _) = answered_with(b"3");
        let count = api.get_all_client_id_count().await;
        assert_eq!((count.value, count.complete), (3, true), "{key}");
    }
}
