//! The per-connection H02 state machine behind the nom adapter: reads each line, answers
//! heartbeats and reports, names the device once, and frames commands for it.

use crate::decode;
use crate::frame::{self, Piece};
use crate::message::{H02Message, Kind};
use crate::options::H02Options;
use bytes::{Bytes, BytesMut};
use codecs::family::clock;
use codecs::{CodecError, Inbound, NomProtocol, Outbound};
use std::collections::VecDeque;

/// H02 protocol state for one connection.
#[derive(Debug)]
pub struct H02Protocol {
    options: H02Options,
    /// The id of the first line that named one: the uid, and the address of commands.
    device_id: Option<String>,
    too_long: u64,
}

impl H02Protocol {
    /// A fresh connection state: lines up to `options.max_line` bytes, answers timed by
    /// `options.clock`.
    pub fn new(options: H02Options) -> Self {
        H02Protocol {
            options,
            device_id: None,
            too_long: 0,
        }
    }

    /// Lines dropped because they reached the bound without `#`.
    pub fn too_long(&self) -> u64 {
        self.too_long
    }

    /// The server time as H02 answers write it: `YYYYMMDDHHMMSS`, UTC.
    fn server_time(&self) -> String {
        clock::rfc3339(self.options.clock.now_unix())
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect()
    }

    /// The answer a line gets, as Traccar writes it: a heartbeat is echoed up to its type
    /// word; `V1` reports (unless `answer_locations = "false"`) and cell reports that could be
    /// read get a `V4` with the server time. Nothing else is answered.
    fn answer(&self, msg: &H02Message) -> Option<String> {
        let id = msg.device_id.as_deref()?;
        let maker = msg.details.maker.as_deref().unwrap_or("HQ");
        match msg.msg_type.as_str() {
            kind @ ("HTBT" | "V0") => Some(format!("*{maker},{id},{kind}#")),
            "V1" if self.options.answer_locations && msg.kind == Kind::Location => {
                Some(format!("*HQ,{id},V4,V1,{}#", self.server_time()))
            }
            "NBR" if msg.details.cells.is_some() => {
                Some(format!("*HQ,{id},V4,NBR,{}#", self.server_time()))
            }
            _ => None,
        }
    }
}

impl NomProtocol for H02Protocol {
    type Frame = Piece;

    fn name(&self) -> &'static str {
        crate::NAME
    }

    fn parse<'a>(&mut self, input: &'a [u8]) -> nom::IResult<&'a [u8], Piece> {
        frame::parse_piece(input, self.options.max_line)
    }

    fn on_frame(&mut self, piece: Piece, out: &mut VecDeque<Inbound>) -> Result<(), CodecError> {
        let line = match piece {
            Piece::Noise(_) => return Ok(()),
            Piece::TooLong(n) => {
                self.too_long += 1;
                return Err(CodecError::Skipped(format!(
                    "h02: {n} bytes without `#`: line dropped"
                )));
            }
            Piece::Line(line) => line,
        };
        let msg = decode::decode(&line, self.options.timezone_offset_minutes);
        if let (Some(id), None) = (&msg.device_id, &self.device_id) {
            self.device_id = Some(id.clone());
            out.push_back(Inbound::Identity(id.clone()));
        }
        if let Some(answer) = self.answer(&msg) {
            out.push_back(Inbound::Reply(Bytes::from(answer)));
        }
        out.push_back(Inbound::Message {
            data: line,
            fields: Some(msg.into_fields()),
        });
        Ok(())
    }

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        let text = match item {
            Outbound::Data(text) => text,
            // Any line, as given (the caller frames it).
            Outbound::Binary(bytes) => {
                dst.extend_from_slice(&bytes);
                return Ok(());
            }
            Outbound::Close(_) => return Ok(()),
        };
        let command = text.strip_suffix(b"#").unwrap_or(&text);
        if let Some(bad) = command
            .iter()
            .find(|&&b| matches!(b, b'#' | b'*' | b'\r' | b'\n'))
        {
            return Err(CodecError::Encode(format!(
                "h02: a command cannot hold {:?}: it would end the line",
                char::from(*bad)
            )));
        }
        let Some(id) = &self.device_id else {
            return Err(CodecError::Encode(
                "h02: the device has not sent its id yet".into(),
            ));
        };
        dst.extend_from_slice(b"*HQ,");
        dst.extend_from_slice(id.as_bytes());
        dst.extend_from_slice(b",");
        dst.extend_from_slice(command);
        dst.extend_from_slice(b"#");
        Ok(())
    }
}
