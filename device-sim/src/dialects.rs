//! The device families device-sim can play, by name: a [`Dialects`] registry of [`Family`]
//! entries, each naming a family, its device ids and how to build one device's
//! [`Dialect`]. `--proto NAME` (and `proto` in a scenario) looks the name up here after the wire
//! protocols. The stock registry holds GT06, JT/T 808 and Teltonika; a user's binary adds its own
//! family and calls [`crate::run`] with it, so it keeps every subcommand of `device-sim`.

use crate::behaviour::family::{gt06, jt808, teltonika, Dialect};
use crate::plan::Proto;
use std::fmt;

/// A device family device-sim can play: its name, its device ids and its frames.
#[derive(Clone, Copy)]
pub struct Family {
    name: &'static str,
    id_digits: u32,
    default_id_base: u64,
    heartbeats: bool,
    dialect: fn(&str) -> Box<dyn Dialect>,
}

impl Family {
    /// GT06 / Concox: IMEI login, 0x13 status, 0x22 locations, 0x80 commands.
    pub const GT06: Family = Family::new("gt06", 15, 860_000_000_000_000, gt06::Gt06::boxed);
    /// JT/T 808: 0x0100 registration and 0x0102 authentication, 0x0002 heartbeats, 0x0200
    /// locations, 0x8300 text messages.
    pub const JT808: Family = Family::new("jt808", 12, 13_800_000_000, jt808::Jt808::boxed);
    /// Teltonika: IMEI packet, codec 8 AVL packets (no heartbeat), codec 12 commands.
    pub const TELTONIKA: Family = Family::new(
        "teltonika",
        15,
        860_000_000_000_000,
        teltonika::Teltonika::boxed,
    )
    .without_heartbeat();

    /// A family named `name` (as in `--proto NAME` and in devgate's listener URLs) whose device
    /// ids have `id_digits` digits (zero-padded), device 0 being `default_id_base` unless
    /// `--id-base` says otherwise, and whose device with id `id` speaks `dialect(id)`.
    pub const fn new(
        name: &'static str,
        id_digits: u32,
        default_id_base: u64,
        dialect: fn(&str) -> Box<dyn Dialect>,
    ) -> Family {
        Family {
            name,
            id_digits,
            default_id_base,
            heartbeats: true,
            dialect,
        }
    }

    /// The same family, said to send no heartbeats (for reports).
    pub const fn without_heartbeat(self) -> Family {
        Family {
            heartbeats: false,
            ..self
        }
    }

    /// The family's name, as written on the command line and in devgate's listener URLs.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Digits of a device id: 15 for an IMEI, 12 for a JT/T 808 terminal phone number.
    pub fn id_digits(self) -> u32 {
        self.id_digits
    }

    /// The id of device 0 when none is given (device `i` is this plus `i`).
    pub fn default_id_base(self) -> u64 {
        self.default_id_base
    }

    /// Whether its devices send heartbeats.
    pub fn heartbeats(self) -> bool {
        self.heartbeats
    }

    /// The frames of the device with `id`.
    pub fn dialect(self, id: &str) -> Box<dyn Dialect> {
        (self.dialect)(id)
    }
}

// A family is its name: the registry holds one family per name.
impl PartialEq for Family {
    fn eq(&self, other: &Family) -> bool {
        self.name == other.name
    }
}

impl Eq for Family {}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// What devices speak: a wire protocol, or a device family (over a plain byte stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoName {
    /// Echo and idle devices over `text`, `frame` or `websocket`.
    Wire(Proto),
    /// Trackers of a family.
    Family(Family),
}

impl ProtoName {
    /// The wire protocol: a device family frames its own bytes over a plain stream (`Text`).
    pub fn wire(self) -> Proto {
        match self {
            ProtoName::Wire(proto) => proto,
            ProtoName::Family(_) => Proto::Text,
        }
    }

    /// The device family, if this is one.
    pub fn family(self) -> Option<Family> {
        match self {
            ProtoName::Family(family) => Some(family),
            ProtoName::Wire(_) => None,
        }
    }
}

/// A family that cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialectError {
    /// The name is a wire protocol's (`text`, `frame`, `websocket`).
    #[error("`{0}` is a wire protocol, not a device family name")]
    WireName(&'static str),
}

/// The device families a `device-sim` binary knows, by name.
#[derive(Debug, Clone, Default)]
pub struct Dialects {
    families: Vec<Family>,
}

const WIRES: [Proto; 3] = [Proto::Text, Proto::Frame, Proto::Websocket];

impl Dialects {
    /// No family: only echo and idle devices.
    pub fn empty() -> Dialects {
        Dialects::default()
    }

    /// The stock families: GT06, JT/T 808 and Teltonika.
    pub fn stock() -> Dialects {
        Dialects {
            families: vec![Family::GT06, Family::JT808, Family::TELTONIKA],
        }
    }

    /// Adds `family`, replacing one of the same name.
    pub fn register(&mut self, family: Family) -> Result<&mut Dialects, DialectError> {
        if WIRES.iter().any(|w| w.name() == family.name) {
            return Err(DialectError::WireName(family.name));
        }
        match self.families.iter_mut().find(|f| f.name == family.name) {
            Some(slot) => *slot = family,
            None => self.families.push(family),
        }
        Ok(self)
    }

    /// The family named `name`.
    pub fn get(&self, name: &str) -> Option<Family> {
        self.families.iter().copied().find(|f| f.name == name)
    }

    /// Every family's name, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.families.iter().map(|f| f.name).collect()
    }

    /// What `name` means: a wire protocol or a registered family.
    pub fn proto(&self, name: &str) -> Result<ProtoName, String> {
        if let Some(wire) = WIRES.into_iter().find(|w| w.name() == name) {
            return Ok(ProtoName::Wire(wire));
        }
        self.get(name).map(ProtoName::Family).ok_or_else(|| {
            let mut known: Vec<&str> = WIRES.iter().map(|w| w.name()).collect();
            known.extend(self.names());
            format!("unknown proto `{name}` (known: {})", known.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_wires_first_then_registered_families() {
        let mut dialects = Dialects::stock();
        assert_eq!(dialects.proto("frame"), Ok(ProtoName::Wire(Proto::Frame)));
        assert_eq!(
            dialects.proto("jt808"),
            Ok(ProtoName::Family(Family::JT808))
        );
        let err = dialects.proto("h02").unwrap_err();
        assert!(
            err.contains("known: text, frame, websocket, gt06, jt808, teltonika"),
            "{err}"
        );
        let mine = Family::new("h02", 15, 1, gt06::Gt06::boxed);
        dialects.register(mine).unwrap();
        assert_eq!(dialects.proto("h02"), Ok(ProtoName::Family(mine)));
        assert_eq!(
            dialects
                .register(Family::new("text", 15, 1, gt06::Gt06::boxed))
                .err(),
            Some(DialectError::WireName("text"))
        );
        assert_eq!(dialects.names().len(), 4);
    }
}
