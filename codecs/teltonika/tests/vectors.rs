//! The Teltonika codec against packets captured from real devices
//! (../shared/vectors/teltonika.jsonl).

use bytes::{Bytes, BytesMut};
use codec_teltonika::{codec, TeltonikaMessage};
use codecs::{CodecOptions, Inbound, Outbound};
use family_kit::{
    assert_close_policy_is_fatal, check_verified_uplinks, close, compare_each, feed, identities,
    int, label, messages, replies, select, skipped_then_good, Event,
};
use serde_json::Value;
use tokio_util::codec::{Decoder, Encoder};

fn bytes_of(v: &Value) -> Vec<u8> {
    hex::decode(v["hex"].as_str().unwrap()).unwrap()
}

fn check_record(what: &str, want: &Value, msg: &Value) {
    let d = &msg["details"];
    compare_each(what, "derived record key", want, |key, value| {
        match key {
            "timestamp_ms" => assert_eq!(d["timestamp_ms"], *value, "{what}"),
            "time_utc" => assert_eq!(
                msg["time"].as_str().unwrap(),
                value.as_str().unwrap().replace(".000Z", "Z"),
                "{what}"
            ),
            "priority" => assert_eq!(d["priority"], *value, "{what}"),
            "lat" => close(what, &msg["latitude"], value, 1e-9),
            "lon" => close(what, &msg["longitude"], value, 1e-9),
            "altitude_m" => assert_eq!(msg["altitude"], *value, "{what}"),
            "angle" => assert_eq!(msg["course"], *value, "{what}"),
            "satellites" => {
                assert_eq!(msg["satellites"], *value, "{what}");
                assert_eq!(msg["fix"].as_bool().unwrap(), int(value) > 0, "{what}");
            }
            "speed_kmh" => assert_eq!(
                msg["speed"].as_f64().unwrap(),
                value.as_f64().unwrap(),
                "{what}"
            ),
            "event_io_id" => assert_eq!(d["event_io_id"], *value, "{what}"),
            "generation_type" => assert_eq!(d["generation_type"], *value, "{what}"),
            "io_total" => assert_eq!(d["io_total"], *value, "{what}"),
            "io_count_parsed" => assert_eq!(
                d["io"].as_object().map_or(0, |io| io.len()) as i64,
                int(value),
                "{what}"
            ),
            _ => return false,
        }
        true
    });
}

/// Compares every derived key; unknown keys fail the test.
fn check_derived(v: &Value, events: &[Event]) {
    let what = label(v);
    let derived = &v["derived"];
    let msgs = messages(events);
    compare_each(&what, "derived key", derived, |key, want| {
        match key {
            "imei" => {
                assert_eq!(msgs[0]["device_id"], *want, "{what}");
                assert_eq!(
                    identities(events),
                    vec![want.as_str().unwrap().to_string()],
                    "{what}"
                );
            }
            "records" => {
                let records = want.as_array().unwrap();
                assert_eq!(msgs.len(), records.len(), "{what}");
                for (index, (record, msg)) in records.iter().zip(&msgs).enumerate() {
                    check_record(&what, record, msg);
                    assert_eq!(msg["details"]["record_index"], index, "{what}");
                }
            }
            "codec" => {
                let codec = if want.is_number() {
                    format!("0x{:02x}", int(want))
                } else {
                    want.as_str().unwrap().to_string()
                };
                assert!(
                    msgs.iter().all(|m| m["msg_type"] == codec.as_str()),
                    "{what}"
                );
            }
            "n1" | "n2" | "qty" => assert_eq!(
                msgs.len() as i64,
                int(want),
                "{what}: one message per record"
            ),
            "type" => assert_eq!(msgs[0]["details"]["command_type"], *want, "{what}"),
            "payload_hex" => assert_eq!(msgs[0]["raw"], *want, "{what}"),
            "payload_ascii" => assert_eq!(msgs[0]["text"], *want, "{what}"),
            "timestamp_s" => assert_eq!(msgs[0]["details"]["command_timestamp"], *want, "{what}"),
            "size" => {
                let payload = msgs[0]["raw"].as_str().unwrap().len() as i64 / 2;
                let stamp = if msgs[0]["details"].get("command_timestamp").is_some() {
                    4
                } else {
                    0
                };
                assert_eq!(payload + stamp, int(want), "{what}");
            }
            // The codec cuts the packet by this length and checks the records fill it
            // exactly, so a decoded packet is the check.
            "data_length" | "parse_exact" => {}
            _ => return false,
        }
        true
    });
}

/// What Traccar's tests assert. Attributes it reads from vendor BLE beacon layouts (NX IO
/// elements) or a vendor text payload stay raw here; those are checked to be present.
fn check_expect(v: &Value, msgs: &[Value]) {
    let what = label(v);
    let Some(attributes) = v["expect"].get("attribute") else {
        return;
    };
    compare_each(&what, "expected attribute", attributes, |name, want| {
        match name {
            "tag1Battery" | "tag1Voltage" => {
                let io = msgs[0]["details"]["io"].as_object().unwrap();
                assert!(
                    io.values().any(Value::is_string),
                    "{what}: variable-length beacon IO kept raw"
                );
            }
            "driverUniqueId" => {
                assert!(
                    msgs[0]["text"]
                        .as_str()
                        .unwrap()
                        .contains(want.as_str().unwrap()),
                    "{what}"
                )
            }
            _ => return false,
        }
        true
    });
}

#[test]
fn every_verified_uplink_packet_decodes_to_its_derived_and_expected_values() {
    let Some(vectors) = family_kit::load("teltonika") else {
        return;
    };
    let checked = check_verified_uplinks(&vectors, bytes_of, codec, |v, events| {
        let what = label(v);
        assert!(!messages(events).is_empty(), "{what}");
        for msg in messages(events) {
            family_kit::assert_typed(&what, &msg, TeltonikaMessage::into_fields);
        }
        if v["msg_type"] == "imei" {
            assert!(matches!(&events[0], Event::Item(Inbound::Identity(_))));
            assert!(matches!(&events[1], Event::Item(Inbound::Reply(_))));
        } else {
            assert!(identities(events).is_empty(), "{what}");
        }
        if v["msg_type"] == "ping" {
            assert_eq!(messages(events)[0]["kind"], "heartbeat");
        }
        if let Some(derived) = v.get("derived") {
            assert!(derived.is_object());
            check_derived(v, events);
        }
        check_expect(v, &messages(events));
    });
    assert_eq!(
        checked, 29,
        "27 checksummed uplink packets plus the IMEI and the keep-alive"
    );
}

#[test]
fn packets_with_a_bad_crc_are_skipped_counted_and_the_stream_goes_on() {
    let Some(vectors) = family_kit::load("teltonika") else {
        return;
    };
    let good = vectors
        .iter()
        .find(|v| v["msg_type"] == "codec_0x08" && v["frame_status"] == "ok")
        .unwrap();
    for v in select(&vectors, 3, |v| v["frame_status"] == "bad_checksum") {
        let mut codec = codec(&CodecOptions::default());
        let events = skipped_then_good(&mut codec, v, &bytes_of(v), &bytes_of(good), "CRC");
        assert_eq!(codec.protocol().bad_checksums(), 1);
        assert_eq!(
            replies(&events),
            vec![good["ack_hex"].as_str().unwrap().to_string()],
            "only the good packet is counted"
        );
    }
}

#[test]
fn wrong_length_fields_close_the_connection_or_wait_for_bytes_that_never_come() {
    let Some(vectors) = family_kit::load("teltonika") else {
        return;
    };
    for v in select(&vectors, 3, |v| v["frame_status"] == "length_mismatch") {
        let what = label(v);
        let mut codec = codec(&CodecOptions::default());
        let events = feed(&mut codec, &[&bytes_of(v)]);
        if int(&v["derived"]["data_length"]) < 3 {
            assert!(
                matches!(events.as_slice(), [Event::Fatal(_)]),
                "{what}: {events:?}"
            );
        } else {
            // Longer than the bytes sent: nothing decodes, and at end of stream the leftover
            // bytes are an error.
            assert!(events.is_empty(), "{what}: {events:?}");
            let mut buf = BytesMut::from(&bytes_of(v)[..]);
            let mut fresh = codec_teltonika::codec(&CodecOptions::default());
            assert!(fresh.decode_eof(&mut buf).is_err(), "{what}");
        }
    }
}

#[test]
fn the_close_policy_turns_a_bad_crc_into_a_fatal_error() {
    let Some(vectors) = family_kit::load("teltonika") else {
        return;
    };
    let v = vectors
        .iter()
        .find(|v| v["frame_status"] == "bad_checksum")
        .unwrap();
    assert_close_policy_is_fatal(codec, &[&bytes_of(v)]);
}

#[test]
fn codec_12_commands_encode_to_the_downlink_vectors() {
    let Some(vectors) = family_kit::load("teltonika") else {
        return;
    };
    for v in select(&vectors, 2, |v| v["direction"] == "downlink") {
        let payload = hex::decode(v["derived"]["payload_hex"].as_str().unwrap()).unwrap();
        let item = match v["derived"].get("payload_ascii").and_then(Value::as_str) {
            Some(text) => Outbound::Data(Bytes::from(text.to_string())),
            None => Outbound::Binary(Bytes::from(payload)),
        };
        let mut out = BytesMut::new();
        codec(&CodecOptions::default())
            .encode(item, &mut out)
            .unwrap();
        assert_eq!(
            hex::encode(&out),
            v["hex"].as_str().unwrap(),
            "{}",
            label(v)
        );
        assert_eq!(
            hex::encode(&out),
            v["expect"]["encoder_output_hex"].as_str().unwrap()
        );
    }
}
