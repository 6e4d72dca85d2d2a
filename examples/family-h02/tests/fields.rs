//! The hand-built `fields` value equals serde's, with every field set (H02 has no `serial`).

use family_h02::{Alarm, Cell, H02Details, H02Message, Kind, Position};

#[test]
fn a_message_with_every_field_set_gives_serdes_value() {
    let msg = H02Message {
        protocol: "h02".into(),
        kind: Kind::CommandResponse,
        msg_type: "V4".into(),
        serial: None,
        device_id: Some("123456789012345".into()),
        position: Some(Position {
            time: Some("2013-06-14T21:33:24Z".into()),
            timestamp: Some(1_371_245_604),
            latitude: 50.043_081,
            longitude: -14.563_036,
            speed: 1.852,
            course: 359,
            satellites: Some(7),
            fix: true,
            altitude: Some(10),
        }),
        alarm: Some(Alarm {
            name: "sos,powerCut".into(),
            code: 0xfff3_ffff,
        }),
        text: Some("S20,DONE,130305".into()),
        raw: Some("*HQ,1,V4#".into()),
        details: H02Details {
            maker: Some("HQ".into()),
            status: Some(0xfff3_ffff),
            acc: Some(true),
            battery: Some(100),
            mcc: Some(722),
            mnc: Some(310),
            cells: Some(vec![Cell {
                lac: 8106,
                cell_id: 32010,
                rssi: -67,
            }]),
            extra: Some(vec!["712".into()]),
            decode_error: Some("none".into()),
        },
    };
    family_kit::assert_fields_as_serde(msg, H02Message::into_fields);
}
