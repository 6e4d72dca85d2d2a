//! Single frames: what device-sim's trackers send decodes with devgate's codecs to the id and
//! position sent, the codecs' acks read back as acks of those frames, and device-sim's checksums
//! agree with every captured frame in ../shared/vectors.

use bytes::BytesMut;
use codecs::{CodecError, CodecOptions, Inbound};
use device_sim::behaviour::family::motion::Fix;
use device_sim::behaviour::family::{gt06, jt808, teltonika, Dialect, Login, Reply};
use device_sim::plan::Family;
use serde_json::Value;
use tokio_util::codec::Decoder;

/// A fix in each hemisphere pair, so that every sign bit is exercised.
fn fixes() -> [Fix; 2] {
    let fix = Fix {
        unix_ms: 1_700_000_123_000,
        latitude: 22.543_21,
        longitude: 114.058_76,
        altitude_m: 35,
        speed_kmh: 47.0,
        course: 271,
        satellites: 9,
        odometer_m: 12_345,
    };
    let south_west = Fix {
        latitude: -33.868_8,
        longitude: -70.650_1,
        ..fix
    };
    [fix, south_west]
}

/// Decodes `bytes` with `codec`, answering nothing; returns the events in order.
fn decode_all<C: Decoder<Item = Inbound, Error = CodecError>>(
    codec: &mut C,
    bytes: &[u8],
) -> Vec<Inbound> {
    let mut buf = BytesMut::from(bytes);
    let mut events = Vec::new();
    while let Some(event) = codec.decode(&mut buf).unwrap() {
        events.push(event);
    }
    assert!(buf.is_empty(), "undecoded bytes left: {buf:?}");
    events
}

/// Builds a login and a location per fix with `family`'s dialect, decodes them with `codec`,
/// checks the identity and the positions, and feeds the codec's replies back as acks.
fn frames_decode<C>(family: Family, id: &str, mut codec: C, tolerance: f64)
where
    C: Decoder<Item = Inbound, Error = CodecError>,
{
    let mut device: Box<dyn Dialect> = family.dialect(id);
    let mut out = Vec::new();
    let mut keys = vec![device.login(&mut out).expect("a stock family logs in")];
    let mut events = decode_all(&mut codec, &out);
    // JT/T 808 authenticates with the code of the registration answer before it is logged in.
    let mut scratch = Vec::new();
    for event in &events {
        if let Inbound::Reply(ack) = event {
            let (_, reply) = device.read(ack, &mut scratch).unwrap().unwrap();
            assert_eq!(reply, Reply::Ack(keys[0]));
            if let Login::Next(key) = device.login_acked(keys[0], &mut scratch) {
                keys.push(key);
            }
        }
    }
    events.extend(decode_all(&mut codec, &scratch));
    assert!(
        matches!(&events[0], Inbound::Identity(got) if got == id),
        "{events:?}"
    );
    for fix in fixes() {
        out.clear();
        keys.push(
            device
                .location(&fix, &mut out)
                .expect("stock locations are acked"),
        );
        let located = decode_all(&mut codec, &out);
        let fields = located
            .iter()
            .find_map(|e| match e {
                Inbound::Message {
                    fields: Some(f), ..
                } => Some(f.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(fields["kind"], "location", "{fields}");
        let lat = fields["latitude"].as_f64().unwrap();
        let lon = fields["longitude"].as_f64().unwrap();
        assert!(
            (lat - fix.latitude).abs() < tolerance,
            "{lat} vs {}",
            fix.latitude
        );
        assert!(
            (lon - fix.longitude).abs() < tolerance,
            "{lon} vs {}",
            fix.longitude
        );
        assert_eq!(fields["timestamp"], fix.unix_ms / 1000, "{fields}");
        assert_eq!(fields["course"], fix.course, "{fields}");
        let acks: Vec<&Inbound> = located
            .iter()
            .filter(|e| matches!(e, Inbound::Reply(_)))
            .collect();
        let [Inbound::Reply(ack)] = acks[..] else {
            panic!("one ack per location: {located:?}");
        };
        let (_, reply) = device.read(ack, &mut scratch).unwrap().unwrap();
        assert_eq!(reply, Reply::Ack(*keys.last().unwrap()));
    }
}

#[test]
fn gt06_frames_decode_with_devgates_codec() {
    let codec = codec_gt06::codec(&CodecOptions::default());
    frames_decode(Family::GT06, "356000000000042", codec, 1.0 / 1_800_000.0);
}

#[test]
fn jt808_frames_decode_with_devgates_codec() {
    let codec = codec_jt808::codec(&CodecOptions::default());
    frames_decode(Family::JT808, "013912345678", codec, 1e-6);
}

#[test]
fn teltonika_frames_decode_with_devgates_codec() {
    let codec = codec_teltonika::codec(&CodecOptions::default());
    frames_decode(Family::TELTONIKA, "352000000000007", codec, 1e-7);
}

/// The lines of `../shared/vectors/<name>.jsonl` whose checksum was recomputed (good frames and
/// frames bad on purpose), or `None`, said loudly, where the folder is not beside the workspace.
fn checked_vectors(name: &str) -> Option<Vec<Value>> {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(file) = manifest
        .ancestors()
        .map(|dir| dir.join("shared/vectors").join(format!("{name}.jsonl")))
        .find(|file| file.is_file())
    else {
        eprintln!(
            "!!! SKIPPED: shared/vectors/{name}.jsonl not found; its checksums were not compared"
        );
        return None;
    };
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["checksum"]["computed"].is_string())
        .filter(|v| matches!(v["frame_status"].as_str(), Some("ok" | "bad_checksum")))
        .collect();
    assert!(
        lines.len() > 10,
        "{name}: only {} checked frames",
        lines.len()
    );
    Some(lines)
}

fn bytes_of(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap()).unwrap()
}

/// Our checksum of a vector, formatted as the vector's `computed`, and whether it matches.
fn compare(v: &Value, ours: String) {
    assert_eq!(ours, v["checksum"]["computed"], "{v}");
    let stored = v["checksum"]["stored"].as_str().unwrap();
    assert_eq!(ours == stored, v["checksum"]["ok"] == true, "{v}");
}

#[test]
fn gt06_crc_agrees_with_every_captured_frame() {
    let Some(vectors) = checked_vectors("gt06") else {
        return;
    };
    for v in &vectors {
        let frame = bytes_of(v, "hex");
        let n = frame.len();
        compare(v, format!("{:04x}", gt06::X25.checksum(&frame[2..n - 4])));
    }
}

#[test]
fn jt808_unescaping_and_xor_agree_with_every_captured_frame() {
    let Some(vectors) = checked_vectors("jt808") else {
        return;
    };
    for v in &vectors {
        let content = match v["hex_form"].as_str() {
            Some("wire") => {
                let wire = bytes_of(v, "hex");
                let content = jt808::unescape(&wire[1..wire.len() - 1]).unwrap();
                if v["unescaped_hex"].is_string() {
                    let unescaped = bytes_of(v, "unescaped_hex");
                    assert_eq!(content, unescaped[1..unescaped.len() - 1], "{v}");
                }
                content
            }
            _ => {
                let unescaped = bytes_of(v, "hex");
                unescaped[1..unescaped.len() - 1].to_vec()
            }
        };
        let (_, signed) = content.split_last().unwrap();
        compare(v, format!("{:02x}", signed.iter().fold(0u8, |a, b| a ^ b)));
    }
}

#[test]
fn teltonika_crc_agrees_with_every_captured_packet() {
    let Some(vectors) = checked_vectors("teltonika") else {
        return;
    };
    for v in &vectors {
        let packet = bytes_of(v, "hex");
        let data = &packet[8..packet.len() - 4];
        compare(
            v,
            format!("{:08x}", u32::from(teltonika::ARC.checksum(data))),
        );
    }
}
