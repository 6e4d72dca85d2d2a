//! The JT/T 808 message header (2011/2013 and 2019 editions) and message building.
//!
//! ```text
//! msg id (2) | attributes (2) | [version (1), 2019] | phone BCD (6, or 10 in 2019) | serial (2)
//!            | [total (2) | index (2), when sub-packaged]
//! attributes: bits 0-9 body length, 10-12 encryption, 13 sub-package, 14 2019 edition
//! ```

use crate::frame;
use nom::number::complete::{be_u16, be_u8};
use nom::IResult;

/// A parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Message id, e.g. 0x0200.
    pub msg_id: u16,
    /// Body-attribute word.
    pub attributes: u16,
    /// Protocol-version byte of the 2019 edition.
    pub version: Option<u8>,
    /// Terminal phone number as sent (6 or 10 BCD bytes).
    pub phone: Vec<u8>,
    /// The terminal's message serial.
    pub serial: u16,
    /// Total packets and this packet's index, when the message is split.
    pub package: Option<(u16, u16)>,
}

impl Header {
    /// Declared body length.
    pub fn body_len(&self) -> usize {
        usize::from(self.attributes & 0x03ff)
    }

    /// Encryption bits (bit 10 = RSA); 0 is plain.
    pub fn encryption(&self) -> u8 {
        ((self.attributes >> 10) & 0x07) as u8
    }

    /// The phone number as hex digits, the device id (`013511221122`).
    pub fn phone_id(&self) -> String {
        hex::encode(&self.phone)
    }
}

/// Reads a header from the front of un-escaped content.
pub fn parse_header(input: &[u8]) -> IResult<&[u8], Header> {
    let (input, msg_id) = be_u16(input)?;
    let (input, attributes) = be_u16(input)?;
    let (input, version) = if attributes & 0x4000 != 0 {
        let (input, version) = be_u8(input)?;
        (input, Some(version))
    } else {
        (input, None)
    };
    let phone_len = if version.is_some() { 10usize } else { 6 };
    let (input, phone) = nom::bytes::complete::take(phone_len)(input)?;
    let (input, serial) = be_u16(input)?;
    let (input, package) = if attributes & 0x2000 != 0 {
        let (input, total) = be_u16(input)?;
        let (input, index) = be_u16(input)?;
        (input, Some((total, index)))
    } else {
        (input, None)
    };
    Ok((
        input,
        Header {
            msg_id,
            attributes,
            version,
            phone: phone.to_vec(),
            serial,
            package,
        },
    ))
}

/// Who a platform message goes to: the terminal's phone field and edition, as it last sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// Phone BCD bytes as the terminal sent them.
    pub phone: Vec<u8>,
    /// 2019 protocol-version byte, when the terminal uses that edition.
    pub version: Option<u8>,
}

/// Largest body the 10-bit length field can announce.
pub const MAX_BODY: usize = 0x03ff;

/// A complete wire frame for `msg_id` with `body`, or `None` when the body is too long for
/// one packet (this codec does not split outgoing messages).
pub fn build(msg_id: u16, to: &Terminal, serial: u16, body: &[u8]) -> Option<Vec<u8>> {
    if body.len() > MAX_BODY {
        return None;
    }
    let mut attributes = body.len() as u16;
    if to.version.is_some() {
        attributes |= 0x4000;
    }
    let mut content = Vec::with_capacity(17 + body.len());
    content.extend_from_slice(&msg_id.to_be_bytes());
    content.extend_from_slice(&attributes.to_be_bytes());
    if let Some(version) = to.version {
        content.push(version);
    }
    content.extend_from_slice(&to.phone);
    content.extend_from_slice(&serial.to_be_bytes());
    content.extend_from_slice(body);
    Some(frame::wrap(&content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_heartbeat_reply_is_built_byte_for_byte() {
        let to = Terminal {
            phone: hex::decode("043048325465").unwrap(),
            version: None,
        };
        let body = [0x00, 0xb7, 0x00, 0x02, 0x00];
        let reply = build(0x8001, &to, 0, &body).unwrap();
        assert_eq!(
            hex::encode(reply),
            "7e80010005043048325465000000b70002004e7e"
        );
    }

    #[test]
    fn a_2019_header_has_a_version_byte_and_a_ten_byte_phone() {
        let content = hex::decode("0704402d0100000866496077582164881d").unwrap();
        let (rest, header) = parse_header(&content).unwrap();
        assert!(rest.is_empty());
        assert_eq!(header.version, Some(1));
        assert_eq!(header.phone_id(), "00000866496077582164");
        assert_eq!(header.serial, 0x881d);
        assert_eq!(header.body_len(), 45);
    }
}
