//! The byte budget of one peer's outgoing queue: what producers have queued for a link and its
//! writer has not written yet. A producer charges a message's weight before queueing it and the
//! writer releases it once the message is written, so the bytes a slow peer can make its
//! process hold are bounded, whatever the number of messages.
//!
//! A producer either takes room at once ([`Budget::try_charge`]: the caller applies its overflow
//! policy when there is none) or waits for the writer to free some, up to a deadline
//! ([`Budget::charge`]: a peer that reads nothing for that long is closed by the caller).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Bytes of answers that may wait for one internal peer (a worker or standalone API link, a
/// register listener): 64 parts of a paged answer, so a large answer streams without waiting
/// on every part, while a peer that asks and never reads holds at most this much.
pub const PEER_QUEUE_BYTES: usize = 4 * 1024 * 1024;

/// The bytes queued for one peer and not yet written, against a fixed bound.
#[derive(Debug)]
pub struct Budget {
    held: AtomicUsize,
    max: usize,
    /// Peak of `held` since the budget was made, for tests and logs.
    peak: AtomicU64,
    room: Notify,
}

impl Budget {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> Self {
        Budget {
            held: AtomicUsize::new(0),
            max,
            peak: AtomicU64::new(0),
            room: Notify::new(),
        }
    }

    /// Takes `n` bytes if they fit; `false` leaves the budget unchanged. A message larger than
    /// the whole budget fits an empty queue, so no message is refused for its size alone.
    pub fn try_charge(&self, n: usize) -> bool {
        let taken = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held == 0 || held + n <= self.max).then_some(held + n)
            });
        match taken {
            Ok(before) => {
                self.peak.fetch_max((before + n) as u64, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Takes `n` bytes, waiting for the writer to free room; `false` when `stall` passed
    /// without room enough (the peer reads too little: the caller closes it).
    pub async fn charge(&self, n: usize, stall: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + stall;
        loop {
            // Registered before the check, so a release between the check and the wait wakes it.
            let freed = self.room.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_charge(n) {
                return true;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return false;
            }
        }
    }

    /// The writer wrote messages weighing `n` bytes.
    pub fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let _ = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                Some(held.saturating_sub(n))
            });
        self.room.notify_waiters();
    }

    /// Bytes queued now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// The most bytes ever queued at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn charges_fit_up_to_the_bound_and_releases_make_room_again() {
        let b = Budget::new(100);
        assert!(b.try_charge(60));
        assert!(b.try_charge(40));
        assert!(!b.try_charge(1), "over the bound");
        assert_eq!(b.held(), 100);
        b.release(40);
        assert!(b.try_charge(30));
        assert!(!b.try_charge(31));
        assert_eq!((b.held(), b.peak()), (90, 100));
    }

    #[test]
    fn a_message_larger_than_the_bound_fits_only_an_empty_queue() {
        let b = Budget::new(100);
        assert!(b.try_charge(500));
        assert!(!b.try_charge(1));
        b.release(500);
        assert_eq!(b.held(), 0);
        assert!(b.try_charge(1));
        assert!(!b.try_charge(500));
    }

    #[test]
    fn releasing_more_than_held_does_not_wrap() {
        let b = Budget::new(100);
        assert!(b.try_charge(10));
        b.release(20);
        assert_eq!(b.held(), 0);
    }

    #[tokio::test]
    async fn a_charge_waits_for_room_and_gives_up_after_the_stall() {
        let b = Arc::new(Budget::new(100));
        assert!(b.try_charge(100));
        let waiting = {
            let b = b.clone();
            tokio::spawn(async move { b.charge(50, Duration::from_secs(60)).await })
        };
        // One thread: the spawned charge runs until it waits.
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "charged over the bound");
        b.release(60);
        assert!(waiting.await.unwrap(), "room was freed before the stall");
        assert_eq!(b.held(), 90);

        let stall = Duration::from_millis(100);
        let started = std::time::Instant::now();
        assert!(!b.charge(50, stall).await);
        assert!(started.elapsed() >= stall);
        assert_eq!(b.held(), 90, "a failed charge takes nothing");
    }
}
