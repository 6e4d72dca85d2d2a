//! `Jt808Message::into_fields` against serde's value of the same message.

use codec_jt808::{Alarm, Jt808Details, Jt808Message, Kind, Position};
use family_kit::assert_fields_as_serde;
use std::collections::BTreeMap;

fn bare(kind: Kind) -> Jt808Message {
    Jt808Message {
        protocol: "jt808".into(),
        kind,
        msg_type: "0x0002".into(),
        serial: Some(0),
        device_id: Some("013511221122".into()),
        position: None,
        alarm: None,
        text: None,
        raw: None,
        details: Jt808Details::default(),
    }
}

/// Every field set, listed without `..Default::default()`: a new field does not compile
/// here until it is set, and then the comparison shows whether `into_fields` writes it.
#[test]
fn a_message_with_every_field_set_equals_its_serde_value() {
    let tlv = BTreeMap::from([
        ("0x01".into(), "0000a900".into()),
        ("0x31".into(), "0e".into()),
    ]);
    check(Jt808Message {
        protocol: "jt808".into(),
        kind: Kind::Alarm,
        msg_type: "0x0200".into(),
        serial: Some(21),
        device_id: Some("013511221122".into()),
        position: Some(Position {
            time: Some("2017-01-17T02:04:42Z".into()),
            timestamp: Some(1_484_618_682),
            latitude: 22.5,
            longitude: -113.25,
            speed: 40.5,
            course: 90,
            satellites: Some(14),
            fix: true,
            altitude: Some(-12),
        }),
        alarm: Some(Alarm {
            name: "sos,overspeed".into(),
            code: 3,
        }),
        // JT/T 808 frames carry no text field.
        text: None,
        raw: Some("00ff".into()),
        details: Jt808Details {
            protocol_version: Some(1),
            encryption: Some(1),
            package: Some([3, 1]),
            status_flags: Some(0x0c03),
            alarm_flags: Some(3),
            acc: Some(true),
            mileage_km: Some(4_329.6),
            fuel_l: Some(12.5),
            tacho_speed: Some(39.0),
            rssi: Some(27),
            tlv,
            batch_type: Some(1),
            province_id: Some(44),
            city_id: Some(300),
            manufacturer_id: Some("70111".into()),
            terminal_model: Some("BSJ-A6".into()),
            terminal_id: Some("6051800".into()),
            plate_color: Some(1),
            plate: Some("粤B12345".into()),
            auth_code: Some("013511221122".into()),
            imei: Some("860000000000001".into()),
            firmware: Some("1.0.3".into()),
            terminal_type: Some(0x0107),
            iccid: Some("89860117851014783481".into()),
            reply_serial: Some(9),
            reply_id: Some(0x8300),
            result: Some(0),
            transparent_type: Some(0xf1),
            decode_error: Some("body too short for a location".into()),
        },
    });
}

#[test]
fn a_bare_message_equals_its_serde_value() {
    check(bare(Kind::Heartbeat));
    let mut msg = bare(Kind::Location);
    msg.position = Some(Position::default());
    check(msg);
}

fn check(msg: Jt808Message) {
    assert_fields_as_serde(msg, Jt808Message::into_fields);
}
