//! The bodies the codec fuzz targets share: each target picks a codec and calls one of these.
//! The device-family targets call the family kit's body, `family_kit::family_codec`, the one a
//! family crate outside this repository calls too.
//!
//! The first input byte is the chunk size, so splits inside headers and lines are explored too;
//! the rest is fed in chunks of that size, as a socket would deliver it (`family_kit::chunked`).

use bytes::BytesMut;
use codecs::{CodecError, Inbound};
use family_kit::chunked;
use tokio_util::codec::Decoder;

/// A stock message codec (`frame`, `text`) limited to `max` bytes: it yields only messages
/// of at most `max` bytes, waits with fewer than `max_buffered` bytes buffered, stops at the
/// first error, and finishes the stream at end of input without panicking.
pub fn message_codec<C>(input: &[u8], mut codec: C, max: usize, max_buffered: usize)
where
    C: Decoder<Item = Inbound, Error = CodecError>,
{
    let Some((chunk, data)) = chunked(input) else {
        return;
    };
    let mut src = BytesMut::new();
    for piece in data.chunks(chunk) {
        src.extend_from_slice(piece);
        loop {
            match codec.decode(&mut src) {
                Ok(Some(Inbound::Message { data, .. })) => assert!(data.len() <= max),
                Ok(Some(other)) => panic!("expected only messages, got {other:?}"),
                Ok(None) => {
                    assert!(
                        src.len() < max_buffered,
                        "buffer of {} bytes past the limit",
                        src.len()
                    );
                    break;
                }
                Err(_) => return,
            }
        }
    }
    while let Ok(Some(_)) = codec.decode_eof(&mut src) {}
}

/// The internal protocol's frame decoder for the messages `M` of one link role, limited to
/// `max` bytes a frame: never panics, never buffers past one frame and a chunk, and every
/// message it yields re-encodes to a frame that decodes to the same message.
pub fn link_codec<M>(input: &[u8], max: usize)
where
    M: gateway::proto::LinkMessage + PartialEq,
{
    use gateway::proto::{encode_frame, LinkCodec};
    let Some((chunk, data)) = chunked(input) else {
        return;
    };
    let mut codec = LinkCodec::<M>::new(max);
    let mut buf = BytesMut::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(msg)) => {
                    let mut out = BytesMut::new();
                    encode_frame(&msg, &mut out);
                    let again = LinkCodec::<M>::new(usize::MAX).decode(&mut out);
                    assert_eq!(again.ok().flatten().as_ref(), Some(&msg));
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(buf.len() <= max + 4 + chunk, "buffered {} bytes", buf.len());
    }
}
