//! Per-connection reply checking: which replies are fresh, duplicated, out of order, late or
//! corrupted, and which messages were lost. A pure state machine: no I/O, and the time is passed in.
//!
//! Sequence numbers are given out in order, so the messages still waiting for a reply form a
//! window `[base, next_seq)`: one slot per message, holding its send time or "received".
//! The window's front advances over answered messages, and over messages that waited longer than
//! the loss timeout, which are declared lost; so a reply below `base` is either a duplicate or a
//! late arrival of a message declared lost (a short memory of those tells them apart). The window
//! has a hard size: when full, its oldest message is declared lost, so memory stays bounded even
//! against a server that answers nothing.
//!
//! Definitions, so the report is exact:
//! - *out of order*: a fresh reply whose sequence number is below one already received;
//! - *duplicated*: a second (or later) reply to the same message;
//! - *corrupted*: a reply that is not a payload this device sent intact; its message, never
//!   answered intact, is also counted lost;
//! - *lost*: no intact reply within the loss timeout, or by the end of the run's grace period;
//! - *late*: a reply that came after its message was declared lost (it is then not lost).

use crate::payload::{PayloadFormat, Stamp};
use std::collections::VecDeque;

const RECEIVED: u64 = u64::MAX;
/// How many recently declared-lost sequence numbers are remembered to recognise late replies.
const LOST_MEMORY: usize = 1024;

/// Monotonic counts of what a checker saw; adding them up across connections is meaningful.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Messages sent.
    pub sent: u64,
    /// Fresh, intact replies (each message counted once).
    pub received: u64,
    /// Messages declared lost after the loss timeout (or pushed out of a full window).
    pub timed_out: u64,
    /// Messages still unanswered at the end of the run, after the grace period.
    pub unanswered: u64,
    /// Messages in flight when their connection dropped.
    pub lost_in_disconnect: u64,
    /// Replies that came after their message was declared lost.
    pub late: u64,
    /// Extra replies to an already answered message.
    pub duplicated: u64,
    /// Fresh replies that came after a reply to a later message.
    pub out_of_order: u64,
    /// Replies that are not an intact payload of this device.
    pub corrupted: u64,
}

impl Counts {
    /// Messages never answered intact on a live connection: timed out or unanswered, less late ones.
    pub fn lost(&self) -> u64 {
        (self.timed_out + self.unanswered).saturating_sub(self.late)
    }

    /// Adds `other` field by field.
    pub fn add(&mut self, other: &Counts) {
        self.sent += other.sent;
        self.received += other.received;
        self.timed_out += other.timed_out;
        self.unanswered += other.unanswered;
        self.lost_in_disconnect += other.lost_in_disconnect;
        self.late += other.late;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.corrupted += other.corrupted;
    }

    /// `self - earlier`, field by field (counts only grow).
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            sent: self.sent - earlier.sent,
            received: self.received - earlier.received,
            timed_out: self.timed_out - earlier.timed_out,
            unanswered: self.unanswered - earlier.unanswered,
            lost_in_disconnect: self.lost_in_disconnect - earlier.lost_in_disconnect,
            late: self.late - earlier.late,
            duplicated: self.duplicated - earlier.duplicated,
            out_of_order: self.out_of_order - earlier.out_of_order,
            corrupted: self.corrupted - earlier.corrupted,
        }
    }
}

/// What one reply turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first intact reply to a message in flight.
    Fresh {
        /// Now minus the payload's send time.
        latency_ns: u64,
        /// It came after a reply to a later message.
        out_of_order: bool,
    },
    /// A reply to a message already declared lost.
    Late {
        /// Now minus the payload's send time.
        latency_ns: u64,
    },
    /// Another reply to an answered message.
    Duplicate,
    /// Not an intact payload this device sent.
    Corrupted,
}

/// How a connection's checking ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The run ended: messages still in flight are unanswered.
    RunOver,
    /// The connection dropped: messages in flight are lost with it.
    Disconnected,
}

/// The reply checker of one device's connection.
#[derive(Debug)]
pub struct Checker {
    device: u32,
    next_seq: u64,
    base: u64,
    window: VecDeque<u64>,
    max_window: usize,
    pending: usize,
    max_received: Option<u64>,
    lost_recent: VecDeque<u64>,
    counts: Counts,
}

impl Checker {
    /// A checker for `device`, keeping at most `max_window` messages in flight before declaring
    /// the oldest lost. Sequence numbers start at `first_seq` (they go on across reconnects).
    pub fn new(device: u32, first_seq: u64, max_window: usize) -> Self {
        Checker {
            device,
            next_seq: first_seq,
            base: first_seq,
            window: VecDeque::new(),
            max_window: max_window.max(1),
            pending: 0,
            max_received: None,
            lost_recent: VecDeque::new(),
            counts: Counts::default(),
        }
    }

    /// Counts so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Messages sent and still waiting for a reply.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The sequence number the next message will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Registers a message sent at `ts_ns` and returns the stamp to put in its payload.
    pub fn send(&mut self, ts_ns: u64) -> Stamp {
        if self.window.len() >= self.max_window {
            self.declare_front_lost();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.window.push_back(ts_ns);
        self.pending += 1;
        self.counts.sent += 1;
        Stamp {
            device: self.device,
            seq,
            ts_ns,
        }
    }

    /// Checks one reply received at `now_ns`.
    pub fn reply(&mut self, format: &PayloadFormat, msg: &[u8], now_ns: u64) -> Verdict {
        let stamp = match format.read(msg) {
            Ok(stamp) if stamp.device == self.device && stamp.seq < self.next_seq => stamp,
            _ => {
                self.counts.corrupted += 1;
                return Verdict::Corrupted;
            }
        };
        let latency_ns = now_ns.saturating_sub(stamp.ts_ns);
        if stamp.seq < self.base {
            if let Some(i) = self.lost_recent.iter().position(|&s| s == stamp.seq) {
                self.lost_recent.remove(i);
                self.counts.late += 1;
                return Verdict::Late { latency_ns };
            }
            self.counts.duplicated += 1;
            return Verdict::Duplicate;
        }
        let slot = &mut self.window[(stamp.seq - self.base) as usize];
        if *slot == RECEIVED {
            self.counts.duplicated += 1;
            return Verdict::Duplicate;
        }
        if *slot != stamp.ts_ns {
            // Intact and well-formed, but not the time this message was sent: a stale replay.
            self.counts.corrupted += 1;
            return Verdict::Corrupted;
        }
        *slot = RECEIVED;
        self.pending -= 1;
        self.counts.received += 1;
        let out_of_order = self.max_received.is_some_and(|max| max > stamp.seq);
        if out_of_order {
            self.counts.out_of_order += 1;
        } else {
            self.max_received = Some(stamp.seq);
        }
        self.advance();
        Verdict::Fresh {
            latency_ns,
            out_of_order,
        }
    }

    /// Counts a stream that could not be split into messages as one corrupted reply.
    pub fn corrupted_stream(&mut self) {
        self.counts.corrupted += 1;
    }

    /// Declares lost every message sent at or before `deadline_ns`; returns how many.
    pub fn expire(&mut self, deadline_ns: u64) -> usize {
        let mut expired = 0;
        while let Some(&front) = self.window.front() {
            if front != RECEIVED && front > deadline_ns {
                break;
            }
            if front != RECEIVED {
                self.declare_front_lost();
                expired += 1;
            } else {
                self.window.pop_front();
                self.base += 1;
            }
        }
        expired
    }

    /// Ends checking: messages still in flight are counted as `end` says.
    pub fn finish(&mut self, end: End) {
        let left = self.pending as u64;
        match end {
            End::RunOver => self.counts.unanswered += left,
            End::Disconnected => self.counts.lost_in_disconnect += left,
        }
        self.base = self.next_seq;
        self.window.clear();
        self.pending = 0;
    }

    fn declare_front_lost(&mut self) {
        if let Some(front) = self.window.pop_front() {
            if front != RECEIVED {
                self.pending -= 1;
                self.counts.timed_out += 1;
                if self.lost_recent.len() == LOST_MEMORY {
                    self.lost_recent.pop_front();
                }
                self.lost_recent.push_back(self.base);
            }
            self.base += 1;
        }
        self.advance();
    }

    fn advance(&mut self) {
        while self.window.front() == Some(&RECEIVED) {
            self.window.pop_front();
            self.base += 1;
        }
    }
}
