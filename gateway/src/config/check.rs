//! The check pass: the file's sections (`file`) in, typed values out, every problem
//! collected with its key rather than stopping at the first.

use super::file::{
    GatewaySection, LinkTlsSection, ListenerSection, RegisterSection, WorkerSection,
};
use super::{
    parse_listener_url, CommitConfig, ConfigError, ConnectionLimits, GatewayConfig, Handler,
    ListenerConfig, RegisterConfig, RulesConfig, WorkerConfig,
};
use crate::tls::{self, LinkTls};
use codecs::{CodecOptions, CodecRegistry, PrepareError};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

/// The check pass: turns the file's sections into typed values, collecting every problem.
/// A value with a problem is replaced by a stand-in so the pass goes on; a config with any
/// problem is never returned, so no stand-in is ever used.
pub(super) struct Check<'a> {
    pub(super) file: &'a Path,
    pub(super) errors: Vec<ConfigError>,
    /// The binary's own handler names, accepted beside the built-in ones.
    pub(super) handlers: &'a [&'a str],
}

/// What a bad address becomes while the check goes on.
const STAND_IN_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl Check<'_> {
    pub(super) fn error(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            key: key.into(),
            reason: reason.into(),
        });
    }

    pub(super) fn section<T: serde::de::DeserializeOwned>(
        &mut self,
        name: &str,
        value: Option<toml::Value>,
    ) -> Option<T> {
        match T::deserialize(value?) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(name, e.message().trim());
                None
            }
        }
    }

    fn socket_addr(&mut self, key: &str, text: &str) -> SocketAddr {
        text.parse().unwrap_or_else(|e| {
            self.error(key, format!("not ip:port: {e}"));
            STAND_IN_ADDR
        })
    }

    /// `[tls]`: each file is read and parsed on its own so every bad one is named, then the
    /// certificate and key are checked to be a pair.
    pub(super) fn link_tls(&mut self, t: LinkTlsSection) -> Option<Arc<LinkTls>> {
        let roots = tls::load_ca(&t.ca).map_err(|e| self.error("tls.ca", e.to_string()));
        let cert = t.cert.as_deref().map(tls::load_certs).transpose();
        let cert = cert.map_err(|e| self.error("tls.cert", e.to_string()));
        let key = t.key.as_deref().map(tls::load_key).transpose();
        let key = key.map_err(|e| self.error("tls.key", e.to_string()));
        let identity = match (cert, key) {
            (Ok(Some(cert)), Ok(Some(key))) => Some(Some((cert, key))),
            (Ok(None), Ok(None)) => Some(None),
            (Ok(Some(_)), Ok(None)) => {
                self.error("tls.key", "required with tls.cert");
                None
            }
            (Ok(None), Ok(Some(_))) => {
                self.error("tls.cert", "required with tls.key");
                None
            }
            _ => None,
        };
        let mut named = true;
        if let Some(name) = &t.server_name {
            if let Err(e) = tls::parse_server_name(name) {
                self.error("tls.server_name", e.to_string());
                named = false;
            }
        }
        let identity = identity?;
        if let Some((chain, key)) = &identity {
            // Checked apart from the CA, so a bad CA file does not hide a mismatched key.
            if let Err(e) = tls::check_pair(chain, key) {
                let (cert, key) = (t.cert.unwrap_or_default(), t.key.unwrap_or_default());
                let reason = format!(
                    "{} does not go with the certificate in {}: {e}",
                    key.display(),
                    cert.display()
                );
                self.error("tls.key", reason);
                return None;
            }
        }
        let roots = roots.ok().filter(|_| named)?;
        match LinkTls::new(roots, identity, t.client_auth, t.server_name.as_deref()) {
            Ok(built) => Some(Arc::new(built)),
            Err(e) => {
                self.error("tls", e.to_string());
                None
            }
        }
    }

    pub(super) fn register(&mut self, r: RegisterSection) -> RegisterConfig {
        let listen = self.socket_addr("register.listen", &r.listen);
        let addresses = r
            .addresses
            .iter()
            .enumerate()
            .map(|(i, a)| self.socket_addr(&format!("register.addresses[{i}]"), a))
            .collect();
        RegisterConfig { listen, addresses }
    }

    pub(super) fn gateway(&mut self, g: GatewaySection, registry: &CodecRegistry) -> GatewayConfig {
        let lan_ip = match g.lan_ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => ip,
            Ok(IpAddr::V6(_)) => {
                self.error(
                    "gateway.lan_ip",
                    "must be an ipv4 address (it is part of every client_id)",
                );
                Ipv4Addr::UNSPECIFIED
            }
            Err(e) => {
                self.error("gateway.lan_ip", format!("not an ip address: {e}"));
                Ipv4Addr::UNSPECIFIED
            }
        };
        let internal_listen = self.socket_addr("gateway.internal_listen", &g.internal_listen);
        if matches!(internal_listen, SocketAddr::V6(a) if !a.ip().is_unspecified()) {
            // Workers link to lan_ip:port (the address every client id encodes), an IPv4
            // address: a socket bound to one IPv6 address would never be reached.
            self.error(
                "gateway.internal_listen",
                "must be an ipv4 address or [::] (workers link to lan_ip and this port, and \
                 client ids encode both)",
            );
        }
        let metrics_listen = g
            .metrics_listen
            .map(|m| self.socket_addr("gateway.metrics_listen", &m));
        if g.listeners.is_empty() {
            self.error("gateway.listeners", "at least one listener is needed");
        }
        let listeners = g
            .listeners
            .into_iter()
            .enumerate()
            .filter_map(|(i, l)| {
                self.listener(
                    &format!("gateway.listeners[{i}]"),
                    l,
                    g.max_message_size,
                    registry,
                )
            })
            .collect();
        if g.max_message_size == 0 {
            self.error("gateway.max_message_size", "must be above 0");
        }
        if g.send_buffer_max < g.max_message_size.min(64 * 1024) {
            self.error(
                "gateway.send_buffer_max",
                "must hold at least one message (64 KiB or max_message_size)",
            );
        }
        GatewayConfig {
            name: g.name,
            lan_ip,
            internal_listen,
            metrics_listen,
            listeners,
            ping_interval: g.ping_interval,
            ping_not_response_limit: g.ping_not_response_limit,
            ping_data: g.ping_data,
            send_buffer_max: g.send_buffer_max,
            send_buffer_overflow: g.send_buffer_overflow,
            pending_events_max: g.pending_events_max,
            max_message_size: g.max_message_size,
        }
    }

    /// One listener at `key`: its URL, its TLS files, and its options as its codec reads them.
    fn listener(
        &mut self,
        key: &str,
        l: ListenerSection,
        max_message_size: usize,
        registry: &CodecRegistry,
    ) -> Option<ListenerConfig> {
        let url = match parse_listener_url(&l.url) {
            Ok(url) if registry.contains(&url.protocol) => Some(url),
            Ok(url) => {
                let known = registry.names().join(", ");
                let reason = format!("unknown protocol {:?}; known: {known}", url.protocol);
                self.error(format!("{key}.url"), reason);
                None
            }
            Err(e) => {
                self.error(format!("{key}.url"), e);
                None
            }
        };
        let tls = match &l.tls {
            None => Some(None),
            Some(tls) => {
                let mut readable = true;
                for (k, p) in [("cert", &tls.cert), ("key", &tls.key)] {
                    if !p.is_file() {
                        let reason = format!("{} is not a readable file", p.display());
                        self.error(format!("{key}.tls.{k}"), reason);
                        readable = false;
                    }
                }
                match readable.then(|| crate::tls::acceptor(&tls.cert, &tls.key)) {
                    Some(Ok(acceptor)) => Some(Some(acceptor)),
                    Some(Err(e)) => {
                        self.error(format!("{key}.tls"), e.to_string());
                        None
                    }
                    None => None,
                }
            }
        };
        let url = url?;
        let options = CodecOptions {
            max_message_size,
            extra: l.options,
            ..CodecOptions::default()
        };
        let codec = match registry.prepare(&url.protocol, &options) {
            Ok(codec) => codec,
            Err(PrepareError::Options(e)) => {
                self.option_errors(key, &url.protocol, options, e, registry);
                return None;
            }
            Err(e @ PrepareError::UnknownCodec { .. }) => {
                self.error(format!("{key}.url"), e.to_string());
                return None;
            }
        };
        let limits = ConnectionLimits {
            total: (l.max_connections > 0).then_some(l.max_connections),
            per_ip: (l.max_connections_per_ip > 0).then_some(l.max_connections_per_ip),
            accepts_per_sec: (l.max_accepts_per_sec > 0).then_some(l.max_accepts_per_sec),
        };
        Some(ListenerConfig {
            url,
            tls: tls?,
            codec,
            limits,
            ack: l.ack,
        })
    }

    /// Reports `first` and every other bad option of the listener at `key`: a codec stops at the
    /// first one it meets, so each is taken out in turn and the codec asked again.
    fn option_errors(
        &mut self,
        key: &str,
        protocol: &str,
        mut options: CodecOptions,
        first: codecs::options::OptionsError,
        registry: &CodecRegistry,
    ) {
        let mut next = Some(first);
        while let Some(e) = next.take() {
            self.error(format!("{key}.options.{}", e.key), e.to_string());
            if options.extra.remove(&e.key).is_none() {
                return;
            }
            if let Err(PrepareError::Options(e)) = registry.prepare(protocol, &options) {
                next = Some(e);
            }
        }
    }

    pub(super) fn worker(&mut self, w: WorkerSection) -> WorkerConfig {
        let handler = match w.handler.as_str() {
            "echo" => Handler::Echo,
            "rules" => match &w.rules {
                None => {
                    self.error("worker.rules", "handler \"rules\" needs a rules file");
                    Handler::Echo
                }
                Some(path) => match rules::check_rules_file(path) {
                    Ok(ruleset) => Handler::Rules(Box::new(RulesConfig {
                        path: path.clone(),
                        ruleset,
                        data_dir: w.data_dir.clone(),
                        mqtt: w.mqtt.clone(),
                        commit: w.commit,
                    })),
                    Err(errors) => {
                        for e in errors {
                            self.error("worker.rules", e.to_string());
                        }
                        Handler::Echo
                    }
                },
            },
            other if self.handlers.contains(&other) => Handler::Named(other.to_string()),
            other => {
                let mut reason = format!(
                    "unknown handler {other:?}; built in: {}",
                    Handler::NAMES.join(", ")
                );
                if !self.handlers.is_empty() {
                    reason.push_str(&format!("; this binary's: {}", self.handlers.join(", ")));
                }
                self.error("worker.handler", reason);
                Handler::Echo
            }
        };
        for (key, reason) in w.mqtt.iter().flat_map(|m| m.check()) {
            self.error(format!("worker.mqtt.{key}"), reason);
        }
        self.commit(&w.commit);
        if w.shards == 0 || w.shards > 1024 {
            self.error("worker.shards", "must be between 1 and 1024");
        }
        let metrics_listen = w
            .metrics_listen
            .map(|m| self.socket_addr("worker.metrics_listen", &m));
        WorkerConfig {
            name: w.name,
            handler,
            shards: w.shards,
            metrics_listen,
        }
    }

    fn commit(&mut self, c: &CommitConfig) {
        if c.max_events == 0 || c.max_events > 1_000_000 {
            self.error("worker.commit.max_events", "must be between 1 and 1000000");
        }
        if c.max_delay_us > 1_000_000 {
            self.error(
                "worker.commit.max_delay_us",
                "must be at most 1000000 (one second)",
            );
        }
        if c.pending_max == 0 {
            self.error("worker.commit.pending_max", "must be at least 1");
        }
        if c.state_cache == 0 {
            self.error("worker.commit.state_cache", "must be at least 1");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigErrors};
    use std::path::{Path, PathBuf};

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(Path::new("x.toml"), text, &crate::codec_registry())
    }

    fn errors(text: &str) -> Vec<(String, String)> {
        let errs = parse(text).expect_err("the config should be refused");
        errs.0.into_iter().map(|e| (e.key, e.reason)).collect()
    }

    /// A CA and two certificates (`a`, `b`) in a fresh temp dir.
    fn certs(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("devgate-tlscfg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        crate::certs::make_ca(&dir, 1).unwrap();
        for name in ["a", "b"] {
            crate::certs::issue(&dir, name, &["127.0.0.1".into()], &dir, 1).unwrap();
        }
        dir
    }

    fn tls(ca: &Path, cert: &Path, key: &Path) -> String {
        format!(
            "[tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\nclient_auth = true\n",
            ca.display().to_string(),
            cert.display().to_string(),
            key.display().to_string()
        )
    }

    #[test]
    fn a_good_tls_section_builds_both_ends_of_the_links() {
        let d = certs("good");
        let cfg = parse(&tls(&d.join("ca.pem"), &d.join("a.pem"), &d.join("a.key"))).unwrap();
        let built = cfg.tls.clone().expect("[tls] built");
        assert!(built.acceptor().is_some());
        assert!(cfg.credentials().tls.is_some());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn every_bad_tls_file_is_reported_at_once_under_its_own_key() {
        let d = certs("bad");
        std::fs::write(d.join("garbage.pem"), "not a certificate").unwrap();
        let text = tls(
            &d.join("missing.pem"),
            &d.join("garbage.pem"),
            &d.join("none.key"),
        );
        let errs = errors(&text);
        let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["tls.ca", "tls.cert", "tls.key"], "{errs:?}");
        assert!(errs[0].1.contains("missing.pem"), "{errs:?}");
        assert!(errs[1].1.contains("no certificate"), "{errs:?}");
        assert!(errs[2].1.contains("none.key"), "{errs:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_key_of_another_certificate_is_named_with_both_files() {
        let d = certs("mismatch");
        let errs = errors(&tls(&d.join("ca.pem"), &d.join("a.pem"), &d.join("b.key")));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].0, "tls.key");
        assert!(
            errs[0].1.contains("b.key") && errs[0].1.contains("a.pem"),
            "{errs:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_ca_does_not_hide_a_key_of_another_certificate() {
        let d = certs("both");
        let errs = errors(&tls(
            &d.join("nope.pem"),
            &d.join("a.pem"),
            &d.join("b.key"),
        ));
        let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["tls.ca", "tls.key"], "{errs:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_certificate_without_its_key_and_unknown_keys_are_refused() {
        let d = certs("half");
        let ca = d.join("ca.pem").display().to_string();
        let cert = d.join("a.pem").display().to_string();
        let errs = errors(&format!("[tls]\nca = {ca:?}\ncert = {cert:?}\n"));
        assert_eq!(errs[0].0, "tls.key", "{errs:?}");
        let errs = errors(&format!("[tls]\nca = {ca:?}\nverify = false\n"));
        assert_eq!(errs[0].0, "tls", "{errs:?}");
        assert!(errs[0].1.contains("verify"), "{errs:?}");
        let errs = errors(&format!(
            "[tls]\nca = {ca:?}\nserver_name = \"not a name\"\n"
        ));
        assert_eq!(errs[0].0, "tls.server_name", "{errs:?}");
        // A CA alone is enough for a process that only connects.
        assert!(parse(&format!("[tls]\nca = {ca:?}\n"))
            .unwrap()
            .tls
            .is_some());
        let _ = std::fs::remove_dir_all(&d);
    }
}
