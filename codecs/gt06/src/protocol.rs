//! The per-connection GT06 state machine behind the nom adapter: checks each frame, answers
//! it, names the device once, and encodes commands.

use crate::decode;
use crate::frame::{self, RawFrame};
use crate::message::{Gt06Message, Kind};
use crate::options::Gt06Options;
use bytes::{Bytes, BytesMut};
use codecs::family::Identity;
use codecs::{CodecError, Inbound, NomProtocol, Outbound};
use std::collections::VecDeque;

/// Protocol numbers the server answers with an echo `78 78 05 <proto> <serial> <crc> 0D 0A`:
/// login, locations, status, alarms and command responses. Information (0x94), dash-cam
/// alarms (0x95) and unknown packets get no answer.
const ACKED: &[u8] = &[
    0x01, 0x10, 0x11, 0x12, 0x13, 0x15, 0x16, 0x19, 0x22, 0x23, 0x26, 0x2d, 0x37,
];

/// WiFi packets whose firmware puts the access-point count where LEN belongs and sends no
/// serial or CRC.
const WIFI_NO_CRC: &[u8] = &[0x69, 0x17];

/// Server command: online text command, answered by 0x15 / 0x21.
const COMMAND: u8 = 0x80;

/// GT06 protocol state for one connection.
#[derive(Debug, Default)]
pub struct Gt06Protocol {
    options: Gt06Options,
    timezone_minutes: i32,
    identity: Identity,
    command_serial: u16,
    bad_checksums: u64,
    bad_lengths: u64,
}

impl Gt06Protocol {
    /// A fresh connection state with these settings.
    pub fn new(options: Gt06Options) -> Self {
        Gt06Protocol {
            options,
            timezone_minutes: options.timezone_offset_minutes,
            ..Gt06Protocol::default()
        }
    }

    /// Frames dropped (or refused) because their CRC did not match.
    pub fn bad_checksums(&self) -> u64 {
        self.bad_checksums
    }

    /// Frames dropped (or refused) because LEN disagreed with the `0D 0A` terminator.
    pub fn bad_lengths(&self) -> u64 {
        self.bad_lengths
    }

    fn refuse(&self, reason: String) -> CodecError {
        self.options.bad_checksum.refuse(reason)
    }

    fn wifi_variant(&self, raw: &RawFrame, out: &mut VecDeque<Inbound>) {
        let proto = raw.proto().unwrap_or_default();
        let mut msg = crate::message::new_message(Kind::Other, proto);
        let content = raw
            .bytes
            .get(raw.header_len() + 1..raw.bytes.len() - 2)
            .unwrap_or_default();
        msg.raw = Some(hex::encode(content));
        msg.details.unverified = Some(true);
        push_message(out, raw.bytes.clone(), msg);
    }
}

fn push_message(out: &mut VecDeque<Inbound>, data: Bytes, msg: Gt06Message) {
    out.push_back(Inbound::Message {
        data,
        fields: Some(msg.into_fields()),
    });
}

impl NomProtocol for Gt06Protocol {
    type Frame = RawFrame;

    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn parse<'a>(&mut self, input: &'a [u8]) -> nom::IResult<&'a [u8], RawFrame> {
        frame::parse_frame(input)
    }

    fn on_frame(&mut self, raw: RawFrame, out: &mut VecDeque<Inbound>) -> Result<(), CodecError> {
        let header = raw.header_len();
        let bytes = &raw.bytes;
        if !raw.length_ok {
            if raw.proto().is_some_and(|p| WIFI_NO_CRC.contains(&p)) {
                self.wifi_variant(&raw, out);
                return Ok(());
            }
            self.bad_lengths += 1;
            return Err(self.refuse(format!(
                "gt06: length field disagrees with the {}-byte frame",
                bytes.len()
            )));
        }
        // Start, LEN, PROTO, SERIAL, CRC, END: anything shorter has no room for its fields.
        if bytes.len() < header + 7 {
            self.bad_lengths += 1;
            return Err(self.refuse(format!("gt06: {}-byte frame is too short", bytes.len())));
        }
        if !frame::checksum_ok(bytes) {
            self.bad_checksums += 1;
            return Err(self.refuse("gt06: CRC-16/X-25 mismatch".to_string()));
        }
        let n = bytes.len();
        let proto = bytes[header];
        let serial = u16::from_be_bytes([bytes[n - 6], bytes[n - 5]]);
        let content = &bytes[header + 1..n - 6];

        let mut msg = decode::decode(proto, content, self.timezone_minutes);
        msg.serial = Some(serial);
        if proto == 0x01 {
            if let Some(offset) = msg.details.timezone_offset_minutes {
                self.timezone_minutes = offset;
            }
            if let Some(imei) = &msg.device_id {
                self.identity.announce(out, || imei.clone());
            }
        }
        if ACKED.contains(&proto) {
            if let Some(ack) = frame::build_frame(proto, &[], serial) {
                out.push_back(Inbound::Reply(Bytes::from(ack)));
            }
        }
        push_message(out, raw.bytes.clone(), msg);
        Ok(())
    }

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        let (proto, content) = match item {
            Outbound::Data(text) => (COMMAND, command_content(&text)?),
            Outbound::Binary(packet) => {
                let (&proto, content) = packet
                    .split_first()
                    .ok_or_else(|| CodecError::Encode("gt06: empty binary packet".into()))?;
                (proto, content.to_vec())
            }
            Outbound::Close(_) => return Ok(()),
        };
        let serial = self.command_serial;
        let frame = frame::build_frame(proto, &content, serial)
            .ok_or_else(|| CodecError::Encode("gt06: packet too large for one frame".into()))?;
        self.command_serial = self.command_serial.wrapping_add(1);
        dst.extend_from_slice(&frame);
        Ok(())
    }
}

/// 0x80 content: command length (4 + text), server flag 0, ASCII text.
fn command_content(text: &[u8]) -> Result<Vec<u8>, CodecError> {
    let length = u8::try_from(text.len() + 4)
        .ok()
        // The whole frame must stay in the short form: LEN = text + 10.
        .filter(|_| text.len() + 10 <= usize::from(u8::MAX))
        .ok_or_else(|| {
            CodecError::Encode(format!("gt06: command of {} bytes is too long", text.len()))
        })?;
    let mut content = Vec::with_capacity(text.len() + 5);
    content.push(length);
    content.extend_from_slice(&[0, 0, 0, 0]);
    content.extend_from_slice(text);
    Ok(content)
}
