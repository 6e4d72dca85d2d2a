//! The gateway's side of a link to a worker in another process: at-least-once delivery.
//!
//! The writer numbers events in the order it writes them (1, 2, 3, ...; the worker counts the
//! same way) and keeps each in the link's [`Retention`] window until the worker acknowledges
//! it (`ToGateway::Ack`, cumulative). An acknowledged data event whose client waits for it
//! (a held device-family ack) is reported accepted to the client; a refused one
//! (`ToGateway::EventRefused`) closes its client unconfirmed.
//!
//! When the link ends, whatever the reason, the slot leaves routing first, then the writer
//! stops and gives back its queue, and the router hands over what the worker never
//! acknowledged (marked redelivered) followed by what was never written, ahead of the clients'
//! newer events (see `router`). A worker that says it is `Leaving` gets nothing new; once
//! everything it was sent is acknowledged, the same handover finds nothing to redeliver, the
//! worker is told `Released`, and the link closes.
//!
//! While the window is full the writer takes no more events: the link's queue fills, the
//! clients' connection tasks wait, TCP slows the devices; nothing is dropped.
//!
//! A worker that stops reading (its socket takes no byte for [`link::WRITE_STALL`] while there
//! is something to write, or answers to its queries wait unread as long) is closed like a dead
//! one, counted in `slow_links_closed`: its events go to the other workers by the handover
//! above. Answers wait in the link's control queue within a byte [`Budget`].

use super::queries::{reply_weight, Unserved};
use super::retention::{self, Retention};
use super::worker_slot::{ClientEvent, EventClient, WorkerSink};
use super::GatewayState;
use crate::budget::{Budget, PEER_QUEUE_BYTES};
use crate::link::{self, LinkReader, LinkWrite};
use crate::liveness::{self, Liveness};
use crate::proto::{self, FromGateway, LinkError, LinkMessage, ToGateway};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use timing::clock::now;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

/// Most events taken into one write.
const BATCH: usize = 1024;
/// Query answers and pongs queued for the link (they are few: a part of an answer at a time
/// per query asked; their bytes are bounded by the link's [`Budget`]).
const CONTROL_QUEUE: usize = 1024;

/// An event written to the link and not yet acknowledged: its frame as written (the event is
/// decoded again only if it must be redelivered), so that a kept event holds its share of one
/// write buffer and not the client's read buffer it was cut from.
struct Kept {
    client: Arc<dyn EventClient>,
    seq: u64,
    confirm: bool,
    /// The event's frame body (kind byte first).
    body: Bytes,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kept({} bytes)", self.body.len())
    }
}

impl Kept {
    /// The event again, for another worker; `None` if its frame does not decode (it was
    /// encoded by this process, so that would be a bug: logged).
    fn into_event(self) -> Option<ClientEvent> {
        match FromGateway::decode_body(self.body) {
            Ok(msg) => Some(ClientEvent {
                client: self.client,
                msg,
                seq: self.seq,
                confirm: self.confirm,
                redelivered: true,
            }),
            Err(e) => {
                tracing::error!(client = %self.client.id(), "a kept event does not decode: {e}");
                None
            }
        }
    }
}

/// What the writer and the reader of one link share.
#[derive(Debug)]
struct Window {
    kept: Mutex<Retention<Kept>>,
    /// Woken when an acknowledgement frees room.
    room: Notify,
    /// A leaving worker's queue is closed and the writer has taken (and written) all of it.
    queue_done: std::sync::atomic::AtomicBool,
    /// Woken when `queue_done` is set.
    queue_note: Notify,
    /// The writer gave up: the worker took no byte for [`link::WRITE_STALL`].
    stalled: std::sync::atomic::AtomicBool,
    /// The bytes of answers queued for the worker and not yet written.
    budget: Budget,
}

impl Window {
    fn lock(&self) -> std::sync::MutexGuard<'_, Retention<Kept>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why the link's loop ended.
enum Ended {
    /// The peer is gone or broke the protocol.
    Lost(LinkError),
    /// The writer stopped (a write failed, or the worker stopped reading).
    WriterDone,
    /// Answers to the worker's queries waited unread for [`link::WRITE_STALL`].
    Stalled,
    /// The worker left and everything it was sent is acknowledged.
    Released,
}

/// Serves one authenticated worker link until it ends, then hands its clients over.
pub(super) async fn serve(
    state: Arc<GatewayState>,
    name: String,
    peer: SocketAddr,
    mut reader: LinkReader<ToGateway>,
    wr: LinkWrite,
) {
    let (events_tx, events_rx) = mpsc::channel::<ClientEvent>(link::LINK_QUEUE);
    let (control_tx, control_rx) = mpsc::channel::<FromGateway>(CONTROL_QUEUE);
    let window = Arc::new(Window {
        kept: Mutex::new(Retention::new(retention::MAX_EVENTS, retention::MAX_BYTES)),
        room: Notify::new(),
        queue_done: Default::default(),
        queue_note: Notify::new(),
        stalled: Default::default(),
        budget: Budget::new(PEER_QUEUE_BYTES),
    });
    let (stop, finish) = (CancellationToken::new(), CancellationToken::new());
    let mut writer = tokio::spawn(write(
        state.clone(),
        wr,
        events_rx,
        control_rx,
        window.clone(),
        Ends {
            stop: stop.clone(),
            finish: finish.clone(),
        },
    ));
    let slot = state
        .router
        .add_worker(name.clone(), WorkerSink::Remote(events_tx))
        .await;
    // Logged once routable: tests and operators read it as "events reach it now".
    tracing::info!(worker = %name, %peer, "worker linked");
    let mut leaving = false;
    let mut written = None;
    let mut done = Vec::new();
    let ended = loop {
        tokio::select! {
            r = link::next(&mut reader, &control_tx) => match r {
                Ok(ToGateway::Ack { upto }) => {
                    acked(&state, &window, upto, &mut done);
                    if leaving && drained(&window) {
                        break Ended::Released;
                    }
                }
                Ok(ToGateway::EventRefused { seq }) => refused(&state, &window, seq),
                Ok(ToGateway::Leaving) => {
                    leaving = true;
                    // Out of routing, then the queue closes: what is in it still goes out,
                    // what comes later waits for the handover.
                    state.router.remove_worker(slot.id);
                    finish.cancel();
                    tracing::info!(worker = %name, "worker leaving: no new clients for it");
                }
                Ok(msg) => match state.answer_to(msg, &control_tx, &window.budget).await {
                    Ok(()) => {}
                    Err(Unserved::Closed) => break Ended::Lost(LinkError::Closed),
                    Err(Unserved::Stalled) => break Ended::Stalled,
                },
                Err(e) => break Ended::Lost(e),
            },
            () = window.queue_note.notified(), if leaving => {
                if drained(&window) {
                    break Ended::Released;
                }
            }
            done = &mut writer => {
                written = Some(done);
                break Ended::WriterDone;
            }
        }
    };
    // Out of routing first: from here its clients' new events wait for the handover.
    state.router.remove_worker(slot.id);
    if matches!(ended, Ended::Released) {
        // The writer ends by itself once `Released` is written (nothing else is left).
        let _ = control_tx.send(FromGateway::Released).await;
        if let Ok(done) = tokio::time::timeout(RELEASE_WRITE, &mut writer).await {
            written = Some(done);
        }
    }
    stop.cancel();
    let (mut queue, _) = match written {
        Some(done) => done,
        None => (&mut writer).await,
    }
    .unwrap_or_else(|_| {
        // The writer panicked: its queue is gone with it; what it wrote is still kept.
        let (_, rx) = mpsc::channel(1);
        (rx, None)
    });
    queue.close();
    let mut unsent = Vec::new();
    while let Ok(ev) = queue.try_recv() {
        unsent.push(ev);
    }
    let unacked = {
        let mut kept = window.lock();
        let bytes = kept.bytes() as u64;
        let all = kept.take_all();
        state
            .stats
            .retained
            .fetch_sub(all.len() as u64, Ordering::Relaxed);
        state
            .stats
            .retained_bytes
            .fetch_sub(bytes, Ordering::Relaxed);
        all.into_iter()
            .filter_map(Kept::into_event)
            .collect::<Vec<_>>()
    };
    match &ended {
        Ended::Released => tracing::info!(worker = %name, "worker released"),
        Ended::Lost(why) => tracing::info!(
            worker = %name,
            unacked = unacked.len(),
            unsent = unsent.len(),
            "worker link closed: {why}"
        ),
        Ended::WriterDone if !window.stalled.load(Ordering::Acquire) => tracing::info!(
            worker = %name,
            unacked = unacked.len(),
            unsent = unsent.len(),
            "worker link closed: write failed"
        ),
        Ended::WriterDone | Ended::Stalled => {
            state.slow_link_closed("worker", &name, peer, window.budget.held());
            tracing::info!(
                worker = %name,
                unacked = unacked.len(),
                unsent = unsent.len(),
                "worker link closed: the worker stopped reading"
            );
        }
    }
    if !unacked.is_empty() {
        tracing::warn!(
            worker = %name,
            events = unacked.len(),
            "redelivering the events the worker did not acknowledge"
        );
    }
    state.router.hand_over(&slot, unacked, unsent).await;
}

/// How long the writer may take to write `Released` to a leaving worker.
const RELEASE_WRITE: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether a leaving worker has been written everything it was to get and acknowledged all
/// of it.
fn drained(window: &Window) -> bool {
    window.queue_done.load(Ordering::Acquire) && window.lock().is_empty()
}

/// How the writer is told to end.
struct Ends {
    /// Now: the link is over.
    stop: CancellationToken,
    /// The worker is leaving: close the event queue, write what is in it, and end once
    /// `Released` is written.
    finish: CancellationToken,
}

/// The worker handled every event up to `upto`: their clients learn it. `done` is a buffer
/// kept across calls (empty in, empty out), so an acknowledgement allocates nothing.
fn acked(state: &GatewayState, window: &Window, upto: u64, done: &mut Vec<Kept>) {
    let bytes = {
        let mut kept = window.lock();
        let before = kept.bytes();
        kept.ack(upto, done);
        before - kept.bytes()
    };
    if done.is_empty() {
        return;
    }
    window.room.notify_one();
    state
        .stats
        .retained
        .fetch_sub(done.len() as u64, Ordering::Relaxed);
    state
        .stats
        .retained_bytes
        .fetch_sub(bytes as u64, Ordering::Relaxed);
    for ev in done.drain(..) {
        if ev.confirm && ev.seq != 0 {
            ev.client.event_done(ev.seq, true);
        }
    }
}

/// The worker could not handle event `seq`: its client closes without confirming it.
fn refused(state: &GatewayState, window: &Window, seq: u64) {
    let client: Option<(Arc<dyn EventClient>, u64, bool)> = window
        .lock()
        .get(seq)
        .map(|k| (k.client.clone(), k.seq, k.confirm));
    let Some((client, client_seq, confirm)) = client else {
        return;
    };
    if confirm && client_seq != 0 {
        // The connection closes itself, counted, once it sees the refusal.
        client.event_done(client_seq, false);
    } else {
        state.stats.refused_events.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(client = %client.id(), "the worker refused an event: closing the client");
        client.close_now();
    }
}

/// Writes the link: control messages as they come, events while the window has room, a ping
/// when idle. Ends when `stop` is cancelled or a write fails, giving back the event queue (and
/// the socket's write half, unless a write failed).
async fn write(
    state: Arc<GatewayState>,
    mut wr: LinkWrite,
    mut events: mpsc::Receiver<ClientEvent>,
    mut control: mpsc::Receiver<FromGateway>,
    window: Arc<Window>,
    ends: Ends,
) -> (mpsc::Receiver<ClientEvent>, Option<LinkWrite>) {
    let Ends { stop, finish } = ends;
    let mut closing = false;
    let mut last = false;
    let mut batch = Vec::with_capacity(64);
    let mut replies = Vec::new();
    let mut buf = BytesMut::new();
    let mut live = Liveness::new(now());
    let idle = tokio::time::sleep_until(live.ping_at().into());
    tokio::pin!(idle);
    let mut full = false;
    let mut written = Bytes::new();
    // The budget's share of what is being written (answers to queries).
    let mut weight = 0;
    loop {
        let room = window.lock().has_room();
        if !room && !full {
            state.stats.retention_full.fetch_add(1, Ordering::Relaxed);
        }
        full = !room;
        tokio::select! {
            biased;
            () = stop.cancelled() => return (events, Some(wr)),
            () = finish.cancelled(), if !closing => {
                closing = true;
                events.close();
                continue;
            }
            n = control.recv_many(&mut replies, 64) => {
                if n == 0 {
                    return (events, Some(wr));
                }
                for m in replies.drain(..) {
                    last |= matches!(m, FromGateway::Released);
                    weight += reply_weight(&m);
                    proto::encode_frame(&m, &mut buf);
                }
            }
            first = events.recv(), if room && !window.queue_done.load(Ordering::Acquire) => {
                let Some(first) = first else {
                    if closing {
                        // Everything queued before the close is written (and kept).
                        window.queue_done.store(true, Ordering::Release);
                        window.queue_note.notify_one();
                        continue;
                    }
                    return (events, Some(wr));
                };
                // Woken by the first event, this task would run right after its sender and
                // write it alone: go behind the tasks already runnable, so theirs share this
                // write. (No return between here and `keep`: a taken event is always in the
                // queue or in the window when the link ends.)
                link::requeue().await;
                let mut weight = first.weight();
                batch.push(first);
                let space = {
                    let kept = window.lock();
                    retention::MAX_BYTES.saturating_sub(kept.bytes())
                };
                while batch.len() < BATCH && weight < space {
                    match events.try_recv() {
                        Ok(ev) => {
                            weight += ev.weight();
                            batch.push(ev);
                        }
                        Err(_) => break,
                    }
                }
                written = keep(&state, &window, &mut batch, &mut buf);
            }
            () = window.room.notified(), if !room => continue,
            () = &mut idle => match live.poll_writer(now()) {
                liveness::Action::Wait(at) => {
                    idle.as_mut().reset(at.into());
                    continue;
                }
                _ => proto::encode_frame(&FromGateway::Ping, &mut buf),
            },
        }
        if written.is_empty() {
            written = buf.split().freeze();
        }
        let wrote = tokio::select! {
            biased;
            () = stop.cancelled() => return (events, Some(wr)),
            r = link::write_out_within(&mut wr, &mut written, link::WRITE_STALL) => r,
        };
        if let Err(e) = wrote {
            if e.kind() == std::io::ErrorKind::TimedOut {
                window.stalled.store(true, Ordering::Release);
            }
            tracing::debug!("worker link write failed: {e}");
            return (events, None);
        }
        window.budget.release(std::mem::take(&mut weight));
        if last {
            return (events, Some(wr));
        }
        live.on_sent(now());
        idle.as_mut().reset(live.ping_at().into());
    }
}

/// Encodes the events of `batch` after what `buf` holds and keeps their frames in the window,
/// in order; returns all of it, to write. The kept frames share that memory, so `buf` starts
/// afresh.
fn keep(
    state: &GatewayState,
    window: &Window,
    batch: &mut Vec<ClientEvent>,
    buf: &mut BytesMut,
) -> Bytes {
    let mut spans = Vec::with_capacity(batch.len());
    for ev in batch.iter() {
        if ev.redelivered {
            proto::encode_frame(&FromGateway::Redelivered, buf);
        }
        let start = buf.len();
        proto::encode_frame(&ev.msg, buf);
        // The body, past the 4-byte length.
        spans.push((start + 4, buf.len()));
    }
    // The next batch is likely as large as this one: room for it at once, not by doublings.
    let next = BytesMut::with_capacity(buf.len().max(4096));
    let written = std::mem::replace(buf, next).freeze();
    let (n, mut bytes) = (batch.len() as u64, 0u64);
    let mut kept = window.lock();
    for (ev, (from, to)) in batch.drain(..).zip(spans) {
        let body = written.slice(from..to);
        bytes += body.len() as u64;
        let len = body.len();
        kept.push(
            Kept {
                client: ev.client,
                seq: ev.seq,
                confirm: ev.confirm,
                body,
            },
            len,
        );
    }
    drop(kept);
    state.stats.retained.fetch_add(n, Ordering::Relaxed);
    state
        .stats
        .retained_bytes
        .fetch_add(bytes, Ordering::Relaxed);
    written
}
