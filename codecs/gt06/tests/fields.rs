//! `Gt06Message::into_fields` against serde's value of the same message.

use codec_gt06::{Alarm, Cell, Gt06Details, Gt06Message, Kind, Position};
use family_kit::assert_fields_as_serde;

/// Every field set, listed without `..Default::default()`: a new field does not compile
/// here until it is set, and then the comparison shows whether `into_fields` writes it.
#[test]
fn a_message_with_every_field_set_equals_its_serde_value() {
    check(Gt06Message {
        protocol: "gt06".into(),
        kind: Kind::Alarm,
        msg_type: "0x16".into(),
        serial: Some(7),
        device_id: Some("123456789012345".into()),
        position: Some(Position {
            time: Some("2015-10-20T14:21:11Z".into()),
            timestamp: Some(1_445_350_871),
            latitude: -22.5,
            longitude: 114.0625,
            speed: 61.0,
            course: 359,
            satellites: Some(9),
            fix: true,
            // GT06 sends no altitude.
            altitude: None,
        }),
        alarm: Some(Alarm {
            name: "sos".into(),
            code: 1,
        }),
        text: Some("Relay,1#".into()),
        raw: Some("0f0a".into()),
        details: Gt06Details {
            lbs: Some(Cell {
                mcc: 460,
                mnc: 1,
                lac: 0x2795,
                cell_id: 0x1f57,
            }),
            terminal_info: Some(0x44),
            voltage_level: Some(6),
            gsm_signal: Some(4),
            language: Some(2),
            power: Some(12.34),
            acc: Some(true),
            upload_mode: Some(3),
            reupload: Some(false),
            mileage: Some(123_456),
            type_id: Some(0x3608),
            timezone_offset_minutes: Some(-210),
            server_flag: Some(0x0102_0304),
            info_type: Some(0x0a),
            iccid: Some("89860117851014783481".into()),
            imsi: Some("460011234567890".into()),
            unverified: Some(true),
            decode_error: Some("content too short".into()),
        },
    });
}

#[test]
fn a_bare_message_equals_its_serde_value() {
    assert_eq!(
        codec_gt06::message::new_message(Kind::Other, 0xab).msg_type,
        "0xab"
    );
    check(codec_gt06::message::new_message(Kind::Heartbeat, 0x13));
    let mut msg = codec_gt06::message::new_message(Kind::Location, 0x12);
    msg.position = Some(Position {
        latitude: f64::NAN,
        ..Position::default()
    });
    check(msg);
}

fn check(msg: Gt06Message) {
    assert_fields_as_serde(msg, Gt06Message::into_fields);
}
