//! Helpers shared by the gt06, jt808 and teltonika integration tests: the captured vectors, a
//! decode loop, the checks every family runs over its vectors, and the check of the settings
//! every family reads.
#![allow(dead_code)]

use bytes::BytesMut;
use codecs::options::{BadFramePolicy, OptionsError};
use codecs::{CodecError, CodecOptions, CodecRegistry, Inbound};
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

/// Every line of `<name>.jsonl`, or `None` (with a loud message) when the folder is absent
/// outside CI; under CI (`CI` set) a missing folder fails the test.
pub fn load(name: &str) -> Option<Vec<Value>> {
    load_from(name, vectors_dir(), in_ci(std::env::var_os("CI")))
}

/// True when the `CI` variable says this is a CI run (set, and not empty, `0` or `false`).
pub fn in_ci(ci: Option<std::ffi::OsString>) -> bool {
    ci.is_some_and(|value| !value.is_empty() && value != "0" && value != "false")
}

/// [`load`] from `dir`: a missing folder skips loudly, or fails when `ci` is true, since a CI
/// run that checked no vector must not pass as one that checked them all.
pub fn load_from(name: &str, dir: Option<PathBuf>, ci: bool) -> Option<Vec<Value>> {
    let Some(dir) = dir else {
        assert!(
            !ci,
            "../shared/vectors not found next to the workspace and CI is set: \
             the {name} vector tests cannot run"
        );
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

/// `CodecOptions` with `extra` holding just `key = value`.
pub fn options_with(key: &str, value: &str) -> CodecOptions {
    let mut options = CodecOptions::default();
    options.extra.insert(key.into(), value.into());
    options
}

/// Asserts a family's settings reader `parse` takes the shared keys through
/// `codecs::options`: `bad_checksum` in any case (read back with `policy`), and, for a family
/// with a calendar clock, fractional `timezone_offset_hours` as minutes (read back with
/// `timezone`); bad values of either are refused with the key named.
pub fn assert_reads_shared_options<T>(
    parse: impl Fn(&CodecOptions) -> Result<T, OptionsError>,
    policy: impl Fn(&T) -> BadFramePolicy,
    timezone: Option<fn(&T) -> i32>,
) {
    let parsed = parse(&options_with("bad_checksum", "Close")).expect("close is a policy");
    assert_eq!(policy(&parsed), BadFramePolicy::Close);
    let refused = |key: &str, value: &str| match parse(&options_with(key, value)) {
        Ok(_) => panic!("{key} = {value} was accepted"),
        Err(err) => assert_eq!(err.key, key),
    };
    refused("bad_checksum", "ignore");
    if let Some(timezone) = timezone {
        let parsed = parse(&options_with("timezone_offset_hours", "-3.5")).expect("hours");
        assert_eq!(timezone(&parsed), -210);
        refused("timezone_offset_hours", "25");
    }
}

/// Asserts a registry holding the family that `register` adds refuses, as a config check
/// would, a bad `bad_checksum`, a misspelt key and (for a family with a calendar clock,
/// `clock`) an offset of 99 hours, each with a message naming codec, key and reason.
pub fn assert_registry_refuses_bad_options(
    register: fn(&mut CodecRegistry),
    name: &str,
    clock: bool,
) {
    let mut registry = CodecRegistry::new();
    register(&mut registry);
    let refusal = |key: &str, value: &str| match registry.prepare(name, &options_with(key, value)) {
        Ok(_) => panic!("{name}: {key} = {value} was accepted"),
        Err(err) => err.to_string(),
    };
    assert_eq!(
        refusal("bad_checksum", "closee"),
        format!("{name} option `bad_checksum`: expected `skip` or `close`, got `closee`")
    );
    let misspelt = refusal("bad_checksums", "close");
    assert!(
        misspelt.starts_with(&format!(
            "{name} option `bad_checksums`: no such option; it reads `bad_checksum`"
        )),
        "{misspelt}"
    );
    if clock {
        assert_eq!(
            refusal("timezone_offset_hours", "99"),
            format!(
                "{name} option `timezone_offset_hours`: expected hours between -14 and 14, got `99`"
            )
        );
    }
    let good = registry.prepare(name, &options_with("bad_checksum", "close"));
    assert_eq!(good.expect("close is a policy").build().name(), name);
}

/// The frame as it travels over TCP: `hex` when the vector says it is the wire form or gives
/// no other, else `wire_hex` (JT/T 808 vectors hold unescaped frames with a wire copy).
pub fn wire(v: &Value) -> Vec<u8> {
    let hex = match v["hex_form"].as_str() {
        Some("wire") => v["hex"].as_str(),
        _ => v
            .get("wire_hex")
            .and_then(Value::as_str)
            .or(v["hex"].as_str()),
    };
    hex::decode(hex.expect("vector has hex")).expect("vector hex decodes")
}

/// The wire bytes of every uplink vector of `name` that `keep` selects, `None` when the
/// vectors are absent.
pub fn uplink_frames(name: &str, keep: impl Fn(&Value) -> bool) -> Option<Vec<Vec<u8>>> {
    let vectors = load(name)?;
    let uplink = vectors.iter().filter(|v| v["direction"] == "uplink");
    Some(uplink.filter(|v| keep(v)).map(wire).collect())
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
    let fresh = || new_codec(&CodecOptions::default());
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
    let fresh = || new_codec(&CodecOptions::default());
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
        ..CodecOptions::default()
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
