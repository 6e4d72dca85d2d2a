//! JT/T 808 framing: `7E | escaped header, body, checksum | 7E`.
//!
//! The streaming nom parser skips anything before the first `7E` (as Traccar's frame decoder
//! does), then waits for the closing `7E`. Escaping covers everything between the delimiters,
//! the checksum included: `7E` travels as `7D 02` and `7D` as `7D 01`. The checksum is the XOR
//! of every un-escaped header and body byte. Escaping is a two-rule byte substitution with no
//! library worth pulling in, so it is written here.

use bytes::Bytes;
use nom::bytes::complete::take_till;
use nom::IResult;

/// The frame delimiter.
pub const DELIMITER: u8 = 0x7e;
const ESCAPE: u8 = 0x7d;

/// Largest un-escaped content: 2019 header (17) + sub-package fields (4) + body (1023) + checksum.
pub const MAX_CONTENT: usize = 17 + 4 + 1023 + 1;
/// Largest frame on the wire: every content byte escaped, plus both delimiters.
pub const MAX_WIRE: usize = 2 * MAX_CONTENT + 2;

/// What the parser cut from the front of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// A delimited frame as it came over the wire, both `7E` included.
    Frame(Bytes),
    /// Bytes before a frame start (or a stray `7E` of an empty frame), dropped.
    Noise(usize),
}

/// Cuts one chunk from the front of `input`; `Incomplete` while a frame's closing `7E` is missing.
pub fn parse_chunk(input: &[u8]) -> IResult<&[u8], Chunk> {
    let (at_delimiter, garbage) = take_till(|b| b == DELIMITER)(input)?;
    if !garbage.is_empty() {
        return Ok((at_delimiter, Chunk::Noise(garbage.len())));
    }
    let Some(inner_and_rest) = input.get(1..) else {
        return Err(nom::Err::Incomplete(nom::Needed::new(1)));
    };
    match inner_and_rest.iter().position(|&b| b == DELIMITER) {
        // `7E 7E`: the first one closed an earlier frame; start again at the second.
        Some(0) => Ok((inner_and_rest, Chunk::Noise(1))),
        Some(end) => {
            let used = end + 2;
            Ok((
                &input[used..],
                Chunk::Frame(Bytes::copy_from_slice(&input[..used])),
            ))
        }
        None if input.len() >= MAX_WIRE => Err(nom::Err::Failure(nom::error::Error::new(
            input,
            nom::error::ErrorKind::TooLarge,
        ))),
        None => Err(nom::Err::Incomplete(nom::Needed::Unknown)),
    }
}

/// Undoes the escaping of the bytes between the delimiters; `None` on a `7D` that is not
/// followed by `01` or `02`.
pub fn unescape(escaped: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    while let Some(&b) = bytes.next() {
        if b == ESCAPE {
            match bytes.next() {
                Some(0x01) => out.push(ESCAPE),
                Some(0x02) => out.push(DELIMITER),
                _ => return None,
            }
        } else {
            out.push(b);
        }
    }
    Some(out)
}

/// Escapes `content` (header, body and checksum) into `out`.
pub fn escape_into(content: &[u8], out: &mut Vec<u8>) {
    for &b in content {
        match b {
            DELIMITER => out.extend_from_slice(&[ESCAPE, 0x02]),
            ESCAPE => out.extend_from_slice(&[ESCAPE, 0x01]),
            _ => out.push(b),
        }
    }
}

/// XOR of every byte.
pub fn xor(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// A complete wire frame: delimiters around the escaped content and its checksum.
pub fn wrap(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() * 2 + 4);
    out.push(DELIMITER);
    escape_into(content, &mut out);
    escape_into(&[xor(content)], &mut out);
    out.push(DELIMITER);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_before_the_first_delimiter_is_dropped_as_noise() {
        let input = hex::decode("24247e307d02087d01557e").unwrap();
        let (rest, chunk) = parse_chunk(&input).unwrap();
        assert_eq!(chunk, Chunk::Noise(2));
        let (rest, chunk) = parse_chunk(rest).unwrap();
        assert!(rest.is_empty());
        assert_eq!(chunk, Chunk::Frame(Bytes::from(input[2..].to_vec())));
    }

    #[test]
    fn a_frame_without_its_closing_delimiter_waits() {
        assert!(matches!(
            parse_chunk(&[0x7e, 1, 2]),
            Err(nom::Err::Incomplete(_))
        ));
        assert!(matches!(parse_chunk(&[0x7e]), Err(nom::Err::Incomplete(_))));
    }

    #[test]
    fn an_endless_frame_is_refused_at_the_largest_possible_size() {
        let mut input = vec![0x7e];
        input.resize(MAX_WIRE, 0x30);
        assert!(matches!(parse_chunk(&input), Err(nom::Err::Failure(_))));
    }

    #[test]
    fn escaping_round_trips_and_bad_escapes_are_refused() {
        let content = hex::decode("307e087d55").unwrap();
        let mut escaped = Vec::new();
        escape_into(&content, &mut escaped);
        assert_eq!(hex::encode(&escaped), "307d02087d0155");
        assert_eq!(unescape(&escaped).unwrap(), content);
        assert_eq!(unescape(&[0x7d, 0x03]), None);
        assert_eq!(unescape(&[0x30, 0x7d]), None);
    }
}
