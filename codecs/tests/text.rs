//! The `text` codec: newline-delimited lines, `\r` stripped, over-long lines rejected.

mod common;

use bytes::{Bytes, BytesMut};
use codecs::{Codec, CodecError, CodecOptions, Inbound, Outbound, TextCodec};
use common::{chunk_sizes, data, decode_once, encode_all, feed};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

const MAX: usize = 64;

/// A line the encoder and decoder agree on: no `\n`, no trailing `\r`, at most `MAX` bytes.
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=MAX).prop_map(|mut bytes| {
        bytes.retain(|&b| b != b'\n');
        while bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        bytes
    })
}

proptest! {
    #[test]
    fn any_lines_split_anywhere_decode_to_the_same_lines(
        lines in prop::collection::vec(line(), 0..40),
        chunks in chunk_sizes(),
    ) {
        let items: Vec<Outbound> = lines.iter().map(|l| Outbound::Data(Bytes::from(l.clone()))).collect();
        let bytes = encode_all(&mut TextCodec::new(MAX), &items);
        let fed = feed(&mut TextCodec::new(MAX), &bytes, &chunks, MAX);
        prop_assert!(fed.error.is_none(), "{:?}", fed.error);
        let decoded: Vec<&[u8]> = fed.events.iter().map(data).collect();
        let expected: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn crlf_lines_split_anywhere_decode_without_the_cr(
        lines in prop::collection::vec(line(), 0..20),
        chunks in chunk_sizes(),
    ) {
        let mut bytes = Vec::new();
        for l in &lines {
            bytes.extend_from_slice(l);
            bytes.extend_from_slice(b"\r\n");
        }
        // MAX + 1: a line of MAX bytes plus its `\r` is MAX + 1 bytes before the `\n`.
        let fed = feed(&mut TextCodec::new(MAX + 1), &bytes, &chunks, MAX + 1);
        prop_assert!(fed.error.is_none(), "{:?}", fed.error);
        let decoded: Vec<&[u8]> = fed.events.iter().map(data).collect();
        let expected: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_buffer_past_the_limit(
        bytes in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..2000),
        chunks in chunk_sizes(),
    ) {
        let fed = feed(&mut TextCodec::new(MAX), &bytes, &chunks, MAX);
        for event in &fed.events {
            prop_assert!(data(event).len() <= MAX);
        }
        if let Some(error) = fed.error {
            let is_too_large = matches!(error, CodecError::TooLarge { max: MAX, .. });
            prop_assert!(is_too_large, "{:?}", error);
        }
    }
}

#[test]
fn a_line_split_at_every_byte_decodes_once_complete() {
    let mut codec = TextCodec::new(MAX);
    let mut src = BytesMut::new();
    for &b in b"hello world" {
        src.extend_from_slice(&[b]);
        assert_eq!(codec.decode(&mut src).unwrap(), None);
    }
    src.extend_from_slice(b"\n");
    let event = codec.decode(&mut src).unwrap().unwrap();
    assert_eq!(data(&event), b"hello world");
    assert!(src.is_empty());
}

#[test]
fn only_one_trailing_cr_is_stripped() {
    let (result, _) = decode_once(&mut TextCodec::new(MAX), b"a\r\r\n");
    assert_eq!(data(&result.unwrap().unwrap()), b"a\r");
}

#[test]
fn a_cr_inside_a_line_is_kept() {
    let (result, _) = decode_once(&mut TextCodec::new(MAX), b"a\rb\n");
    assert_eq!(data(&result.unwrap().unwrap()), b"a\rb");
}

#[test]
fn an_empty_line_is_an_empty_message() {
    let mut codec = TextCodec::new(MAX);
    let mut src = BytesMut::from(&b"\n\r\nx\n"[..]);
    assert_eq!(data(&codec.decode(&mut src).unwrap().unwrap()), b"");
    assert_eq!(data(&codec.decode(&mut src).unwrap().unwrap()), b"");
    assert_eq!(data(&codec.decode(&mut src).unwrap().unwrap()), b"x");
    assert_eq!(codec.decode(&mut src).unwrap(), None);
}

#[test]
fn a_line_of_exactly_the_maximum_is_accepted() {
    let mut line = vec![b'x'; MAX];
    line.push(b'\n');
    let (result, _) = decode_once(&mut TextCodec::new(MAX), &line);
    assert_eq!(data(&result.unwrap().unwrap()).len(), MAX);
}

#[test]
fn a_line_over_the_maximum_is_too_large_and_closes_the_stream() {
    let mut line = vec![b'x'; MAX + 1];
    line.push(b'\n');
    let (result, _) = decode_once(&mut TextCodec::new(MAX), &line);
    let error = result.unwrap_err();
    assert!(
        matches!(error, CodecError::TooLarge { size: 66, max: MAX }),
        "{error:?}"
    );
    assert!(!error.can_continue());
}

#[test]
fn an_unterminated_line_over_the_maximum_is_too_large_before_its_newline_arrives() {
    let mut codec = TextCodec::new(MAX);
    let mut src = BytesMut::new();
    for _ in 0..MAX {
        src.extend_from_slice(b"y");
        assert_eq!(codec.decode(&mut src).unwrap(), None);
    }
    src.extend_from_slice(b"y");
    let error = codec.decode(&mut src).unwrap_err();
    assert!(
        matches!(error, CodecError::TooLarge { size: 65, max: MAX }),
        "{error:?}"
    );
}

#[test]
fn a_line_over_the_maximum_is_too_large_even_after_complete_lines_in_the_same_read() {
    let mut bytes = b"ok\n".to_vec();
    bytes.extend(vec![b'z'; MAX + 10]);
    let fed = feed(&mut TextCodec::new(MAX), &bytes, &[bytes.len()], MAX);
    assert_eq!(fed.events.len(), 1);
    assert!(matches!(fed.error, Some(CodecError::TooLarge { .. })));
}

#[test]
fn the_unterminated_last_line_is_a_message_at_end_of_stream() {
    let mut codec = TextCodec::new(MAX);
    let mut src = BytesMut::from(&b"one\ntwo\r"[..]);
    assert_eq!(data(&codec.decode_eof(&mut src).unwrap().unwrap()), b"one");
    assert_eq!(data(&codec.decode_eof(&mut src).unwrap().unwrap()), b"two");
    assert_eq!(codec.decode_eof(&mut src).unwrap(), None);
}

#[test]
fn a_buffer_shrunk_by_the_caller_does_not_confuse_the_scan() {
    let mut codec = TextCodec::new(MAX);
    let mut src = BytesMut::from(&b"partial line"[..]);
    assert_eq!(codec.decode(&mut src).unwrap(), None);
    src.clear();
    src.extend_from_slice(b"new\n");
    assert_eq!(data(&codec.decode(&mut src).unwrap().unwrap()), b"new");
}

#[test]
fn the_encoder_appends_a_newline_to_data_and_binary() {
    let mut codec = TextCodec::new(MAX);
    let mut dst = BytesMut::new();
    codec
        .encode(Outbound::Data(Bytes::from_static(b"hi")), &mut dst)
        .unwrap();
    codec
        .encode(Outbound::Binary(Bytes::from_static(b"\x00\x01")), &mut dst)
        .unwrap();
    assert_eq!(&dst[..], b"hi\n\x00\x01\n");
}

#[test]
fn close_encodes_nothing() {
    let mut dst = BytesMut::new();
    TextCodec::new(MAX)
        .encode(Outbound::Close(None), &mut dst)
        .unwrap();
    assert!(dst.is_empty());
}

#[test]
fn the_codec_is_named_text_and_takes_its_limit_from_options() {
    let options = CodecOptions {
        max_message_size: 7,
        ..CodecOptions::default()
    };
    let codec = TextCodec::from_options(&options);
    assert_eq!(codec.name(), "text");
    assert_eq!(codec.max_message_size(), 7);
    assert_eq!(
        TextCodec::default().max_message_size(),
        codecs::DEFAULT_MAX_MESSAGE_SIZE
    );
}

#[test]
fn messages_are_plain_with_no_fields() {
    let (result, _) = decode_once(&mut TextCodec::new(MAX), b"x\n");
    assert_eq!(
        result.unwrap(),
        Some(Inbound::Message {
            data: Bytes::from_static(b"x"),
            fields: None
        })
    );
}
