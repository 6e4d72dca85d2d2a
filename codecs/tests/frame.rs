//! The `frame` codec: u32 big-endian total length (header included), then the body.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use codecs::{Codec, CodecError, CodecOptions, FrameCodec, Outbound};
use common::{chunk_sizes, data, decode_once, encode_all, feed};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

const MAX: usize = 64;

fn bodies() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..=MAX), 0..40)
}

fn framed(total: u32, body: &[u8]) -> Vec<u8> {
    let mut bytes = total.to_be_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

proptest! {
    #[test]
    fn any_frames_split_anywhere_decode_to_the_same_bodies(bodies in bodies(), chunks in chunk_sizes()) {
        let items: Vec<Outbound> = bodies.iter().map(|b| Outbound::Binary(Bytes::from(b.clone()))).collect();
        let bytes = encode_all(&mut FrameCodec::new(MAX), &items);
        let fed = feed(&mut FrameCodec::new(MAX), &bytes, &chunks, MAX + 4);
        prop_assert!(fed.error.is_none(), "{:?}", fed.error);
        let decoded: Vec<&[u8]> = fed.events.iter().map(data).collect();
        let expected: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn frames_decode_to_what_length_delimited_codec_reads_from_the_same_bytes(bodies in bodies()) {
        // The same builder the benchmark uses as its baseline, so the comparison is fair.
        // Its limit applies to the length field, which counts the header: hence MAX + 4.
        let mut baseline = LengthDelimitedCodec::builder()
            .length_field_offset(0)
            .length_field_type::<u32>()
            .length_adjustment(-4)
            .num_skip(4)
            .max_frame_length(MAX + 4)
            .new_codec();
        let items: Vec<Outbound> = bodies.iter().map(|b| Outbound::Data(Bytes::from(b.clone()))).collect();
        let bytes = encode_all(&mut FrameCodec::new(MAX), &items);
        let mut ours_src = BytesMut::from(&bytes[..]);
        let mut theirs_src = ours_src.clone();
        let mut ours = FrameCodec::new(MAX);
        loop {
            let mine = ours.decode(&mut ours_src).unwrap();
            let theirs = baseline.decode(&mut theirs_src).unwrap();
            prop_assert_eq!(mine.as_ref().map(|e| data(e).to_vec()), theirs.map(|b| b.to_vec()));
            if mine.is_none() {
                break;
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_buffer_past_the_limit(
        bytes in prop::collection::vec(any::<u8>(), 0..2000),
        chunks in chunk_sizes(),
    ) {
        let fed = feed(&mut FrameCodec::new(MAX), &bytes, &chunks, MAX + 4);
        for event in &fed.events {
            prop_assert!(data(event).len() <= MAX);
        }
    }

    #[test]
    fn small_length_prefixes_never_stall_nor_buffer_past_the_limit(
        totals in prop::collection::vec(0u32..(MAX as u32 + 10), 1..20),
        chunks in chunk_sizes(),
    ) {
        // Headers only, with lengths around every boundary: each one either waits for a body
        // that fits the limit or is an error, never a silent stall past the limit.
        let bytes: Vec<u8> = totals.iter().flat_map(|t| t.to_be_bytes()).collect();
        let fed = feed(&mut FrameCodec::new(MAX), &bytes, &chunks, MAX + 4);
        prop_assert!(fed.error.is_some() || fed.events.iter().all(|e| data(e).len() <= MAX));
    }
}

#[test]
fn a_frame_split_at_every_byte_decodes_once_complete() {
    let bytes = framed(9, b"hello");
    let mut codec = FrameCodec::new(MAX);
    let mut src = BytesMut::new();
    for &b in &bytes[..bytes.len() - 1] {
        src.put_u8(b);
        assert_eq!(codec.decode(&mut src).unwrap(), None);
    }
    src.put_u8(bytes[bytes.len() - 1]);
    assert_eq!(data(&codec.decode(&mut src).unwrap().unwrap()), b"hello");
    assert!(src.is_empty());
}

#[test]
fn frame_length_below_header_size_is_a_protocol_error() {
    for total in 0..4u32 {
        let (result, _) = decode_once(&mut FrameCodec::new(MAX), &framed(total, b"xxxx"));
        let error = result.unwrap_err();
        assert!(
            matches!(error, CodecError::Protocol(_)),
            "length {total}: {error:?}"
        );
        assert!(!error.can_continue());
    }
}

#[test]
fn frame_length_of_exactly_the_header_is_an_empty_message() {
    let mut codec = FrameCodec::new(MAX);
    let mut src = BytesMut::from(&framed(4, b"")[..]);
    src.extend_from_slice(&framed(5, b"x"));
    assert_eq!(data(&codec.decode(&mut src).unwrap().unwrap()), b"");
    assert_eq!(data(&codec.decode(&mut src).unwrap().unwrap()), b"x");
    assert_eq!(codec.decode(&mut src).unwrap(), None);
}

#[test]
fn a_body_of_exactly_the_maximum_is_accepted() {
    let body = vec![7u8; MAX];
    let (result, src) = decode_once(&mut FrameCodec::new(MAX), &framed(MAX as u32 + 4, &body));
    assert_eq!(data(&result.unwrap().unwrap()), &body[..]);
    assert!(src.is_empty());
}

#[test]
fn frame_body_over_the_maximum_is_too_large_as_soon_as_the_header_arrives() {
    let (result, _) = decode_once(&mut FrameCodec::new(MAX), &framed(MAX as u32 + 5, b""));
    let error = result.unwrap_err();
    assert!(
        matches!(error, CodecError::TooLarge { size: 65, max: MAX }),
        "{error:?}"
    );
    assert!(!error.can_continue());
}

#[test]
fn frame_length_of_u32_max_is_too_large_not_a_stall() {
    let (result, _) = decode_once(&mut FrameCodec::new(MAX), &framed(u32::MAX, b""));
    assert!(matches!(result, Err(CodecError::TooLarge { .. })));
}

#[test]
fn a_partial_header_waits_for_more_bytes() {
    let (result, src) = decode_once(&mut FrameCodec::new(MAX), &[0, 0, 0]);
    assert_eq!(result.unwrap(), None);
    assert_eq!(src.len(), 3);
}

#[test]
fn a_stream_ending_inside_a_frame_is_a_protocol_error() {
    let mut codec = FrameCodec::new(MAX);
    let mut src = BytesMut::from(&framed(10, b"abc")[..]);
    let error = codec.decode_eof(&mut src).unwrap_err();
    assert!(matches!(error, CodecError::Protocol(_)), "{error:?}");
}

#[test]
fn a_stream_ending_between_frames_is_a_clean_end() {
    let mut codec = FrameCodec::new(MAX);
    let mut src = BytesMut::from(&framed(6, b"ab")[..]);
    assert_eq!(data(&codec.decode_eof(&mut src).unwrap().unwrap()), b"ab");
    assert_eq!(codec.decode_eof(&mut src).unwrap(), None);
}

#[test]
fn the_encoder_writes_a_length_that_counts_the_header() {
    let mut codec = FrameCodec::new(MAX);
    let mut dst = BytesMut::new();
    codec
        .encode(Outbound::Data(Bytes::from_static(b"hi")), &mut dst)
        .unwrap();
    codec
        .encode(Outbound::Binary(Bytes::new()), &mut dst)
        .unwrap();
    assert_eq!(&dst[..], b"\x00\x00\x00\x06hi\x00\x00\x00\x04");
}

#[test]
fn a_body_too_long_for_a_u32_length_is_an_encode_error_that_keeps_the_stream() {
    // alloc_zeroed maps untouched pages, so this costs address space, not memory.
    let huge = Bytes::from(vec![0u8; u32::MAX as usize - 3]);
    let mut dst = BytesMut::new();
    let error = FrameCodec::new(MAX)
        .encode(Outbound::Data(huge), &mut dst)
        .unwrap_err();
    assert!(matches!(error, CodecError::Encode(_)), "{error:?}");
    assert!(error.can_continue());
    assert!(dst.is_empty());
}

#[test]
fn close_encodes_nothing() {
    let mut dst = BytesMut::new();
    FrameCodec::new(MAX)
        .encode(Outbound::Close(None), &mut dst)
        .unwrap();
    assert!(dst.is_empty());
}

#[test]
fn the_codec_is_named_frame_and_takes_its_limit_from_options() {
    let options = CodecOptions {
        max_message_size: 3,
        ..CodecOptions::default()
    };
    let mut codec = FrameCodec::from_options(&options);
    assert_eq!(codec.name(), "frame");
    let (result, _) = decode_once(&mut codec, &framed(8, b"four"));
    assert!(matches!(
        result,
        Err(CodecError::TooLarge { size: 4, max: 3 })
    ));
    assert_eq!(
        FrameCodec::default().max_message_size(),
        codecs::DEFAULT_MAX_MESSAGE_SIZE
    );
}
