//! Helpers shared by the gt06, jt808 and teltonika integration tests: the captured vectors, a
//! decode loop, and the checks every family runs over its vectors.
#![allow(dead_code)]

use bytes::BytesMut;
use codecs::{CodecError, CodecOptions, Inbound};
use serde_json::Value;
use std::path::PathBuf;
use tokio_util::codec::Decoder;

/// `<workspace root>/../shared/vectors`, found by walking up from this crate (the repo is
/// `<d>/main` and the vectors `<d>/shared/vectors`, on a laptop and in CI alike).
pub fn vectors_dir() -> Option<PathBuf> {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared").join("vectors"))
        .find(|dir| dir.is_dir())
}

/// Every line of `<name>.jsonl`, or `None` (with a loud message) when the folder is absent.
pub fn load(name: &str) -> Option<Vec<Value>> {
    let Some(dir) = vectors_dir() else {
        eprintln!(
            "\n!!!!!!!!\n!!! SKIPPED: ../shared/vectors not found next to the workspace; \
             the {name} vector tests did not run\n!!!!!!!!\n"
        );
        return None;
    };
    let text =
        std::fs::read_to_string(dir.join(format!("{name}.jsonl"))).expect("vector file readable");
    let lines: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("vector line is JSON"))
        .collect();
    assert!(!lines.is_empty(), "{name}.jsonl has no vectors");
    Some(lines)
}

/// One decode outcome, comparable across runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An event.
    Item(Inbound),
    /// A skipped frame (the stream went on).
    Skipped(String),
    /// An error that ends the stream.
    Fatal(String),
}

/// Decodes everything `codec` can from `buf`, stopping at `Ok(None)` or a fatal error.
pub fn drain<C>(codec: &mut C, buf: &mut BytesMut, events: &mut Vec<Event>) -> bool
where
    C: Decoder<Item = Inbound, Error = CodecError> + ?Sized,
{
    loop {
        match codec.decode(buf) {
            Ok(Some(item)) => events.push(Event::Item(item)),
            Ok(None) => return true,
            Err(err) if err.can_continue() => events.push(Event::Skipped(err.to_string())),
            Err(err) => {
                events.push(Event::Fatal(err.to_string()));
                return false;
            }
        }
    }
}

/// Feeds `chunks` one after another into `codec`, draining after each, as a socket would.
pub fn feed<C>(codec: &mut C, chunks: &[&[u8]]) -> Vec<Event>
where
    C: Decoder<Item = Inbound, Error = CodecError> + ?Sized,
{
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        if !drain(codec, &mut buf, &mut events) {
            break;
        }
    }
    events
}

/// The typed fields of every message event.
pub fn messages(events: &[Event]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Item(Inbound::Message { fields, .. }) => {
                Some(fields.clone().expect("typed fields"))
            }
            _ => None,
        })
        .collect()
}

/// The bytes of every reply event, as hex.
pub fn replies(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Item(Inbound::Reply(bytes)) => Some(hex::encode(bytes)),
            _ => None,
        })
        .collect()
}

/// Every identity event.
pub fn identities(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Item(Inbound::Identity(id)) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// `"0x1f"` or a number, as an integer.
pub fn int(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().expect("integer"),
        Value::String(s) => {
            i64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex string")
        }
        Value::Bool(b) => i64::from(*b),
        other => panic!("not an integer: {other}"),
    }
}

/// Asserts two coordinates agree within `tolerance` degrees.
pub fn close(what: &str, got: &Value, want: &Value, tolerance: f64) {
    let (got, want) = (
        got.as_f64().unwrap_or(f64::NAN),
        want.as_f64().expect("number"),
    );
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want}"
    );
}

/// `<msg_type> line <source_line>`: how a failure names its vector.
pub fn label(v: &Value) -> String {
    format!("{} line {}", v["msg_type"], v["source_line"])
}

/// The vectors `keep` selects, asserting there are `count` of them (the README counts them).
pub fn select(vectors: &[Value], count: usize, keep: impl Fn(&Value) -> bool) -> Vec<&Value> {
    let selected: Vec<&Value> = vectors.iter().filter(|v| keep(v)).collect();
    assert_eq!(selected.len(), count, "vectors selected");
    selected
}

/// Runs `compare(key, want)` on every key of `object`; a key it does not know (it returns
/// false) fails the test, so a new vector field cannot slip by uncompared.
pub fn compare_each(
    what: &str,
    noun: &str,
    object: &Value,
    mut compare: impl FnMut(&str, &Value) -> bool,
) {
    for (key, want) in object.as_object().expect("an object of expected values") {
        assert!(compare(key, want), "{what}: {noun} `{key}` is not compared");
    }
}

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
        let events = feed(&mut new_codec(&CodecOptions::default()), &[&bytes(v)]);
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
    let mut options = CodecOptions::default();
    options.extra.insert("bad_checksum".into(), "close".into());
    let events = feed(&mut new_codec(&options), chunks);
    assert!(matches!(events.as_slice(), [Event::Fatal(_)]), "{events:?}");
}

/// Asserts the codec's own JSON of `msg` (`into_fields`) equals serde's.
pub fn assert_fields_as_serde<T: serde::Serialize>(msg: T, into_fields: impl Fn(T) -> Value) {
    let expected = serde_json::to_value(&msg).expect("the message serialises");
    assert_eq!(into_fields(msg), expected);
}
