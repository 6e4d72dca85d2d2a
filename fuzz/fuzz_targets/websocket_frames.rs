//! Fuzzes the websocket frame decoder: a codec past an accepted handshake, arbitrary frame
//! bytes in chunks, and every reply it produces read back as a well-formed server frame.
#![no_main]

use bytes::BytesMut;
use codecs::websocket::MAX_FRAME_HEADER;
use codecs::{Codec, Inbound, Outbound, WebSocketCodec};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

const MAX: usize = 512;
const REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fuzz_target!(|input: &[u8]| {
    let Some((&chunk, data)) = input.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut codec = WebSocketCodec::new(MAX);
    let mut src = BytesMut::from(REQUEST);
    assert!(matches!(
        codec.decode(&mut src),
        Ok(Some(Inbound::Handshake(_)))
    ));
    codec.answer_handshake(None, &mut BytesMut::new());
    for piece in data.chunks(chunk) {
        src.extend_from_slice(piece);
        loop {
            match codec.decode(&mut src) {
                Ok(Some(Inbound::Message { data, .. })) => {
                    assert!(data.len() <= MAX);
                    // Echo it, as the gateway's echo handler would.
                    let _ = codec.encode(Outbound::Data(data), &mut BytesMut::new());
                }
                Ok(Some(Inbound::Reply(reply))) => {
                    // Server frames: unmasked, a control opcode, at most 125 bytes of payload.
                    assert!(reply.len() >= 2 && reply.len() <= 127);
                    assert_eq!(reply[1] & 0x80, 0);
                    assert!(reply[0] & 0x0f >= 8);
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    assert!(
                        src.len() <= MAX + MAX_FRAME_HEADER,
                        "buffer of {} bytes",
                        src.len()
                    );
                    break;
                }
                Err(_) => return,
            }
        }
    }
});
