//! Fuzzes the websocket upgrade request parser: arbitrary bytes as the request, in chunks.
#![no_main]

use bytes::BytesMut;
use codecs::websocket::MAX_FRAME_HEADER;
use codecs::{Codec, Inbound, WebSocketCodec};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

const HANDSHAKE_MAX: usize = 1024;
const MAX: usize = 4096;

fuzz_target!(|input: &[u8]| {
    // The first byte picks the chunk size; the second whether to accept or refuse.
    let Some((&chunk, rest)) = input.split_first() else {
        return;
    };
    let Some((&answer, data)) = rest.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut codec = WebSocketCodec::new(MAX).with_handshake_max_bytes(HANDSHAKE_MAX);
    let mut src = BytesMut::new();
    let mut out = BytesMut::new();
    for piece in data.chunks(chunk) {
        src.extend_from_slice(piece);
        loop {
            match codec.decode(&mut src) {
                Ok(Some(Inbound::Handshake(request))) => {
                    assert!(!request.path.is_empty());
                    let refuse = (answer & 1 == 1).then_some(u16::from(answer) * 3);
                    codec.answer_handshake(refuse, &mut out);
                    assert!(out.starts_with(b"HTTP/1.1 "));
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    // Before the answer the request limit holds; after it, one frame's.
                    let bound = HANDSHAKE_MAX.max(MAX + MAX_FRAME_HEADER);
                    assert!(src.len() <= bound, "buffer of {} bytes", src.len());
                    break;
                }
                Err(_) => return,
            }
        }
    }
});
