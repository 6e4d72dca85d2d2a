//! Device families: simulated GPS trackers that behave as real GT06, JT/T 808 and Teltonika
//! devices do (and any family a user's binary registers in [`crate::dialects`]). Each logs in
//! with its own id, sends heartbeats and locations, waits for the server's ack of every frame
//! that gets one, and answers the server's commands; after a drop it reconnects (in
//! [`crate::device`]) and logs in again.
//!
//! One [`Dialect`] per family builds the device's frames and reads the server's. It says which
//! frames wait for an ack: a family may have no login (the device is logged in as soon as it is
//! connected) and locations the server does not ack (H02): those are sent once, never kept in
//! memory nor resent, and counted apart (`without_ack`), neither acked nor lost. `session`
//! runs a connection with any of them, `acks` keeps what is still unanswered on it, and
//! `memory` keeps the locations not yet acked across connections, to send them again after a
//! reconnect as real trackers do (unless `--no-memory`). The frames are written here from the
//! protocol descriptions (../shared/vectors/README.md), not taken from devgate's codecs, so a
//! simulator run checks those codecs rather than agreeing with them.

pub mod acks;
pub mod gt06;
pub mod jt808;
pub mod memory;
pub mod motion;
mod session;
pub mod teltonika;

use super::{DeviceBehaviour, SessionEnd, Shared};
use crate::plan::{Family, FamilySettings};
use crate::stats::FamilyCounts;
use crate::transport::Link;
use memory::Memory;
use motion::{Fix, Motion};

/// What an uplink frame waits for: the message kind and serial that the server's ack names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// Message kind: GT06 protocol number, JT/T 808 message id, Teltonika packet kind.
    pub id: u16,
    /// The frame's serial (Teltonika: the record count the ack must repeat).
    pub serial: u16,
}

/// One server frame, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// An ack accepting the frame sent with this key.
    Ack(Key),
    /// An answer refusing the frame sent with this key (a non-zero result, Teltonika's `00`).
    Refused(Key),
    /// A frame that is no ack of ours: bad checksum, another device's, or unknown.
    Wrong,
    /// A frame of the server's that waits for nothing and acks nothing the device waits for
    /// (H02's confirmation of a location the device does not keep): read and let go.
    Notice,
    /// A server command. The answer is already written; `answer` is the ack it waits for.
    Command {
        /// What the answer waits for, when the server acks answers.
        answer: Option<Key>,
    },
}

/// Where a login is after one of its acks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// Logged in: heartbeats and locations may go.
    Done,
    /// The next login frame is written and waits for this key.
    Next(Key),
    /// Not a login ack.
    Waiting,
}

/// The server's bytes can no longer be split into frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server stream broken: {0}")]
pub struct Broken(pub String);

/// One family's frames, for one device. Serials live here, so they go on across reconnects.
///
/// A frame written with a [`Key`] waits for the server's ack naming it; one written with
/// `None` waits for nothing.
pub trait Dialect: Send + std::fmt::Debug + 'static {
    /// Starts a connection: forgets what the last one knew and writes the first login frame.
    /// `None`: the family has no login, the device may report at once.
    fn login(&mut self, out: &mut Vec<u8>) -> Option<Key>;
    /// The login frame sent with `acked` was accepted: writes the next one, if any.
    fn login_acked(&mut self, acked: Key, out: &mut Vec<u8>) -> Login;
    /// Writes a heartbeat, if the family has one.
    fn heartbeat(&mut self, out: &mut Vec<u8>) -> Option<Key>;
    /// Writes a location frame for `fix`. `None`: the server does not ack locations of this
    /// family, so the device neither waits for nor keeps them.
    fn location(&mut self, fix: &Fix, out: &mut Vec<u8>) -> Option<Key>;
    /// Reads the server frame at the front of `input`: its length and what it was, or `None`
    /// until it is complete. Answers to commands are written to `out`.
    fn read(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Option<(usize, Reply)>, Broken>;
}

/// The id device `index` logs in with: `id_base + index`, zero-padded to the family's digits.
pub fn device_id(family: Family, id_base: u64, index: u64) -> String {
    let width = family.id_digits() as usize;
    format!("{:0width$}", id_base.saturating_add(index))
}

/// What a device answers to a command: the command and `:OK`, as a tracker acknowledges it.
pub fn answer_text(command: &[u8], max: usize) -> Vec<u8> {
    let mut text = command.to_vec();
    text.extend_from_slice(b":OK");
    text.truncate(max);
    text
}

/// Trackers of one family.
#[derive(Debug, Clone)]
pub struct FamilyDevice {
    settings: FamilySettings,
}

/// What a tracker keeps across reconnects: its serials, where it is, and its unacked
/// locations.
#[derive(Debug, Default)]
pub struct FamilyState {
    dialect: Option<Box<dyn Dialect>>,
    motion: Option<Motion>,
    memory: Memory,
}

impl FamilyDevice {
    /// Trackers with these settings.
    pub fn new(settings: FamilySettings) -> Self {
        FamilyDevice { settings }
    }
}

impl DeviceBehaviour for FamilyDevice {
    type State = FamilyState;

    async fn session(
        &self,
        link: Link,
        device: u64,
        state: &mut FamilyState,
        shared: &Shared,
    ) -> SessionEnd {
        let Link::Bytes(stream) = link else {
            // Plan validation refuses WebSocket family groups; a device given one anyway stops
            // rather than reconnecting forever.
            return SessionEnd::Stopped;
        };
        let s = &self.settings;
        let dialect = state
            .dialect
            .get_or_insert_with(|| s.family.dialect(&device_id(s.family, s.id_base, device)));
        let motion = state.motion.get_or_insert_with(|| Motion::new(device));
        let tracker = session::Tracker {
            device,
            uid: device_id(s.family, s.id_base, device),
            dialect: dialect.as_mut(),
            motion,
            memory: &mut state.memory,
        };
        session::run(s, stream, tracker, shared).await
    }

    fn finish(&self, state: &mut FamilyState, shared: &Shared) {
        let never_acked = state.memory.len() as u64;
        if self.settings.memory && never_acked > 0 {
            let left = FamilyCounts {
                never_acked,
                ..FamilyCounts::default()
            };
            shared
                .stats
                .publish_family(&left, &mut FamilyCounts::default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_base_plus_the_index_padded_to_the_familys_digits() {
        assert_eq!(
            device_id(Family::GT06, 860_000_000_000_000, 42),
            "860000000000042"
        );
        assert_eq!(device_id(Family::JT808, 13_800_000_000, 1), "013800000001");
        assert_eq!(device_id(Family::TELTONIKA, 7, 0), "000000000000007");
    }
}
