//! The nom adapter, tested through the worked example protocol in `codecs::example`.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use codecs::example::{checksum, encode_frame, ExampleMessage, ExampleProtocol, KIND_HELLO, MAGIC};
use codecs::{Codec, CodecError, Inbound, NomCodec, Outbound};
use common::{chunk_sizes, feed};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

const MAX: usize = 64;

fn codec() -> NomCodec<ExampleProtocol> {
    ExampleProtocol::codec(MAX)
}

fn frame(message: &ExampleMessage) -> BytesMut {
    let mut out = BytesMut::new();
    message.encode(&mut out).unwrap();
    out
}

fn reading(sensor: u8, value: i32) -> ExampleMessage {
    ExampleMessage::Reading { sensor, value }
}

fn uplink() -> impl Strategy<Value = ExampleMessage> {
    prop_oneof![
        "[a-z0-9-]{1,40}".prop_map(|device_id| ExampleMessage::Hello { device_id }),
        (any::<u8>(), any::<i32>()).prop_map(|(sensor, value)| reading(sensor, value)),
    ]
}

/// What the codec yields for one uplink message.
fn events_for(message: &ExampleMessage) -> Vec<Inbound> {
    match message {
        ExampleMessage::Hello { device_id } => vec![
            Inbound::Identity(device_id.clone()),
            Inbound::Reply(frame(&ExampleMessage::Ack { kind: KIND_HELLO }).freeze()),
            Inbound::Message {
                data: Bytes::from(device_id.clone()),
                fields: Some(serde_json::json!({ "kind": "hello", "device_id": device_id })),
            },
        ],
        ExampleMessage::Reading { sensor, value } => {
            let mut body = vec![*sensor];
            body.extend_from_slice(&value.to_be_bytes());
            vec![Inbound::Message {
                data: Bytes::from(body),
                fields: Some(
                    serde_json::json!({ "kind": "reading", "sensor": sensor, "value": value }),
                ),
            }]
        }
        other => panic!("not an uplink: {other:?}"),
    }
}

proptest! {
    #[test]
    fn any_uplinks_split_anywhere_decode_to_the_same_typed_events(
        messages in prop::collection::vec(uplink(), 0..30),
        chunks in chunk_sizes(),
    ) {
        let mut bytes = BytesMut::new();
        for m in &messages {
            m.encode(&mut bytes).unwrap();
        }
        let fed = feed(&mut codec(), &bytes, &chunks, MAX);
        prop_assert!(fed.error.is_none(), "{:?}", fed.error);
        prop_assert!(fed.skipped.is_empty());
        let expected: Vec<Inbound> = messages.iter().flat_map(events_for).collect();
        prop_assert_eq!(fed.events, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_buffer_past_the_limit(
        bytes in prop::collection::vec(prop_oneof![Just(MAGIC), any::<u8>()], 0..2000),
        chunks in chunk_sizes(),
    ) {
        let _ = feed(&mut codec(), &bytes, &chunks, MAX);
    }

    #[test]
    fn frames_with_random_bodies_never_panic_and_stay_in_step(
        frames in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..20), any::<bool>()), 0..20),
        chunks in chunk_sizes(),
    ) {
        // Any type and body, some with a broken checksum: each is a message or a skip,
        // never a closed stream, because the length keeps the decoder in step.
        let mut bytes = BytesMut::new();
        for (kind, body, corrupt) in &frames {
            encode_frame(*kind, body, &mut bytes).unwrap();
            if *corrupt {
                let last = bytes.len() - 1;
                bytes[last] ^= 0xFF;
            }
        }
        let fed = feed(&mut codec(), &bytes, &chunks, MAX);
        prop_assert!(fed.error.is_none(), "{:?}", fed.error);
        let messages = fed.events.iter().filter(|e| matches!(e, Inbound::Message { .. })).count();
        prop_assert_eq!(messages + fed.skipped.len(), frames.len());
    }
}

#[test]
fn an_incomplete_frame_waits_for_more_bytes_at_every_split() {
    let bytes = frame(&reading(3, 1234));
    for cut in 0..bytes.len() {
        let mut codec = codec();
        let mut src = BytesMut::from(&bytes[..cut]);
        assert_eq!(codec.decode(&mut src).unwrap(), None, "cut at {cut}");
        assert_eq!(src.len(), cut, "nothing consumed at cut {cut}");
        src.extend_from_slice(&bytes[cut..]);
        assert_eq!(
            codec.decode(&mut src).unwrap(),
            events_for(&reading(3, 1234)).pop()
        );
    }
}

#[test]
fn a_wrong_magic_byte_is_a_parse_error_that_closes_the_stream() {
    let mut src = frame(&reading(1, 1));
    src[0] = 0x5A;
    let error = codec().decode(&mut src).unwrap_err();
    assert!(matches!(error, CodecError::Protocol(_)), "{error:?}");
    assert!(!error.can_continue());
}

#[test]
fn a_bad_checksum_skips_that_frame_and_the_next_frame_decodes() {
    let mut src = frame(&reading(1, 10));
    let last = src.len() - 1;
    src[last] ^= 0x01;
    src.extend_from_slice(&frame(&reading(2, 20)));
    let mut codec = codec();
    let error = codec.decode(&mut src).unwrap_err();
    assert!(matches!(error, CodecError::Skipped(_)), "{error:?}");
    assert!(error.can_continue());
    assert_eq!(
        codec.decode(&mut src).unwrap(),
        events_for(&reading(2, 20)).pop()
    );
    assert_eq!(codec.decode(&mut src).unwrap(), None);
}

#[test]
fn an_unknown_frame_type_is_skipped() {
    let mut src = BytesMut::new();
    encode_frame(0x7F, b"??", &mut src).unwrap();
    assert!(matches!(
        codec().decode(&mut src),
        Err(CodecError::Skipped(_))
    ));
    assert!(src.is_empty());
}

#[test]
fn a_reading_with_the_wrong_body_length_is_skipped() {
    let mut src = BytesMut::new();
    encode_frame(codecs::example::KIND_READING, &[1, 2, 3], &mut src).unwrap();
    assert!(matches!(
        codec().decode(&mut src),
        Err(CodecError::Skipped(_))
    ));
}

#[test]
fn a_hello_whose_device_id_is_not_utf8_is_skipped() {
    let mut src = BytesMut::new();
    encode_frame(KIND_HELLO, &[0xFF, 0xFE], &mut src).unwrap();
    assert!(matches!(
        codec().decode(&mut src),
        Err(CodecError::Skipped(_))
    ));
}

#[test]
fn a_downlink_frame_sent_by_the_device_is_skipped() {
    let mut src = frame(&ExampleMessage::Command(Bytes::from_static(b"reboot")));
    assert!(matches!(
        codec().decode(&mut src),
        Err(CodecError::Skipped(_))
    ));
}

#[test]
fn a_frame_announcing_a_body_over_the_limit_is_too_large_before_the_body_arrives() {
    let mut src = BytesMut::new();
    src.put_u8(MAGIC);
    src.put_u8(KIND_HELLO);
    src.put_u16(1000);
    let error = codec().decode(&mut src).unwrap_err();
    assert!(
        matches!(
            error,
            CodecError::TooLarge {
                size: 1004,
                max: MAX
            }
        ),
        "{error:?}"
    );
    assert!(!error.can_continue());
}

#[test]
fn a_complete_frame_over_the_limit_in_one_read_is_too_large() {
    let device_id = "d".repeat(MAX);
    let mut src = frame(&ExampleMessage::Hello { device_id });
    let error = codec().decode(&mut src).unwrap_err();
    assert!(
        matches!(error, CodecError::TooLarge { size: 69, max: MAX }),
        "{error:?}"
    );
}

#[test]
fn a_frame_of_exactly_the_limit_is_accepted() {
    // 4-byte header + body + 1-byte checksum = MAX.
    let device_id = "d".repeat(MAX - 5);
    let mut src = frame(&ExampleMessage::Hello {
        device_id: device_id.clone(),
    });
    assert_eq!(
        codec().decode(&mut src).unwrap(),
        Some(Inbound::Identity(device_id))
    );
}

#[test]
fn a_hello_yields_identity_then_the_ack_reply_then_the_message() {
    let hello = ExampleMessage::Hello {
        device_id: "dev-1".into(),
    };
    let mut src = frame(&hello);
    let mut codec = codec();
    let mut events = Vec::new();
    while let Some(event) = codec.decode(&mut src).unwrap() {
        events.push(event);
    }
    assert_eq!(events, events_for(&hello));
    let Inbound::Reply(ack) = &events[1] else {
        panic!()
    };
    assert_eq!(
        ExampleMessage::decode_frame(ack).unwrap(),
        ExampleMessage::Ack { kind: KIND_HELLO }
    );
}

#[test]
fn outbound_data_encodes_as_a_command_frame_and_close_as_nothing() {
    let mut codec = codec();
    let mut dst = BytesMut::new();
    codec
        .encode(Outbound::Data(Bytes::from_static(b"on")), &mut dst)
        .unwrap();
    assert_eq!(
        ExampleMessage::decode_frame(&dst).unwrap(),
        ExampleMessage::Command(Bytes::from_static(b"on"))
    );
    let mut closed = BytesMut::new();
    codec.encode(Outbound::Close(None), &mut closed).unwrap();
    assert!(closed.is_empty());
}

#[test]
fn a_command_too_long_for_the_u16_length_is_an_encode_error() {
    let mut dst = BytesMut::new();
    let error = codec()
        .encode(Outbound::Binary(Bytes::from(vec![0u8; 65_536])), &mut dst)
        .unwrap_err();
    assert!(matches!(error, CodecError::Encode(_)), "{error:?}");
    assert!(dst.is_empty());
}

#[test]
fn the_checksum_is_the_xor_of_type_length_and_body() {
    // type 0x03, length 0x0102, body 0x10 0x20: 0x03 ^ 0x01 ^ 0x02 ^ 0x10 ^ 0x20 = 0x30.
    assert_eq!(checksum(0x03, 0x0102, &[0x10, 0x20]), 0x30);
    let bytes = frame(&reading(9, 9));
    assert_eq!(bytes[bytes.len() - 1], checksum(0x02, 5, &bytes[4..9]));
}

#[test]
fn decode_frame_rejects_trailing_bytes_and_partial_frames() {
    let mut bytes = frame(&reading(1, 2));
    assert!(ExampleMessage::decode_frame(&bytes[..bytes.len() - 1]).is_err());
    bytes.put_u8(0);
    assert!(ExampleMessage::decode_frame(&bytes).is_err());
}

#[test]
fn the_codec_is_named_after_its_protocol() {
    assert_eq!(codec().name(), "example");
}

/// Misbehaving parsers: the adapter must turn them into errors, never a panic or a hang.
mod broken_parsers {
    use super::*;
    use std::collections::VecDeque;

    struct Broken(fn(&[u8]) -> nom::IResult<&[u8], ()>);

    impl codecs::NomProtocol for Broken {
        type Frame = ();
        fn name(&self) -> &'static str {
            "broken"
        }
        fn parse<'a>(&mut self, input: &'a [u8]) -> nom::IResult<&'a [u8], ()> {
            (self.0)(input)
        }
        fn on_frame(&mut self, _: (), _: &mut VecDeque<Inbound>) -> Result<(), CodecError> {
            Ok(())
        }
        fn encode(&mut self, _: Outbound, _: &mut BytesMut) -> Result<(), CodecError> {
            Ok(())
        }
    }

    fn decode_with(
        parse: fn(&[u8]) -> nom::IResult<&[u8], ()>,
    ) -> Result<Option<Inbound>, CodecError> {
        NomCodec::new(Broken(parse), MAX).decode(&mut BytesMut::from(&b"abc"[..]))
    }

    #[test]
    fn a_parser_that_consumes_nothing_is_a_protocol_error_not_a_loop() {
        let result = decode_with(|input| Ok((input, ())));
        assert!(matches!(result, Err(CodecError::Protocol(_))), "{result:?}");
    }

    #[test]
    fn a_parser_returning_a_foreign_rest_is_a_protocol_error_not_a_panic() {
        let result = decode_with(|_| Ok((&b"a longer slice than the input"[..], ())));
        assert!(matches!(result, Err(CodecError::Protocol(_))), "{result:?}");
    }

    #[test]
    fn a_parser_error_on_a_foreign_slice_is_a_protocol_error_not_a_panic() {
        let result = decode_with(|_| {
            Err(nom::Err::Failure(nom::error::Error::new(
                &b"a longer slice than the input"[..],
                nom::error::ErrorKind::Verify,
            )))
        });
        assert!(matches!(result, Err(CodecError::Protocol(_))), "{result:?}");
    }

    #[test]
    fn a_parser_that_wants_an_unknown_amount_past_the_limit_is_too_large() {
        let mut codec = NomCodec::new(
            Broken(|_| Err(nom::Err::Incomplete(nom::Needed::Unknown))),
            3,
        );
        let mut src = BytesMut::from(&b"ab"[..]);
        assert_eq!(codec.decode(&mut src).unwrap(), None);
        src.put_u8(b'c');
        assert!(matches!(
            codec.decode(&mut src),
            Err(CodecError::TooLarge { size: 4, max: 3 })
        ));
    }
}
