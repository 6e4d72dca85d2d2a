//! The GatewayWorker-style API, for handlers and for any program that is not a worker
//! ([`StandaloneApi`](crate::StandaloneApi)).
//!
//! Commands go to the gateway that owns a client (found from the client_id itself) or to every
//! gateway (uid, group and broadcast operations). Queries fan out to every listed gateway at
//! once and wait at most `query_timeout`; each reply is read as the type of what was asked
//! (`proto::query`). The [`Answer`] says whether every gateway answered and names those that
//! did not (or answered garbled), so a partial result is never silent.
//!
//! This file holds the API's calls. `links` is the link table (the gateways listed, the link to
//! each, handing a command to one), `fanout` asks gateways and merges their answers (the
//! pending-query table, the timeout, typed replies), `error` says why a call failed.

mod error;
mod fanout;
mod links;
#[cfg(test)]
mod tests;

pub use error::ApiError;
pub use fanout::{Answer, DEFAULT_QUERY_TIMEOUT};
pub use links::GatewayLink;

use crate::client_id::{ClientId, GatewayKey};
use crate::proto::query::Session;
use crate::proto::{Query, Reply, StatusReport, ToGateway};
use bytes::Bytes;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default)]
struct Inner {
    links: links::Links,
    queries: fanout::Queries,
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

impl Api {
    /// An API with no gateway yet (links are added as gateways are found).
    pub fn new() -> Self {
        Api {
            inner: Arc::new(Inner::default()),
        }
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
