//! The demo frame, `7E LEN TYPE SERIAL(2) BODY XOR`: the streaming nom framer, the checksum and
//! the frame builder. Replace with the real protocol's.

use nom::bytes::streaming::{tag, take};
use nom::number::streaming::be_u8;
use nom::IResult;

/// Start marker of every frame.
pub const START: u8 = 0x7e;

/// The largest frame: start, LEN, 255 bytes, XOR.
pub const MAX_FRAME: usize = 3 + u8::MAX as usize;

/// One frame as it came, checksum not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The whole frame, start to checksum.
    pub bytes: bytes::Bytes,
}

impl RawFrame {
    /// TYPE, SERIAL and BODY: the bytes LEN counts.
    pub fn inner(&self) -> &[u8] {
        self.bytes
            .get(2..self.bytes.len().saturating_sub(1))
            .unwrap_or_default()
    }

    /// True when the XOR of LEN through BODY is the last byte.
    pub fn checksum_ok(&self) -> bool {
        match self.bytes.split_last() {
            Some((&sent, covered)) => xor(covered.get(1..).unwrap_or_default()) == sent,
            None => false,
        }
    }
}

/// Cuts one frame from the front of `input`; `Incomplete` until the whole frame is there.
pub fn parse_frame(input: &[u8]) -> IResult<&[u8], RawFrame> {
    let (rest, _) = tag(&[START][..])(input)?;
    let (rest, len) = be_u8(rest)?;
    let (rest, _) = take(usize::from(len) + 1)(rest)?;
    let used = input.len() - rest.len();
    let bytes = bytes::Bytes::copy_from_slice(&input[..used]);
    Ok((rest, RawFrame { bytes }))
}

/// XOR of every byte.
pub fn xor(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// A whole frame of `kind` with `serial` and `body`, or `None` when it does not fit LEN.
pub fn build_frame(kind: u8, serial: u16, body: &[u8]) -> Option<Vec<u8>> {
    let len = u8::try_from(body.len() + 3).ok()?;
    let mut frame = Vec::with_capacity(body.len() + 6);
    frame.extend_from_slice(&[START, len, kind]);
    frame.extend_from_slice(&serial.to_be_bytes());
    frame.extend_from_slice(body);
    frame.push(xor(&frame[1..]));
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_frame_parses_back_whole_with_a_good_checksum() {
        let built = build_frame(0x02, 7, &[]).unwrap();
        let (rest, frame) = parse_frame(&built).unwrap();
        assert!(rest.is_empty());
        assert!(frame.checksum_ok());
        assert_eq!(frame.inner(), &[0x02, 0, 7]);
    }

    #[test]
    fn a_partial_frame_asks_for_more() {
        let built = build_frame(0x02, 7, &[]).unwrap();
        assert!(matches!(
            parse_frame(&built[..3]),
            Err(nom::Err::Incomplete(_))
        ));
    }
}
