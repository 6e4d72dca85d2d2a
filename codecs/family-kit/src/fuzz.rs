//! The body of a family's fuzz target (`fuzz_target!(|data| family_kit::family_codec(data,
//! 4096, my_family::codec))`): arbitrary bytes in arbitrary chunks never panic the codec or
//! grow its buffer past the limit, and encoding them as commands never panics.

use bytes::{Bytes, BytesMut};
use codecs::{CodecError, CodecOptions, Inbound, Outbound};
use tokio_util::codec::{Decoder, Encoder};

/// The chunk size the first byte picks (at least 1) and the bytes after it, so splits inside
/// headers and lines are explored too: the rest is fed in chunks of that size, as a socket
/// would deliver it. `None` on empty input.
pub fn chunked(input: &[u8]) -> Option<(usize, &[u8])> {
    let (&chunk, data) = input.split_first()?;
    Some((usize::from(chunk).max(1), data))
}

/// A device-family codec built by `new_codec` with a `max`-byte limit (and the fixed clock):
/// decoding never panics or buffers past `max` (skipped frames go on, a fatal error stops),
/// and encoding the input as `Data` and `Binary` commands never panics.
pub fn family_codec<C>(input: &[u8], max: usize, new_codec: impl Fn(&CodecOptions) -> C)
where
    C: Decoder<Item = Inbound, Error = CodecError> + Encoder<Outbound, Error = CodecError>,
{
    let Some((chunk, data)) = chunked(input) else {
        return;
    };
    let options = CodecOptions {
        max_message_size: max,
        ..crate::options()
    };
    let mut codec = new_codec(&options);
    let mut buf = BytesMut::new();
    'feed: for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) if err.can_continue() => {}
                Err(_) => break 'feed,
            }
        }
        assert!(buf.len() <= max, "buffered {} bytes", buf.len());
    }
    let mut out = BytesMut::new();
    let _ = codec.encode(Outbound::Data(Bytes::copy_from_slice(data)), &mut out);
    let _ = codec.encode(Outbound::Binary(Bytes::copy_from_slice(data)), &mut out);
}
