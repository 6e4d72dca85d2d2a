//! The acks one tracker connection waits for. A pure state machine: no I/O, the time is passed in.
//!
//! Every uplink frame the server must answer is *sent* with a [`Key`] (the message kind and
//! serial its ack names); frames are answered in any order. Counts go into the same [`Counts`]
//! as echo replies, with these meanings:
//! - *received*: acks that named a frame waiting for one and accepted it (their latency is kept);
//! - *timed out*: frames with no ack within the loss timeout (also when a full window pushes the
//!   oldest out); *unanswered*: still waiting at the end of the grace period; *lost in
//!   disconnect*: waiting when the connection dropped;
//! - *late*: acks of frames already declared timed out (they are then not lost);
//! - *duplicated*: a second ack of a recently acknowledged frame;
//! - *out of order*: an ack that came before the ack of an older frame;
//! - *corrupted*: wrong acks: a server frame that fails its checksum or is not an ack of ours,
//!   an ack naming a frame never sent, or one that refuses the frame.
//!
//! A frame sent as *kept* is also held in the device's memory (`memory`), which decides
//! whether it is lost: by the end of the run, not with this connection. So a kept frame is never
//! counted timed out, unanswered or lost in disconnect here, and its ack, however late, is
//! *received*.

use super::Key;
use crate::checker::{Counts, End};
use std::collections::VecDeque;

/// Recently acknowledged and recently timed-out keys remembered, to tell duplicates and late
/// acks from wrong ones.
const MEMORY: usize = 256;

/// A frame waiting for its ack: its key, send time and whether the device's memory keeps it.
#[derive(Debug, Clone, Copy)]
struct Sent {
    key: Key,
    at_ns: u64,
    kept: bool,
}

/// What an ack turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckVerdict {
    /// The first ack of a frame waiting for one.
    Fresh {
        /// Now minus the frame's send time.
        latency_ns: u64,
    },
    /// The ack of a frame already declared timed out.
    Late {
        /// Now minus the frame's send time.
        latency_ns: u64,
    },
    /// Another ack of an acknowledged frame.
    Duplicate,
    /// The ack of a frame that the device's memory still held but this connection no longer
    /// waited for (sent on an earlier connection, or timed out long ago): received, latency
    /// unknown.
    Remembered,
    /// An ack of nothing this connection sent.
    Unexpected,
}

/// The frames of one connection waiting for their ack.
#[derive(Debug)]
pub struct Acks {
    pending: VecDeque<Sent>,
    timed_out: VecDeque<Sent>,
    acked: VecDeque<Key>,
    max_pending: usize,
    counts: Counts,
}

impl Acks {
    /// An empty window of at most `max_pending` frames (past it the oldest is declared lost).
    pub fn new(max_pending: usize) -> Acks {
        Acks {
            pending: VecDeque::new(),
            timed_out: VecDeque::new(),
            acked: VecDeque::new(),
            max_pending: max_pending.max(1),
            counts: Counts::default(),
        }
    }

    /// A frame waiting for the ack `key` was sent at `now_ns`.
    pub fn send(&mut self, key: Key, now_ns: u64) {
        self.push(key, now_ns, false);
    }

    /// A frame that the device's memory keeps until its ack was sent at `now_ns`.
    pub fn send_kept(&mut self, key: Key, now_ns: u64) {
        self.push(key, now_ns, true);
    }

    fn push(&mut self, key: Key, at_ns: u64, kept: bool) {
        self.counts.sent += 1;
        if self.pending.len() >= self.max_pending {
            if let Some(oldest) = self.pending.pop_front() {
                self.time_out(oldest);
            }
        }
        self.pending.push_back(Sent { key, at_ns, kept });
    }

    /// An ack accepting the frame sent with `key` arrived at `now_ns`.
    pub fn ack(&mut self, key: Key, now_ns: u64) -> AckVerdict {
        self.ack_of(key, now_ns, false)
    }

    /// Like [`Acks::ack`], for an ack that the device's memory matched: when this connection
    /// no longer knows the frame, the ack is [`AckVerdict::Remembered`], not a wrong one.
    pub fn ack_remembered(&mut self, key: Key, now_ns: u64) -> AckVerdict {
        self.ack_of(key, now_ns, true)
    }

    fn ack_of(&mut self, key: Key, now_ns: u64, remembered: bool) -> AckVerdict {
        if let Some(i) = self.pending.iter().position(|s| s.key == key) {
            if let Some(Sent { at_ns: sent, .. }) = self.pending.remove(i) {
                self.counts.received += 1;
                if i > 0 {
                    self.counts.out_of_order += 1;
                }
                remember(&mut self.acked, key);
                return AckVerdict::Fresh {
                    latency_ns: now_ns.saturating_sub(sent),
                };
            }
        }
        if let Some(i) = self.timed_out.iter().position(|s| s.key == key) {
            if let Some(Sent {
                at_ns: sent, kept, ..
            }) = self.timed_out.remove(i)
            {
                // A kept frame was never counted timed out: its ack is simply a slow one.
                if kept {
                    self.counts.received += 1;
                } else {
                    self.counts.late += 1;
                }
                remember(&mut self.acked, key);
                return AckVerdict::Late {
                    latency_ns: now_ns.saturating_sub(sent),
                };
            }
        }
        if remembered {
            self.counts.received += 1;
            remember(&mut self.acked, key);
            AckVerdict::Remembered
        } else if self.acked.contains(&key) {
            self.counts.duplicated += 1;
            AckVerdict::Duplicate
        } else {
            self.counts.corrupted += 1;
            AckVerdict::Unexpected
        }
    }

    /// The server refused the frame sent with `key`: a wrong ack, and nothing left to wait for.
    pub fn refused(&mut self, key: Key) {
        if let Some(i) = self.pending.iter().position(|s| s.key == key) {
            self.pending.remove(i);
        }
        self.counts.corrupted += 1;
    }

    /// A server frame that is no ack of ours (bad checksum, another device's, unknown).
    pub fn wrong(&mut self) {
        self.counts.corrupted += 1;
    }

    /// Declares lost every frame sent before `cutoff_ns` and still waiting.
    pub fn expire(&mut self, cutoff_ns: u64) {
        while let Some(&sent) = self.pending.front() {
            if sent.at_ns >= cutoff_ns {
                break;
            }
            self.pending.pop_front();
            self.time_out(sent);
        }
    }

    /// The connection's end: frames still waiting are unanswered or lost with it (but for kept
    /// ones, which the device's memory accounts for).
    pub fn finish(&mut self, end: End) {
        let waiting = self.pending.iter().filter(|s| !s.kept).count() as u64;
        match end {
            End::RunOver => self.counts.unanswered += waiting,
            End::Disconnected => self.counts.lost_in_disconnect += waiting,
        }
        self.pending.clear();
    }

    /// Frames waiting for their ack.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// True when a frame sent with `key` is waiting for its ack.
    pub fn is_pending(&self, key: Key) -> bool {
        self.pending.iter().any(|s| s.key == key)
    }

    /// The counts so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    fn time_out(&mut self, entry: Sent) {
        if !entry.kept {
            self.counts.timed_out += 1;
        }
        if self.timed_out.len() >= MEMORY {
            self.timed_out.pop_front();
        }
        self.timed_out.push_back(entry);
    }
}

fn remember(keys: &mut VecDeque<Key>, key: Key) {
    if keys.len() >= MEMORY {
        keys.pop_front();
    }
    keys.push_back(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Key = Key {
        id: 0x22,
        serial: 1,
    };
    const B: Key = Key {
        id: 0x22,
        serial: 2,
    };

    #[test]
    fn acks_are_fresh_once_then_duplicates_and_unknown_ones_are_wrong() {
        let mut acks = Acks::new(8);
        acks.send(A, 100);
        acks.send(B, 150);
        assert_eq!(acks.ack(B, 400), AckVerdict::Fresh { latency_ns: 250 });
        assert_eq!(acks.ack(A, 500), AckVerdict::Fresh { latency_ns: 400 });
        assert_eq!(acks.ack(A, 600), AckVerdict::Duplicate);
        assert_eq!(
            acks.ack(
                Key {
                    id: 0x13,
                    serial: 9
                },
                600
            ),
            AckVerdict::Unexpected
        );
        let c = acks.counts();
        assert_eq!((c.sent, c.received, c.out_of_order), (2, 2, 1));
        assert_eq!((c.duplicated, c.corrupted, c.lost()), (1, 1, 0));
    }

    #[test]
    fn missing_acks_time_out_and_a_late_ack_is_not_lost() {
        let mut acks = Acks::new(8);
        acks.send(A, 100);
        acks.send(B, 900);
        acks.expire(500);
        assert_eq!(acks.pending(), 1);
        assert_eq!(acks.ack(A, 1000), AckVerdict::Late { latency_ns: 900 });
        acks.finish(End::Disconnected);
        let c = acks.counts();
        assert_eq!(
            (c.timed_out, c.late, c.lost(), c.lost_in_disconnect),
            (1, 1, 0, 1)
        );
    }

    #[test]
    fn refusals_are_wrong_acks_and_a_full_window_drops_its_oldest() {
        let mut acks = Acks::new(1);
        acks.send(A, 0);
        acks.refused(A);
        assert_eq!(acks.pending(), 0);
        acks.send(A, 1);
        acks.send(B, 2);
        assert!(acks.is_pending(B) && !acks.is_pending(A));
        acks.finish(End::RunOver);
        let c = acks.counts();
        assert_eq!((c.corrupted, c.timed_out, c.unanswered), (1, 1, 1));
    }

    #[test]
    fn kept_frames_are_never_lost_here_and_their_slow_or_remembered_acks_are_received() {
        let mut acks = Acks::new(8);
        acks.send_kept(A, 100);
        acks.send_kept(B, 100);
        acks.expire(500);
        assert_eq!(acks.ack(A, 900), AckVerdict::Late { latency_ns: 800 });
        // B's ack comes on no connection that knows it; the device's memory still held it.
        let c = Key {
            id: 0x22,
            serial: 3,
        };
        assert_eq!(acks.ack_remembered(c, 950), AckVerdict::Remembered);
        acks.send_kept(B, 1000);
        acks.finish(End::Disconnected);
        let c = acks.counts();
        assert_eq!((c.sent, c.received, c.late), (3, 2, 0));
        assert_eq!((c.timed_out, c.lost(), c.lost_in_disconnect), (0, 0, 0));
    }
}
