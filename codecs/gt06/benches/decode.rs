//! GT06 location frames (0x12 GPS+LBS) decoded per second on one core.

use criterion::{criterion_group, criterion_main, Criterion};

const LOCATION: &str = "78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a";

fn decode_locations(c: &mut Criterion) {
    family_kit::decode_locations(
        c,
        "gt06",
        "decode_location_0x12",
        LOCATION,
        codec_gt06::codec,
    );
}

criterion_group!(benches, decode_locations);
criterion_main!(benches);
