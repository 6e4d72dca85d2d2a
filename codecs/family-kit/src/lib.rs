//! The family kit: what a device-family codec crate's tests, benchmark and fuzz target call, so
//! a family (in this workspace or in a crate of its own) writes only what is particular to its
//! protocol. Add it as a dev-dependency (`family-kit = { path = ".../codecs/family-kit" }`).
//!
//! Every check takes the family's `codec` function (`Fn(&CodecOptions) -> C`, the one
//! `codecs::family_codec!` defines) and builds a fresh codec with [`options`]: the defaults
//! with a [`fixed_clock`], so answers that carry the server time are the same on every run.
//!
//! What to call from where:
//!
//! | file | calls |
//! |---|---|
//! | `tests/vectors.rs` | [`load`] (devgate's `../shared/vectors/<name>.jsonl`) or [`load_file`] (a family's own file), [`check_verified_uplinks`] (every verified frame decodes, every `ack_hex` is reproduced), [`assert_typed`], [`compare_each`] over a vector's `derived` keys, [`skipped_then_good`] and [`assert_close_policy_is_fatal`] for bad frames |
//! | `tests/streaming.rs` | [`uplinks`] / [`uplink_frames`], [`assert_splits_decode_as_whole`], [`assert_batched_as_one_by_one`], [`assert_chunks_stay_bounded`] (from proptest) or [`assert_random_chunks_stay_bounded`] (no proptest needed) |
//! | `tests/fields.rs` | [`assert_fields_as_serde`]: the family's `into_fields` equals serde's value |
//! | `tests/behaviour.rs` | [`feed`], [`messages`], [`replies`], [`identities`]; [`assert_reads_shared_options`] and [`assert_registry_refuses_bad_options`] for the shared settings |
//! | `benches/decode.rs` | [`decode_locations`] (criterion; feature `bench`, on by default) |
//! | `fuzz/fuzz_targets/<name>.rs` | [`family_codec`] (depend with `default-features = false`) |
//!
//! Parts: `vectors` (reading `.jsonl` vectors and comparing values), `decode` (the decode loop
//! as comparable [`Event`]s), `checks` (the checks every family runs), `options` (the shared
//! settings), `clock` (the fixed clock), `bench` (the criterion loop), `fuzz` (the fuzz body).

#[cfg(feature = "bench")]
mod bench;
mod checks;
mod clock;
mod decode;
mod fuzz;
mod options;
mod vectors;

#[cfg(feature = "bench")]
pub use bench::{decode_locations, FRAMES};
pub use checks::{
    assert_batched_as_one_by_one, assert_chunks_stay_bounded, assert_close_policy_is_fatal,
    assert_fields_as_serde, assert_random_chunks_stay_bounded, assert_splits_decode_as_whole,
    assert_typed, check_verified_uplinks, skipped_then_good,
};
pub use clock::{fixed_clock, options, FIXED_NOW_MS};
pub use decode::{drain, feed, identities, messages, replies, Event};
pub use fuzz::{chunked, family_codec};
pub use options::{assert_reads_shared_options, assert_registry_refuses_bad_options, options_with};
pub use vectors::{
    close, compare_each, in_ci, int, label, load, load_file, load_from, select, uplink_frames,
    uplinks, vectors_dir, wire,
};
