//! What a connected device does. Each behaviour is a module implementing [`DeviceBehaviour`]:
//! `echo` (checked echo payloads, closed loop or fixed rate), `idle` (hold the connection) and
//! `family` (GPS trackers of a device family: log in with an id, heartbeat, send locations,
//! check acks, answer downlink commands). The device lifecycle around them (ramp, connect,
//! reconnect with backoff, counting) is shared, in [`crate::device`].

pub mod echo;
pub mod family;
pub mod idle;

use crate::acked_log::AckedLog;
use crate::plan::Timing;
use crate::stats::Stats;
use crate::transport::Link;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub use echo::Echo;
pub use family::FamilyDevice;
pub use idle::Idle;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The run is over: the device stops.
    Stopped,
    /// The connection dropped or broke: the device reconnects.
    Dropped,
}

/// What every device of a group shares.
#[derive(Debug)]
pub struct Shared {
    /// The group's live counters.
    pub stats: Arc<Stats>,
    /// Cancelled when the run's sending phase ends (or on Ctrl-C).
    pub stop: CancellationToken,
    /// Time zero of this process's run: payload timestamps count from it.
    pub epoch: Instant,
    /// The run's timing.
    pub timing: Timing,
    /// Where trackers log the locations they saw acked (`--acked-log`).
    pub acked_log: Option<Arc<AckedLog>>,
}

impl Shared {
    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// One kind of device: what it does over one connection.
pub trait DeviceBehaviour: Send + Sync + 'static {
    /// What a device keeps across its reconnects (its next sequence number, its login state).
    type State: Default + Send;

    /// Runs one connected session of device `device` until the run ends or the link drops.
    /// When `shared.stop` is cancelled, the session finishes what it must (waiting for replies
    /// in flight, at most the grace period) and returns [`SessionEnd::Stopped`].
    fn session(
        &self,
        link: Link,
        device: u64,
        state: &mut Self::State,
        shared: &Shared,
    ) -> impl Future<Output = SessionEnd> + Send;

    /// The device is done for this run (whether connected or not at the end): counts what its
    /// state still holds.
    fn finish(&self, _state: &mut Self::State, _shared: &Shared) {}
}
