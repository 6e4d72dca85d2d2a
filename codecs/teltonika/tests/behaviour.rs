//! Connection-level behaviour of the Teltonika codec: identity, acks, commands, registry.

use bytes::{Bytes, BytesMut};
use codec_teltonika::{codec, frame, register, TeltonikaOptions};
use codecs::{CodecOptions, CodecRegistry, Outbound};
use family_kit::{feed, identities, messages, replies, Event};
use tokio_util::codec::Encoder;

const IMEI: &str = "000f333536333037303432343431303133";

/// One codec 8 record at 2020-01-01T00:00:00.250Z, 1° S 2° W, 7 satellites, with IO 239 = 1.
fn record() -> Vec<u8> {
    let mut r = 1_577_836_800_250u64.to_be_bytes().to_vec();
    r.push(2);
    r.extend_from_slice(&(-20_000_000i32).to_be_bytes());
    r.extend_from_slice(&(-10_000_000i32).to_be_bytes());
    r.extend_from_slice(&(-5i16).to_be_bytes());
    r.extend_from_slice(&90u16.to_be_bytes());
    r.push(7);
    r.extend_from_slice(&55u16.to_be_bytes());
    r.extend_from_slice(&[239, 1, 1, 239, 1, 0, 0, 0]);
    r
}

fn avl_packet(records: usize) -> Vec<u8> {
    let mut data = vec![0x08, records as u8];
    for _ in 0..records {
        data.extend_from_slice(&record());
    }
    data.push(records as u8);
    frame::wrap(&data)
}

#[test]
fn the_imei_is_accepted_once_and_names_the_connection_once() {
    let imei = hex::decode(IMEI).unwrap();
    let events = feed(&mut codec(&CodecOptions::default()), &[&imei, &imei]);
    assert_eq!(identities(&events), vec!["356307042441013".to_string()]);
    assert_eq!(replies(&events), vec!["01".to_string(), "01".to_string()]);
}

#[test]
fn a_non_digit_imei_closes_the_connection() {
    let events = feed(&mut codec(&CodecOptions::default()), &[b"\x00\x03abc"]);
    assert!(matches!(events.as_slice(), [Event::Fatal(_)]), "{events:?}");
}

#[test]
fn every_record_is_a_message_and_the_ack_counts_them() {
    let events = feed(&mut codec(&CodecOptions::default()), &[&avl_packet(3)]);
    assert_eq!(replies(&events), vec!["00000003".to_string()]);
    let msgs = messages(&events);
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["time"], "2020-01-01T00:00:00.250Z");
    assert_eq!(msgs[0]["timestamp"], 1_577_836_800);
    assert_eq!(msgs[0]["latitude"], -1.0);
    assert_eq!(msgs[0]["longitude"], -2.0);
    assert_eq!(msgs[0]["altitude"], -5);
    assert_eq!(msgs[0]["details"]["priority"], 2);
    assert_eq!(msgs[0]["details"]["io"]["239"], 1);
}

#[test]
fn records_that_disagree_with_n2_are_skipped_without_an_ack() {
    let mut data = vec![0x08, 1];
    data.extend_from_slice(&record());
    data.push(2);
    let mut codec = codec(&CodecOptions::default());
    let events = feed(&mut codec, &[&frame::wrap(&data)]);
    assert!(
        matches!(events.as_slice(), [Event::Skipped(_)]),
        "{events:?}"
    );
    assert_eq!(codec.protocol().bad_frames(), 1);
}

#[test]
fn an_unknown_avl_codec_is_acknowledged_and_passed_on_raw() {
    let events = feed(
        &mut codec(&CodecOptions::default()),
        &[&frame::wrap(&[0x07, 2, 0xaa, 2])],
    );
    assert_eq!(replies(&events), vec!["00000002".to_string()]);
    let msg = messages(&events).remove(0);
    assert_eq!(msg["kind"], "other");
    assert_eq!(msg["raw"], "0702aa02");
}

#[test]
fn the_keep_alive_is_a_heartbeat_with_no_reply() {
    let events = feed(&mut codec(&CodecOptions::default()), &[&[0xff]]);
    assert!(replies(&events).is_empty());
    assert_eq!(messages(&events)[0]["kind"], "heartbeat");
}

#[test]
fn text_and_binary_commands_share_the_codec_12_envelope() {
    let mut codec = codec(&CodecOptions::default());
    let (mut text, mut binary) = (BytesMut::new(), BytesMut::new());
    codec
        .encode(Outbound::Data(Bytes::from_static(b"getinfo")), &mut text)
        .unwrap();
    codec
        .encode(
            Outbound::Binary(Bytes::from_static(b"getinfo")),
            &mut binary,
        )
        .unwrap();
    assert_eq!(text, binary);
    // The device's echo of our own command decodes as a codec 12 packet of type 5.
    let events = feed(
        &mut codec_teltonika::codec(&CodecOptions::default()),
        &[&text],
    );
    let msg = messages(&events).remove(0);
    assert_eq!(msg["details"]["command_type"], 5);
    assert_eq!(msg["text"], "getinfo");
}

#[test]
fn the_registry_builds_a_working_codec_by_name() {
    let mut registry = CodecRegistry::new();
    register(&mut registry);
    let mut built = registry
        .build("teltonika", &CodecOptions::default())
        .unwrap();
    assert_eq!(built.name(), "teltonika");
    let events = feed(built.as_mut(), &[&hex::decode(IMEI).unwrap()]);
    assert_eq!(identities(&events), vec!["356307042441013".to_string()]);
}

#[test]
fn typed_fields_survive_a_json_round_trip() {
    let json = messages(&feed(
        &mut codec(&CodecOptions::default()),
        &[&avl_packet(1)],
    ))
    .remove(0);
    let typed: codec_teltonika::TeltonikaMessage = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(typed.kind, codec_teltonika::Kind::Location);
    assert_eq!(serde_json::to_value(&typed).unwrap(), json);
}

#[test]
fn the_shared_options_are_read_and_bad_values_refused() {
    family_kit::assert_reads_shared_options(
        TeltonikaOptions::from_codec_options,
        |o| o.bad_checksum,
        None,
    );
}

#[test]
fn the_registry_refuses_bad_option_values_and_unknown_keys_with_a_clear_message() {
    family_kit::assert_registry_refuses_bad_options(register, "teltonika", false);
}
