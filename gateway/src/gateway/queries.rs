//! Answers to `Query` messages about this gateway's own clients, as JSON. The asker merges the
//! answers of all gateways (see `worker::api`).

use super::client::ClientHandle;
use super::GatewayState;
use crate::client_id::ClientId;
use crate::proto::QueryKind;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
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

fn session_of(c: &ClientHandle) -> Value {
    let m = c.meta.lock().unwrap_or_else(|p| p.into_inner());
    Value::Object(
        m.as_ref()
            .map(|m| m.session.map().clone())
            .unwrap_or_default(),
    )
}

impl GatewayState {
    fn local(&self, arg: Option<&String>) -> Option<std::sync::Arc<ClientHandle>> {
        self.client(arg?.parse::<ClientId>().ok()?)
    }

    fn sessions(&self, conns: impl Iterator<Item = u32>) -> Value {
        let mut out = Map::new();
        for c in conns.filter_map(|c| self.client(self.id_of(c))) {
            out.insert(c.id.to_string(), session_of(&c));
        }
        Value::Object(out)
    }

    /// The answer to one query; unknown kinds answer null.
    pub fn answer(&self, kind: u8, args: &[String]) -> Value {
        let Some(kind) = QueryKind::from_u8(kind) else {
            return Value::Null;
        };
        let first = args.first();
        match kind {
            QueryKind::IsOnline => json!(self.local(first).is_some()),
            QueryKind::Session => self
                .local(first)
                .map(|c| session_of(&c))
                .unwrap_or(Value::Null),
            QueryKind::UidOfClient => self
                .local(first)
                .and_then(|c| {
                    let m = c.meta.lock().unwrap_or_else(|p| p.into_inner());
                    m.as_ref().and_then(|m| m.uid.clone())
                })
                .map(Value::String)
                .unwrap_or(Value::Null),
            QueryKind::ClientsOfUids => {
                let d = self.directory();
                let mut out = Map::new();
                for uid in args {
                    let ids: Vec<Value> = d
                        .clients_of_uid(uid)
                        .map(|c| json!(self.id_of(c).to_string()))
                        .collect();
                    if !ids.is_empty() {
                        out.insert(uid.clone(), Value::Array(ids));
                    }
                }
                Value::Object(out)
            }
            QueryKind::AllUids => json!(self.directory().uids().collect::<Vec<_>>()),
            QueryKind::AllGroups => json!(self.directory().groups().collect::<Vec<_>>()),
            QueryKind::ClientCountOfGroups => {
                let d = self.directory();
                let out: Map<String, Value> = args
                    .iter()
                    .map(|g| (g.clone(), json!(d.members(g).count())))
                    .collect();
                Value::Object(out)
            }
            QueryKind::ClientsOfGroup => {
                let d = self.directory();
                let ids: Vec<String> = first
                    .map(|g| d.members(g).map(|c| self.id_of(c).to_string()).collect())
                    .unwrap_or_default();
                json!(ids)
            }
            QueryKind::UidsOfGroup => {
                let conns: Vec<u32> = first
                    .map(|g| self.directory().members(g).collect())
                    .unwrap_or_default();
                let uids: BTreeSet<String> = conns
                    .into_iter()
                    .filter_map(|c| self.client(self.id_of(c)))
                    .filter_map(|c| {
                        let m = c.meta.lock().unwrap_or_else(|p| p.into_inner());
                        m.as_ref().and_then(|m| m.uid.clone())
                    })
                    .collect();
                json!(uids)
            }
            QueryKind::SessionsOfGroup => {
                let conns: Vec<u32> = first
                    .map(|g| self.directory().members(g).collect())
                    .unwrap_or_default();
                self.sessions(conns.into_iter())
            }
            QueryKind::AllClients => json!(self
                .all_clients()
                .iter()
                .map(|c| c.id.to_string())
                .collect::<Vec<_>>()),
            QueryKind::AllSessions => {
                let conns: Vec<u32> = self.all_clients().iter().map(|c| c.id.conn).collect();
                self.sessions(conns.into_iter())
            }
            QueryKind::ClientCount => json!(self.client_count()),
            QueryKind::Status => self.status(),
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
    fn status(&self) -> Value {
        let s = self.snapshot();
        let workers: Vec<Value> = s
            .workers
            .iter()
            .map(|w| json!({"id": w.id, "name": w.name, "clients": w.clients}))
            .collect();
        json!({
            "gateway": self.key.to_string(),
            "name": self.settings.name,
            "uptime_secs": s.uptime_secs,
            "clients": s.clients,
            "uids": s.uids,
            "groups": s.groups,
            "stats": {
                "accepted": s.accepted,
                "messages_in": s.messages_in,
                "messages_out": s.messages_out,
                "protocol_errors": s.protocol_errors,
                "skipped": s.skipped,
                "overflow_closes": s.overflow_closes,
                "dropped_oldest": s.dropped_oldest,
                "heartbeat_closes": s.heartbeat_closes,
                "refused_events": s.refused_events,
            },
            // null while the hold queue is being flushed or routed into (its lock is async
            // and this answer is not): the next status reads it again.
            "held": s.held,
            "held_overflows": s.held_overflows,
            "workers": workers,
        })
    }
}
