//! The decode benchmark every family runs (criterion): one location frame repeated [`FRAMES`]
//! times, decoded by a fresh codec per iteration, counted in frames.

use bytes::BytesMut;
use codecs::{CodecError, CodecOptions, Inbound};
use criterion::{Criterion, Throughput};
use tokio_util::codec::Decoder;

/// Frames per iteration: enough that building the codec is noise.
pub const FRAMES: usize = 1000;

/// Benchmarks `new_codec` decoding [`FRAMES`] back-to-back copies of `frame_hex` as
/// `group/name`, asserting each iteration yields one message per frame.
pub fn decode_locations<C>(
    c: &mut Criterion,
    group: &str,
    name: &str,
    frame_hex: &str,
    new_codec: impl Fn(&CodecOptions) -> C,
) where
    C: Decoder<Item = Inbound, Error = CodecError>,
{
    let frame = hex::decode(frame_hex).expect("hex");
    let stream: Vec<u8> = frame.repeat(FRAMES);
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut codec = new_codec(&crate::options());
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
