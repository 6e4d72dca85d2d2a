//! The message as the `fields` JSON value, built directly: the same value
//! `serde_json::to_value` gives, for less. serde's path clones every string, goes through a
//! map serializer for the flattened position, and inserts keys in field order; this one moves
//! the strings and inserts keys from last to first, so each insert stops at its first compare.
//! The position and alarm keys come from `codecs::family`, as for every family.
//! tests/fields.rs and the vector tests hold the two equal.

use crate::message::{Cell, Gt06Details, Gt06Message};
use codecs::family::{put_alarm, put_position};
use codecs::put_field as put;
use serde_json::{Map, Value};

impl Gt06Message {
    /// This message as the `fields` value of `Inbound::Message`: equal to
    /// `serde_json::to_value(&self)`, built without serde's clones and field-order inserts.
    pub fn into_fields(self) -> Value {
        let mut map = Map::new();
        // The fix's keys sit at the top level (`#[serde(flatten)]`); the message's own keys
        // then go in from last to first, so each insert stops at the first key it compares.
        put_position(&mut map, self.position);
        put(&mut map, "text", self.text);
        put(&mut map, "serial", self.serial);
        put(&mut map, "raw", self.raw);
        put(&mut map, "protocol", Some(self.protocol));
        put(&mut map, "msg_type", Some(self.msg_type));
        put(&mut map, "kind", serde_json::to_value(self.kind).ok());
        put(&mut map, "device_id", self.device_id);
        put(&mut map, "details", Some(self.details.into_fields()));
        put_alarm(&mut map, self.alarm);
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
