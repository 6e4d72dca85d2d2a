//! The typed GT06 message the codec puts in `Inbound::Message.fields`.
//!
//! The top-level keys are shared with the jt808 and teltonika codecs, so one rule can match
//! any family (`kind`, `latitude`, `speed`, `alarm.name`, ...); GT06-only values sit under
//! `details`. The message, position and alarm are `codecs::family`'s, shared by all three;
//! docs/CODEC_GUIDE.md lists the shared keys.

use codecs::family::{hex_id, Message};
pub use codecs::family::{Alarm, Position};
use serde::{Deserialize, Serialize};

/// What a frame carried: the first thing a rule matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Login 0x01 (carries the IMEI).
    Login,
    /// Status / heartbeat 0x13 or 0x23.
    Heartbeat,
    /// GPS fix: 0x10, 0x11, 0x12, 0x22, 0x2D, 0x37.
    Location,
    /// Alarm packets: 0x16, 0x26, 0x27, 0x19, 0x95.
    Alarm,
    /// The device's answer to a server command: 0x15 or 0x21.
    CommandResponse,
    /// Anything else, with its content in `raw`.
    Other,
}

/// The serving cell (LBS block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Mobile country code.
    pub mcc: u16,
    /// Mobile network code.
    pub mnc: u16,
    /// Location area code.
    pub lac: u16,
    /// Cell id.
    pub cell_id: u32,
}

/// GT06-specific values; every field is optional and omitted when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gt06Details {
    /// Serving cell of a GPS+LBS or alarm packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lbs: Option<Cell>,
    /// Terminal-info byte (bit 0 armed, 1 ACC, 2 charging, 3-5 alarm, 6 GPS on, 7 power cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_info: Option<u8>,
    /// Battery voltage level 0-6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voltage_level: Option<u8>,
    /// GSM signal strength 0-4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsm_signal: Option<u8>,
    /// Language byte of status and alarm packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<u8>,
    /// Supply voltage in volts (0x23 heartbeat, 0x94 sub-type 0x00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<f64>,
    /// Ignition (ACC) of a 0x22 packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc: Option<bool>,
    /// Upload mode (reason) of a 0x22 packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_mode: Option<u8>,
    /// True when a 0x22 packet is a re-upload of stored data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reupload: Option<bool>,
    /// Mileage of a 0x22 packet, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mileage: Option<u32>,
    /// Model/type id of an extended login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u16>,
    /// Clock offset announced by an extended login, minutes east of UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone_offset_minutes: Option<i32>,
    /// Server flag echoed in a command response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_flag: Option<u32>,
    /// Sub-type of an information packet 0x94.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_type: Option<u8>,
    /// SIM ICCID from an information packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    /// SIM IMSI from an information packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imsi: Option<String>,
    /// True for the WiFi variant that carries no serial and no CRC (content not verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unverified: Option<bool>,
    /// Why a checksum-valid packet could not be read as its type (its bytes are in `raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<String>,
}

/// One decoded GT06 frame: the shared message with GT06's kinds and details.
pub type Gt06Message = Message<Kind, Gt06Details>;

/// A message of `kind` for protocol number `proto` (`msg_type` `0x12`) with nothing else filled in.
pub fn new_message(kind: Kind, proto: u8) -> Gt06Message {
    Message::new(crate::NAME, kind, hex_id(&[proto]))
}
