//! A worker as one gateway sees it: where its events go (a link's queue, or an in-process
//! inbox), how many clients it has, whether it is still up, and, once it is not, the handover
//! of its clients' events to the workers that take them. The router picks among these; each
//! client's handle keeps its [`Assignment`].

use crate::client_id::ClientId;
use crate::delivery::{Accept, Acceptance, EventDone, Inbox};
use crate::proto::FromGateway;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// What routing and a worker link need of a client (the gateway's client handle implements
/// it; a trait so that a slot, which holds clients' events, does not depend on the client
/// module, which holds slots).
pub trait EventClient: EventDone {
    /// The client's id.
    fn id(&self) -> ClientId;
    /// Which worker its events go to.
    fn assignment(&self) -> &Assignment;
    /// Closes the client (a worker refused one of its events).
    fn close_now(&self);
}

/// One client event on its way to a worker: routed, held, sent and kept until acknowledged,
/// or handed over to another worker.
#[derive(Debug)]
pub struct ClientEvent {
    /// The client it is about.
    pub client: Arc<dyn EventClient>,
    /// The event.
    pub msg: FromGateway,
    /// The data event's number on its connection (0 for other events): its acceptance is
    /// reported to the client under this number.
    pub seq: u64,
    /// Whether the client waits for this event's acceptance when it goes to a worker in
    /// another process (a device-family ack held for it); an in-process worker reports every
    /// numbered event's acceptance, which costs it nothing.
    pub confirm: bool,
    /// Sent before to a worker that died without acknowledging it.
    pub redelivered: bool,
}

impl ClientEvent {
    /// Bytes this event costs while kept: its payload plus a fixed share for the rest.
    pub fn weight(&self) -> usize {
        const FIXED: usize = 96;
        FIXED
            + match &self.msg {
                FromGateway::Data { data, meta, .. } => {
                    data.len() + meta.as_ref().map_or(0, |m| m.uid.len() + m.session.len())
                }
                FromGateway::WebSocketConnect {
                    request, session, ..
                } => request.len() + session.len(),
                FromGateway::Close { uid, session, .. } => uid.len() + session.len(),
                _ => 0,
            }
    }
}

/// Where a worker's events go.
#[derive(Debug, Clone)]
pub enum WorkerSink {
    /// A worker in another process, through its link's bounded event queue (see
    /// `worker_link`: sent events are kept until the worker acknowledges them).
    Remote(mpsc::Sender<ClientEvent>),
    /// A worker in this process (`devgate start`), straight into its handler queues.
    Local(Inbox),
}

/// What becomes of the events of a worker's clients once the worker is no longer up.
#[derive(Debug, Default)]
pub(super) struct Handover {
    /// The worker's unacknowledged events are handed to the router: its clients may move.
    pub(super) done: bool,
    /// Events of its clients routed since it went down and before the handover: they go
    /// after the handed-over ones, so each client's order is kept.
    pub(super) waiting: VecDeque<ClientEvent>,
}

/// A connected worker as the gateway sees it.
#[derive(Debug)]
pub struct WorkerSlot {
    /// Unique within this gateway's lifetime.
    pub id: u64,
    /// The worker's name, for logs.
    pub name: String,
    pub(super) sink: WorkerSink,
    /// Clients whose events go to this worker.
    pub(super) clients: AtomicUsize,
    pub(super) alive: AtomicBool,
    pub(super) handover: Mutex<Handover>,
}

impl WorkerSlot {
    /// A live slot; an in-process worker has nothing to hand over when it goes.
    pub(super) fn new(id: u64, name: String, sink: WorkerSink) -> WorkerSlot {
        let done = matches!(sink, WorkerSink::Local(_));
        WorkerSlot {
            id,
            name,
            sink,
            clients: AtomicUsize::new(0),
            alive: AtomicBool::new(true),
            handover: Mutex::new(Handover {
                done,
                waiting: VecDeque::new(),
            }),
        }
    }

    /// True until the worker's link closes or the worker says it is leaving.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Hands `ev` to the worker; `Err` gives the event back when the worker is gone.
    pub(super) async fn deliver(&self, ev: ClientEvent) -> Result<Acceptance, ClientEvent> {
        match &self.sink {
            WorkerSink::Remote(tx) => {
                // Accepted once the worker acknowledges it, when the client waits for that.
                let acceptance = if ev.confirm && ev.seq != 0 {
                    Acceptance::Deferred
                } else {
                    Acceptance::Accepted
                };
                // Room in the queue is the usual case: no send future, no semaphore wait.
                match tx.try_send(ev) {
                    Ok(()) => Ok(acceptance),
                    Err(TrySendError::Full(ev)) => match tx.send(ev).await {
                        Ok(()) => Ok(acceptance),
                        Err(e) => Err(e.0),
                    },
                    Err(TrySendError::Closed(ev)) => Err(ev),
                }
            }
            WorkerSink::Local(inbox) => {
                let ClientEvent {
                    client,
                    msg,
                    seq,
                    confirm,
                    redelivered,
                } = ev;
                // Only an in-process worker takes the token; building it costs an Arc clone.
                let accept = match seq {
                    0 => Accept::inert(),
                    _ => Accept::new(client.clone(), seq),
                };
                inbox
                    .deliver(msg, accept, redelivered)
                    .await
                    .map_err(|msg| ClientEvent {
                        client,
                        msg,
                        seq,
                        confirm,
                        redelivered,
                    })
            }
        }
    }
}

/// The per-client worker assignment, kept in the client's handle.
pub type Assignment = Mutex<Option<Arc<WorkerSlot>>>;
