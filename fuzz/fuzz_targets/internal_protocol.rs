//! The internal protocol's frame decoder on arbitrary bytes, fed in chunks: never panics,
//! never buffers past one frame's limit, and what decodes re-encodes to the same body.
#![no_main]

use bytes::BytesMut;
use gateway::proto::{encode_frame, LinkCodec, Message};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut codec = LinkCodec::new(MAX);
    let mut buf = BytesMut::new();
    for chunk in data.chunks(7) {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(msg)) => round_trip(&msg),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(buf.len() <= MAX + 4 + 7);
    }
});

fn round_trip(msg: &Message) {
    let mut out = BytesMut::new();
    encode_frame(msg, &mut out);
    let again = LinkCodec::new(usize::MAX).decode(&mut out);
    assert_eq!(again.ok().flatten().as_ref(), Some(msg));
}
