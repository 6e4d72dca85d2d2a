//! The codec contract and devgate's stock codecs.
//!
//! A codec turns a device's byte stream into [`Inbound`] events and [`Outbound`] commands back
//! into bytes, on tokio-util's [`Decoder`]/[`Encoder`] traits. Every codec has a hard message-size
//! limit and reports bad input as a typed [`CodecError`] that says whether the stream can go on
//! ([`CodecError::can_continue`]). The gateway only knows codecs through the object-safe
//! [`Codec`] trait, and finds them by name (`text://…`, `frame://…`) in a [`CodecRegistry`],
//! which checks a listener's options once ([`CodecRegistry::prepare`]) before any connection.
//!
//! Parts: `error` (the error type), `event` (what a codec yields and accepts), `registry`
//! (codecs by name), `options` (typed reading of codec-specific settings), `family` (what the
//! device-family codecs share: their message, position, alarm, clocks and the
//! [`family_codec!`] glue), and one module per stock codec.

pub mod error;
pub mod event;
pub mod family;
pub mod nom_adapter;
pub mod options;
pub mod registry;

pub mod example;
pub mod frame;
pub mod raw;
pub mod stock;
pub mod text;
pub mod websocket;

pub use error::CodecError;
pub use event::{put_field, CloseFrame, HandshakeRequest, Inbound, Outbound};
pub use nom_adapter::{NomCodec, NomProtocol};
pub use registry::{CodecFactory, CodecOptions, CodecRegistry, PrepareError, PreparedCodec};

pub use frame::FrameCodec;
pub use raw::RawCodec;
pub use text::TextCodec;
pub use websocket::WebSocketCodec;

use tokio_util::codec::{Decoder, Encoder};

/// Default largest message any stock codec accepts, in bytes (1 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// The object-safe codec contract the gateway drives, one instance per connection.
///
/// `decode` returns `Ok(None)` when it needs more bytes, `Ok(Some(event))` for each event, and
/// `Err` for bad input; the caller closes the connection unless `err.can_continue()`.
/// One input frame may yield several events in a row (a device login yields `Identity`,
/// `Reply` and `Message`): callers loop on `decode` until it returns `Ok(None)`.
pub trait Codec:
    Decoder<Item = Inbound, Error = CodecError> + Encoder<Outbound, Error = CodecError> + Send
{
    /// The registry name of this codec (`text`, `frame`, `websocket`, ...).
    fn name(&self) -> &'static str;

    /// Whether the stream opens with a handshake ([`Inbound::Handshake`], a WebSocket upgrade
    /// request) that the caller answers with [`Codec::answer_handshake`] before data flows;
    /// the caller bounds how long it waits for one.
    fn expects_handshake(&self) -> bool {
        false
    }

    /// Answers a pending WebSocket-style handshake: `None` accepts, `Some(status)` refuses
    /// with that HTTP status. Codecs without a handshake ignore it.
    fn answer_handshake(&mut self, refuse: Option<u16>, dst: &mut bytes::BytesMut) {
        let _ = (refuse, dst);
    }

    /// Bytes to send as a keep-alive ping, if the protocol has its own (a WebSocket ping).
    fn ping(&mut self, dst: &mut bytes::BytesMut) -> bool {
        let _ = dst;
        false
    }
}
