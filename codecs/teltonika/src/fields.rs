//! The message as the `fields` JSON value, built directly: the same value
//! `serde_json::to_value` gives, for less. serde's path clones every string, goes through a
//! map serializer for the flattened position, and inserts keys in field order; this one moves
//! the strings and inserts keys from last to first, so each insert stops at its first compare.
//! The position and alarm keys come from `codecs::family`, as for every family.
//! tests/fields.rs and the vector tests hold the two equal.

use crate::avl::IoValue;
use crate::message::{TeltonikaDetails, TeltonikaMessage};
use codecs::family::put_position;
use codecs::put_field as put;
use serde_json::{Map, Value};

impl TeltonikaMessage {
    /// This message as the `fields` value of `Inbound::Message`: equal to
    /// `serde_json::to_value(&self)`, built without serde's clones and field-order inserts.
    pub fn into_fields(self) -> Value {
        let mut map = Map::new();
        // The fix's keys sit at the top level (`#[serde(flatten)]`); the message's own keys
        // then go in from last to first, so each insert stops at the first key it compares.
        put_position(&mut map, self.position);
        put(&mut map, "text", self.text);
        put(&mut map, "raw", self.raw);
        put(&mut map, "protocol", Some(self.protocol));
        put(&mut map, "msg_type", Some(self.msg_type));
        put(&mut map, "kind", serde_json::to_value(self.kind).ok());
        put(&mut map, "device_id", self.device_id);
        put(&mut map, "details", Some(self.details.into_fields()));
        Value::Object(map)
    }
}

impl TeltonikaDetails {
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
