//! The echo payload: what each message carries so that every reply can be checked.
//!
//! Layout, ASCII only and without a newline, so it travels unchanged over `text`, `frame` and
//! WebSocket text frames:
//!
//! ```text
//! DDDDDDDD SSSSSSSSSSSSSSSS TTTTTTTTTTTTTTTT CCCCCCCC abcdefg…
//! device   sequence number  send time (ns)   check    padding up to the payload size
//! ```
//!
//! Fields are fixed-width lowercase hex. The check is a 32-bit mix of the three numbers, and the
//! padding is compared byte for byte with the expected pattern, so a reply with any byte changed
//! is reported as corrupted. Hand-written because it is a few fixed-width fields on the hot path:
//! formatting with `write!` would cost more than the rest of a round trip.

/// Bytes taken by the fixed fields; the smallest payload there is.
pub const HEADER_LEN: usize = 51;

const DEVICE: std::ops::Range<usize> = 0..8;
const SEQ: std::ops::Range<usize> = 9..25;
const TS: std::ops::Range<usize> = 26..42;
const CHECK: std::ops::Range<usize> = 43..51;
const SEPARATORS: [usize; 3] = [8, 25, 42];
const HEX: &[u8; 16] = b"0123456789abcdef";

/// What a payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The sending device's index (low 32 bits of its fleet-wide index).
    pub device: u32,
    /// The device's sequence number, from 0.
    pub seq: u64,
    /// Send time in nanoseconds since the run's epoch.
    pub ts_ns: u64,
}

/// Why a reply is not a payload this run sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The requested payload size cannot hold the fixed fields.
    #[error("payload of {0} bytes is too small: at least {HEADER_LEN} bytes are needed")]
    TooSmall(usize),
    /// The reply's length differs from the payload size.
    #[error("reply of {got} bytes, expected {expected}")]
    Length {
        /// The payload size of this run.
        expected: usize,
        /// The reply's size.
        got: usize,
    },
    /// A field is not fixed-width lowercase hex, or a separator is missing.
    #[error("malformed field `{0}`")]
    Field(&'static str),
    /// The check does not match the numbers.
    #[error("check mismatch")]
    Check,
    /// The padding differs from the pattern.
    #[error("padding differs")]
    Padding,
}

/// The payload size of a run and its padding pattern, shared by all of a group's devices.
#[derive(Debug, Clone)]
pub struct PayloadFormat {
    len: usize,
    padding: Vec<u8>,
}

impl PayloadFormat {
    /// A format for payloads of exactly `len` bytes.
    pub fn new(len: usize) -> Result<Self, PayloadError> {
        if len < HEADER_LEN {
            return Err(PayloadError::TooSmall(len));
        }
        let padding = (0..len - HEADER_LEN)
            .map(|i| if i == 0 { b' ' } else { b'a' + (i % 26) as u8 })
            .collect();
        Ok(PayloadFormat { len, padding })
    }

    /// The payload size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a payload holds at least the fixed fields.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the payload for `stamp` into `out`, which must be exactly [`Self::len`] bytes.
    pub fn write(&self, out: &mut [u8], stamp: Stamp) {
        debug_assert_eq!(out.len(), self.len);
        put_hex(&mut out[DEVICE], u64::from(stamp.device));
        put_hex(&mut out[SEQ], stamp.seq);
        put_hex(&mut out[TS], stamp.ts_ns);
        put_hex(&mut out[CHECK], u64::from(check(stamp)));
        for i in SEPARATORS {
            out[i] = b' ';
        }
        out[HEADER_LEN..].copy_from_slice(&self.padding);
    }

    /// The payload as a new vector (for tests and the slow paths).
    pub fn to_vec(&self, stamp: Stamp) -> Vec<u8> {
        let mut out = vec![0; self.len];
        self.write(&mut out, stamp);
        out
    }

    /// Reads and verifies a reply.
    pub fn read(&self, msg: &[u8]) -> Result<Stamp, PayloadError> {
        if msg.len() != self.len {
            return Err(PayloadError::Length {
                expected: self.len,
                got: msg.len(),
            });
        }
        if SEPARATORS.iter().any(|&i| msg[i] != b' ') {
            return Err(PayloadError::Field("separator"));
        }
        let device = get_hex(&msg[DEVICE]).ok_or(PayloadError::Field("device"))?;
        let seq = get_hex(&msg[SEQ]).ok_or(PayloadError::Field("seq"))?;
        let ts_ns = get_hex(&msg[TS]).ok_or(PayloadError::Field("ts"))?;
        let sent_check = get_hex(&msg[CHECK]).ok_or(PayloadError::Field("check"))?;
        let stamp = Stamp {
            device: device as u32,
            seq,
            ts_ns,
        };
        if sent_check != u64::from(check(stamp)) {
            return Err(PayloadError::Check);
        }
        if msg[HEADER_LEN..] != self.padding[..] {
            return Err(PayloadError::Padding);
        }
        Ok(stamp)
    }
}

/// A 32-bit mix of the numeric fields (splitmix64's finaliser): any changed digit changes it,
/// except with odds of 2^-32.
fn check(stamp: Stamp) -> u32 {
    let mut h = u64::from(stamp.device)
        ^ stamp.seq.rotate_left(23)
        ^ stamp.ts_ns.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h ^ (h >> 32)) as u32
}

/// Writes the low `out.len() * 4` bits of `v` as lowercase hex.
fn put_hex(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = HEX[(v & 0xf) as usize];
        v >>= 4;
    }
}

/// Parses fixed-width lowercase hex (at most 16 digits).
fn get_hex(digits: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &d in digits {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(n);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            device: 0xdead_beef,
            seq: 42,
            ts_ns: 123_456_789,
        }
    }

    #[test]
    fn a_written_payload_reads_back_to_the_same_stamp() {
        let fmt = PayloadFormat::new(64).unwrap();
        let msg = fmt.to_vec(stamp());
        assert_eq!(msg.len(), 64);
        assert!(!msg.contains(&b'\n'));
        assert_eq!(fmt.read(&msg), Ok(stamp()));
    }

    #[test]
    fn the_smallest_payload_is_the_header() {
        assert_eq!(
            PayloadFormat::new(HEADER_LEN - 1).unwrap_err(),
            PayloadError::TooSmall(50)
        );
        let fmt = PayloadFormat::new(HEADER_LEN).unwrap();
        assert_eq!(fmt.read(&fmt.to_vec(stamp())), Ok(stamp()));
    }

    #[test]
    fn changing_any_single_byte_is_detected() {
        let fmt = PayloadFormat::new(80).unwrap();
        let good = fmt.to_vec(stamp());
        for i in 0..good.len() {
            for replacement in [b'#', b'0', b'f', b'a', b' '] {
                if good[i] == replacement {
                    continue;
                }
                let mut bad = good.clone();
                bad[i] = replacement;
                assert!(fmt.read(&bad).is_err(), "byte {i} -> {replacement}");
            }
        }
    }

    #[test]
    fn a_reply_of_another_length_is_rejected() {
        let fmt = PayloadFormat::new(64).unwrap();
        let mut msg = fmt.to_vec(stamp());
        msg.push(b'a');
        assert!(matches!(fmt.read(&msg), Err(PayloadError::Length { .. })));
        assert!(matches!(fmt.read(b""), Err(PayloadError::Length { .. })));
    }
}
