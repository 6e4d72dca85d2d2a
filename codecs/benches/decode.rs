//! Decode throughput of `frame` and `text` against tokio-util's `LengthDelimitedCodec` and
//! `LinesCodec` on the same bytes, for 64-byte and 1-KiB messages.
//!
//! Run: `cargo bench -p codecs --bench decode -- --warm-up-time 1 --measurement-time 3`

use bytes::{BufMut, BytesMut};
use codecs::{FrameCodec, TextCodec, DEFAULT_MAX_MESSAGE_SIZE};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
// std's black_box, not criterion's: criterion 0.5's is a volatile copy of the whole item,
// which costs more for a larger item type and would measure the harness, not the decoder.
use std::hint::black_box;
use tokio_util::codec::{Decoder, LengthDelimitedCodec, LinesCodec};

/// About 1 MiB of input per iteration, whatever the message size.
const STREAM_BYTES: usize = 1 << 20;
const SIZES: [usize; 2] = [64, 1024];

/// Printable ASCII so `LinesCodec` accepts it as UTF-8; no newline inside.
fn payload(size: usize, seed: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + ((i + seed) % 26) as u8).collect()
}

/// `size`-byte messages, each framed as a total length (header included) plus body.
fn frame_stream(size: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(STREAM_BYTES + size);
    let mut seed = 0;
    while buf.len() < STREAM_BYTES {
        buf.put_u32((size + 4) as u32);
        buf.put_slice(&payload(size, seed));
        seed += 1;
    }
    buf
}

/// `size`-byte lines including the `\n`.
fn text_stream(size: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(STREAM_BYTES + size);
    let mut seed = 0;
    while buf.len() < STREAM_BYTES {
        buf.put_slice(&payload(size - 1, seed));
        buf.put_u8(b'\n');
        seed += 1;
    }
    buf
}

/// Decodes all of `src` with `codec`, returning the message count so nothing is optimised away.
fn drain<D: Decoder>(codec: &mut D, src: &mut BytesMut) -> usize {
    let mut count = 0;
    while let Some(item) = codec.decode(src).ok().flatten() {
        black_box(item);
        count += 1;
    }
    count
}

fn frame_vs_length_delimited(c: &mut Criterion) {
    for size in SIZES {
        let input = frame_stream(size);
        let mut group = c.benchmark_group(format!("frame/{size}B"));
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function("devgate FrameCodec", |b| {
            let mut codec = FrameCodec::new(DEFAULT_MAX_MESSAGE_SIZE);
            b.iter_batched_ref(
                || input.clone(),
                |src| drain(&mut codec, src),
                BatchSize::LargeInput,
            )
        });
        group.bench_function("tokio-util LengthDelimitedCodec", |b| {
            // Same wire format: a u32 BE length at offset 0 that counts its own 4 bytes;
            // the header is skipped so both yield the body. Its limit applies to the length
            // field, header included, hence the + 4 to match our body limit.
            let mut codec = LengthDelimitedCodec::builder()
                .length_field_offset(0)
                .length_field_type::<u32>()
                .length_adjustment(-4)
                .num_skip(4)
                .max_frame_length(DEFAULT_MAX_MESSAGE_SIZE + 4)
                .new_codec();
            b.iter_batched_ref(
                || input.clone(),
                |src| drain(&mut codec, src),
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

fn text_vs_lines(c: &mut Criterion) {
    for size in SIZES {
        let input = text_stream(size);
        let mut group = c.benchmark_group(format!("text/{size}B"));
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function("devgate TextCodec", |b| {
            let mut codec = TextCodec::new(DEFAULT_MAX_MESSAGE_SIZE);
            b.iter_batched_ref(
                || input.clone(),
                |src| drain(&mut codec, src),
                BatchSize::LargeInput,
            )
        });
        group.bench_function("tokio-util LinesCodec", |b| {
            let mut codec = LinesCodec::new_with_max_length(DEFAULT_MAX_MESSAGE_SIZE);
            b.iter_batched_ref(
                || input.clone(),
                |src| drain(&mut codec, src),
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, frame_vs_length_delimited, text_vs_lines);
criterion_main!(benches);
