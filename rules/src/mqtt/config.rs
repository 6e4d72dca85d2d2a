//! MQTT bridge configuration (the `[mqtt]` table the gateway's config embeds).

use serde::{Deserialize, Serialize};

fn d_client_id() -> String {
    "devgate".into()
}
fn d_keep_alive() -> u64 {
    30
}
fn d_connect_timeout() -> u64 {
    5
}
fn d_inflight() -> u16 {
    64
}
fn d_max_packet() -> usize {
    256 * 1024
}
fn d_backoff_initial() -> u64 {
    100
}
fn d_backoff_max() -> u64 {
    10_000
}
fn d_id_field() -> String {
    "msg_id".into()
}
fn d_max_entries() -> u64 {
    100_000
}
fn d_qos() -> u8 {
    1
}
fn d_hold_per_uid() -> u64 {
    100
}
fn d_hold_total() -> u64 {
    100_000
}

/// The MQTT bridge: which broker, how to publish, what to subscribe to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `host:port` of the broker (`[::1]:1883` for IPv6).
    pub broker: String,
    /// MQTT client id; must be unique per worker on the broker.
    #[serde(default = "d_client_id")]
    pub client_id: String,
    /// Optional user name.
    pub username: Option<String>,
    /// Optional password.
    pub password: Option<String>,
    /// MQTT keep-alive in seconds (5..=65535).
    #[serde(default = "d_keep_alive")]
    pub keep_alive_secs: u64,
    /// How long a connection attempt may take, in seconds.
    #[serde(default = "d_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// QoS 1 publishes sent and not yet acknowledged, at most.
    #[serde(default = "d_inflight")]
    pub inflight: u16,
    /// Largest MQTT packet sent or accepted, in bytes; bigger publishes are refused by the outbox.
    #[serde(default = "d_max_packet")]
    pub max_packet_bytes: usize,
    /// First reconnect delay in milliseconds; doubles per failure, jittered.
    #[serde(default = "d_backoff_initial")]
    pub backoff_initial_ms: u64,
    /// Largest reconnect delay in milliseconds.
    #[serde(default = "d_backoff_max")]
    pub backoff_max_ms: u64,
    /// The JSON field of every uplink payload that carries the message id.
    #[serde(default = "d_id_field")]
    pub id_field: String,
    /// The durable uplink outbox.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// Downlink subscriptions and the offline policy.
    #[serde(default)]
    pub downlink: DownlinkConfig,
}

/// The durable uplink outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Messages held at most; when full, new publishes are refused and counted.
    #[serde(default = "d_max_entries")]
    pub max_entries: u64,
    /// What the rules handler does as the outbox nears `max_entries`.
    #[serde(default)]
    pub when_full: WhenFull,
}

/// What the rules handler does when the outbox nears `max_entries` (90% of it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    /// New events wait until acknowledgements make room: devices are acked at the broker's
    /// pace and every acked event's publishes are kept.
    #[default]
    Wait,
    /// Events go on; publishes past `max_entries` are refused and counted (the device is
    /// still acked, its state still written): the device's pace, not every publish.
    Refuse,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_entries: d_max_entries(),
            when_full: WhenFull::default(),
        }
    }
}

/// What happens to a command for a uid that is not online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OfflinePolicy {
    /// Drop it and count it.
    #[default]
    Drop,
    /// Keep it in the store (bounded per uid and in total) until the uid comes online.
    Hold,
}

/// Downlink: MQTT topics whose messages go to devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownlinkConfig {
    /// Topic templates with one `{uid}` level, e.g. `devices/{uid}/down`; each is subscribed
    /// with `{uid}` as `+`, and a message's topic gives the uid.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Subscription QoS (0 or 1).
    #[serde(default = "d_qos")]
    pub qos: u8,
    /// What to do when the uid is offline.
    #[serde(default)]
    pub offline: OfflinePolicy,
    /// With `hold`: commands kept per uid; when full the oldest is dropped (and counted).
    #[serde(default = "d_hold_per_uid")]
    pub hold_per_uid: u64,
    /// With `hold`: commands kept in total; when full a new command is dropped (and counted).
    #[serde(default = "d_hold_total")]
    pub hold_total: u64,
}

impl Default for DownlinkConfig {
    fn default() -> Self {
        DownlinkConfig {
            topics: Vec::new(),
            qos: d_qos(),
            offline: OfflinePolicy::Drop,
            hold_per_uid: d_hold_per_uid(),
            hold_total: d_hold_total(),
        }
    }
}

impl MqttConfig {
    /// A config with every default, for `broker` (`host:port`).
    pub fn new(broker: impl Into<String>) -> MqttConfig {
        MqttConfig {
            broker: broker.into(),
            client_id: d_client_id(),
            username: None,
            password: None,
            keep_alive_secs: d_keep_alive(),
            connect_timeout_secs: d_connect_timeout(),
            inflight: d_inflight(),
            max_packet_bytes: d_max_packet(),
            backoff_initial_ms: d_backoff_initial(),
            backoff_max_ms: d_backoff_max(),
            id_field: d_id_field(),
            outbox: OutboxConfig::default(),
            downlink: DownlinkConfig::default(),
        }
    }

    /// The broker's host and port, from `host:port`, `[v6]:port` or `mqtt://host:port` (also
    /// `tcp://`). Other schemes are refused by name: `mqtts://` or `ws://` would otherwise be
    /// read as a host called "mqtts" and retried forever.
    pub fn host_port(&self) -> Result<(String, u16), String> {
        let b = self.broker.trim();
        let rest = match b.split_once("://") {
            None => b,
            Some(("mqtt" | "tcp", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "{:?}: scheme {scheme:?} is not supported (plain MQTT over TCP only): \
                     write host:port or mqtt://host:port",
                    self.broker
                ))
            }
        };
        if rest.contains('/') {
            return Err(format!("{:?}: host:port takes no path", self.broker));
        }
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{:?} is not host:port", self.broker))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{:?}: bad port {port:?}", self.broker))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("{:?}: bad host {host:?}", self.broker));
        }
        Ok((host.to_owned(), port))
    }

    /// Every problem with the config, as (key, reason), for `check-config`.
    pub fn check(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        let mut bad = |k: &str, r: String| errs.push((k.to_owned(), r));
        if let Err(e) = self.host_port() {
            bad("broker", e);
        }
        if self.client_id.is_empty() || self.client_id.len() > 256 {
            bad("client_id", "must be 1 to 256 bytes".into());
        }
        if !(5..=65535).contains(&self.keep_alive_secs) {
            bad("keep_alive_secs", "must be 5..=65535".into());
        }
        if self.connect_timeout_secs == 0 {
            bad("connect_timeout_secs", "must be at least 1".into());
        }
        if self.inflight == 0 || self.inflight > 1000 {
            bad("inflight", "must be 1..=1000".into());
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_packet_bytes) {
            bad("max_packet_bytes", "must be 1 KiB..=64 MiB".into());
        }
        if self.backoff_initial_ms == 0 || self.backoff_max_ms < self.backoff_initial_ms {
            bad(
                "backoff_initial_ms",
                "must be at least 1 and at most backoff_max_ms".into(),
            );
        }
        if self.id_field.is_empty() {
            bad("id_field", "must not be empty".into());
        }
        if self.outbox.max_entries == 0 {
            bad("outbox.max_entries", "must be at least 1".into());
        }
        let d = &self.downlink;
        for (i, t) in d.topics.iter().enumerate() {
            if let Err(e) = super::downlink::TopicTemplate::parse(t) {
                bad(&format!("downlink.topics[{i}]"), e);
            }
        }
        if d.qos > 1 {
            bad("downlink.qos", "must be 0 or 1".into());
        }
        if d.hold_per_uid == 0 || d.hold_total == 0 {
            bad(
                "downlink.hold_per_uid",
                "hold limits must be at least 1".into(),
            );
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_is_host_port_with_an_optional_mqtt_scheme() {
        let hp = |b: &str| MqttConfig::new(b).host_port();
        assert_eq!(hp("127.0.0.1:1883"), Ok(("127.0.0.1".into(), 1883)));
        assert_eq!(hp("mqtt://127.0.0.1:1883"), Ok(("127.0.0.1".into(), 1883)));
        assert_eq!(hp("tcp://broker.lan:1883"), Ok(("broker.lan".into(), 1883)));
        assert_eq!(hp("[::1]:1883"), Ok(("::1".into(), 1883)));
        for bad in [
            "mqtts://127.0.0.1:8883",
            "ws://127.0.0.1:9001",
            "mqtt://127.0.0.1:1883/",
            "127.0.0.1",
            ":1883",
            "mqtt://:1883",
            "a b:1883",
            "127.0.0.1:99999",
        ] {
            let e = hp(bad).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
        assert!(hp("mqtts://h:8883")
            .unwrap_err()
            .contains("\"mqtts\" is not supported"));
    }

    #[test]
    fn defaults_fill_everything_but_the_broker() {
        let c: MqttConfig = toml::from_str("broker = \"127.0.0.1:1883\"").unwrap();
        assert_eq!(c, MqttConfig::new("127.0.0.1:1883"));
        assert!(c.check().is_empty());
        assert_eq!(c.host_port().unwrap(), ("127.0.0.1".into(), 1883));
        assert_eq!(
            MqttConfig::new("[::1]:1").host_port().unwrap(),
            ("::1".into(), 1)
        );
    }

    #[test]
    fn check_lists_every_bad_key() {
        let mut c = MqttConfig::new("nohost");
        c.keep_alive_secs = 1;
        c.inflight = 0;
        c.downlink.topics = vec!["devices/+/down".into()];
        c.downlink.qos = 2;
        let keys: Vec<String> = c.check().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "broker",
                "keep_alive_secs",
                "inflight",
                "downlink.topics[0]",
                "downlink.qos"
            ]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<MqttConfig>("broker = \"a:1\"\nqos = 1").unwrap_err();
        assert!(e.to_string().contains("unknown field `qos`"));
    }
}
