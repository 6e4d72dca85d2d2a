//! Client listeners: `protocol://ip:port`, optionally TLS, resolved through the codec registry.

use super::admission::{Admission, Refused};
use super::conn::{self, ClientStream, ListenerInfo};
use super::GatewayState;
use crate::config::ListenerConfig;
use codecs::PreparedCodec;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use timing::{Rate, Throttle};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a listener could not start (its config was checked: only binding can fail).
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The address could not be bound.
    #[error("listener {url}: cannot bind: {source}")]
    Bind {
        /// The URL.
        url: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A bound client listener, ready to accept.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    info: Arc<ListenerInfo>,
    codec: PreparedCodec,
    admission: Option<Arc<Admission>>,
    rate: Option<Rate>,
}

/// How often refusals by a listener's connection limits are reported (the first one at once).
const REFUSED_REPORT_EVERY: Duration = Duration::from_secs(10);

impl Listener {
    /// Binds the listener described by `cfg` (SO_REUSEPORT, so gateway processes can share it).
    pub fn bind(cfg: &ListenerConfig) -> Result<Listener, ListenerError> {
        let url = &cfg.url;
        let tcp =
            crate::net::bind_listener(url.addr, true).map_err(|source| ListenerError::Bind {
                url: url.to_string(),
                source,
            })?;
        Ok(Listener {
            tcp,
            tls: cfg.tls.clone(),
            info: Arc::new(ListenerInfo {
                protocol: url.protocol.as_str().into(),
                ack: cfg.ack,
            }),
            codec: cfg.codec.clone(),
            admission: Admission::new(cfg.limits),
            rate: cfg.limits.accepts_per_sec.map(Rate::per_sec),
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Accepts clients forever, one task each.
    pub async fn run(mut self, state: Arc<GatewayState>) {
        let mut refusals = Throttle::new(REFUSED_REPORT_EVERY);
        loop {
            let (tcp, remote) = match self.tcp.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(protocol = %self.info.protocol, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let now = std::time::Instant::now();
            let within_rate = self.rate.as_mut().is_none_or(|r| r.allow(now));
            let admitted = match within_rate {
                false => Some(Err(Refused::Rate)),
                true => self.admission.as_ref().map(|a| a.admit(remote.ip())),
            };
            let slot = match admitted {
                None => None,
                Some(Ok(slot)) => Some(slot),
                Some(Err(why)) => {
                    drop(tcp);
                    state
                        .stats
                        .connections_refused
                        .fetch_add(1, Ordering::Relaxed);
                    if let Some(held) = refusals.report(now) {
                        tracing::warn!(
                            protocol = %self.info.protocol,
                            %remote,
                            refused_since_last_report = held,
                            "connection refused: {why}"
                        );
                    }
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let codec = self.codec.build();
            let state = state.clone();
            let info = self.info.clone();
            match &self.tls {
                None => match slot {
                    None => {
                        tokio::spawn(conn::run(
                            state,
                            info,
                            ClientStream::Plain(tcp),
                            remote,
                            codec,
                        ));
                    }
                    // The slot lives as long as the connection's task.
                    Some(slot) => {
                        tokio::spawn(async move {
                            let _slot = slot;
                            conn::run(state, info, ClientStream::Plain(tcp), remote, codec).await
                        });
                    }
                },
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
                            .await
                        {
                            Ok(Ok(tls)) => {
                                conn::run(
                                    state,
                                    info,
                                    ClientStream::Tls(Box::new(tls)),
                                    remote,
                                    codec,
                                )
                                .await
                            }
                            Ok(Err(e)) => tracing::info!(%remote, "TLS handshake failed: {e}"),
                            Err(_) => tracing::info!(%remote, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    }
}
