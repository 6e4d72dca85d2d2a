//! A stream split anywhere decodes as whole; lines back to back decode as one by one; garbage
//! and over-long lines are skipped and the stream goes on at the next `*`; arbitrary bytes in
//! arbitrary chunks never panic, never end the stream, nor buffer past the bound.

mod common;

use common::{codec, decode, line, vectors};
use family_h02::frame::MAX_LINE;
use family_kit::{
    assert_batched_as_one_by_one, assert_chunks_stay_bounded, assert_splits_decode_as_whole, feed,
    messages, Event,
};
use proptest::prelude::*;

fn lines() -> Vec<Vec<u8>> {
    vectors().iter().map(line).collect()
}

#[test]
fn every_vector_split_in_two_anywhere_decodes_as_whole() {
    let wholes = assert_splits_decode_as_whole(family_h02::codec, &lines());
    assert!(wholes.iter().all(|events| messages(events).len() == 1));
}

#[test]
fn all_vectors_back_to_back_decode_as_one_by_one() {
    let lines = lines();
    let events = assert_batched_as_one_by_one(family_h02::codec, &lines, 7);
    assert_eq!(messages(&events).len(), lines.len());
}

#[test]
fn garbage_and_a_cut_line_are_skipped_and_the_next_line_decodes() {
    let stream = b"GET / HTTP/1.1\r\n\x00\xff$\x24\x01*HQ,1,V1,10575*HQ,135790246811220,HTBT#";
    let events = decode(stream);
    let fields = messages(&events);
    assert_eq!(fields.len(), 1, "{events:?}");
    assert_eq!(fields[0]["kind"], "heartbeat");
    assert_eq!(fields[0]["device_id"], "135790246811220");
}

#[test]
fn an_over_long_line_is_dropped_once_and_the_stream_goes_on() {
    let mut stream = vec![b'*'];
    stream.resize(3 * MAX_LINE, b'x');
    stream.extend_from_slice(b"*HQ,135790246811220,HTBT#");
    let mut c = codec();
    let events = feed(&mut c, &[&stream]);
    assert!(
        !events.iter().any(|e| matches!(e, Event::Fatal(_))),
        "{events:?}"
    );
    assert_eq!(messages(&events).len(), 1);
    assert_eq!(c.protocol().too_long(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_chunks_never_panic_end_the_stream_nor_buffer_past_the_bound(
        chunks in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![Just(b'*'), Just(b'#'), Just(b','), any::<u8>()], 0..300),
            0..10),
    ) {
        assert_chunks_stay_bounded(family_h02::codec, MAX_LINE, b"", &chunks);
        let slices: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let events = feed(&mut codec(), &slices);
        prop_assert!(!events.iter().any(|e| matches!(e, Event::Fatal(_))), "{events:?}");
    }
}
