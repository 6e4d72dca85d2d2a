//! Time policy shared by devgate's sans-I/O state machines (gateway, rules, device-sim).
//!
//! The policies read no clock and never sleep: callers pass `now` and randomness in, and drive
//! the timers themselves, so every policy is deterministic under test. The `tokio` feature adds
//! `clock`, the two calls the async loops driving the machines need.

mod backoff;
#[cfg(feature = "tokio")]
pub mod clock;

pub use backoff::Backoff;
