//! `raw`: no framing, each read is one message.
//!
//! The decoder hands over whatever is buffered as one message, without a copy. Driven by
//! tokio-util's `Framed`, which decodes after every read, that is one message per read. A read
//! larger than the maximum message size is split into messages of at most that size, in order,
//! so the limit still bounds every message and nothing is lost. The encoder writes the bytes
//! as they are.

use crate::{CodecError, CodecOptions, Inbound, Outbound, DEFAULT_MAX_MESSAGE_SIZE};
use bytes::{BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Unframed codec: one message per read, at most `max_message_size` bytes each.
#[derive(Debug, Clone)]
pub struct RawCodec {
    max_message_size: usize,
}

impl RawCodec {
    /// A codec whose messages hold at most `max_message_size` bytes (at least 1).
    pub fn new(max_message_size: usize) -> Self {
        // A zero limit would yield empty messages forever without consuming anything.
        RawCodec {
            max_message_size: max_message_size.max(1),
        }
    }

    /// A codec configured from a listener's options.
    pub fn from_options(options: &CodecOptions) -> Self {
        Self::new(options.max_message_size)
    }

    /// The configured maximum message size in bytes.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }
}

impl Default for RawCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Decoder for RawCodec {
    type Item = Inbound;
    type Error = CodecError;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        if src.is_empty() {
            return Ok(None);
        }
        let len = src.len().min(self.max_message_size);
        Ok(Some(Inbound::Message {
            data: src.split_to(len).freeze(),
            fields: None,
        }))
    }
}

impl Encoder<Outbound> for RawCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            Outbound::Data(data) | Outbound::Binary(data) => dst.put_slice(&data),
            Outbound::Close(_) => {}
        }
        Ok(())
    }
}

impl crate::Codec for RawCodec {
    fn name(&self) -> &'static str {
        "raw"
    }
}
