//! The outbox's log segments on arbitrary bytes (a damaged or foreign file in the data
//! directory): reading never panics, and what the bridge reads is what the open found.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (entries, damaged) = rules::read_outbox_segment(data);
    if data.is_empty() {
        assert!(entries.is_empty() && !damaged);
    }
    // A record takes at least 20 bytes (length, CRC, id, qos, retain, topic length).
    let mut bytes = 0;
    for e in &entries {
        assert!(e.qos <= 1);
        bytes += 20 + e.topic.len() + e.payload.len();
    }
    assert!(bytes <= data.len());
});
