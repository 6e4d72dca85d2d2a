//! The typed GT06 message the codec puts in `Inbound::Message.fields`.
//!
//! The top-level keys are shared with the jt808 and teltonika codecs, so one rule can match
//! any family (`kind`, `latitude`, `speed`, `alarm.name`, ...); GT06-only values sit under
//! `details`. The position and alarm are `codecs::family`'s, shared by all three;
//! docs/CODEC_GUIDE.md lists the shared keys.

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

/// One decoded GT06 frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gt06Message {
    /// Always `gt06`.
    pub protocol: String,
    /// What the frame carried.
    pub kind: Kind,
    /// The protocol number as hex, e.g. `0x12`.
    pub msg_type: String,
    /// The device's serial number of this frame (echoed in the ack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u16>,
    /// The IMEI, on a login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The GPS fix, when the packet has one.
    #[serde(flatten, default)]
    pub position: Option<Position>,
    /// The alarm, when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<Alarm>,
    /// Text of a command response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Content bytes (between protocol number and serial) as hex, for `other` and unreadable packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// GT06-specific values.
    #[serde(default)]
    pub details: Gt06Details,
}

/// `0x12` for protocol number 0x12, without the formatting machinery (once per frame).
fn msg_type(proto: u8) -> String {
    let mut text = *b"0x00";
    // Two hex digits always fit the two bytes left.
    let _ = hex::encode_to_slice([proto], &mut text[2..]);
    String::from_utf8_lossy(&text).into_owned()
}

impl Gt06Message {
    /// A message of `kind` for protocol number `proto` with nothing else filled in.
    pub fn new(kind: Kind, proto: u8) -> Self {
        Gt06Message {
            protocol: crate::NAME.to_string(),
            kind,
            msg_type: msg_type(proto),
            serial: None,
            device_id: None,
            position: None,
            alarm: None,
            text: None,
            raw: None,
            details: Gt06Details::default(),
        }
    }
}
