//! `websocket`: the server side of RFC 6455 as a [`Codec`].
//!
//! Built on `tungstenite`'s public frame layer (`FrameHeader` parsing and formatting, opcodes,
//! close codes, `derive_accept_key`) and `httparse` for the upgrade request: both are widely
//! used and fuzzed, and using their pieces (not tungstenite's blocking `WebSocket`) keeps the
//! codec a pure byte-buffer state machine that tokio-util's `Framed` can drive. Only tungstenite's
//! `handshake` feature is enabled: no TLS (the gateway terminates TLS itself).
//!
//! Life of a connection:
//! 1. The first decode yields [`Inbound::Handshake`] once a complete, valid upgrade request has
//!    arrived (at most `handshake_max_bytes`, [`DEFAULT_HANDSHAKE_MAX_BYTES`] by default,
//!    settable through [`CodecOptions::extra`] under [`HANDSHAKE_MAX_BYTES_KEY`]). A malformed
//!    or oversized request is [`CodecError::Handshake`]; the caller may send
//!    [`bad_request_response`] before closing. The handshake time limit is the caller's job
//!    (the codec reads no clock): the gateway uses [`DEFAULT_HANDSHAKE_TIMEOUT`].
//! 2. The caller answers with [`Codec::answer_handshake`]: `None` writes the 101 and opens the
//!    WebSocket, `Some(status)` writes that HTTP error and every later decode fails. No frame
//!    is decoded before the answer.
//! 3. Frames: text and binary messages (fragments reassembled) become [`Inbound::Message`]; a
//!    ping becomes an [`Inbound::Reply`] holding the pong; a close becomes the echoed close as
//!    `Reply`, then [`Inbound::Close`]. A protocol violation yields the close frame to send
//!    (1002, 1007 or 1009) as `Reply`, then the error on the next decode, so the caller can
//!    tell the client why before it closes.
//!
//! The read buffer never holds more than one frame header plus `max_message_size` bytes: a
//! header announcing more is refused with 1009 before its payload is read.

mod frame;
mod handshake;

pub use frame::MAX_FRAME_HEADER;
pub use handshake::bad_request_response;

use crate::options::{OptionsError, OptionsReader};
use crate::{Codec, CodecError, CodecOptions, Inbound, Outbound, DEFAULT_MAX_MESSAGE_SIZE};
use bytes::{Buf, BytesMut};
use std::collections::VecDeque;
use std::time::Duration;
use tokio_util::codec::{Decoder, Encoder};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// Default largest upgrade request head, in bytes (8 KiB).
pub const DEFAULT_HANDSHAKE_MAX_BYTES: usize = 8 * 1024;

/// The [`CodecOptions::extra`] key that sets the largest upgrade request, in bytes.
pub const HANDSHAKE_MAX_BYTES_KEY: &str = "handshake_max_bytes";

/// How long the gateway should wait for a complete upgrade request (the codec has no clock).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the connection stands.
#[derive(Debug)]
enum State {
    /// Waiting for the upgrade request.
    Request,
    /// The request was handed out; waiting for `answer_handshake`.
    Answer { accept_key: String },
    /// The request was malformed or too large.
    HandshakeFailed,
    /// The caller refused the upgrade.
    Refused,
    /// Frames flow.
    Open,
    /// The client's close frame arrived: anything after it is ignored.
    Closed,
    /// A protocol violation: the stream is over.
    Failed,
}

/// A fragmented data message being reassembled.
#[derive(Debug)]
struct Partial {
    text: bool,
    data: BytesMut,
}

/// Server-side RFC 6455 codec: upgrade handshake, then masked client frames in, unmasked
/// server frames out.
#[derive(Debug)]
pub struct WebSocketCodec {
    max_message_size: usize,
    handshake_max_bytes: usize,
    state: State,
    /// Events decoded ahead of time (a close yields its echo, then the close): at most two.
    pending: VecDeque<Inbound>,
    /// The error to return once the close frame explaining it has been handed out.
    failure: Option<CodecError>,
    partial: Option<Partial>,
    /// We sent a close frame: a second one must not follow.
    close_sent: bool,
}

impl WebSocketCodec {
    /// A codec for messages of at most `max_message_size` bytes (after reassembly).
    pub fn new(max_message_size: usize) -> Self {
        WebSocketCodec {
            max_message_size,
            handshake_max_bytes: DEFAULT_HANDSHAKE_MAX_BYTES,
            state: State::Request,
            pending: VecDeque::with_capacity(2),
            failure: None,
            partial: None,
            close_sent: false,
        }
    }

    /// Sets the largest upgrade request head accepted, in bytes.
    pub fn with_handshake_max_bytes(mut self, max: usize) -> Self {
        self.handshake_max_bytes = max;
        self
    }

    /// A codec configured from a listener's options (`handshake_max_bytes` in `extra`, at
    /// least 1); any other key is refused.
    pub fn from_options(options: &CodecOptions) -> Result<Self, OptionsError> {
        let mut read = OptionsReader::new("websocket", options);
        let handshake_max = read
            .number(HANDSHAKE_MAX_BYTES_KEY, "bytes", 1..=usize::MAX)?
            .unwrap_or(DEFAULT_HANDSHAKE_MAX_BYTES);
        read.finish()?;
        Ok(Self::new(options.max_message_size).with_handshake_max_bytes(handshake_max))
    }

    /// The configured maximum message size in bytes.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The configured maximum upgrade request size in bytes.
    pub fn handshake_max_bytes(&self) -> usize {
        self.handshake_max_bytes
    }

    /// True once the upgrade was accepted and until the client's close arrives.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// Decodes the upgrade request.
    fn decode_request(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        match handshake::parse_request(src, self.handshake_max_bytes) {
            Ok(None) => Ok(None),
            Ok(Some(upgrade)) => {
                src.advance(upgrade.len);
                self.state = State::Answer {
                    accept_key: upgrade.accept_key,
                };
                Ok(Some(Inbound::Handshake(upgrade.request)))
            }
            Err(e) => {
                self.state = State::HandshakeFailed;
                src.clear();
                Err(e)
            }
        }
    }

    /// Decodes frames until one yields an event or more bytes are needed.
    fn decode_frames(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        loop {
            let head = match frame::parse_head(src) {
                Ok(Some(head)) => head,
                Ok(None) => return Ok(None),
                Err(e) => return self.fail(src, 1002, CodecError::Protocol(e.to_string())),
            };
            let header = &head.header;
            if header.rsv1 || header.rsv2 || header.rsv3 {
                return self.fail(
                    src,
                    1002,
                    protocol("reserved bits set without an extension"),
                );
            }
            let Some(mask) = header.mask else {
                return self.fail(src, 1002, protocol("client frame is not masked"));
            };
            let opcode = header.opcode;
            let is_final = header.is_final;
            match opcode {
                OpCode::Control(_) if !is_final => {
                    return self.fail(src, 1002, protocol("fragmented control frame"));
                }
                OpCode::Control(_) if head.payload_len > frame::MAX_CONTROL_PAYLOAD as u64 => {
                    return self.fail(src, 1002, protocol("control frame longer than 125 bytes"));
                }
                OpCode::Data(Data::Continue) if self.partial.is_none() => {
                    return self.fail(src, 1002, protocol("continuation without a first fragment"));
                }
                OpCode::Data(Data::Text | Data::Binary) if self.partial.is_some() => {
                    return self.fail(src, 1002, protocol("new message inside a fragmented one"));
                }
                OpCode::Data(_) => {
                    let buffered = self.partial.as_ref().map_or(0, |p| p.data.len()) as u64;
                    let size = buffered.saturating_add(head.payload_len);
                    if size > self.max_message_size as u64 {
                        let err = CodecError::TooLarge {
                            size: usize::try_from(size).unwrap_or(usize::MAX),
                            max: self.max_message_size,
                        };
                        return self.fail(src, 1009, err);
                    }
                }
                OpCode::Control(_) => {}
            }

            // Both casts are safe: the length is at most 125 or at most max_message_size.
            let payload_len = head.payload_len as usize;
            let total = head.header_len + payload_len;
            if src.len() < total {
                src.reserve(total - src.len());
                return Ok(None);
            }
            src.advance(head.header_len);
            let mut payload = src.split_to(payload_len);
            frame::unmask(&mut payload, mask);

            match opcode {
                OpCode::Control(Control::Ping) => {
                    let mut pong = BytesMut::with_capacity(2 + payload.len());
                    frame::write_frame(OpCode::Control(Control::Pong), &payload, &mut pong)?;
                    return Ok(Some(Inbound::Reply(pong.freeze())));
                }
                OpCode::Control(Control::Pong) => return Ok(Some(Inbound::Alive)),
                OpCode::Control(_) => return self.on_close(src, &payload),
                OpCode::Data(kind) => {
                    if let Some(event) = self.on_data(src, kind, is_final, payload)? {
                        return Ok(Some(event));
                    }
                }
            }
        }
    }

    /// Handles a data frame: a whole message, or one fragment of it.
    fn on_data(
        &mut self,
        src: &mut BytesMut,
        kind: Data,
        is_final: bool,
        payload: BytesMut,
    ) -> Result<Option<Inbound>, CodecError> {
        let (text, data) = match (self.partial.take(), kind) {
            (Some(mut partial), _) => {
                partial.data.extend_from_slice(&payload);
                if !is_final {
                    self.partial = Some(partial);
                    return Ok(None);
                }
                (partial.text, partial.data)
            }
            (None, kind) => {
                let text = kind == Data::Text;
                if !is_final {
                    self.partial = Some(Partial {
                        text,
                        data: payload,
                    });
                    return Ok(None);
                }
                (text, payload)
            }
        };
        if text && std::str::from_utf8(&data).is_err() {
            return self.fail(src, 1007, protocol("text message is not valid UTF-8"));
        }
        Ok(Some(Inbound::Message {
            data: data.freeze(),
            fields: None,
        }))
    }

    /// Handles the client's close frame: echo it (unless we closed first), then report it.
    fn on_close(
        &mut self,
        src: &mut BytesMut,
        payload: &[u8],
    ) -> Result<Option<Inbound>, CodecError> {
        let close = match frame::parse_close(payload) {
            Ok(close) => close,
            Err((code, err)) => return self.fail(src, code, err),
        };
        self.state = State::Closed;
        self.partial = None;
        src.clear();
        if self.close_sent {
            return Ok(Some(Inbound::Close(close)));
        }
        self.close_sent = true;
        // Echo only the status code, as RFC 6455 §5.5.1 suggests.
        let echo = close.as_ref().map(|c| crate::CloseFrame {
            code: c.code,
            reason: String::new(),
        });
        let mut reply = BytesMut::with_capacity(4);
        frame::write_close(echo.as_ref(), &mut reply)?;
        self.pending.push_back(Inbound::Close(close));
        Ok(Some(Inbound::Reply(reply.freeze())))
    }

    /// Ends the stream: hands out a close frame with `code` now and `err` on the next decode.
    fn fail(
        &mut self,
        src: &mut BytesMut,
        code: u16,
        err: CodecError,
    ) -> Result<Option<Inbound>, CodecError> {
        self.state = State::Failed;
        self.partial = None;
        src.clear();
        if self.close_sent {
            return Err(err);
        }
        self.close_sent = true;
        let mut reply = BytesMut::with_capacity(4);
        let close = crate::CloseFrame {
            code,
            reason: String::new(),
        };
        frame::write_close(Some(&close), &mut reply)?;
        self.failure = Some(err);
        Ok(Some(Inbound::Reply(reply.freeze())))
    }
}

impl Default for WebSocketCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Decoder for WebSocketCodec {
    type Item = Inbound;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        if let Some(err) = self.failure.take() {
            return Err(err);
        }
        match self.state {
            State::Request => self.decode_request(src),
            State::Answer { .. } if src.len() > self.handshake_max_bytes => {
                // A client must wait for our answer; this much early data is abuse.
                self.state = State::HandshakeFailed;
                let sent = src.len();
                src.clear();
                Err(CodecError::Handshake(format!(
                    "client sent {sent} bytes before the handshake was answered"
                )))
            }
            State::Answer { .. } => Ok(None),
            State::Open => self.decode_frames(src),
            State::Closed => {
                src.clear();
                Ok(None)
            }
            State::HandshakeFailed => {
                src.clear();
                Err(CodecError::Handshake("the handshake already failed".into()))
            }
            State::Refused => {
                src.clear();
                Err(CodecError::Handshake("the upgrade was refused".into()))
            }
            State::Failed => {
                src.clear();
                Err(protocol("the stream already failed"))
            }
        }
    }
}

impl Encoder<Outbound> for WebSocketCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        let writable = matches!(self.state, State::Open) && !self.close_sent;
        match item {
            // Closing twice, or before the upgrade, has nothing to say on the wire.
            Outbound::Close(_) if !writable => Ok(()),
            _ if !writable => Err(CodecError::Encode(
                "the WebSocket is not open (handshake pending or close sent)".into(),
            )),
            Outbound::Data(data) => {
                let kind = if std::str::from_utf8(&data).is_ok() {
                    Data::Text
                } else {
                    Data::Binary
                };
                frame::write_frame(OpCode::Data(kind), &data, dst)
            }
            Outbound::Binary(data) => frame::write_frame(OpCode::Data(Data::Binary), &data, dst),
            Outbound::Close(close) => {
                self.close_sent = true;
                frame::write_close(close.as_ref(), dst)
            }
        }
    }
}

impl Codec for WebSocketCodec {
    fn name(&self) -> &'static str {
        "websocket"
    }

    fn expects_handshake(&self) -> bool {
        true
    }

    /// `None` writes the 101 answer and opens the WebSocket (only after a `Handshake` event);
    /// `Some(status)` writes that HTTP error, also after a handshake error, and ends the stream.
    /// Bytes the client sent early stay buffered and are decoded on the next decode call.
    fn answer_handshake(&mut self, refuse: Option<u16>, dst: &mut BytesMut) {
        match (refuse, &self.state) {
            (None, State::Answer { accept_key }) => {
                handshake::write_accept(accept_key, dst);
                self.state = State::Open;
            }
            (Some(status), State::Request | State::Answer { .. } | State::HandshakeFailed) => {
                handshake::write_refusal(status, dst);
                self.state = State::Refused;
            }
            (refuse, state) => {
                tracing::debug!(?refuse, ?state, "handshake answer ignored in this state");
            }
        }
    }

    fn ping(&mut self, dst: &mut BytesMut) -> bool {
        if !matches!(self.state, State::Open) || self.close_sent {
            return false;
        }
        frame::write_frame(OpCode::Control(Control::Ping), &[], dst).is_ok()
    }
}

/// A protocol error with a static description.
fn protocol(why: &str) -> CodecError {
    CodecError::Protocol(why.to_string())
}

#[cfg(test)]
mod tests;
