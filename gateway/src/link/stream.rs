//! The two halves of a link's socket, plain TCP or TLS. Plain TCP keeps tokio's owned halves
//! (no lock between reader and writer), so a plaintext link pays one `match` per poll for
//! being able to carry TLS; a TLS stream is split with `tokio::io::split`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

/// A link's socket over TLS (either side of the handshake).
type Tls = TlsStream<TcpStream>;

/// The reading half of a link's socket.
#[derive(Debug)]
pub enum LinkRead {
    /// Plain TCP.
    Plain(OwnedReadHalf),
    /// TLS over TCP.
    Tls(ReadHalf<Tls>),
}

/// The writing half of a link's socket. A TLS half may hold records until flushed, so
/// writers flush after each write ([`super::write_out`]).
#[derive(Debug)]
pub enum LinkWrite {
    /// Plain TCP.
    Plain(OwnedWriteHalf),
    /// TLS over TCP.
    Tls(WriteHalf<Tls>),
}

/// A socket a link can run on, split into its halves once authenticated.
pub trait LinkSocket: AsyncRead + AsyncWrite + Unpin + Send {
    /// The halves.
    fn into_halves(self) -> (LinkRead, LinkWrite);
}

impl LinkSocket for TcpStream {
    fn into_halves(self) -> (LinkRead, LinkWrite) {
        let (r, w) = self.into_split();
        (LinkRead::Plain(r), LinkWrite::Plain(w))
    }
}

impl LinkSocket for Tls {
    fn into_halves(self) -> (LinkRead, LinkWrite) {
        let (r, w) = tokio::io::split(self);
        (LinkRead::Tls(r), LinkWrite::Tls(w))
    }
}

impl AsyncRead for LinkRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkRead::Plain(s) => Pin::new(s).poll_read(cx, buf),
            LinkRead::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for LinkWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkWrite::Plain(s) => Pin::new(s).poll_write(cx, buf),
            LinkWrite::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkWrite::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            LinkWrite::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            LinkWrite::Plain(s) => s.is_write_vectored(),
            LinkWrite::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkWrite::Plain(s) => Pin::new(s).poll_flush(cx),
            LinkWrite::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkWrite::Plain(s) => Pin::new(s).poll_shutdown(cx),
            LinkWrite::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
