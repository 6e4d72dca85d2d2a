//! Connection-level behaviour of the JT/T 808 codec: identity, time zone, commands, registry.

use bytes::{Bytes, BytesMut};
use codec_jt808::{codec, frame, register, Jt808Options};
use codecs::{CodecOptions, CodecRegistry, Outbound};
use family_kit::{feed, identities, messages, replies};
use tokio_util::codec::Encoder;

const PHONE: [u8; 6] = [0x01, 0x35, 0x11, 0x22, 0x11, 0x22];

fn message(msg_id: u16, serial: u16, body: &[u8]) -> Vec<u8> {
    let mut content = msg_id.to_be_bytes().to_vec();
    content.extend_from_slice(&(body.len() as u16).to_be_bytes());
    content.extend_from_slice(&PHONE);
    content.extend_from_slice(&serial.to_be_bytes());
    content.extend_from_slice(body);
    frame::wrap(&content)
}

/// A 0x0200 body at 2020-01-02 12:00:00 device time, 1° S 2° W, fixed, 60.5 km/h.
fn location_body(alarm: u32) -> Vec<u8> {
    let mut body = alarm.to_be_bytes().to_vec();
    body.extend_from_slice(&(0b1110u32).to_be_bytes());
    body.extend_from_slice(&1_000_000u32.to_be_bytes());
    body.extend_from_slice(&2_000_000u32.to_be_bytes());
    body.extend_from_slice(&100i16.to_be_bytes());
    body.extend_from_slice(&605u16.to_be_bytes());
    body.extend_from_slice(&270u16.to_be_bytes());
    body.extend_from_slice(&[0x20, 0x01, 0x02, 0x12, 0x00, 0x00]);
    body.extend_from_slice(&[0x31, 0x01, 0x09]);
    body
}

#[test]
fn identity_comes_from_the_first_frame_and_only_once() {
    let heartbeat = message(0x0002, 1, &[]);
    let location = message(0x0200, 2, &location_body(0));
    let events = feed(
        &mut codec(&CodecOptions::default()),
        &[&heartbeat, &location],
    );
    assert_eq!(identities(&events), vec!["013511221122".to_string()]);
    assert_eq!(replies(&events).len(), 2);
}

#[test]
fn location_time_is_beijing_time_by_default_and_configurable() {
    let location = message(0x0200, 1, &location_body(0));
    let msg = messages(&feed(&mut codec(&CodecOptions::default()), &[&location])).remove(0);
    assert_eq!(msg["time"], "2020-01-02T04:00:00Z");
    assert_eq!(msg["latitude"], -1.0);
    assert_eq!(msg["longitude"], -2.0);
    assert_eq!(msg["speed"], 60.5);
    assert_eq!(msg["satellites"], 9);
    let mut options = CodecOptions::default();
    options
        .extra
        .insert("timezone_offset_hours".into(), "0".into());
    let msg = messages(&feed(&mut codec(&options), &[&location])).remove(0);
    assert_eq!(msg["time"], "2020-01-02T12:00:00Z");
}

#[test]
fn alarm_flags_make_an_alarm_message() {
    let location = message(0x0200, 1, &location_body(1));
    let msg = messages(&feed(&mut codec(&CodecOptions::default()), &[&location])).remove(0);
    assert_eq!(msg["kind"], "alarm");
    assert_eq!(msg["alarm"]["name"], "sos");
}

#[test]
fn a_terminal_general_response_gets_no_ack() {
    let response = message(0x0001, 3, &[0x00, 0x00, 0x83, 0x00, 0x00]);
    let events = feed(&mut codec(&CodecOptions::default()), &[&response]);
    assert!(replies(&events).is_empty());
    let msg = messages(&events).remove(0);
    assert_eq!(msg["kind"], "command_response");
    assert_eq!(msg["details"]["reply_id"], 0x8300);
}

#[test]
fn text_needs_a_known_terminal_and_is_sent_as_gbk_with_counting_serials() {
    let mut codec = codec(&CodecOptions::default());
    let mut out = BytesMut::new();
    let err = codec
        .encode(Outbound::Data(Bytes::from_static(b"hi")), &mut out)
        .unwrap_err();
    assert!(err.can_continue());
    assert!(out.is_empty());
    feed(&mut codec, &[&message(0x0002, 1, &[])]);
    codec
        .encode(Outbound::Data(Bytes::from("粤".as_bytes())), &mut out)
        .unwrap();
    let content = frame::unescape(&out[1..out.len() - 1]).unwrap();
    assert_eq!(
        &content[12..content.len() - 1],
        &[0x01, 0xd4, 0xc1],
        "flag 1 + GBK"
    );
    out.clear();
    codec
        .encode(Outbound::Data(Bytes::from_static(b"again")), &mut out)
        .unwrap();
    let content = frame::unescape(&out[1..out.len() - 1]).unwrap();
    assert_eq!(
        &content[10..12],
        &[0, 1],
        "second platform message carries serial 1"
    );
}

#[test]
fn bodies_longer_than_the_length_field_are_refused() {
    let mut codec = codec(&CodecOptions::default());
    feed(&mut codec, &[&message(0x0002, 1, &[])]);
    let mut out = BytesMut::new();
    assert!(codec
        .encode(Outbound::Data(Bytes::from(vec![b'a'; 1100])), &mut out)
        .is_err());
    assert!(out.is_empty());
}

#[test]
fn the_registry_builds_a_working_codec_by_name() {
    let mut registry = CodecRegistry::new();
    register(&mut registry);
    let mut built = registry.build("jt808", &CodecOptions::default()).unwrap();
    assert_eq!(built.name(), "jt808");
    let events = feed(built.as_mut(), &[&message(0x0002, 1, &[])]);
    assert_eq!(identities(&events), vec!["013511221122".to_string()]);
}

#[test]
fn typed_fields_survive_a_json_round_trip() {
    let location = message(0x0200, 1, &location_body(0x20000));
    let json = messages(&feed(&mut codec(&CodecOptions::default()), &[&location])).remove(0);
    let typed: codec_jt808::Jt808Message = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(typed.kind, codec_jt808::Kind::Alarm);
    assert_eq!(serde_json::to_value(&typed).unwrap(), json);
}

#[test]
fn the_shared_options_are_read_and_bad_values_refused() {
    family_kit::assert_reads_shared_options(
        Jt808Options::from_codec_options,
        |o| o.bad_checksum,
        Some(|o| o.timezone_offset_minutes),
    );
}

#[test]
fn the_registry_refuses_bad_option_values_and_unknown_keys_with_a_clear_message() {
    family_kit::assert_registry_refuses_bad_options(register, "jt808", true);
}
