//! Teltonika framing over TCP: the IMEI packet, AVL data packets and the `FF` keep-alive.
//!
//! ```text
//! IMEI:      00 0F | 15 ASCII digits                                  (first packet)
//! AVL data:  00000000 | data length u32 | codec .. N2 | CRC u32        (size = length + 12)
//! keep-alive: FF
//! ```
//!
//! The CRC is CRC-16/IBM (ARC) over codec id through N2, sent as a u32 with two zero bytes.

use bytes::Bytes;
use crc::{Crc, CRC_16_ARC};
use nom::bytes::streaming::take;
use nom::number::streaming::{be_u16, be_u32, be_u8};
use nom::IResult;

/// CRC-16/IBM, also called ARC.
pub(crate) const ARC: Crc<u16> = Crc::<u16>::new(&CRC_16_ARC);

/// Longest IMEI packet accepted (the real one is 15 digits).
pub const MAX_IMEI: u16 = 32;
/// Smallest data length: codec id, N1 and N2.
const MIN_DATA: u32 = 3;

/// One packet cut from the stream, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// The one-byte keep-alive.
    Ping,
    /// An identification packet, length included (`00 0F` + the IMEI digits).
    Imei(Bytes),
    /// An AVL or command packet, preamble through CRC.
    Data(Bytes),
}

fn refuse(input: &[u8]) -> nom::Err<nom::error::Error<&[u8]>> {
    nom::Err::Failure(nom::error::Error::new(input, nom::error::ErrorKind::Verify))
}

/// Cuts one packet from the front of `input`; `Incomplete` until it is all there. A preamble
/// that is not zero, an over-long IMEI or a data length below 3 is a failure: with the
/// length field wrong there is no way back into step.
pub fn parse_packet(input: &[u8]) -> IResult<&[u8], Packet> {
    let (_, first) = be_u8(input)?;
    if first == 0xff {
        return Ok((&input[1..], Packet::Ping));
    }
    let (after_len, imei_len) = be_u16(input)?;
    if imei_len != 0 {
        if imei_len > MAX_IMEI {
            return Err(refuse(input));
        }
        let (rest, _) = take(imei_len)(after_len)?;
        let used = input.len() - rest.len();
        return Ok((rest, Packet::Imei(Bytes::copy_from_slice(&input[..used]))));
    }
    let (after_preamble, preamble) = be_u32(input)?;
    if preamble != 0 {
        return Err(refuse(input));
    }
    let (after_length, data_len) = be_u32(after_preamble)?;
    if data_len < MIN_DATA {
        return Err(refuse(input));
    }
    let (rest, _) = take(u64::from(data_len) + 4)(after_length)?;
    let used = input.len() - rest.len();
    Ok((rest, Packet::Data(Bytes::copy_from_slice(&input[..used]))))
}

/// The data part (codec id through N2) of a data packet, if its CRC matches.
pub fn checked_data(packet: &[u8]) -> Option<&[u8]> {
    let (data, crc) = packet
        .get(8..)?
        .split_at_checked(packet.len().checked_sub(12)?)?;
    let stored = u32::from_be_bytes(crc.try_into().ok()?);
    (stored == u32::from(ARC.checksum(data))).then_some(data)
}

/// A complete data packet around `data` (codec id through N2).
pub fn wrap(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&u32::from(ARC.checksum(data)).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_arc_with_the_standard_check_value() {
        assert_eq!(ARC.checksum(b"123456789"), 0xBB3D);
    }

    #[test]
    fn the_first_bytes_tell_imei_data_and_keep_alive_apart() {
        let imei = hex::decode("000f313233343536373839303132333435").unwrap();
        assert_eq!(
            parse_packet(&imei).unwrap().1,
            Packet::Imei(Bytes::from(imei.clone()))
        );
        assert_eq!(
            parse_packet(&[0xff, 0x00]).unwrap(),
            (&[0x00][..], Packet::Ping)
        );
        let data = wrap(&[0x0c, 0x00, 0x00]);
        assert_eq!(
            parse_packet(&data).unwrap().1,
            Packet::Data(Bytes::from(data.clone()))
        );
        assert!(checked_data(&data).is_some());
    }

    #[test]
    fn a_packet_waits_for_its_announced_length() {
        let data = wrap(&[0x08, 0x00, 0x00]);
        for cut in 0..data.len() {
            assert!(
                matches!(parse_packet(&data[..cut]), Err(nom::Err::Incomplete(_))),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn impossible_lengths_and_preambles_are_failures() {
        assert!(matches!(
            parse_packet(&[0, 0, 0, 0, 0, 0, 0, 2, 8, 0]),
            Err(nom::Err::Failure(_))
        ));
        assert!(matches!(
            parse_packet(&[0, 0, 0, 1, 0, 0, 0, 9]),
            Err(nom::Err::Failure(_))
        ));
        assert!(matches!(
            parse_packet(&[0x01, 0x00, 0x30]),
            Err(nom::Err::Failure(_))
        ));
    }
}
