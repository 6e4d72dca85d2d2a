//! What a codec yields to the gateway and what the gateway asks it to send.

use bytes::Bytes;
use std::collections::BTreeMap;

/// One event decoded from a device's byte stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// An application message for the business worker.
    Message {
        /// The message bytes (a text line without its newline, a frame's body, a WebSocket payload).
        data: Bytes,
        /// Typed fields decoded by a device-family codec (kind, lat, lon, ...), if any.
        fields: Option<serde_json::Value>,
    },
    /// Bytes the codec wants written back at once (a WebSocket pong, a device acknowledgement).
    Reply(Bytes),
    /// A handshake waiting for [`crate::Codec::answer_handshake`] (WebSocket upgrade request).
    Handshake(HandshakeRequest),
    /// The device told us who it is (IMEI, phone number): the gateway binds it as uid.
    Identity(String),
    /// The peer showed it is alive without sending a message (a WebSocket pong): counts for
    /// the heartbeat, nothing to hand to a worker.
    Alive,
    /// The peer asked to close (a WebSocket close frame); the close reply is already queued as `Reply`.
    Close(Option<CloseFrame>),
}

/// A command for the codec to encode towards the device.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// Application data (a WebSocket codec sends valid UTF-8 as a text frame, else binary).
    Data(Bytes),
    /// Application data that must go as a WebSocket binary frame (same as `Data` elsewhere).
    Binary(Bytes),
    /// A close with an optional status (WebSocket close frame; nothing on other codecs).
    Close(Option<CloseFrame>),
}

/// A WebSocket close status and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The RFC 6455 status code (1000 normal, 1009 too big, ...).
    pub code: u16,
    /// A short UTF-8 reason.
    pub reason: String,
}

/// The parts of an HTTP upgrade request a handler may look at (`on_websocket_connect`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct HandshakeRequest {
    /// Request path without the query, e.g. `/ws`.
    pub path: String,
    /// Raw query string without `?`, e.g. `token=abc`.
    pub query: String,
    /// Header names lower-cased, in arrival order of first appearance.
    pub headers: BTreeMap<String, String>,
}

/// Adds `key` to a `fields` object when `value` is present (serde's
/// `skip_serializing_if = "Option::is_none"`), for codecs that build their fields directly.
pub fn put_field<T: Into<serde_json::Value>>(
    map: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    value: Option<T>,
) {
    if let Some(value) = value {
        map.insert(key.to_string(), value.into());
    }
}
