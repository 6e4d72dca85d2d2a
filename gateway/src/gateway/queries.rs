//! Answers to queries about this gateway's own clients, typed (`proto::query`). The asker
//! merges the answers of all gateways (see `worker::api`).

use super::client::ClientHandle;
use super::GatewayState;
use crate::client_id::ClientId;
use crate::counters::{Kind, Sample, Samples};
use crate::proto::query::{Session, WorkerStatus};
use crate::proto::{Query, Reply, StatusReport};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

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

    /// This gateway's live counts for `devgate status`.
    fn status(&self) -> StatusReport {
        let (uids, groups) = self.directory_counts();
        // Every sample of the process's registry, the rules pipeline's and the bridge's
        // included when a worker runs here; an unknown one (the busy hold queue) is left out.
        let stats = self
            .counters
            .samples()
            .into_iter()
            .filter_map(|s| Some((s.name.to_string(), s.value?)))
            .collect();
        StatusReport {
            gateway: self.key.to_string(),
            name: self.settings.name.clone(),
            uptime_secs: self.started.elapsed().as_secs(),
            clients: self.client_count() as u64,
            uids,
            groups,
            stats,
            // None while the hold queue is being flushed or routed into (its lock is async
            // and this answer is not): the next status reads it again.
            held: self.router.held_now().map(|n| n as u64),
            held_overflows: self.router.held_overflows.load(Ordering::Relaxed),
            workers: self
                .router
                .worker_loads()
                .into_iter()
                .map(|w| WorkerStatus {
                    id: w.id,
                    name: w.name,
                    clients: w.clients as u64,
                })
                .collect(),
        }
    }

    /// Distinct bound uids and non-empty groups.
    fn directory_counts(&self) -> (u64, u64) {
        let d = self.directory();
        (d.uids().count() as u64, d.groups().count() as u64)
    }
}

/// The gateway's samples: its traffic counters, its live counts, and the router's.
impl Samples for GatewayState {
    fn samples(&self, out: &mut Vec<Sample>) {
        self.stats.samples(out);
        let (uids, groups) = self.directory_counts();
        let gauges = [
            (
                "clients",
                "Live client connections.",
                self.client_count() as u64,
            ),
            ("uids", "Distinct uids bound to live clients.", uids),
            ("groups", "Groups with at least one member.", groups),
            (
                "uptime_seconds",
                "Seconds since the gateway started.",
                self.started.elapsed().as_secs(),
            ),
        ];
        for (name, help, value) in gauges {
            out.push(Sample {
                name,
                kind: Kind::Gauge,
                help,
                value: Some(value),
            });
        }
        self.router.samples(out);
    }
}
