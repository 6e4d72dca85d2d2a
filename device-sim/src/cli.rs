//! The command line (clap), and how its flags become a [`Plan`].

use crate::dialects::Dialects;
pub use crate::dialects::ProtoName;
use crate::plan::{
    default_source_ips, parse_duration, parse_source_ips, Behaviour, FamilySettings, Group, Load,
    Plan, Proto, Timing, TlsSettings, DEFAULT_HEARTBEAT, DEFAULT_LOCATION_RATE,
};
use crate::server::faulty::FaultSpec;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Devices one source address serves before a loopback fleet is spread over more addresses.
pub const DEVICES_PER_SOURCE_IP: u64 = 20_000;

/// device-sim: simulate a fleet of devices against a gateway, and measure it.
#[derive(Debug, Parser)]
#[command(name = "device-sim", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Echo devices: send checked payloads and check every reply. With `--proto gt06`, `jt808`,
    /// `teltonika` or a family the binary added: GPS trackers that log in, heartbeat, report locations at `--rate`, check
    /// every ack and answer the server's commands.
    Run(RunArgs),
    /// Idle devices: hold connections open; optionally report the server's memory per connection.
    Idle(IdleArgs),
    /// Run the device groups described in a TOML file side by side.
    Scenario(ScenarioArgs),
    /// A minimal echo server: the physical limit to compare a gateway against.
    EchoServer(EchoServerArgs),
}

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtoArg {
    /// Newline-delimited text.
    Text,
    /// 4-byte big-endian length frames.
    Frame,
    /// WebSocket text frames.
    Websocket,
}

impl From<ProtoArg> for Proto {
    fn from(p: ProtoArg) -> Proto {
        match p {
            ProtoArg::Text => Proto::Text,
            ProtoArg::Frame => Proto::Frame,
            ProtoArg::Websocket => Proto::Websocket,
        }
    }
}

/// Source addresses, parsed from `127.0.0.1-127.0.0.8` or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIps(pub Vec<IpAddr>);

fn source_ips(s: &str) -> Result<SourceIps, String> {
    parse_source_ips(s).map(SourceIps)
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

/// Parses a rate: `1000`, `1000/s` or `0.5`.
fn rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches("/s")
        .parse()
        .map_err(|_| format!("`{s}` is not a rate (e.g. 1000 or 1000/s)"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}`: a rate must be positive"))
    }
}

/// Where and how devices connect (shared by `run` and `idle`).
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// The server, `host:port`.
    #[arg(long)]
    pub target: String,
    /// Wire protocol (`text`, `frame`, `websocket`), or a device family of this binary
    /// (`run` only; stock: `gt06`, `jt808`, `teltonika`).
    #[arg(long, default_value = "text")]
    pub proto: String,
    /// Number of devices.
    #[arg(long)]
    pub devices: u64,
    /// New connections per second while ramping up (`1000` or `1000/s`); default: all at once.
    #[arg(long, value_parser = rate)]
    pub ramp: Option<f64>,
    /// How long to run after the ramp-up (`10`, `10s`, `500ms`, `2m`).
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub duration: Duration,
    /// Connect with TLS.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: accept any server certificate.
    #[arg(long, requires = "tls")]
    pub insecure: bool,
    /// With --tls: a PEM file of CA certificates to trust.
    #[arg(long, requires = "tls")]
    pub ca: Option<PathBuf>,
    /// With --tls: the server name to send and verify (default: the target's host).
    #[arg(long, requires = "tls")]
    pub server_name: Option<String>,
    /// WebSocket request path.
    #[arg(long, default_value = "/")]
    pub ws_path: String,
    /// Local addresses to connect from, round-robin: `127.0.0.1-127.0.0.8` or a list. By default
    /// a loopback fleet above 20,000 devices is spread over 127.0.0.1, 127.0.0.2, ...
    #[arg(long, value_parser = source_ips)]
    pub source_ips: Option<SourceIps>,
    /// Longest wait for one connect (TCP, TLS and WebSocket handshakes).
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub connect_timeout: Duration,
    /// First reconnect delay after a drop; doubles on each failure.
    #[arg(long, default_value = "100ms", value_parser = duration)]
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub backoff_max: Duration,
}

/// Output and process options (shared by `run`, `idle` and `scenario`).
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Print the report as JSON (and no live progress).
    #[arg(long)]
    pub json: bool,
    /// Include a per-second timeline in the report.
    #[arg(long)]
    pub timeline: bool,
    /// Device threads of this process, each with its own event loop (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run only slice i of n of every group, printing JSON lines (set by a parent device-sim).
    #[arg(long, hide = true, value_parser = crate::shard::parse_shard)]
    pub shard: Option<(u32, u32)>,
    /// Devices per process before sharding (default: from the open-file limit).
    #[arg(long, hide = true)]
    pub max_per_process: Option<u64>,
}

/// `device-sim run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Where and how to connect.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Payload size in bytes, framing not included (at least 51); echo devices only.
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// Fixed rate: messages per second per device (`10`, `10/s`, `0.5`); for a device family,
    /// locations per second per device (default 1).
    #[arg(long, value_parser = rate, conflicts_with = "depth")]
    pub rate: Option<f64>,
    /// Closed loop: messages in flight per connection (default 1).
    #[arg(long)]
    pub depth: Option<u32>,
    /// After the run, how long to wait for replies still in flight.
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub grace: Duration,
    /// A message with no reply after this long is declared lost (for a device family: a frame
    /// with no ack; an unanswered login then drops the connection, which logs in again).
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub loss_timeout: Duration,
    /// Device family: time between heartbeats (default 30s; Teltonika trackers send none).
    #[arg(long, value_parser = duration)]
    pub heartbeat: Option<Duration>,
    /// Device family: device i logs in with id BASE + i, zero-padded to 15 digits (IMEI) or 12
    /// (JT/T 808 phone). Default 860000000000000, or 13800000000 for jt808.
    #[arg(long, value_name = "BASE")]
    pub id_base: Option<u64>,
    /// Device family: trackers forget a location when its connection drops. By default each
    /// keeps its unacked locations (up to 10,000, then the oldest is dropped) and, after it
    /// reconnects and logs in, sends them again byte for byte before new ones, as real trackers
    /// do; a location is then lost only if never acked by the end of the run.
    #[arg(long)]
    pub no_memory: bool,
    /// Device family: append one JSON line per location the first time it is acked,
    /// `{"uid":"<IMEI or phone>","time":<GPS unix s>,"resent":<sent more than once>}`; the file
    /// is emptied at the start and complete when device-sim exits.
    #[arg(long, value_name = "FILE")]
    pub acked_log: Option<PathBuf>,
    /// Output options.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `device-sim idle`.
#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// Where and how to connect.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// A server process whose RSS to report before and while holding the connections
    /// (repeat for a server made of several processes: their RSS is summed).
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Output options.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `device-sim scenario`.
#[derive(Debug, Clone, Args)]
pub struct ScenarioArgs {
    /// The scenario file (TOML; see examples/fleet-scenario.toml).
    pub file: PathBuf,
    /// Overrides the file's default target.
    #[arg(long)]
    pub target: Option<String>,
    /// Overrides the file's duration.
    #[arg(long, value_parser = duration)]
    pub duration: Option<Duration>,
    /// Output options.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `device-sim echo-server`.
#[derive(Debug, Clone, Args)]
pub struct EchoServerArgs {
    /// Address to listen on, `ip:port` (port 0 picks a free one; the address is printed).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Protocol: text and frame are echoed as raw bytes; websocket message by message.
    #[arg(long, value_enum, default_value = "text")]
    pub proto: ProtoArg,
    /// Share the port with other processes (SO_REUSEPORT).
    #[arg(long)]
    pub reuseport: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Inject faults per message: `drop=P,dup=P,reorder=P,corrupt=P` (text and frame only).
    #[arg(long)]
    pub faulty: Option<FaultSpec>,
    /// Seed of the fault injection's random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Serve TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Resolves `host:port` to its first address.
pub fn resolve(target: &str) -> Result<SocketAddr, String> {
    target
        .to_socket_addrs()
        .map_err(|e| format!("target `{target}`: {e}"))?
        .next()
        .ok_or_else(|| format!("target `{target}`: no address"))
}

impl ConnectArgs {
    /// What `--proto` names, among the wire protocols and `dialects`.
    pub fn proto(&self, dialects: &Dialects) -> Result<ProtoName, String> {
        dialects.proto(&self.proto)
    }

    fn group(&self, name: &str, proto: ProtoName, behaviour: Behaviour) -> Result<Group, String> {
        let target = resolve(&self.target)?;
        let source_ips = match &self.source_ips {
            Some(ips) => ips.0.clone(),
            None => default_source_ips(target, self.devices, DEVICES_PER_SOURCE_IP),
        };
        Ok(Group {
            name: name.to_string(),
            target_host: self.target.clone(),
            target,
            proto: proto.wire(),
            devices: self.devices,
            first_device: 0,
            local_devices: self.devices,
            ramp: self.ramp,
            behaviour,
            tls: self.tls.then(|| TlsSettings {
                insecure: self.insecure,
                ca: self.ca.clone(),
                server_name: self.server_name.clone(),
            }),
            ws_path: self.ws_path.clone(),
            source_ips,
        })
    }

    fn timing(&self) -> Timing {
        Timing {
            duration: self.duration,
            connect_timeout: self.connect_timeout,
            backoff_min: self.backoff_min,
            backoff_max: self.backoff_max,
            ..Timing::default()
        }
    }
}

impl RunArgs {
    /// The plan these flags describe, with `--proto` looked up in `dialects`.
    pub fn plan(&self, dialects: &Dialects) -> Result<Plan, String> {
        let proto = self.connect.proto(dialects)?;
        let behaviour = match proto.family() {
            Some(family) => {
                if self.depth.is_some() {
                    return Err("--depth: trackers report at a fixed --rate".to_string());
                }
                Behaviour::Family(FamilySettings {
                    family,
                    rate: self.rate.unwrap_or(DEFAULT_LOCATION_RATE),
                    heartbeat: self.heartbeat.unwrap_or(DEFAULT_HEARTBEAT),
                    id_base: self.id_base.unwrap_or(family.default_id_base()),
                    memory: !self.no_memory,
                })
            }
            None => {
                if self.heartbeat.is_some()
                    || self.id_base.is_some()
                    || self.no_memory
                    || self.acked_log.is_some()
                {
                    return Err(format!(
                        "--heartbeat, --id-base, --no-memory and --acked-log need a device \
                         family: --proto {}",
                        dialects.names().join(", --proto ")
                    ));
                }
                let load = match (self.rate, self.depth) {
                    (Some(rate), _) => Load::Rate(rate),
                    (None, depth) => Load::Depth(depth.unwrap_or(1)),
                };
                Behaviour::Echo {
                    load,
                    payload: self.payload,
                }
            }
        };
        Ok(Plan {
            groups: vec![self.connect.group("run", proto, behaviour)?],
            timing: Timing {
                grace: self.grace,
                loss_timeout: self.loss_timeout,
                ..self.connect.timing()
            },
            server_pids: Vec::new(),
            timeline: self.output.timeline,
            acked_log: self.acked_log.clone(),
        })
    }
}

impl IdleArgs {
    /// The plan these flags describe, with `--proto` looked up in `dialects`.
    pub fn plan(&self, dialects: &Dialects) -> Result<Plan, String> {
        let proto = self.connect.proto(dialects)?;
        if proto.family().is_some() {
            return Err("idle devices speak text, frame or websocket; trackers use `run`".into());
        }
        Ok(Plan {
            groups: vec![self.connect.group("idle", proto, Behaviour::Idle)?],
            timing: self.connect.timing(),
            server_pids: self.server_pids.clone(),
            timeline: self.output.timeline,
            acked_log: None,
        })
    }
}
