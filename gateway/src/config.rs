//! The TOML configuration, parsed once into typed values, then built (Vector's config -> build
//! split):
//!
//! 1. `file`: the file as written, each section deserialized strictly (unknown keys refused)
//!    with its defaults. Sections are read one by one, so a bad `[gateway]` does not hide a bad
//!    `[worker]`.
//! 2. One check pass collects every problem at once, each [`ConfigError`] naming the file, the
//!    key and the reason, and yields the typed [`Config`]: socket addresses, the worker's
//!    [`Handler`] with its rules file read, TLS acceptors, and each listener's codec with its
//!    options checked by the codec itself ([`codecs::CodecRegistry::prepare`]).
//! 3. `app` and the binary build the roles from these values alone: binding a port can still
//!    fail, their content cannot. `devgate check-config` runs steps 1 and 2, as `start` does.

mod check;
mod file;

use crate::link::Credentials;
use crate::tls::LinkTls;
use check::Check;
use codecs::{CodecRegistry, PreparedCodec};
use file::{GatewaySection, RegisterSection, TopLevel, WorkerSection};
use serde::Deserialize;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The whole configuration file, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the file was read from (for messages).
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
    /// `[tls]`: TLS on every internal link (listening and connecting), or plain TCP.
    pub tls: Option<Arc<LinkTls>>,
}

/// `[register]`: where the register listens and where peers find registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterConfig {
    /// Address the register listens on (`register` and `start`).
    pub listen: SocketAddr,
    /// Registers gateways and workers use; defaults to `[listen]`. All are used.
    pub addresses: Vec<SocketAddr>,
}

impl RegisterConfig {
    /// The registers to use: `addresses`, or `[listen]` when none are given.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        if self.addresses.is_empty() {
            vec![self.listen]
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

/// When a device-family listener sends the ack that confirms a data frame (`ack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AckMode {
    /// Once the worker has handled the frame's event (for the rules: flushed its effects to
    /// disk), and every earlier one of the connection: an acked frame is never lost. The
    /// default.
    #[default]
    OnCommit,
    /// As soon as the frame is decoded, before any worker has it: for devices that cannot
    /// wait; a process that dies may lose frames the device was told are received.
    OnDecode,
}

/// `[gateway]`.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// A name for logs.
    pub name: String,
    /// The address workers use to reach this gateway (also part of every client_id).
    pub lan_ip: Ipv4Addr,
    /// Internal listen address for workers; port 0 picks a free one.
    pub internal_listen: SocketAddr,
    /// Prometheus endpoint (`GET /metrics`) address, if any; port 0 picks a free one.
    pub metrics_listen: Option<SocketAddr>,
    /// Client listeners.
    pub listeners: Vec<ListenerConfig>,
    /// Seconds between heartbeat checks; 0 disables heartbeats.
    pub ping_interval: u64,
    /// Silent intervals tolerated before a client is closed; 0 means never close, only ping.
    pub ping_not_response_limit: u32,
    /// Bytes sent as a ping each interval (empty: none; WebSocket clients get a ping frame).
    pub ping_data: String,
    /// Largest queued output per client, in bytes.
    pub send_buffer_max: usize,
    /// What happens when a client's send buffer is full.
    pub send_buffer_overflow: OverflowPolicy,
    /// Events held while no worker is connected.
    pub pending_events_max: usize,
    /// Largest message from a client, in bytes.
    pub max_message_size: usize,
}

/// One client listener, checked: `protocol://ip:port`, its TLS and its codec.
#[derive(Clone)]
pub struct ListenerConfig {
    /// The codec name and the address to bind.
    pub url: ListenerUrl,
    /// The TLS acceptor built from the PEM files, when the listener serves TLS.
    pub tls: Option<TlsAcceptor>,
    /// The listener's codec, its options checked; builds one codec per connection.
    pub codec: PreparedCodec,
    /// How many connections it serves at once, in all and per remote address.
    pub limits: ConnectionLimits,
    /// When a family codec's acks leave.
    pub ack: AckMode,
}

/// A listener's connection limits (`max_connections`, `max_connections_per_ip`,
/// `max_accepts_per_sec`); `None` = no limit, the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Live connections in all.
    pub total: Option<usize>,
    /// Live connections from one remote address.
    pub per_ip: Option<usize>,
    /// New connections accepted per second (`max_accepts_per_sec`).
    pub accepts_per_sec: Option<u32>,
}

impl fmt::Debug for ListenerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerConfig")
            .field("url", &self.url)
            .field("tls", &self.tls.is_some())
            .field("codec", &self.codec)
            .field("limits", &self.limits)
            .field("ack", &self.ack)
            .finish()
    }
}

/// A listener URL split into its codec name and socket address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerUrl {
    /// Codec name (`text`, `frame`, `websocket`, ...), lower case.
    pub protocol: String,
    /// Address to bind.
    pub addr: SocketAddr,
}

impl fmt::Display for ListenerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.protocol, self.addr)
    }
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

/// `[worker]`.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// A name for logs.
    pub name: String,
    /// The built-in handler it runs.
    pub handler: Handler,
    /// Handler tasks; each client's events always go to the same one, in order.
    pub shards: usize,
    /// Where to serve this process's counters as a Prometheus page (`GET /metrics`), as
    /// `[gateway] metrics_listen` does; for a worker process, which has no gateway status.
    pub metrics_listen: Option<SocketAddr>,
}

/// A worker's built-in handler, from `handler = "..."`.
#[derive(Debug, Clone)]
pub enum Handler {
    /// `echo`: every message goes back to its sender.
    Echo,
    /// `rules`: the rule pipeline.
    Rules(Box<RulesConfig>),
    /// A handler the binary added by name (`gateway::front::Devgate::handler`).
    Named(String),
}

impl Handler {
    /// The names `handler` accepts.
    pub const NAMES: &'static [&'static str] = &["echo", "rules"];
}

/// `handler = "rules"`: the pipeline's settings, its rules file already read and checked.
#[derive(Debug, Clone)]
pub struct RulesConfig {
    /// The rules file, for messages.
    pub path: PathBuf,
    /// Its rules, checked.
    pub ruleset: rules::RuleSet,
    /// Where device state and the MQTT outbox live.
    pub data_dir: PathBuf,
    /// The MQTT bridge; without it `publish` actions are counted, not sent.
    pub mqtt: Option<rules::MqttConfig>,
    /// How durable effects are batched (`[worker.commit]`).
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

impl Config {
    /// What this process's internal links authenticate with: the secret, and `[tls]`.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            secret: Arc::new(self.secret.clone().into_bytes()),
            tls: self.tls.clone(),
        }
    }

    /// Reads and checks a file; listeners may use the codecs of `registry`.
    pub fn load(path: &Path, registry: &CodecRegistry) -> Result<Config, ConfigErrors> {
        Config::load_with_handlers(path, registry, &[])
    }

    /// As [`Config::load`], where `handler` may also be one of `handlers` (a binary's own).
    pub fn load_with_handlers(
        path: &Path,
        registry: &CodecRegistry,
        handlers: &[&str],
    ) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                key: "(file)".into(),
                reason: format!("cannot read: {e}"),
            }])
        })?;
        Config::parse_with_handlers(path, &text, registry, handlers)
    }

    /// Parses and checks configuration text (`path` is only used in errors).
    pub fn parse(
        path: &Path,
        text: &str,
        registry: &CodecRegistry,
    ) -> Result<Config, ConfigErrors> {
        Config::parse_with_handlers(path, text, registry, &[])
    }

    /// As [`Config::parse`], where `handler` may also be one of `handlers` (a binary's own).
    pub fn parse_with_handlers(
        path: &Path,
        text: &str,
        registry: &CodecRegistry,
        handlers: &[&str],
    ) -> Result<Config, ConfigErrors> {
        let mut check = Check {
            file: path,
            errors: Vec::new(),
            handlers,
        };
        let top: TopLevel = toml::from_str(text).map_err(|e| {
            let key = e
                .span()
                // `get`, not indexing: a span off a char boundary must not panic.
                .and_then(|s| text.get(..s.start))
                .map(|before| format!("line {}", before.lines().count().max(1)))
                .unwrap_or_else(|| "(toml)".into());
            check.error(key, e.message().trim());
            ConfigErrors(std::mem::take(&mut check.errors))
        })?;
        let secret = match top.secret {
            None => String::new(),
            Some(toml::Value::String(s)) => s,
            Some(_) => {
                check.error("secret", "must be a string");
                String::new()
            }
        };
        let register = match top.register {
            None => Some(RegisterSection::default()),
            section => check.section::<RegisterSection>("register", section),
        };
        let gateway = check.section::<GatewaySection>("gateway", top.gateway);
        let worker = check.section::<WorkerSection>("worker", top.worker);
        let log = check.section::<LogConfig>("log", top.log);
        let tls = check
            .section::<file::LinkTlsSection>("tls", top.tls)
            .and_then(|t| check.link_tls(t));
        let config = Config {
            path: path.to_path_buf(),
            secret,
            register: check.register(register.unwrap_or_default()),
            gateway: gateway.map(|g| check.gateway(g, registry)),
            worker: worker.map(|w| check.worker(w)),
            log: log.unwrap_or_default(),
            tls,
        };
        if check.errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(check.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(Path::new("x.toml"), text, &crate::codec_registry())
    }

    fn keys(errors: &ConfigErrors) -> Vec<&str> {
        errors.0.iter().map(|e| e.key.as_str()).collect()
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
        let errs = parse(text).unwrap_err();
        assert_eq!(
            keys(&errs),
            [
                "gateway.lan_ip",
                "gateway.listeners[0].url",
                "gateway.listeners[1].url",
                "worker.handler"
            ]
        );
        assert!(errs.to_string().starts_with("x.toml: gateway.lan_ip: "));
        assert!(
            errs.0[3].reason == "unknown handler \"nothing\"; built in: echo, rules",
            "{errs}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_per_section() {
        let text = "[gateway]\nlisteners=[{url=\"text://127.0.0.1:1\"}]\ncolour = 1\n[worker]\nshard = 2\n";
        let errs = parse(text).unwrap_err();
        assert_eq!(errs.0.len(), 2, "{errs}");
        assert!(errs.0[0].reason.contains("colour"), "{errs}");
        assert!(errs.0[1].reason.contains("shard"), "{errs}");
    }

    #[test]
    fn a_bad_metrics_address_is_reported_with_its_key() {
        let text =
            "[gateway]\nlisteners=[{url=\"text://127.0.0.1:1\"}]\nmetrics_listen = \"localhost\"\n";
        let errs = parse(text).unwrap_err();
        assert_eq!(errs.0.len(), 1, "{errs}");
        assert!(
            errs.to_string()
                .starts_with("x.toml: gateway.metrics_listen: not ip:port"),
            "{errs}"
        );
        let ok = "[gateway]\nlisteners=[{url=\"text://127.0.0.1:1\"}]\nmetrics_listen = \"127.0.0.1:0\"\n";
        let cfg = parse(ok).unwrap();
        let metrics = cfg.gateway.and_then(|g| g.metrics_listen);
        assert_eq!(metrics, Some("127.0.0.1:0".parse().unwrap()));
    }

    #[test]
    fn a_bad_worker_metrics_address_is_reported_with_its_key_beside_the_other_errors() {
        let errs = parse("[worker]\nshards = 0\nmetrics_listen = \"nope\"\n").unwrap_err();
        assert_eq!(
            keys(&errs),
            ["worker.shards", "worker.metrics_listen"],
            "{errs}"
        );
        let cfg = parse("[worker]\nmetrics_listen = \"127.0.0.1:0\"\n").unwrap();
        let metrics = cfg.worker.and_then(|w| w.metrics_listen);
        assert_eq!(metrics, Some("127.0.0.1:0".parse().unwrap()));
    }

    #[test]
    fn bad_codec_options_are_errors_at_the_listener_key_every_one_at_once() {
        let text = r#"
            [gateway]
            listeners = [
                { url = "text://127.0.0.1:1" },
                { url = "gt06://127.0.0.1:2", options = { bad_checksum = "closee" } },
                { url = "gt06://127.0.0.1:3", options = { timezone_offset_hours = "99" } },
                { url = "jt808://127.0.0.1:4", options = { text_flags = "1" } },
                { url = "text://127.0.0.1:5", options = { bad_checksum = "close" } },
                { url = "gt06://127.0.0.1:6", options = { bad_checksum = "x", timezone_offset_hours = "y", colour = "red" } },
            ]
        "#;
        let errs = parse(text).unwrap_err();
        assert_eq!(
            keys(&errs),
            [
                "gateway.listeners[1].options.bad_checksum",
                "gateway.listeners[2].options.timezone_offset_hours",
                "gateway.listeners[3].options.text_flags",
                "gateway.listeners[4].options.bad_checksum",
                "gateway.listeners[5].options.bad_checksum",
                "gateway.listeners[5].options.timezone_offset_hours",
                "gateway.listeners[5].options.colour",
            ]
        );
        assert_eq!(
            errs.0[0].to_string(),
            "x.toml: gateway.listeners[1].options.bad_checksum: \
             gt06 option `bad_checksum`: expected `skip` or `close`, got `closee`"
        );
        assert!(errs.0[2].reason.contains("no such option"), "{errs}");
    }

    #[test]
    fn a_checked_config_holds_typed_addresses_listeners_and_handler() {
        let text = r#"
            [register]
            listen = "127.0.0.1:0"
            addresses = ["127.0.0.1:1236", "[::1]:1237"]
            [gateway]
            lan_ip = "10.0.0.2"
            send_buffer_overflow = "drop_oldest"
            listeners = [{ url = "GT06://127.0.0.1:0", options = { bad_checksum = "close" } }]
            [worker]
        "#;
        let cfg = parse(text).unwrap();
        assert_eq!(cfg.register.addresses()[1], "[::1]:1237".parse().unwrap());
        let g = cfg.gateway.expect("a gateway");
        assert_eq!(g.lan_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(g.send_buffer_overflow, OverflowPolicy::DropOldest);
        assert_eq!(g.listeners[0].url.to_string(), "gt06://127.0.0.1:0");
        assert_eq!(g.listeners[0].codec.build().name(), "gt06");
        let w = cfg.worker.expect("a worker");
        assert!(matches!(w.handler, Handler::Echo));
        let register = "[register]\nlisten = \"127.0.0.1:7\"\n";
        let cfg = parse(register).unwrap();
        assert_eq!(cfg.register.addresses(), ["127.0.0.1:7".parse().unwrap()]);
    }

    #[test]
    fn the_rules_handler_carries_its_rules_file_read_once() {
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules.toml");
        let text = format!(
            "[worker]\nhandler = \"rules\"\nrules = {:?}\n",
            rules.display().to_string()
        );
        let cfg = parse(&text).unwrap();
        let Some(WorkerConfig {
            handler: Handler::Rules(r),
            ..
        }) = cfg.worker
        else {
            panic!("not the rules handler");
        };
        assert_eq!(r.path, rules);
        assert_eq!(r.commit, CommitConfig::default());
        let errs = parse("[worker]\nhandler = \"rules\"\n").unwrap_err();
        assert_eq!(keys(&errs), ["worker.rules"]);
    }

    #[test]
    fn a_binarys_own_handler_is_accepted_by_name_only_where_it_was_added() {
        let own = |text: &str| {
            let registry = crate::codec_registry();
            Config::parse_with_handlers(Path::new("x.toml"), text, &registry, &["shout", "echo"])
        };
        let shout = "[worker]\nhandler = \"shout\"\n";
        let cfg = own(shout).unwrap();
        let handler = cfg.worker.map(|w| w.handler);
        assert!(matches!(handler, Some(Handler::Named(n)) if n == "shout"));
        assert_eq!(keys(&parse(shout).unwrap_err()), ["worker.handler"]);
        // A built-in name stays the built-in handler.
        let cfg = own("[worker]\nhandler = \"echo\"\n").unwrap();
        assert!(matches!(cfg.worker.map(|w| w.handler), Some(Handler::Echo)));
    }

    #[test]
    fn listener_urls_split_into_protocol_and_address() {
        let u = parse_listener_url("Frame://127.0.0.1:8283").unwrap();
        assert_eq!(u.protocol, "frame");
        assert_eq!(u.addr, "127.0.0.1:8283".parse().unwrap());
        assert!(parse_listener_url("127.0.0.1:1").is_err());
    }
}
