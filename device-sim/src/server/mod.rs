//! The echo server: the physical limit to compare a gateway against, and, with `--faulty`, a
//! deliberately unreliable one that tests device-sim's checking.
//!
//! Lean on purpose: one task per connection that reads and writes the bytes back, holding no
//! buffer while idle (see `plain`). For `text` and `frame` it echoes raw bytes without splitting
//! messages, which is equivalent for a client (every message comes back whole and in order) and
//! the fastest thing a server can do.
//! WebSocket connections are echoed message by message (tungstenite), TLS with rustls.

pub mod faulty;
mod plain;
mod ws;

use crate::framing::Framing;
use crate::plan::Proto;
use faulty::{FaultCounts, FaultSpec};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;

/// Pending connections the listener queues.
const BACKLOG: u32 = 4096;

/// What an echo server does with its connections.
#[derive(Clone)]
pub struct EchoServer {
    proto: Proto,
    tls: Option<TlsAcceptor>,
    faults: Option<Faults>,
    connections: Arc<AtomicU64>,
}

#[derive(Clone)]
struct Faults {
    spec: FaultSpec,
    seed: u64,
    counts: Arc<FaultCounts>,
}

/// A server setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    /// Faults are injected per message of `text` or `frame`.
    #[error("--faulty needs --proto text or frame")]
    FaultyWebsocket,
}

impl EchoServer {
    /// A plain echo server for `proto`.
    pub fn new(proto: Proto) -> EchoServer {
        EchoServer {
            proto,
            tls: None,
            faults: None,
            connections: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Serves TLS with `config`.
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> EchoServer {
        self.tls = Some(TlsAcceptor::from(config));
        self
    }

    /// Injects faults per message; each connection's random choices derive from `seed`.
    /// The returned counts say exactly what was done.
    pub fn with_faults(
        mut self,
        spec: FaultSpec,
        seed: u64,
    ) -> Result<(EchoServer, Arc<FaultCounts>), ServerError> {
        if self.proto == Proto::Websocket {
            return Err(ServerError::FaultyWebsocket);
        }
        let counts = Arc::new(FaultCounts::default());
        self.faults = Some(Faults {
            spec,
            seed,
            counts: counts.clone(),
        });
        Ok((self, counts))
    }

    /// Accepts connections on `listener` forever.
    pub async fn serve(self, listener: TcpListener) {
        let plain_tcp =
            self.tls.is_none() && self.faults.is_none() && self.proto != Proto::Websocket;
        let server = Arc::new(self);
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    let n = server.connections.fetch_add(1, Ordering::Relaxed);
                    if plain_tcp {
                        // A task's whole future is allocated and copied when it is spawned, so
                        // the common case gets a small future of its own: that is most of what
                        // an idle connection costs.
                        tokio::spawn(plain::echo_tcp(tcp));
                    } else {
                        tokio::spawn(Box::pin(server.clone().handle(tcp, n)));
                    }
                }
                // Out of file descriptors or a connection reset before accept: keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    async fn handle(self: Arc<Self>, tcp: TcpStream, n: u64) {
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some(acceptor) => {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    self.echo(tls, n).await;
                }
            }
            None => self.echo(tcp, n).await,
        }
    }

    async fn echo<S: AsyncRead + AsyncWrite + Unpin + Send>(&self, stream: S, n: u64) {
        match (&self.faults, self.proto) {
            (_, Proto::Websocket) => ws::echo(stream).await,
            (None, _) => plain::echo(stream).await,
            (Some(f), proto) => {
                let framing = if proto == Proto::Frame {
                    Framing::Frame
                } else {
                    Framing::Text
                };
                let seed = f.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                faulty::echo(stream, framing, f.spec, seed, &f.counts).await
            }
        }
    }
}

/// A listener on `addr`; with `reuseport`, several processes can listen on the same port and the
/// kernel spreads connections over them (SO_REUSEPORT).
pub fn bind(addr: SocketAddr, reuseport: bool) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if reuseport {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
