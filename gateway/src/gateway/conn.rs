//! One task per client connection: the I/O loop that feeds its [`Policy`] (what events become,
//! held acks, the output bound, closing). It reads and hands the bytes to the policy, routes
//! the events the policy yields and reports the result back, writes what the policy holds, and
//! arms the deadlines the policy sets.
//!
//! An idle connection holds no read or write buffer: the read buffer is taken when the socket
//! becomes readable and dropped once every byte in it is decoded, and the write buffer is
//! dropped once written. That keeps idle memory per connection small (see BENCHMARKS.md). A few
//! drained read buffers are kept per thread and handed to the next readable connection.

use super::policy::{End, Policy, Step, CLOSE_FLUSH_TIMEOUT};
use super::GatewayState;
use crate::proto::FromGateway;
use bytes::{Buf, BytesMut};
use codecs::Codec;
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::timeout_at;
use tokio_rustls::server::TlsStream;

/// Bytes requested from the socket per read.
const READ_CHUNK: usize = 8 * 1024;
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
    pub protocol: Arc<str>,
    /// When the codec's acks leave.
    pub ack: crate::config::AckMode,
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
        policy: Policy::new(
            &state,
            &client,
            codec.as_mut(),
            info.ack,
            info.protocol.clone(),
        ),
        tls_dirty: false,
    };
    let mut rbuf: Option<BytesMut> = None;
    let end = conn
        .serve(&mut rd, &mut wr, &mut rbuf, remote)
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
        End::Stopping => {
            // Read no more; what its pending events release (held acks) still goes out.
            if let Some(deadline) = conn.policy.half_closed(Instant::now()) {
                let drain = conn.drain_pending(&mut wr);
                let _ = Box::pin(timeout_at(deadline.into(), drain)).await;
            }
        }
        End::Refused(seq) => {
            state.stats.refused_events.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                client = %id,
                "the worker refused data event {seq}: closing without confirming it"
            );
        }
    }
    if let Some(deadline) = conn.policy.close(&end, Instant::now()) {
        // Best effort: what is queued (a last message, a close frame) goes out first, within
        // a deadline: a client closed for not reading would otherwise hold its connection
        // and buffers for as long as it stays connected.
        let last = async {
            let r = conn.flush_rest(&mut wr).await;
            wr.shutdown().await;
            r
        };
        if Box::pin(timeout_at(deadline.into(), last)).await.is_err() {
            tracing::info!(
                client = %id,
                "unsent output dropped: not written within {CLOSE_FLUSH_TIMEOUT:?} of the close"
            );
        }
    }
    drop((rd, wr));
    state.remove_client(id);
    let (uid, session) = state.forget(&client);
    let close = conn.policy.close_event(uid, session);
    Box::pin(state.router.route(&client, close, 0, false)).await;
    state.router.release(&client);
}

/// The I/O half of a connection around its policy.
struct Conn<'a> {
    policy: Policy<'a>,
    /// TLS: bytes were written since the last flush.
    tls_dirty: bool,
}

impl Conn<'_> {
    async fn serve(
        &mut self,
        rd: &mut ReadSide,
        wr: &mut WriteSide,
        rbuf: &mut Option<BytesMut>,
        remote: SocketAddr,
    ) -> Result<(), End> {
        let connect = self.policy.connect(remote);
        Box::pin(self.route(connect, 0)).await?;
        if let Some(deadline) = self.policy.handshake_deadline(Instant::now()) {
            let handshake = timeout_at(deadline.into(), self.until_handshake(rd, wr, rbuf));
            match Box::pin(handshake).await {
                Ok(r) => r?,
                Err(_) => return Err(End::HandshakeTimeout),
            }
        }
        loop {
            self.policy.account_changed();
            if self.policy.is_closing() {
                // What is left goes out in `run`, within a deadline; waiting here for a
                // client that does not read would have none.
                return Err(End::Closed);
            }
            // One poll over the three sources, in this order (queued output first), instead
            // of `select!`: no sub-future state lives in an idle connection's task.
            let wants_write = self.policy.wants_write() || self.tls_dirty;
            let can_read = self.policy.can_read();
            let woke = poll_fn(|cx| {
                // Not held in a local across the wait: that would grow every idle task.
                if self.policy.client().poll_woken(cx).is_ready() {
                    return Poll::Ready(Woke::Queued);
                }
                if wants_write {
                    if let Poll::Ready(r) = wr.poll_write_some(cx, self.policy.unwritten()) {
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
                Woke::Queued => self.policy.woken()?,
                Woke::Wrote(r) => self.wrote(r.map_err(End::Io)?, wr),
                Woke::Read(r) => {
                    let n = r.map_err(End::Io)?;
                    if n == 0 {
                        if let Some(buf) = rbuf.as_mut() {
                            Box::pin(self.decode_all(buf, true, wr)).await?;
                        }
                        if let Some(deadline) = self.policy.half_closed(Instant::now()) {
                            let drain = self.drain_pending(wr);
                            match Box::pin(timeout_at(deadline.into(), drain)).await {
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
                match self.policy.decode(buf, false)? {
                    Step::Read => break,
                    Step::Route(msg, seq) => self.route(msg, seq).await?,
                    Step::Opened(msg) => {
                        self.flush(wr).await?;
                        self.route(msg, 0).await?;
                        // Frames sent right behind the upgrade request are already buffered.
                        self.decode_all(buf, false, wr).await?;
                        self.flush(wr).await?;
                        return Ok(());
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
        let (state, client) = (self.policy.state(), self.policy.client());
        let mut since_flush = Instant::now();
        loop {
            let (msg, seq) = match self.policy.decode(buf, eof)? {
                Step::Read => return Ok(()),
                Step::Route(msg, seq) => (msg, seq),
                // Only while handshaking, which `until_handshake` finished.
                Step::Opened(msg) => (msg, 0),
            };
            // Not through `route`: one future less to move the event through on the hot path.
            let confirm = self.policy.confirms();
            let r = state.router.route(client, msg, seq, confirm).await;
            self.policy.routed(seq, r)?;
            if self.policy.reply_due(since_flush, Instant::now) {
                self.write_ready(wr)?;
                since_flush = Instant::now();
            }
        }
    }

    /// Hands event `seq` (0: not data) to its worker and tells the policy how it went.
    async fn route(&mut self, msg: FromGateway, seq: u64) -> Result<(), End> {
        let state = self.policy.state();
        let confirm = self.policy.confirms();
        let r = state
            .router
            .route(self.policy.client(), msg, seq, confirm)
            .await;
        self.policy.routed(seq, r)
    }

    /// Writes what pending data events release, as they are accepted, until none is pending.
    async fn drain_pending(&mut self, wr: &mut WriteSide) -> Result<(), End> {
        loop {
            self.policy.take_done()?;
            self.flush(wr).await?;
            if self.policy.is_settled() {
                return Ok(());
            }
            self.policy.client().woken().await;
        }
    }

    /// Writes out the write buffer and the queue, unless a close is asked meanwhile: a client
    /// that does not read must not hold the task here, with no deadline, while its output
    /// overflows (`run` writes what is left within [`CLOSE_FLUSH_TIMEOUT`]).
    async fn flush(&mut self, wr: &mut WriteSide) -> Result<(), End> {
        let client = self.policy.client();
        let mut tls_dirty = wr.is_tls();
        let mut woken = false;
        let r = loop {
            self.policy.take_output();
            if self.policy.is_closing() {
                break Err(End::Closed);
            }
            if !self.policy.wants_write() && !tls_dirty {
                break Ok(());
            }
            let wrote = poll_fn(|cx| {
                if client.poll_woken(cx).is_ready() {
                    return Poll::Ready(None);
                }
                wr.poll_write_some(cx, self.policy.unwritten()).map(Some)
            })
            .await;
            match wrote {
                None => woken = true,
                Some(Err(e)) => break Err(End::Io(e)),
                Some(Ok(Wrote::Flushed)) => tls_dirty = false,
                Some(Ok(Wrote::Bytes)) => {
                    tls_dirty = wr.is_tls();
                    self.policy.account();
                }
            }
        };
        if woken {
            // The wake-up may carry completions (`take_done`): the serve loop handles them.
            client.notify();
        }
        r
    }

    /// Writes what the socket takes now, without waiting: replies of a long decode pass go
    /// out early, yet a client that does not read is still read from, so its output grows to
    /// the bound and the policy applies (waiting here would stall it unseen, forever).
    fn write_ready(&mut self, wr: &mut WriteSide) -> Result<(), End> {
        self.policy.take_output();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        while self.policy.wants_write() || self.tls_dirty {
            match wr.poll_write_some(&mut cx, self.policy.unwritten()) {
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
        self.policy.written();
    }

    /// Writes everything left before the connection is dropped (the caller bounds the time).
    async fn flush_rest(&mut self, wr: &mut WriteSide) -> io::Result<()> {
        loop {
            self.policy.take_output();
            if !self.policy.wants_write() {
                break;
            }
            wr.write_some(self.policy.unwritten()).await?;
        }
        if wr.is_tls() {
            wr.write_some(self.policy.unwritten()).await?;
        }
        Ok(())
    }
}
