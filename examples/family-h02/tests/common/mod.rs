//! What only H02's tests need on top of devgate's family kit: its own vector file (text lines,
//! not hex), a codec on the kit's fixed clock, and answers as text (H02 answers are text lines).
#![allow(dead_code)]

use codecs::Inbound;
use family_h02::H02Protocol;
use family_kit::Event;
use serde_json::Value;

/// Every line of this crate's vectors/h02.jsonl.
pub fn vectors() -> Vec<Value> {
    family_kit::load_file(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/h02.jsonl"))
}

/// A vector's line, as sent.
pub fn line(v: &Value) -> Vec<u8> {
    v["text"]
        .as_str()
        .expect("a vector has text")
        .as_bytes()
        .to_vec()
}

/// A codec with default options on the kit's fixed clock (2025-01-01T00:00:00Z).
pub fn codec() -> codecs::NomCodec<H02Protocol> {
    family_h02::codec(&family_kit::options())
}

/// The events of `bytes` decoded whole by a fresh codec.
pub fn decode(bytes: &[u8]) -> Vec<Event> {
    family_kit::feed(&mut codec(), &[bytes])
}

/// Every answer among `events`, as text.
pub fn replies(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Item(Inbound::Reply(r)) => Some(String::from_utf8_lossy(r).into_owned()),
            _ => None,
        })
        .collect()
}
