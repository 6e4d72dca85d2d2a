//! Splitting and batching never change what the GT06 codec decodes; arbitrary bytes never
//! panic it or grow its buffer past the limit.

// One shared copy for the three family crates: reading ../shared/vectors, hex helpers.
#[path = "../../family-tests/common.rs"]
mod common;

use bytes::BytesMut;
use codec_gt06::codec;
use codecs::CodecOptions;
use common::{drain, feed, Event};
use proptest::prelude::*;

fn uplink_frames() -> Option<Vec<Vec<u8>>> {
    let vectors = common::load("gt06")?;
    Some(
        vectors
            .iter()
            .filter(|v| v["direction"] == "uplink")
            .map(|v| hex::decode(v["hex"].as_str().unwrap()).unwrap())
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
    let decoded = common::messages(&batched).len();
    // 30 verified frames and 2 unverified WiFi packets; the 6 bad frames are skipped.
    assert_eq!(decoded, 32);
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
        prefix_valid in any::<bool>(),
    ) {
        let max = 512;
        let mut codec = codec(&CodecOptions { max_message_size: max, ..CodecOptions::default() });
        let mut buf = BytesMut::new();
        if prefix_valid {
            buf.extend_from_slice(&hex::decode("78780d01012345678901234500018cdd0d0a").unwrap());
        }
        let mut events = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(&chunk);
            if !drain(&mut codec, &mut buf, &mut events) {
                break;
            }
            prop_assert!(buf.len() <= max, "buffered {} bytes", buf.len());
        }
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
