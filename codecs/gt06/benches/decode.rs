//! GT06 location frames (0x12 GPS+LBS) decoded per second on one core.

use bytes::BytesMut;
use codecs::{CodecOptions, Inbound};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_util::codec::Decoder;

const LOCATION: &str = "78781f120f0a140e150bc505e51e780293a9e800540000f601006e0055da00035f240d0a";
const FRAMES: usize = 1000;

fn decode_locations(c: &mut Criterion) {
    let frame = hex::decode(LOCATION).expect("hex");
    let stream: Vec<u8> = frame.repeat(FRAMES);
    let mut group = c.benchmark_group("gt06");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("decode_location_0x12", |b| {
        b.iter(|| {
            let mut codec = codec_gt06::codec(&CodecOptions::default());
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
