//! Which worker gets a client's events, and the bounded hold queue used while none is up.
//!
//! A client stays on its worker while that worker lives (its events then stay in order); new
//! clients go to the worker with the fewest clients. With no worker connected, events wait in a
//! bounded queue (in arrival order) and are delivered when one connects; when that queue is
//! full the client whose event does not fit is closed, so the device reconnects and resends
//! instead of its data vanishing silently. GatewayWorker destroys the client at once instead.
//!
//! A data event travels with its number on the connection (`seq`, 0 for other events) so an
//! in-process worker can accept it later (see `acks`): `route` says whether it is accepted
//! already, and a held event's acceptance reaches the client through `ClientHandle::event_done`.

use super::client::ClientHandle;
use super::worker_slot::WorkerSlot;
use crate::counters::{Kind, Sample, Samples};
use crate::delivery::{Accept, Acceptance};
use crate::proto::FromGateway;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// One connected worker's load, as `Router::worker_loads` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerLoad {
    /// The slot id (unique within this gateway's lifetime; names may repeat).
    pub id: u64,
    /// The worker's name.
    pub name: String,
    /// Clients whose events go to this worker.
    pub clients: usize,
}

/// Outcome of routing one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    /// Handed to a worker, and accepted (or an event that needs no acceptance).
    Delivered,
    /// Handed to a worker whose handler deferred acceptance: it reaches the client through
    /// `ClientHandle::event_done`.
    Deferred,
    /// Held until a worker connects; a data event's acceptance reaches the client through
    /// `ClientHandle::event_done`.
    Held,
    /// The hold queue is full: the caller closes the client.
    Overflow,
}

/// The workers of one gateway and its hold queue.
#[derive(Debug)]
pub struct Router {
    workers: RwLock<Vec<Arc<WorkerSlot>>>,
    next_id: AtomicU64,
    held: tokio::sync::Mutex<VecDeque<Held>>,
    has_held: AtomicBool,
    held_max: usize,
    /// Events refused because the hold queue was full.
    pub held_overflows: AtomicU64,
}

/// The hold queue's and the workers' samples, for the counter registry.
impl Samples for Router {
    fn samples(&self, out: &mut Vec<Sample>) {
        out.push(Sample {
            name: "held_overflows",
            kind: Kind::Counter,
            help: "Events refused because the hold queue was full.",
            value: Some(self.held_overflows.load(Ordering::Relaxed)),
        });
        // Unknown while the hold queue is busy (its lock is async, this read is not): no
        // sample rather than a made-up one.
        out.push(Sample {
            name: "held",
            kind: Kind::Gauge,
            help: "Events held while no worker is linked.",
            value: self.held_now().map(|n| n as u64),
        });
        out.push(Sample {
            name: "workers",
            kind: Kind::Gauge,
            help: "Workers linked to this gateway.",
            value: Some(self.workers.read().unwrap_or_else(|p| p.into_inner()).len() as u64),
        });
    }
}

/// A held event: its client, the event, and its data event number (0 for other events).
type Held = (Arc<ClientHandle>, FromGateway, u64);

impl Router {
    /// A router holding at most `held_max` events while no worker is up.
    pub fn new(held_max: usize) -> Self {
        Router {
            workers: RwLock::new(Vec::new()),
            next_id: AtomicU64::new(1),
            held: tokio::sync::Mutex::new(VecDeque::new()),
            has_held: AtomicBool::new(false),
            held_max,
            held_overflows: AtomicU64::new(0),
        }
    }

    /// Adds a worker and delivers the held events to the workers now up.
    pub async fn add_worker(
        &self,
        name: String,
        sink: super::worker_slot::WorkerSink,
    ) -> Arc<WorkerSlot> {
        let slot = Arc::new(WorkerSlot {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            name,
            sink,
            clients: AtomicUsize::new(0),
            alive: AtomicBool::new(true),
        });
        self.workers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(slot.clone());
        self.flush_held().await;
        slot
    }

    /// Removes a worker whose link closed; its clients move on their next event.
    pub fn remove_worker(&self, id: u64) {
        let mut w = self.workers.write().unwrap_or_else(|p| p.into_inner());
        w.retain(|s| {
            if s.id == id {
                s.alive.store(false, Ordering::Release);
            }
            s.id != id
        });
    }

    /// Number of connected workers.
    pub fn worker_count(&self) -> usize {
        self.workers.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Events waiting for a worker.
    pub async fn held_count(&self) -> usize {
        self.held.lock().await.len()
    }

    /// Events waiting for a worker, without waiting: None while another task holds the queue
    /// (a flush or a routing step in progress), for callers that cannot await (`status`).
    pub fn held_now(&self) -> Option<usize> {
        self.held.try_lock().ok().map(|h| h.len())
    }

    /// The connected workers and how many clients each is assigned (a snapshot, for status).
    pub fn worker_loads(&self) -> Vec<WorkerLoad> {
        let w = self.workers.read().unwrap_or_else(|p| p.into_inner());
        w.iter()
            .map(|s| WorkerLoad {
                id: s.id,
                name: s.name.clone(),
                clients: s.clients.load(Ordering::Relaxed),
            })
            .collect()
    }

    fn least_loaded(&self) -> Option<Arc<WorkerSlot>> {
        let w = self.workers.read().unwrap_or_else(|p| p.into_inner());
        w.iter()
            .filter(|s| s.is_alive())
            .min_by_key(|s| s.clients.load(Ordering::Relaxed))
            .cloned()
    }

    /// The client's live worker, assigning the least-loaded one when it has none.
    fn worker_for(&self, client: &ClientHandle) -> Option<Arc<WorkerSlot>> {
        let mut a = client.worker.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = a.as_ref().filter(|s| s.is_alive()) {
            return Some(s.clone());
        }
        if let Some(old) = a.take() {
            old.clients.fetch_sub(1, Ordering::Relaxed);
        }
        let s = self.least_loaded()?;
        s.clients.fetch_add(1, Ordering::Relaxed);
        *a = Some(s.clone());
        Some(s)
    }

    /// Sends to the client's worker; `Err` gives the event back when no worker is up.
    async fn deliver_now(
        &self,
        client: &Arc<ClientHandle>,
        mut msg: FromGateway,
        seq: u64,
    ) -> Result<Acceptance, FromGateway> {
        loop {
            let Some(slot) = self.worker_for(client) else {
                return Err(msg);
            };
            // Only an in-process worker takes the token; building it costs an Arc clone.
            let accept = || match seq {
                0 => Accept::inert(),
                _ => Accept::new(client.clone(), seq),
            };
            match slot.deliver(msg, accept).await {
                Ok(a) => return Ok(a),
                Err(back) => {
                    // The worker went away while we sent: forget it and try another.
                    self.remove_worker(slot.id);
                    msg = back;
                }
            }
        }
    }

    /// Routes one event of `client`, keeping the client's events in order; `seq` numbers a
    /// data event on its connection (from 1), 0 for any other event.
    pub async fn route(&self, client: &Arc<ClientHandle>, msg: FromGateway, seq: u64) -> Routed {
        let msg = if self.has_held.load(Ordering::Acquire) {
            let mut held = self.held.lock().await;
            if !held.is_empty() {
                return self.hold(&mut held, client, msg, seq);
            }
            self.has_held.store(false, Ordering::Release);
            match self.deliver_now(client, msg, seq).await {
                Ok(a) => return delivered(a),
                Err(msg) => return self.hold(&mut held, client, msg, seq),
            }
        } else {
            match self.deliver_now(client, msg, seq).await {
                Ok(a) => return delivered(a),
                Err(msg) => msg,
            }
        };
        let mut held = self.held.lock().await;
        self.hold(&mut held, client, msg, seq)
    }

    fn hold(
        &self,
        held: &mut VecDeque<Held>,
        client: &Arc<ClientHandle>,
        msg: FromGateway,
        seq: u64,
    ) -> Routed {
        if held.len() >= self.held_max {
            self.held_overflows.fetch_add(1, Ordering::Relaxed);
            return Routed::Overflow;
        }
        held.push_back((client.clone(), msg, seq));
        self.has_held.store(true, Ordering::Release);
        Routed::Held
    }

    /// Delivers held events in order while a worker is up.
    async fn flush_held(&self) {
        let mut held = self.held.lock().await;
        while let Some((client, msg, seq)) = held.pop_front() {
            match self.deliver_now(&client, msg, seq).await {
                // The connection counted this event pending when it was held: tell it. A
                // deferred one is reported by its token.
                Ok(Acceptance::Accepted) if seq != 0 => client.event_done(seq, true),
                Ok(_) => {}
                Err(msg) => {
                    held.push_front((client, msg, seq));
                    return;
                }
            }
        }
        self.has_held.store(false, Ordering::Release);
    }

    /// Forgets the client's assignment when it closes.
    pub fn release(&self, client: &ClientHandle) {
        let mut a = client.worker.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = a.take() {
            old.clients.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn delivered(a: Acceptance) -> Routed {
    match a {
        Acceptance::Accepted => Routed::Delivered,
        Acceptance::Deferred => Routed::Deferred,
    }
}
