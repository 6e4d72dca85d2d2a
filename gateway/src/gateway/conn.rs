//! One task per client connection: read, decode, route events; drain the output queue,
//! encode, write.
//!
//! An idle connection holds no read or write buffer: the read buffer is taken when the socket
//! becomes readable and dropped once every byte in it is decoded, and the write buffer is
//! dropped once written. That keeps idle memory per connection small (see BENCHMARKS.md).

use super::client::{ClientHandle, Out};
use super::router::Routed;
use super::GatewayState;
use crate::proto::Message;
use bytes::{Bytes, BytesMut};
use codecs::{Codec, CodecError, Inbound, Outbound};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Bytes requested from the socket per read.
const READ_CHUNK: usize = 8 * 1024;
/// How long a closing client may take to receive what is still queued.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// A client socket, plain or TLS.
pub enum ClientStream {
    /// Plain TCP: waits for readiness before taking a buffer.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl ClientStream {
    fn split(self) -> (ReadSide, WriteSide) {
        match self {
            ClientStream::Plain(s) => {
                let (r, w) = s.into_split();
                (ReadSide::Plain(r), WriteSide::Plain(w))
            }
            ClientStream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (ReadSide::Tls(r), WriteSide::Tls(w))
            }
        }
    }
}

enum ReadSide {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

enum WriteSide {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

enum Wrote {
    Bytes,
    Flushed,
}

fn room(slot: &mut Option<BytesMut>) -> &mut BytesMut {
    let buf = slot.get_or_insert_with(|| BytesMut::with_capacity(READ_CHUNK));
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    buf
}

impl ReadSide {
    /// Reads into `slot`, taking a buffer only once the socket is readable (plain TCP).
    async fn read_some(&mut self, slot: &mut Option<BytesMut>) -> io::Result<usize> {
        match self {
            ReadSide::Plain(s) => loop {
                s.readable().await?;
                match s.try_read_buf(room(slot)) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if slot.as_ref().is_some_and(|b| b.is_empty()) {
                            *slot = None;
                        }
                    }
                    Err(e) => return Err(e),
                }
            },
            ReadSide::Tls(s) => s.read_buf(room(slot)).await,
        }
    }
}

impl WriteSide {
    async fn write_some(&mut self, buf: &mut BytesMut) -> io::Result<Wrote> {
        match self {
            WriteSide::Plain(s) => s.write_buf(buf).await.map(|_| Wrote::Bytes),
            WriteSide::Tls(s) if buf.is_empty() => s.flush().await.map(|_| Wrote::Flushed),
            WriteSide::Tls(s) => s.write_buf(buf).await.map(|_| Wrote::Bytes),
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            WriteSide::Plain(s) => s.shutdown().await,
            WriteSide::Tls(s) => s.shutdown().await,
        };
    }

    fn is_tls(&self) -> bool {
        matches!(self, WriteSide::Tls(_))
    }
}

/// What a listener tells each of its connections.
#[derive(Debug)]
pub struct ListenerInfo {
    /// Codec name (`text`, `websocket`, ...).
    pub protocol: String,
    /// The codec waits for a handshake first (WebSocket); bounded by `handshake_timeout`.
    pub handshake_timeout: Option<Duration>,
}

/// Why a connection ended, for the log.
enum End {
    PeerClosed,
    Closed,
    Io(io::Error),
    Codec(CodecError),
    HoldQueueFull,
    HandshakeTimeout,
}

/// Runs one client until it closes; never panics on client input.
pub async fn run(
    state: Arc<GatewayState>,
    info: Arc<ListenerInfo>,
    stream: ClientStream,
    remote: SocketAddr,
    mut codec: Box<dyn Codec>,
) {
    let (mut rd, mut wr) = stream.split();
    let client = state.add_client();
    let id = client.id;
    let mut conn = Conn {
        state: &state,
        client: &client,
        codec: codec.as_mut(),
        wbuf: BytesMut::new(),
        closing: false,
    };
    let mut rbuf: Option<BytesMut> = None;
    let end = conn
        .serve(&mut rd, &mut wr, &mut rbuf, remote, &info)
        .await
        .err()
        .unwrap_or(End::Closed);
    match &end {
        End::PeerClosed | End::Closed => tracing::debug!(client = %id, "closed"),
        End::Io(e) => tracing::debug!(client = %id, "socket error: {e}"),
        End::Codec(e) => {
            state.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(client = %id, %remote, "closing after bad input: {e}");
        }
        End::HoldQueueFull => {
            tracing::warn!(client = %id, "no worker and the hold queue is full: closing")
        }
        End::HandshakeTimeout => tracing::info!(client = %id, %remote, "handshake timed out"),
    }
    if !matches!(end, End::PeerClosed | End::Io(_)) {
        // Best effort: what is queued (a last message, a close frame) goes out first.
        let _ = Box::pin(tokio::time::timeout(
            CLOSE_FLUSH_TIMEOUT,
            conn.flush(&mut wr),
        ))
        .await;
        wr.shutdown().await;
    }
    drop((rd, wr));
    state.remove_client(id);
    let (uid, session) = state.forget(&client);
    let close = Message::Close {
        client: id,
        uid,
        session,
    };
    Box::pin(state.router.route(&client, close)).await;
    state.router.release(&client);
}

struct Conn<'a> {
    state: &'a GatewayState,
    client: &'a Arc<ClientHandle>,
    codec: &'a mut dyn Codec,
    wbuf: BytesMut,
    closing: bool,
}

impl Conn<'_> {
    async fn serve(
        &mut self,
        rd: &mut ReadSide,
        wr: &mut WriteSide,
        rbuf: &mut Option<BytesMut>,
        remote: SocketAddr,
        info: &ListenerInfo,
    ) -> Result<(), End> {
        let id = self.client.id;
        Box::pin(self.route(Message::Connect {
            client: id,
            remote: remote.to_string(),
            protocol: info.protocol.clone(),
        }))
        .await?;
        if let Some(limit) = info.handshake_timeout {
            let handshake = tokio::time::timeout(limit, self.until_handshake(rd, wr, rbuf));
            match Box::pin(handshake).await {
                Ok(r) => r?,
                Err(_) => return Err(End::HandshakeTimeout),
            }
        }
        let mut tls_dirty = false;
        loop {
            tokio::select! {
                biased;
                _ = self.client.woken() => {
                    self.take_output();
                    if self.closing && self.wbuf.is_empty() && !tls_dirty {
                        return Err(End::Closed);
                    }
                }
                r = wr.write_some(&mut self.wbuf), if !self.wbuf.is_empty() || tls_dirty => {
                    match r.map_err(End::Io)? {
                        Wrote::Bytes => tls_dirty = wr.is_tls(),
                        Wrote::Flushed => tls_dirty = false,
                    }
                    if self.wbuf.is_empty() {
                        // Give the buffer back: an idle client holds none.
                        self.wbuf = BytesMut::new();
                        if self.closing && !tls_dirty {
                            return Err(End::Closed);
                        }
                    }
                }
                r = rd.read_some(rbuf) => {
                    let n = r.map_err(End::Io)?;
                    if n == 0 {
                        if let Some(buf) = rbuf.as_mut() {
                            Box::pin(self.decode_all(buf, true)).await?;
                        }
                        return Err(End::PeerClosed);
                    }
                    if let Some(buf) = rbuf.as_mut() {
                        // Boxed: its state (routing, an inline handler) exists only while
                        // data is being handled, so an idle connection's task stays small.
                        Box::pin(self.decode_all(buf, false)).await?;
                        if buf.is_empty() {
                            *rbuf = None;
                        }
                    }
                    if self.closing && self.wbuf.is_empty() {
                        return Err(End::Closed);
                    }
                }
            }
        }
    }

    /// Reads until the codec reports its handshake, answering it on the way.
    async fn until_handshake(
        &mut self,
        rd: &mut ReadSide,
        wr: &mut WriteSide,
        rbuf: &mut Option<BytesMut>,
    ) -> Result<(), End> {
        loop {
            let n = rd.read_some(rbuf).await.map_err(End::Io)?;
            if n == 0 {
                return Err(End::PeerClosed);
            }
            let Some(buf) = rbuf.as_mut() else { continue };
            loop {
                match self.codec.decode(buf) {
                    Ok(None) => break,
                    Ok(Some(Inbound::Handshake(req))) => {
                        self.codec.answer_handshake(None, &mut self.wbuf);
                        self.flush(wr).await.map_err(End::Io)?;
                        let request = serde_json::to_vec(&req).unwrap_or_default();
                        self.route(Message::WebSocketConnect {
                            client: self.client.id,
                            request: Bytes::from(request),
                            session: self.client.event_meta().1,
                        })
                        .await?;
                        // Frames sent right behind the upgrade request are already buffered.
                        self.decode_all(buf, false).await?;
                        self.flush(wr).await.map_err(End::Io)?;
                        return Ok(());
                    }
                    Ok(Some(other)) => self.on_event(other).await?,
                    Err(e) => {
                        // The codec queues its HTTP error response (if any) as a Reply first.
                        self.flush(wr).await.map_err(End::Io)?;
                        return Err(End::Codec(e));
                    }
                }
            }
        }
    }

    async fn decode_all(&mut self, buf: &mut BytesMut, eof: bool) -> Result<(), End> {
        loop {
            let r = if eof {
                self.codec.decode_eof(buf)
            } else {
                self.codec.decode(buf)
            };
            match r {
                Ok(Some(ev)) => self.on_event(ev).await?,
                Ok(None) => return Ok(()),
                Err(e) if e.can_continue() => {
                    self.state.stats.skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(client = %self.client.id, "skipped a message: {e}");
                }
                Err(e) => return Err(End::Codec(e)),
            }
        }
    }

    async fn on_event(&mut self, ev: Inbound) -> Result<(), End> {
        let client = self.client.id;
        match ev {
            Inbound::Message { data, fields } => {
                self.client.touch();
                self.state.stats.messages_in.fetch_add(1, Ordering::Relaxed);
                let fields = match fields {
                    Some(v) => Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
                    None => Bytes::new(),
                };
                let (uid, session) = self.client.event_meta();
                self.route(Message::Data {
                    client,
                    data,
                    fields,
                    uid,
                    session,
                })
                .await
            }
            Inbound::Reply(bytes) => {
                self.client.touch();
                self.wbuf.extend_from_slice(&bytes);
                Ok(())
            }
            Inbound::Identity(uid) => {
                // The device said who it is: bind it here, so the uid is known to every
                // query and travels with every later event, before any worker acts.
                self.state.bind_uid(client, &uid);
                self.route(Message::Identity { client, uid }).await
            }
            Inbound::Handshake(_) => {
                // A second handshake on one connection: answer nothing, the codec refuses data.
                Ok(())
            }
            Inbound::Alive => {
                self.client.touch();
                Ok(())
            }
            Inbound::Close(_) => {
                self.closing = true;
                Ok(())
            }
        }
    }

    async fn route(&mut self, msg: Message) -> Result<(), End> {
        match self.state.router.route(self.client, msg).await {
            Routed::Delivered | Routed::Held => Ok(()),
            Routed::Overflow => Err(End::HoldQueueFull),
        }
    }

    fn take_output(&mut self) {
        let codec = &mut *self.codec;
        let wbuf = &mut self.wbuf;
        let ping_data = &self.state.settings.ping_data;
        let id = self.client.id;
        let close = self.client.drain_with(|out| match out {
            Out::Send(o) => {
                if let Err(e) = codec.encode(o, wbuf) {
                    tracing::warn!(client = %id, "cannot encode an outbound message: {e}");
                }
            }
            Out::Ping => {
                if ping_data.is_empty() {
                    codec.ping(wbuf);
                } else if let Err(e) = codec.encode(Outbound::Data(ping_data.clone()), wbuf) {
                    tracing::warn!(client = %id, "cannot encode the ping: {e}");
                }
            }
        });
        if close && !self.closing {
            self.closing = true;
        }
    }

    async fn flush(&mut self, wr: &mut WriteSide) -> io::Result<()> {
        self.take_output();
        while !self.wbuf.is_empty() {
            wr.write_some(&mut self.wbuf).await?;
        }
        if wr.is_tls() {
            wr.write_some(&mut self.wbuf).await?;
        }
        Ok(())
    }
}
