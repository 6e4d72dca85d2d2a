//! Fuzzes the `frame` decoder: arbitrary bytes fed in arbitrary chunks.
#![no_main]

use bytes::BytesMut;
use codecs::FrameCodec;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

const MAX: usize = 256;

fuzz_target!(|input: &[u8]| {
    // The first byte picks the chunk size, so splits inside headers are explored too.
    let Some((&chunk, data)) = input.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut codec = FrameCodec::new(MAX);
    let mut src = BytesMut::new();
    for piece in data.chunks(chunk) {
        src.extend_from_slice(piece);
        loop {
            match codec.decode(&mut src) {
                Ok(Some(codecs::Inbound::Message { data, .. })) => assert!(data.len() <= MAX),
                Ok(Some(other)) => panic!("frame yields only messages, got {other:?}"),
                Ok(None) => {
                    assert!(src.len() < MAX + 4, "buffer of {} bytes past the limit", src.len());
                    break;
                }
                Err(_) => return,
            }
        }
    }
    while let Ok(Some(_)) = codec.decode_eof(&mut src) {}
});
