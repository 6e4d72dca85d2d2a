//! What to run: groups of devices, each with a target, a protocol, a behaviour and a load, and
//! the timing shared by the whole run. Built from the command line or a scenario file, checked
//! once, then handed to the runner (or split into shards first).

pub use crate::dialects::Family;
use crate::payload::PayloadFormat;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// How the devices talk to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// Newline-delimited text.
    Text,
    /// 4-byte big-endian length frames.
    Frame,
    /// WebSocket text frames.
    Websocket,
}

impl Proto {
    /// The protocol's name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Text => "text",
            Proto::Frame => "frame",
            Proto::Websocket => "websocket",
        }
    }
}

/// How often a device-family device heartbeats when not told.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);
/// Locations per second per device-family device when not told.
pub const DEFAULT_LOCATION_RATE: f64 = 1.0;

/// What the devices of a device-family group do.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilySettings {
    /// Which trackers they are.
    pub family: Family,
    /// Locations per second per device.
    pub rate: f64,
    /// Time between heartbeats (Teltonika devices send none).
    pub heartbeat: Duration,
    /// Device `i` (fleet-wide) logs in with id `id_base + i`, zero-padded to the family's digits.
    pub id_base: u64,
    /// Each device keeps its unacked locations and sends them again after a reconnect, as real
    /// trackers do (`--no-memory` turns it off).
    pub memory: bool,
}

/// The message load of an echo device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// A fixed rate of messages per second per device.
    Rate(f64),
    /// A closed loop: this many messages in flight per connection; each reply sends the next.
    Depth(u32),
}

/// What each device of a group does once connected.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Sends checked echo payloads and checks every reply.
    Echo {
        /// Messages per second, or messages in flight.
        load: Load,
        /// Payload size in bytes (framing not included).
        payload: usize,
    },
    /// Holds the connection open and sends nothing.
    Idle,
    /// Trackers of a device family. They frame their own bytes over a plain byte stream, so
    /// their group's `proto` is `Text` (no WebSocket).
    Family(FamilySettings),
}

impl Behaviour {
    /// A short description for reports (`depth 16, 64 B`, `idle`).
    pub fn describe(&self) -> String {
        match self {
            Behaviour::Echo {
                load: Load::Depth(d),
                payload,
            } => format!("echo, depth {d}, {payload} B"),
            Behaviour::Echo {
                load: Load::Rate(r),
                payload,
            } => format!("echo, {r} msg/s each, {payload} B"),
            Behaviour::Idle => "idle".to_string(),
            Behaviour::Family(f) if !f.family.heartbeats() => {
                format!("trackers, {} locations/s each, no heartbeat", f.rate)
            }
            Behaviour::Family(f) => format!(
                "trackers, {} locations/s each, heartbeat every {:?}",
                f.rate, f.heartbeat
            ),
        }
    }

    /// The device family, for family groups.
    pub fn family(&self) -> Option<Family> {
        match self {
            Behaviour::Family(f) => Some(f.family),
            _ => None,
        }
    }
}

/// TLS settings of a group's connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Accept any server certificate (tests, self-signed gateways).
    pub insecure: bool,
    /// A PEM file of CA certificates to trust.
    pub ca: Option<PathBuf>,
    /// The server name to send and verify; defaults to the target's host.
    pub server_name: Option<String>,
}

/// One group of identical devices.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Name in reports.
    pub name: String,
    /// The target as written (`host:port`), for TLS names and the WebSocket `Host` header.
    pub target_host: String,
    /// The resolved target.
    pub target: SocketAddr,
    /// Wire protocol (for device families, `Text`: a plain byte stream).
    pub proto: Proto,
    /// Devices in the whole group, over all shards.
    pub devices: u64,
    /// Index of this process's first device (0 unless sharded).
    pub first_device: u64,
    /// Devices this process runs.
    pub local_devices: u64,
    /// New connections per second while ramping up (this process's share); `None`: all at once.
    pub ramp: Option<f64>,
    /// What the devices do.
    pub behaviour: Behaviour,
    /// TLS, when enabled.
    pub tls: Option<TlsSettings>,
    /// WebSocket request path.
    pub ws_path: String,
    /// Local addresses to connect from, assigned round-robin by device index.
    pub source_ips: Vec<IpAddr>,
}

/// Timing shared by every group.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// How long to run once every group has ramped up.
    pub duration: Duration,
    /// After the run, how long to wait for replies still in flight.
    pub grace: Duration,
    /// A message with no reply after this long is declared lost.
    pub loss_timeout: Duration,
    /// Longest wait for one connect (TCP, TLS and WebSocket handshakes).
    pub connect_timeout: Duration,
    /// First reconnect delay; it doubles on each failure up to `backoff_max`.
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            duration: Duration::from_secs(10),
            grace: Duration::from_secs(2),
            loss_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Device groups, run side by side.
    pub groups: Vec<Group>,
    /// Shared timing.
    pub timing: Timing,
    /// Server processes whose RSS to report (idle runs).
    pub server_pids: Vec<u32>,
    /// Keep a per-second timeline in the report.
    pub timeline: bool,
    /// Where trackers log each location they saw acked (`--acked-log`).
    pub acked_log: Option<PathBuf>,
}

/// A plan that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Some settings are wrong; every problem is listed.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl Plan {
    /// Checks every group, collecting all problems at once.
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut problems = Vec::new();
        if self.groups.is_empty() {
            problems.push("no device groups".to_string());
        }
        for g in &self.groups {
            let name = &g.name;
            if g.devices == 0 {
                problems.push(format!("group `{name}`: devices must be at least 1"));
            }
            if g.devices > u64::from(u32::MAX) {
                problems.push(format!("group `{name}`: at most {} devices", u32::MAX));
            }
            if let Some(r) = g.ramp {
                if !(r.is_finite() && r > 0.0) {
                    problems.push(format!("group `{name}`: ramp must be a positive rate"));
                }
            }
            if g.source_ips.is_empty() {
                problems.push(format!("group `{name}`: no source address"));
            }
            if let Some(ip) = g
                .source_ips
                .iter()
                .find(|ip| ip.is_ipv4() != g.target.is_ipv4())
            {
                problems.push(format!(
                    "group `{name}`: source address {ip} and target {} are not the same IP version",
                    g.target
                ));
            }
            if let Behaviour::Echo { load, payload } = &g.behaviour {
                if let Err(e) = PayloadFormat::new(*payload) {
                    problems.push(format!("group `{name}`: {e}"));
                }
                match *load {
                    Load::Rate(r) if !(r.is_finite() && r > 0.0) => {
                        problems.push(format!("group `{name}`: rate must be a positive number"))
                    }
                    Load::Depth(0) => {
                        problems.push(format!("group `{name}`: depth must be at least 1"))
                    }
                    _ => {}
                }
            }
            if let Behaviour::Family(f) = &g.behaviour {
                problems.extend(family_problems(g, f));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PlanError::Invalid(problems))
        }
    }

    /// Devices this process runs, over all groups.
    pub fn local_devices(&self) -> u64 {
        self.groups.iter().map(|g| g.local_devices).sum()
    }

    /// The part of the plan that shard `index` of `count` runs: a contiguous slice of every
    /// group's devices, ramping at that share of the rate.
    pub fn shard(&self, index: u32, count: u32) -> Plan {
        let mut plan = self.clone();
        let (i, n) = (u64::from(index), u64::from(count.max(1)));
        for g in &mut plan.groups {
            let lo = g.devices * i / n;
            let hi = g.devices * (i + 1) / n;
            g.first_device = lo;
            g.local_devices = hi - lo;
            g.ramp = g.ramp.map(|r| r / n as f64);
        }
        plan
    }

    /// When the last group has started all its devices, from the start of the run.
    pub fn ramp_time(&self) -> Duration {
        self.groups
            .iter()
            .filter_map(|g| {
                g.ramp
                    .map(|r| Duration::from_secs_f64(g.local_devices as f64 / r))
            })
            .max()
            .unwrap_or_default()
    }
}

/// What is wrong with a device-family group.
fn family_problems(g: &Group, f: &FamilySettings) -> Vec<String> {
    let name = &g.name;
    let mut problems = Vec::new();
    if g.proto == Proto::Websocket {
        problems.push(format!(
            "group `{name}`: {} trackers speak over TCP or TLS, not WebSocket",
            f.family.name()
        ));
    }
    if !(f.rate.is_finite() && f.rate > 0.0) {
        problems.push(format!("group `{name}`: rate must be a positive number"));
    }
    if f.heartbeat.is_zero() {
        problems.push(format!("group `{name}`: heartbeat must be longer than 0"));
    }
    let digits = f.family.id_digits();
    let last = f.id_base.checked_add(g.devices.saturating_sub(1));
    if last.is_none_or(|id| id >= 10u64.pow(digits)) {
        problems.push(format!(
            "group `{name}`: ids {} + {} devices do not fit in {digits} digits",
            f.id_base, g.devices
        ));
    }
    problems
}

/// Parses source addresses: `127.0.0.1`, `127.0.0.1-127.0.0.8`, or a comma-separated list of those.
pub fn parse_source_ips(s: &str) -> Result<Vec<IpAddr>, String> {
    let mut ips = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            None => ips.push(
                part.parse::<IpAddr>()
                    .map_err(|e| format!("`{part}`: {e}"))?,
            ),
            Some((a, b)) => {
                let a: Ipv4Addr = a.trim().parse().map_err(|e| format!("`{a}`: {e}"))?;
                let b: Ipv4Addr = b.trim().parse().map_err(|e| format!("`{b}`: {e}"))?;
                let (a, b) = (u32::from(a), u32::from(b));
                if b < a || b - a >= 65_536 {
                    return Err(format!("`{part}`: bad range"));
                }
                ips.extend((a..=b).map(|v| IpAddr::V4(Ipv4Addr::from(v))));
            }
        }
    }
    if ips.is_empty() {
        return Err("no address given".to_string());
    }
    Ok(ips)
}

/// Source addresses to use when none are given: the system's choice, except that a large fleet
/// aimed at a loopback address is spread over `127.0.0.1..127.0.0.k`, one address per
/// `per_address` devices, so that it does not run out of ephemeral ports (about 28,000 per
/// source address and target).
pub fn default_source_ips(target: SocketAddr, devices: u64, per_address: u64) -> Vec<IpAddr> {
    let k = devices.div_ceil(per_address.max(1)).clamp(1, 254);
    match target.ip() {
        IpAddr::V4(ip) if ip.is_loopback() && k > 1 => (1..=k as u8)
            .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
            .collect(),
        IpAddr::V4(_) => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
        IpAddr::V6(_) => vec![IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)],
    }
}

/// Parses a duration: `10` (seconds), `2.5s`, `500ms`, `3m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 10, 2.5s, 500ms, 3m)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is not a valid duration"))
}
