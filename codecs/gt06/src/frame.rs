//! GT06 framing: a streaming nom parser that cuts frames, and the builder for frames we send.
//!
//! ```text
//! 78 78 | LEN(1) | PROTO | CONTENT | SERIAL(2) | CRC(2) | 0D 0A    short form, size LEN + 5
//! 79 79 | LEN(2) | PROTO | CONTENT | SERIAL(2) | CRC(2) | 0D 0A    long form,  size LEN + 6
//! ```
//!
//! The parser trusts LEN first: `0D 0A` may occur inside binary content. Only when the bytes
//! at LEN are not `0D 0A` does it fall back to the first `0D 0A` after the header (a few
//! devices send a wrong LEN; WiFi packets put an access-point count there). It waits for LEN
//! bytes before deciding, so the result never depends on how the stream was split.

use bytes::Bytes;
use crc::{Crc, CRC_16_IBM_SDLC};
use nom::branch::alt;
use nom::bytes::streaming::{tag, take_until};
use nom::number::streaming::{be_u16, be_u8};
use nom::IResult;

/// CRC-16/X-25 ("CRC-ITU" in Concox manuals), over LEN through SERIAL.
pub(crate) const X25: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_SDLC);

const SHORT: &[u8] = &[0x78, 0x78];
const LONG: &[u8] = &[0x79, 0x79];
const END: &[u8] = &[0x0d, 0x0a];

/// Largest frame the long form can announce (LEN = 0xFFFF).
pub const MAX_FRAME: usize = 0xFFFF + 6;

/// One frame cut from the stream, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The whole frame, start bytes through `0D 0A`.
    pub bytes: Bytes,
    /// True for the `79 79` form with a 2-byte LEN.
    pub long: bool,
    /// False when LEN did not point at `0D 0A` and the frame was cut at the first `0D 0A`.
    pub length_ok: bool,
}

impl RawFrame {
    /// Bytes before the protocol number: start bytes and LEN.
    pub fn header_len(&self) -> usize {
        if self.long {
            4
        } else {
            3
        }
    }

    /// The protocol number, if the frame is long enough to have one.
    pub fn proto(&self) -> Option<u8> {
        self.bytes.get(self.header_len()).copied()
    }
}

/// Cuts one frame from the front of `input`; `Incomplete` until the whole frame is there.
pub fn parse_frame(input: &[u8]) -> IResult<&[u8], RawFrame> {
    let (after_start, start) = alt((tag(SHORT), tag(LONG)))(input)?;
    let long = start == LONG;
    let (_, len) = if long {
        be_u16(after_start)?
    } else {
        let (rest, len) = be_u8(after_start)?;
        (rest, u16::from(len))
    };
    let total = usize::from(len) + if long { 6 } else { 5 };
    if input.len() < total {
        return Err(nom::Err::Incomplete(nom::Needed::new(total - input.len())));
    }
    let (used, length_ok) = if &input[total - 2..total] == END {
        (total, true)
    } else {
        let (rest, _) = take_until(END)(after_start)?;
        (input.len() - rest.len() + END.len(), false)
    };
    let frame = RawFrame {
        bytes: Bytes::copy_from_slice(&input[..used]),
        long,
        length_ok,
    };
    Ok((&input[used..], frame))
}

/// True when the CRC before `0D 0A` matches the bytes from LEN through SERIAL.
pub fn checksum_ok(frame: &[u8]) -> bool {
    let n = frame.len();
    if n < 8 {
        return false;
    }
    let stored = u16::from_be_bytes([frame[n - 4], frame[n - 3]]);
    X25.checksum(&frame[2..n - 4]) == stored
}

/// Builds a frame: short form when it fits, long form otherwise. `None` when even the long
/// form cannot hold `content`.
pub fn build_frame(proto: u8, content: &[u8], serial: u16) -> Option<Vec<u8>> {
    let len = content.len() + 5;
    let mut out = Vec::with_capacity(len + 6);
    if len <= usize::from(u8::MAX) {
        out.extend_from_slice(SHORT);
        out.push(len as u8);
    } else {
        let len = u16::try_from(len).ok()?;
        out.extend_from_slice(LONG);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.push(proto);
    out.extend_from_slice(content);
    out.extend_from_slice(&serial.to_be_bytes());
    let crc = X25.checksum(&out[2..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(END);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_x25_with_the_standard_check_value() {
        assert_eq!(X25.checksum(b"123456789"), 0x906E);
    }

    #[test]
    fn the_manual_login_ack_is_built_byte_for_byte() {
        let ack = build_frame(0x01, &[], 1).unwrap();
        assert_eq!(hex::encode(ack), "787805010001d9dc0d0a");
    }

    #[test]
    fn a_frame_waits_for_its_announced_length_even_when_0d0a_appears_early() {
        // LEN says 10 content bytes; a 0D 0A inside must not cut the frame short.
        let frame = build_frame(0x99, &[1, 0x0d, 0x0a, 4, 5], 7).unwrap();
        let partial = &frame[..frame.len() - 1];
        assert!(matches!(parse_frame(partial), Err(nom::Err::Incomplete(_))));
        let (rest, parsed) = parse_frame(&frame).unwrap();
        assert!(rest.is_empty());
        assert!(parsed.length_ok);
        assert_eq!(parsed.bytes.len(), frame.len());
    }

    #[test]
    fn a_wrong_length_falls_back_to_the_first_terminator() {
        let bytes = hex::decode("787808134606020002044dc5050d0a").unwrap();
        let (rest, parsed) = parse_frame(&bytes).unwrap();
        assert!(rest.is_empty());
        assert!(!parsed.length_ok);
        assert_eq!(parsed.bytes.len(), bytes.len());
    }

    #[test]
    fn bytes_that_are_not_a_start_marker_are_an_error() {
        assert!(matches!(
            parse_frame(b"GET / HTTP/1.1"),
            Err(nom::Err::Error(_))
        ));
        assert!(matches!(parse_frame(&[0x78]), Err(nom::Err::Incomplete(_))));
    }
}
