//! Splitting and batching never change what the JT/T 808 codec decodes; arbitrary bytes never
//! panic it or grow its buffer past the limit.

// One shared copy for the three family crates: reading ../shared/vectors, hex helpers.
#[path = "../../family-tests/common.rs"]
mod common;

use bytes::BytesMut;
use codec_jt808::codec;
use codecs::CodecOptions;
use common::{drain, feed, Event};
use proptest::prelude::*;
use serde_json::Value;

/// Every uplink frame in its wire (escaped) form.
fn uplink_frames() -> Option<Vec<Vec<u8>>> {
    let vectors = common::load("jt808")?;
    Some(
        vectors
            .iter()
            .filter(|v| v["direction"] == "uplink")
            .map(|v| {
                let hex = match v["hex_form"].as_str() {
                    Some("wire") => v["hex"].as_str(),
                    _ => v
                        .get("wire_hex")
                        .and_then(Value::as_str)
                        .or(v["hex"].as_str()),
                };
                hex::decode(hex.unwrap()).unwrap()
            })
            .collect(),
    )
}

#[test]
fn every_vector_split_in_two_anywhere_decodes_as_if_whole() {
    let Some(frames) = uplink_frames() else {
        return;
    };
    for frame in &frames {
        let whole = feed(&mut codec(&CodecOptions::default()), &[frame]);
        assert!(!whole.is_empty(), "{}", hex::encode(frame));
        for cut in 1..frame.len() {
            let split = feed(
                &mut codec(&CodecOptions::default()),
                &[&frame[..cut], &frame[cut..]],
            );
            assert_eq!(split, whole, "{} cut at {cut}", hex::encode(frame));
        }
    }
}

#[test]
fn all_vectors_back_to_back_in_one_buffer_decode_as_when_sent_one_by_one() {
    let Some(frames) = uplink_frames() else {
        return;
    };
    let stream: Vec<u8> = frames.concat();
    let chunks: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let one_by_one = feed(&mut codec(&CodecOptions::default()), &chunks);
    let batched = feed(&mut codec(&CodecOptions::default()), &[&stream]);
    assert_eq!(batched, one_by_one);
    assert!(
        !batched.iter().any(|e| matches!(e, Event::Fatal(_))),
        "{batched:?}"
    );
    // 32 verified frames, one of them a 0x0704 batch of 8, one of 4 and one of 1.
    assert_eq!(common::messages(&batched).len(), 32 - 3 + 8 + 4 + 1);
    for cut in (1..stream.len()).step_by(7) {
        let split = feed(
            &mut codec(&CodecOptions::default()),
            &[&stream[..cut], &stream[cut..]],
        );
        assert_eq!(split, one_by_one, "stream cut at {cut}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_never_buffer_past_the_limit(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        delimiters in any::<bool>(),
    ) {
        let max = 512;
        let mut codec = codec(&CodecOptions { max_message_size: max, ..CodecOptions::default() });
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        for mut chunk in chunks {
            if delimiters {
                // Make delimiters and escapes frequent so frames are actually cut.
                for (i, b) in chunk.iter_mut().enumerate() {
                    if i % 17 == 0 { *b = 0x7e } else if i % 13 == 0 { *b = 0x7d }
                }
            }
            buf.extend_from_slice(&chunk);
            if !drain(&mut codec, &mut buf, &mut events) {
                break;
            }
            prop_assert!(buf.len() <= max, "buffered {} bytes", buf.len());
        }
    }
}
