//! The per-connection Teltonika state machine behind the nom adapter: accepts the IMEI,
//! checks and counts AVL packets, and encodes codec 12 commands.

use crate::avl::{self, Record};
use crate::frame::{self, Packet};
use crate::message::{Kind, Position, TeltonikaMessage};
use crate::options::TeltonikaOptions;
use bytes::{Bytes, BytesMut};
use codecs::family::{clock, Identity};
use codecs::{CodecError, Inbound, NomProtocol, Outbound};
use std::collections::VecDeque;

/// The one-byte answer that accepts an IMEI.
const ACCEPT: u8 = 0x01;

/// Teltonika protocol state for one connection.
#[derive(Debug, Default)]
pub struct TeltonikaProtocol {
    options: TeltonikaOptions,
    identity: Identity,
    bad_checksums: u64,
    bad_frames: u64,
}

impl TeltonikaProtocol {
    /// A fresh connection state with these settings.
    pub fn new(options: TeltonikaOptions) -> Self {
        TeltonikaProtocol {
            options,
            ..TeltonikaProtocol::default()
        }
    }

    /// Packets dropped (or refused) because their CRC did not match.
    pub fn bad_checksums(&self) -> u64 {
        self.bad_checksums
    }

    /// Checksum-valid packets dropped (or refused) because their records did not parse or
    /// N1 and N2 differ; the device gets no count and sends them again.
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames
    }

    fn refuse(&self, reason: String) -> CodecError {
        self.options.bad_checksum.refuse(reason)
    }

    fn imei(&mut self, packet: Bytes, out: &mut VecDeque<Inbound>) -> Result<(), CodecError> {
        let digits = packet.get(2..).unwrap_or_default();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            // Rejecting (answer 00) ends the session anyway: close with the reason instead.
            return Err(CodecError::Protocol(
                "teltonika: IMEI packet is not digits".into(),
            ));
        }
        let id = String::from_utf8_lossy(digits).into_owned();
        self.identity.announce(out, || id.clone());
        out.push_back(Inbound::Reply(Bytes::from_static(&[ACCEPT])));
        let mut msg = crate::message::new_message(Kind::Login, "imei");
        msg.device_id = Some(id);
        push(out, packet, msg);
        Ok(())
    }

    fn data(&mut self, packet: Bytes, out: &mut VecDeque<Inbound>) -> Result<(), CodecError> {
        let Some(data) = frame::checked_data(&packet) else {
            self.bad_checksums += 1;
            return Err(self.refuse("teltonika: CRC-16/IBM mismatch".into()));
        };
        let codec = data[0];
        let msg_type = format!("0x{codec:02x}");
        match codec {
            avl::CODEC_8 | avl::CODEC_8E | avl::CODEC_16 => {
                let Some(records) = avl::records(data) else {
                    self.bad_frames += 1;
                    return Err(self.refuse(format!(
                        "teltonika: codec {msg_type} records do not fill the packet"
                    )));
                };
                out.push_back(Inbound::Reply(count_reply(records.len())));
                for (index, record) in records.into_iter().enumerate() {
                    let mut msg = location(&msg_type, record);
                    msg.details.record_index = u8::try_from(index).ok();
                    push(out, packet.clone(), msg);
                }
            }
            avl::CODEC_12 | avl::CODEC_13 => {
                let Some(commands) = avl::commands(data) else {
                    self.bad_frames += 1;
                    return Err(
                        self.refuse(format!("teltonika: malformed codec {msg_type} packet"))
                    );
                };
                for command in commands {
                    let kind = if command.kind == 0x06 {
                        Kind::CommandResponse
                    } else {
                        Kind::Other
                    };
                    let mut msg = crate::message::new_message(kind, &msg_type);
                    msg.details.command_type = Some(command.kind);
                    msg.details.command_timestamp = command.timestamp;
                    msg.text = printable(&command.payload);
                    msg.raw = Some(hex::encode(&command.payload));
                    push(out, packet.clone(), msg);
                }
            }
            _ => {
                // An AVL codec this crate does not read: acknowledge N1 so the device does not
                // resend forever, and pass the data on raw.
                out.push_back(Inbound::Reply(count_reply(usize::from(
                    data.get(1).copied().unwrap_or(0),
                ))));
                let mut msg = crate::message::new_message(Kind::Other, &msg_type);
                msg.raw = Some(hex::encode(data));
                push(out, packet.clone(), msg);
            }
        }
        Ok(())
    }
}

fn count_reply(records: usize) -> Bytes {
    Bytes::copy_from_slice(&(records as u32).to_be_bytes())
}

fn push(out: &mut VecDeque<Inbound>, data: Bytes, msg: TeltonikaMessage) {
    out.push_back(Inbound::Message {
        data,
        fields: Some(msg.into_fields()),
    });
}

/// Text of a payload that is printable ASCII (line endings allowed), else `None`.
fn printable(payload: &[u8]) -> Option<String> {
    let ok = !payload.is_empty()
        && payload
            .iter()
            .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\r' || b == b'\n');
    ok.then(|| String::from_utf8_lossy(payload).into_owned())
}

fn location(msg_type: &str, record: Record) -> TeltonikaMessage {
    let mut msg = crate::message::new_message(Kind::Location, msg_type);
    msg.position = Some(Position {
        time: clock::rfc3339_ms(record.timestamp_ms),
        timestamp: Some(record.timestamp_ms.div_euclid(1000)),
        latitude: record.latitude,
        longitude: record.longitude,
        speed: f64::from(record.speed),
        course: record.angle,
        satellites: Some(record.satellites),
        fix: record.satellites > 0,
        altitude: Some(i32::from(record.altitude)),
    });
    let d = &mut msg.details;
    d.timestamp_ms = Some(record.timestamp_ms);
    d.priority = Some(record.priority);
    d.event_io_id = Some(record.event_io_id);
    d.generation_type = record.generation_type;
    d.io_total = Some(record.io_total);
    d.io = record
        .io
        .into_iter()
        .map(|(id, value)| (id.to_string(), value))
        .collect();
    msg
}

impl NomProtocol for TeltonikaProtocol {
    type Frame = Packet;

    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn parse<'a>(&mut self, input: &'a [u8]) -> nom::IResult<&'a [u8], Packet> {
        frame::parse_packet(input)
    }

    fn on_frame(&mut self, packet: Packet, out: &mut VecDeque<Inbound>) -> Result<(), CodecError> {
        match packet {
            Packet::Ping => {
                push(
                    out,
                    Bytes::from_static(&[0xff]),
                    crate::message::new_message(Kind::Heartbeat, "ping"),
                );
                Ok(())
            }
            Packet::Imei(imei) => self.imei(imei, out),
            Packet::Data(packet) => self.data(packet, out),
        }
    }

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        let payload = match item {
            Outbound::Data(payload) | Outbound::Binary(payload) => payload,
            Outbound::Close(_) => return Ok(()),
        };
        let data = avl::command_data(&payload)
            .ok_or_else(|| CodecError::Encode("teltonika: command too large".into()))?;
        dst.extend_from_slice(&frame::wrap(&data));
        Ok(())
    }
}
