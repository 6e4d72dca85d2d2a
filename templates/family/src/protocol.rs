//! The per-connection {{name}} state behind the nom adapter: checks each frame, answers it,
//! names the device once, and encodes commands.

use crate::frame::{self, RawFrame};
use crate::message::{new_message, Kind, Position, {{Name}}Message};
use crate::options::{{Name}}Options;
use bytes::{Bytes, BytesMut};
use codecs::family::{clock, Identity};
use codecs::{CodecError, Inbound, NomProtocol, Outbound};
use nom::number::complete::{be_i32, be_u16, be_u32, be_u8};
use nom::sequence::tuple;
use std::collections::VecDeque;

const LOGIN: u8 = 0x01;
const HEARTBEAT: u8 = 0x02;
const LOCATION: u8 = 0x10;
/// A text command to the device.
const COMMAND: u8 = 0x80;

/// {{name}} protocol state for one connection.
#[derive(Debug, Default)]
pub struct {{Name}}Protocol {
    options: {{Name}}Options,
    identity: Identity,
    command_serial: u16,
    bad_checksums: u64,
}

impl {{Name}}Protocol {
    /// A fresh connection state with these settings.
    pub fn new(options: {{Name}}Options) -> Self {
        {{Name}}Protocol {
            options,
            ..Self::default()
        }
    }

    /// Frames dropped (or refused) because their checksum did not match.
    pub fn bad_checksums(&self) -> u64 {
        self.bad_checksums
    }
}

impl NomProtocol for {{Name}}Protocol {
    type Frame = RawFrame;

    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn parse<'a>(&mut self, input: &'a [u8]) -> nom::IResult<&'a [u8], RawFrame> {
        frame::parse_frame(input)
    }

    fn on_frame(&mut self, raw: RawFrame, out: &mut VecDeque<Inbound>) -> Result<(), CodecError> {
        if !raw.checksum_ok() {
            self.bad_checksums += 1;
            let reason = format!("{}: checksum mismatch", crate::NAME);
            return Err(self.options.bad_checksum.refuse(reason));
        }
        let (kind_byte, serial, body) = match raw.inner() {
            [kind, hi, lo, body @ ..] => (*kind, u16::from_be_bytes([*hi, *lo]), body),
            _ => {
                return Err(CodecError::Skipped(format!(
                    "{}: frame too short",
                    crate::NAME
                )))
            }
        };
        let mut msg = decode(kind_byte, body);
        msg.serial = Some(serial);
        if let Some(imei) = &msg.device_id {
            self.identity.announce(out, || imei.clone());
        }
        // The heartbeat's answer carries the server time: read from the clock the codec was
        // given, never from the system directly, so tests can fix it.
        let answer = match kind_byte {
            HEARTBEAT => Some(
                seconds(self.options.clock.now_unix())
                    .to_be_bytes()
                    .to_vec(),
            ),
            LOGIN | LOCATION => Some(Vec::new()),
            _ => None,
        };
        if let Some(body) = answer {
            if let Some(ack) = frame::build_frame(kind_byte | 0x80, serial, &body) {
                out.push_back(Inbound::Reply(Bytes::from(ack)));
            }
        }
        out.push_back(Inbound::Message {
            data: raw.bytes,
            fields: Some(msg.into_fields()),
        });
        Ok(())
    }

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        let (kind_byte, body) = match item {
            Outbound::Data(text) => (COMMAND, text),
            Outbound::Binary(packet) => match packet.split_first() {
                Some((&kind_byte, _)) => (kind_byte, packet.slice(1..)),
                None => return Err(CodecError::Encode("empty binary packet".into())),
            },
            Outbound::Close(_) => return Ok(()),
        };
        let frame = frame::build_frame(kind_byte, self.command_serial, &body).ok_or_else(|| {
            CodecError::Encode(format!("{} bytes do not fit a frame", body.len()))
        })?;
        self.command_serial = self.command_serial.wrapping_add(1);
        dst.extend_from_slice(&frame);
        Ok(())
    }
}

/// Unix seconds as the frame's u32 (0 outside its range).
fn seconds(unix: i64) -> u32 {
    u32::try_from(unix).unwrap_or(0)
}

/// A checked frame's body as the typed message; a body too short for its type becomes `other`
/// with the bytes in `raw` and the reason in `details.decode_error`, so nothing is lost.
fn decode(kind_byte: u8, body: &[u8]) -> {{Name}}Message {
    let kind = match kind_byte {
        LOGIN => Kind::Login,
        HEARTBEAT => Kind::Heartbeat,
        LOCATION => Kind::Location,
        _ => Kind::Other,
    };
    let mut msg = new_message(kind, kind_byte);
    let read = match kind {
        Kind::Login => login(body, &mut msg),
        Kind::Location => location(body, &mut msg),
        Kind::Heartbeat => Ok(()),
        Kind::Other => Err(String::new()),
    };
    if let Err(reason) = read {
        msg.kind = Kind::Other;
        msg.raw = Some(hex(body));
        msg.details.decode_error = Some(reason).filter(|r| !r.is_empty());
    }
    msg
}

fn login(body: &[u8], msg: &mut {{Name}}Message) -> Result<(), String> {
    if body.len() != 15 || !body.iter().all(u8::is_ascii_digit) {
        return Err("login: the IMEI is not 15 digits".into());
    }
    msg.device_id = Some(String::from_utf8_lossy(body).into_owned());
    Ok(())
}

fn location(body: &[u8], msg: &mut {{Name}}Message) -> Result<(), String> {
    let parsed: nom::IResult<&[u8], _> =
        tuple((be_u32, be_i32, be_i32, be_u16, be_u16, be_u8))(body);
    let (_, (time, lat, lon, speed, course, flags)) =
        parsed.map_err(|_| "location: body too short".to_string())?;
    let timestamp = i64::from(time);
    msg.position = Some(Position {
        time: clock::rfc3339(timestamp),
        timestamp: Some(timestamp),
        latitude: f64::from(lat) / 1e6,
        longitude: f64::from(lon) / 1e6,
        speed: f64::from(speed) / 10.0,
        course,
        satellites: None,
        fix: flags & 1 != 0,
        altitude: None,
    });
    msg.details.flags = Some(flags);
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
