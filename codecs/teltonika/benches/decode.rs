//! Teltonika AVL records (codec 8, one record per packet) decoded per second on one core.

use criterion::{criterion_group, criterion_main, Criterion};

const LOCATION: &str = "000000000000004c08010000016818d500580009c28d9f1cb3757a00be00c60f0053000f06f0011503c80001011d00fc0007423799180053cdf80dce426f430f88190bb8560bb802f100005aa110002887e000010000ee8d";

fn decode_locations(c: &mut Criterion) {
    family_kit::decode_locations(
        c,
        "teltonika",
        "decode_location_codec8",
        LOCATION,
        codec_teltonika::codec,
    );
}

criterion_group!(benches, decode_locations);
criterion_main!(benches);
