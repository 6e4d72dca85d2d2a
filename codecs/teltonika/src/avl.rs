//! The data part of a checked packet: AVL records (codecs 8, 8 Extended and 16) and the
//! command envelope (codecs 12 and 13).
//!
//! ```text
//! record: timestamp u64 ms | priority u8 | lon i32 | lat i32 (degrees × 10^7) | altitude i16
//!         | angle u16 | satellites u8 | speed u16 | IO block
//! IO, codec 8:   event u8  | total u8  | 4 groups (1, 2, 4, 8-byte values): count u8, (id u8, value)*
//! IO, codec 8E:  event u16 | total u16 | the same with u16 counts and ids | NX: count u16, (id u16, len u16, value)*
//! IO, codec 16:  event u16 | generation u8 | total u8 | groups with u8 counts and u16 ids
//! ```

use nom::bytes::complete::take;
use nom::multi::count;
use nom::number::complete::{be_i16, be_i32, be_u16, be_u32, be_u64, be_u8};
use nom::sequence::tuple;
use nom::IResult;
use std::collections::BTreeMap;

type Res<'a, T> = IResult<&'a [u8], T>;

/// AVL codec ids this module reads.
pub const CODEC_8: u8 = 0x08;
/// Codec 8 Extended.
pub const CODEC_8E: u8 = 0x8e;
/// Codec 16.
pub const CODEC_16: u8 = 0x10;
/// Codec 12: commands and their responses.
pub const CODEC_12: u8 = 0x0c;
/// Codec 13: codec 12 with a timestamp.
pub const CODEC_13: u8 = 0x0d;

/// One IO element value: a number for 1-8 byte elements, hex for variable-length ones.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum IoValue {
    /// A 1, 2, 4 or 8-byte element, unsigned.
    Number(u64),
    /// A variable-length (NX) element as hex.
    Bytes(String),
}

/// One AVL record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Unix milliseconds, UTC.
    pub timestamp_ms: i64,
    /// 0 low, 1 high, 2 panic.
    pub priority: u8,
    /// Degrees, east positive.
    pub longitude: f64,
    /// Degrees, north positive.
    pub latitude: f64,
    /// Metres.
    pub altitude: i16,
    /// Heading in degrees.
    pub angle: u16,
    /// Satellites in use, as sent.
    pub satellites: u8,
    /// km/h.
    pub speed: u16,
    /// The IO element that triggered the record (0 = periodic).
    pub event_io_id: u16,
    /// Codec 16 generation type.
    pub generation_type: Option<u8>,
    /// Declared number of IO elements.
    pub io_total: u16,
    /// IO elements by id.
    pub io: BTreeMap<u16, IoValue>,
}

/// Reads the records of an AVL data part (codec id through N2). `None` when the codec is not
/// an AVL codec, N1 and N2 differ, or the records do not fill the part exactly.
pub fn records(data: &[u8]) -> Option<Vec<Record>> {
    let (&codec, rest) = data.split_first()?;
    let parsed: Res<'_, _> = (|input| {
        let (input, n1) = be_u8(input)?;
        let (input, records) = count(|i| record(codec, i), usize::from(n1))(input)?;
        let (input, n2) = be_u8(input)?;
        Ok((input, (n1, records, n2)))
    })(rest);
    let (left, (n1, records, n2)) = parsed.ok()?;
    (left.is_empty() && n1 == n2).then_some(records)
}

fn record(codec: u8, input: &[u8]) -> Res<'_, Record> {
    let (input, (timestamp_ms, priority, lon, lat, altitude, angle, satellites, speed)) =
        tuple((be_u64, be_u8, be_i32, be_i32, be_i16, be_u16, be_u8, be_u16))(input)?;
    let wide = codec != CODEC_8;
    let (input, event_io_id) = if wide { be_u16(input)? } else { map_u8(input)? };
    let (input, generation_type) = if codec == CODEC_16 {
        let (input, g) = be_u8(input)?;
        (input, Some(g))
    } else {
        (input, None)
    };
    let (mut input, io_total) = if codec == CODEC_8E {
        be_u16(input)?
    } else {
        map_u8(input)?
    };
    if ![CODEC_8, CODEC_8E, CODEC_16].contains(&codec) {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Tag,
        )));
    }
    let mut io = BTreeMap::new();
    for width in [1usize, 2, 4, 8] {
        let (rest, n) = if codec == CODEC_8E {
            be_u16(input)?
        } else {
            map_u8(input)?
        };
        input = rest;
        for _ in 0..n {
            let (rest, id) = if wide { be_u16(input)? } else { map_u8(input)? };
            let (rest, value) = take(width)(rest)?;
            let number = value.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            io.insert(id, IoValue::Number(number));
            input = rest;
        }
    }
    if codec == CODEC_8E {
        let (rest, n) = be_u16(input)?;
        input = rest;
        for _ in 0..n {
            let (rest, id) = be_u16(input)?;
            let (rest, value) = nom::multi::length_data(be_u16)(rest)?;
            io.insert(id, IoValue::Bytes(hex::encode(value)));
            input = rest;
        }
    }
    let record = Record {
        timestamp_ms: i64::try_from(timestamp_ms).unwrap_or(i64::MAX),
        priority,
        longitude: f64::from(lon) / 1e7,
        latitude: f64::from(lat) / 1e7,
        altitude,
        angle,
        satellites,
        speed,
        event_io_id,
        generation_type,
        io_total,
        io,
    };
    Ok((input, record))
}

fn map_u8(input: &[u8]) -> Res<'_, u16> {
    let (input, v) = be_u8(input)?;
    Ok((input, u16::from(v)))
}

/// One command or response of a codec 12/13 envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// 0x05 command (server to device), 0x06 response (device to server).
    pub kind: u8,
    /// Codec 13 Unix seconds.
    pub timestamp: Option<u32>,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// Reads a codec 12/13 data part. `None` when it is malformed.
pub fn commands(data: &[u8]) -> Option<Vec<Command>> {
    let (&codec, rest) = data.split_first()?;
    let with_time = codec == CODEC_13;
    let parsed: Res<'_, _> = (|input| {
        let (input, n1) = be_u8(input)?;
        let (input, commands) = count(|i| command(with_time, i), usize::from(n1))(input)?;
        let (input, n2) = be_u8(input)?;
        Ok((input, (n1, commands, n2)))
    })(rest);
    let (left, (n1, commands, n2)) = parsed.ok()?;
    (left.is_empty() && n1 == n2).then_some(commands)
}

/// Type, size, the codec 13 timestamp (counted in the size) and the payload.
fn command(with_time: bool, input: &[u8]) -> Res<'_, Command> {
    let (input, (kind, size)) = tuple((be_u8, be_u32))(input)?;
    let (input, timestamp) = if with_time {
        let (input, t) = be_u32(input)?;
        (input, Some(t))
    } else {
        (input, None)
    };
    let payload_len = if with_time {
        size.saturating_sub(4)
    } else {
        size
    };
    let (input, payload) = take(payload_len)(input)?;
    let command = Command {
        kind,
        timestamp,
        payload: payload.to_vec(),
    };
    Ok((input, command))
}

/// The data part of a codec 12 command carrying `payload`.
pub fn command_data(payload: &[u8]) -> Option<Vec<u8>> {
    let size = u32::try_from(payload.len()).ok()?;
    let mut data = vec![CODEC_12, 1, 0x05];
    data.extend_from_slice(&size.to_be_bytes());
    data.extend_from_slice(payload);
    data.push(1);
    Some(data)
}
