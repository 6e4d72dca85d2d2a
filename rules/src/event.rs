//! What the gateway hands to the rules: one event of one connection, as plain data.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Which moment of a connection's life the event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A client connected (for WebSocket: after the upgrade).
    Connect,
    /// A client sent a message.
    Message,
    /// A client is gone.
    Close,
}

impl EventKind {
    /// The name used in rules files (`connect`, `message`, `close`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Connect => "connect",
            EventKind::Message => "message",
            EventKind::Close => "close",
        }
    }
}

/// One event of one connection, as the gateway saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Connect, message or close.
    pub kind: EventKind,
    /// The connection's client_id (20 hex chars in devgate); shared, as every event of the
    /// connection carries it.
    pub client_id: Arc<str>,
    /// The uid bound to the connection, if any.
    pub uid: Option<String>,
    /// The listener's name (as configured) the client came in on.
    pub listener: Arc<str>,
    /// The listener's protocol (`text`, `websocket`, `gt06`, ...).
    pub protocol: Arc<str>,
    /// The message bytes (empty for connect and close).
    pub data: Bytes,
    /// Fields decoded by a device-family codec. When `None` and `data` is a JSON object,
    /// the rules see that object as the fields.
    pub fields: Option<Value>,
    /// The connection's session map.
    pub session: Map<String, Value>,
    /// Delivered before to a worker that died without acknowledging it; its effects may have
    /// happened already.
    pub redelivered: bool,
}

impl Event {
    /// A message event with no uid, fields or session, not redelivered.
    pub fn message(
        client_id: impl Into<Arc<str>>,
        listener: impl Into<Arc<str>>,
        protocol: impl Into<Arc<str>>,
        data: impl Into<Bytes>,
    ) -> Event {
        Event {
            kind: EventKind::Message,
            client_id: client_id.into(),
            uid: None,
            listener: listener.into(),
            protocol: protocol.into(),
            data: data.into(),
            fields: None,
            session: Map::new(),
            redelivered: false,
        }
    }

    /// The message as UTF-8 text, if it is valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }

    /// The fields the rules see: the decoded fields, else the message parsed as a JSON object.
    pub(crate) fn effective_fields(&self) -> Option<std::borrow::Cow<'_, Value>> {
        if let Some(f) = &self.fields {
            return Some(std::borrow::Cow::Borrowed(f));
        }
        let first = self.data.iter().find(|b| !b.is_ascii_whitespace())?;
        if *first != b'{' {
            return None;
        }
        match serde_json::from_slice::<Value>(&self.data) {
            Ok(v @ Value::Object(_)) => Some(std::borrow::Cow::Owned(v)),
            _ => None,
        }
    }
}

/// A device's persisted state: a JSON object kept per uid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceState(pub Map<String, Value>);

impl DeviceState {
    /// An empty state.
    pub fn new() -> DeviceState {
        DeviceState(Map::new())
    }

    /// One field of the state.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Merges a patch: each key is set to its new value, and a `null` value removes the key.
    pub fn merge(&mut self, patch: &Map<String, Value>) {
        for (k, v) in patch {
            if v.is_null() {
                self.0.remove(k);
            } else {
                self.0.insert(k.clone(), v.clone());
            }
        }
    }
}
