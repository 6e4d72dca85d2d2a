//! `frame`: a 4-byte big-endian total length, header included, then the body (Workerman's Frame).
//!
//! ```text
//! +----------------------+-----------------------+
//! | length: u32 BE       | body: length - 4 bytes |
//! +----------------------+-----------------------+
//! ```
//!
//! The maximum message size applies to the body, so the largest valid length field is
//! `max + 4`. A length of exactly 4 is a valid frame with an empty body and yields an empty
//! message (Workerman does the same). A length below 4 is a [`CodecError::Protocol`] error and a
//! body over the maximum is [`CodecError::TooLarge`]; both are reported as soon as the header
//! arrives, so a bad length never stalls the stream waiting for bytes that should not come.

use crate::{CodecError, CodecOptions, Inbound, Outbound, DEFAULT_MAX_MESSAGE_SIZE};
use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Size of the length header, which the length field counts.
pub const HEADER_LEN: usize = 4;

/// Length-prefixed codec with a maximum body size.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_message_size: usize,
}

impl FrameCodec {
    /// A codec accepting bodies of at most `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> Self {
        FrameCodec { max_message_size }
    }

    /// A codec configured from a listener's options.
    pub fn from_options(options: &CodecOptions) -> Self {
        Self::new(options.max_message_size)
    }

    /// The configured maximum body size in bytes.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Decoder for FrameCodec {
    type Item = Inbound;
    type Error = CodecError;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        let Some(header) = src.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let total = u32::from_be_bytes(*header) as usize;
        let Some(body_len) = total.checked_sub(HEADER_LEN) else {
            return Err(CodecError::Protocol(format!(
                "frame length {total} is below the {HEADER_LEN}-byte header it must include"
            )));
        };
        if body_len > self.max_message_size {
            return Err(CodecError::TooLarge {
                size: body_len,
                max: self.max_message_size,
            });
        }
        if src.len() < total {
            // One allocation for the rest of the frame instead of several growing reads.
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        Ok(Some(Inbound::Message {
            data: src.split_to(body_len).freeze(),
            fields: None,
        }))
    }

    /// A stream that ends inside a frame is a protocol error that says how much was missing.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        match self.decode(src)? {
            Some(item) => Ok(Some(item)),
            None if src.is_empty() => Ok(None),
            None => Err(CodecError::Protocol(format!(
                "stream ended inside a frame ({} bytes buffered)",
                src.len()
            ))),
        }
    }
}

impl Encoder<Outbound> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            Outbound::Data(data) | Outbound::Binary(data) => {
                let total = data
                    .len()
                    .checked_add(HEADER_LEN)
                    .and_then(|total| u32::try_from(total).ok())
                    .ok_or_else(|| {
                        CodecError::Encode(format!(
                            "a {}-byte body does not fit a u32 frame length",
                            data.len()
                        ))
                    })?;
                dst.reserve(HEADER_LEN + data.len());
                dst.put_u32(total);
                dst.put_slice(&data);
            }
            Outbound::Close(_) => {}
        }
        Ok(())
    }
}

impl crate::Codec for FrameCodec {
    fn name(&self) -> &'static str {
        "frame"
    }
}
