//! The typed message the codec puts in `Inbound::Message.fields`: devgate's shared family
//! message (the top-level keys every family has: `kind`, `latitude`, `speed`, `alarm`, ...)
//! with this family's kinds and its own values under `details`.

use codecs::family::{hex_id, Details, Message};
use codecs::put_field as put;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use codecs::family::{Alarm, Position};

/// What a frame carried: the first thing a rule matches on (`kind == 'location'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Login (carries the IMEI).
    Login,
    /// Heartbeat.
    Heartbeat,
    /// A GPS fix.
    Location,
    /// Anything else, with its body in `raw`.
    Other,
}

/// {{name}}-specific values; every field is optional and omitted when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct {{Name}}Details {
    /// The location's flags byte (bit 0: fix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<u8>,
    /// Why a frame with a good checksum could not be read as its type (its body is in `raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<String>,
}

impl Details for {{Name}}Details {
    // The same value serde gives, built without it (keys from last to first); tests/behaviour.rs
    // holds the two equal.
    fn into_fields(self) -> Value {
        let mut map = Map::new();
        put(&mut map, "flags", self.flags);
        put(&mut map, "decode_error", self.decode_error);
        Value::Object(map)
    }
}

/// One decoded {{name}} frame.
pub type {{Name}}Message = Message<Kind, {{Name}}Details>;

/// A message of `kind` for frame type `kind_byte` (`msg_type` `0x10`) with nothing else set.
pub fn new_message(kind: Kind, kind_byte: u8) -> {{Name}}Message {
    Message::new(crate::NAME, kind, hex_id(&[kind_byte]))
}
