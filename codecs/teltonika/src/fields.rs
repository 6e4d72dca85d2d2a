//! Teltonika's own values as the `details` of the `fields` JSON value, built directly like the
//! rest of the message (`codecs::family::Message::into_fields`): the same value serde gives,
//! with the keys inserted from last to first. tests/fields.rs and the vector tests hold the two
//! equal.

use crate::avl::IoValue;
use crate::message::TeltonikaDetails;
use codecs::family::Details;
use codecs::put_field as put;
use serde_json::{Map, Value};

impl Details for TeltonikaDetails {
    fn into_fields(self) -> Value {
        let mut map = Map::new();
        put(&mut map, "timestamp_ms", self.timestamp_ms);
        put(&mut map, "record_index", self.record_index);
        put(&mut map, "priority", self.priority);
        put(&mut map, "io_total", self.io_total);
        if !self.io.is_empty() {
            let mut io = Map::new();
            for (id, value) in self.io.into_iter().rev() {
                let value = match value {
                    IoValue::Number(number) => Value::from(number),
                    IoValue::Bytes(hex) => Value::String(hex),
                };
                io.insert(id, value);
            }
            map.insert("io".to_string(), Value::Object(io));
        }
        put(&mut map, "generation_type", self.generation_type);
        put(&mut map, "event_io_id", self.event_io_id);
        put(&mut map, "command_type", self.command_type);
        put(&mut map, "command_timestamp", self.command_timestamp);
        Value::Object(map)
    }
}
