//! Small clients for the stock protocols, written independently of the `codecs` crate so the
//! tests check devgate against the wire format, not against its own decoder.
//!
//! Every read has a timeout: a missing echo fails the test instead of hanging it.

use crate::WAIT;
use bytes::{Buf, BytesMut};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf,
    WriteHalf,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// What a read within a time limit found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<T> {
    /// A whole message.
    Got(T),
    /// The server closed the connection (EOF or reset).
    Closed,
    /// Nothing arrived in time.
    Nothing,
}

/// Connects to `addr` over plain TCP.
pub async fn tcp(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .unwrap_or_else(|_| panic!("connect to {addr} timed out"))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// A `text` protocol client: newline-delimited lines over any byte stream (plain or TLS).
pub struct LineClient<S> {
    rd: BufReader<ReadHalf<S>>,
    wr: WriteHalf<S>,
}

impl LineClient<TcpStream> {
    /// Connects over plain TCP.
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::over(tcp(addr).await)
    }
}

impl<S: AsyncRead + AsyncWrite> LineClient<S> {
    /// Speaks the text protocol over an established stream.
    pub fn over(stream: S) -> Self {
        let (rd, wr) = tokio::io::split(stream);
        LineClient {
            rd: BufReader::new(rd),
            wr,
        }
    }

    /// Sends raw bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.wr.write_all(bytes).await.expect("write");
        self.wr.flush().await.expect("flush");
    }

    /// Sends one line (the newline is added).
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes()).await;
    }

    /// Sends one line, tolerating a connection the server already dropped.
    pub async fn try_send(&mut self, line: &str) -> bool {
        self.wr
            .write_all(format!("{line}\n").as_bytes())
            .await
            .is_ok()
            && self.wr.flush().await.is_ok()
    }

    /// Reads one line within `limit`.
    pub async fn read_within(&mut self, limit: Duration) -> Read<String> {
        let mut line = String::new();
        match tokio::time::timeout(limit, self.rd.read_line(&mut line)).await {
            Err(_) => Read::Nothing,
            Ok(Ok(0)) | Ok(Err(_)) => Read::Closed,
            Ok(Ok(_)) => Read::Got(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }

    /// Reads one line; panics on close or timeout.
    pub async fn recv(&mut self) -> String {
        match self.read_within(WAIT).await {
            Read::Got(l) => l,
            other => panic!("expected a line, got {other:?}"),
        }
    }

    /// Sends `n` numbered lines in one burst, then checks every echo comes back in order.
    pub async fn echo_many(&mut self, tag: &str, n: usize) {
        let lines: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
        let mut burst = String::new();
        for l in &lines {
            burst.push_str(l);
            burst.push('\n');
        }
        self.send_raw(burst.as_bytes()).await;
        for l in &lines {
            assert_eq!(
                &self.recv().await,
                l,
                "echoes of {tag} out of order or wrong"
            );
        }
    }

    /// Asserts that the server closes the connection within `limit`; returns what came before.
    pub async fn expect_closed(&mut self, limit: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read_within(left).await {
                Read::Got(l) => before.push(l),
                Read::Closed => return before,
                Read::Nothing => panic!("not closed within {limit:?}; got {before:?}"),
            }
        }
    }

    /// Asserts that nothing arrives (and the connection stays open) for `limit`.
    pub async fn expect_nothing(&mut self, limit: Duration) {
        let got = self.read_within(limit).await;
        assert_eq!(got, Read::Nothing, "expected silence");
    }
}

/// A `frame` protocol client: u32 big-endian total length (header included), then the body.
///
/// Hand-written on purpose: the header is four bytes, and the tests need to send malformed
/// frames that a library encoder would refuse to produce.
pub struct FrameClient {
    stream: TcpStream,
    buf: BytesMut,
}

impl FrameClient {
    /// Connects over plain TCP.
    pub async fn connect(addr: SocketAddr) -> Self {
        FrameClient {
            stream: tcp(addr).await,
            buf: BytesMut::new(),
        }
    }

    /// Sends raw bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends one frame with `body`.
    pub async fn send(&mut self, body: &[u8]) {
        self.send_raw(&frame(body)).await;
    }

    /// Reads one frame body within `limit`.
    pub async fn read_within(&mut self, limit: Duration) -> Read<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.buf.len() >= 4 {
                let total =
                    u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                let total = total as usize;
                assert!(total >= 4, "server sent a frame length below 4: {total}");
                if self.buf.len() >= total {
                    self.buf.advance(4);
                    return Read::Got(self.buf.split_to(total - 4).to_vec());
                }
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Read::Nothing,
                Ok(Ok(0)) | Ok(Err(_)) => return Read::Closed,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Reads one frame body; panics on close or timeout.
    pub async fn recv(&mut self) -> Vec<u8> {
        match self.read_within(WAIT).await {
            Read::Got(b) => b,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Sends `n` numbered frames in one burst, then checks every echo comes back in order.
    pub async fn echo_many(&mut self, tag: &str, n: usize) {
        let bodies: Vec<Vec<u8>> = (0..n).map(|i| format!("{tag}-{i}").into_bytes()).collect();
        let burst: Vec<u8> = bodies.iter().flat_map(|b| frame(b)).collect();
        self.send_raw(&burst).await;
        for b in &bodies {
            assert_eq!(
                &self.recv().await,
                b,
                "frame echoes of {tag} out of order or wrong"
            );
        }
    }

    /// Asserts that the server closes the connection within `limit`.
    pub async fn expect_closed(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read_within(left).await {
                Read::Got(_) => {}
                Read::Closed => return,
                Read::Nothing => panic!("frame client not closed within {limit:?}"),
            }
        }
    }
}

/// Encodes one `frame` protocol message.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let total = u32::try_from(body.len() + 4).expect("frame fits u32");
    let mut out = total.to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A WebSocket client (tokio-tungstenite, an implementation independent of devgate's).
pub struct WsClient<S> {
    ws: WebSocketStream<S>,
}

impl WsClient<TcpStream> {
    /// Connects and upgrades to `ws://addr/path`.
    pub async fn connect(addr: SocketAddr, path: &str) -> Self {
        Self::over(tcp(addr).await, &format!("ws://{addr}{path}")).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsClient<S> {
    /// Upgrades an established stream (plain or TLS) with a request for `url`.
    pub async fn over(stream: S, url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, stream))
            .await
            .expect("websocket handshake timed out")
            .expect("websocket handshake");
        WsClient { ws }
    }

    /// Sends a text message.
    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("ws send");
    }

    /// Sends a ping frame (counts as life for the heartbeat).
    pub async fn ping(&mut self) {
        self.ws
            .send(Message::Ping(Vec::new().into()))
            .await
            .expect("ws ping");
    }

    /// Reads the next data message within `limit` (control frames are skipped).
    pub async fn read_within(&mut self, limit: Duration) -> Read<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Read::Nothing,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                    return Read::Closed
                }
                Ok(Some(Ok(Message::Text(t)))) => return Read::Got(t.to_string()),
                Ok(Some(Ok(Message::Binary(b)))) => {
                    return Read::Got(String::from_utf8_lossy(&b).into_owned())
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Reads one data message; panics on close or timeout.
    pub async fn recv(&mut self) -> String {
        match self.read_within(WAIT).await {
            Read::Got(t) => t,
            other => panic!("expected a websocket message, got {other:?}"),
        }
    }

    /// Sends `n` numbered messages back to back, then checks every echo comes back in order.
    pub async fn echo_many(&mut self, tag: &str, n: usize) {
        let msgs: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
        for m in &msgs {
            self.ws
                .feed(Message::text(m.as_str()))
                .await
                .expect("ws feed");
        }
        self.ws.flush().await.expect("ws flush");
        for m in &msgs {
            assert_eq!(
                &self.recv().await,
                m,
                "ws echoes of {tag} out of order or wrong"
            );
        }
    }
}
