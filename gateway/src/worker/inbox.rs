//! A worker's inbox. For events arriving over links, events are spread over handler shards by
//! client id, so one client's events are handled in order while different clients run
//! concurrently; each shard has a bounded queue and a full shard makes the sender wait
//! (back-pressure up to the gateway). A worker in the gateway's own process (`devgate start`)
//! runs the handler inline instead, in the client's connection task: still in order, one at a
//! time per client, panics still caught, but with no queue and no task switch per event.
//!
//! An event comes with its [`Accept`] token: the handler may take it (`Context::defer_accept`)
//! and accept later; otherwise the event is accepted when the handler returns. Inline, `deliver`
//! reports that as [`Acceptance::Accepted`] without touching the client; a shard accepts the
//! token itself (over a link, it reports to the link's completions).

use super::api::Api;
use super::handler::{Context, EventHandler, Incoming};
use crate::delivery::{client_of, Accept, Acceptance, Inbox, Queued};
use crate::proto::FromGateway;
use futures_util::FutureExt;
use serde_json::{Map, Value};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Events queued per shard before senders wait.
const SHARD_QUEUE: usize = 4096;

impl Inbox {
    /// Starts `shards` handler tasks running `handler` and returns their inbox.
    pub fn start<H: EventHandler>(handler: Arc<H>, api: Api, shards: usize) -> Inbox {
        let senders: Vec<_> = (0..shards.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(SHARD_QUEUE);
                tokio::spawn(shard(handler.clone(), api.clone(), rx));
                tx
            })
            .collect();
        Inbox::Sharded(senders.into())
    }

    /// An inbox that runs `handler` in the task that delivers the event.
    pub fn inline<H: EventHandler>(handler: Arc<H>, api: Api) -> Inbox {
        Inbox::Inline(Arc::new(move |msg, accept, redelivered| {
            let handler = handler.clone();
            let api = api.clone();
            Box::pin(async move {
                handle_one(handler.as_ref(), &api, msg, accept, redelivered, false).await
            })
        }))
    }
}

async fn shard<H: EventHandler>(handler: Arc<H>, api: Api, mut rx: mpsc::Receiver<Queued>) {
    while let Some((msg, accept, redelivered)) = rx.recv().await {
        handle_one(handler.as_ref(), &api, msg, accept, redelivered, true).await;
    }
}

/// Runs the handler for one event, catching and logging a panic; says whether the event is
/// accepted (a handler that did not defer accepts on return, also when it panicked). With
/// `report`, an event accepted on return is reported through its token too.
async fn handle_one<H: EventHandler>(
    handler: &H,
    api: &Api,
    msg: FromGateway,
    accept: Accept,
    redelivered: bool,
    report: bool,
) -> Acceptance {
    {
        let Some(client_id) = client_of(&msg) else {
            if report {
                accept.accept();
            } else {
                accept.forget();
            }
            return Acceptance::Accepted;
        };
        let (uid, session) = match &msg {
            FromGateway::Data { meta: Some(m), .. } => {
                (non_empty(&m.uid), parse_session(&m.session))
            }
            FromGateway::Close { uid, session, .. } => (non_empty(uid), parse_session(session)),
            FromGateway::WebSocketConnect { session, .. } => (None, parse_session(session)),
            FromGateway::Identity { uid, .. } => (non_empty(uid), Map::new()),
            _ => (None, Map::new()),
        };
        let mut cx = Context::new(client_id, api, uid, session);
        cx.set_accept(accept);
        cx.redelivered = redelivered;
        cx.protocol = match &msg {
            FromGateway::Connect { protocol, .. } => Some(protocol.as_str().into()),
            FromGateway::Data { protocol, .. } | FromGateway::Close { protocol, .. } => {
                Some(protocol.clone())
            }
            _ => None,
        };
        let run = dispatch(handler, &cx, msg);
        if let Err(panic) = AssertUnwindSafe(run).catch_unwind().await {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into());
            tracing::error!(client = %client_id, "handler panicked: {what}; the worker goes on");
        }
        // Not deferred: accepted now, and the caller tells the connection (a report through
        // the client handle would cost a lock and a wake-up per event).
        if cx.deferred() {
            Acceptance::Deferred
        } else {
            if report {
                cx.accept_now();
            }
            Acceptance::Accepted
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn parse_session(b: &[u8]) -> Map<String, Value> {
    if b.is_empty() {
        return Map::new();
    }
    serde_json::from_slice(b).unwrap_or_default()
}

async fn dispatch<H: EventHandler>(handler: &H, cx: &Context<'_>, msg: FromGateway) {
    match msg {
        FromGateway::Connect { .. } => handler.on_connect(cx).await,
        FromGateway::WebSocketConnect { request, .. } => {
            match serde_json::from_slice::<codecs::HandshakeRequest>(&request) {
                Ok(req) => handler.on_websocket_connect(cx, &req).await,
                Err(e) => tracing::warn!(client = %cx.client_id, "bad websocket request: {e}"),
            }
        }
        FromGateway::Data { data, meta, .. } => {
            let fields = meta.and_then(|m| m.fields.into_value());
            handler.on_message(cx, Incoming { data, fields }).await
        }
        FromGateway::Identity { uid, .. } => handler.on_identity(cx, &uid).await,
        FromGateway::Close { .. } => handler.on_close(cx).await,
        _ => {}
    }
}
