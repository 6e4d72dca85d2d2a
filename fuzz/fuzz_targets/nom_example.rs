//! Fuzzes the nom adapter through the example protocol: arbitrary bytes in arbitrary chunks.
#![no_main]

use bytes::BytesMut;
use codecs::example::ExampleProtocol;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

const MAX: usize = 256;

fuzz_target!(|input: &[u8]| {
    // The first byte picks the chunk size, so splits inside frames are explored too.
    let Some((&chunk, data)) = input.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut codec = ExampleProtocol::codec(MAX);
    let mut src = BytesMut::new();
    for piece in data.chunks(chunk) {
        src.extend_from_slice(piece);
        loop {
            match codec.decode(&mut src) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    assert!(src.len() <= MAX, "buffer of {} bytes past the limit", src.len());
                    break;
                }
                // A skipped frame lets the stream go on; anything else closes it.
                Err(e) if e.can_continue() => {}
                Err(_) => return,
            }
        }
    }
    while let Ok(Some(_)) = codec.decode_eof(&mut src) {}
});
