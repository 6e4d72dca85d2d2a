//! JT/T 808 location reports (0x0200 with extra items) decoded per second on one core.

use criterion::{criterion_group, criterion_main, Criterion};

const LOCATION: &str = "7e0200002c00160128561400020000000000040001005de1f7065c6cef00000000000017011710044201040000a9002a02000030011b3101030c7e";

fn decode_locations(c: &mut Criterion) {
    family_kit::decode_locations(
        c,
        "jt808",
        "decode_location_0x0200",
        LOCATION,
        codec_jt808::codec,
    );
}

criterion_group!(benches, decode_locations);
criterion_main!(benches);
