//! What the H02 tests share: the vectors, a fixed clock, decode loops and a field comparison.
//! (Plain helpers for now; devgate's family kit offers the same once it is a crate.)
#![allow(dead_code)]

use bytes::BytesMut;
use codecs::{CodecError, CodecOptions, Inbound, NomCodec};
use family_h02::H02Protocol;
use serde_json::Value;
use tokio_util::codec::Decoder;

/// The fixed clock of the tests: 2027-01-15T08:00:00Z, the time the vectors' replies carry.
pub fn fixed_clock() -> i64 {
    1_800_000_000
}

/// A codec with default options on the fixed clock.
pub fn codec() -> NomCodec<H02Protocol> {
    family_h02::codec_with_clock(&CodecOptions::default(), fixed_clock)
}

/// One line of vectors/h02.jsonl.
pub struct Vector {
    /// The test file line the frame was taken from.
    pub line: u64,
    pub text: String,
    pub json: Value,
}

/// Every vector (the file is part of this crate, so it is always there).
pub fn vectors() -> Vec<Vector> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/h02.jsonl");
    let text = std::fs::read_to_string(path).expect("vectors/h02.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let json: Value = serde_json::from_str(l).expect("a JSON line");
            Vector {
                line: json["source_line"].as_u64().expect("source_line"),
                text: json["text"].as_str().expect("text").to_string(),
                json,
            }
        })
        .collect()
}

/// Feeds `chunks` one after the other, decoding after each, until the stream ends or fails.
pub fn feed<D: Decoder<Item = Inbound, Error = CodecError>>(
    codec: &mut D,
    chunks: &[&[u8]],
) -> (Vec<Inbound>, Option<CodecError>) {
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(CodecError::Skipped(_)) => continue,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

/// The events of `bytes` decoded whole by a fresh codec; fails on a fatal error.
pub fn decode(bytes: &[u8]) -> Vec<Inbound> {
    let (events, err) = feed(&mut codec(), &[bytes]);
    assert!(err.is_none(), "{err:?}");
    events
}

/// The `fields` of every message among `events`.
pub fn messages(events: &[Inbound]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|e| match e {
            Inbound::Message { fields, .. } => fields.clone(),
            _ => None,
        })
        .collect()
}

/// Every reply among `events`, as text.
pub fn replies(events: &[Inbound]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Inbound::Reply(r) => Some(String::from_utf8_lossy(r).into_owned()),
            _ => None,
        })
        .collect()
}

/// Checks that `got` holds every key of `want` with its value (numbers within 1e-6, objects
/// key by key, arrays whole); `at` names the place in messages.
pub fn assert_contains(got: &Value, want: &Value, at: &str) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (key, value) in w {
                let inner = g
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}: no `{key}` in {got}"));
                assert_contains(inner, value, &format!("{at}.{key}"));
            }
        }
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (
                g.as_f64().unwrap_or(f64::NAN),
                w.as_f64().unwrap_or(f64::NAN),
            );
            assert!((g - w).abs() < 1e-6, "{at}: {g} != {w}");
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{at}: {got} vs {want}");
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                assert_contains(g, w, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(got, want, "{at}"),
    }
}
