//! The internal protocols: gateway <-> worker, and anyone <-> register.
//!
//! Every frame is a u32 big-endian body length, then the body: a kind byte and its fields.
//! Each link role has its own message type (`message`): [`Handshake`] on every link until it
//! is authenticated, then [`ToRegister`] / [`FromRegister`] on a register link and
//! [`ToGateway`] / [`FromGateway`] on a gateway link. Links open with a challenge-response
//! handshake over a shared secret (`auth`) so the secret never crosses the wire. Queries and
//! their typed replies are in `query`; large answers travel in parts (`parts`). The byte layout is documented in docs/PROTOCOL.md.

pub mod auth;
pub mod message;
pub mod parts;
pub mod query;
pub mod wire;

pub use message::{
    DataMeta, Fields, FromGateway, FromRegister, Handshake, KeepAlive, LinkMessage, Magic, Role,
    ToGateway, ToRegister, PROTOCOL_VERSION,
};
pub use query::{Query, QueryKind, Reply, ReplyError, StatusReport};
pub use wire::WireError;

use bytes::{Buf, BufMut, BytesMut};
use std::marker::PhantomData;
use tokio_util::codec::{Decoder, Encoder};

/// Largest frame body accepted on an internal link by default (16 MiB).
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Largest frame body accepted before a link is authenticated (4 KiB).
///
/// The handshake's frames are small: `Hello` is 42 bytes plus the peer's name, `Challenge`
/// 65, `Auth` 33, `Refused` a short reason. 4 KiB leaves room for any sensible name (see
/// [`auth::MAX_NAME`]) while an unauthenticated peer can make the gateway hold at most this
/// much per connection, not `DEFAULT_MAX_FRAME`.
pub const HANDSHAKE_MAX_FRAME: usize = 4 * 1024;

/// Most bytes the decoder reserves ahead for a frame whose header has arrived. A header alone
/// costs nothing to send, so the buffer grows with the bytes that actually arrive (the framed
/// reader doubles it as it fills) instead of jumping to the announced length.
const MAX_RESERVE_AHEAD: usize = 64 * 1024;

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
    /// TLS could not be set up with the peer (another CA, a plaintext peer on a TLS port, or
    /// the other way round); the reason is fit for a log.
    #[error("TLS: {0}")]
    Tls(String),
    /// The peer closed the link.
    #[error("peer closed the link")]
    Closed,
    /// The peer did not answer in time.
    #[error("timed out")]
    Timeout,
}

/// Frames the messages `M` of one link role: `u32 body length | body`.
#[derive(Debug)]
pub struct LinkCodec<M> {
    max_frame: usize,
    role: PhantomData<fn() -> M>,
}

impl<M> Clone for LinkCodec<M> {
    fn clone(&self) -> Self {
        LinkCodec::new(self.max_frame)
    }
}

impl<M> LinkCodec<M> {
    /// A codec refusing bodies over `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        LinkCodec {
            max_frame,
            role: PhantomData,
        }
    }

    /// The largest body this codec accepts.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

impl LinkCodec<Handshake> {
    /// The codec for the handshake: bodies over [`HANDSHAKE_MAX_FRAME`] are refused.
    pub fn handshake() -> Self {
        LinkCodec::new(HANDSHAKE_MAX_FRAME)
    }
}

impl<M> Default for LinkCodec<M> {
    fn default() -> Self {
        LinkCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl<M: LinkMessage> Decoder for LinkCodec<M> {
    type Item = M;
    type Error = LinkError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<M>, LinkError> {
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
            src.reserve((4 + len - src.len()).min(MAX_RESERVE_AHEAD));
            return Ok(None);
        }
        src.advance(4);
        let body = src.split_to(len).freeze();
        Ok(Some(M::decode_body(body)?))
    }
}

impl<M: LinkMessage> Encoder<&M> for LinkCodec<M> {
    type Error = LinkError;

    fn encode(&mut self, msg: &M, dst: &mut BytesMut) -> Result<(), LinkError> {
        encode_frame(msg, dst);
        Ok(())
    }
}

impl<M: LinkMessage> Encoder<M> for LinkCodec<M> {
    type Error = LinkError;

    fn encode(&mut self, msg: M, dst: &mut BytesMut) -> Result<(), LinkError> {
        encode_frame(&msg, dst);
        Ok(())
    }
}

/// Appends one framed message to `dst` (used to batch many frames into one write).
pub fn encode_frame<M: LinkMessage>(msg: &M, dst: &mut BytesMut) {
    let start = dst.len();
    dst.put_u32(0);
    msg.encode_body(dst);
    let len = (dst.len() - start - 4) as u32;
    dst[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_u32(len);
        b
    }

    #[test]
    fn before_auth_a_header_over_the_handshake_limit_is_an_error_and_reserves_nothing() {
        let mut src = header(DEFAULT_MAX_FRAME as u32);
        let cap = src.capacity();
        let err = LinkCodec::handshake().decode(&mut src).unwrap_err();
        assert!(
            matches!(err, LinkError::TooLarge { size, max } if size == DEFAULT_MAX_FRAME && max == HANDSHAKE_MAX_FRAME),
            "{err}"
        );
        assert_eq!(src.capacity(), cap, "the decoder grew the buffer");
        // One byte over the limit is refused too; the limit itself is waited for.
        let mut src = header(HANDSHAKE_MAX_FRAME as u32 + 1);
        assert!(LinkCodec::handshake().decode(&mut src).is_err());
        let mut src = header(HANDSHAKE_MAX_FRAME as u32);
        assert!(matches!(LinkCodec::handshake().decode(&mut src), Ok(None)));
    }

    #[test]
    fn after_auth_a_large_header_reserves_only_a_bounded_amount() {
        let mut src = header(DEFAULT_MAX_FRAME as u32);
        assert!(matches!(
            LinkCodec::<FromGateway>::default().decode(&mut src),
            Ok(None)
        ));
        assert!(
            src.capacity() <= 4 + MAX_RESERVE_AHEAD + 64,
            "reserved {} bytes for a header alone",
            src.capacity()
        );
    }

    #[test]
    fn handshake_messages_fit_the_handshake_limit() {
        let hello = Handshake::Hello {
            magic: Magic,
            version: PROTOCOL_VERSION,
            role: Role::Worker,
            nonce: [7; 32],
            name: "n".repeat(auth::MAX_NAME),
        };
        let refused = Handshake::Refused {
            reason: "r".repeat(200),
        };
        for m in [
            hello,
            Handshake::Challenge {
                nonce: [1; 32],
                proof: [2; 32],
            },
            Handshake::Auth { proof: [3; 32] },
            Handshake::AuthOk,
            refused,
        ] {
            let mut buf = BytesMut::new();
            encode_frame(&m, &mut buf);
            assert!(buf.len() - 4 <= HANDSHAKE_MAX_FRAME, "{m:?}");
            let back = LinkCodec::handshake().decode(&mut buf).unwrap();
            assert!(back.is_some());
        }
    }
}
