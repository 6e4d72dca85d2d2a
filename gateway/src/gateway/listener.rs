//! Client listeners: `protocol://ip:port`, optionally TLS, resolved through the codec registry.

use super::conn::{self, ClientStream, ListenerInfo};
use super::GatewayState;
use crate::config::{parse_listener_url, ListenerConfig};
use codecs::{CodecOptions, CodecRegistry};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The URL is malformed.
    #[error("listener {url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// No codec has that name.
    #[error("listener {0}: no codec of that name")]
    UnknownCodec(String),
    /// The address could not be bound.
    #[error("listener {url}: cannot bind: {source}")]
    Bind {
        /// The URL.
        url: String,
        /// The error.
        source: std::io::Error,
    },
    /// The TLS files are unusable.
    #[error("listener {url}: {source}")]
    Tls {
        /// The URL.
        url: String,
        /// The error.
        source: crate::tls::TlsError,
    },
}

/// A bound client listener, ready to accept.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    info: Arc<ListenerInfo>,
    options: CodecOptions,
    registry: Arc<CodecRegistry>,
}

impl Listener {
    /// Binds the listener described by `cfg` (SO_REUSEPORT, so gateway processes can share it).
    pub fn bind(
        cfg: &ListenerConfig,
        registry: Arc<CodecRegistry>,
        max_message_size: usize,
    ) -> Result<Listener, ListenerError> {
        let url = parse_listener_url(&cfg.url).map_err(|reason| ListenerError::Url {
            url: cfg.url.clone(),
            reason,
        })?;
        if !registry.contains(&url.protocol) {
            return Err(ListenerError::UnknownCodec(cfg.url.clone()));
        }
        let tls = match &cfg.tls {
            Some(t) => Some(crate::tls::acceptor(&t.cert, &t.key).map_err(|source| {
                ListenerError::Tls {
                    url: cfg.url.clone(),
                    source,
                }
            })?),
            None => None,
        };
        let tcp =
            crate::net::bind_listener(url.addr, true).map_err(|source| ListenerError::Bind {
                url: cfg.url.clone(),
                source,
            })?;
        Ok(Listener {
            tcp,
            tls,
            info: Arc::new(ListenerInfo {
                protocol: url.protocol,
            }),
            options: CodecOptions {
                max_message_size,
                extra: cfg.options.clone(),
            },
            registry,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Accepts clients forever, one task each.
    pub async fn run(self, state: Arc<GatewayState>) {
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
            let _ = tcp.set_nodelay(true);
            let Some(codec) = self.registry.build(&self.info.protocol, &self.options) else {
                continue;
            };
            let state = state.clone();
            let info = self.info.clone();
            match &self.tls {
                None => {
                    tokio::spawn(conn::run(
                        state,
                        info,
                        ClientStream::Plain(tcp),
                        remote,
                        codec,
                    ));
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
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
