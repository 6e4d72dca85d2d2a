//! One task per client connection: read, decode, route events; drain the output queue,
//! encode, write.
//!
//! An idle connection holds no read or write buffer: the read buffer is taken when the socket
//! becomes readable and dropped once every byte in it is decoded, and the write buffer is
//! dropped once written. That keeps idle memory per connection small (see BENCHMARKS.md). A few
//! drained read buffers are kept per thread and handed to the next readable connection.
//!
//! Held acks (see `acks`): data events are numbered as they are routed, and a codec reply goes
//! out only once the worker has accepted the events it confirms. While nothing waits, a reply
//! goes straight into the write buffer (marked loose until the next data event is routed and
//! accepted at once, so it is not flushed early) and the connection keeps no window; the first
//! pending event creates an [`AckWindow`], completions arrive with the output wake-up, and
//! reading pauses while the window is full. A refused event closes the connection.
//!
//! Output bound: the write buffer counts against the client's `send_buffer_max` with its queue
//! (reported to the [`ClientHandle`] after each change), and the queue is taken only into an
//! empty write buffer, so a client that does not read holds at most its bound. A connection
//! asked to close (overflow, heartbeat, a worker's command) stops serving at once and gets
//! [`CLOSE_FLUSH_TIMEOUT`] to write what is left; then it is dropped.

use super::acks::AckWindow;
use super::client::{ClientHandle, Out, Unsent};
use super::router::Routed;
use super::GatewayState;
use crate::proto::{DataMeta, Fields, FromGateway};
use bytes::{Buf, Bytes, BytesMut};
use codecs::{Codec, CodecError, Inbound, Outbound};
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Bytes requested from the socket per read.
const READ_CHUNK: usize = 8 * 1024;
/// How long a closing client may take to receive what is still queued (and a TLS close):
/// long enough for a live client on a slow link, short enough that a client that stopped
/// reading does not keep its buffers. Also bounds the wait for a half-closed client's acks.
pub const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// While one read's messages are still being handled, replies already queued go out once this
/// much time has passed, so a slow in-process handler does not hold back every reply of a
/// burst until the burst is done.
const REPLY_LATENCY: Duration = Duration::from_millis(2);

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

/// Drained read buffers kept per thread for the next readable connection.
const SPARE_MAX: usize = 16;

thread_local! {
    // When every read is one small message, each read would otherwise allocate and free an
    // 8 KiB buffer; idle connections still hold none.
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Drops a drained read buffer, keeping it for reuse when it is of the usual size.
fn give_back(slot: &mut Option<BytesMut>) {
    let Some(buf) = slot.take() else { return };
    if buf.is_empty() && (READ_CHUNK / 4..=2 * READ_CHUNK).contains(&buf.capacity()) {
        let _ = SPARE.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_MAX {
                s.push(buf);
            }
        });
    }
}

fn fresh_buffer() -> BytesMut {
    SPARE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| BytesMut::with_capacity(READ_CHUNK))
}

fn room(slot: &mut Option<BytesMut>) -> &mut BytesMut {
    let buf = slot.get_or_insert_with(fresh_buffer);
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    buf
}

impl ReadSide {
    /// Reads into `slot`, taking a buffer only once the socket is readable (plain TCP).
    /// Poll-based, so waiting stores no future state in the connection task.
    fn poll_read_some(
        &mut self,
        cx: &mut Context<'_>,
        slot: &mut Option<BytesMut>,
    ) -> Poll<io::Result<usize>> {
        match self {
            ReadSide::Plain(s) => {
                ready!(s.as_ref().poll_read_ready(cx))?;
                // `poll_read` rather than `try_read_buf`: a short read clears the readiness,
                // which saves the next `recv` that would only say "would block".
                let r = tokio_util::io::poll_read_buf(Pin::new(s), cx, room(slot));
                if r.is_pending() && slot.as_ref().is_some_and(|b| b.is_empty()) {
                    give_back(slot);
                }
                r
            }
            ReadSide::Tls(s) => tokio_util::io::poll_read_buf(Pin::new(s), cx, room(slot)),
        }
    }

    async fn read_some(&mut self, slot: &mut Option<BytesMut>) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read_some(cx, slot)).await
    }
}

impl WriteSide {
    /// Writes what it can of `buf` (TLS: flushes when `buf` is empty).
    fn poll_write_some(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<Wrote>> {
        match self {
            WriteSide::Tls(s) if buf.is_empty() => {
                Pin::new(s).poll_flush(cx).map_ok(|_| Wrote::Flushed)
            }
            WriteSide::Plain(s) => write_into(Pin::new(s), cx, buf),
            WriteSide::Tls(s) => write_into(Pin::new(s), cx, buf),
        }
    }

    async fn write_some(&mut self, buf: &mut BytesMut) -> io::Result<Wrote> {
        poll_fn(|cx| self.poll_write_some(cx, buf)).await
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

fn write_into<W: AsyncWrite>(
    w: Pin<&mut W>,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<Wrote>> {
    let n = ready!(w.poll_write(cx, buf))?;
    buf.advance(n);
    Poll::Ready(Ok(Wrote::Bytes))
}

/// What the idle wait of a connection woke for.
enum Woke {
    Queued,
    Wrote(io::Result<Wrote>),
    Read(io::Result<usize>),
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
    /// The worker refused this data event.
    Refused(u64),
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
        reported: 0,
        room: true,
        tls_dirty: false,
        closing: false,
        seq: 0,
        acks: None,
        loose: None,
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
        End::Refused(seq) => {
            state.stats.refused_events.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                client = %id,
                "the worker refused data event {seq}: closing without confirming it"
            );
        }
    }
    if !matches!(end, End::PeerClosed | End::Io(_)) {
        conn.settle();
        // Best effort: what is queued (a last message, a close frame) goes out first, within
        // a deadline: a client closed for not reading would otherwise hold its connection
        // and buffers for as long as it stays connected.
        let last = async {
            let r = conn.flush_rest(&mut wr).await;
            wr.shutdown().await;
            r
        };
        if Box::pin(tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, last))
            .await
            .is_err()
        {
            tracing::info!(
                client = %id,
                "unsent output dropped: not written within {CLOSE_FLUSH_TIMEOUT:?} of the close"
            );
        }
    }
    drop((rd, wr));
    state.remove_client(id);
    let (uid, session) = state.forget(&client);
    let close = FromGateway::Close {
        client: id,
        uid,
        session,
    };
    Box::pin(state.router.route(&client, close, 0)).await;
    state.router.release(&client);
}

struct Conn<'a> {
    state: &'a GatewayState,
    client: &'a Arc<ClientHandle>,
    codec: &'a mut dyn Codec,
    wbuf: BytesMut,
    /// `wbuf.len()` as last reported to the client handle (see `account`).
    reported: usize,
    /// False while `wbuf` alone is over the bound (drop-oldest policy): reading pauses, so
    /// the codec answers nothing more until writes free room.
    room: bool,
    /// TLS: bytes were written since the last flush.
    tls_dirty: bool,
    closing: bool,
    /// The number of the last data event routed (they count from 1).
    seq: u64,
    /// Held acks, while some data event is pending (boxed: idle connections stay small).
    acks: Option<Box<AckWindow>>,
    /// Without a window: where the replies not yet attached start in `wbuf`.
    loose: Option<u32>,
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
        Box::pin(self.route(FromGateway::Connect {
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
        loop {
            if self.wbuf.len() != self.reported {
                self.account();
            }
            if self.closing {
                // What is left goes out in `run`, within a deadline; waiting here for a
                // client that does not read would have none.
                return Err(End::Closed);
            }
            // One poll over the three sources, in this order (queued output first), instead
            // of `select!`: no sub-future state lives in an idle connection's task.
            let wants_write = !self.wbuf.is_empty() || self.tls_dirty;
            // While too much waits for the worker, the socket is left unread: TCP slows the
            // device down and nothing is dropped; completions wake the task.
            let can_read = self.room && self.acks.as_ref().is_none_or(|w| w.can_read());
            let woke = poll_fn(|cx| {
                if self.client.poll_woken(cx).is_ready() {
                    return Poll::Ready(Woke::Queued);
                }
                if wants_write {
                    if let Poll::Ready(r) = wr.poll_write_some(cx, &mut self.wbuf) {
                        return Poll::Ready(Woke::Wrote(r));
                    }
                }
                if !can_read {
                    return Poll::Pending;
                }
                rd.poll_read_some(cx, rbuf).map(Woke::Read)
            })
            .await;
            match woke {
                Woke::Queued => {
                    self.take_done()?;
                    self.take_output();
                }
                Woke::Wrote(r) => {
                    self.wrote(r.map_err(End::Io)?, wr);
                }
                Woke::Read(r) => {
                    let n = r.map_err(End::Io)?;
                    if n == 0 {
                        if let Some(buf) = rbuf.as_mut() {
                            Box::pin(self.decode_all(buf, true, wr)).await?;
                        }
                        if self.acks.is_some() {
                            // A half-closed peer may still read: what its pending events
                            // release (replies, acks) goes out as they are accepted, for a
                            // bounded time, before the close.
                            let drain = self.drain_pending(wr);
                            match Box::pin(tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, drain)).await {
                                Ok(Err(e)) => return Err(e),
                                Ok(Ok(())) | Err(_) => return Err(End::Closed),
                            }
                        }
                        return Err(End::PeerClosed);
                    }
                    if let Some(buf) = rbuf.as_mut() {
                        // Boxed: its state (routing, an inline handler) exists only while
                        // data is being handled, so an idle connection's task stays small.
                        Box::pin(self.decode_all(buf, false, wr)).await?;
                        if buf.is_empty() {
                            give_back(rbuf);
                        }
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
                    Ok(None) => {
                        self.settle();
                        break;
                    }
                    Ok(Some(Inbound::Handshake(req))) => {
                        self.settle();
                        self.codec.answer_handshake(None, &mut self.wbuf);
                        self.flush(wr).await?;
                        let request = serde_json::to_vec(&req).unwrap_or_default();
                        self.route(FromGateway::WebSocketConnect {
                            client: self.client.id,
                            request: Bytes::from(request),
                            session: self.client.event_meta().1,
                        })
                        .await?;
                        // Frames sent right behind the upgrade request are already buffered.
                        self.decode_all(buf, false, wr).await?;
                        self.flush(wr).await?;
                        return Ok(());
                    }
                    Ok(Some(other)) => self.on_event(other).await?,
                    Err(e) => {
                        // The codec queues its HTTP error response (if any) as a Reply first.
                        self.settle();
                        self.flush(wr).await?;
                        return Err(End::Codec(e));
                    }
                }
            }
        }
    }

    async fn decode_all(
        &mut self,
        buf: &mut BytesMut,
        eof: bool,
        wr: &mut WriteSide,
    ) -> Result<(), End> {
        let mut since_flush = Instant::now();
        loop {
            let r = if eof {
                self.codec.decode_eof(buf)
            } else {
                self.codec.decode(buf)
            };
            match r {
                Ok(Some(ev)) => {
                    self.on_event(ev).await?;
                    // Not while a loose reply sits in `wbuf`: its data event is not routed yet.
                    if self.loose.is_none()
                        && self.client.has_output()
                        && since_flush.elapsed() >= REPLY_LATENCY
                    {
                        self.write_ready(wr)?;
                        since_flush = Instant::now();
                    }
                }
                Ok(None) => {
                    self.settle();
                    return Ok(());
                }
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
                let fields = fields.map_or(Fields::None, Fields::Value);
                let (uid, session) = self.client.event_meta();
                self.seq += 1;
                let seq = self.seq;
                let msg = FromGateway::Data {
                    client,
                    data,
                    meta: DataMeta::boxed(fields, uid, session),
                };
                let pending = match self.state.router.route(self.client, msg, seq).await {
                    Routed::Delivered => false,
                    Routed::Deferred | Routed::Held => true,
                    Routed::Overflow => {
                        // Never accepted: the replies that confirm it must not go out with
                        // what the closing connection still writes.
                        self.routed(seq, true);
                        return Err(End::HoldQueueFull);
                    }
                };
                self.routed(seq, pending);
                Ok(())
            }
            Inbound::Reply(bytes) => {
                self.client.touch();
                self.reply(bytes);
                Ok(())
            }
            Inbound::Identity(uid) => {
                self.settle();
                // The device said who it is: bind it here, so the uid is known to every
                // query and travels with every later event, before any worker acts.
                self.state.bind_uid(client, &uid);
                self.route(FromGateway::Identity { client, uid }).await
            }
            Inbound::Handshake(_) => {
                // A second handshake on one connection: answer nothing, the codec refuses data.
                self.settle();
                Ok(())
            }
            Inbound::Alive => {
                self.client.touch();
                self.settle();
                Ok(())
            }
            Inbound::Close(_) => {
                self.settle();
                self.closing = true;
                Ok(())
            }
        }
    }

    /// Routes an event that is not data (it needs no acceptance).
    async fn route(&mut self, msg: FromGateway) -> Result<(), End> {
        match self.state.router.route(self.client, msg, 0).await {
            Routed::Delivered | Routed::Deferred | Routed::Held => Ok(()),
            Routed::Overflow => Err(End::HoldQueueFull),
        }
    }

    /// A codec reply: into the window, or straight into `wbuf` marked loose.
    fn reply(&mut self, bytes: Bytes) {
        if self.acks.is_none() && self.loose.is_none() {
            match u32::try_from(self.wbuf.len()) {
                Ok(at) => self.loose = Some(at),
                // Only for a write buffer past 4 GiB: a window places it as well.
                Err(_) => self.acks = Some(Box::default()),
            }
        }
        match self.acks.as_mut() {
            Some(w) => w.reply(bytes),
            None => self.wbuf.extend_from_slice(&bytes),
        }
    }

    /// Data event `seq` was routed; `pending` when the worker has not accepted it yet.
    fn routed(&mut self, seq: u64, pending: bool) {
        if self.acks.is_none() {
            let loose = self.loose.take();
            if !pending {
                // The fast path: nothing waits, so loose replies in `wbuf` may go as they are.
                return;
            }
            let w = self.acks.insert(Box::default());
            if let Some(at) = loose {
                w.reply(self.wbuf.split_off(at as usize).freeze());
            }
        }
        if let Some(w) = self.acks.as_mut() {
            for b in w.routed(seq, pending) {
                self.wbuf.extend_from_slice(&b);
            }
            if w.is_idle() {
                self.acks = None;
            }
        }
    }

    /// A decode pass ended, or a non-data event came: loose replies attach to the last data
    /// event routed, and go out if it and all before it are accepted.
    fn settle(&mut self) {
        self.loose = None;
        if let Some(w) = self.acks.as_mut() {
            for b in w.end_of_input() {
                self.wbuf.extend_from_slice(&b);
            }
            if w.is_idle() {
                self.acks = None;
            }
        }
    }

    /// Writes what pending data events release, as they are accepted, until none is pending.
    async fn drain_pending(&mut self, wr: &mut WriteSide) -> Result<(), End> {
        loop {
            self.take_done()?;
            self.flush(wr).await?;
            if self.acks.is_none() {
                return Ok(());
            }
            self.client.woken().await;
        }
    }

    /// Takes the worker's completions of pending data events; writes the replies they release.
    fn take_done(&mut self) -> Result<(), End> {
        let Some(w) = self.acks.as_mut() else {
            // No window, so no pending event: no completion to wait for.
            return Ok(());
        };
        for (seq, ok) in self.client.take_done() {
            for b in w.done(seq, ok) {
                self.wbuf.extend_from_slice(&b);
            }
        }
        if let Some(seq) = w.refused() {
            return Err(End::Refused(seq));
        }
        if w.is_idle() {
            self.acks = None;
        }
        Ok(())
    }

    /// Encodes what is queued into the write buffer, only once it is empty: until the socket
    /// took the last batch, messages wait in the queue, where the drop-oldest policy can still
    /// drop them. Notices a close asked meanwhile.
    fn take_output(&mut self) {
        let close = if self.wbuf.is_empty() {
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
            // The handle counted the taken messages by their length; now the exact bytes.
            self.account();
            close
        } else {
            self.client.close_asked()
        };
        if close {
            self.closing = true;
        }
    }

    /// Reports the write buffer to the client handle, so the client's bound counts it; the
    /// overflow policy applies here to codec replies (and encoding overhead) as to pushes.
    fn account(&mut self) {
        self.reported = self.wbuf.len();
        match self.state.hold(self.client, self.reported) {
            Unsent::Fits | Unsent::Dropped(_) => self.room = true,
            Unsent::Full | Unsent::DroppedFull(_) => self.room = false,
            Unsent::Overflow => self.closing = true,
        }
    }

    /// Writes out the write buffer and the queue, unless a close is asked meanwhile: a client
    /// that does not read must not hold the task here, with no deadline, while its output
    /// overflows (`run` writes what is left within [`CLOSE_FLUSH_TIMEOUT`]).
    async fn flush(&mut self, wr: &mut WriteSide) -> Result<(), End> {
        let mut tls_dirty = wr.is_tls();
        let mut woken = false;
        let r = loop {
            self.take_output();
            if self.closing {
                break Err(End::Closed);
            }
            if self.wbuf.is_empty() && !tls_dirty {
                break Ok(());
            }
            let wrote = poll_fn(|cx| {
                if self.client.poll_woken(cx).is_ready() {
                    return Poll::Ready(None);
                }
                wr.poll_write_some(cx, &mut self.wbuf).map(Some)
            })
            .await;
            match wrote {
                None => woken = true,
                Some(Err(e)) => break Err(End::Io(e)),
                Some(Ok(Wrote::Flushed)) => tls_dirty = false,
                Some(Ok(Wrote::Bytes)) => {
                    tls_dirty = wr.is_tls();
                    self.account();
                }
            }
        };
        if woken {
            // The wake-up may carry completions (`take_done`): the serve loop handles them.
            self.client.notify();
        }
        r
    }

    /// Writes what the socket takes now, without waiting: replies of a long decode pass go
    /// out early, yet a client that does not read is still read from, so its output grows to
    /// the bound and the policy applies (waiting here would stall it unseen, forever).
    fn write_ready(&mut self, wr: &mut WriteSide) -> Result<(), End> {
        self.take_output();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        while !self.wbuf.is_empty() || self.tls_dirty {
            match wr.poll_write_some(&mut cx, &mut self.wbuf) {
                Poll::Ready(r) => self.wrote(r.map_err(End::Io)?, wr),
                // The serve loop polls the socket again with its own waker.
                Poll::Pending => break,
            }
        }
        Ok(())
    }

    /// Bookkeeping after a write.
    fn wrote(&mut self, w: Wrote, wr: &WriteSide) {
        match w {
            Wrote::Bytes => self.tls_dirty = wr.is_tls(),
            Wrote::Flushed => self.tls_dirty = false,
        }
        if self.wbuf.is_empty() {
            // Give the buffer back: an idle client holds none.
            self.wbuf = BytesMut::new();
            // What waited in the queue while the buffer was being written.
            self.take_output();
        }
    }

    /// Writes everything left before the connection is dropped (the caller bounds the time).
    async fn flush_rest(&mut self, wr: &mut WriteSide) -> io::Result<()> {
        loop {
            self.take_output();
            if self.wbuf.is_empty() {
                break;
            }
            wr.write_some(&mut self.wbuf).await?;
        }
        if wr.is_tls() {
            wr.write_some(&mut self.wbuf).await?;
        }
        Ok(())
    }
}
