//! Client-side framing for the byte-stream protocols: `text` (one message per line) and `frame`
//! (a 4-byte big-endian total length, header included, then the body), the same wire formats as
//! devgate's stock codecs.
//!
//! Written here rather than driven through the `codecs` crate's `Codec` objects because a load
//! generator must not allocate per message: this encodes straight into the connection's write
//! buffer and decodes to borrowed slices of the read buffer. The formats are one line each.

use bytes::BytesMut;
use std::ops::Range;

/// The framing of a byte-stream protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Newline-delimited messages (a trailing `\r` is not expected: payloads never hold one).
    Text,
    /// 4-byte big-endian total length (header included), then the body.
    Frame,
}

/// The byte stream cannot be split into messages any more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// A message is longer than the limit.
    #[error("message longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A frame header announces a length shorter than the header itself.
    #[error("frame length {0} is shorter than its 4-byte header")]
    BadLength(u32),
}

/// One complete message found in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Where the message body is, relative to the slice searched.
    pub body: Range<usize>,
    /// Bytes to consume, framing included.
    pub consumed: usize,
}

impl Framing {
    /// Bytes of framing added to each message.
    pub fn overhead(self) -> usize {
        match self {
            Framing::Text => 1,
            Framing::Frame => 4,
        }
    }

    /// Appends one message of `len` body bytes, which `fill` writes.
    pub fn encode_with(self, out: &mut BytesMut, len: usize, fill: impl FnOnce(&mut [u8])) {
        let start = out.len();
        out.resize(start + len + self.overhead(), 0);
        match self {
            Framing::Text => {
                fill(&mut out[start..start + len]);
                out[start + len] = b'\n';
            }
            Framing::Frame => {
                // Bodies are bounded by the payload size, far below 4 GiB.
                let total = (len + 4) as u32;
                out[start..start + 4].copy_from_slice(&total.to_be_bytes());
                fill(&mut out[start + 4..]);
            }
        }
    }

    /// Finds the first complete message in `buf`: `Ok(None)` when more bytes are needed.
    pub fn next(self, buf: &[u8], max: usize) -> Result<Option<Found>, FramingError> {
        match self {
            Framing::Text => match memchr::memchr(b'\n', buf) {
                Some(end) if end <= max => Ok(Some(Found {
                    body: 0..end,
                    consumed: end + 1,
                })),
                Some(_) => Err(FramingError::TooLong { max }),
                None if buf.len() > max => Err(FramingError::TooLong { max }),
                None => Ok(None),
            },
            Framing::Frame => {
                let Some(header) = buf.get(..4) else {
                    return Ok(None);
                };
                let total = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
                if total < 4 {
                    return Err(FramingError::BadLength(total));
                }
                let total = total as usize;
                if total - 4 > max {
                    return Err(FramingError::TooLong { max });
                }
                if buf.len() < total {
                    return Ok(None);
                }
                Ok(Some(Found {
                    body: 4..total,
                    consumed: total,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(framing: Framing, bodies: &[&[u8]]) -> BytesMut {
        let mut out = BytesMut::new();
        for body in bodies {
            framing.encode_with(&mut out, body.len(), |dst| dst.copy_from_slice(body));
        }
        out
    }

    fn decode_all(framing: Framing, mut buf: &[u8]) -> Vec<Vec<u8>> {
        let mut found = Vec::new();
        while let Some(f) = framing.next(buf, 1024).unwrap() {
            found.push(buf[f.body].to_vec());
            buf = &buf[f.consumed..];
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        found
    }

    #[test]
    fn text_messages_are_lines() {
        let out = encode(Framing::Text, &[b"one", b"", b"three"]);
        assert_eq!(&out[..], b"one\n\nthree\n");
        assert_eq!(
            decode_all(Framing::Text, &out),
            vec![b"one".to_vec(), vec![], b"three".to_vec()]
        );
    }

    #[test]
    fn frames_carry_their_total_length_header_included() {
        let out = encode(Framing::Frame, &[b"abc", b""]);
        assert_eq!(&out[..], b"\0\0\0\x07abc\0\0\0\x04");
        assert_eq!(
            decode_all(Framing::Frame, &out),
            vec![b"abc".to_vec(), vec![]]
        );
    }

    #[test]
    fn a_partial_message_waits_for_more_bytes_at_every_split_point() {
        for framing in [Framing::Text, Framing::Frame] {
            let out = encode(framing, &[b"hello world"]);
            for cut in 0..out.len() {
                assert_eq!(
                    framing.next(&out[..cut], 1024),
                    Ok(None),
                    "{framing:?} {cut}"
                );
            }
        }
    }

    #[test]
    fn oversized_and_malformed_input_is_an_error_not_a_wait() {
        assert_eq!(
            Framing::Text.next(&[b'a'; 20], 10),
            Err(FramingError::TooLong { max: 10 })
        );
        assert_eq!(
            Framing::Frame.next(&[0, 0, 1, 0], 10),
            Err(FramingError::TooLong { max: 10 })
        );
        assert_eq!(
            Framing::Frame.next(&[0, 0, 0, 3], 10),
            Err(FramingError::BadLength(3))
        );
    }
}
