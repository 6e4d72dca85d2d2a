//! JT/T 808 location reports (0x0200 with extra items) decoded per second on one core.

use bytes::BytesMut;
use codecs::{CodecOptions, Inbound};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_util::codec::Decoder;

const LOCATION: &str = "7e0200002c00160128561400020000000000040001005de1f7065c6cef00000000000017011710044201040000a9002a02000030011b3101030c7e";
const FRAMES: usize = 1000;

fn decode_locations(c: &mut Criterion) {
    let frame = hex::decode(LOCATION).expect("hex");
    let stream: Vec<u8> = frame.repeat(FRAMES);
    let mut group = c.benchmark_group("jt808");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("decode_location_0x0200", |b| {
        b.iter(|| {
            let mut codec = codec_jt808::codec(&CodecOptions::default());
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
