//! The typed error every codec returns.

use std::io;

/// What went wrong while decoding or encoding, and whether the stream may go on.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A message is larger than the configured maximum.
    #[error("message of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size announced or seen so far.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The bytes break the protocol: the stream cannot be resynchronised.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// One message was bad (e.g. a checksum) and was skipped; the stream goes on.
    #[error("skipped a bad message: {0}")]
    Skipped(String),
    /// The handshake was malformed, too large or refused.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// An outbound message cannot be encoded by this codec.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The underlying socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

impl CodecError {
    /// True when the caller may keep reading the stream after this error.
    pub fn can_continue(&self) -> bool {
        matches!(self, CodecError::Skipped(_) | CodecError::Encode(_))
    }
}
