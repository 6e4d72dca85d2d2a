//! Turns any streaming `nom` parser plus an encoder into a [`Codec`](crate::Codec).
//!
//! Implement [`NomProtocol`] and wrap it in [`NomCodec`]: `Incomplete` from the parser means
//! "wait for more bytes", a parse error is a protocol error that closes the stream, and a
//! frame that parses but fails a check (a checksum) may be skipped with
//! [`CodecError::Skipped`], which lets the stream go on.

use crate::{CodecError, Inbound, Outbound};
use bytes::{Buf, BytesMut};
use std::collections::VecDeque;
use tokio_util::codec::{Decoder, Encoder};

/// A custom binary protocol described by a streaming nom parser and an encoder.
pub trait NomProtocol: Send + 'static {
    /// One parsed frame, owned (it must not borrow the read buffer).
    type Frame;

    /// The registry name of the protocol (`gt06`, `jt808`, ...).
    fn name(&self) -> &'static str;

    /// Parses one frame from the front of `input` with a *streaming* parser:
    /// `Err(nom::Err::Incomplete(_))` means more bytes are needed.
    fn parse<'a>(&mut self, input: &'a [u8]) -> nom::IResult<&'a [u8], Self::Frame>;

    /// Turns a parsed frame into events (message, acknowledgement, identity) pushed to `out`.
    /// Return `CodecError::Skipped` to drop a bad frame and keep the stream.
    fn on_frame(
        &mut self,
        frame: Self::Frame,
        out: &mut VecDeque<Inbound>,
    ) -> Result<(), CodecError>;

    /// Encodes a command for the device.
    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError>;
}

/// A [`Codec`](crate::Codec) made of a [`NomProtocol`] and a message-size limit.
#[derive(Debug)]
pub struct NomCodec<P: NomProtocol> {
    protocol: P,
    max_message_size: usize,
    pending: VecDeque<Inbound>,
}

impl<P: NomProtocol> NomCodec<P> {
    /// Wraps `protocol`; a frame (or a partial frame waiting for bytes) larger than
    /// `max_message_size` is an error.
    pub fn new(protocol: P, max_message_size: usize) -> Self {
        NomCodec {
            protocol,
            max_message_size,
            pending: VecDeque::new(),
        }
    }

    /// The wrapped protocol.
    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    /// The wrapped protocol, mutably.
    pub fn protocol_mut(&mut self) -> &mut P {
        &mut self.protocol
    }
}

impl<P: NomProtocol> Decoder for NomCodec<P> {
    type Item = Inbound;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if src.is_empty() {
                return Ok(None);
            }
            let parsed = self.protocol.parse(src);
            match parsed {
                Ok((rest, frame)) => {
                    // A parser that returns a rest not taken from its input is a bug, but
                    // must not panic the gateway: 0 is reported like "consumed nothing".
                    let used = src.len().saturating_sub(rest.len());
                    if used == 0 {
                        return Err(CodecError::Protocol(format!(
                            "{}: parser consumed no bytes",
                            self.protocol.name()
                        )));
                    }
                    if used > self.max_message_size {
                        return Err(CodecError::TooLarge {
                            size: used,
                            max: self.max_message_size,
                        });
                    }
                    src.advance(used);
                    self.protocol.on_frame(frame, &mut self.pending)?;
                }
                Err(nom::Err::Incomplete(needed)) => {
                    let wanted = match needed {
                        nom::Needed::Size(n) => src.len().saturating_add(n.get()),
                        nom::Needed::Unknown => src.len().saturating_add(1),
                    };
                    if wanted > self.max_message_size {
                        return Err(CodecError::TooLarge {
                            size: wanted,
                            max: self.max_message_size,
                        });
                    }
                    return Ok(None);
                }
                Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => {
                    return Err(CodecError::Protocol(format!(
                        "{}: cannot parse at byte {} ({:?})",
                        self.protocol.name(),
                        src.len().saturating_sub(e.input.len()),
                        e.code
                    )));
                }
            }
        }
    }
}

impl<P: NomProtocol> Encoder<Outbound> for NomCodec<P> {
    type Error = CodecError;

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.protocol.encode(item, dst)
    }
}

impl<P: NomProtocol> crate::Codec for NomCodec<P> {
    fn name(&self) -> &'static str {
        self.protocol.name()
    }
}
