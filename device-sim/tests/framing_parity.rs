//! device-sim frames messages itself (to avoid an allocation per message), so it must agree
//! byte for byte with devgate's stock codecs, both ways, however the stream is split.

use bytes::{Bytes, BytesMut};
use codecs::{FrameCodec, Inbound, Outbound, TextCodec};
use device_sim::framing::Framing;
use device_sim::payload::{PayloadFormat, Stamp};
use tokio_util::codec::{Decoder, Encoder};

fn payloads() -> Vec<Vec<u8>> {
    let format = PayloadFormat::new(70).unwrap();
    (0..5)
        .map(|seq| {
            format.to_vec(Stamp {
                device: 3,
                seq,
                ts_ns: seq * 1000,
            })
        })
        .collect()
}

fn codec_decodes<D: Decoder<Item = Inbound>>(
    mut codec: D,
    wire: &[u8],
    chunk: usize,
) -> Vec<Vec<u8>>
where
    D::Error: std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            match item {
                Inbound::Message { data, .. } => out.push(data.to_vec()),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    out
}

fn sim_decodes(framing: Framing, wire: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(found) = framing.next(&buf, 1024).unwrap() {
            out.push(buf[found.body.clone()].to_vec());
            buf.drain(..found.consumed);
        }
    }
    out
}

fn sim_encodes(framing: Framing, bodies: &[Vec<u8>]) -> BytesMut {
    let mut wire = BytesMut::new();
    for body in bodies {
        framing.encode_with(&mut wire, body.len(), |dst| dst.copy_from_slice(body));
    }
    wire
}

fn codec_encodes<E: Encoder<Outbound>>(mut codec: E, bodies: &[Vec<u8>]) -> BytesMut
where
    E::Error: std::fmt::Debug,
{
    let mut wire = BytesMut::new();
    for body in bodies {
        codec
            .encode(Outbound::Data(Bytes::from(body.clone())), &mut wire)
            .unwrap();
    }
    wire
}

#[test]
fn text_payloads_framed_by_device_sim_decode_with_the_text_codec_and_back() {
    let bodies = payloads();
    let ours = sim_encodes(Framing::Text, &bodies);
    let theirs = codec_encodes(TextCodec::default(), &bodies);
    assert_eq!(ours, theirs);
    for chunk in [1, 7, 71, ours.len()] {
        assert_eq!(codec_decodes(TextCodec::default(), &ours, chunk), bodies);
        assert_eq!(sim_decodes(Framing::Text, &theirs, chunk), bodies);
    }
}

#[test]
fn frame_payloads_framed_by_device_sim_decode_with_the_frame_codec_and_back() {
    let bodies = payloads();
    let ours = sim_encodes(Framing::Frame, &bodies);
    let theirs = codec_encodes(FrameCodec::default(), &bodies);
    assert_eq!(ours, theirs);
    for chunk in [1, 3, 74, ours.len()] {
        assert_eq!(codec_decodes(FrameCodec::default(), &ours, chunk), bodies);
        assert_eq!(sim_decodes(Framing::Frame, &theirs, chunk), bodies);
    }
}
