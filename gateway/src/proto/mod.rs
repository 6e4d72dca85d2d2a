//! The internal protocols: gateway <-> worker, and anyone <-> register.
//!
//! Every frame is a u32 big-endian body length, then the body: a kind byte and its fields
//! (`message`). Links open with a challenge-response handshake over a shared secret (`auth`)
//! so the secret never crosses the wire. The byte layout is documented in docs/PROTOCOL.md.

pub mod auth;
pub mod message;
pub mod query;
pub mod wire;

pub use message::{DataMeta, Fields, Message, Role, PROTOCOL_VERSION};
pub use query::QueryKind;
pub use wire::WireError;

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Largest frame body accepted on an internal link by default (16 MiB).
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Why an internal link failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A frame announced a body larger than allowed.
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A frame body is malformed.
    #[error("bad frame: {0}")]
    Wire(#[from] WireError),
    /// The handshake failed (bad secret, wrong version, unexpected message).
    #[error("handshake: {0}")]
    Handshake(String),
    /// The peer closed the link.
    #[error("peer closed the link")]
    Closed,
    /// The peer did not answer in time.
    #[error("timed out")]
    Timeout,
}

/// Frames internal-protocol messages: `u32 body length | body`.
#[derive(Debug, Clone)]
pub struct LinkCodec {
    max_frame: usize,
}

impl LinkCodec {
    /// A codec refusing bodies over `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        LinkCodec { max_frame }
    }
}

impl Default for LinkCodec {
    fn default() -> Self {
        LinkCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder for LinkCodec {
    type Item = Message;
    type Error = LinkError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, LinkError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len == 0 {
            return Err(WireError::Truncated("kind").into());
        }
        if len > self.max_frame {
            return Err(LinkError::TooLarge {
                size: len,
                max: self.max_frame,
            });
        }
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        let body = src.split_to(len).freeze();
        Ok(Some(Message::decode_body(body)?))
    }
}

impl Encoder<&Message> for LinkCodec {
    type Error = LinkError;

    fn encode(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), LinkError> {
        encode_frame(msg, dst);
        Ok(())
    }
}

impl Encoder<Message> for LinkCodec {
    type Error = LinkError;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> Result<(), LinkError> {
        encode_frame(&msg, dst);
        Ok(())
    }
}

/// Appends one framed message to `dst` (used to batch many frames into one write).
pub fn encode_frame(msg: &Message, dst: &mut BytesMut) {
    let start = dst.len();
    dst.put_u32(0);
    msg.encode_body(dst);
    let len = (dst.len() - start - 4) as u32;
    dst[start..start + 4].copy_from_slice(&len.to_be_bytes());
}
