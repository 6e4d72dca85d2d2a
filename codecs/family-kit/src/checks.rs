//! The checks every family runs: its vectors, splitting and batching, buffer bounds, and its
//! `fields` against serde.

use crate::decode::{drain, feed, replies, Event};
use crate::vectors::label;
use bytes::BytesMut;
use codecs::{CodecError, CodecOptions, Inbound};
use serde_json::Value;
use tokio_util::codec::Decoder;

/// Feeds each verified uplink vector (`direction` uplink, `frame_status` ok) to a fresh codec,
/// asserts every outcome is an event and the replies are the vector's `ack_hex` (none without
/// one), then hands the vector and its events to `check`. Returns how many vectors ran.
pub fn check_verified_uplinks<C>(
    vectors: &[Value],
    bytes: impl Fn(&Value) -> Vec<u8>,
    new_codec: impl Fn(&CodecOptions) -> C,
    mut check: impl FnMut(&Value, &[Event]),
) -> usize
where
    C: Decoder<Item = Inbound, Error = CodecError>,
{
    let mut checked = 0;
    for v in vectors
        .iter()
        .filter(|v| v["direction"] == "uplink" && v["frame_status"] == "ok")
    {
        let what = label(v);
        let events = feed(&mut new_codec(&crate::options()), &[&bytes(v)]);
        assert!(
            events.iter().all(|e| matches!(e, Event::Item(_))),
            "{what}: {events:?}"
        );
        match v.get("ack_hex").and_then(Value::as_str) {
            Some(ack) => assert_eq!(replies(&events), vec![ack.to_string()], "{what}"),
            None => assert!(replies(&events).is_empty(), "{what}: no reply expected"),
        }
        check(v, &events);
        checked += 1;
    }
    checked
}

/// Asserts `fields` reads back as the typed message `T`, and that the codec's own JSON
/// (`into_fields`) and serde's (`serde_json::to_value`) of that message both equal `fields`.
pub fn assert_typed<T>(what: &str, fields: &Value, into_fields: impl Fn(T) -> Value)
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let typed: T = serde_json::from_value(fields.clone()).expect("fields read as the message");
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        *fields,
        "{what}: serde"
    );
    assert_eq!(into_fields(typed), *fields, "{what}: into_fields");
}

/// Feeds a bad frame and then a good one to `codec`, asserts the first outcome is a skip whose
/// reason mentions `reason`, and returns all the events.
pub fn skipped_then_good<C>(
    codec: &mut C,
    bad: &Value,
    bytes: &[u8],
    good: &[u8],
    reason: &str,
) -> Vec<Event>
where
    C: Decoder<Item = Inbound, Error = CodecError>,
{
    let events = feed(codec, &[bytes, good]);
    assert!(
        matches!(&events[0], Event::Skipped(said) if said.contains(reason)),
        "{}: {events:?}",
        label(bad)
    );
    events
}

/// Asserts a codec built with `bad_checksum = "close"` ends the stream on `chunks`.
pub fn assert_close_policy_is_fatal<C>(new_codec: impl Fn(&CodecOptions) -> C, chunks: &[&[u8]])
where
    C: Decoder<Item = Inbound, Error = CodecError>,
{
    let mut options = crate::options();
    options.extra.insert("bad_checksum".into(), "close".into());
    let events = feed(&mut new_codec(&options), chunks);
    assert!(matches!(events.as_slice(), [Event::Fatal(_)]), "{events:?}");
}

/// Asserts the codec's own JSON of `msg` (`into_fields`) equals serde's.
pub fn assert_fields_as_serde<T: serde::Serialize>(msg: T, into_fields: impl Fn(T) -> Value) {
    let expected = serde_json::to_value(&msg).expect("the message serialises");
    assert_eq!(into_fields(msg), expected);
}

/// Asserts each frame, split in two at every position, decodes as when fed whole; returns
/// the whole frames' events.
pub fn assert_splits_decode_as_whole<C>(
    new_codec: impl Fn(&CodecOptions) -> C,
    frames: &[Vec<u8>],
) -> Vec<Vec<Event>>
where
    C: Decoder<Item = Inbound, Error = CodecError>,
{
    let fresh = || new_codec(&crate::options());
    let mut wholes = Vec::new();
    for frame in frames {
        let whole = feed(&mut fresh(), &[frame]);
        for cut in 1..frame.len() {
            let split = feed(&mut fresh(), &[&frame[..cut], &frame[cut..]]);
            assert_eq!(split, whole, "{} cut at {cut}", hex::encode(frame));
        }
        wholes.push(whole);
    }
    wholes
}

/// Asserts `frames` back to back in one buffer decode as when sent one by one, with nothing
/// fatal, and so does that buffer cut in two every `step` bytes; returns the events.
pub fn assert_batched_as_one_by_one<C>(
    new_codec: impl Fn(&CodecOptions) -> C,
    frames: &[Vec<u8>],
    step: usize,
) -> Vec<Event>
where
    C: Decoder<Item = Inbound, Error = CodecError>,
{
    let fresh = || new_codec(&crate::options());
    let stream: Vec<u8> = frames.concat();
    let chunks: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let one_by_one = feed(&mut fresh(), &chunks);
    let batched = feed(&mut fresh(), &[&stream]);
    assert_eq!(batched, one_by_one);
    assert!(
        !batched.iter().any(|e| matches!(e, Event::Fatal(_))),
        "{batched:?}"
    );
    for cut in (1..stream.len()).step_by(step) {
        let split = feed(&mut fresh(), &[&stream[..cut], &stream[cut..]]);
        assert_eq!(split, one_by_one, "stream cut at {cut}");
    }
    batched
}

/// Feeds `prefix` and then `chunks` to a codec built with a `max`-byte limit, asserting after
/// each chunk that it never buffers more than `max` bytes (and, by running, never panics).
pub fn assert_chunks_stay_bounded<C>(
    new_codec: impl Fn(&CodecOptions) -> C,
    max: usize,
    prefix: &[u8],
    chunks: &[Vec<u8>],
) where
    C: Decoder<Item = Inbound, Error = CodecError>,
{
    let mut codec = new_codec(&CodecOptions {
        max_message_size: max,
        ..crate::options()
    });
    let mut buf = BytesMut::from(prefix);
    let mut events = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        if !drain(&mut codec, &mut buf, &mut events) {
            break;
        }
        assert!(buf.len() <= max, "buffered {} bytes", buf.len());
    }
}

/// [`assert_chunks_stay_bounded`] over `cases` streams of random chunks (up to 8 chunks of up
/// to 300 bytes) from a fixed `seed`, for a family that does not use proptest: each failure
/// names its case, and the same seed replays it.
pub fn assert_random_chunks_stay_bounded<C>(
    new_codec: impl Fn(&CodecOptions) -> C,
    max: usize,
    prefix: &[u8],
    seed: u64,
    cases: usize,
) where
    C: Decoder<Item = Inbound, Error = CodecError>,
{
    let mut random = XorShift(seed | 1);
    for case in 0..cases {
        let chunks: Vec<Vec<u8>> = (0..random.below(9))
            .map(|_| {
                (0..random.below(301))
                    .map(|_| random.next() as u8)
                    .collect()
            })
            .collect();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_chunks_stay_bounded(&new_codec, max, prefix, &chunks)
        }));
        if let Err(panic) = run {
            eprintln!("random chunks case {case} (seed {seed}) failed: {chunks:02x?}");
            std::panic::resume_unwind(panic);
        }
    }
}

/// Marsaglia's xorshift64: enough randomness for byte soup, and no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
