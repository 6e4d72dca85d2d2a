//! The message as the `fields` JSON value, built directly: the same value
//! `serde_json::to_value` gives, for less. serde's path clones every string, goes through a
//! map serializer for the flattened position, and inserts keys in field order; this one moves
//! the strings and inserts keys from last to first, so each insert stops at its first compare.
//! The tests hold the two equal.

use crate::message::{Alarm, Jt808Details, Jt808Message};
use serde_json::{Map, Value};

/// Adds `key` when `value` is present (the `skip_serializing_if = "Option::is_none"` rule).
fn put<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        map.insert(key.to_string(), value.into());
    }
}

impl Jt808Message {
    /// This message as the `fields` value of `Inbound::Message`: equal to
    /// `serde_json::to_value(&self)`, built without serde's clones and field-order inserts.
    pub fn into_fields(self) -> Value {
        // The position's keys sit at the top level (`#[serde(flatten)]`).
        let (time, timestamp, latitude, longitude, speed, course, satellites, fix, altitude) =
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
                    p.altitude,
                ),
                None => Default::default(),
            };
        let mut map = Map::new();
        // Keys go in from last to first: each insert then stops at the first key it compares.
        put(&mut map, "timestamp", timestamp);
        put(&mut map, "time", time);
        put(&mut map, "speed", speed);
        put(&mut map, "serial", Some(self.serial));
        put(&mut map, "satellites", satellites);
        put(&mut map, "raw", self.raw);
        put(&mut map, "protocol", Some(self.protocol));
        put(&mut map, "msg_type", Some(self.msg_type));
        put(&mut map, "longitude", longitude);
        put(&mut map, "latitude", latitude);
        put(&mut map, "kind", serde_json::to_value(self.kind).ok());
        put(&mut map, "fix", fix);
        put(&mut map, "device_id", Some(self.device_id));
        put(&mut map, "details", Some(self.details.into_fields()));
        put(&mut map, "course", course);
        put(&mut map, "altitude", altitude);
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

impl Jt808Details {
    fn into_fields(self) -> Value {
        let mut map = Map::new();
        put(&mut map, "transparent_type", self.transparent_type);
        if !self.tlv.is_empty() {
            let mut tlv = Map::new();
            for (id, value) in self.tlv.into_iter().rev() {
                tlv.insert(id, Value::String(value));
            }
            map.insert("tlv".to_string(), Value::Object(tlv));
        }
        put(&mut map, "terminal_type", self.terminal_type);
        put(&mut map, "terminal_model", self.terminal_model);
        put(&mut map, "terminal_id", self.terminal_id);
        put(&mut map, "tacho_speed", self.tacho_speed);
        put(&mut map, "status_flags", self.status_flags);
        put(&mut map, "rssi", self.rssi);
        put(&mut map, "result", self.result);
        put(&mut map, "reply_serial", self.reply_serial);
        put(&mut map, "reply_id", self.reply_id);
        put(&mut map, "province_id", self.province_id);
        put(&mut map, "protocol_version", self.protocol_version);
        put(&mut map, "plate_color", self.plate_color);
        put(&mut map, "plate", self.plate);
        put(&mut map, "package", self.package.map(|p| p.to_vec()));
        put(&mut map, "mileage_km", self.mileage_km);
        put(&mut map, "manufacturer_id", self.manufacturer_id);
        put(&mut map, "imei", self.imei);
        put(&mut map, "iccid", self.iccid);
        put(&mut map, "fuel_l", self.fuel_l);
        put(&mut map, "firmware", self.firmware);
        put(&mut map, "encryption", self.encryption);
        put(&mut map, "decode_error", self.decode_error);
        put(&mut map, "city_id", self.city_id);
        put(&mut map, "batch_type", self.batch_type);
        put(&mut map, "auth_code", self.auth_code);
        put(&mut map, "alarm_flags", self.alarm_flags);
        put(&mut map, "acc", self.acc);
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use crate::message::{Alarm, Jt808Details, Jt808Message, Kind, Position};
    use std::collections::BTreeMap;

    fn same_as_serde(msg: Jt808Message) {
        let expected = serde_json::to_value(&msg).unwrap();
        assert_eq!(msg.into_fields(), expected);
    }

    fn bare(kind: Kind) -> Jt808Message {
        Jt808Message {
            protocol: "jt808".into(),
            kind,
            msg_type: "0x0002".into(),
            serial: 0,
            device_id: "013511221122".into(),
            position: None,
            alarm: None,
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
        same_as_serde(Jt808Message {
            protocol: "jt808".into(),
            kind: Kind::Alarm,
            msg_type: "0x0200".into(),
            serial: 21,
            device_id: "013511221122".into(),
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
        same_as_serde(bare(Kind::Heartbeat));
        let mut msg = bare(Kind::Location);
        msg.position = Some(Position {
            time: None,
            timestamp: None,
            latitude: 0.0,
            longitude: 0.0,
            speed: 0.0,
            course: 0,
            satellites: None,
            fix: false,
            altitude: None,
        });
        same_as_serde(msg);
    }
}
