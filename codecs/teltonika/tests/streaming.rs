//! Splitting and batching never change what the Teltonika codec decodes; arbitrary bytes
//! never panic it or grow its buffer past the limit.

// One shared copy for the three family crates: reading ../shared/vectors, hex helpers.
#[path = "../../family-tests/common.rs"]
mod common;

use bytes::BytesMut;
use codec_teltonika::codec;
use codecs::CodecOptions;
use common::{drain, feed, Event};
use proptest::prelude::*;

/// Uplink packets a session can carry one after another: the IMEI first, then every packet
/// whose length field is right (a wrong one desynchronises the stream by design).
fn session_packets() -> Option<Vec<Vec<u8>>> {
    let vectors = common::load("teltonika")?;
    Some(
        vectors
            .iter()
            .filter(|v| v["direction"] == "uplink" && v["frame_status"] != "length_mismatch")
            .map(|v| hex::decode(v["hex"].as_str().unwrap()).unwrap())
            .collect(),
    )
}

#[test]
fn every_vector_split_in_two_anywhere_decodes_as_if_whole() {
    let Some(vectors) = common::load("teltonika") else {
        return;
    };
    for v in vectors.iter().filter(|v| v["direction"] == "uplink") {
        let packet = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        let whole = feed(&mut codec(&CodecOptions::default()), &[&packet]);
        for cut in 1..packet.len() {
            let split = feed(
                &mut codec(&CodecOptions::default()),
                &[&packet[..cut], &packet[cut..]],
            );
            assert_eq!(split, whole, "{} cut at {cut}", v["hex"]);
        }
    }
}

#[test]
fn a_whole_session_back_to_back_in_one_buffer_decodes_as_when_sent_one_by_one() {
    let Some(packets) = session_packets() else {
        return;
    };
    let stream: Vec<u8> = packets.concat();
    let chunks: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    let one_by_one = feed(&mut codec(&CodecOptions::default()), &chunks);
    let batched = feed(&mut codec(&CodecOptions::default()), &[&stream]);
    assert_eq!(batched, one_by_one);
    assert!(
        !batched.iter().any(|e| matches!(e, Event::Fatal(_))),
        "{batched:?}"
    );
    assert_eq!(
        batched
            .iter()
            .filter(|e| matches!(e, Event::Skipped(_)))
            .count(),
        3
    );
    for cut in (1..stream.len()).step_by(11) {
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
        zero_prefix in any::<bool>(),
    ) {
        let max = 512;
        let mut codec = codec(&CodecOptions { max_message_size: max, ..CodecOptions::default() });
        let mut buf = BytesMut::new();
        if zero_prefix {
            // A preamble, so the bytes after it are read as a length and records.
            buf.extend_from_slice(&[0, 0, 0, 0]);
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
    fn checksummed_random_records_never_panic(data in proptest::collection::vec(any::<u8>(), 3..200), codec_id in prop::sample::select(vec![0x08u8, 0x8e, 0x10, 0x0c, 0x0d])) {
        let mut data = data;
        data[0] = codec_id;
        let packet = codec_teltonika::frame::wrap(&data);
        let events = feed(&mut codec(&CodecOptions::default()), &[&packet]);
        prop_assert!(!events.iter().any(|e| matches!(e, Event::Fatal(_))));
    }
}
