//! How an event reaches a worker in the gateway's own process, and how its acceptance comes
//! back: the contract between `gateway` (which delivers) and `worker` (which handles), kept
//! apart from both so that neither module depends on the other's internals.
//!
//! An [`Inbox`] is where a gateway hands a worker its events; the worker builds it (see
//! `worker::inbox`). A data event travels with an [`Accept`] token: the handler may keep it and
//! accept later, and the token reports to whatever [`EventDone`] the gateway put in it (the
//! client's connection).

use crate::client_id::ClientId;
use crate::proto::FromGateway;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Told whether a data event was accepted: implemented by the gateway's client handle.
pub trait EventDone: Send + Sync + std::fmt::Debug {
    /// Data event `seq` of this client was accepted (`true`) or refused (`false`).
    fn event_done(&self, seq: u64, accepted: bool);
}

/// The gateway's acceptance of one data event, taken by a handler that finishes the event
/// after its future returns (the `rules` handler: once the event's durable effects are flushed).
///
/// A device-family ack that confirms the event (and every later one of that client) leaves the
/// gateway only once the event is accepted. [`Accept::accept`] accepts it; [`Accept::refuse`],
/// or dropping the token without either, refuses it: the gateway closes the client, so the
/// device keeps what was not confirmed and sends it again on its next connection.
/// Over an internal link the worker's link reports the acceptance back to the gateway (see
/// `worker::completions`). A token for an event that needs no acceptance (connect and close
/// events in the gateway's process) is inert: both calls do nothing.
#[derive(Debug, Default)]
pub struct Accept {
    target: Option<AcceptTarget>,
}

/// Where an accept or refusal goes: data event `seq` of a client.
#[derive(Debug, Clone)]
pub(crate) struct AcceptTarget {
    client: Arc<dyn EventDone>,
    seq: u64,
}

impl AcceptTarget {
    fn finish(self, accepted: bool) {
        self.client.event_done(self.seq, accepted);
    }
}

impl Accept {
    /// A token that does nothing.
    pub fn inert() -> Accept {
        Accept::default()
    }

    /// A token for data event `seq`, reporting to `client`.
    pub(crate) fn new(client: Arc<dyn EventDone>, seq: u64) -> Accept {
        Accept {
            target: Some(AcceptTarget { client, seq }),
        }
    }

    /// Moves the report out of this token, leaving it inert.
    pub(crate) fn take_target(&mut self) -> Option<AcceptTarget> {
        self.target.take()
    }

    /// A token reporting to `target`.
    pub(crate) fn to(target: AcceptTarget) -> Accept {
        Accept {
            target: Some(target),
        }
    }

    /// Drops the token without reporting: the caller reports the acceptance its own way
    /// (the connection learns it from what routing returned).
    pub(crate) fn forget(mut self) {
        self.target = None;
    }

    /// Whether accepting or refusing this token has any effect.
    pub fn is_inert(&self) -> bool {
        self.target.is_none()
    }

    /// The event is handled: what depends on it may be confirmed to the device.
    pub fn accept(mut self) {
        if let Some(t) = self.target.take() {
            t.finish(true);
        }
    }

    /// The event could not be handled: the gateway closes the client (logged with `reason`).
    pub fn refuse(mut self, reason: &str) {
        if let Some(t) = self.target.take() {
            tracing::warn!("event refused by the worker: {reason}");
            t.finish(false);
        }
    }
}

impl Drop for Accept {
    fn drop(&mut self) {
        if let Some(t) = self.target.take() {
            t.finish(false);
        }
    }
}

/// Whether a delivered event is accepted yet (see [`Accept`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Accepted, or needs no acceptance: the handler returned without deferring.
    Accepted,
    /// The handler took the token, or the event was queued for a shard (which reports the
    /// token once the handler is done): its accept or refusal comes later.
    Deferred,
}

/// The event of a queued item that could not be queued, its token dropped unreported (the
/// caller keeps the event, and with it the duty to get it handled).
fn forget((msg, accept, _): Queued) -> FromGateway {
    accept.forget();
    msg
}

/// A handler run by the task that delivers the event; the flag says the event is redelivered.
pub type InlineHandler = dyn Fn(FromGateway, Accept, bool) -> Pin<Box<dyn Future<Output = Acceptance> + Send>>
    + Send
    + Sync;

/// An event queued for a handler shard: the event, its acceptance token, and whether it is
/// redelivered.
pub type Queued = (FromGateway, Accept, bool);

/// Where gateways deliver events for one worker.
#[derive(Clone)]
pub enum Inbox {
    /// Handler shards fed by bounded queues.
    Sharded(Arc<[mpsc::Sender<Queued>]>),
    /// The handler run by the deliverer itself.
    Inline(Arc<InlineHandler>),
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inbox::Sharded(s) => write!(f, "Inbox::Sharded({})", s.len()),
            Inbox::Inline(_) => write!(f, "Inbox::Inline"),
        }
    }
}

/// The client an event is about, if any.
pub(crate) fn client_of(msg: &FromGateway) -> Option<ClientId> {
    match msg {
        FromGateway::Connect { client, .. }
        | FromGateway::WebSocketConnect { client, .. }
        | FromGateway::Data { client, .. }
        | FromGateway::Identity { client, .. }
        | FromGateway::Close { client, .. } => Some(*client),
        _ => None,
    }
}

impl Inbox {
    /// Hands over an event with its acceptance token (inert when it needs none) and whether
    /// it is `redelivered`: queued on its client's shard, or handled at once inline. `Err`
    /// gives it back when the worker is gone.
    pub async fn deliver(
        &self,
        msg: FromGateway,
        accept: Accept,
        redelivered: bool,
    ) -> Result<Acceptance, FromGateway> {
        match self {
            Inbox::Inline(run) => Ok(run(msg, accept, redelivered).await),
            Inbox::Sharded(shards) => {
                // The token travels with the event: the shard reports it (see Acceptance).
                let idx = match client_of(&msg) {
                    Some(c) => {
                        let h = (c.conn as u64) ^ ((u32::from(c.ip) as u64) << 16) ^ c.port as u64;
                        (h % shards.len() as u64) as usize
                    }
                    None => 0,
                };
                // Room in the shard's queue is the usual case: no send future to poll.
                match shards[idx].try_send((msg, accept, redelivered)) {
                    Ok(()) => Ok(Acceptance::Deferred),
                    Err(TrySendError::Full(q)) => match shards[idx].send(q).await {
                        Ok(()) => Ok(Acceptance::Deferred),
                        Err(e) => Err(forget(e.0)),
                    },
                    Err(TrySendError::Closed(q)) => Err(forget(q)),
                }
            }
        }
    }
}
