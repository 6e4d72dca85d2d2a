//! {{name}} location frames decoded per second on one core:
//! `cargo bench --bench decode -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, Criterion};

/// The location of vectors/{{name}}.jsonl.
const LOCATION: &str = "7e14100001677485800321644800cc8b1a01a9005a01b3";

fn decode_locations(c: &mut Criterion) {
    family_kit::decode_locations(c, "{{name}}", "decode_location", LOCATION, {{crate_ident}}::codec);
}

criterion_group!(benches, decode_locations);
criterion_main!(benches);
