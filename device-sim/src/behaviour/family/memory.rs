//! A tracker's memory of the data frames the server has not acknowledged. A pure state machine:
//! no I/O, no clock.
//!
//! Real trackers keep every location they sent until the server acks it, and send what is
//! left again, byte for byte, after they reconnect and log in. The memory lives with the device
//! across its connections (in `FamilyState`), not with one connection as [`super::acks::Acks`]
//! does. Invariants:
//! - frames are kept in the order they were first sent; a resend keeps a frame's place;
//! - an ack removes the oldest frame sent with its key (Teltonika acks name no serial, but they
//!   come in order), whenever it comes: on time, late, or on a later connection;
//! - at most `max` frames are kept: past it the oldest is dropped (the device forgot it).

use super::Key;
use std::collections::VecDeque;

/// Frames one tracker keeps by default, as a real tracker's flash holds some thousands.
pub const MAX_FRAMES: usize = 10_000;

/// One frame waiting in memory for its ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// What its ack names.
    pub key: Key,
    /// The frame's bytes, as first sent.
    pub bytes: Vec<u8>,
    /// Its GPS time, unix seconds.
    pub time: i64,
    /// Times it went on the wire.
    pub sends: u32,
}

/// A frame that left memory because its ack came: what the acked log says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    /// Its GPS time, unix seconds.
    pub time: i64,
    /// It was sent more than once.
    pub resent: bool,
}

/// The unacknowledged data frames of one tracker.
#[derive(Debug)]
pub struct Memory {
    frames: VecDeque<Kept>,
    max: usize,
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new(MAX_FRAMES)
    }
}

impl Memory {
    /// An empty memory of at most `max` frames (at least one).
    pub fn new(max: usize) -> Memory {
        Memory {
            frames: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// A data frame was sent for the first time. Returns the oldest frame, dropped when the
    /// memory was full.
    pub fn remember(&mut self, key: Key, bytes: Vec<u8>, time: i64) -> Option<Kept> {
        let dropped = if self.frames.len() >= self.max {
            self.frames.pop_front()
        } else {
            None
        };
        self.frames.push_back(Kept {
            key,
            bytes,
            time,
            sends: 1,
        });
        dropped
    }

    /// An ack of `key` came: the oldest frame sent with it leaves memory.
    pub fn ack(&mut self, key: Key) -> Option<Acked> {
        let i = self.frames.iter().position(|f| f.key == key)?;
        let frame = self.frames.remove(i)?;
        Some(Acked {
            time: frame.time,
            resent: frame.sends > 1,
        })
    }

    /// Appends every frame still kept to `out`, oldest first, byte for byte, counting a send
    /// of each; returns their keys in the same order.
    pub fn resend(&mut self, out: &mut Vec<u8>) -> Vec<Key> {
        self.frames
            .iter_mut()
            .map(|f| {
                out.extend_from_slice(&f.bytes);
                f.sends = f.sends.saturating_add(1);
                f.key
            })
            .collect()
    }

    /// Forgets every frame (a tracker without memory, at the end of a connection); returns
    /// how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.frames.len();
        self.frames.clear();
        n
    }

    /// Frames kept.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when no frame waits for its ack.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(serial: u16) -> Key {
        Key { id: 0x22, serial }
    }

    fn frame(serial: u16) -> Vec<u8> {
        vec![0x78, 0x78, serial as u8]
    }

    #[test]
    fn an_ack_removes_its_frame_whenever_it_comes_and_only_once() {
        let mut m = Memory::new(8);
        for s in 1..=3 {
            assert_eq!(m.remember(key(s), frame(s), 100 + i64::from(s)), None);
        }
        assert_eq!(
            m.ack(key(2)),
            Some(Acked {
                time: 102,
                resent: false
            })
        );
        assert_eq!(m.ack(key(2)), None);
        assert_eq!(m.ack(key(9)), None);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn a_full_memory_drops_its_oldest_frame() {
        let mut m = Memory::new(2);
        m.remember(key(1), frame(1), 1);
        m.remember(key(2), frame(2), 2);
        let dropped = m.remember(key(3), frame(3), 3).map(|k| k.key);
        assert_eq!(dropped, Some(key(1)));
        assert_eq!(m.ack(key(1)), None);
        let mut out = Vec::new();
        assert_eq!(m.resend(&mut out), vec![key(2), key(3)]);
    }

    #[test]
    fn a_reconnect_resends_what_is_unacked_oldest_first_byte_for_byte() {
        let mut m = Memory::new(8);
        for s in 1..=4 {
            m.remember(key(s), frame(s), i64::from(s));
        }
        m.ack(key(1));
        m.ack(key(3));
        let mut out = Vec::new();
        assert_eq!(m.resend(&mut out), vec![key(2), key(4)]);
        assert_eq!(out, [frame(2), frame(4)].concat());
        assert_eq!(
            m.ack(key(4)),
            Some(Acked {
                time: 4,
                resent: true
            })
        );
        // A second reconnect sends what is still unacked again, and nothing twice.
        out.clear();
        assert_eq!(m.resend(&mut out), vec![key(2)]);
        assert_eq!(out, frame(2));
    }

    #[test]
    fn equal_keys_are_acked_oldest_first() {
        // Teltonika: every AVL packet's ack is the record count 1.
        let mut m = Memory::new(8);
        m.remember(key(1), frame(1), 10);
        m.remember(key(1), frame(2), 11);
        assert_eq!(m.ack(key(1)).map(|a| a.time), Some(10));
        assert_eq!(m.ack(key(1)).map(|a| a.time), Some(11));
        assert!(m.is_empty());
        assert_eq!(m.clear(), 0);
    }
}
