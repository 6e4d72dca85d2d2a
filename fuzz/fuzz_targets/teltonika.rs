//! The teltonika codec on arbitrary bytes in arbitrary chunks: never panics, never buffers past its
//! limit, and encodes arbitrary commands without panicking.
#![no_main]

use bytes::{Bytes, BytesMut};
use codecs::{CodecOptions, Outbound};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let options = CodecOptions {
        max_message_size: MAX,
        ..CodecOptions::default()
    };
    let mut codec = codec_teltonika::codec(&options);
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
        assert!(buf.len() <= MAX, "buffered {} bytes", buf.len());
    }
    let mut out = BytesMut::new();
    let _ = codec.encode(Outbound::Data(Bytes::copy_from_slice(data)), &mut out);
    let _ = codec.encode(Outbound::Binary(Bytes::copy_from_slice(data)), &mut out);
});
