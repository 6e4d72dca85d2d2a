//! Config parsing on arbitrary text: never panics, errors always name a key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let registry = codecs::CodecRegistry::with_stock();
    if let Err(errors) = gateway::config::Config::parse(Path::new("fuzz.toml"), text, &registry) {
        assert!(!errors.0.is_empty());
        assert!(errors.0.iter().all(|e| !e.key.is_empty()));
    }
});
