//! JT/T 808's own values as the `details` of the `fields` JSON value, built directly like the
//! rest of the message (`codecs::family::Message::into_fields`): the same value serde gives,
//! with the keys inserted from last to first. tests/fields.rs and the vector tests hold the two
//! equal.

use crate::message::Jt808Details;
use codecs::family::Details;
use codecs::put_field as put;
use serde_json::{Map, Value};

impl Details for Jt808Details {
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
