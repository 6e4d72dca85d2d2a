//! A worker as one gateway sees it: where its events go (a link's queue, or an in-process
//! inbox), how many clients it has, and whether it is still up. The router picks among these;
//! each client's handle keeps its [`Assignment`].

use crate::delivery::{Accept, Acceptance, Inbox};
use crate::proto::FromGateway;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Where a worker's events go.
#[derive(Debug, Clone)]
pub enum WorkerSink {
    /// A worker in another process, through its link's bounded writer queue.
    Remote(mpsc::Sender<FromGateway>),
    /// A worker in this process (`devgate start`), straight into its handler queues.
    Local(Inbox),
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
}

impl WorkerSlot {
    /// True until the worker's link closes.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Hands `msg` to the worker, with the acceptance token `accept` makes if the worker is in
    /// this process; `Err` gives the event back.
    pub(super) async fn deliver(
        &self,
        msg: FromGateway,
        accept: impl FnOnce() -> Accept,
    ) -> Result<Acceptance, FromGateway> {
        match &self.sink {
            // Room in the queue is the usual case: no send future, no semaphore wait.
            // Routed to a remote worker counts as accepted until links carry acks.
            WorkerSink::Remote(tx) => match tx.try_send(msg) {
                Ok(()) => Ok(Acceptance::Accepted),
                Err(TrySendError::Full(msg)) => match tx.send(msg).await {
                    Ok(()) => Ok(Acceptance::Accepted),
                    Err(e) => Err(e.0),
                },
                Err(TrySendError::Closed(msg)) => Err(msg),
            },
            WorkerSink::Local(inbox) => inbox.deliver(msg, accept()).await,
        }
    }
}

/// The per-client worker assignment, kept in the client's handle.
pub type Assignment = Mutex<Option<Arc<WorkerSlot>>>;
