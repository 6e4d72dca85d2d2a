//! The TOML configuration: typed sections, deserialized strictly (unknown keys refused), then
//! validated with every problem collected, so `check-config` can report them all at once.
//!
//! Each top-level section is deserialized on its own, so a bad `[gateway]` does not hide a bad
//! `[worker]`. Every [`ConfigError`] names the file, the key and the reason.

use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where the file was read from (for error messages).
    pub path: PathBuf,
    /// Shared secret of the internal links; empty means none.
    pub secret: String,
    /// `[register]`.
    pub register: RegisterConfig,
    /// `[gateway]`, when present.
    pub gateway: Option<GatewayConfig>,
    /// `[worker]`, when present.
    pub worker: Option<WorkerConfig>,
    /// `[log]`.
    pub log: LogConfig,
}

/// `[register]`: where the register listens and where peers find registers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterConfig {
    /// Address the register listens on (`register` and `start`).
    #[serde(default = "default_register")]
    pub listen: String,
    /// Registers gateways and workers use; defaults to `[listen]`. All are used.
    #[serde(default)]
    pub addresses: Vec<String>,
}

impl Default for RegisterConfig {
    fn default() -> Self {
        RegisterConfig {
            listen: default_register(),
            addresses: Vec::new(),
        }
    }
}

fn default_register() -> String {
    "127.0.0.1:1236".into()
}

impl RegisterConfig {
    /// The registers to use: `addresses`, or `[listen]` when none are given.
    pub fn addresses(&self) -> Vec<String> {
        if self.addresses.is_empty() {
            vec![self.listen.clone()]
        } else {
            self.addresses.clone()
        }
    }
}

/// What a gateway does when a client's send buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OverflowPolicy {
    /// Close the slow client (it reconnects and catches up); the default.
    #[default]
    Close,
    /// Drop the oldest queued messages to make room.
    DropOldest,
}

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// A name for logs.
    #[serde(default = "default_gateway_name")]
    pub name: String,
    /// The ipv4 address workers use to reach this gateway (also part of every client_id).
    #[serde(default = "default_lan_ip")]
    pub lan_ip: String,
    /// Internal listen address for workers; port 0 picks a free one.
    #[serde(default = "default_internal")]
    pub internal_listen: String,
    /// Prometheus endpoint (`GET /metrics`) address; absent means no endpoint. Port 0 picks a
    /// free one.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// Client listeners.
    #[serde(default)]
    pub listeners: Vec<ListenerConfig>,
    /// Seconds between heartbeat checks; 0 disables heartbeats.
    #[serde(default)]
    pub ping_interval: u64,
    /// Silent intervals tolerated before a client is closed; 0 means never close, only ping.
    #[serde(default)]
    pub ping_not_response_limit: u32,
    /// Bytes sent as a ping each interval (empty: none; WebSocket clients get a ping frame).
    #[serde(default)]
    pub ping_data: String,
    /// Largest queued output per client, in bytes.
    #[serde(default = "default_send_buffer")]
    pub send_buffer_max: usize,
    /// What happens when a client's send buffer is full.
    #[serde(default)]
    pub send_buffer_overflow: OverflowPolicy,
    /// Events held while no worker is connected.
    #[serde(default = "default_pending")]
    pub pending_events_max: usize,
    /// Largest message from a client, in bytes.
    #[serde(default = "default_max_message")]
    pub max_message_size: usize,
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

/// One client listener: `protocol://ip:port`, optionally with TLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `text://127.0.0.1:8282`, `websocket://0.0.0.0:8284`, `gt06://...`.
    pub url: String,
    /// PEM certificate chain and key: serve TLS (wss for websocket).
    pub tls: Option<TlsConfig>,
    /// Codec-specific settings passed to the codec.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

/// PEM files for a TLS listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

/// `[worker]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// A name for logs.
    #[serde(default = "default_worker_name")]
    pub name: String,
    /// Built-in handler: `echo`.
    #[serde(default = "default_handler")]
    pub handler: String,
    /// Handler tasks; each client's events always go to the same one, in order.
    #[serde(default = "default_shards")]
    pub shards: usize,
    /// `handler = "rules"`: the rules file.
    pub rules: Option<PathBuf>,
    /// `handler = "rules"`: where device state and the MQTT outbox live (sled).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `handler = "rules"`: the MQTT bridge; without it `publish` actions are counted, not sent.
    pub mqtt: Option<rules::MqttConfig>,
    /// `handler = "rules"`: how durable effects are batched (`[worker.commit]`).
    #[serde(default)]
    pub commit: CommitConfig,
}

/// `[worker.commit]`: group commit of the rules' durable effects (state, outbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitConfig {
    /// A batch holding this many events is flushed at once.
    #[serde(default = "default_commit_max_events")]
    pub max_events: usize,
    /// A batch is flushed at the latest this many microseconds after its first event.
    #[serde(default = "default_commit_max_delay_us")]
    pub max_delay_us: u64,
    /// Events waiting for their batch, at most; the next event waits for room (back-pressure
    /// to its connection, which then stops reading).
    #[serde(default = "default_commit_pending_max")]
    pub pending_max: usize,
    /// Devices whose state is kept in memory (about).
    #[serde(default = "default_commit_state_cache")]
    pub state_cache: usize,
}

impl Default for CommitConfig {
    fn default() -> Self {
        CommitConfig {
            max_events: default_commit_max_events(),
            max_delay_us: default_commit_max_delay_us(),
            pending_max: default_commit_pending_max(),
            state_cache: default_commit_state_cache(),
        }
    }
}

fn default_commit_max_events() -> usize {
    rules::BatchConfig::default().max_events
}
fn default_commit_max_delay_us() -> u64 {
    rules::BatchConfig::default().max_delay.as_micros() as u64
}
fn default_commit_pending_max() -> usize {
    16_384
}
fn default_commit_state_cache() -> usize {
    rules::PipelineOptions::default().state_cache
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("devgate-data")
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

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter (`info`, `devgate=debug`); `RUST_LOG` wins when set.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The key, dotted (`gateway.listeners[1].url`).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.key, self.reason)
    }
}

/// All problems found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A listener URL split into its codec name and socket address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerUrl {
    /// Codec name (`text`, `frame`, `websocket`, ...).
    pub protocol: String,
    /// Address to bind.
    pub addr: SocketAddr,
}

/// Splits `protocol://ip:port`.
pub fn parse_listener_url(url: &str) -> Result<ListenerUrl, String> {
    let (protocol, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not of the form protocol://ip:port"))?;
    if protocol.is_empty() {
        return Err(format!("{url:?} has no protocol"));
    }
    let addr = rest
        .parse::<SocketAddr>()
        .map_err(|e| format!("{rest:?} is not ip:port ({e})"))?;
    Ok(ListenerUrl {
        protocol: protocol.to_ascii_lowercase(),
        addr,
    })
}

/// Raw top level: sections kept as TOML values so each can fail on its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    secret: Option<toml::Value>,
    #[serde(default)]
    register: Option<toml::Value>,
    #[serde(default)]
    gateway: Option<toml::Value>,
    #[serde(default)]
    worker: Option<toml::Value>,
    #[serde(default)]
    log: Option<toml::Value>,
}

fn section<T: serde::de::DeserializeOwned>(
    file: &Path,
    name: &str,
    value: Option<toml::Value>,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let value = value?;
    match T::deserialize(value) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(ConfigError {
                file: file.to_path_buf(),
                key: name.to_string(),
                reason: e.message().trim().to_string(),
            });
            None
        }
    }
}

impl Config {
    /// Reads and validates a file; `codec_names` are the protocols listeners may use.
    pub fn load(path: &Path, codec_names: &[String]) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                key: "(file)".into(),
                reason: format!("cannot read: {e}"),
            }])
        })?;
        Config::parse(path, &text, codec_names)
    }

    /// Parses and validates configuration text (`path` is only used in errors).
    pub fn parse(path: &Path, text: &str, codec_names: &[String]) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let err = |key: &str, reason: String| ConfigError {
            file: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let key = e
                .span()
                .map(|s| {
                    format!(
                        "line {}",
                        text[..s.start.min(text.len())].lines().count().max(1)
                    )
                })
                .unwrap_or_else(|| "(toml)".into());
            ConfigErrors(vec![err(&key, e.message().trim().to_string())])
        })?;
        let secret = match raw.secret {
            None => String::new(),
            Some(toml::Value::String(s)) => s,
            Some(_) => {
                errors.push(err("secret", "must be a string".into()));
                String::new()
            }
        };
        let register = if raw.register.is_some() {
            section::<RegisterConfig>(path, "register", raw.register, &mut errors)
                .unwrap_or_default()
        } else {
            RegisterConfig::default()
        };
        let gateway = section::<GatewayConfig>(path, "gateway", raw.gateway, &mut errors);
        let worker = section::<WorkerConfig>(path, "worker", raw.worker, &mut errors);
        let log = section::<LogConfig>(path, "log", raw.log, &mut errors).unwrap_or_default();
        let config = Config {
            path: path.to_path_buf(),
            secret,
            register,
            gateway,
            worker,
            log,
        };
        config.validate(codec_names, &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    fn validate(&self, codec_names: &[String], errors: &mut Vec<ConfigError>) {
        let mut err = |key: String, reason: String| {
            errors.push(ConfigError {
                file: self.path.clone(),
                key,
                reason,
            })
        };
        if let Err(e) = self.register.listen.parse::<SocketAddr>() {
            err("register.listen".into(), format!("not ip:port: {e}"));
        }
        for (i, a) in self.register.addresses.iter().enumerate() {
            if let Err(e) = a.parse::<SocketAddr>() {
                err(
                    format!("register.addresses[{i}]"),
                    format!("not ip:port: {e}"),
                );
            }
        }
        if let Some(g) = &self.gateway {
            match g.lan_ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => {}
                Ok(IpAddr::V6(_)) => err(
                    "gateway.lan_ip".into(),
                    "must be an ipv4 address (it is part of every client_id)".into(),
                ),
                Err(e) => err("gateway.lan_ip".into(), format!("not an ip address: {e}")),
            }
            if let Err(e) = g.internal_listen.parse::<SocketAddr>() {
                err(
                    "gateway.internal_listen".into(),
                    format!("not ip:port: {e}"),
                );
            }
            if let Some(m) = &g.metrics_listen {
                if let Err(e) = m.parse::<SocketAddr>() {
                    err("gateway.metrics_listen".into(), format!("not ip:port: {e}"));
                }
            }
            if g.listeners.is_empty() {
                err(
                    "gateway.listeners".into(),
                    "at least one listener is needed".into(),
                );
            }
            for (i, l) in g.listeners.iter().enumerate() {
                match parse_listener_url(&l.url) {
                    Ok(u) if !codec_names.contains(&u.protocol) => err(
                        format!("gateway.listeners[{i}].url"),
                        format!(
                            "unknown protocol {:?}; known: {}",
                            u.protocol,
                            codec_names.join(", ")
                        ),
                    ),
                    Ok(_) => {}
                    Err(e) => err(format!("gateway.listeners[{i}].url"), e),
                }
                if let Some(tls) = &l.tls {
                    for (k, p) in [("cert", &tls.cert), ("key", &tls.key)] {
                        if !p.is_file() {
                            err(
                                format!("gateway.listeners[{i}].tls.{k}"),
                                format!("{} is not a readable file", p.display()),
                            );
                        }
                    }
                }
            }
            if g.max_message_size == 0 {
                err("gateway.max_message_size".into(), "must be above 0".into());
            }
            if g.send_buffer_max < g.max_message_size.min(64 * 1024) {
                err(
                    "gateway.send_buffer_max".into(),
                    "must hold at least one message (64 KiB or max_message_size)".into(),
                );
            }
        }
        if let Some(w) = &self.worker {
            match w.handler.as_str() {
                "echo" => {}
                "rules" => match &w.rules {
                    None => err(
                        "worker.rules".into(),
                        "handler \"rules\" needs a rules file".into(),
                    ),
                    Some(path) => {
                        if let Err(errors) = rules::check_rules_file(path) {
                            for e in errors {
                                err("worker.rules".into(), e.to_string());
                            }
                        }
                    }
                },
                other => err(
                    "worker.handler".into(),
                    format!("unknown handler {other:?}; built in: echo, rules"),
                ),
            }
            for (key, reason) in w.mqtt.iter().flat_map(|m| m.check()) {
                err(format!("worker.mqtt.{key}"), reason);
            }
            let c = &w.commit;
            if c.max_events == 0 || c.max_events > 1_000_000 {
                err(
                    "worker.commit.max_events".into(),
                    "must be between 1 and 1000000".into(),
                );
            }
            if c.max_delay_us > 1_000_000 {
                err(
                    "worker.commit.max_delay_us".into(),
                    "must be at most 1000000 (one second)".into(),
                );
            }
            if c.pending_max == 0 {
                err(
                    "worker.commit.pending_max".into(),
                    "must be at least 1".into(),
                );
            }
            if c.state_cache == 0 {
                err(
                    "worker.commit.state_cache".into(),
                    "must be at least 1".into(),
                );
            }
            if w.shards == 0 || w.shards > 1024 {
                err("worker.shards".into(), "must be between 1 and 1024".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["text".into(), "frame".into()]
    }

    #[test]
    fn every_error_in_a_file_is_reported_at_once_with_its_key() {
        let text = r#"
            [gateway]
            lan_ip = "nope"
            listeners = [{ url = "bogus://127.0.0.1:1" }, { url = "text:/x" }]
            [worker]
            handler = "nothing"
        "#;
        let errs = Config::parse(Path::new("x.toml"), text, &names()).unwrap_err();
        let keys: Vec<_> = errs.0.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "gateway.lan_ip",
                "gateway.listeners[0].url",
                "gateway.listeners[1].url",
                "worker.handler"
            ]
        );
        assert!(errs.to_string().starts_with("x.toml: gateway.lan_ip: "));
    }

    #[test]
    fn unknown_keys_are_refused_per_section() {
        let text = "[gateway]\nlisteners=[{url=\"text://127.0.0.1:1\"}]\ncolour = 1\n[worker]\nshard = 2\n";
        let errs = Config::parse(Path::new("c.toml"), text, &names()).unwrap_err();
        assert_eq!(errs.0.len(), 2, "{errs}");
        assert!(errs.0[0].reason.contains("colour"), "{errs}");
        assert!(errs.0[1].reason.contains("shard"), "{errs}");
    }

    #[test]
    fn a_bad_metrics_address_is_reported_with_its_key() {
        let text =
            "[gateway]\nlisteners=[{url=\"text://127.0.0.1:1\"}]\nmetrics_listen = \"localhost\"\n";
        let errs = Config::parse(Path::new("m.toml"), text, &names()).unwrap_err();
        assert_eq!(errs.0.len(), 1, "{errs}");
        assert!(
            errs.to_string()
                .starts_with("m.toml: gateway.metrics_listen: not ip:port"),
            "{errs}"
        );
        let ok = "[gateway]\nlisteners=[{url=\"text://127.0.0.1:1\"}]\nmetrics_listen = \"127.0.0.1:0\"\n";
        let cfg = Config::parse(Path::new("m.toml"), ok, &names()).unwrap();
        let metrics = cfg.gateway.and_then(|g| g.metrics_listen);
        assert_eq!(metrics.as_deref(), Some("127.0.0.1:0"));
    }

    #[test]
    fn listener_urls_split_into_protocol_and_address() {
        let u = parse_listener_url("Frame://127.0.0.1:8283").unwrap();
        assert_eq!(u.protocol, "frame");
        assert_eq!(u.addr, "127.0.0.1:8283".parse().unwrap());
        assert!(parse_listener_url("127.0.0.1:1").is_err());
    }
}
