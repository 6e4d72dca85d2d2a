//! Rules-file parsing (TOML, the nom condition language, templates) on arbitrary text: never
//! panics, and a refused file always says why.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = rules::parse_rules(text, Path::new("fuzz.toml")) {
        assert!(!errors.is_empty());
    }
});
