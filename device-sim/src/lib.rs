//! device-sim: simulated device fleets and load generation for devgate, honest about what it
//! measures and fast enough never to be the bottleneck.
//!
//! How the parts fit. [`run`] (`app`) is the whole program as a library call: the stock binary
//! is `run(Dialects::stock())`, and a user's binary adds a device family to the `dialects`
//! registry first. The command line (`cli`) or a scenario file (`scenario`) becomes a
//! [`plan::Plan`]: groups of devices, each with a target, a protocol, a behaviour and a load.
//! The `runner` runs a plan in this process: every device is a task (`device`) that waits for its
//! turn in the ramp, connects (`transport`, `tls`), runs its behaviour (`behaviour::echo`,
//! `behaviour::idle`; trackers of a device family are `behaviour::family`, speaking the
//! family's `Dialect` found by name in `dialects`) over a `wire`, and reconnects
//! with the `timing` crate's Backoff when its connection drops. Behaviours count into live
//! `stats`; the runner ticks once a second (`progress`, `rss`) and gathers a `report`. Device tasks run on one
//! single-threaded runtime per core (`runner::Workers`), so no reply wakes another thread. Above the open-file limit, `shard`
//! re-executes this binary as children that each run a slice of every group, and merges their
//! results. `server` is the echo server (the physical limit to compare a gateway against) and a
//! deliberately faulty one that tests the checking.
//!
//! Pure logic without I/O, tested on its own: `payload` (the self-checking echo message),
//! `checker` (lost, duplicated, out-of-order, late and corrupted replies), `framing`, and a
//! tracker's acks and memory of unacked frames (`behaviour::family::{acks, memory}`).
//! `acked_log` writes the locations trackers saw acked (`--acked-log`).

pub mod acked_log;
mod app;
pub mod behaviour;
pub mod checker;
pub mod cli;
pub mod device;
pub mod dialects;
pub mod framing;
pub mod payload;
pub mod plan;
pub mod progress;
pub mod report;
pub mod rss;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod shard;
pub mod stats;
pub mod tls;
pub mod transport;
pub mod wire;

pub use app::run;
