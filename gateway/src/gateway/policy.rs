//! A client connection's policy, apart from its I/O: what a decoded event becomes, when a
//! codec reply may leave (held acks), what the write buffer holds and how it counts against
//! the client's bound, and when and how the connection closes. No socket, no timer, no clock:
//! the connection task (`conn`) feeds it read bytes, routing results, the worker's completions
//! and `now`, and writes, routes and waits as it is told.
//!
//! Held acks (see `acks`): data events are numbered as they are routed, and a codec reply goes
//! out only once the worker has accepted the events it confirms. While nothing waits, a reply
//! goes straight into the write buffer (marked loose until the next data event is routed and
//! accepted at once, so it is not flushed early) and the policy keeps no window; the first
//! pending event creates an [`AckWindow`], completions arrive with the output wake-up, and
//! reading pauses while the window is full. A refused event closes the connection.
//!
//! Output bound: the write buffer counts against the client's `send_buffer_max` with its queue
//! (reported to the [`ClientHandle`] after each change), and the queue is taken only into an
//! empty write buffer, so a client that does not read holds at most its bound. A connection asked
//! to close (overflow, heartbeat, a worker's command) stops serving at once and gets
//! [`CLOSE_FLUSH_TIMEOUT`] to write what is left; then it is dropped.
//!
//! Heartbeat: inbound data (a message, a frame the codec answers, a WebSocket pong) resets the
//! client's silence count ([`ClientHandle::touch`]); the gateway-wide tick counts it up.

use super::acks::AckWindow;
use super::client::{ClientHandle, Out, Unsent};
use super::router::Routed;
use super::GatewayState;
use crate::config::AckMode;
use crate::proto::{DataMeta, Fields, FromGateway};
use bytes::{Bytes, BytesMut};
use codecs::{Codec, CodecError, Inbound, Outbound};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a closing client may take to receive what is still queued (and a TLS close):
/// long enough for a live client on a slow link, short enough that a client that stopped
/// reading does not keep its buffers. Also bounds the wait for a half-closed client's acks.
pub const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a codec's opening handshake (a WebSocket upgrade request) may take to arrive.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// While one read's messages are still being handled, replies already queued go out once this
/// much time has passed, so a slow in-process handler does not hold back every reply of a
/// burst until the burst is done.
pub const REPLY_LATENCY: Duration = Duration::from_millis(2);

/// Why a connection ended.
#[derive(Debug)]
pub enum End {
    /// The peer closed its side with nothing left to wait for.
    PeerClosed,
    /// The connection was asked to close (overflow, heartbeat, a worker, the peer's close frame).
    Closed,
    /// The socket failed.
    Io(io::Error),
    /// The codec found input it cannot go on from.
    Codec(CodecError),
    /// No worker is connected and the hold queue is full.
    HoldQueueFull,
    /// The codec's handshake did not arrive within [`HANDSHAKE_TIMEOUT`].
    HandshakeTimeout,
    /// The worker refused this data event.
    Refused(u64),
    /// The gateway is stopping: the client is read no more, gets what its pending events
    /// release, then is closed.
    Stopping,
}

impl End {
    /// Whether what is left in the write buffer should still go out, within
    /// [`CLOSE_FLUSH_TIMEOUT`]: not when the peer is gone or the socket failed.
    pub fn flushes(&self) -> bool {
        !matches!(self, End::PeerClosed | End::Io(_))
    }
}

/// What the connection must do after a decode step.
#[derive(Debug)]
pub enum Step {
    /// Every complete message of the read buffer is handled: read more.
    Read,
    /// Hand this event to the worker and report the result with [`Policy::routed`]; data
    /// events carry their number, others 0.
    Route(FromGateway, u64),
    /// The handshake is answered in the write buffer: write it, then route this event.
    Opened(FromGateway),
}

/// The policy half of one client connection (see the module docs).
pub struct Policy<'a> {
    state: &'a GatewayState,
    client: &'a Arc<ClientHandle>,
    codec: &'a mut dyn Codec,
    wbuf: BytesMut,
    /// `wbuf.len()` as last reported to the client handle (see `account`).
    reported: usize,
    /// False while `wbuf` alone is over the bound (drop-oldest policy): reading pauses, so
    /// the codec answers nothing more until writes free room.
    room: bool,
    closing: bool,
    /// The codec waits for its handshake; nothing else is answered until it comes.
    handshaking: bool,
    /// The number of the last data event routed (they count from 1).
    seq: u64,
    /// Held acks, while some data event is pending (boxed: idle connections stay small).
    acks: Option<Box<AckWindow>>,
    /// Without a window: where the replies not yet attached start in `wbuf`.
    loose: Option<u32>,
    /// Acks leave as soon as they are decoded (`ack = "on_decode"`): nothing is held.
    on_decode: bool,
    /// The listener's protocol, carried by every data event.
    protocol: Arc<str>,
}

impl<'a> Policy<'a> {
    /// The policy of `client`'s connection, speaking `codec`.
    pub fn new(
        state: &'a GatewayState,
        client: &'a Arc<ClientHandle>,
        codec: &'a mut dyn Codec,
        ack: AckMode,
        protocol: Arc<str>,
    ) -> Self {
        let handshaking = codec.expects_handshake();
        Policy {
            state,
            client,
            codec,
            wbuf: BytesMut::new(),
            reported: 0,
            room: true,
            closing: false,
            handshaking,
            seq: 0,
            acks: None,
            loose: None,
            on_decode: ack == AckMode::OnDecode,
            protocol,
        }
    }

    /// Whether the data event about to be routed confirms a reply waiting for it: a family
    /// codec yields a frame's ack before the frame's message. Only then does a worker in
    /// another process need to report the event's acceptance (see `ClientEvent::confirm`).
    pub fn confirms(&self) -> bool {
        !self.on_decode
            && (self.loose.is_some() || self.acks.as_ref().is_some_and(|w| w.has_loose()))
    }

    /// The client this policy serves (borrowed for the policy's life, not from it).
    pub fn client(&self) -> &'a Arc<ClientHandle> {
        self.client
    }

    /// The gateway this policy belongs to (borrowed for the policy's life, not from it).
    pub fn state(&self) -> &'a GatewayState {
        self.state
    }

    /// The first event of every connection.
    pub fn connect(&self, remote: SocketAddr) -> FromGateway {
        FromGateway::Connect {
            client: self.client.id,
            remote: remote.to_string(),
            protocol: self.protocol.to_string(),
        }
    }

    /// The last event of every connection.
    pub fn close_event(&self, uid: String, session: Bytes) -> FromGateway {
        FromGateway::Close {
            client: self.client.id,
            uid,
            session,
            protocol: self.protocol.clone(),
        }
    }

    /// When the codec's handshake must have come, if it expects one.
    pub fn handshake_deadline(&self, now: Instant) -> Option<Instant> {
        self.handshaking.then(|| now + HANDSHAKE_TIMEOUT)
    }

    /// Decodes the next event of `buf` (`eof`: the peer sent its last byte) and applies it;
    /// events that need no worker are handled here and decoding goes on.
    pub fn decode(&mut self, buf: &mut BytesMut, eof: bool) -> Result<Step, End> {
        loop {
            let r = if eof {
                self.codec.decode_eof(buf)
            } else {
                self.codec.decode(buf)
            };
            match r {
                Ok(Some(ev)) => {
                    if let Some(step) = self.on_event(ev) {
                        return Ok(step);
                    }
                }
                Ok(None) => {
                    self.settle();
                    return Ok(Step::Read);
                }
                Err(e) if e.can_continue() => {
                    self.state.stats.skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(client = %self.client.id, "skipped a message: {e}");
                }
                // A codec queues its error answer (an HTTP refusal) as a Reply first; the
                // close writes it.
                Err(e) => return Err(End::Codec(e)),
            }
        }
    }

    fn on_event(&mut self, ev: Inbound) -> Option<Step> {
        let client = self.client.id;
        match ev {
            Inbound::Message { data, fields } => {
                self.client.touch();
                self.state.stats.messages_in.fetch_add(1, Ordering::Relaxed);
                let fields = fields.map_or(Fields::None, Fields::Value);
                let (uid, session) = self.client.event_meta();
                self.seq += 1;
                let msg = FromGateway::Data {
                    client,
                    data,
                    meta: DataMeta::boxed(fields, uid, session),
                    protocol: self.protocol.clone(),
                };
                Some(Step::Route(msg, self.seq))
            }
            Inbound::Reply(bytes) => {
                self.client.touch();
                self.reply(bytes);
                None
            }
            Inbound::Identity(uid) => {
                self.settle();
                // The device said who it is: bind it here, so the uid is known to every
                // query and travels with every later event, before any worker acts.
                self.state.bind_uid(client, &uid);
                Some(Step::Route(FromGateway::Identity { client, uid }, 0))
            }
            Inbound::Handshake(req) if self.handshaking => {
                self.settle();
                self.handshaking = false;
                self.codec.answer_handshake(None, &mut self.wbuf);
                let request = serde_json::to_vec(&req).unwrap_or_default();
                Some(Step::Opened(FromGateway::WebSocketConnect {
                    client,
                    request: Bytes::from(request),
                    session: self.client.event_meta().1,
                }))
            }
            Inbound::Handshake(_) => {
                // A second handshake on one connection: answer nothing, the codec refuses data.
                self.settle();
                None
            }
            Inbound::Alive => {
                self.client.touch();
                self.settle();
                None
            }
            Inbound::Close(_) => {
                self.settle();
                self.closing = true;
                None
            }
        }
    }

    /// Event `seq` (0: not a data event) was routed with result `r`.
    #[inline]
    pub fn routed(&mut self, seq: u64, r: Routed) -> Result<(), End> {
        let pending = match r {
            Routed::Delivered => false,
            // Acks already went (or go) out as decoded: nothing waits for the worker.
            Routed::Deferred | Routed::Held if self.on_decode => false,
            Routed::Deferred | Routed::Held => true,
            Routed::Overflow => {
                if seq != 0 {
                    // Never accepted: the replies that confirm it must not go out with what
                    // the closing connection still writes.
                    self.data_routed(seq, true);
                }
                return Err(End::HoldQueueFull);
            }
        };
        if seq != 0 {
            self.data_routed(seq, pending);
        }
        Ok(())
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
    #[inline]
    fn data_routed(&mut self, seq: u64, pending: bool) {
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
    pub fn settle(&mut self) {
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

    /// Whether replies queued during a decode pass that began at `since` are due out now
    /// (`now` is asked only when some are).
    #[inline]
    pub fn reply_due(&self, since: Instant, now: impl FnOnce() -> Instant) -> bool {
        // Not while a loose reply sits in `wbuf`: its data event is not routed yet.
        self.loose.is_none()
            && self.client.has_output()
            && now().saturating_duration_since(since) >= REPLY_LATENCY
    }

    /// Something was queued or completed (the client's wake-up): takes both.
    pub fn woken(&mut self) -> Result<(), End> {
        self.take_done()?;
        self.take_output();
        if self.state.is_stopping() {
            return Err(End::Stopping);
        }
        Ok(())
    }

    /// Takes the worker's completions of pending data events; the replies they release go
    /// into the write buffer.
    pub fn take_done(&mut self) -> Result<(), End> {
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
    pub fn take_output(&mut self) {
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
    pub fn account(&mut self) {
        self.reported = self.wbuf.len();
        match self.state.hold(self.client, self.reported) {
            Unsent::Fits | Unsent::Dropped(_) => self.room = true,
            Unsent::Full | Unsent::DroppedFull(_) => self.room = false,
            Unsent::Overflow => self.closing = true,
        }
    }

    /// [`account`](Self::account), when the write buffer changed since the last report.
    pub fn account_changed(&mut self) {
        if self.wbuf.len() != self.reported {
            self.account();
        }
    }

    /// The bytes to write; the writer advances past what the socket took.
    pub fn unwritten(&mut self) -> &mut BytesMut {
        &mut self.wbuf
    }

    /// Whether bytes wait to be written.
    pub fn wants_write(&self) -> bool {
        !self.wbuf.is_empty()
    }

    /// After a write: an emptied buffer is given back (an idle client holds none) and what
    /// waited in the queue meanwhile is taken.
    pub fn written(&mut self) {
        if self.wbuf.is_empty() {
            self.wbuf = BytesMut::new();
            self.take_output();
        }
    }

    /// Whether the connection may read more: not while too much waits for the worker (TCP
    /// slows the device down and nothing is dropped) or for the socket (drop-oldest).
    pub fn can_read(&self) -> bool {
        self.room && self.acks.as_ref().is_none_or(|w| w.can_read())
    }

    /// Whether the connection must stop serving and close.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Whether no data event waits for the worker.
    pub fn is_settled(&self) -> bool {
        self.acks.is_none()
    }

    /// The peer closed its side: with data events still pending, what they release (replies,
    /// acks) may still go out until the returned deadline, as the peer may still read.
    pub fn half_closed(&self, now: Instant) -> Option<Instant> {
        self.acks.as_ref().map(|_| now + CLOSE_FLUSH_TIMEOUT)
    }

    /// The connection ends for `end` at `now`: when what is left should still be written, it
    /// must be by the returned deadline, after which it is dropped.
    pub fn close(&mut self, end: &End, now: Instant) -> Option<Instant> {
        self.closing = true;
        if !end.flushes() {
            return None;
        }
        self.settle();
        Some(now + CLOSE_FLUSH_TIMEOUT)
    }
}

#[cfg(test)]
mod tests;
