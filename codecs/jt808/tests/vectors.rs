//! The JT/T 808 codec against frames captured from real devices (../shared/vectors/jt808.jsonl).

use bytes::{Bytes, BytesMut};
use codec_jt808::{codec, frame, Jt808Message};
use codecs::{CodecOptions, Inbound, Outbound};
use family_kit::{
    assert_close_policy_is_fatal, check_verified_uplinks, close, compare_each, feed, identities,
    int, label, messages, select, skipped_then_good, wire, Event,
};
use serde_json::Value;
use std::collections::BTreeSet;
use tokio_util::codec::Encoder;

/// The frames with a bad checksum (one of them also cut short).
fn bad_checksum(v: &Value) -> bool {
    v["frame_status"]
        .as_str()
        .unwrap()
        .starts_with("bad_checksum")
}

fn check_header(what: &str, header: &Value, msg: &Value) {
    compare_each(what, "derived header key", header, |key, want| {
        match key {
            "msg_id" => assert_eq!(msg["msg_type"], *want, "{what}"),
            "terminal_phone_bcd" => assert_eq!(msg["device_id"], *want, "{what}"),
            "serial" => assert_eq!(msg["serial"], *want, "{what}"),
            "protocol_version" => assert_eq!(msg["details"]["protocol_version"], *want, "{what}"),
            "version_2019" => assert_eq!(
                msg["details"].get("protocol_version").is_some(),
                want.as_bool().unwrap(),
                "{what}"
            ),
            "encryption" => assert_eq!(
                msg["details"].get("encryption").map_or(0, int),
                int(want),
                "{what}"
            ),
            // The codec refuses a body whose length disagrees with this field, so a decoded
            // message is the check.
            "body_length" => {}
            _ => return false,
        }
        true
    });
}

/// Compares one location body (a 0x0200 or one 0x0704 item) with its decoded message.
fn check_location(what: &str, body: &Value, msg: &Value) {
    let d = &msg["details"];
    compare_each(what, "derived body key", body, |key, want| {
        match key {
            "alarm_flags" => assert_eq!(d["alarm_flags"], *want, "{what}"),
            "status_flags" => assert_eq!(d["status_flags"], *want, "{what}"),
            "lat" => close(what, &msg["latitude"], want, 1e-9),
            "lon" => close(what, &msg["longitude"], want, 1e-9),
            "lat_raw" => assert_eq!(
                (msg["latitude"].as_f64().unwrap().abs() * 1e6).round() as i64,
                int(want),
                "{what}"
            ),
            "lon_raw" => assert_eq!(
                (msg["longitude"].as_f64().unwrap().abs() * 1e6).round() as i64,
                int(want),
                "{what}"
            ),
            "altitude_m" => assert_eq!(msg["altitude"], *want, "{what}"),
            "speed_kmh" => close(what, &msg["speed"], want, 1e-9),
            "course" => assert_eq!(msg["course"], *want, "{what}"),
            "gps_fixed" => assert_eq!(msg["fix"], *want, "{what}"),
            "acc_on" => assert_eq!(d["acc"], *want, "{what}"),
            "time_utc_if_gmt8" => assert_eq!(msg["time"], *want, "{what}"),
            "time_local_bcd" => {
                // The device reading is the UTC time plus the default 8 hours.
                let utc = msg["timestamp"].as_i64().unwrap();
                let local = time::OffsetDateTime::from_unix_timestamp(utc + 8 * 3600).unwrap();
                let text = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    local.year(),
                    u8::from(local.month()),
                    local.day(),
                    local.hour(),
                    local.minute(),
                    local.second()
                );
                assert_eq!(text, want.as_str().unwrap(), "{what}");
            }
            "ext_ids" => {
                let want: BTreeSet<String> = want
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|id| id.as_str().unwrap().to_string())
                    .collect();
                let got: BTreeSet<String> = d["tlv"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                assert_eq!(got, want, "{what}");
            }
            "ext_mileage_0x01_tenth_km" => close(
                what,
                &d["mileage_km"],
                &Value::from(int(want) as f64 / 10.0),
                1e-9,
            ),
            "ext_rssi_0x30" => assert_eq!(d["rssi"], *want, "{what}"),
            "ext_satellites_0x31" => assert_eq!(msg["satellites"], *want, "{what}"),
            // Whether the extra items fill the body exactly: the codec reads them leniently
            // either way, and `ext_ids` above already checks which items were read.
            "ext_parse_exact" => {}
            _ => return false,
        }
        true
    });
    let alarm = int(&d["alarm_flags"]);
    assert_eq!(
        msg["kind"],
        if alarm == 0 { "location" } else { "alarm" },
        "{what}"
    );
}

fn check_body(v: &Value, msgs: &[Value]) {
    let what = label(v);
    let body = &v["derived"]["body"];
    match v["msg_type"].as_str().unwrap() {
        "0x0200" => check_location(&what, body, &msgs[0]),
        "0x0704" => {
            assert_eq!(msgs.len() as i64, int(&body["count"]), "{what}");
            for (item, msg) in body["items"].as_array().unwrap().iter().zip(msgs) {
                check_location(&what, item, msg);
                assert_eq!(msg["details"]["batch_type"], body["batch_type"], "{what}");
            }
            for key in body.as_object().unwrap().keys() {
                assert!(
                    ["count", "batch_type", "items", "parse_exact"].contains(&key.as_str()),
                    "{what}: `{key}` not compared"
                );
            }
        }
        _ => {
            let d = &msgs[0]["details"];
            compare_each(&what, "derived body key", body, |key, want| {
                match key {
                    "province_id" | "city_id" | "manufacturer_id" | "terminal_model"
                    | "terminal_id" | "plate_color" | "plate" | "auth_code" | "terminal_type" => {
                        assert_eq!(d[key], *want, "{what}: {key}")
                    }
                    "iccid_bcd" => assert_eq!(d["iccid"], *want, "{what}"),
                    // Which of the 2011/2013/2019 layouts applies: right when the fields are.
                    "layout" => {}
                    _ => return false,
                }
                true
            });
        }
    }
}

/// What Traccar's tests assert. Attributes it reads from vendor-specific extra items are
/// kept raw in `details.tlv` here (or in `raw`); those are checked to be present.
fn check_expect(v: &Value, msgs: &[Value]) {
    let what = label(v);
    let msg = &msgs[0];
    let tlv = |id: &str| msg["details"]["tlv"].get(id).is_some();
    let Some(attributes) = v["expect"].get("attribute") else {
        return;
    };
    compare_each(&what, "expected attribute", attributes, |name, want| {
        match name {
            "alarm" => {
                let ours = msg["alarm"]["name"].as_str().unwrap_or("");
                for alarm in want.as_str().unwrap().split(',') {
                    if !ours.split(',').any(|name| name == alarm) {
                        // A vendor status item 0x00C5 inside the 0xEB container carries
                        // these on this device; the container is kept raw.
                        let container = msg["details"]["tlv"]["0xeb"].as_str().unwrap_or("");
                        assert!(
                            ["removing", "vibration"].contains(&alarm)
                                && container.contains("00c5"),
                            "{what}: alarm {alarm}"
                        );
                    }
                }
            }
            "sat" => assert_eq!(msg["satellites"], *want, "{what}"),
            "iccid" => assert_eq!(msg["details"]["iccid"], *want, "{what}"),
            "batteryLevel" => assert!(
                tlv("0x06") || tlv("0xe3"),
                "{what}: vendor battery item kept"
            ),
            "power" => assert!(tlv("0xe1") || tlv("0x82"), "{what}: vendor power item kept"),
            "driverUniqueId" => {
                let raw = msg["raw"].as_str().unwrap();
                assert!(
                    raw.contains(&hex::encode(want.as_str().unwrap())),
                    "{what}: vendor payload kept"
                );
            }
            _ => return false,
        }
        true
    });
}

#[test]
fn every_verified_uplink_frame_decodes_to_its_derived_and_expected_values() {
    let Some(vectors) = family_kit::load("jt808") else {
        return;
    };
    let checked = check_verified_uplinks(&vectors, wire, codec, |v, events| {
        let what = label(v);
        let phone = v["derived"]["header"]["terminal_phone_bcd"]
            .as_str()
            .unwrap();
        assert_eq!(identities(events), vec![phone.to_string()], "{what}");
        // Every frame is acked (the shared loop compared the ack with `ack_hex`).
        assert!(matches!(&events[0], Event::Item(Inbound::Identity(_))));
        assert!(matches!(&events[1], Event::Item(Inbound::Reply(_))));
        let msgs = messages(events);
        assert!(!msgs.is_empty(), "{what}");
        for msg in &msgs {
            family_kit::assert_typed(&what, msg, Jt808Message::into_fields);
            check_header(&what, &v["derived"]["header"], msg);
        }
        check_body(v, &msgs);
        check_expect(v, &msgs);
    });
    assert_eq!(checked, 32, "the README counts 32 verified uplink frames");
}

#[test]
fn a_truncated_frame_with_a_bad_checksum_is_skipped_counted_and_the_stream_goes_on() {
    let Some(vectors) = family_kit::load("jt808") else {
        return;
    };
    let heartbeat = hex::decode("7e0002000004304832546500b7ca7e").unwrap();
    for v in select(&vectors, 1, bad_checksum) {
        let mut codec = codec(&CodecOptions::default());
        let events = skipped_then_good(&mut codec, v, &wire(v), &heartbeat, "checksum");
        assert_eq!(codec.protocol().bad_checksums(), 1);
        assert_eq!(
            identities(&events),
            vec!["043048325465".to_string()],
            "the next frame is intact"
        );
    }
}

#[test]
fn the_close_policy_turns_a_bad_checksum_into_a_fatal_error() {
    let Some(vectors) = family_kit::load("jt808") else {
        return;
    };
    let v = vectors.iter().find(|v| bad_checksum(v)).unwrap();
    assert_close_policy_is_fatal(codec, &[&wire(v)]);
}

#[test]
fn escape_vectors_unescape_and_escape_exactly_and_garbage_before_them_is_skipped() {
    let Some(vectors) = family_kit::load("jt808") else {
        return;
    };
    for v in select(&vectors, 3, |v| v["frame_status"] == "synthetic") {
        let wire = wire(v);
        let start = wire.iter().position(|&b| b == 0x7e).unwrap();
        let escaped = &wire[start + 1..wire.len() - 1];
        let plain = hex::decode(v["unescaped_hex"].as_str().unwrap()).unwrap();
        let plain_inner = &plain[1..plain.len() - 1];
        assert_eq!(
            frame::unescape(escaped).unwrap(),
            plain_inner,
            "{}",
            label(v)
        );
        let mut again = Vec::new();
        frame::escape_into(plain_inner, &mut again);
        assert_eq!(again, escaped, "{}", label(v));
        // Five bytes are no message: the codec skips the frame and waits for the next.
        let mut codec = codec(&CodecOptions::default());
        let events = feed(&mut codec, &[&wire]);
        assert!(
            matches!(events.as_slice(), [Event::Skipped(_)]),
            "{events:?}"
        );
    }
}

#[test]
fn platform_messages_encode_to_the_downlink_vectors() {
    let Some(vectors) = family_kit::load("jt808") else {
        return;
    };
    let downlinks = select(&vectors, 3, |v| {
        v["direction"] == "downlink" && v["frame_status"] == "ok"
    });
    for v in downlinks {
        let expected = v["hex"].as_str().unwrap();
        let content = frame::unescape(&wire(v)[1..wire(v).len() - 1]).unwrap();
        let (header, body) = (&content[..12], &content[12..content.len() - 1]);
        // The terminal says hello first, so the codec knows its phone field.
        let mut hello = header[4..10].to_vec();
        hello.splice(0..0, [0x00, 0x02, 0x00, 0x00]);
        hello.extend_from_slice(&[0x00, 0x01]);
        let mut codec = codec(&CodecOptions::default());
        assert_eq!(
            family_kit::messages(&feed(&mut codec, &[&frame::wrap(&hello)])).len(),
            1
        );
        let item = if v["msg_type"] == "0x8300" {
            assert_eq!(body[0], 1, "text flag");
            Outbound::Data(Bytes::copy_from_slice(&body[1..]))
        } else {
            Outbound::Binary(
                Bytes::copy_from_slice(&content[..2])
                    .into_iter()
                    .chain(body.iter().copied())
                    .collect(),
            )
        };
        let mut out = BytesMut::new();
        codec.encode(item, &mut out).unwrap();
        assert_eq!(hex::encode(&out), expected, "{}", label(v));
        assert_eq!(
            hex::encode(&out),
            v["expect"]["encoder_output_hex"].as_str().unwrap()
        );
    }
}
