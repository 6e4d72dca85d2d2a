//! The `EventHandler` trait a business worker runs, and what each call gets.

use super::api::Api;
use crate::client_id::ClientId;
use bytes::Bytes;
use codecs::HandshakeRequest;
use std::future::Future;

/// One client event's context: who it is about and the API to act with.
pub struct Context<'a> {
    /// The client the event is about.
    pub client_id: ClientId,
    /// The API (send to client / all, close, ...).
    pub api: &'a Api,
}

impl Context<'_> {
    /// Sends `data` back to this event's client.
    pub async fn reply(&self, data: impl Into<Bytes>) -> Result<(), super::api::ApiError> {
        self.api.send_to_client(self.client_id, data).await
    }
}

/// A message from a client.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The message bytes as the codec produced them.
    pub data: Bytes,
    /// Typed fields from a device-family codec, if any.
    pub fields: Option<serde_json::Value>,
}

/// The application's side of a worker. Events of one client arrive in order, one at a time;
/// different clients run concurrently. A panic in a handler is caught and logged with the
/// client_id; the worker goes on.
pub trait EventHandler: Send + Sync + 'static {
    /// The worker is up (before any event).
    fn on_worker_start(&self, api: &Api) -> impl Future<Output = ()> + Send {
        let _ = api;
        async {}
    }

    /// A client connected.
    fn on_connect(&self, cx: &Context<'_>) -> impl Future<Output = ()> + Send {
        let _ = cx;
        async {}
    }

    /// A WebSocket client completed its upgrade (path, query, headers).
    fn on_websocket_connect(
        &self,
        cx: &Context<'_>,
        request: &HandshakeRequest,
    ) -> impl Future<Output = ()> + Send {
        let _ = (cx, request);
        async {}
    }

    /// A device identified itself (its codec decoded a login); `uid` is its IMEI or phone.
    fn on_identity(&self, cx: &Context<'_>, uid: &str) -> impl Future<Output = ()> + Send {
        let _ = (cx, uid);
        async {}
    }

    /// A client sent a message.
    fn on_message(&self, cx: &Context<'_>, msg: Incoming) -> impl Future<Output = ()> + Send;

    /// A client is gone.
    fn on_close(&self, cx: &Context<'_>) -> impl Future<Output = ()> + Send {
        let _ = cx;
        async {}
    }

    /// The worker is stopping.
    fn on_worker_stop(&self, api: &Api) -> impl Future<Output = ()> + Send {
        let _ = api;
        async {}
    }
}

/// The built-in `echo` handler: every message goes back to its sender.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl EventHandler for Echo {
    async fn on_message(&self, cx: &Context<'_>, msg: Incoming) {
        if let Err(e) = cx.reply(msg.data).await {
            tracing::debug!(client = %cx.client_id, "echo not sent: {e}");
        }
    }
}
