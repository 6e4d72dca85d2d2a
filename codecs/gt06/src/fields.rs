//! GT06's own values as the `details` of the `fields` JSON value, built directly like the rest
//! of the message (`codecs::family::Message::into_fields`): the same value serde gives, with
//! the keys inserted from last to first. tests/fields.rs and the vector tests hold the two equal.

use crate::message::{Cell, Gt06Details};
use codecs::family::Details;
use codecs::put_field as put;
use serde_json::{Map, Value};

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

impl Details for Gt06Details {
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
