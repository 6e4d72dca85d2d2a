//! Connection-level behaviour of the {{name}} codec: identity, answers, commands, registry,
//! settings, and the typed fields against serde.

use bytes::{Bytes, BytesMut};
use {{crate_ident}}::frame::build_frame;
use {{crate_ident}}::message::{new_message, Kind, Position};
use {{crate_ident}}::{codec, register, {{Name}}Details, {{Name}}Message, {{Name}}Options};
use codecs::{CodecRegistry, Outbound};
use family_kit::{feed, identities, messages, options, replies, FIXED_NOW_MS};
use tokio_util::codec::Encoder;

fn login(serial: u16) -> Vec<u8> {
    build_frame(0x01, serial, b"860000000000001").unwrap()
}

#[test]
fn the_identity_is_announced_once_per_connection() {
    let events = feed(&mut codec(&options()), &[&login(1), &login(2)]);
    assert_eq!(identities(&events), vec!["860000000000001".to_string()]);
    assert_eq!(messages(&events).len(), 2, "both logins reach the worker");
}

#[test]
fn a_heartbeat_is_answered_with_the_server_time() {
    let events = feed(
        &mut codec(&options()),
        &[&build_frame(0x02, 9, &[]).unwrap()],
    );
    let now = u32::try_from(FIXED_NOW_MS / 1000).unwrap();
    let answer = build_frame(0x82, 9, &now.to_be_bytes()).unwrap();
    assert_eq!(replies(&events), vec![hex::encode(answer)]);
    assert_eq!(messages(&events)[0]["kind"], "heartbeat");
}

#[test]
fn a_text_command_is_framed_with_a_serial_counting_up() {
    let mut codec = codec(&options());
    let mut out = BytesMut::new();
    for _ in 0..2 {
        codec
            .encode(Outbound::Data(Bytes::from_static(b"RELAY,1#")), &mut out)
            .unwrap();
    }
    let first = build_frame(0x80, 0, b"RELAY,1#").unwrap();
    let second = build_frame(0x80, 1, b"RELAY,1#").unwrap();
    assert_eq!(out.to_vec(), [first, second].concat());
}

#[test]
fn a_command_too_long_for_a_frame_is_refused_without_output() {
    let mut out = BytesMut::new();
    let err = codec(&options())
        .encode(Outbound::Data(Bytes::from(vec![b'a'; 300])), &mut out)
        .unwrap_err();
    assert!(err.can_continue());
    assert!(out.is_empty());
}

#[test]
fn the_registry_builds_the_codec_by_name() {
    let mut registry = CodecRegistry::new();
    register(&mut registry);
    let mut built = registry.build("{{name}}", &options()).unwrap();
    let events = feed(built.as_mut(), &[&login(1)]);
    assert_eq!(identities(&events), vec!["860000000000001".to_string()]);
}

#[test]
fn the_shared_options_are_read_and_bad_values_refused() {
    family_kit::assert_reads_shared_options(
        {{Name}}Options::from_codec_options,
        |o| o.bad_checksum,
        None,
    );
    family_kit::assert_registry_refuses_bad_options(register, "{{name}}", false);
}

#[test]
fn a_bad_checksum_is_skipped_and_the_stream_goes_on() {
    let mut bad = login(1);
    *bad.last_mut().unwrap() ^= 0xff;
    let events = family_kit::feed(&mut codec(&options()), &[&bad, &login(2)]);
    assert!(
        matches!(&events[0], family_kit::Event::Skipped(_)),
        "{events:?}"
    );
    assert_eq!(messages(&events).len(), 1);
    family_kit::assert_close_policy_is_fatal(codec, &[&bad, &login(2)]);
}

#[test]
fn fields_equal_serdes_value_with_every_field_set_and_with_none() {
    let mut msg = new_message(Kind::Location, 0x10);
    msg.serial = Some(1);
    msg.device_id = Some("860000000000001".into());
    msg.position = Some(Position {
        time: Some("2025-01-01T00:00:00Z".into()),
        timestamp: Some(1_735_689_600),
        satellites: Some(7),
        altitude: Some(35),
        ..Position::default()
    });
    msg.alarm = Some(codecs::family::Alarm {
        name: "sos".into(),
        code: 1,
    });
    msg.text = Some("OK".into());
    msg.raw = Some("00".into());
    msg.details = {{Name}}Details {
        flags: Some(1),
        decode_error: Some("why".into()),
    };
    family_kit::assert_fields_as_serde(msg, {{Name}}Message::into_fields);
    family_kit::assert_fields_as_serde(new_message(Kind::Other, 0x7f), {{Name}}Message::into_fields);
}
