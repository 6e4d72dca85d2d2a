//! Splitting and batching never change what the Teltonika codec decodes; arbitrary bytes
//! never panic it or grow its buffer past the limit.

use codec_teltonika::codec;
use codecs::CodecOptions;
use family_kit::{feed, uplink_frames, Event};
use proptest::prelude::*;

#[test]
fn every_vector_split_in_two_anywhere_decodes_as_if_whole() {
    let Some(packets) = uplink_frames("teltonika", |_| true) else {
        return;
    };
    family_kit::assert_splits_decode_as_whole(codec, &packets);
}

#[test]
fn a_whole_session_back_to_back_in_one_buffer_decodes_as_when_sent_one_by_one() {
    // The IMEI first, then every packet whose length field is right (a wrong one
    // desynchronises the stream by design).
    let Some(packets) = uplink_frames("teltonika", |v| v["frame_status"] != "length_mismatch")
    else {
        return;
    };
    let batched = family_kit::assert_batched_as_one_by_one(codec, &packets, 11);
    let skipped = batched.iter().filter(|e| matches!(e, Event::Skipped(_)));
    assert_eq!(skipped.count(), 3);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_never_buffer_past_the_limit(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        zero_prefix in any::<bool>(),
    ) {
        // A preamble, so the bytes after it are read as a length and records.
        let prefix: &[u8] = if zero_prefix { &[0, 0, 0, 0] } else { &[] };
        family_kit::assert_chunks_stay_bounded(codec, 512, prefix, &chunks);
    }

    #[test]
    fn checksummed_random_records_never_panic(data in proptest::collection::vec(any::<u8>(), 3..200), codec_id in prop::sample::select(vec![0x08u8, 0x8e, 0x10, 0x0c, 0x0d])) {
        let mut data = data;
        data[0] = codec_id;
        let packet = codec_teltonika::frame::wrap(&data);
        let events = feed(&mut codec(&CodecOptions::default()), &[&packet]);
        prop_assert!(!events.iter().any(|e| matches!(e, Event::Fatal(_))));
    }
}
