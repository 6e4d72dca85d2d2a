//! A worker's inbox: events are spread over handler shards by client id, so one client's
//! events are handled in order while different clients run concurrently. Each shard has a
//! bounded queue; a full shard makes the sender wait (back-pressure up to the gateway).

use super::api::Api;
use super::handler::{Context, EventHandler, Incoming};
use crate::client_id::ClientId;
use crate::proto::Message;
use futures_util::FutureExt;
use serde_json::{Map, Value};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Events queued per shard before senders wait.
const SHARD_QUEUE: usize = 4096;

/// Where gateways deliver events for one worker.
#[derive(Debug, Clone)]
pub struct Inbox {
    shards: Arc<[mpsc::Sender<Message>]>,
}

fn client_of(msg: &Message) -> Option<ClientId> {
    match msg {
        Message::Connect { client, .. }
        | Message::WebSocketConnect { client, .. }
        | Message::Data { client, .. }
        | Message::Identity { client, .. }
        | Message::Close { client, .. } => Some(*client),
        _ => None,
    }
}

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
        Inbox {
            shards: senders.into(),
        }
    }

    /// Queues an event on its client's shard; `Err` gives it back when the worker is gone.
    pub async fn deliver(&self, msg: Message) -> Result<(), Message> {
        let idx = match client_of(&msg) {
            Some(c) => {
                let h = (c.conn as u64) ^ ((u32::from(c.ip) as u64) << 16) ^ c.port as u64;
                (h % self.shards.len() as u64) as usize
            }
            None => 0,
        };
        self.shards[idx].send(msg).await.map_err(|e| e.0)
    }
}

async fn shard<H: EventHandler>(handler: Arc<H>, api: Api, mut rx: mpsc::Receiver<Message>) {
    while let Some(msg) = rx.recv().await {
        let Some(client_id) = client_of(&msg) else {
            continue;
        };
        let (uid, session) = match &msg {
            Message::Data { uid, session, .. } | Message::Close { uid, session, .. } => {
                (non_empty(uid), parse_session(session))
            }
            Message::WebSocketConnect { session, .. } => (None, parse_session(session)),
            Message::Identity { uid, .. } => (non_empty(uid), Map::new()),
            _ => (None, Map::new()),
        };
        let cx = Context::new(client_id, &api, uid, session);
        let run = dispatch(handler.as_ref(), &cx, msg);
        if let Err(panic) = AssertUnwindSafe(run).catch_unwind().await {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into());
            tracing::error!(client = %client_id, "handler panicked: {what}; the worker goes on");
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

async fn dispatch<H: EventHandler>(handler: &H, cx: &Context<'_>, msg: Message) {
    match msg {
        Message::Connect { .. } => handler.on_connect(cx).await,
        Message::WebSocketConnect { request, .. } => {
            match serde_json::from_slice::<codecs::HandshakeRequest>(&request) {
                Ok(req) => handler.on_websocket_connect(cx, &req).await,
                Err(e) => tracing::warn!(client = %cx.client_id, "bad websocket request: {e}"),
            }
        }
        Message::Data { data, fields, .. } => {
            let fields = if fields.is_empty() {
                None
            } else {
                serde_json::from_slice(&fields).ok()
            };
            handler.on_message(cx, Incoming { data, fields }).await
        }
        Message::Identity { uid, .. } => handler.on_identity(cx, &uid).await,
        Message::Close { .. } => handler.on_close(cx).await,
        _ => {}
    }
}
