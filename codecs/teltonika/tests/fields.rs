//! `TeltonikaMessage::into_fields` against serde's value of the same message.

use codec_teltonika::{IoValue, Kind, Position, TeltonikaDetails, TeltonikaMessage};
use family_kit::assert_fields_as_serde;
use std::collections::BTreeMap;

fn check(msg: TeltonikaMessage) {
    assert_fields_as_serde(msg, TeltonikaMessage::into_fields);
}

/// Every field set, listed without `..Default::default()`: a new field does not compile here
/// until it is set, and then the comparison shows whether `into_fields` writes it.
#[test]
fn a_message_with_every_field_set_equals_its_serde_value() {
    let io = BTreeMap::from([
        ("239".to_string(), IoValue::Number(1)),
        ("21".to_string(), IoValue::Number(u64::MAX)),
        ("10800".to_string(), IoValue::Bytes("0a0b".into())),
    ]);
    check(TeltonikaMessage {
        protocol: "teltonika".into(),
        kind: Kind::Location,
        msg_type: "0x8e".into(),
        // Teltonika has no frame serial and reports alarms as IO events.
        serial: None,
        alarm: None,
        device_id: Some("356307042441013".into()),
        position: Some(Position {
            time: Some("2019-01-01T10:00:00.123Z".into()),
            timestamp: Some(1_546_336_800),
            latitude: 54.6872,
            longitude: -25.2797,
            speed: 83.0,
            course: 270,
            satellites: Some(15),
            fix: true,
            altitude: Some(-3),
        }),
        text: Some("DOUT1:1".into()),
        raw: Some("444f5554313a31".into()),
        details: TeltonikaDetails {
            timestamp_ms: Some(1_546_336_800_123),
            priority: Some(2),
            event_io_id: Some(239),
            generation_type: Some(1),
            io_total: Some(3),
            io,
            record_index: Some(4),
            command_type: Some(6),
            command_timestamp: Some(1_546_336_800),
        },
    });
}

#[test]
fn bare_messages_equal_their_serde_values() {
    check(codec_teltonika::message::new_message(
        Kind::Heartbeat,
        "ping",
    ));
    let mut msg = codec_teltonika::message::new_message(Kind::Location, "0x08");
    msg.position = Some(Position::default());
    check(msg);
}
