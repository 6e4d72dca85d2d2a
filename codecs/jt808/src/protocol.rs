//! The per-connection JT/T 808 state machine behind the nom adapter: checks each frame,
//! answers it, names the terminal once, and encodes platform messages.

use crate::decode;
use crate::frame::{self, Chunk};
use crate::header::{self, Terminal};
use crate::options::Jt808Options;
use bytes::{Bytes, BytesMut};
use codecs::family::Identity;
use codecs::{CodecError, Inbound, NomProtocol, Outbound};
use std::collections::VecDeque;

/// Platform general response.
const GENERAL_RESPONSE: u16 = 0x8001;
/// Answer to a registration, carrying the auth code.
const REGISTER_RESPONSE: u16 = 0x8100;
/// Text message to the terminal.
const TEXT_MESSAGE: u16 = 0x8300;

/// JT/T 808 protocol state for one connection.
#[derive(Debug)]
pub struct Jt808Protocol {
    options: Jt808Options,
    terminal: Option<Terminal>,
    identity: Identity,
    platform_serial: u16,
    bad_checksums: u64,
    bad_frames: u64,
}

impl Jt808Protocol {
    /// A fresh connection state with these settings.
    pub fn new(options: Jt808Options) -> Self {
        Jt808Protocol {
            options,
            terminal: None,
            identity: Identity::default(),
            platform_serial: 0,
            bad_checksums: 0,
            bad_frames: 0,
        }
    }

    /// Frames dropped (or refused) because their XOR checksum did not match.
    pub fn bad_checksums(&self) -> u64 {
        self.bad_checksums
    }

    /// Frames dropped (or refused) for a bad escape, a short header or a body length that
    /// disagrees with the header.
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames
    }

    fn refuse(&self, reason: String) -> CodecError {
        self.options.bad_checksum.refuse(reason)
    }

    fn bad_frame(&mut self, reason: &str) -> CodecError {
        self.bad_frames += 1;
        self.refuse(format!("jt808: {reason}"))
    }
}

impl NomProtocol for Jt808Protocol {
    type Frame = Chunk;

    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn parse<'a>(&mut self, input: &'a [u8]) -> nom::IResult<&'a [u8], Chunk> {
        frame::parse_chunk(input)
    }

    fn on_frame(&mut self, chunk: Chunk, out: &mut VecDeque<Inbound>) -> Result<(), CodecError> {
        let Chunk::Frame(wire) = chunk else {
            return Ok(());
        };
        let escaped = wire
            .get(1..wire.len().saturating_sub(1))
            .unwrap_or_default();
        let Some(content) = frame::unescape(escaped) else {
            return Err(self.bad_frame("7D not followed by 01 or 02"));
        };
        let Some((&checksum, signed)) = content.split_last() else {
            return Err(self.bad_frame("empty frame"));
        };
        if frame::xor(signed) != checksum {
            self.bad_checksums += 1;
            return Err(self.refuse("jt808: XOR checksum mismatch".into()));
        }
        let Ok((body, head)) = header::parse_header(signed) else {
            return Err(self.bad_frame("frame too short for its header"));
        };
        if body.len() != head.body_len() {
            return Err(self.bad_frame(&format!(
                "body of {} bytes, header says {}",
                body.len(),
                head.body_len()
            )));
        }

        let terminal = Terminal {
            phone: head.phone.clone(),
            version: head.version,
        };
        self.identity.announce(out, || head.phone_id());
        // Acks carry platform serial 0, as Traccar sends them: terminals match an ack by the
        // reply serial in its body. 0x0001 is itself an answer and gets none.
        let ack = match head.msg_id {
            0x0100 => {
                let mut body = head.serial.to_be_bytes().to_vec();
                body.push(0);
                body.extend_from_slice(head.phone_id().as_bytes());
                header::build(REGISTER_RESPONSE, &terminal, 0, &body)
            }
            0x0001 => None,
            id => {
                let mut body = head.serial.to_be_bytes().to_vec();
                body.extend_from_slice(&id.to_be_bytes());
                body.push(0);
                header::build(GENERAL_RESPONSE, &terminal, 0, &body)
            }
        };
        if let Some(ack) = ack {
            out.push_back(Inbound::Reply(Bytes::from(ack)));
        }
        self.terminal = Some(terminal);
        for msg in decode::decode(&head, body, self.options.timezone_offset_minutes) {
            out.push_back(Inbound::Message {
                data: wire.clone(),
                fields: Some(msg.into_fields()),
            });
        }
        Ok(())
    }

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        let (msg_id, body) = match item {
            Outbound::Data(text) => {
                let mut body = vec![self.options.text_flag];
                body.extend_from_slice(&gbk(&text));
                (TEXT_MESSAGE, body)
            }
            Outbound::Binary(packet) => match packet.as_ref() {
                [hi, lo, body @ ..] => (u16::from_be_bytes([*hi, *lo]), body.to_vec()),
                _ => {
                    return Err(CodecError::Encode(
                        "jt808: binary packet needs a 2-byte message id".into(),
                    ))
                }
            },
            Outbound::Close(_) => return Ok(()),
        };
        let terminal = self.terminal.as_ref().ok_or_else(|| {
            CodecError::Encode("jt808: terminal phone number not known yet".into())
        })?;
        let frame =
            header::build(msg_id, terminal, self.platform_serial, &body).ok_or_else(|| {
                CodecError::Encode(format!(
                    "jt808: body of {} bytes exceeds {}",
                    body.len(),
                    header::MAX_BODY
                ))
            })?;
        self.platform_serial = self.platform_serial.wrapping_add(1);
        dst.extend_from_slice(&frame);
        Ok(())
    }
}

/// Terminals show GBK: UTF-8 text is converted; other bytes are taken as already encoded.
fn gbk(text: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(text) {
        Ok(utf8) => encoding_rs::GBK.encode(utf8).0.into_owned(),
        Err(_) => text.to_vec(),
    }
}
