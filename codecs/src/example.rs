//! A worked example of the [nom adapter](crate::nom_adapter): a small custom binary protocol.
//!
//! It is deliberately not in the stock registry; it shows how a device-family crate is built.
//! Every frame looks like this (multi-byte numbers big-endian):
//!
//! ```text
//! +------------+-----------+--------------+----------------+-------------+
//! | magic 0xA5 | type: u8  | length: u16  | body: length B | checksum u8 |
//! +------------+-----------+--------------+----------------+-------------+
//! ```
//!
//! The checksum is the XOR of every byte from `type` to the end of the body. A frame with a
//! wrong magic byte is a protocol error (the stream is out of step and closes); a frame whose
//! checksum or body is wrong is skipped ([`CodecError::Skipped`]) and the next frame decodes,
//! because the length still tells where it ends.
//!
//! Uplink: `Hello { device_id }` (type 0x01, the id as UTF-8), answered at once with an `Ack`
//! and reported as the connection's identity; `Reading { sensor, value }` (type 0x02, a `u8`
//! then an `i32`). Downlink: `Ack { kind }` (0x81, body: the acknowledged type) and `Command(bytes)` (0x82), which
//! is what the gateway's `Outbound::Data` becomes.
//!
//! Registering it in a binary, then decoding a device's login:
//!
//! ```
//! use bytes::BytesMut;
//! use codecs::example::{ExampleMessage, ExampleProtocol};
//! use codecs::{CodecOptions, CodecRegistry, Inbound, NomCodec, PreparedCodec};
//! use codecs::options::OptionsReader;
//! use std::sync::Arc;
//! use tokio_util::codec::Decoder;
//!
//! let mut registry = CodecRegistry::with_stock();
//! registry.register(
//!     "example",
//!     Arc::new(|options: &CodecOptions| {
//!         // Checked once per listener: this codec reads no option, so any key is refused.
//!         OptionsReader::new("example", options).finish()?;
//!         let max = options.max_message_size;
//!         Ok(PreparedCodec::new(move || NomCodec::new(ExampleProtocol, max)))
//!     }),
//! );
//! // A listener written `example://127.0.0.1:9000` now finds it.
//! let mut codec = registry.build("example", &CodecOptions::default()).unwrap();
//!
//! let mut src = BytesMut::new();
//! ExampleMessage::Hello { device_id: "sensor-7".into() }.encode(&mut src).unwrap();
//! assert_eq!(codec.decode(&mut src).unwrap(), Some(Inbound::Identity("sensor-7".into())));
//! let Some(Inbound::Reply(ack)) = codec.decode(&mut src).unwrap() else { panic!("no ack") };
//! assert_eq!(ExampleMessage::decode_frame(&ack).unwrap(), ExampleMessage::Ack { kind: 0x01 });
//! let Some(Inbound::Message { fields, .. }) = codec.decode(&mut src).unwrap() else {
//!     panic!("no message")
//! };
//! assert_eq!(fields.unwrap()["device_id"], "sensor-7");
//! assert_eq!(codec.decode(&mut src).unwrap(), None);
//! ```

use crate::{CodecError, Inbound, NomCodec, NomProtocol, Outbound};
use bytes::{BufMut, Bytes, BytesMut};
use nom::bytes::streaming::{tag, take};
use nom::number::streaming::{be_u16, u8 as be_u8};
use std::collections::VecDeque;

/// First byte of every frame.
pub const MAGIC: u8 = 0xA5;
/// Bytes before the body: magic, type and length.
pub const HEADER_LEN: usize = 4;
/// Type of an uplink `Hello`.
pub const KIND_HELLO: u8 = 0x01;
/// Type of an uplink `Reading`.
pub const KIND_READING: u8 = 0x02;
/// Type of a downlink `Ack`.
pub const KIND_ACK: u8 = 0x81;
/// Type of a downlink `Command`.
pub const KIND_COMMAND: u8 = 0x82;

/// A typed message of the example protocol, in either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExampleMessage {
    /// Uplink login: the device says who it is.
    Hello {
        /// The device's id, bound as uid by the gateway.
        device_id: String,
    },
    /// Uplink sensor reading.
    Reading {
        /// Which sensor on the device.
        sensor: u8,
        /// The measured value.
        value: i32,
    },
    /// Downlink acknowledgement of an uplink frame of type `kind`.
    Ack {
        /// The type acknowledged.
        kind: u8,
    },
    /// Downlink application command (opaque bytes).
    Command(Bytes),
}

impl ExampleMessage {
    /// The frame type byte of this message.
    pub fn kind(&self) -> u8 {
        match self {
            ExampleMessage::Hello { .. } => KIND_HELLO,
            ExampleMessage::Reading { .. } => KIND_READING,
            ExampleMessage::Ack { .. } => KIND_ACK,
            ExampleMessage::Command(_) => KIND_COMMAND,
        }
    }

    /// Writes this message as one complete frame.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), CodecError> {
        match self {
            ExampleMessage::Hello { device_id } => {
                encode_frame(KIND_HELLO, device_id.as_bytes(), dst)
            }
            ExampleMessage::Reading { sensor, value } => {
                let mut body = [0u8; 5];
                body[0] = *sensor;
                body[1..].copy_from_slice(&value.to_be_bytes());
                encode_frame(KIND_READING, &body, dst)
            }
            ExampleMessage::Ack { kind } => encode_frame(KIND_ACK, &[*kind], dst),
            ExampleMessage::Command(data) => encode_frame(KIND_COMMAND, data, dst),
        }
    }

    /// Reads the typed message of a frame whose checksum already matched.
    pub fn from_body(kind: u8, body: &[u8]) -> Result<Self, String> {
        match kind {
            KIND_HELLO => match std::str::from_utf8(body) {
                Ok(id) if !id.is_empty() => Ok(ExampleMessage::Hello {
                    device_id: id.to_owned(),
                }),
                _ => Err("hello: device id is empty or not UTF-8".to_owned()),
            },
            KIND_READING => match body {
                [sensor, a, b, c, d] => Ok(ExampleMessage::Reading {
                    sensor: *sensor,
                    value: i32::from_be_bytes([*a, *b, *c, *d]),
                }),
                _ => Err(format!("reading: body is {} bytes, not 5", body.len())),
            },
            KIND_ACK => match body {
                [kind] => Ok(ExampleMessage::Ack { kind: *kind }),
                _ => Err(format!("ack: body is {} bytes, not 1", body.len())),
            },
            KIND_COMMAND => Ok(ExampleMessage::Command(Bytes::copy_from_slice(body))),
            other => Err(format!("unknown frame type {other:#04x}")),
        }
    }

    /// Decodes exactly one complete frame (checksum checked), e.g. a reply read by a test or a
    /// device simulator.
    pub fn decode_frame(bytes: &[u8]) -> Result<Self, String> {
        match parse_frame(bytes) {
            Ok((&[], frame)) => frame.into_message(),
            Ok((rest, _)) => Err(format!("{} bytes after the frame", rest.len())),
            Err(e) => Err(format!("not one complete frame: {e:?}")),
        }
    }
}

/// One frame as parsed from the wire, before its checksum and body are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleFrame {
    /// The frame type byte.
    pub kind: u8,
    /// The body bytes.
    pub body: Bytes,
    /// True when the received checksum matches the computed one.
    pub checksum_ok: bool,
}

impl ExampleFrame {
    /// The typed message, or why this frame must be skipped.
    pub fn into_message(self) -> Result<ExampleMessage, String> {
        if !self.checksum_ok {
            return Err(format!("frame type {:#04x}: bad checksum", self.kind));
        }
        ExampleMessage::from_body(self.kind, &self.body)
    }
}

/// XOR of the type, the two length bytes and the body: what the last byte of a frame must be.
///
/// Hand-written because it is one line and the point of the example; a real protocol would
/// use the `crc` crate.
pub fn checksum(kind: u8, len: u16, body: &[u8]) -> u8 {
    let [hi, lo] = len.to_be_bytes();
    body.iter().fold(kind ^ hi ^ lo, |acc, b| acc ^ b)
}

/// Writes one frame of type `kind` around `body`.
pub fn encode_frame(kind: u8, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
    let len = u16::try_from(body.len()).map_err(|_| {
        CodecError::Encode(format!(
            "a {}-byte body does not fit the u16 length",
            body.len()
        ))
    })?;
    dst.reserve(HEADER_LEN + body.len() + 1);
    dst.put_u8(MAGIC);
    dst.put_u8(kind);
    dst.put_u16(len);
    dst.put_slice(body);
    dst.put_u8(checksum(kind, len, body));
    Ok(())
}

/// The streaming nom parser for one frame: `Incomplete` until the whole frame is there.
pub fn parse_frame(input: &[u8]) -> nom::IResult<&[u8], ExampleFrame> {
    let (input, _) = tag(&[MAGIC][..])(input)?;
    let (input, kind) = be_u8(input)?;
    let (input, len) = be_u16(input)?;
    let (input, body) = take(len)(input)?;
    let (input, received) = be_u8(input)?;
    let frame = ExampleFrame {
        kind,
        body: Bytes::copy_from_slice(body),
        checksum_ok: received == checksum(kind, len, body),
    };
    Ok((input, frame))
}

/// The example protocol for [`NomCodec`]: device side uplinks in, commands out.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExampleProtocol;

impl ExampleProtocol {
    /// A ready codec with the given maximum frame size (header and checksum included).
    pub fn codec(max_message_size: usize) -> NomCodec<ExampleProtocol> {
        NomCodec::new(ExampleProtocol, max_message_size)
    }
}

impl NomProtocol for ExampleProtocol {
    type Frame = ExampleFrame;

    fn name(&self) -> &'static str {
        "example"
    }

    fn parse<'a>(&mut self, input: &'a [u8]) -> nom::IResult<&'a [u8], ExampleFrame> {
        parse_frame(input)
    }

    fn on_frame(
        &mut self,
        frame: ExampleFrame,
        out: &mut VecDeque<Inbound>,
    ) -> Result<(), CodecError> {
        let body = frame.body.clone();
        let message = frame.into_message().map_err(CodecError::Skipped)?;
        let fields = match &message {
            ExampleMessage::Hello { device_id } => {
                let mut ack = BytesMut::new();
                ExampleMessage::Ack { kind: KIND_HELLO }.encode(&mut ack)?;
                out.push_back(Inbound::Identity(device_id.clone()));
                out.push_back(Inbound::Reply(ack.freeze()));
                serde_json::json!({ "kind": "hello", "device_id": device_id })
            }
            ExampleMessage::Reading { sensor, value } => {
                serde_json::json!({ "kind": "reading", "sensor": sensor, "value": value })
            }
            ExampleMessage::Ack { .. } | ExampleMessage::Command(_) => {
                return Err(CodecError::Skipped(format!(
                    "downlink frame type {:#04x} sent by the device",
                    message.kind()
                )))
            }
        };
        out.push_back(Inbound::Message {
            data: body,
            fields: Some(fields),
        });
        Ok(())
    }

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            Outbound::Data(data) | Outbound::Binary(data) => encode_frame(KIND_COMMAND, &data, dst),
            Outbound::Close(_) => Ok(()),
        }
    }
}
