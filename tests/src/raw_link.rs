//! A raw internal-link peer for the bound tests: it authenticates like a worker or a
//! standalone API, then writes frames of its choosing and reads nothing at all, over a socket
//! with a small receive buffer so the other side's writes back up quickly.

use bytes::BytesMut;
use gateway::proto::{self, auth, LinkCodec, LinkMessage, Role};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::codec::Framed;

/// An authenticated link that never reads.
pub struct RawLink {
    tcp: TcpStream,
    buf: BytesMut,
}

impl RawLink {
    /// Connects to `addr` with `secret` as `role` named `name`; panics if that fails.
    pub async fn connect(addr: SocketAddr, secret: &str, role: Role, name: &str) -> RawLink {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let tcp = tokio::time::timeout(crate::WAIT, socket.connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        let mut framed = Framed::new(tcp, LinkCodec::handshake());
        auth::connect(&mut framed, secret.as_bytes(), role, name)
            .await
            .expect("handshake");
        RawLink {
            tcp: framed.into_parts().io,
            buf: BytesMut::new(),
        }
    }

    /// Writes one message; `false` once the peer has closed the link.
    pub async fn send(&mut self, msg: &impl LinkMessage) -> bool {
        self.buf.clear();
        proto::encode_frame(msg, &mut self.buf);
        self.tcp.write_all(&self.buf).await.is_ok()
    }

    /// Reads (and drops) what the peer wrote until it closes the link: `false` when it is still
    /// open after `limit`.
    pub async fn ends_within(mut self, limit: Duration) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        let drained = async {
            while let Ok(n) = self.tcp.read(&mut buf).await {
                if n == 0 {
                    return;
                }
            }
        };
        tokio::time::timeout(limit, drained).await.is_ok()
    }
}
