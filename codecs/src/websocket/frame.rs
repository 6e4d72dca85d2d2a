//! Frame-level pieces over tungstenite's frame types: reading a client frame header,
//! unmasking a payload in place, and writing server (unmasked) frames.

use crate::{CloseFrame, CodecError};
use bytes::{BufMut, BytesMut};
use std::io::Cursor;
use tungstenite::protocol::frame::coding::{CloseCode, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// Longest frame header: 2 bytes, an 8-byte length and a 4-byte mask (RFC 6455 §5.2).
pub const MAX_FRAME_HEADER: usize = 14;

/// Largest payload of a control frame (RFC 6455 §5.5).
pub(super) const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame header read from the buffer, and where its payload lies.
#[derive(Debug)]
pub(super) struct Head {
    /// Flags, opcode and mask as tungstenite parsed them.
    pub(super) header: FrameHeader,
    /// Bytes the header occupies.
    pub(super) header_len: usize,
    /// Payload length announced by the header.
    pub(super) payload_len: u64,
}

/// Reads the header at the front of `buf`; `Ok(None)` until all of it (at most 14 bytes) is there.
pub(super) fn parse_head(buf: &[u8]) -> Result<Option<Head>, tungstenite::Error> {
    let mut cursor = Cursor::new(buf);
    Ok(
        FrameHeader::parse(&mut cursor)?.map(|(header, payload_len)| Head {
            header,
            // The cursor only moved over the header, which is at most 14 bytes.
            header_len: cursor.position() as usize,
            payload_len,
        }),
    )
}

/// XORs `buf` with the 4-byte client mask, in place.
///
/// Hand-written because tungstenite keeps its `apply_mask` private; eight bytes at a time so the
/// compiler vectorises it, which matters as every inbound byte goes through here.
pub(super) fn unmask(buf: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // Chunks are 8 bytes, so the remainder starts on a mask boundary.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// Appends one final, unmasked (server-to-client) frame to `dst`.
pub(super) fn write_frame(
    opcode: OpCode,
    payload: &[u8],
    dst: &mut BytesMut,
) -> Result<(), CodecError> {
    let header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    let len = payload.len() as u64;
    dst.reserve(header.len(len) + payload.len());
    header
        .format(len, &mut BufMut::writer(&mut *dst))
        .map_err(|e| CodecError::Encode(format!("frame header: {e}")))?;
    dst.put_slice(payload);
    Ok(())
}

/// Appends a close frame with `code` and `reason` (cut to fit the 125-byte control limit).
pub(super) fn write_close(
    close: Option<&CloseFrame>,
    dst: &mut BytesMut,
) -> Result<(), CodecError> {
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    let len = match close {
        None => 0,
        Some(close) => {
            payload[..2].copy_from_slice(&close.code.to_be_bytes());
            let reason = truncate_utf8(&close.reason, MAX_CONTROL_PAYLOAD - 2);
            payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
            2 + reason.len()
        }
    };
    write_frame(
        OpCode::Control(tungstenite::protocol::frame::coding::Control::Close),
        &payload[..len],
        dst,
    )
}

/// Why a close payload was refused: the close code to answer with and the error.
pub(super) type CloseViolation = (u16, CodecError);

/// Decodes a close frame's payload: no body, or a valid status code and a UTF-8 reason.
pub(super) fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, CloseViolation> {
    match payload {
        [] => Ok(None),
        [_] => Err((
            1002,
            CodecError::Protocol("close frame with a 1-byte body".into()),
        )),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !CloseCode::from(code).is_allowed() {
                return Err((
                    1002,
                    CodecError::Protocol(format!("close code {code} is not allowed on the wire")),
                ));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| {
                (
                    1007,
                    CodecError::Protocol("close reason is not valid UTF-8".into()),
                )
            })?;
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_string(),
            }))
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
fn truncate_utf8(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
