//! The message as the `fields` JSON value: the shared keys with `codecs::family`'s builders
//! (`put_position`, `put_alarm`), so they are written as every family writes them; the H02
//! `details` through serde (a few small keys). tests/fields.rs holds the result equal to
//! `serde_json::to_value` of the message.

use crate::message::H02Message;
use codecs::family::{put_alarm, put_position};
use codecs::put_field as put;
use serde_json::{Map, Value};

impl H02Message {
    /// This message as the `fields` value of `Inbound::Message`: equal to
    /// `serde_json::to_value(&self)`.
    pub fn into_fields(self) -> Value {
        let mut map = Map::new();
        put_position(&mut map, self.position);
        put(&mut map, "text", self.text);
        put(&mut map, "raw", self.raw);
        put(&mut map, "protocol", Some(self.protocol));
        put(&mut map, "msg_type", Some(self.msg_type));
        put(&mut map, "kind", serde_json::to_value(self.kind).ok());
        put(&mut map, "device_id", self.device_id);
        put(&mut map, "details", serde_json::to_value(self.details).ok());
        put_alarm(&mut map, self.alarm);
        Value::Object(map)
    }
}
