//! The `raw` codec: each read is one message, split at the maximum size.

mod common;

use bytes::{Bytes, BytesMut};
use codecs::{Codec, CodecOptions, Outbound, RawCodec};
use common::{chunk_sizes, data, feed};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

const MAX: usize = 64;

proptest! {
    #[test]
    fn each_read_is_one_message_or_max_sized_pieces_of_it(
        reads in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..20),
    ) {
        let mut codec = RawCodec::new(MAX);
        let mut src = BytesMut::new();
        for read in &reads {
            src.extend_from_slice(read);
            let mut messages = Vec::new();
            while let Some(event) = codec.decode(&mut src).unwrap() {
                messages.push(data(&event).to_vec());
            }
            prop_assert!(src.is_empty());
            let expected: Vec<Vec<u8>> = read.chunks(MAX).map(<[u8]>::to_vec).collect();
            prop_assert_eq!(messages, expected);
        }
    }

    #[test]
    fn any_bytes_split_anywhere_come_out_whole_and_in_order(
        bytes in prop::collection::vec(any::<u8>(), 0..2000),
        chunks in chunk_sizes(),
    ) {
        let fed = feed(&mut RawCodec::new(MAX), &bytes, &chunks, 0);
        prop_assert!(fed.error.is_none());
        let joined: Vec<u8> = fed.events.iter().flat_map(|e| data(e).to_vec()).collect();
        prop_assert_eq!(joined, bytes);
        prop_assert!(fed.events.iter().all(|e| !data(e).is_empty() && data(e).len() <= MAX));
    }
}

#[test]
fn an_empty_buffer_yields_nothing() {
    let mut src = BytesMut::new();
    assert_eq!(RawCodec::new(MAX).decode(&mut src).unwrap(), None);
    assert_eq!(RawCodec::new(MAX).decode_eof(&mut src).unwrap(), None);
}

#[test]
fn a_zero_limit_still_makes_progress_one_byte_at_a_time() {
    let mut codec = RawCodec::new(0);
    let mut src = BytesMut::from(&b"ab"[..]);
    assert_eq!(data(&codec.decode(&mut src).unwrap().unwrap()), b"a");
    assert_eq!(data(&codec.decode(&mut src).unwrap().unwrap()), b"b");
    assert_eq!(codec.decode(&mut src).unwrap(), None);
}

#[test]
fn the_encoder_writes_data_and_binary_as_they_are_and_close_as_nothing() {
    let mut codec = RawCodec::new(MAX);
    let mut dst = BytesMut::new();
    codec
        .encode(Outbound::Data(Bytes::from_static(b"ab")), &mut dst)
        .unwrap();
    codec
        .encode(Outbound::Binary(Bytes::from_static(b"\n\x00")), &mut dst)
        .unwrap();
    codec.encode(Outbound::Close(None), &mut dst).unwrap();
    assert_eq!(&dst[..], b"ab\n\x00");
}

#[test]
fn the_codec_is_named_raw_and_takes_its_limit_from_options() {
    let options = CodecOptions {
        max_message_size: 5,
        ..CodecOptions::default()
    };
    let codec = RawCodec::from_options(&options);
    assert_eq!(codec.name(), "raw");
    assert_eq!(codec.max_message_size(), 5);
    assert_eq!(
        RawCodec::default().max_message_size(),
        codecs::DEFAULT_MAX_MESSAGE_SIZE
    );
}
