//! Splitting and batching never change what the GT06 codec decodes; arbitrary bytes never
//! panic it or grow its buffer past the limit.

use codec_gt06::codec;
use codecs::CodecOptions;
use family_kit::{feed, uplink_frames};
use proptest::prelude::*;

#[test]
fn every_vector_split_in_two_anywhere_decodes_as_if_whole() {
    let Some(frames) = uplink_frames("gt06", |_| true) else {
        return;
    };
    family_kit::assert_splits_decode_as_whole(codec, &frames);
}

#[test]
fn all_vectors_back_to_back_in_one_buffer_decode_as_when_sent_one_by_one() {
    let Some(frames) = uplink_frames("gt06", |_| true) else {
        return;
    };
    let batched = family_kit::assert_batched_as_one_by_one(codec, &frames, 7);
    // 30 verified frames and 2 unverified WiFi packets; the 6 bad frames are skipped.
    assert_eq!(family_kit::messages(&batched).len(), 32);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_never_buffer_past_the_limit(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        prefix_valid in any::<bool>(),
    ) {
        // A login first, so the bytes after it are read inside a session.
        let prefix = if prefix_valid {
            hex::decode("78780d01012345678901234500018cdd0d0a").unwrap()
        } else {
            Vec::new()
        };
        family_kit::assert_chunks_stay_bounded(codec, 512, &prefix, &chunks);
    }

    #[test]
    fn framed_garbage_with_valid_markers_never_panics(body in proptest::collection::vec(any::<u8>(), 0..80), long in any::<bool>()) {
        let mut frame = if long { vec![0x79, 0x79, 0x00] } else { vec![0x78, 0x78] };
        frame.push(body.len() as u8);
        frame.extend_from_slice(&body);
        frame.extend_from_slice(&[0x0d, 0x0a]);
        let events = feed(&mut codec(&CodecOptions::default()), &[&frame]);
        prop_assert!(events.len() <= 3);
    }
}
