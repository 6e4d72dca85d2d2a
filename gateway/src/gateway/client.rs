//! The shared half of a client connection: its bounded output queue and wake-up.
//!
//! Commands from workers push into the queue from any task; the connection's own task drains
//! it, encodes and writes. The bound in bytes covers everything the gateway holds for the
//! client: the queue, plus what the connection task took from it (or its codec answered) and
//! has not written to the socket yet, which the task reports with [`ClientHandle::set_unsent`].
//! Taking from the queue frees nothing: a client that never reads fills its bound and no more.
//! When full the policy in config decides: close the slow client (default) or drop its oldest
//! queued messages.
//!
//! The same lock and wake-up carry the worker's completions of data events the connection
//! holds acks for (`event_done`); they take no memory until the first one.

use crate::client_id::ClientId;
use crate::config::OverflowPolicy;
use bytes::Bytes;
use codecs::Outbound;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};

/// Something the connection task must do.
#[derive(Debug)]
pub enum Out {
    /// Encode and send.
    Send(Outbound),
    /// Send a heartbeat ping (configured data, or the codec's own ping).
    Ping,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Out>,
    /// Bytes of `items`.
    bytes: usize,
    /// Bytes the connection task holds and has not written yet (its write buffer).
    unsent: usize,
    close: bool,
    /// Completions of data events (seq, accepted) the connection has not taken yet.
    done: Vec<(u64, bool)>,
}

/// What happened to a pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushResult {
    /// Queued.
    Queued,
    /// Messages dropped to make room (drop-oldest policy): this many older ones, and the new
    /// one too when `queued` is false (what the connection holds unwritten left no room even
    /// with the queue empty).
    DroppedOldest {
        /// Messages dropped, the new one included when it was not queued.
        dropped: u64,
        /// Whether the new message was queued.
        queued: bool,
    },
    /// The buffer was full: the client is being closed (close policy).
    Overflow,
    /// The client is already closing; nothing queued.
    Closing,
}

/// The shared state of one client connection.
#[derive(Debug)]
pub struct ClientHandle {
    /// The client's id.
    pub id: ClientId,
    queue: Mutex<Queue>,
    // A waker slot and a flag instead of a `Notify`: the connection task polls them without a
    // waiter node in its future, which keeps an idle connection small.
    wake: AtomicWaker,
    woken: AtomicBool,
    /// Heartbeat intervals passed with no inbound data.
    pub silent_intervals: AtomicU32,
    /// Messages dropped or refused for this client.
    pub dropped: AtomicU64,
    /// The worker this client's events go to (see `router`).
    pub worker: super::worker_slot::Assignment,
    /// uid, groups and session; allocated on first use so idle anonymous clients stay small.
    pub meta: Mutex<Option<Box<super::directory::Meta>>>,
}

fn out_len(o: &Out) -> usize {
    match o {
        Out::Send(Outbound::Data(b)) | Out::Send(Outbound::Binary(b)) => b.len(),
        _ => 0,
    }
}

impl ClientHandle {
    /// A handle with an empty queue.
    pub fn new(id: ClientId) -> Self {
        ClientHandle {
            id,
            queue: Mutex::new(Queue::default()),
            wake: AtomicWaker::new(),
            woken: AtomicBool::new(false),
            silent_intervals: AtomicU32::new(0),
            dropped: AtomicU64::new(0),
            worker: Mutex::new(None),
            meta: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue inconsistent (pushes and
        // pops are single operations), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `out` within `max_bytes` (counting what the connection holds unwritten too),
    /// applying `policy` when full, and wakes the task.
    pub fn push(&self, out: Out, max_bytes: usize, policy: OverflowPolicy) -> PushResult {
        let len = out_len(&out);
        let mut q = self.lock();
        if q.close {
            return PushResult::Closing;
        }
        let result = match q.make_room(len, max_bytes, policy) {
            Room::Fits => PushResult::Queued,
            Room::Overflow => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                drop(q);
                self.notify();
                return PushResult::Overflow;
            }
            Room::Dropped(dropped) if q.total() + len > max_bytes => {
                // Even an empty queue leaves no room: the new message goes as well.
                self.dropped.fetch_add(dropped + 1, Ordering::Relaxed);
                return PushResult::DroppedOldest {
                    dropped: dropped + 1,
                    queued: false,
                };
            }
            Room::Dropped(dropped) => {
                self.dropped.fetch_add(dropped, Ordering::Relaxed);
                PushResult::DroppedOldest {
                    dropped,
                    queued: true,
                }
            }
        };
        q.bytes += len;
        q.items.push_back(out);
        drop(q);
        self.notify();
        result
    }

    /// Records that the connection task holds `unsent` bytes not yet written (its write
    /// buffer: encoded messages, codec replies), and applies `policy` when that and the queue
    /// are over `max_bytes`. Called after every change: the count is exact between calls.
    pub fn set_unsent(&self, unsent: usize, max_bytes: usize, policy: OverflowPolicy) -> Unsent {
        let mut q = self.lock();
        let grew = unsent > q.unsent;
        q.unsent = unsent;
        if !grew || q.close {
            // Writing frees room; it never overflows (a full `drop_oldest` client that is
            // still over stays "full" until it is not).
            return if q.total() > max_bytes {
                Unsent::Full
            } else {
                Unsent::Fits
            };
        }
        match q.make_room(0, max_bytes, policy) {
            Room::Fits => Unsent::Fits,
            Room::Overflow => {
                drop(q);
                self.notify();
                Unsent::Overflow
            }
            Room::Dropped(dropped) => {
                self.dropped.fetch_add(dropped, Ordering::Relaxed);
                if q.total() > max_bytes {
                    Unsent::DroppedFull(dropped)
                } else {
                    Unsent::Dropped(dropped)
                }
            }
        }
    }

    /// Asks the task to close the client after sending what is queued, plus `last` if given.
    pub fn close(&self, last: Option<Bytes>) {
        let mut q = self.lock();
        if let Some(data) = last.filter(|d| !d.is_empty()) {
            q.bytes += data.len();
            q.items.push_back(Out::Send(Outbound::Data(data)));
        }
        q.close = true;
        drop(q);
        self.notify();
    }

    /// Hands every queued item to `f` in order; returns true when the client must close after.
    /// Their bytes stay counted, as unsent, until the task reports its write buffer with
    /// [`set_unsent`](Self::set_unsent).
    pub fn drain_with(&self, mut f: impl FnMut(Out)) -> bool {
        let mut q = self.lock();
        for item in q.items.drain(..) {
            f(item);
        }
        q.unsent += std::mem::take(&mut q.bytes);
        q.close
    }

    /// Whether a close was asked (an overflow, the heartbeat, a worker's command).
    pub fn close_asked(&self) -> bool {
        self.lock().close
    }

    /// Wakes the connection task (again: a wait that consumed a wake-up it does not handle
    /// passes it on).
    pub fn notify(&self) {
        self.woken.store(true, Ordering::Release);
        self.wake.wake();
    }

    /// Ready once something was queued or a close asked since the last ready poll.
    pub fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.woken.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.wake.register(cx.waker());
        // A notify between the swap and the register would otherwise be missed.
        if self.woken.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Whether something was queued (or a close asked) that the task has not taken yet.
    pub fn has_output(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    /// Waits until something is queued or a close is asked.
    pub async fn woken(&self) {
        std::future::poll_fn(|cx| self.poll_woken(cx)).await
    }

    /// Records inbound data: the client is alive.
    pub fn touch(&self) {
        if self.silent_intervals.load(Ordering::Relaxed) != 0 {
            self.silent_intervals.store(0, Ordering::Relaxed);
        }
    }

    /// The client's uid (empty when none) and encoded session, as events carry them.
    pub fn event_meta(&self) -> (String, Bytes) {
        let m = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        match m.as_deref() {
            None => (String::new(), Bytes::new()),
            Some(m) => (m.uid.clone().unwrap_or_default(), m.session.encoded()),
        }
    }

    /// Records that data event `seq` was accepted (`ok`) or refused by its worker, and wakes
    /// the connection task (it releases the acks that waited for it, or closes).
    pub fn event_done(&self, seq: u64, ok: bool) {
        self.lock().done.push((seq, ok));
        self.notify();
    }

    /// The completions recorded since the last call, in the order they came.
    pub fn take_done(&self) -> Vec<(u64, bool)> {
        std::mem::take(&mut self.lock().done)
    }

    /// Bytes held for the client: queued, plus taken by the connection task and not written.
    pub fn held_bytes(&self) -> usize {
        self.lock().total()
    }
}

/// What [`ClientHandle::set_unsent`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent {
    /// Within the bound.
    Fits,
    /// Over the bound under the close policy: the client is now closing.
    Overflow,
    /// This many queued messages were dropped to make room (drop-oldest policy).
    Dropped(u64),
    /// This many queued messages were dropped and the task's own bytes are still over the
    /// bound: the task should stop reading (no more replies) until writes free room.
    DroppedFull(u64),
    /// Still over the bound (drop-oldest policy, nothing left to drop): stop reading.
    Full,
}

/// What [`Queue::make_room`] did.
enum Room {
    Fits,
    /// Close policy: the close flag is now set.
    Overflow,
    /// Drop-oldest policy: this many queued messages dropped (the rest may still not fit).
    Dropped(u64),
}

impl Queue {
    /// Bytes held for the client in total.
    fn total(&self) -> usize {
        self.bytes + self.unsent
    }

    /// Makes room for `len` more bytes under `policy`.
    fn make_room(&mut self, len: usize, max_bytes: usize, policy: OverflowPolicy) -> Room {
        if self.total() + len <= max_bytes {
            return Room::Fits;
        }
        match policy {
            OverflowPolicy::Close => {
                self.close = true;
                Room::Overflow
            }
            OverflowPolicy::DropOldest => {
                let mut dropped = 0;
                while self.total() + len > max_bytes {
                    let Some(old) = self.items.pop_front() else {
                        break;
                    };
                    self.bytes -= out_len(&old);
                    dropped += 1;
                }
                Room::Dropped(dropped)
            }
        }
    }
}

/// A deferred acceptance reaches the connection through its handle.
impl crate::delivery::EventDone for ClientHandle {
    fn event_done(&self, seq: u64, accepted: bool) {
        ClientHandle::event_done(self, seq, accepted)
    }
}

/// What routing and worker links need of a client.
impl super::worker_slot::EventClient for ClientHandle {
    fn id(&self) -> crate::client_id::ClientId {
        self.id
    }
    fn assignment(&self) -> &super::worker_slot::Assignment {
        &self.worker
    }
    fn close_now(&self) {
        self.close(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn handle() -> ClientHandle {
        ClientHandle::new(ClientId {
            ip: Ipv4Addr::LOCALHOST,
            port: 1,
            conn: 1,
        })
    }

    fn data(n: usize) -> Out {
        Out::Send(Outbound::Data(Bytes::from(vec![b'x'; n])))
    }

    #[test]
    fn a_full_buffer_closes_the_client_under_the_close_policy() {
        let h = handle();
        assert_eq!(
            h.push(data(60), 100, OverflowPolicy::Close),
            PushResult::Queued
        );
        assert_eq!(
            h.push(data(60), 100, OverflowPolicy::Close),
            PushResult::Overflow
        );
        assert_eq!(
            h.push(data(1), 100, OverflowPolicy::Close),
            PushResult::Closing
        );
        let mut v = Vec::new();
        assert!(h.drain_with(|o| v.push(o)), "close requested");
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_under_the_drop_oldest_policy() {
        let h = handle();
        h.push(data(40), 100, OverflowPolicy::DropOldest);
        h.push(data(41), 100, OverflowPolicy::DropOldest);
        assert_eq!(
            h.push(data(42), 100, OverflowPolicy::DropOldest),
            PushResult::DroppedOldest {
                dropped: 1,
                queued: true
            }
        );
        assert_eq!(h.held_bytes(), 83);
        assert_eq!(h.dropped.load(Ordering::Relaxed), 1);
    }

    /// Takes everything queued, as the connection task does, "encoding" it as is.
    fn take(h: &ClientHandle) -> usize {
        let mut n = 0;
        h.drain_with(|o| n += out_len(&o));
        n
    }

    #[test]
    fn bytes_taken_by_the_connection_count_until_written() {
        let h = handle();
        h.push(data(60), 100, OverflowPolicy::Close);
        let taken = take(&h);
        assert_eq!(taken, 60);
        assert_eq!(h.held_bytes(), 60, "taken is not written");
        assert_eq!(h.set_unsent(60, 100, OverflowPolicy::Close), Unsent::Fits);
        assert_eq!(
            h.push(data(60), 100, OverflowPolicy::Close),
            PushResult::Overflow,
            "60 unwritten + 60 new is over 100"
        );
    }

    #[test]
    fn written_bytes_free_room() {
        let h = handle();
        h.push(data(60), 100, OverflowPolicy::Close);
        take(&h);
        h.set_unsent(60, 100, OverflowPolicy::Close);
        assert_eq!(h.set_unsent(10, 100, OverflowPolicy::Close), Unsent::Fits);
        assert_eq!(
            h.push(data(60), 100, OverflowPolicy::Close),
            PushResult::Queued
        );
        assert_eq!(h.held_bytes(), 70);
    }

    #[test]
    fn the_connections_own_bytes_over_the_bound_close_the_client_under_the_close_policy() {
        let h = handle();
        h.push(data(50), 100, OverflowPolicy::Close);
        // Codec replies (or encoding overhead) in the write buffer count as well.
        assert_eq!(
            h.set_unsent(51, 100, OverflowPolicy::Close),
            Unsent::Overflow
        );
        assert!(h.close_asked());
        assert_eq!(
            h.push(data(1), 100, OverflowPolicy::Close),
            PushResult::Closing
        );
    }

    #[test]
    fn the_connections_own_bytes_drop_queued_messages_under_the_drop_oldest_policy() {
        let h = handle();
        h.push(data(30), 100, OverflowPolicy::DropOldest);
        h.push(data(30), 100, OverflowPolicy::DropOldest);
        assert_eq!(
            h.set_unsent(50, 100, OverflowPolicy::DropOldest),
            Unsent::Dropped(1)
        );
        assert_eq!(h.held_bytes(), 80);
        // Nothing queued is left to drop: the connection must stop reading (no more replies).
        assert_eq!(
            h.set_unsent(120, 100, OverflowPolicy::DropOldest),
            Unsent::DroppedFull(1)
        );
        assert!(!h.close_asked(), "drop-oldest never closes");
        assert_eq!(
            h.set_unsent(110, 100, OverflowPolicy::DropOldest),
            Unsent::Full
        );
        assert_eq!(
            h.set_unsent(20, 100, OverflowPolicy::DropOldest),
            Unsent::Fits
        );
    }

    #[test]
    fn a_message_that_does_not_fit_beside_the_unwritten_bytes_is_dropped_under_drop_oldest() {
        let h = handle();
        h.push(data(30), 100, OverflowPolicy::DropOldest);
        take(&h);
        h.set_unsent(90, 100, OverflowPolicy::DropOldest);
        h.push(data(5), 100, OverflowPolicy::DropOldest);
        assert_eq!(
            h.push(data(20), 100, OverflowPolicy::DropOldest),
            PushResult::DroppedOldest {
                dropped: 2,
                queued: false
            },
            "the queued 5 and the new 20 go; 90 unwritten bytes stay"
        );
        assert_eq!(h.held_bytes(), 90);
        assert_eq!(h.dropped.load(Ordering::Relaxed), 2);
    }
}
