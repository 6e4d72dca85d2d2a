//! Fuzzes the `frame` decoder: arbitrary bytes fed in arbitrary chunks.
#![no_main]

use codecs::FrameCodec;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 256;

fuzz_target!(|input: &[u8]| {
    // A partial frame may hold its 4-byte length header on top of a full body.
    devgate_fuzz::message_codec(input, FrameCodec::new(MAX), MAX, MAX + 4);
});
