//! Time policy shared by devgate's sans-I/O state machines (gateway, rules, device-sim).
//!
//! Nothing here reads a clock or sleeps: callers pass `now` and randomness in, and drive the
//! timers themselves, so every policy is deterministic under test.

mod backoff;

pub use backoff::Backoff;
