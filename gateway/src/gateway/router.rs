//! Which worker gets a client's events, and the bounded hold queue used while none is up.
//!
//! A client stays on its worker while that worker lives (its events then stay in order); new
//! clients go to the worker with the fewest clients. With no worker connected, events wait in a
//! bounded queue (in arrival order) and are delivered when one connects; when that queue is
//! full the client whose event does not fit is closed, so the device reconnects and resends
//! instead of its data vanishing silently. GatewayWorker destroys the client at once instead.
//!
//! A data event travels with its number on the connection (`seq`, 0 for other events) so a
//! worker can accept it later (see `acks`): `route` says whether it is accepted already, and a
//! held or deferred event's acceptance reaches the client through `ClientHandle::event_done`.
//!
//! **Handover.** When a worker's link dies (or the worker leaves), its clients' events that it
//! never acknowledged are put at the front of the hold queue, marked redelivered, followed by
//! the ones still queued for it and by those its clients routed in the meantime (which wait in
//! the slot until then): delivered in that order to the workers now up, each client's events
//! stay in order, and no client moves to another worker before its old events have.

use super::client::ClientHandle;
use super::worker_slot::{ClientEvent, WorkerSink, WorkerSlot};
use crate::counters::{Kind, Sample, Samples};
use crate::delivery::Acceptance;
use crate::proto::FromGateway;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    held: tokio::sync::Mutex<VecDeque<ClientEvent>>,
    has_held: AtomicBool,
    held_max: usize,
    /// Events refused because the hold queue was full.
    pub held_overflows: AtomicU64,
    /// Events handed to another worker after theirs died without acknowledging them.
    pub redelivered: AtomicU64,
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
        out.push(Sample {
            name: "redelivered",
            kind: Kind::Counter,
            help: "Events redelivered to another worker after theirs died without acknowledging them.",
            value: Some(self.redelivered.load(Ordering::Relaxed)),
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

/// What became of one delivery attempt.
enum Outcome {
    /// Handed to a worker.
    Delivered(Acceptance),
    /// The client's worker is down and its events not yet handed over: this one waits in the
    /// old worker's slot and goes after them.
    Waiting,
    /// Too many events wait for that handover: the caller closes the client.
    Overflow,
    /// No worker can take it now: the caller holds it.
    Back(ClientEvent),
}

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
            redelivered: AtomicU64::new(0),
        }
    }

    /// Adds a worker and delivers the held events to the workers now up.
    pub async fn add_worker(&self, name: String, sink: WorkerSink) -> Arc<WorkerSlot> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(WorkerSlot::new(id, name, sink));
        self.workers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(slot.clone());
        self.flush_held().await;
        slot
    }

    /// Takes a worker out of routing (its link closed, or it is leaving): no client is given
    /// to it any more, and its clients' new events wait for its handover.
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

    /// The client's live worker, assigning the least-loaded one when it has none. An event of
    /// a client whose worker is down waits in that worker's slot until its handover is done
    /// (`Err(Waiting)`); after it, the client moves, unless the handed-over events are still
    /// in the hold queue and the caller is not the hold queue's flush (`Err(Back)`).
    fn worker_for(
        &self,
        ev: ClientEvent,
        from_held: bool,
    ) -> Result<(Arc<WorkerSlot>, ClientEvent), Outcome> {
        let client = ev.client.clone();
        let mut a = client
            .assignment()
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(s) = a.as_ref().cloned() {
            if s.is_alive() {
                drop(a);
                return Ok((s, ev));
            }
            {
                let mut h = s.handover.lock().unwrap_or_else(|p| p.into_inner());
                if !h.done {
                    if h.waiting.len() >= self.held_max {
                        self.held_overflows.fetch_add(1, Ordering::Relaxed);
                        return Err(Outcome::Overflow);
                    }
                    h.waiting.push_back(ev);
                    return Err(Outcome::Waiting);
                }
            }
            if !from_held && self.has_held.load(Ordering::Acquire) {
                // Its handed-over events may still be held: go behind them.
                return Err(Outcome::Back(ev));
            }
            s.clients.fetch_sub(1, Ordering::Relaxed);
            *a = None;
        }
        let Some(s) = self.least_loaded() else {
            drop(a);
            return Err(Outcome::Back(ev));
        };
        s.clients.fetch_add(1, Ordering::Relaxed);
        *a = Some(s.clone());
        drop(a);
        Ok((s, ev))
    }

    /// Sends to the client's worker, or says why not.
    async fn deliver_now(&self, mut ev: ClientEvent, from_held: bool) -> Outcome {
        loop {
            let (slot, e) = match self.worker_for(ev, from_held) {
                Ok(x) => x,
                Err(o) => return o,
            };
            match slot.deliver(e).await {
                Ok(a) => return Outcome::Delivered(a),
                Err(back) => {
                    // The worker went away while we sent: its link's handover takes over (a
                    // remote link marks its slot down before it closes the queue).
                    if slot.is_alive() {
                        self.remove_worker(slot.id);
                    }
                    ev = back;
                }
            }
        }
    }

    /// Routes one event of `client`, keeping the client's events in order; `seq` numbers a
    /// data event on its connection (from 1), 0 for any other event; `confirm`: a device
    /// confirmation waits for this event (see [`ClientEvent::confirm`]).
    pub async fn route(
        &self,
        client: &Arc<ClientHandle>,
        msg: FromGateway,
        seq: u64,
        confirm: bool,
    ) -> Routed {
        let ev = ClientEvent {
            client: client.clone(),
            msg,
            seq,
            confirm,
            redelivered: false,
        };
        let ev = if self.has_held.load(Ordering::Acquire) {
            let mut held = self.held.lock().await;
            if !held.is_empty() {
                // Held while a worker is up: an event that came back from a dying link after
                // its handover was flushed. It goes first, to the worker now up.
                self.flush_locked(&mut held).await;
            }
            if !held.is_empty() {
                return self.hold(&mut held, ev);
            }
            self.has_held.store(false, Ordering::Release);
            match self.deliver_now(ev, false).await {
                Outcome::Back(ev) => return self.hold(&mut held, ev),
                o => return routed(o),
            }
        } else {
            match self.deliver_now(ev, false).await {
                Outcome::Back(ev) => ev,
                o => return routed(o),
            }
        };
        let mut held = self.held.lock().await;
        self.hold(&mut held, ev)
    }

    fn hold(&self, held: &mut VecDeque<ClientEvent>, ev: ClientEvent) -> Routed {
        if held.len() >= self.held_max {
            self.held_overflows.fetch_add(1, Ordering::Relaxed);
            return Routed::Overflow;
        }
        held.push_back(ev);
        self.has_held.store(true, Ordering::Release);
        Routed::Held
    }

    /// Hands over the events of a worker that is out of routing (see [`Router::remove_worker`]):
    /// `unacked` (sent, never acknowledged: marked redelivered), then `unsent` (still in its
    /// queue), then what its clients routed since, go to the front of the hold queue, oldest
    /// first, and on to the workers now up. Its clients may move afterwards.
    pub async fn hand_over(
        &self,
        slot: &WorkerSlot,
        unacked: Vec<ClientEvent>,
        unsent: Vec<ClientEvent>,
    ) {
        self.redelivered
            .fetch_add(unacked.len() as u64, Ordering::Relaxed);
        let mut held = self.held.lock().await;
        {
            let mut h = slot.handover.lock().unwrap_or_else(|p| p.into_inner());
            let waiting = std::mem::take(&mut h.waiting);
            let unacked = unacked.into_iter().map(|mut ev| {
                ev.redelivered = true;
                ev
            });
            let all: Vec<ClientEvent> = unacked.chain(unsent).chain(waiting).collect();
            for ev in all.into_iter().rev() {
                held.push_front(ev);
            }
            if !held.is_empty() {
                self.has_held.store(true, Ordering::Release);
            }
            h.done = true;
        }
        // Delivered before the lock is let go: the handed-over events may be more than the
        // hold queue's bound, and a client routing meanwhile must not find it full (and be
        // closed) while workers are up to take them.
        self.flush_locked(&mut held).await;
    }

    /// Delivers held events in order while a worker is up.
    async fn flush_held(&self) {
        let mut held = self.held.lock().await;
        self.flush_locked(&mut held).await;
    }

    /// [`Router::flush_held`] with the hold queue's lock already taken.
    async fn flush_locked(&self, held: &mut VecDeque<ClientEvent>) {
        while let Some(ev) = held.pop_front() {
            let (client, seq) = (ev.client.clone(), ev.seq);
            match self.deliver_now(ev, true).await {
                // The connection counted this event pending when it was held: tell it. A
                // deferred one is reported by its token or its link's acknowledgement.
                Outcome::Delivered(Acceptance::Accepted) if seq != 0 => {
                    client.event_done(seq, true)
                }
                Outcome::Delivered(_) | Outcome::Waiting => {}
                Outcome::Overflow => client.event_done(seq, false),
                Outcome::Back(ev) => {
                    held.push_front(ev);
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

fn routed(o: Outcome) -> Routed {
    match o {
        Outcome::Delivered(Acceptance::Accepted) => Routed::Delivered,
        Outcome::Delivered(Acceptance::Deferred) => Routed::Deferred,
        Outcome::Waiting | Outcome::Back(_) => Routed::Held,
        Outcome::Overflow => Routed::Overflow,
    }
}

#[cfg(test)]
mod tests;
