//! Splitting and batching never change what the JT/T 808 codec decodes; arbitrary bytes never
//! panic it or grow its buffer past the limit.

use codec_jt808::codec;
use family_kit::uplink_frames;
use proptest::prelude::*;

#[test]
fn every_vector_split_in_two_anywhere_decodes_as_if_whole() {
    let Some(frames) = uplink_frames("jt808", |_| true) else {
        return;
    };
    let wholes = family_kit::assert_splits_decode_as_whole(codec, &frames);
    for (frame, whole) in frames.iter().zip(&wholes) {
        assert!(!whole.is_empty(), "{}", hex::encode(frame));
    }
}

#[test]
fn all_vectors_back_to_back_in_one_buffer_decode_as_when_sent_one_by_one() {
    let Some(frames) = uplink_frames("jt808", |_| true) else {
        return;
    };
    let batched = family_kit::assert_batched_as_one_by_one(codec, &frames, 7);
    // 32 verified frames, one of them a 0x0704 batch of 8, one of 4 and one of 1.
    assert_eq!(family_kit::messages(&batched).len(), 32 - 3 + 8 + 4 + 1);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_never_buffer_past_the_limit(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        delimiters in any::<bool>(),
    ) {
        let mut chunks = chunks;
        if delimiters {
            // Make delimiters and escapes frequent so frames are actually cut.
            for chunk in &mut chunks {
                for (i, b) in chunk.iter_mut().enumerate() {
                    if i % 17 == 0 { *b = 0x7e } else if i % 13 == 0 { *b = 0x7d }
                }
            }
        }
        family_kit::assert_chunks_stay_bounded(codec, 512, &[], &chunks);
    }
}
