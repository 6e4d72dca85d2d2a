//! Helpers shared by the codec tests: feed bytes in chunks like a socket would, check bounds.
#![allow(dead_code)]

use bytes::BytesMut;
use codecs::{CodecError, Inbound, Outbound};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

/// Encodes every item into one byte stream.
pub fn encode_all<E: Encoder<Outbound, Error = CodecError>>(
    codec: &mut E,
    items: &[Outbound],
) -> BytesMut {
    let mut out = BytesMut::new();
    for item in items {
        codec.encode(item.clone(), &mut out).expect("encode");
    }
    out
}

/// Feeds `bytes` to `codec` in chunks whose sizes cycle through `chunks`, decoding after each
/// chunk until `Ok(None)` as tokio-util's `Framed` does, then calls `decode_eof`.
///
/// Stops at the first error that closes the stream and returns the events so far with it.
/// Skipped errors are collected and the stream goes on. After every `Ok(None)` the buffer must
/// hold at most `bound` bytes: the codec never lets a partial message grow past its limit.
pub fn feed<D: Decoder<Item = Inbound, Error = CodecError>>(
    codec: &mut D,
    bytes: &[u8],
    chunks: &[usize],
    bound: usize,
) -> Fed {
    let mut fed = Fed::default();
    let mut src = BytesMut::new();
    let mut offset = 0;
    let mut sizes = chunks.iter().copied().filter(|&n| n > 0).cycle();
    while offset < bytes.len() {
        let n = sizes
            .next()
            .unwrap_or(bytes.len())
            .min(bytes.len() - offset);
        src.extend_from_slice(&bytes[offset..offset + n]);
        offset += n;
        loop {
            match codec.decode(&mut src) {
                Ok(Some(event)) => fed.events.push(event),
                Ok(None) => {
                    assert!(
                        src.len() <= bound,
                        "buffer holds {} bytes waiting for more, over the bound of {bound}",
                        src.len()
                    );
                    break;
                }
                Err(e) if e.can_continue() => fed.skipped.push(e),
                Err(e) => {
                    fed.error = Some(e);
                    return fed;
                }
            }
        }
    }
    loop {
        match codec.decode_eof(&mut src) {
            Ok(Some(event)) => fed.events.push(event),
            Ok(None) => break,
            Err(e) if e.can_continue() => fed.skipped.push(e),
            Err(e) => {
                fed.error = Some(e);
                break;
            }
        }
    }
    fed
}

/// What feeding a stream produced.
#[derive(Debug, Default)]
pub struct Fed {
    /// Every event decoded, in order.
    pub events: Vec<Inbound>,
    /// Errors after which the stream went on.
    pub skipped: Vec<CodecError>,
    /// The error that closed the stream, if any.
    pub error: Option<CodecError>,
}

/// The payload of a plain message event (panics on any other event: a test failure).
pub fn data(event: &Inbound) -> &[u8] {
    match event {
        Inbound::Message { data, fields: None } => data,
        other => panic!("expected a plain message, got {other:?}"),
    }
}

/// Decodes once from `bytes`, returning the result and the bytes left in the buffer.
pub fn decode_once<D: Decoder<Item = Inbound, Error = CodecError>>(
    codec: &mut D,
    bytes: &[u8],
) -> (Result<Option<Inbound>, CodecError>, BytesMut) {
    let mut src = BytesMut::from(bytes);
    let result = codec.decode(&mut src);
    (result, src)
}

/// Chunk sizes from 1 byte up, so splits land everywhere including inside headers.
pub fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![Just(1usize), 1usize..8, 1usize..300], 1..16)
}
