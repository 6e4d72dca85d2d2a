//! The typed JT/T 808 message the codec puts in `Inbound::Message.fields`.
//!
//! The top-level keys are shared with the gt06 and teltonika codecs (`kind`, `latitude`,
//! `speed`, `alarm.name`, ...); JT/T 808-only values sit under `details`. The message, position
//! and alarm are `codecs::family`'s, shared by all three.

use codecs::family::Message;
pub use codecs::family::{Alarm, Position};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a message carried: the first thing a rule matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Terminal registration 0x0100.
    Register,
    /// Terminal authentication 0x0102.
    Auth,
    /// Heartbeat 0x0002.
    Heartbeat,
    /// Location 0x0200 / 0x0201 (and each item of a 0x0704 batch) with no alarm flag set.
    Location,
    /// The same with at least one alarm flag set.
    Alarm,
    /// Terminal general response 0x0001 to a platform message.
    CommandResponse,
    /// Anything else, with its body in `raw`.
    Other,
}

/// JT/T 808-specific values; every field is optional and omitted when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Jt808Details {
    /// Protocol-version byte of a 2019-edition header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<u8>,
    /// Encryption bits of the header (1 = RSA); the body is then passed on raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<u8>,
    /// Total packets and this packet's index of a split message (passed on raw, not joined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<[u16; 2]>,
    /// Location status flags (bit 0 ACC, 1 fixed, 2 south, 3 west, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_flags: Option<u32>,
    /// Location alarm flags, also when zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_flags: Option<u32>,
    /// Ignition (status bit 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc: Option<bool>,
    /// Odometer in km (extra item 0x01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mileage_km: Option<f64>,
    /// Fuel in litres (extra item 0x02).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_l: Option<f64>,
    /// Tachograph speed in km/h (extra item 0x03).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tacho_speed: Option<f64>,
    /// Mobile signal strength (extra item 0x30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssi: Option<u8>,
    /// Every extra item of a location as `"0x31": "0e"` (id → value hex), vendor ones included.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tlv: BTreeMap<String, String>,
    /// Batch type of a 0x0704 item (0 normal, 1 blind-area re-upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_type: Option<u8>,
    /// Province id of a registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province_id: Option<u16>,
    /// City id of a registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city_id: Option<u16>,
    /// Manufacturer id of a registration or attributes reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer_id: Option<String>,
    /// Terminal model of a registration or attributes reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_model: Option<String>,
    /// Terminal id of a registration or attributes reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_id: Option<String>,
    /// Plate colour of a registration (0 = no plate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate_color: Option<u8>,
    /// Vehicle plate of a registration (GBK decoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    /// Auth code of an authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_code: Option<String>,
    /// IMEI of a 2019 authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// Firmware version of a 2019 authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// Terminal type word of an attributes reply 0x0107.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_type: Option<u16>,
    /// SIM ICCID of an attributes reply 0x0107.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    /// Serial of the platform message a general response answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_serial: Option<u16>,
    /// Id of the platform message a general response answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_id: Option<u16>,
    /// Result of a general response (0 ok, 1 failed, 2 bad message, 3 unsupported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<u8>,
    /// Type byte of transparent data 0x0900.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transparent_type: Option<u8>,
    /// Why a checksum-valid message could not be read as its type (its body is in `raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<String>,
}

/// One decoded JT/T 808 message: the shared message with JT/T 808's kinds and details. Every
/// header carries the serial and the terminal phone, so `serial` and `device_id` are always
/// set (the phone as hex digits, `013511221122`); it never sets `text`.
pub type Jt808Message = Message<Kind, Jt808Details>;
