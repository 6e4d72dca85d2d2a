//! The message as the `fields` JSON value, built directly: the same value
//! `serde_json::to_value` gives, for less. serde's path clones every string, goes through a
//! map serializer for the flattened position, and inserts keys in field order; this one moves
//! the strings and inserts keys from last to first, so each insert stops at its first compare.
//! The tests hold the two equal.

use crate::message::{Alarm, Cell, Gt06Details, Gt06Message};
use serde_json::{Map, Value};

/// Adds `key` when `value` is present (the `skip_serializing_if = "Option::is_none"` rule).
fn put<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        map.insert(key.to_string(), value.into());
    }
}

impl Gt06Message {
    /// This message as the `fields` value of `Inbound::Message`: equal to
    /// `serde_json::to_value(&self)`, built without serde's per-key map inserts.
    pub fn into_fields(self) -> Value {
        // The position's keys sit at the top level (`#[serde(flatten)]`).
        let (time, timestamp, latitude, longitude, speed, course, satellites, fix) =
            match self.position {
                Some(p) => (
                    p.time,
                    p.timestamp,
                    Some(p.latitude),
                    Some(p.longitude),
                    Some(p.speed),
                    Some(p.course),
                    p.satellites,
                    Some(p.fix),
                ),
                None => Default::default(),
            };
        let mut map = Map::new();
        // Keys go in from last to first: each insert then stops at the first key it compares.
        put(&mut map, "timestamp", timestamp);
        put(&mut map, "time", time);
        put(&mut map, "text", self.text);
        put(&mut map, "speed", speed);
        put(&mut map, "serial", self.serial);
        put(&mut map, "satellites", satellites);
        put(&mut map, "raw", self.raw);
        put(&mut map, "protocol", Some(self.protocol));
        put(&mut map, "msg_type", Some(self.msg_type));
        put(&mut map, "longitude", longitude);
        put(&mut map, "latitude", latitude);
        put(&mut map, "kind", serde_json::to_value(self.kind).ok());
        put(&mut map, "fix", fix);
        put(&mut map, "device_id", self.device_id);
        put(&mut map, "details", Some(self.details.into_fields()));
        put(&mut map, "course", course);
        put(&mut map, "alarm", self.alarm.map(Alarm::into_fields));
        Value::Object(map)
    }
}

impl Alarm {
    fn into_fields(self) -> Value {
        let mut map = Map::new();
        put(&mut map, "name", Some(self.name));
        put(&mut map, "code", Some(self.code));
        Value::Object(map)
    }
}

impl Cell {
    fn into_fields(self) -> Value {
        let mut map = Map::new();
        put(&mut map, "mnc", Some(self.mnc));
        put(&mut map, "mcc", Some(self.mcc));
        put(&mut map, "lac", Some(self.lac));
        put(&mut map, "cell_id", Some(self.cell_id));
        Value::Object(map)
    }
}

impl Gt06Details {
    fn into_fields(self) -> Value {
        let mut map = Map::new();
        put(&mut map, "voltage_level", self.voltage_level);
        put(&mut map, "upload_mode", self.upload_mode);
        put(&mut map, "unverified", self.unverified);
        put(&mut map, "type_id", self.type_id);
        put(
            &mut map,
            "timezone_offset_minutes",
            self.timezone_offset_minutes,
        );
        put(&mut map, "terminal_info", self.terminal_info);
        put(&mut map, "server_flag", self.server_flag);
        put(&mut map, "reupload", self.reupload);
        put(&mut map, "power", self.power);
        put(&mut map, "mileage", self.mileage);
        put(&mut map, "lbs", self.lbs.map(Cell::into_fields));
        put(&mut map, "language", self.language);
        put(&mut map, "info_type", self.info_type);
        put(&mut map, "imsi", self.imsi);
        put(&mut map, "iccid", self.iccid);
        put(&mut map, "gsm_signal", self.gsm_signal);
        put(&mut map, "decode_error", self.decode_error);
        put(&mut map, "acc", self.acc);
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use crate::message::{Alarm, Cell, Gt06Details, Gt06Message, Kind, Position};

    fn same_as_serde(msg: Gt06Message) {
        let expected = serde_json::to_value(&msg).unwrap();
        assert_eq!(msg.into_fields(), expected);
    }

    /// Every field set, listed without `..Default::default()`: a new field does not compile
    /// here until it is set, and then the comparison shows whether `into_fields` writes it.
    #[test]
    fn a_message_with_every_field_set_equals_its_serde_value() {
        same_as_serde(Gt06Message {
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
        assert_eq!(Gt06Message::new(Kind::Other, 0xab).msg_type, "0xab");
        same_as_serde(Gt06Message::new(Kind::Heartbeat, 0x13));
        let mut msg = Gt06Message::new(Kind::Location, 0x12);
        msg.position = Some(Position {
            time: None,
            timestamp: None,
            latitude: f64::NAN,
            longitude: 0.0,
            speed: 0.0,
            course: 0,
            satellites: None,
            fix: false,
        });
        same_as_serde(msg);
    }
}
