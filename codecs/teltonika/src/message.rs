//! The typed Teltonika message the codec puts in `Inbound::Message.fields`.
//!
//! The top-level keys are shared with the gt06 and jt808 codecs (`kind`, `latitude`, `speed`,
//! ...); Teltonika-only values sit under `details`. Teltonika devices report alarms as IO
//! events and priority (2 = panic), not as a separate field, so `details.io` and
//! `details.priority` are what rules match for them. The message and position are `codecs::family`'s,
//! shared by all three.

use crate::avl::IoValue;
use codecs::family::Message;
pub use codecs::family::Position;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a packet carried: the first thing a rule matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The IMEI identification packet.
    Login,
    /// The one-byte `FF` keep-alive.
    Heartbeat,
    /// One AVL record (codec 8, 8E or 16).
    Location,
    /// A codec 12/13 response from the device (type 0x06).
    CommandResponse,
    /// Anything else, with its data in `raw`.
    Other,
}

/// Teltonika-specific values; every field is optional and omitted when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TeltonikaDetails {
    /// Record time in Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    /// Record priority: 0 low, 1 high, 2 panic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// The IO element id that triggered the record (0 = periodic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_io_id: Option<u16>,
    /// Codec 16 generation type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_type: Option<u8>,
    /// Number of IO elements the record declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_total: Option<u16>,
    /// IO elements by id (`"239": 1`); variable-length ones as hex.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub io: BTreeMap<String, IoValue>,
    /// Position of this record in its packet, from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_index: Option<u8>,
    /// Codec 12/13 type: 0x05 command, 0x06 response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_type: Option<u8>,
    /// Codec 13 Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_timestamp: Option<u32>,
}

/// One decoded Teltonika packet (or one record of an AVL packet): the shared message with
/// Teltonika's kinds and details (it never sets `serial` or `alarm`).
pub type TeltonikaMessage = Message<Kind, TeltonikaDetails>;

/// A message of `kind` and `msg_type` with nothing else filled in.
pub fn new_message(kind: Kind, msg_type: &str) -> TeltonikaMessage {
    Message::new(crate::NAME, kind, msg_type.to_string())
}
