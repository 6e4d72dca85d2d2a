//! Opening a device's connection: TCP from the device's source address, then TLS and the
//! WebSocket handshake when the group asks for them.

use crate::plan::{Group, Proto};
use crate::tls::{self, TlsError};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::WebSocketStream;

/// A connected byte stream, plain or TLS.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP (boxed: the TLS state is large, and most runs are plain).
    Tls(Box<TlsStream<TcpStream>>),
}

/// A device's open connection, ready for its behaviour.
#[derive(Debug)]
pub enum Link {
    /// A byte stream (the `text` and `frame` protocols).
    Bytes(Stream),
    /// A WebSocket after its handshake.
    Ws(Box<WebSocketStream<Stream>>),
}

/// Why a connect attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The TCP connect or the TLS handshake failed.
    #[error("connect: {0}")]
    Io(#[from] io::Error),
    /// It took longer than the connect timeout.
    #[error("connect timed out")]
    Timeout,
    /// The WebSocket handshake failed.
    #[error("websocket handshake: {0}")]
    WebSocket(String),
}

/// Opens connections for one group's devices.
#[derive(Clone)]
pub struct Connector {
    target: SocketAddr,
    proto: Proto,
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    ws_url: String,
    source_ips: Vec<IpAddr>,
    timeout: Duration,
}

impl Connector {
    /// A connector for `group`, giving up on each attempt after `timeout`.
    pub fn new(group: &Group, timeout: Duration) -> Result<Self, TlsError> {
        let tls = match &group.tls {
            Some(settings) => Some((
                TlsConnector::from(tls::client_config(settings)?),
                tls::server_name(settings, &group.target_host)?,
            )),
            None => None,
        };
        Ok(Connector {
            target: group.target,
            proto: group.proto,
            tls,
            ws_url: format!("ws://{}{}", group.target_host, group.ws_path),
            source_ips: group.source_ips.clone(),
            timeout,
        })
    }

    /// Connects device `device` (its fleet-wide index picks the source address).
    pub async fn connect(&self, device: u64) -> Result<Link, ConnectError> {
        tokio::time::timeout(self.timeout, self.connect_inner(device))
            .await
            .map_err(|_| ConnectError::Timeout)?
    }

    async fn connect_inner(&self, device: u64) -> Result<Link, ConnectError> {
        let source = match self.source_ips.len() {
            0 => None,
            n => Some(self.source_ips[(device % n as u64) as usize]),
        };
        let tcp = tcp_connect(self.target, source).await?;
        let stream = match &self.tls {
            Some((connector, name)) => {
                Stream::Tls(Box::new(connector.connect(name.clone(), tcp).await?))
            }
            None => Stream::Tcp(tcp),
        };
        match self.proto {
            Proto::Text | Proto::Frame => Ok(Link::Bytes(stream)),
            Proto::Websocket => {
                let (ws, _response) = tokio_tungstenite::client_async(self.ws_url.as_str(), stream)
                    .await
                    .map_err(|e| ConnectError::WebSocket(e.to_string()))?;
                Ok(Link::Ws(Box::new(ws)))
            }
        }
    }
}

async fn tcp_connect(target: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source.filter(|ip| !ip.is_unspecified()) {
        bind_address_no_port(&socket);
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Lets the kernel choose the local port at connect time, from the whole 4-tuple, rather than at
/// bind time: without it every bound socket takes a port of its own, and a source address runs
/// out of ports after ~28,000 connections over all targets. Best effort: older kernels lack it.
#[cfg(target_os = "linux")]
fn bind_address_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: the fd is a valid socket owned by `socket` for the duration of the call, and the
    // option value points to a c_int of the size passed.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn bind_address_no_port(_socket: &TcpSocket) {}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
