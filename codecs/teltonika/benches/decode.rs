//! Teltonika AVL records (codec 8, one record per packet) decoded per second on one core.

use bytes::BytesMut;
use codecs::{CodecOptions, Inbound};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_util::codec::Decoder;

const LOCATION: &str = "000000000000004c08010000016818d500580009c28d9f1cb3757a00be00c60f0053000f06f0011503c80001011d00fc0007423799180053cdf80dce426f430f88190bb8560bb802f100005aa110002887e000010000ee8d";
const FRAMES: usize = 1000;

fn decode_locations(c: &mut Criterion) {
    let frame = hex::decode(LOCATION).expect("hex");
    let stream: Vec<u8> = frame.repeat(FRAMES);
    let mut group = c.benchmark_group("teltonika");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("decode_location_codec8", |b| {
        b.iter(|| {
            let mut codec = codec_teltonika::codec(&CodecOptions::default());
            let mut buf = BytesMut::from(&stream[..]);
            let mut messages = 0;
            while let Some(event) = codec.decode(&mut buf).expect("valid stream") {
                if matches!(event, Inbound::Message { .. }) {
                    messages += 1;
                }
            }
            assert_eq!(messages, FRAMES);
        })
    });
    group.finish();
}

criterion_group!(benches, decode_locations);
criterion_main!(benches);
