//! Answers to queries about this gateway's own clients, typed (`proto::query`). The asker
//! merges the answers of all gateways (see `worker::api`).

use super::client::ClientHandle;
use super::GatewayState;
use crate::client_id::ClientId;
use crate::proto::query::{Session, WorkerStatus};
use crate::proto::{Query, Reply, StatusReport};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use super::router::WorkerLoad;

/// The numbers of one gateway that `devgate status` and the metrics page report, read once
/// (see [`GatewayState::snapshot`]) so both show the same data.
#[derive(Debug, Clone)]
pub struct StatusSnapshot {
    /// Seconds since the gateway started.
    pub uptime_secs: u64,
    /// Live clients.
    pub clients: usize,
    /// Distinct bound uids.
    pub uids: usize,
    /// Groups with at least one member.
    pub groups: usize,
    /// Connections accepted.
    pub accepted: u64,
    /// Messages decoded from clients.
    pub messages_in: u64,
    /// Messages queued to clients.
    pub messages_out: u64,
    /// Clients closed for bad input.
    pub protocol_errors: u64,
    /// Bad messages skipped with the stream kept.
    pub skipped: u64,
    /// Clients closed because their send buffer overflowed.
    pub overflow_closes: u64,
    /// Messages dropped under the drop-oldest policy.
    pub dropped_oldest: u64,
    /// Clients closed by the heartbeat.
    pub heartbeat_closes: u64,
    /// Clients closed because the worker refused one of their data events.
    pub refused_events: u64,
    /// Events held for want of a worker; `None` while the hold queue is busy (its lock is
    /// async and this read is not).
    pub held: Option<usize>,
    /// Events refused because the hold queue was full.
    pub held_overflows: u64,
    /// Connected workers and their client counts.
    pub workers: Vec<WorkerLoad>,
}

fn session_of(c: &ClientHandle) -> Session {
    let m = c.meta.lock().unwrap_or_else(|p| p.into_inner());
    m.as_ref()
        .map(|m| m.session.map().clone())
        .unwrap_or_default()
}

fn uid_of(c: &ClientHandle) -> Option<String> {
    let m = c.meta.lock().unwrap_or_else(|p| p.into_inner());
    m.as_ref().and_then(|m| m.uid.clone())
}

impl GatewayState {
    fn sessions(&self, conns: impl Iterator<Item = u32>) -> BTreeMap<ClientId, Session> {
        conns
            .filter_map(|c| self.client(self.id_of(c)))
            .map(|c| (c.id, session_of(&c)))
            .collect()
    }

    fn group_members(&self, group: &str) -> Vec<u32> {
        self.directory().members(group).collect()
    }

    /// The answer to one query.
    pub fn answer(&self, query: &Query) -> Reply {
        match query {
            Query::IsOnline(id) => Reply::IsOnline(self.client(*id).is_some()),
            Query::Session(id) => Reply::Session(self.client(*id).map(|c| session_of(&c))),
            Query::UidOfClient(id) => Reply::UidOfClient(self.client(*id).and_then(|c| uid_of(&c))),
            Query::ClientsOfUids(uids) => {
                let d = self.directory();
                let mut out = BTreeMap::new();
                for uid in uids {
                    let ids: Vec<ClientId> = d.clients_of_uid(uid).map(|c| self.id_of(c)).collect();
                    if !ids.is_empty() {
                        out.insert(uid.clone(), ids);
                    }
                }
                Reply::ClientsOfUids(out)
            }
            Query::AllUids => Reply::AllUids(self.directory().uids().cloned().collect()),
            Query::AllGroups => Reply::AllGroups(self.directory().groups().cloned().collect()),
            Query::ClientCountOfGroups(groups) => {
                let d = self.directory();
                Reply::ClientCountOfGroups(
                    groups
                        .iter()
                        .map(|g| (g.clone(), d.members(g).count() as u64))
                        .collect(),
                )
            }
            Query::ClientsOfGroup(group) => Reply::ClientsOfGroup(
                self.group_members(group)
                    .into_iter()
                    .map(|c| self.id_of(c))
                    .collect(),
            ),
            Query::UidsOfGroup(group) => {
                let uids: BTreeSet<String> = self
                    .group_members(group)
                    .into_iter()
                    .filter_map(|c| self.client(self.id_of(c)))
                    .filter_map(|c| uid_of(&c))
                    .collect();
                Reply::UidsOfGroup(uids.into_iter().collect())
            }
            Query::SessionsOfGroup(group) => {
                Reply::SessionsOfGroup(self.sessions(self.group_members(group).into_iter()))
            }
            Query::AllClients => {
                Reply::AllClients(self.all_clients().iter().map(|c| c.id).collect())
            }
            Query::AllSessions => {
                let conns: Vec<u32> = self.all_clients().iter().map(|c| c.id.conn).collect();
                Reply::AllSessions(self.sessions(conns.into_iter()))
            }
            Query::ClientCount => Reply::ClientCount(self.client_count() as u64),
            Query::Status => Reply::Status(Box::new(self.status())),
        }
    }

    /// Reads the numbers `devgate status` and the metrics page report. Counters are read one
    /// by one without a common lock, so they are each current but not a single atomic snapshot.
    pub fn snapshot(&self) -> StatusSnapshot {
        let (uids, groups) = {
            let d = self.directory();
            (d.uids().count(), d.groups().count())
        };
        let s = &self.stats;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatusSnapshot {
            uptime_secs: self.started.elapsed().as_secs(),
            clients: self.client_count(),
            uids,
            groups,
            accepted: n(&s.accepted),
            messages_in: n(&s.messages_in),
            messages_out: n(&s.messages_out),
            protocol_errors: n(&s.protocol_errors),
            skipped: n(&s.skipped),
            overflow_closes: n(&s.overflow_closes),
            dropped_oldest: n(&s.dropped_oldest),
            heartbeat_closes: n(&s.heartbeat_closes),
            refused_events: n(&s.refused_events),
            held: self.router.held_now(),
            held_overflows: n(&self.router.held_overflows),
            workers: self.router.worker_loads(),
        }
    }

    /// This gateway's live counts for `devgate status`.
    fn status(&self) -> StatusReport {
        let s = self.snapshot();
        let stats = [
            ("accepted", s.accepted),
            ("messages_in", s.messages_in),
            ("messages_out", s.messages_out),
            ("protocol_errors", s.protocol_errors),
            ("skipped", s.skipped),
            ("overflow_closes", s.overflow_closes),
            ("dropped_oldest", s.dropped_oldest),
            ("heartbeat_closes", s.heartbeat_closes),
            ("refused_events", s.refused_events),
        ];
        StatusReport {
            gateway: self.key.to_string(),
            name: self.settings.name.clone(),
            uptime_secs: s.uptime_secs,
            clients: s.clients as u64,
            uids: s.uids as u64,
            groups: s.groups as u64,
            stats: stats
                .into_iter()
                .map(|(name, n)| (name.to_string(), n))
                .collect(),
            // None while the hold queue is being flushed or routed into (its lock is async
            // and this answer is not): the next status reads it again.
            held: s.held.map(|n| n as u64),
            held_overflows: s.held_overflows,
            workers: s
                .workers
                .iter()
                .map(|w| WorkerStatus {
                    id: w.id,
                    name: w.name.clone(),
                    clients: w.clients as u64,
                })
                .collect(),
        }
    }
}
