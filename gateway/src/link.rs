//! An authenticated internal link: connect or accept with the handshake, then a batching writer
//! task and a reader with a liveness timeout. Used by register, gateway, worker and client.
//!
//! With [`Credentials::tls`] set, the link runs over TLS (`crate::tls::LinkTls`): the TLS
//! handshake comes first, then the same secret handshake and framing inside it. Either way
//! the link is the same code on [`LinkRead`] / [`LinkWrite`] (`stream`), which keep plain TCP's
//! owned halves. A peer that speaks TLS to a plaintext port, or plaintext to a TLS port, is
//! refused with a [`LinkError::Tls`] that says so.
//!
//! The writer drains every message already queued into one buffer and writes it with one
//! syscall, so under load many events share a write. When to ping and when to give a silent
//! link up is [`Liveness`]'s to say.

mod stream;

use crate::budget::Budget;
use crate::counters::{Kind, Sample, Samples};
use crate::liveness::{self, Liveness};
use crate::proto::{self, auth, Handshake, KeepAlive, LinkCodec, LinkError, Role};
use crate::tls::LinkTls;
use bytes::{Buf, BytesMut};
use futures_util::{FutureExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};
pub use stream::{LinkRead, LinkSocket, LinkWrite};
use timing::clock::now;
use timing::Throttle;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsStream;
use tokio_util::codec::{Decoder, Framed, FramedRead};

pub use liveness::{DEAD_AFTER, PING_EVERY};
/// Messages queued per link before senders wait (back-pressure, never unbounded).
pub const LINK_QUEUE: usize = 8192;
/// Most messages encoded into one write.
const BATCH: usize = 1024;

/// The reading half of an open link, reading the peer's messages `M`.
pub type LinkReader<M> = FramedRead<LinkRead, LinkCodec<M>>;

/// What a process proves itself with on internal links and how it checks its peers: the
/// shared secret of the handshake, and TLS under it when configured. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The shared secret; empty means none.
    pub secret: Arc<Vec<u8>>,
    /// TLS for every link of the process, or plain TCP.
    pub tls: Option<Arc<LinkTls>>,
}

impl Credentials {
    /// Plain TCP links with `secret`.
    pub fn plain(secret: impl Into<Vec<u8>>) -> Self {
        Credentials {
            secret: Arc::new(secret.into()),
            tls: None,
        }
    }
}

fn authenticated<S: LinkSocket, M: KeepAlive>(
    framed: Framed<S, LinkCodec<Handshake>>,
) -> (LinkReader<M>, LinkWrite) {
    let parts = framed.into_parts();
    let (rd, wr) = parts.io.into_halves();
    // Authenticated: the handshake codec's small limit gives way to the full one.
    let mut reader = FramedRead::new(rd, LinkCodec::default());
    // Bytes the handshake read past its last frame belong to the reader.
    reader.read_buffer_mut().extend_from_slice(&parts.read_buf);
    (reader, wr)
}

/// The first bytes of a TLS record: a handshake (a ClientHello) or an alert, TLS 1.0 to 1.3.
fn looks_like_tls(buf: &[u8], content_type: u8) -> bool {
    buf.len() >= 2 && buf[0] == content_type && buf[1] == 3
}

/// Says so when a plaintext handshake failed because the peer spoke TLS.
fn plaintext_failure(e: LinkError, read: &[u8], accepting: bool) -> LinkError {
    const HANDSHAKE: u8 = 0x16;
    const ALERT: u8 = 0x15;
    if accepting && looks_like_tls(read, HANDSHAKE) {
        return LinkError::Tls(
            "the peer speaks TLS but this port is plaintext (no [tls] on this side)".into(),
        );
    }
    if !accepting && (looks_like_tls(read, ALERT) || looks_like_tls(read, HANDSHAKE)) {
        return LinkError::Tls(
            "the peer answered in TLS: it takes only TLS links (set [tls], or --tls-ca)".into(),
        );
    }
    e
}

/// Names what went wrong in a TLS handshake in terms of the cluster's setup.
fn tls_failure(e: std::io::Error) -> LinkError {
    let why = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(err @ rustls::Error::InvalidCertificate(_)) => {
            format!("{err} (not signed by this cluster's CA, or not for this name?)")
        }
        Some(err @ rustls::Error::NoCertificatesPresented) => {
            format!("{err} (this side requires client certificates: client_auth)")
        }
        Some(err @ rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired)) => {
            format!("{err} (the peer requires a client certificate: cert and key in [tls])")
        }
        Some(err @ rustls::Error::AlertReceived(_)) => {
            format!("{err} (the peer refused this side's certificate: another CA?)")
        }
        Some(err @ rustls::Error::InvalidMessage(_)) => {
            format!("{err} (is the peer plaintext? it did not speak TLS)")
        }
        Some(err) => err.to_string(),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => "the peer closed the \
            connection in the TLS handshake (a plaintext port, or it refused this side's \
            certificate)"
            .into(),
        None => e.to_string(),
    };
    LinkError::Tls(why)
}

/// A TLS error that surfaces after the TLS handshake: with TLS 1.3 the connecting side is
/// done before the accepting side has checked its certificate, so a refusal arrives as an
/// alert on the first read.
fn tls_after_handshake(e: LinkError) -> LinkError {
    match e {
        LinkError::Io(io) if io.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => {
            tls_failure(io)
        }
        other => other,
    }
}

async fn connect_on<S: LinkSocket, M: KeepAlive>(
    io: S,
    secret: &[u8],
    role: Role,
    name: &str,
    plaintext: bool,
) -> Result<(LinkReader<M>, LinkWrite), LinkError> {
    let mut framed = Framed::new(io, LinkCodec::handshake());
    match auth::connect(&mut framed, secret, role, name).await {
        Ok(()) => Ok(authenticated(framed)),
        Err(e) if plaintext => Err(plaintext_failure(e, framed.read_buffer(), false)),
        Err(e) => Err(tls_after_handshake(e)),
    }
}

/// Connects to `addr` and authenticates as `role`; the peer then sends messages `M`.
pub async fn connect<M: KeepAlive>(
    addr: &str,
    credentials: &Credentials,
    role: Role,
    name: &str,
) -> Result<(LinkReader<M>, LinkWrite), LinkError> {
    let tcp = tokio::time::timeout(auth::HANDSHAKE_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| LinkError::Timeout)??;
    let _ = tcp.set_nodelay(true);
    let secret = &credentials.secret;
    let Some(tls) = &credentials.tls else {
        return connect_on(tcp, secret, role, name, true).await;
    };
    let server_name = tls
        .server_name(addr)
        .map_err(|e| LinkError::Tls(e.to_string()))?;
    let stream = tokio::time::timeout(
        auth::HANDSHAKE_TIMEOUT,
        tls.connector().connect(server_name, tcp),
    )
    .await
    .map_err(|_| LinkError::Timeout)?
    .map_err(tls_failure)?;
    connect_on(TlsStream::Client(stream), secret, role, name, false).await
}

async fn accept_on<S: LinkSocket, M: KeepAlive>(
    io: S,
    secret: &[u8],
    allowed: &[Role],
    plaintext: bool,
) -> Result<(Role, String, LinkReader<M>, LinkWrite), LinkError> {
    let mut framed = Framed::new(io, LinkCodec::handshake());
    match auth::accept(&mut framed, secret, allowed).await {
        Ok((role, name)) => {
            let (r, w) = authenticated(framed);
            Ok((role, name, r, w))
        }
        Err(e) if plaintext => Err(plaintext_failure(e, framed.read_buffer(), true)),
        Err(e) => Err(tls_after_handshake(e)),
    }
}

/// Authenticates an accepted connection; returns the peer's role and name with the halves.
/// Until it is authenticated the peer may send only handshake-sized frames, and the whole
/// handshake (TLS's included) must end within [`HANDSHAKE_DEADLINE`]; otherwise the
/// connection is dropped.
pub async fn accept<M: KeepAlive>(
    tcp: TcpStream,
    credentials: &Credentials,
    allowed: &[Role],
) -> Result<(Role, String, LinkReader<M>, LinkWrite), LinkError> {
    let _ = tcp.set_nodelay(true);
    let secret = &credentials.secret;
    let handshake = async {
        let Some(tls) = &credentials.tls else {
            return accept_on(tcp, secret, allowed, true).await;
        };
        let Some(acceptor) = tls.acceptor() else {
            return Err(LinkError::Tls(
                "this process has no certificate to accept TLS links with".into(),
            ));
        };
        let stream = acceptor.accept(tcp).await.map_err(tls_failure)?;
        accept_on(TlsStream::Server(stream), secret, allowed, false).await
    };
    tokio::time::timeout(HANDSHAKE_DEADLINE, handshake)
        .await
        .map_err(|_| LinkError::Timeout)?
}

/// The whole accepting handshake, whatever the peer does. Each step already waits at most
/// `HANDSHAKE_TIMEOUT` for the next message; this bounds the sum (two messages are read, and
/// replies are written to a peer that might not read), so a slot of [`PreauthGate`] is held
/// for a bounded time.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// Connections per listening port (internal, register) that may be in the handshake at once.
/// A legitimate fleet links a handful of workers, gateways and standalone APIs, each handshake
/// lasting a round trip or two, so 64 is never reached in normal use; it bounds what peers
/// without the secret can make the process hold (64 x a few KiB of buffers and a task).
pub const MAX_UNAUTHENTICATED: usize = 64;

/// Most one rate-limited "over the cap" warning is logged per port.
const REFUSED_WARN_EVERY: Duration = Duration::from_secs(1);

/// Caps the connections of one listening port that are not yet authenticated.
/// Connections over the cap are closed at once, counted, and reported by a rate-limited warning.
#[derive(Debug)]
pub struct PreauthGate {
    port: &'static str,
    sample: &'static str,
    max: usize,
    slots: Arc<Semaphore>,
    refused: AtomicU64,
    warnings: Mutex<Throttle>,
}

impl PreauthGate {
    /// A gate for the port named `port` (in logs) letting `max` connections handshake at once;
    /// its refusals are the counter `sample` (see [`Samples`]).
    pub fn new(port: &'static str, sample: &'static str, max: usize) -> Self {
        PreauthGate {
            port,
            sample,
            max,
            slots: Arc::new(Semaphore::new(max)),
            refused: AtomicU64::new(0),
            warnings: Mutex::new(Throttle::new(REFUSED_WARN_EVERY)),
        }
    }

    /// A slot to hold until the handshake is over, or `None` (the caller closes the
    /// connection) when `max` connections are already handshaking.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        let report = self
            .warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .report(Instant::now());
        if let Some(held) = report {
            tracing::warn!(
                port = %self.port,
                closed = held + 1,
                total = self.refused.load(Ordering::Relaxed),
                "{} unauthenticated connections already handshaking: closed new ones at once",
                self.max
            );
        }
        None
    }

    /// Connections closed so far because the cap was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// The refusals, for the counter registry (status and metrics).
impl Samples for PreauthGate {
    fn samples(&self, out: &mut Vec<Sample>) {
        out.push(Sample {
            name: self.sample,
            kind: Kind::Counter,
            help:
                "Connections closed unauthenticated because the port's handshake cap was reached.",
            value: Some(self.refused()),
        });
    }
}

/// Starts the batching writer of messages `M`; the returned sender is the link's bounded
/// queue. The task ends when every sender is dropped or the socket fails.
pub fn spawn_writer<M: KeepAlive>(wr: LinkWrite) -> (mpsc::Sender<M>, tokio::task::JoinHandle<()>) {
    spawn_writer_bounded(wr, Arc::new(Budget::new(usize::MAX)), |_| 0)
}

/// [`spawn_writer`], whose queue is also bounded in bytes: producers charge `budget` with a
/// message's `weigh` before queueing it, and the writer releases that once it is written.
pub fn spawn_writer_bounded<M: KeepAlive>(
    mut wr: LinkWrite,
    budget: Arc<Budget>,
    weigh: fn(&M) -> usize,
) -> (mpsc::Sender<M>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<M>(LINK_QUEUE);
    let task = tokio::spawn(async move {
        let mut weight = 0;
        let mut batch = Vec::with_capacity(64);
        let mut buf = BytesMut::new();
        let mut live = Liveness::new(now());
        let idle = tokio::time::sleep_until(live.ping_at().into());
        tokio::pin!(idle);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        let _ = wr.shutdown().await;
                        return;
                    }
                    // Woken by the first message, this task would run right after its sender
                    // (the scheduler's next-task slot) and write that message alone: go behind
                    // the tasks already runnable, so their messages share this write.
                    requeue().await;
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(m) => batch.push(m),
                            Err(_) => break,
                        }
                    }
                    for m in batch.drain(..) {
                        weight += weigh(&m);
                        proto::encode_frame(&m, &mut buf);
                    }
                }
                () = &mut idle => match live.poll_writer(now()) {
                    liveness::Action::Wait(at) => {
                        idle.as_mut().reset(at.into());
                        continue;
                    }
                    _ => proto::encode_frame(&M::ping(), &mut buf),
                },
            }
            if let Err(e) = write_out(&mut wr, &mut buf).await {
                tracing::debug!("link write failed: {e}");
                return;
            }
            budget.release(std::mem::take(&mut weight));
            live.on_sent(now());
            idle.as_mut().reset(live.ping_at().into());
            if buf.capacity() > 1024 * 1024 {
                buf = BytesMut::new();
            }
        }
    });
    (tx, task)
}

/// Writes all of `buf` and flushes (TLS may hold the last records until then; a flush of
/// plain TCP does nothing).
pub async fn write_out(wr: &mut LinkWrite, buf: &mut impl bytes::Buf) -> std::io::Result<()> {
    wr.write_all_buf(buf).await?;
    wr.flush().await
}

/// How long a link may take no bytes while there are some for it before it is given up: twice
/// the longest freeze the delivery tests put a live worker through, well under [`DEAD_AFTER`].
pub const WRITE_STALL: Duration = Duration::from_secs(10);

/// How long a link closed for reading too little still gets to take what is queued for it.
pub const CLOSE_WRITE: Duration = Duration::from_secs(2);

/// Writes all of `buf`, failing with `TimedOut` when the peer takes no byte for `stall`
/// (a peer that stopped reading, not merely a slow one).
pub async fn write_all_within<W: AsyncWrite + Unpin>(
    wr: &mut W,
    buf: &mut impl Buf,
    stall: Duration,
) -> std::io::Result<()> {
    while buf.has_remaining() {
        // The usual case, a socket with room, arms no timer: one poll, then the wait if any.
        let wrote = match wr.write_buf(buf).now_or_never() {
            Some(r) => Ok(r),
            None => tokio::time::timeout(stall, wr.write_buf(buf)).await,
        };
        match wrote {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
        }
    }
    Ok(())
}

/// [`write_all_within`], then the flush [`write_out`] does, both within `stall`.
pub async fn write_out_within(
    wr: &mut LinkWrite,
    buf: &mut impl Buf,
    stall: Duration,
) -> std::io::Result<()> {
    write_all_within(wr, buf, stall).await?;
    match tokio::time::timeout(stall, wr.flush()).await {
        Ok(flushed) => flushed,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Puts the current task at the back of its scheduler's run queue, without polling for I/O
/// (unlike `tokio::task::yield_now`, which defers the task until the driver is polled).
pub(crate) async fn requeue() {
    let mut queued = false;
    std::future::poll_fn(|cx| {
        if queued {
            return Poll::Ready(());
        }
        queued = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// The next message from the peer, answering pings; `Err` when the link is over.
pub async fn next<In: KeepAlive, Out: KeepAlive>(
    reader: &mut LinkReader<In>,
    tx: &mpsc::Sender<Out>,
) -> Result<In, LinkError> {
    loop {
        // A frame already in the buffer is taken without arming the liveness timer (a clock
        // read and a timer entry per message): under load most frames arrive many per read.
        let mut codec = reader.decoder().clone();
        let got = match codec.decode(reader.read_buffer_mut()).transpose() {
            Some(r) => Ok(Some(r)),
            None => {
                // Waiting starts where the last frame was taken: that is when it was heard.
                let live = Liveness::new(now());
                tokio::time::timeout_at(live.dead_at().into(), reader.next()).await
            }
        };
        match got {
            Err(_) => return Err(LinkError::Timeout),
            Ok(None) => return Err(LinkError::Closed),
            // A TLS peer that dies (or is killed) sends no close_notify: it closed all the same.
            Ok(Some(Err(LinkError::Io(e)))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(LinkError::Closed)
            }
            Ok(Some(Err(e))) => return Err(e),
            Ok(Some(Ok(m))) if m.is_ping() => {
                let _ = tx.try_send(Out::pong());
            }
            Ok(Some(Ok(m))) if m.is_pong() => {}
            Ok(Some(Ok(m))) => return Ok(m),
        }
    }
}
