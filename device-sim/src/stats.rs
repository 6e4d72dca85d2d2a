//! Live statistics of one group of devices, shared by its device tasks and read by the runner
//! every second.
//!
//! Device tasks keep their own counts and add the difference here once per batch of replies, so
//! the shared atomics are touched a few times per read, not per message. Latencies go into one of
//! several histograms, chosen by device index, each behind its own mutex, taken once per batch.

use crate::checker::Counts;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

/// Largest latency recorded exactly, in nanoseconds (larger ones are clamped to it).
pub const MAX_LATENCY_NS: u64 = 3_600_000_000_000;
const HISTOGRAM_SHARDS: usize = 16;
const FAMILY_FIELDS: usize = 9;

/// A histogram of latencies in nanoseconds, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).unwrap_or_else(|_| unreachable!())
}

/// Shared counters of one group.
#[derive(Debug)]
pub struct Stats {
    connected: AtomicU64,
    connects: AtomicU64,
    connect_errors: AtomicU64,
    disconnects: AtomicU64,
    reconnects: AtomicU64,
    counts: [AtomicU64; 9],
    family: [AtomicU64; FAMILY_FIELDS],
    histograms: Vec<Mutex<Histogram<u64>>>,
}

/// A copy of a group's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Connections open now.
    pub connected: u64,
    /// Successful connects so far (reconnects included).
    pub connects: u64,
    /// Failed connect attempts (TCP, TLS or WebSocket handshake).
    pub connect_errors: u64,
    /// Connections that dropped before the end of the run.
    pub disconnects: u64,
    /// Successful connects after a device's first.
    pub reconnects: u64,
    /// Message counts (for device families: frames waiting for an ack, and their acks).
    pub counts: Counts,
    /// What device-family devices did (zero for other groups).
    #[serde(default)]
    pub family: FamilyCounts,
}

/// What device-family devices did, beyond the acks counted in [`Counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FamilyCounts {
    /// Logins the server accepted (JT/T 808: authentications).
    pub logins: u64,
    /// Heartbeats sent.
    pub heartbeats: u64,
    /// Locations sent.
    pub locations: u64,
    /// Server commands received, each answered.
    pub downlinks: u64,
    /// Frames sent again from the tracker's memory after a reconnect.
    #[serde(default)]
    pub resent: u64,
    /// Locations acknowledged (each once, whichever of its sends the ack answered).
    #[serde(default)]
    pub locations_acked: u64,
    /// Frames still in a tracker's memory at the end of the run: never acknowledged.
    #[serde(default)]
    pub never_acked: u64,
    /// Frames pushed out of a full memory unacknowledged: the tracker forgot them.
    #[serde(default)]
    pub dropped_from_memory: u64,
    /// Locations of a family whose server does not ack them (the dialect says so): sent once,
    /// never kept or resent, and neither acked nor lost.
    #[serde(default)]
    pub without_ack: u64,
}

impl FamilyCounts {
    fn to_array(self) -> [u64; FAMILY_FIELDS] {
        [
            self.logins,
            self.heartbeats,
            self.locations,
            self.downlinks,
            self.resent,
            self.locations_acked,
            self.never_acked,
            self.dropped_from_memory,
            self.without_ack,
        ]
    }

    fn from_array(a: [u64; FAMILY_FIELDS]) -> FamilyCounts {
        FamilyCounts {
            logins: a[0],
            heartbeats: a[1],
            locations: a[2],
            downlinks: a[3],
            resent: a[4],
            locations_acked: a[5],
            never_acked: a[6],
            dropped_from_memory: a[7],
            without_ack: a[8],
        }
    }

    /// Adds `other` field by field.
    pub fn add(&mut self, other: &FamilyCounts) {
        let mut sum = self.to_array();
        for (s, o) in sum.iter_mut().zip(other.to_array()) {
            *s += o;
        }
        *self = FamilyCounts::from_array(sum);
    }

    /// Data frames lost for good: never acknowledged by the end of the run, or forgotten.
    pub fn unacked(&self) -> u64 {
        self.never_acked + self.dropped_from_memory
    }
}

impl Snapshot {
    /// Adds `other` field by field (merging groups or shards).
    pub fn add(&mut self, other: &Snapshot) {
        self.connected += other.connected;
        self.connects += other.connects;
        self.connect_errors += other.connect_errors;
        self.disconnects += other.disconnects;
        self.reconnects += other.reconnects;
        self.counts.add(&other.counts);
        self.family.add(&other.family);
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            connected: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            counts: Default::default(),
            family: Default::default(),
            histograms: (0..HISTOGRAM_SHARDS)
                .map(|_| Mutex::new(new_histogram()))
                .collect(),
        }
    }
}

fn to_array(c: &Counts) -> [u64; 9] {
    [
        c.sent,
        c.received,
        c.timed_out,
        c.unanswered,
        c.lost_in_disconnect,
        c.late,
        c.duplicated,
        c.out_of_order,
        c.corrupted,
    ]
}

fn from_array(a: [u64; 9]) -> Counts {
    Counts {
        sent: a[0],
        received: a[1],
        timed_out: a[2],
        unanswered: a[3],
        lost_in_disconnect: a[4],
        late: a[5],
        duplicated: a[6],
        out_of_order: a[7],
        corrupted: a[8],
    }
}

impl Stats {
    /// A connection opened; `reconnect` when it is not the device's first.
    pub fn connected(&self, reconnect: bool) {
        self.connects.fetch_add(1, Relaxed);
        self.connected.fetch_add(1, Relaxed);
        if reconnect {
            self.reconnects.fetch_add(1, Relaxed);
        }
    }

    /// A connection closed; `dropped` when it ended before the run did.
    pub fn closed(&self, dropped: bool) {
        self.connected.fetch_sub(1, Relaxed);
        if dropped {
            self.disconnects.fetch_add(1, Relaxed);
        }
    }

    /// A connect attempt failed.
    pub fn connect_failed(&self) {
        self.connect_errors.fetch_add(1, Relaxed);
    }

    /// Adds what a device counted since its last call: `now - *published`, then remembers `now`.
    pub fn publish(&self, now: &Counts, published: &mut Counts) {
        if now == published {
            return;
        }
        let delta = to_array(&now.since(published));
        for (cell, d) in self.counts.iter().zip(delta) {
            if d != 0 {
                cell.fetch_add(d, Relaxed);
            }
        }
        *published = *now;
    }

    /// Adds what a family device did since its last call: `now - *published`, then remembers `now`.
    pub fn publish_family(&self, now: &FamilyCounts, published: &mut FamilyCounts) {
        if now == published {
            return;
        }
        for ((cell, n), p) in self
            .family
            .iter()
            .zip(now.to_array())
            .zip(published.to_array())
        {
            if n > p {
                cell.fetch_add(n - p, Relaxed);
            }
        }
        *published = *now;
    }

    /// Records a batch of latencies (nanoseconds) from device `device`.
    pub fn record_latencies(&self, device: u64, latencies_ns: &[u64]) {
        if latencies_ns.is_empty() {
            return;
        }
        let shard = &self.histograms[(device as usize) % self.histograms.len()];
        // A poisoned lock only means another task panicked mid-record; the counts are still valid.
        let mut h = shard.lock().unwrap_or_else(PoisonError::into_inner);
        for &ns in latencies_ns {
            h.saturating_record(ns.max(1));
        }
    }

    /// The current counters.
    pub fn snapshot(&self) -> Snapshot {
        let mut counts = [0; 9];
        for (v, cell) in counts.iter_mut().zip(&self.counts) {
            *v = cell.load(Relaxed);
        }
        let mut family = [0; FAMILY_FIELDS];
        for (v, cell) in family.iter_mut().zip(&self.family) {
            *v = cell.load(Relaxed);
        }
        Snapshot {
            connected: self.connected.load(Relaxed),
            connects: self.connects.load(Relaxed),
            connect_errors: self.connect_errors.load(Relaxed),
            disconnects: self.disconnects.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            counts: from_array(counts),
            family: FamilyCounts::from_array(family),
        }
    }

    /// All latencies recorded so far, merged into one histogram.
    pub fn latency(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.histograms {
            let h = shard.lock().unwrap_or_else(PoisonError::into_inner);
            // Same bounds on both sides, so adding cannot fail.
            let _ = all.add(&*h);
        }
        all
    }
}
