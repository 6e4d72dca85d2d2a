//! What the device-family codecs (gt06, jt808, teltonika) share: in their typed messages, the
//! GPS fix and the alarm and their `fields` builders; device clock conversions and the server's
//! [`Clock`]; and the glue every family crate needs (`codec`, `prepare` and `register` from
//! [`family_codec!`](crate::family_codec), the once-per-connection [`Identity`]).
//!
//! One definition keeps the top-level keys the same across families, so one rule matches any
//! family (`latitude`, `speed`, `alarm.name`, ...); docs/CODEC_GUIDE.md lists the keys. A
//! family's message is a [`Message`] of its own `kind` enum and `details` struct, which puts a
//! [`Position`] under `#[serde(flatten)]` and an [`Alarm`] under `alarm`.

pub mod clock;
mod fields;
mod glue;
mod message;

pub use clock::Clock;
pub use fields::{put_alarm, put_position};
pub use glue::Identity;
pub use message::{hex_id, Details, Message};

use serde::{Deserialize, Serialize};

/// A GPS fix, flattened into a family message's top level.
///
/// `Default` is a fix-less reading at 0°, 0° with nothing optional set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Fix time in UTC, RFC 3339 (`2015-10-20T14:21:11Z`, Teltonika with milliseconds when not
    /// zero); absent when the device sent an impossible date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The same instant as Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Signed degrees, north positive.
    pub latitude: f64,
    /// Signed degrees, east positive.
    pub longitude: f64,
    /// Ground speed in km/h.
    pub speed: f64,
    /// Heading in degrees, 0 = north, clockwise.
    pub course: u16,
    /// Satellites in use, when the device says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satellites: Option<u8>,
    /// True when the fix is valid, by the family's rule (a status bit, or satellites > 0).
    pub fix: bool,
    /// Altitude in metres, when sent (GT06 never sends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<i32>,
}

/// An alarm raised by the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// Traccar's alarm vocabulary (`sos`, `powerCut`, `vibration`, `lowBattery`, ...),
    /// comma-separated when several apply (`lowBattery,tampering`).
    pub name: String,
    /// The raw value the name came from: the alarm byte or field, or the 32-bit alarm flags.
    pub code: u32,
}
