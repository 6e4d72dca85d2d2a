//! The typed H02 message the codec puts in `Inbound::Message.fields`.
//!
//! The top-level keys are the ones every devgate family shares (docs/CODEC_GUIDE.md): the
//! message is `codecs::family`'s, with H02's own `Kind` and what only H02 has under `details`.

use codecs::family::Message;
pub use codecs::family::{Alarm, Position};
use serde::{Deserialize, Serialize};

/// What a line carried: the first thing a rule matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `HTBT` (or `V0`): the device is alive.
    Heartbeat,
    /// A GPS report (`V1` and its kin `V2`, `V5`, `V6`, `V8`, `V19`, `VI1`). An alarm bit in
    /// the status word sets `alarm` on the location: the line is still a location.
    Location,
    /// `V4`: the device's answer to a server command, with the position it had.
    CommandResponse,
    /// Anything else, whole in `raw`; a cell report (`NBR`: no fix, so no `latitude` for
    /// the rules that act on locations) is `other` too, with its cells in `details`.
    Other,
}

/// One cell a cell report names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Location area code.
    pub lac: u32,
    /// Cell id.
    pub cell_id: u32,
    /// Signal strength as the device writes it.
    pub rssi: i32,
}

/// H02-only values; every field is optional and omitted when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct H02Details {
    /// The two letters after `*` (`HQ`, `TH`, `hq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maker: Option<String>,
    /// The 32-bit status word (bits are active low: 0 means set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u32>,
    /// Ignition, status bit 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc: Option<bool>,
    /// Battery level of a heartbeat, as sent (percent on most devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery: Option<u32>,
    /// Mobile country code of a cell report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcc: Option<u32>,
    /// Mobile network code of a cell report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnc: Option<u32>,
    /// The cells of a cell report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<Vec<Cell>>,
    /// Fields after the status word, as sent (cell, fuel, odometer... vary by vendor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Vec<String>>,
    /// Why a line of a known type could not be read (it is then `other`, whole in `raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<String>,
}

/// One decoded H02 line: devgate's shared family message (`protocol` always `h02`, `msg_type`
/// the type word, `device_id` the IMEI or the shorter id older devices send, `text` a command
/// response's answer, `raw` the whole line of an `other`; H02 has no `serial`).
pub type H02Message = Message<Kind, H02Details>;
