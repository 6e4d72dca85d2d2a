//! Time policy shared by devgate's sans-I/O state machines (gateway, rules, device-sim):
//! [`Backoff`] for retries, [`Throttle`] for warnings about a condition that lasts, [`Rate`]
//! to bound how often something may happen.
//!
//! The policies read no clock and never sleep: callers pass `now` and randomness in, and drive
//! the timers themselves, so every policy is deterministic under test. The `tokio` feature adds
//! `clock`, the two calls the async loops driving the machines need.

mod backoff;
#[cfg(feature = "tokio")]
pub mod clock;
mod rate;
mod throttle;

pub use backoff::Backoff;
pub use rate::Rate;
pub use throttle::Throttle;
