//! Connection-level behaviour of the GT06 codec: identity, timezone, commands, registry.

use bytes::{Bytes, BytesMut};
use codec_gt06::{codec, frame::build_frame, register, Gt06Options};
use codecs::{CodecOptions, CodecRegistry, Outbound};
use family_kit::{feed, identities, messages};
use tokio_util::codec::Encoder;

fn login(imei_bcd: &str, serial: u16, extension: &[u8]) -> Vec<u8> {
    let mut content = hex::decode(imei_bcd).unwrap();
    content.extend_from_slice(extension);
    build_frame(0x01, &content, serial).unwrap()
}

fn location_at_noon(serial: u16) -> Vec<u8> {
    // 2020-01-02 12:00:00 device time, 10 satellites, 1 800 000 = 1 degree N / E, fixed.
    let mut content = vec![20, 1, 2, 12, 0, 0, 0xca];
    content.extend_from_slice(&1_800_000u32.to_be_bytes());
    content.extend_from_slice(&1_800_000u32.to_be_bytes());
    content.push(42);
    content.extend_from_slice(&(0x1400u16 | 90).to_be_bytes());
    build_frame(0x10, &content, serial).unwrap()
}

#[test]
fn identity_is_announced_once_per_connection() {
    let first = login("0123456789012345", 1, &[]);
    let again = login("0123456789012345", 2, &[]);
    let events = feed(&mut codec(&CodecOptions::default()), &[&first, &again]);
    assert_eq!(identities(&events), vec!["123456789012345".to_string()]);
    assert_eq!(
        messages(&events).len(),
        2,
        "both logins still reach the worker"
    );
}

#[test]
fn a_login_timezone_moves_later_fix_times_to_utc() {
    // 0x190a: GMT-4:00, so a device reading of 12:00 is 16:00 UTC.
    let tz_login = login("0864717003664467", 1, &[0x10, 0x0f, 0x19, 0x0a]);
    let events = feed(
        &mut codec(&CodecOptions::default()),
        &[&tz_login, &location_at_noon(2)],
    );
    let msgs = messages(&events);
    assert_eq!(msgs[1]["time"], "2020-01-02T16:00:00Z");
    assert_eq!(msgs[1]["speed"], 42.0);
    assert_eq!(msgs[1]["course"], 90);
}

#[test]
fn the_timezone_option_applies_until_a_login_says_otherwise() {
    let mut options = CodecOptions::default();
    options
        .extra
        .insert("timezone_offset_hours".into(), "8".into());
    let events = feed(&mut codec(&options), &[&location_at_noon(1)]);
    assert_eq!(messages(&events)[0]["time"], "2020-01-02T04:00:00Z");
}

#[test]
fn command_serials_count_up_per_connection_and_binary_packets_are_framed() {
    let mut codec = codec(&CodecOptions::default());
    let mut out = BytesMut::new();
    codec
        .encode(Outbound::Data(Bytes::from_static(b"Relay,1#")), &mut out)
        .unwrap();
    out.clear();
    codec
        .encode(Outbound::Data(Bytes::from_static(b"Relay,0#")), &mut out)
        .unwrap();
    let n = out.len();
    assert_eq!(
        &out[n - 6..n - 4],
        &[0, 1],
        "second command carries serial 1"
    );
    out.clear();
    codec
        .encode(
            Outbound::Binary(Bytes::from_static(&[0x8a, 1, 2])),
            &mut out,
        )
        .unwrap();
    assert_eq!(out.to_vec(), build_frame(0x8a, &[1, 2], 2).unwrap());
}

#[test]
fn commands_too_long_for_a_short_frame_are_refused_without_output() {
    let mut codec = codec(&CodecOptions::default());
    let mut out = BytesMut::new();
    let err = codec
        .encode(Outbound::Data(Bytes::from(vec![b'a'; 250])), &mut out)
        .unwrap_err();
    assert!(err.can_continue());
    assert!(out.is_empty());
}

#[test]
fn the_registry_builds_a_working_codec_by_name() {
    let mut registry = CodecRegistry::new();
    register(&mut registry);
    assert!(registry.contains("gt06"));
    let mut built = registry.build("GT06", &CodecOptions::default()).unwrap();
    assert_eq!(built.name(), "gt06");
    let events = feed(built.as_mut(), &[&login("0123456789012345", 1, &[])]);
    assert_eq!(identities(&events), vec!["123456789012345".to_string()]);
}

#[test]
fn typed_fields_survive_a_json_round_trip() {
    let events = feed(
        &mut codec(&CodecOptions::default()),
        &[&location_at_noon(7)],
    );
    let json = messages(&events).remove(0);
    let typed: codec_gt06::Gt06Message = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(typed.kind, codec_gt06::Kind::Location);
    assert!(typed.position.is_some());
    assert_eq!(serde_json::to_value(&typed).unwrap(), json);
}

#[test]
fn the_shared_options_are_read_and_bad_values_refused() {
    family_kit::assert_reads_shared_options(
        Gt06Options::from_codec_options,
        |o| o.bad_checksum,
        Some(|o| o.timezone_offset_minutes),
    );
}

#[test]
fn the_registry_refuses_bad_option_values_and_unknown_keys_with_a_clear_message() {
    family_kit::assert_registry_refuses_bad_options(register, "gt06", true);
}
