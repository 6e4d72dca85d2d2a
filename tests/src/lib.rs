//! Helpers for devgate's black-box integration tests: real `devgate` processes on 127.0.0.1.
//!
//! - [`process`] builds the `devgate` binary once and runs its subcommands as child processes
//!   ([`Proc`]), capturing the `devgate: ...` address lines from stdout and the logs from
//!   stderr, and killing them on drop.
//! - [`cluster`] wires a register, gateways and workers together through the register's port.
//! - [`worker_main`] is the `main` of the test worker programs in `src/bin`.
//! - [`counting`] runs `counting_worker`s under numbered load and judges their logs.
//! - [`clients`] are small text, frame and WebSocket clients; [`tls`] makes a test certificate;
//!   [`scrape`] reads a metrics page; [`raw_link`] is an internal-link peer that never reads.
//! - [`mosquitto`] runs a broker process of a test's own (restartable, persistent); [`mqtt`]
//!   is a persistent-session subscriber counting what arrives.
//!
//! Every port is ephemeral and every wait has a timeout, so tests can run in parallel.

pub mod clients;
pub mod cluster;
pub mod counting;
pub mod mosquitto;
pub mod mqtt;
pub mod process;
pub mod raw_link;
pub mod scrape;
pub mod tls;
pub mod worker_main;

pub use clients::{FrameClient, LineClient, Read, WsClient};
pub use cluster::{Cluster, Gateway};
pub use process::{Frozen, Proc};
pub use tls::TestCert;

use std::time::Duration;

/// The longest any single expected thing (a line, a log, an echo) may take to show up.
pub const WAIT: Duration = Duration::from_secs(15);

/// Polls `check` every 20 ms until it returns `Some` or `limit` passes.
pub async fn poll_until<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
pub mod api_cluster;
