//! Answers to queries about this gateway's own clients, typed (`proto::query`). The asker
//! merges the answers of all gateways (see `worker::api`).
//!
//! Over a link an answer goes in parts (`Parts`: lists and maps cut between items, sessions
//! read as their parts are taken), each part queued only when the peer's byte [`Budget`] has
//! room for it: a large answer streams at the pace the peer reads, and a peer that stops
//! reading is given up after [`link::WRITE_STALL`] (the caller closes it).

use super::client::ClientHandle;
use super::GatewayState;
use crate::budget::Budget;
use crate::client_id::ClientId;
use crate::counters::{Kind, Sample, Samples};
use crate::link;
use crate::proto::query::{Parts, Session, WorkerStatus, PART_BYTES};
use crate::proto::{FromGateway, Query, Reply, StatusReport, ToGateway};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// A `QueryReply` frame's bytes besides its JSON: length, kind, id, `more`, the JSON's length.
const REPLY_FRAME: usize = 4 + 1 + 8 + 1 + 4;

/// What a message for a worker or API link weighs against the peer's [`Budget`]: a part of an
/// answer, its frame; the rest (pongs, `Released`) is a few bytes and bounded by the queue's
/// length, so it weighs nothing.
pub fn reply_weight(m: &FromGateway) -> usize {
    match m {
        FromGateway::QueryReply { result, .. } => result.len() + REPLY_FRAME,
        _ => 0,
    }
}

/// Why a command from a link was not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unserved {
    /// An answer's part found no room in the peer's budget for [`link::WRITE_STALL`]: the
    /// peer reads too little, close it.
    Stalled,
    /// The link's writer is gone.
    Closed,
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

    /// The answer to one query in parts of about `max` bytes. Sessions are read as their part
    /// is taken (not cloned all at once); the other answers are small per item and built first.
    pub fn answer_parts(&self, query: &Query, max: usize) -> Parts<'_> {
        let conns = match query {
            Query::SessionsOfGroup(group) => self.group_members(group),
            Query::AllSessions => self.all_clients().iter().map(|c| c.id.conn).collect(),
            _ => return self.answer(query).into_parts(max),
        };
        let sessions = conns
            .into_iter()
            .filter_map(|c| self.client(self.id_of(c)))
            .map(|c| (c.id, session_of(&c)));
        Parts::map(sessions, max)
    }

    /// Serves a command from a worker or API link: executes it, or, for a query, queues its
    /// answer's parts on `tx`, each once `budget` has room for it.
    pub async fn answer_to(
        &self,
        msg: ToGateway,
        tx: &mpsc::Sender<FromGateway>,
        budget: &Budget,
    ) -> Result<(), Unserved> {
        let ToGateway::Query { id, query } = msg else {
            self.execute(msg);
            return Ok(());
        };
        let mut parts = self.answer_parts(&query, PART_BYTES);
        while let Some((result, more)) = parts.next_part() {
            let part = FromGateway::QueryReply {
                id,
                more: more.into(),
                result,
            };
            let weight = reply_weight(&part);
            if !budget.charge(weight, link::WRITE_STALL).await {
                return Err(Unserved::Stalled);
            }
            if tx.send(part).await.is_err() {
                return Err(Unserved::Closed);
            }
        }
        Ok(())
    }

    /// Logs and counts a worker or API link closed because it left what was queued for it
    /// (`queued` bytes) unread for [`link::WRITE_STALL`].
    pub(super) fn slow_link_closed(&self, role: &str, name: &str, peer: SocketAddr, queued: usize) {
        self.stats.slow_links_closed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            %peer,
            name,
            queued,
            "{role} link closed: it read nothing for {:?} while bytes waited for it",
            link::WRITE_STALL
        );
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
