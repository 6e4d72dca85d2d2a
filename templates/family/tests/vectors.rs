//! The {{name}} codec against its vectors (vectors/{{name}}.jsonl: one JSON object a line, in
//! the format of devgate's `../shared/vectors`; add frames captured from real devices there).

use {{crate_ident}}::{codec, {{Name}}Message};
use family_kit::{check_verified_uplinks, close, compare_each, label, messages, wire};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    family_kit::load_file(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/{{name}}.jsonl"))
}

/// Compares every `derived` key with the decoded fields; a key nobody compares fails the test,
/// so a new vector field cannot slip by.
fn check_derived(v: &Value, msg: &Value) {
    let what = label(v);
    compare_each(&what, "derived key", &v["derived"], |key, want| {
        match key {
            "serial" => assert_eq!(msg["serial"], *want, "{what}"),
            "imei" => assert_eq!(msg["device_id"], *want, "{what}"),
            "time_utc" => assert_eq!(msg["time"], *want, "{what}"),
            "lat" => close(&what, &msg["latitude"], want, 1e-6),
            "lon" => close(&what, &msg["longitude"], want, 1e-6),
            "speed_kmh" => assert_eq!(msg["speed"].as_f64(), want.as_f64(), "{what}"),
            "course" => assert_eq!(msg["course"], *want, "{what}"),
            "fix" => assert_eq!(msg["fix"], *want, "{what}"),
            _ => return false,
        }
        true
    });
}

#[test]
fn every_verified_uplink_frame_decodes_to_its_derived_values_and_is_answered() {
    let vectors = vectors();
    let checked = check_verified_uplinks(&vectors, wire, codec, |v, events| {
        let what = label(v);
        let msgs = messages(events);
        assert_eq!(msgs.len(), 1, "{what}");
        assert_eq!(msgs[0]["kind"], v["kind"], "{what}");
        assert_eq!(msgs[0]["msg_type"], v["msg_type"], "{what}");
        family_kit::assert_typed(&what, &msgs[0], {{Name}}Message::into_fields);
        check_derived(v, &msgs[0]);
    });
    assert_eq!(
        checked, 1,
        "vectors/{{name}}.jsonl holds 1 verified uplink frame"
    );
}
