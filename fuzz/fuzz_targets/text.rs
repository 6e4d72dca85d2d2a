//! Fuzzes the `text` decoder: arbitrary bytes fed in arbitrary chunks.
#![no_main]

use codecs::TextCodec;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 256;

fuzz_target!(|input: &[u8]| {
    // A partial line never holds more than the limit.
    devgate_fuzz::message_codec(input, TextCodec::new(MAX), MAX, MAX + 1);
});
