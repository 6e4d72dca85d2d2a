//! Property tests for the websocket codec: masked client frames fed in arbitrary splits decode
//! to the same messages, server frames read back, and arbitrary bytes never panic nor grow the
//! read buffer past its limit.

use bytes::{Bytes, BytesMut};
use codecs::websocket::MAX_FRAME_HEADER;
use codecs::{Codec, Inbound, Outbound, WebSocketCodec};
use proptest::prelude::*;
use std::io::Cursor;
use tokio_util::codec::{Decoder, Encoder};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};

const REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// What a client sends: a data message cut into fragments, or a ping between messages.
#[derive(Debug, Clone)]
enum Item {
    Message {
        text: bool,
        data: Vec<u8>,
        /// Fragment sizes (cycled); the message is one frame when this is empty.
        cuts: Vec<usize>,
    },
    Ping(Vec<u8>),
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (any::<String>(), proptest::collection::vec(1usize..40, 0..4)).prop_map(|(text, cuts)| {
            Item::Message {
                text: true,
                data: text.into_bytes(),
                cuts,
            }
        }),
        (
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::collection::vec(1usize..80, 0..4)
        )
            .prop_map(|(data, cuts)| Item::Message {
                text: false,
                data,
                cuts
            }),
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Item::Ping),
    ]
}

/// One masked client frame, encoded by tungstenite (independent of the decoder under test).
fn client_frame(opcode: OpCode, is_final: bool, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let header = FrameHeader {
        is_final,
        opcode,
        mask: Some(mask),
        ..FrameHeader::default()
    };
    let mut out = Vec::new();
    Frame::from_payload(header, Bytes::copy_from_slice(payload))
        .format(&mut out)
        .unwrap();
    out
}

/// The client's bytes for `items`, and the events the server codec must yield for them.
fn encode_items(items: &[Item], mask: [u8; 4]) -> (Vec<u8>, Vec<Inbound>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for item in items {
        match item {
            Item::Ping(payload) => {
                wire.extend(client_frame(
                    OpCode::Control(Control::Ping),
                    true,
                    payload,
                    mask,
                ));
                let mut pong = Vec::new();
                Frame::pong(payload.clone()).format(&mut pong).unwrap();
                expected.push(Inbound::Reply(pong.into()));
            }
            Item::Message { text, data, cuts } => {
                let mut opcode = OpCode::Data(if *text { Data::Text } else { Data::Binary });
                let mut rest = &data[..];
                let mut sizes = cuts.iter().cycle();
                loop {
                    let size = match sizes.next() {
                        Some(size) if *size < rest.len() => *size,
                        _ => rest.len(),
                    };
                    let (fragment, tail) = rest.split_at(size);
                    wire.extend(client_frame(opcode, tail.is_empty(), fragment, mask));
                    opcode = OpCode::Data(Data::Continue);
                    rest = tail;
                    if rest.is_empty() {
                        break;
                    }
                }
                expected.push(Inbound::Message {
                    data: Bytes::copy_from_slice(data),
                    fields: None,
                });
            }
        }
    }
    (wire, expected)
}

/// A codec past an accepted handshake.
fn open_codec(max: usize) -> WebSocketCodec {
    let mut codec = WebSocketCodec::new(max);
    let mut src = BytesMut::from(REQUEST);
    assert!(matches!(
        codec.decode(&mut src),
        Ok(Some(Inbound::Handshake(_)))
    ));
    codec.answer_handshake(None, &mut BytesMut::new());
    codec
}

/// Feeds `wire` in chunks of the given sizes (cycled) and collects every event.
fn decode_in_chunks(codec: &mut WebSocketCodec, wire: &[u8], chunks: &[usize]) -> Vec<Inbound> {
    let mut src = BytesMut::new();
    let mut events = Vec::new();
    let mut rest = wire;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let size = (*sizes.next().unwrap()).min(rest.len());
        src.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        while let Some(event) = codec.decode(&mut src).unwrap() {
            events.push(event);
        }
    }
    assert!(src.is_empty(), "bytes left over");
    events
}

/// Feeds arbitrary bytes and checks the buffer bound after every `Ok(None)`.
fn feed_arbitrary(codec: &mut WebSocketCodec, bytes: &[u8], chunk: usize, bound: usize) {
    let mut src = BytesMut::new();
    for piece in bytes.chunks(chunk) {
        src.extend_from_slice(piece);
        loop {
            match codec.decode(&mut src) {
                Ok(Some(_)) => continue,
                Ok(None) => {
                    assert!(src.len() <= bound, "{} buffered > {bound}", src.len());
                    break;
                }
                Err(_) => return,
            }
        }
    }
}

proptest! {
    #[test]
    fn any_messages_in_any_splits_decode_to_the_same_messages(
        items in proptest::collection::vec(item(), 0..8),
        mask in any::<[u8; 4]>(),
        chunks in proptest::collection::vec(1usize..64, 1..8),
    ) {
        let (wire, expected) = encode_items(&items, mask);
        let mut codec = open_codec(1024);
        prop_assert_eq!(&decode_in_chunks(&mut codec, &wire, &chunks), &expected);
        let mut codec = open_codec(1024);
        prop_assert_eq!(&decode_in_chunks(&mut codec, &wire, &[1]), &expected);
    }

    #[test]
    fn any_server_message_reads_back_with_its_payload_and_type(
        data in proptest::collection::vec(any::<u8>(), 0..70_000),
        binary in any::<bool>(),
    ) {
        let mut codec = open_codec(1024);
        let mut out = BytesMut::new();
        let payload = Bytes::from(data.clone());
        let item = if binary { Outbound::Binary(payload) } else { Outbound::Data(payload) };
        codec.encode(item, &mut out).unwrap();
        let mut cursor = Cursor::new(&out[..]);
        let (header, len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
        let start = cursor.position() as usize;
        prop_assert_eq!(len as usize, data.len());
        prop_assert_eq!(&out[start..], &data[..]);
        prop_assert!(header.is_final && header.mask.is_none());
        let text = !binary && std::str::from_utf8(&data).is_ok();
        let want = OpCode::Data(if text { Data::Text } else { Data::Binary });
        prop_assert_eq!(header.opcode, want);
    }

    #[test]
    fn arbitrary_frame_bytes_never_panic_nor_grow_the_buffer_past_the_limit(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        chunk in 1usize..512,
    ) {
        let max = 256;
        feed_arbitrary(&mut open_codec(max), &bytes, chunk, max + MAX_FRAME_HEADER);
    }

    #[test]
    fn arbitrary_masked_frames_never_panic_nor_grow_the_buffer_past_the_limit(
        frames in proptest::collection::vec(
            (0u8..16, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..400)), 0..12),
        chunk in 1usize..512,
    ) {
        // Mostly well-formed frames with random opcodes and fin bits reach deeper states
        // (fragments, control frames, closes) than purely random bytes.
        let mut wire = Vec::new();
        for (opcode, fin, payload) in &frames {
            wire.extend(client_frame(OpCode::from(*opcode), *fin, payload, [9, 8, 7, 6]));
        }
        let max = 256;
        feed_arbitrary(&mut open_codec(max), &wire, chunk, max + MAX_FRAME_HEADER);
    }

    #[test]
    fn arbitrary_handshake_bytes_never_panic_nor_grow_the_buffer_past_the_limit(
        prefix_len in 0usize..REQUEST.len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        chunk in 1usize..256,
    ) {
        let mut input = REQUEST[..prefix_len].to_vec();
        input.extend(bytes);
        let max = 512;
        let mut codec = WebSocketCodec::new(1024).with_handshake_max_bytes(max);
        feed_arbitrary(&mut codec, &input, chunk, max);
    }
}
