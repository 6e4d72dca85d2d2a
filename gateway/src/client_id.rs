//! `client_id`: 20 hex chars naming a connection and the gateway that owns it.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// A connection's id: gateway lan ipv4 (8 hex) + gateway internal port (4 hex) + connection
/// number (8 hex), so any process can find the owning gateway without a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId {
    /// The owning gateway's lan address.
    pub ip: Ipv4Addr,
    /// The owning gateway's internal port.
    pub port: u16,
    /// The connection number within that gateway.
    pub conn: u32,
}

impl ClientId {
    /// Size of the packed form on the internal wire.
    pub const WIRE_LEN: usize = 10;

    /// The internal address of the gateway that owns this client.
    pub fn gateway(&self) -> GatewayKey {
        GatewayKey {
            ip: self.ip,
            port: self.port,
        }
    }

    /// Packed wire form: ip (4), port (2), conn (4), big-endian.
    pub fn to_bytes(self) -> [u8; Self::WIRE_LEN] {
        let mut out = [0u8; Self::WIRE_LEN];
        out[..4].copy_from_slice(&self.ip.octets());
        out[4..6].copy_from_slice(&self.port.to_be_bytes());
        out[6..].copy_from_slice(&self.conn.to_be_bytes());
        out
    }

    /// Reads the packed wire form.
    pub fn from_bytes(b: [u8; Self::WIRE_LEN]) -> Self {
        ClientId {
            ip: Ipv4Addr::new(b[0], b[1], b[2], b[3]),
            port: u16::from_be_bytes([b[4], b[5]]),
            conn: u32::from_be_bytes([b[6], b[7], b[8], b[9]]),
        }
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:08x}{:04x}{:08x}",
            u32::from(self.ip),
            self.port,
            self.conn
        )
    }
}

/// Why a string is not a client id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("client id must be 20 hex characters, got {0:?}")]
pub struct BadClientId(pub String);

impl FromStr for ClientId {
    type Err = BadClientId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadClientId(s.chars().take(40).collect());
        if s.len() != 20 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let ip = u32::from_str_radix(&s[..8], 16).map_err(|_| bad())?;
        let port = u16::from_str_radix(&s[8..12], 16).map_err(|_| bad())?;
        let conn = u32::from_str_radix(&s[12..], 16).map_err(|_| bad())?;
        Ok(ClientId {
            ip: Ipv4Addr::from(ip),
            port,
            conn,
        })
    }
}

/// A gateway's identity on the internal network: lan ip and internal port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GatewayKey {
    /// Lan ipv4 address.
    pub ip: Ipv4Addr,
    /// Internal port.
    pub port: u16,
}

impl fmt::Display for GatewayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

impl serde::Serialize for GatewayKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl serde::Serialize for ClientId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ClientId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_round_trips_through_hex_and_wire_forms() {
        let id = ClientId {
            ip: Ipv4Addr::new(192, 168, 1, 20),
            port: 2300,
            conn: 0xdead_beef,
        };
        let text = id.to_string();
        assert_eq!(text, "c0a8011408fcdeadbeef");
        assert_eq!(text.parse::<ClientId>(), Ok(id));
        assert_eq!(ClientId::from_bytes(id.to_bytes()), id);
    }

    #[test]
    fn client_id_with_wrong_length_or_non_hex_is_refused() {
        assert!("abc".parse::<ClientId>().is_err());
        assert!("zzzzzzzzzzzzzzzzzzzz".parse::<ClientId>().is_err());
        assert!("c0a8011408fcdeadbeef0".parse::<ClientId>().is_err());
    }
}
