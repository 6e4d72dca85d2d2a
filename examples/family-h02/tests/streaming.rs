//! A stream split anywhere decodes as whole; lines back to back decode as one by one; garbage
//! and over-long lines are skipped and the stream goes on at the next `*`; arbitrary bytes in
//! arbitrary chunks never panic nor buffer past the bound.

mod common;

use codecs::Inbound;
use common::{codec, decode, feed, messages, vectors};
use family_h02::frame::MAX_LINE;
use proptest::prelude::*;

/// Events as comparable text (the codec's events hold JSON and bytes).
fn shown(events: &[Inbound]) -> Vec<String> {
    events.iter().map(|e| format!("{e:?}")).collect()
}

#[test]
fn every_vector_split_in_two_anywhere_decodes_as_whole() {
    for v in vectors() {
        let bytes = v.text.as_bytes();
        let whole = shown(&decode(bytes));
        for at in 0..=bytes.len() {
            let (events, err) = feed(&mut codec(), &[&bytes[..at], &bytes[at..]]);
            assert!(err.is_none(), "line {} split at {at}: {err:?}", v.line);
            assert_eq!(shown(&events), whole, "line {} split at {at}", v.line);
        }
    }
}

#[test]
fn all_vectors_back_to_back_decode_as_one_by_one() {
    let all = vectors();
    let joined: String = all.iter().map(|v| v.text.as_str()).collect();
    let together = messages(&decode(joined.as_bytes()));
    let one_by_one: Vec<_> = all
        .iter()
        .flat_map(|v| messages(&decode(v.text.as_bytes())))
        .collect();
    assert_eq!(together, one_by_one);
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
    let (events, err) = feed(&mut c, &[&stream]);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(messages(&events).len(), 1);
    assert_eq!(c.protocol().too_long(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_chunks_never_panic_nor_buffer_past_the_bound(
        chunks in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![Just(b'*'), Just(b'#'), Just(b','), any::<u8>()], 0..300),
            0..10),
    ) {
        let mut c = codec();
        let mut buf = bytes::BytesMut::new();
        for chunk in &chunks {
            buf.extend_from_slice(chunk);
            loop {
                match tokio_util::codec::Decoder::decode(&mut c, &mut buf) {
                    Ok(Some(_)) | Err(codecs::CodecError::Skipped(_)) => {}
                    Ok(None) => break,
                    Err(e) => panic!("h02 never closes a stream: {e:?}"),
                }
            }
            prop_assert!(buf.len() < MAX_LINE, "{} bytes held", buf.len());
        }
    }
}
