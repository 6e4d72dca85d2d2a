//! The GT06 codec against frames captured from real devices (../shared/vectors/gt06.jsonl).

use bytes::{Bytes, BytesMut};
use codec_gt06::{codec, Gt06Message};
use codecs::{CodecOptions, Outbound};
use family_kit::{
    assert_close_policy_is_fatal, check_verified_uplinks, close, compare_each, feed, identities,
    int, label, messages, replies, select, skipped_then_good, Event,
};
use serde_json::Value;
use tokio_util::codec::Encoder;

/// A good frame appended after a length-mismatch frame, so the framer can see past it.
const LOGIN: &str = "78780d01012345678901234500018cdd0d0a";

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v["hex"].as_str().unwrap()).unwrap()
}

/// Compares every `derived` key with the decoded fields; a key that is neither compared nor
/// listed as implied by another fails the test, so new vector fields cannot slip by.
fn check_derived(v: &Value, msg: &Value) {
    let what = label(v);
    let details = &msg["details"];
    compare_each(&what, "derived key", &v["derived"], |key, want| {
        match key {
            "protocol_number" => assert_eq!(msg["msg_type"], *want, "{what}"),
            "serial" => assert_eq!(msg["serial"], *want, "{what}"),
            "imei" => assert_eq!(msg["device_id"], *want, "{what}"),
            "time_utc" => assert_eq!(msg["time"], *want, "{what}"),
            "satellites" => assert_eq!(msg["satellites"], *want, "{what}"),
            "gps_info_byte" => assert_eq!(int(&msg["satellites"]), int(want) & 0x0f, "{what}"),
            "lat" => close(&what, &msg["latitude"], want, 1e-6),
            "lon" => close(&what, &msg["longitude"], want, 1e-6),
            "lat_raw" => assert_eq!(
                (msg["latitude"].as_f64().unwrap().abs() * 1_800_000.0).round() as i64,
                int(want),
                "{what}"
            ),
            "lon_raw" => assert_eq!(
                (msg["longitude"].as_f64().unwrap().abs() * 1_800_000.0).round() as i64,
                int(want),
                "{what}"
            ),
            "speed_kmh" => assert_eq!(msg["speed"].as_f64(), want.as_f64(), "{what}"),
            "course" => assert_eq!(msg["course"], *want, "{what}"),
            "course_status_raw" => {
                let raw = int(want);
                assert_eq!(int(&msg["course"]), raw & 0x3ff, "{what}");
                assert_eq!(msg["fix"].as_bool().unwrap(), raw & 0x1000 != 0, "{what}");
                assert_eq!(
                    msg["latitude"].as_f64().unwrap() >= 0.0,
                    raw & 0x400 != 0,
                    "{what}"
                );
            }
            "gps_fixed" => assert_eq!(msg["fix"], *want, "{what}"),
            "lbs" => assert_eq!(details["lbs"], *want, "{what}"),
            "terminal_info" => assert_eq!(int(&details["terminal_info"]), int(want), "{what}"),
            "voltage_level" => assert_eq!(details["voltage_level"], *want, "{what}"),
            "gsm_signal" => assert_eq!(details["gsm_signal"], *want, "{what}"),
            "language" => assert_eq!(int(&details["language"]), int(want), "{what}"),
            "alarm" => {
                let byte = int(want);
                if byte != 0 {
                    assert_eq!(int(&msg["alarm"]["code"]), byte, "{what}");
                }
            }
            "acc" => assert_eq!(details["acc"].as_bool().unwrap(), int(want) != 0, "{what}"),
            "upload_mode" => assert_eq!(details["upload_mode"], *want, "{what}"),
            "realtime_reupload" => assert_eq!(
                details["reupload"].as_bool().unwrap(),
                int(want) != 0,
                "{what}"
            ),
            "type_id" => assert_eq!(int(&details["type_id"]), int(want), "{what}"),
            "timezone_offset_min" => {
                assert_eq!(details["timezone_offset_minutes"], *want, "{what}")
            }
            "tz_lang_raw" => {} // read through timezone_offset_min
            "cmd_length" => assert_eq!(
                msg["text"].as_str().unwrap().len() as i64 + 4,
                int(want),
                "{what}"
            ),
            "server_flag" => assert_eq!(int(&details["server_flag"]), int(want), "{what}"),
            "content_ascii" => assert_eq!(msg["text"], *want, "{what}"),
            // Bookkeeping of the vector author, not message values: the LBS-length byte is
            // unreliable by the README, "scope" says which keys exist, and the leftover bytes
            // are not a field.
            "lbs_length" | "scope" | "unparsed_before_serial" => {}
            _ => return false,
        }
        true
    });
}

/// Compares what Traccar's test asserts. Attributes Traccar reads from vendor-specific
/// layouts we do not decode are listed explicitly; anything else unknown fails.
fn check_expect(v: &Value, msg: &Value) {
    let what = label(v);
    let expect = &v["expect"];
    if let Some(position) = expect.get("position") {
        assert_eq!(
            msg["time"].as_str().unwrap(),
            position["fix_time_utc"]
                .as_str()
                .unwrap()
                .replace(".000Z", "Z"),
            "{what}"
        );
        assert_eq!(msg["fix"], position["valid"], "{what}");
        let tolerance = position["tolerance_deg"].as_f64().unwrap();
        close(&what, &msg["latitude"], &position["lat"], tolerance);
        close(&what, &msg["longitude"], &position["lon"], tolerance);
    }
    if let Some(attributes) = expect.get("attribute") {
        compare_each(&what, "expected attribute", attributes, |name, want| {
            match name {
                "alarm" => assert_eq!(msg["alarm"]["name"], *want, "{what}"),
                "iccid" => assert_eq!(msg["details"]["iccid"], *want, "{what}"),
                // 0x94 sub-type 0x0b is not in the README's layouts; its bytes stay in `raw`.
                "power" if msg["details"]["info_type"] == 0x0b => {
                    assert_eq!(msg["raw"], "0b02e3", "{what}");
                }
                _ => return false,
            }
            true
        });
    }
    if expect["asserted_by"] == "verifyPosition" {
        assert!(
            msg.get("latitude").is_some(),
            "{what}: Traccar decodes a position here"
        );
    }
}

#[test]
fn every_verified_uplink_frame_decodes_to_its_derived_and_expected_values() {
    let Some(vectors) = family_kit::load("gt06") else {
        return;
    };
    let checked = check_verified_uplinks(&vectors, hex_of, codec, |v, events| {
        let what = label(v);
        let msgs = messages(events);
        assert_eq!(msgs.len(), 1, "{what}");
        family_kit::assert_typed(&what, &msgs[0], Gt06Message::into_fields);
        check_derived(v, &msgs[0]);
        check_expect(v, &msgs[0]);
        if v["kind"] == "login" {
            assert_eq!(
                identities(events),
                vec![v["derived"]["imei"].as_str().unwrap().to_string()]
            );
            // Identity, then the ack, then the message.
            assert!(matches!(
                &events[0],
                Event::Item(codecs::Inbound::Identity(_))
            ));
            assert!(matches!(&events[1], Event::Item(codecs::Inbound::Reply(_))));
        } else {
            assert!(identities(events).is_empty(), "{what}");
        }
    });
    assert_eq!(checked, 30, "the README counts 30 verified uplink frames");
}

#[test]
fn frames_with_a_bad_crc_are_skipped_counted_and_the_stream_goes_on() {
    let Some(vectors) = family_kit::load("gt06") else {
        return;
    };
    let login = hex::decode(LOGIN).unwrap();
    for v in select(&vectors, 3, |v| v["frame_status"] == "bad_checksum") {
        let mut codec = codec(&CodecOptions::default());
        let events = skipped_then_good(&mut codec, v, &hex_of(v), &login, "CRC");
        assert_eq!(codec.protocol().bad_checksums(), 1);
        assert_eq!(
            messages(&events).len(),
            1,
            "only the login after it is a message"
        );
    }
}

#[test]
fn frames_whose_length_disagrees_with_the_terminator_are_skipped_once_the_terminator_is_seen() {
    let Some(vectors) = family_kit::load("gt06") else {
        return;
    };
    let login = hex::decode(LOGIN).unwrap();
    for v in select(&vectors, 3, |v| v["frame_status"] == "length_mismatch") {
        let mut codec = codec(&CodecOptions::default());
        let events = skipped_then_good(&mut codec, v, &hex_of(v), &login, "length");
        assert_eq!(codec.protocol().bad_lengths(), 1);
        assert_eq!(
            identities(&events),
            vec!["123456789012345".to_string()],
            "the next frame is intact"
        );
    }
}

#[test]
fn wifi_packets_without_crc_are_passed_on_unverified_and_unanswered() {
    let Some(vectors) = family_kit::load("gt06") else {
        return;
    };
    for v in select(&vectors, 2, |v| v["frame_status"] == "no_checksum_variant") {
        let mut codec = codec(&CodecOptions::default());
        let events = feed(&mut codec, &[&hex_of(v)]);
        let msgs = messages(&events);
        assert_eq!(msgs.len(), 1, "{}", label(v));
        assert_eq!(msgs[0]["kind"], "other");
        assert_eq!(msgs[0]["msg_type"], "0x69");
        assert_eq!(msgs[0]["details"]["unverified"], true);
        assert!(replies(&events).is_empty());
    }
}

#[test]
fn the_close_policy_turns_a_bad_crc_into_a_fatal_error() {
    let Some(vectors) = family_kit::load("gt06") else {
        return;
    };
    let v = vectors
        .iter()
        .find(|v| v["frame_status"] == "bad_checksum")
        .unwrap();
    assert_close_policy_is_fatal(codec, &[&hex_of(v), &hex::decode(LOGIN).unwrap()]);
}

#[test]
fn online_commands_encode_to_the_downlink_vector() {
    let Some(vectors) = family_kit::load("gt06") else {
        return;
    };
    for v in select(&vectors, 1, |v| v["direction"] == "downlink") {
        let text = v["derived"]["content_ascii"].as_str().unwrap();
        let mut codec = codec(&CodecOptions::default());
        let mut out = BytesMut::new();
        codec
            .encode(Outbound::Data(Bytes::from(text.to_string())), &mut out)
            .unwrap();
        assert_eq!(hex::encode(&out), v["hex"].as_str().unwrap());
        assert_eq!(
            hex::encode(&out),
            v["expect"]["encoder_output_hex"].as_str().unwrap()
        );
    }
}
