//! Splitting and batching never change what the {{name}} codec decodes; arbitrary bytes never
//! panic it or grow its buffer past the limit.

use {{crate_ident}}::codec;
use family_kit::{messages, uplinks};

fn frames() -> Vec<Vec<u8>> {
    let vectors = family_kit::load_file(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/{{name}}.jsonl"));
    uplinks(&vectors, |v| v["frame_status"] == "ok")
}

#[test]
fn every_vector_split_in_two_anywhere_decodes_as_if_whole() {
    family_kit::assert_splits_decode_as_whole(codec, &frames());
}

#[test]
fn all_vectors_back_to_back_in_one_buffer_decode_as_when_sent_one_by_one() {
    let frames = frames();
    let batched = family_kit::assert_batched_as_one_by_one(codec, &frames, 3);
    assert_eq!(messages(&batched).len(), frames.len());
}

#[test]
fn arbitrary_bytes_never_panic_and_never_buffer_past_the_limit() {
    family_kit::assert_random_chunks_stay_bounded(codec, 512, &[], 0x5eed, 500);
    // After a good frame, the bytes that follow are read inside a session.
    family_kit::assert_random_chunks_stay_bounded(codec, 512, &frames()[0], 0x5eed, 500);
}
