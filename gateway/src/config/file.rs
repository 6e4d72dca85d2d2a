//! The configuration file as written: each section deserialized strictly (unknown keys
//! refused) with its defaults filled in, values still as the user wrote them. The parent
//! module checks these into typed values; nothing else reads them.

use super::{CommitConfig, OverflowPolicy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Top level: sections kept as TOML values so each can fail on its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TopLevel {
    #[serde(default)]
    pub(super) secret: Option<toml::Value>,
    #[serde(default)]
    pub(super) register: Option<toml::Value>,
    #[serde(default)]
    pub(super) gateway: Option<toml::Value>,
    #[serde(default)]
    pub(super) worker: Option<toml::Value>,
    #[serde(default)]
    pub(super) log: Option<toml::Value>,
    #[serde(default)]
    pub(super) tls: Option<toml::Value>,
}

/// `[tls]`: TLS on every internal link of the process (PEM files).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkTlsSection {
    pub(super) ca: PathBuf,
    pub(super) cert: Option<PathBuf>,
    pub(super) key: Option<PathBuf>,
    #[serde(default)]
    pub(super) client_auth: bool,
    pub(super) server_name: Option<String>,
}

/// `[register]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterSection {
    #[serde(default = "default_register")]
    pub(super) listen: String,
    #[serde(default)]
    pub(super) addresses: Vec<String>,
}

impl Default for RegisterSection {
    fn default() -> Self {
        RegisterSection {
            listen: default_register(),
            addresses: Vec::new(),
        }
    }
}

fn default_register() -> String {
    "127.0.0.1:1236".into()
}

/// `[gateway]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GatewaySection {
    #[serde(default = "default_gateway_name")]
    pub(super) name: String,
    #[serde(default = "default_lan_ip")]
    pub(super) lan_ip: String,
    #[serde(default = "default_internal")]
    pub(super) internal_listen: String,
    #[serde(default)]
    pub(super) metrics_listen: Option<String>,
    #[serde(default)]
    pub(super) listeners: Vec<ListenerSection>,
    #[serde(default)]
    pub(super) ping_interval: u64,
    #[serde(default)]
    pub(super) ping_not_response_limit: u32,
    #[serde(default)]
    pub(super) ping_data: String,
    #[serde(default = "default_send_buffer")]
    pub(super) send_buffer_max: usize,
    #[serde(default)]
    pub(super) send_buffer_overflow: OverflowPolicy,
    #[serde(default = "default_pending")]
    pub(super) pending_events_max: usize,
    #[serde(default = "default_max_message")]
    pub(super) max_message_size: usize,
}

fn default_gateway_name() -> String {
    "gateway".into()
}
fn default_lan_ip() -> String {
    "127.0.0.1".into()
}
fn default_internal() -> String {
    "127.0.0.1:0".into()
}
fn default_send_buffer() -> usize {
    1024 * 1024
}
fn default_pending() -> usize {
    10_000
}
fn default_max_message() -> usize {
    codecs::DEFAULT_MAX_MESSAGE_SIZE
}

/// One entry of `gateway.listeners`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListenerSection {
    pub(super) url: String,
    pub(super) tls: Option<TlsSection>,
    #[serde(default)]
    pub(super) options: BTreeMap<String, String>,
    /// Live connections this listener serves at most; 0 = no limit.
    #[serde(default)]
    pub(super) max_connections: usize,
    /// Live connections from one remote address at most; 0 = no limit.
    #[serde(default)]
    pub(super) max_connections_per_ip: usize,
    /// New connections accepted per second at most; 0 = no limit.
    #[serde(default)]
    pub(super) max_accepts_per_sec: u32,
    /// When a family codec's acks leave: `on_commit` (default) or `on_decode`.
    #[serde(default)]
    pub(super) ack: super::AckMode,
}

/// A listener's `tls`: PEM files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsSection {
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
}

/// `[worker]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkerSection {
    #[serde(default = "default_worker_name")]
    pub(super) name: String,
    #[serde(default = "default_handler")]
    pub(super) handler: String,
    #[serde(default = "default_shards")]
    pub(super) shards: usize,
    pub(super) rules: Option<PathBuf>,
    #[serde(default = "default_data_dir")]
    pub(super) data_dir: PathBuf,
    pub(super) mqtt: Option<rules::MqttConfig>,
    #[serde(default)]
    pub(super) commit: CommitConfig,
    pub(super) metrics_listen: Option<String>,
}

fn default_worker_name() -> String {
    "worker".into()
}
fn default_handler() -> String {
    "echo".into()
}
fn default_shards() -> usize {
    8
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("devgate-data")
}
