//! The jt808 codec on arbitrary bytes in arbitrary chunks: never panics, never buffers past its
//! limit, and encodes arbitrary commands without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| family_kit::family_codec(data, 4096, codec_jt808::codec));
