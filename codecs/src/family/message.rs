//! The message every family decodes to: the keys all families share at the top level of
//! `fields`, the family's own `kind` and `details` as type parameters, and its `fields` value
//! built without serde.

use super::fields::{put_alarm, put_position};
use super::{Alarm, Position};
use crate::put_field as put;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One decoded frame of a device family, as the `fields` of its `Inbound::Message`.
///
/// The top-level keys are the same in every family, so one rule matches any family (`kind`,
/// `latitude`, `speed`, `alarm.name`, ...; docs/CODEC_GUIDE.md lists them). `K` is the family's
/// `kind` enum (serialised as a snake_case string), `D` its own values under `details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize, D: Serialize",
    deserialize = "K: Deserialize<'de>, D: Deserialize<'de> + Default"
))]
pub struct Message<K, D> {
    /// The family's registry name (`gt06`).
    pub protocol: String,
    /// What the frame carried: the first thing a rule matches on.
    pub kind: K,
    /// The family's message id as hex (`0x12`, `0x0200`), or a word (`imei`, `ping`, `V1`).
    pub msg_type: String,
    /// The device's serial of this frame, where the protocol has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u16>,
    /// IMEI or terminal phone, where the frame carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The GPS fix, when the frame has one (its keys sit at the top level).
    #[serde(flatten, default)]
    pub position: Option<Position>,
    /// The alarm, when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<Alarm>,
    /// Text of a command response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Content bytes as hex, for `other` and unreadable frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// The family's own values.
    #[serde(default)]
    pub details: D,
}

/// A family's own values, written under `details` by [`Message::into_fields`].
pub trait Details {
    /// These values as a JSON object, equal to serde's (families build it directly, as
    /// [`Message::into_fields`] does, for the same reason).
    fn into_fields(self) -> Value;
}

impl<K, D: Default> Message<K, D> {
    /// A message of `kind` for `protocol` and `msg_type` with nothing else filled in.
    pub fn new(protocol: &str, kind: K, msg_type: String) -> Self {
        Message {
            protocol: protocol.to_string(),
            kind,
            msg_type,
            serial: None,
            device_id: None,
            position: None,
            alarm: None,
            text: None,
            raw: None,
            details: D::default(),
        }
    }
}

impl<K: Serialize, D: Details> Message<K, D> {
    /// This message as the `fields` value of `Inbound::Message`: equal to
    /// `serde_json::to_value(&self)`, built for less. serde's path clones every string, goes
    /// through a map serializer for the flattened position, and inserts keys in field order;
    /// this one moves the strings and inserts keys from last to first, so each insert stops at
    /// its first compare. Each family's tests/fields.rs holds the two equal.
    pub fn into_fields(self) -> Value {
        let mut map = Map::new();
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

/// `0x` and `bytes` in lower-case hex (`0x0200`), the form of `msg_type`, without the
/// formatting machinery: it runs for every message.
pub fn hex_id(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 + 2 * bytes.len());
    text.push_str("0x");
    for &byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        CommandResponse,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    struct Extra {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<u8>,
    }

    impl Details for Extra {
        fn into_fields(self) -> Value {
            let mut map = Map::new();
            put(&mut map, "level", self.level);
            Value::Object(map)
        }
    }

    #[test]
    fn message_ids_are_lower_case_hex_of_every_byte() {
        assert_eq!(hex_id(&[0x12]), "0x12");
        assert_eq!(hex_id(&[0x02, 0x00]), "0x0200");
        assert_eq!(hex_id(&[0xab, 0xcd]), "0xabcd");
        assert_eq!(hex_id(&[]), "0x");
    }

    #[test]
    fn every_field_set_gives_serdes_value_and_reads_back() {
        let msg = Message {
            serial: Some(9),
            device_id: Some("860000000000001".into()),
            position: Some(Position {
                time: Some("2025-01-01T00:00:00Z".into()),
                timestamp: Some(1_735_689_600),
                satellites: Some(7),
                altitude: Some(-3),
                ..Position::default()
            }),
            alarm: Some(Alarm {
                name: "sos".into(),
                code: 1,
            }),
            text: Some("OK".into()),
            raw: Some("00".into()),
            details: Extra { level: Some(3) },
            ..Message::new("demo", Kind::CommandResponse, hex_id(&[0x21]))
        };
        let serde = serde_json::to_value(&msg).unwrap();
        assert_eq!(serde["kind"], "command_response");
        assert_eq!(
            serde_json::from_value::<Message<Kind, Extra>>(serde.clone()).unwrap(),
            msg
        );
        assert_eq!(msg.into_fields(), serde);
        let bare = Message::<Kind, Extra>::new("demo", Kind::CommandResponse, "ping".into());
        assert_eq!(
            bare.clone().into_fields(),
            serde_json::to_value(&bare).unwrap()
        );
    }
}
