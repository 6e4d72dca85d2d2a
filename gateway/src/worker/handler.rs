//! The `EventHandler` trait a business worker runs, and what each call gets.

use super::api::{Api, ApiError};
use crate::client_id::ClientId;
use crate::delivery::{Accept, AcceptTarget};
use bytes::Bytes;
use codecs::HandshakeRequest;
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// One client event's context: who it is about, its uid and session, and the API to act with.
pub struct Context<'a> {
    /// The client the event is about.
    pub client_id: ClientId,
    /// The API (send to client / uid / group / all, bind, queries, ...).
    pub api: &'a Api,
    /// The uid bound to the client when the gateway sent the event.
    pub uid: Option<String>,
    /// The listener's protocol (`text`, `gt06`, ...); set on connect, data and close events.
    pub protocol: Option<std::sync::Arc<str>>,
    /// The event was delivered before to a worker that died without acknowledging it: its
    /// effects may have happened already (a handler that must not repeat them checks this).
    pub redelivered: bool,
    session: Mutex<Map<String, Value>>,
    // The target, not a token, plus a flag: an event whose handler does not defer costs no
    // lock and no reference count here (the caller learns the outcome from `deferred`).
    accept: Option<AcceptTarget>,
    deferred: AtomicBool,
}

impl<'a> Context<'a> {
    /// A context for an event of `client_id` carrying `uid` and `session`.
    pub fn new(
        client_id: ClientId,
        api: &'a Api,
        uid: Option<String>,
        session: Map<String, Value>,
    ) -> Self {
        Context {
            client_id,
            api,
            uid,
            protocol: None,
            redelivered: false,
            session: Mutex::new(session),
            accept: None,
            deferred: AtomicBool::new(false),
        }
    }

    /// Sets the acceptance the handler may take with [`Context::defer_accept`]; unless it
    /// does, the caller accepts the event after the handler (see [`Context::deferred`]).
    pub(crate) fn set_accept(&mut self, mut accept: Accept) {
        // In place: a `Context` is large, and this runs once per inline data event.
        self.accept = accept.take_target();
    }

    /// Takes this event's acceptance: the event is no longer accepted when the handler
    /// returns, but when the returned token is accepted (see [`Accept`]). A second call, or a
    /// call for an event that needs no acceptance, returns an inert token.
    pub fn defer_accept(&self) -> Accept {
        match &self.accept {
            Some(t) if !self.deferred.swap(true, Ordering::AcqRel) => Accept::to(t.clone()),
            _ => Accept::inert(),
        }
    }

    /// Accepts the event now, unless the handler took its acceptance.
    pub(crate) fn accept_now(&mut self) {
        if !self.deferred.load(Ordering::Acquire) {
            if let Some(t) = self.accept.take() {
                Accept::to(t).accept();
            }
        }
    }

    /// Whether the handler took this event's acceptance; when it did not, the event is
    /// accepted once the handler returns.
    pub(crate) fn deferred(&self) -> bool {
        self.accept.is_some() && self.deferred.load(Ordering::Acquire)
    }

    /// Sends `data` back to this event's client.
    pub async fn reply(&self, data: impl Into<Bytes>) -> Result<(), ApiError> {
        self.api.send_to_client(self.client_id, data).await
    }

    /// The client's session as it came with the event, plus this handler's changes.
    pub fn session(&self) -> Map<String, Value> {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the client's session, here and on its gateway.
    pub async fn set_session(&self, session: Map<String, Value>) -> Result<(), ApiError> {
        self.api.set_session(self.client_id, &session).await?;
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = session;
        Ok(())
    }

    /// Sets some keys of the client's session, here and on its gateway.
    pub async fn update_session(&self, keys: Map<String, Value>) -> Result<(), ApiError> {
        self.api.update_session(self.client_id, &keys).await?;
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(keys);
        Ok(())
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

    /// Registers the handler's own counters in the process's counter registry (status and
    /// metrics read it); called once before `on_worker_start`. The built-in `rules` handler
    /// registers its pipeline's and its MQTT bridge's.
    fn register_counters(&self, registry: &crate::counters::Registry) {
        let _ = registry;
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

/// The built-in `echo` handler: every message goes back to its sender, except typed
/// device-family messages, which their codec has acknowledged already.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl EventHandler for Echo {
    async fn on_message(&self, cx: &Context<'_>, msg: Incoming) {
        if msg.fields.is_some() {
            // A tracker's frame sent back would reach it as a downlink command, which it
            // answers with another frame: an endless loop.
            return;
        }
        if let Err(e) = cx.reply(msg.data).await {
            tracing::debug!(client = %cx.client_id, "echo not sent: {e}");
        }
    }
}
