//! The shared half of a client connection: its bounded output queue and wake-up.
//!
//! Commands from workers push into the queue from any task; the connection's own task drains
//! it, encodes and writes. The queue is bounded in bytes; when full the policy in config
//! decides: close the slow client (default) or drop its oldest queued messages.
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
    bytes: usize,
    close: bool,
    /// Completions of data events (seq, accepted) the connection has not taken yet.
    done: Vec<(u64, bool)>,
}

/// What happened to a pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushResult {
    /// Queued.
    Queued,
    /// Queued after dropping older messages (drop-oldest policy).
    DroppedOldest,
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
    pub worker: super::router::Assignment,
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

    /// Queues `out` within `max_bytes`, applying `policy` when full, and wakes the task.
    pub fn push(&self, out: Out, max_bytes: usize, policy: OverflowPolicy) -> PushResult {
        let len = out_len(&out);
        let mut q = self.lock();
        if q.close {
            return PushResult::Closing;
        }
        let mut result = PushResult::Queued;
        if q.bytes + len > max_bytes {
            match policy {
                OverflowPolicy::Close => {
                    q.close = true;
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    drop(q);
                    self.notify();
                    return PushResult::Overflow;
                }
                OverflowPolicy::DropOldest => {
                    while q.bytes + len > max_bytes {
                        match q.items.pop_front() {
                            Some(old) => {
                                q.bytes -= out_len(&old);
                                self.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                            None => break,
                        }
                    }
                    result = PushResult::DroppedOldest;
                }
            }
        }
        q.bytes += len;
        q.items.push_back(out);
        drop(q);
        self.notify();
        result
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
    pub fn drain_with(&self, mut f: impl FnMut(Out)) -> bool {
        let mut q = self.lock();
        for item in q.items.drain(..) {
            f(item);
        }
        q.bytes = 0;
        q.close
    }

    fn notify(&self) {
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

    /// Bytes queued and not yet taken by the connection task.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
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
            PushResult::DroppedOldest
        );
        assert_eq!(h.queued_bytes(), 83);
        assert_eq!(h.dropped.load(Ordering::Relaxed), 1);
    }
}
