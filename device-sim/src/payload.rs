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
//! formatting with `write!` would cost more than the rest of a round trip, so hex digits are
//! even encoded and decoded eight at a time in a u64.

/// Bytes taken by the fixed fields; the smallest payload there is.
pub const HEADER_LEN: usize = 51;

const DEVICE: std::ops::Range<usize> = 0..8;
const SEQ: std::ops::Range<usize> = 9..25;
const TS: std::ops::Range<usize> = 26..42;
const CHECK: std::ops::Range<usize> = 43..51;
const SEPARATORS: [usize; 3] = [8, 25, 42];

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

/// One in every byte of a u64.
const ONES: u64 = 0x0101_0101_0101_0101;

/// Eight nibble values (one per byte, 0..=15) to their lowercase hex digits, all at once.
fn nibbles_to_ascii(n: u64) -> u64 {
    // Per byte: n + '0', plus ('a' - '0' - 10) when n >= 10 ((n + 6) carries into bit 4).
    n + ONES * u64::from(b'0') + (((n + ONES * 6) & (ONES * 0x10)) >> 4) * 39
}

/// The eight nibbles of `v`, most significant first, one per byte of a big-endian u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f
}

/// Writes `v` as 8 lowercase hex digits (`out` is 8 bytes).
fn put_hex32(out: &mut [u8], v: u32) {
    out.copy_from_slice(&nibbles_to_ascii(spread(v)).to_be_bytes());
}

/// Writes `v` as `out.len()` (8 or 16) lowercase hex digits.
fn put_hex(out: &mut [u8], v: u64) {
    if out.len() == 16 {
        put_hex32(&mut out[..8], (v >> 32) as u32);
        put_hex32(&mut out[8..], v as u32);
    } else {
        put_hex32(out, v as u32);
    }
}

/// Parses 8 lowercase hex digits, all at once: each byte's nibble is computed as if it were a
/// digit, and the input is valid exactly when every nibble fits and re-encodes to the input.
fn get_hex32(digits: &[u8]) -> Option<u32> {
    let x = u64::from_be_bytes(digits.try_into().ok()?);
    let letter = (x & (ONES * 0x40)) >> 6;
    let n = (x & (ONES * 0x0f)) + letter * 9;
    if (n + ONES * 0x70) & (ONES * 0x80) != 0 || nibbles_to_ascii(n) != x {
        return None;
    }
    let mut v = (n | (n >> 4)) & 0x00ff_00ff_00ff_00ff;
    v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff;
    v = (v | (v >> 16)) & 0x0000_0000_ffff_ffff;
    Some(v as u32)
}

/// Parses 8 or 16 lowercase hex digits.
fn get_hex(digits: &[u8]) -> Option<u64> {
    if digits.len() == 16 {
        let hi = get_hex32(&digits[..8])?;
        let lo = get_hex32(&digits[8..])?;
        Some((u64::from(hi) << 32) | u64::from(lo))
    } else {
        get_hex32(digits).map(u64::from)
    }
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
    fn hex_fields_match_the_standard_formatting_and_reject_anything_else() {
        for v in [
            0u64,
            1,
            9,
            10,
            15,
            16,
            0xdead_beef,
            u64::MAX,
            0x0123_4567_89ab_cdef,
        ] {
            let mut out = [0u8; 16];
            put_hex(&mut out, v);
            assert_eq!(std::str::from_utf8(&out).unwrap(), format!("{v:016x}"));
            assert_eq!(get_hex(&out), Some(v));
            let mut short = [0u8; 8];
            put_hex(&mut short, v);
            assert_eq!(
                std::str::from_utf8(&short).unwrap(),
                format!("{:08x}", v as u32)
            );
            assert_eq!(get_hex(&short), Some(u64::from(v as u32)));
        }
        for bad in 0..=255u8 {
            if bad.is_ascii_digit() || (b'a'..=b'f').contains(&bad) {
                continue;
            }
            for at in 0..8 {
                let mut digits = *b"0123abcd";
                digits[at] = bad;
                assert_eq!(get_hex(&digits), None, "{bad:#x} at {at}");
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
