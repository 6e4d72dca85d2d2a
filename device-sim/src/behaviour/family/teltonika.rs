//! Teltonika (FMB and kin) over TCP, the device side.
//!
//! ```text
//! IMEI:     00 0F | 15 ASCII digits                         answered 01 (accept) or 00
//! AVL data: 00000000 | length u32 | codec .. N2 | CRC u32   answered with N1 as a u32
//! ```
//!
//! The CRC is CRC-16/IBM (ARC) over codec id through N2. Teltonika trackers send no
//! heartbeat: their AVL packets (here codec 8, one record each) keep the link alive. A codec 12
//! command (type 0x05) is answered with a codec 12 response (type 0x06), which gets no ack.

use super::motion::Fix;
use super::{answer_text, Broken, Dialect, Key, Login, Reply};
use crc::{Crc, CRC_16_ARC};

/// CRC-16/IBM, also called ARC.
pub const ARC: Crc<u16> = Crc::<u16>::new(&CRC_16_ARC);

const CODEC_8: u8 = 0x08;
const CODEC_12: u8 = 0x0c;
/// The IMEI packet's ack (there is only one per connection).
const IMEI: Key = Key {
    id: 0x0f,
    serial: 0,
};
/// An AVL packet's ack: the count of its one record.
const RECORDS: Key = Key {
    id: CODEC_8 as u16,
    serial: 1,
};
/// Largest data part accepted from the server (commands are short).
const MAX_DATA: usize = 64 * 1024;
/// Longest command answer sent.
const MAX_ANSWER: usize = 1024;

/// A Teltonika tracker.
#[derive(Debug, Clone)]
pub struct Teltonika {
    imei: String,
    awaiting_accept: bool,
}

impl Teltonika {
    /// The tracker with this IMEI (15 digits).
    pub fn new(imei: &str) -> Self {
        Teltonika {
            imei: imei.to_string(),
            awaiting_accept: false,
        }
    }

    /// [`Teltonika::new`], boxed as the dialect registry builds it.
    pub fn boxed(id: &str) -> Box<dyn Dialect> {
        Box::new(Teltonika::new(id))
    }
}

/// Appends a data packet around `data` (codec id through N2).
pub fn packet(data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&u32::from(ARC.checksum(data)).to_be_bytes());
}

/// The data part of a codec 8 packet with one record of `fix`: ignition, movement and GSM
/// signal, external voltage and the odometer as IO elements.
pub fn avl_data(fix: &Fix) -> Vec<u8> {
    let mut d = vec![CODEC_8, 1];
    d.extend_from_slice(&(fix.unix_ms.max(0) as u64).to_be_bytes());
    d.push(0); // priority: low
    let scaled = |deg: f64| (deg * 10_000_000.0).round() as i32;
    d.extend_from_slice(&scaled(fix.longitude).to_be_bytes());
    d.extend_from_slice(&scaled(fix.latitude).to_be_bytes());
    d.extend_from_slice(&fix.altitude_m.to_be_bytes());
    d.extend_from_slice(&(fix.course % 360).to_be_bytes());
    d.push(fix.satellites);
    d.extend_from_slice(&(fix.speed_kmh.round().clamp(0.0, 65535.0) as u16).to_be_bytes());
    // Event id 0 (periodic), 5 elements: 239 ignition, 240 movement, 21 GSM signal (1 byte),
    // 66 external voltage in mV (2 bytes), 16 total odometer in m (4 bytes), none of 8 bytes.
    d.extend_from_slice(&[0, 5, 3, 239, 1, 240, 1, 21, 4, 1, 66]);
    d.extend_from_slice(&12_600u16.to_be_bytes());
    d.extend_from_slice(&[1, 16]);
    d.extend_from_slice(&fix.odometer_m.to_be_bytes());
    d.push(0);
    d.push(1);
    d
}

/// The data part of a codec 12 envelope holding one `kind` (0x05 command, 0x06 response).
pub fn codec12_data(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut d = vec![CODEC_12, 1, kind];
    d.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    d.extend_from_slice(payload);
    d.push(1);
    d
}

impl Dialect for Teltonika {
    fn login(&mut self, out: &mut Vec<u8>) -> Option<Key> {
        self.awaiting_accept = true;
        out.extend_from_slice(&(self.imei.len() as u16).to_be_bytes());
        out.extend_from_slice(self.imei.as_bytes());
        Some(IMEI)
    }

    fn login_acked(&mut self, acked: Key, _out: &mut Vec<u8>) -> Login {
        if acked == IMEI {
            Login::Done
        } else {
            Login::Waiting
        }
    }

    fn heartbeat(&mut self, _out: &mut Vec<u8>) -> Option<Key> {
        None
    }

    fn location(&mut self, fix: &Fix, out: &mut Vec<u8>) -> Option<Key> {
        packet(&avl_data(fix), out);
        Some(RECORDS)
    }

    fn read(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Option<(usize, Reply)>, Broken> {
        if self.awaiting_accept {
            let Some(&answer) = input.first() else {
                return Ok(None);
            };
            self.awaiting_accept = false;
            return match answer {
                0x01 => Ok(Some((1, Reply::Ack(IMEI)))),
                0x00 => Ok(Some((1, Reply::Refused(IMEI)))),
                _ => Err(Broken(format!("IMEI answered {answer:#04x}"))),
            };
        }
        let Some(head) = input.get(..4) else {
            return Ok(None);
        };
        let count = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if count != 0 {
            // An ack: the number of records the server accepted (the preamble of a packet is 0).
            let serial = u16::try_from(count).unwrap_or(u16::MAX);
            return Ok(Some((
                4,
                Reply::Ack(Key {
                    id: RECORDS.id,
                    serial,
                }),
            )));
        }
        let Some(len) = input.get(4..8) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if !(3..=MAX_DATA).contains(&len) {
            return Err(Broken(format!("Teltonika packet of {len} bytes")));
        }
        let Some(whole) = input.get(..len + 12) else {
            return Ok(None);
        };
        let (data, crc) = whole[8..].split_at(len);
        if u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) != u32::from(ARC.checksum(data)) {
            return Ok(Some((whole.len(), Reply::Wrong)));
        }
        let reply = match data {
            // One command: codec 12, N1 = 1, type 0x05, size, payload, N2 = 1.
            [CODEC_12, 1, 0x05, s0, s1, s2, s3, rest @ ..]
                if rest.len() == u32::from_be_bytes([*s0, *s1, *s2, *s3]) as usize + 1
                    && rest.last() == Some(&1) =>
            {
                let command = &rest[..rest.len() - 1];
                packet(&codec12_data(0x06, &answer_text(command, MAX_ANSWER)), out);
                Reply::Command { answer: None }
            }
            _ => Reply::Wrong,
        };
        Ok(Some((whole.len(), reply)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_arc_and_a_captured_command_reads_as_one() {
        assert_eq!(ARC.checksum(b"123456789"), 0xbb3d);
        // `getinfo` as Teltonika's manual sends it.
        let command =
            hex::decode("000000000000000f0c010500000007676574696e666f0100004312").unwrap();
        let mut dev = Teltonika::new("356307042441013");
        let mut out = Vec::new();
        assert_eq!(
            dev.read(&command, &mut out).unwrap(),
            Some((command.len(), Reply::Command { answer: None }))
        );
        assert_eq!(
            &out[8..],
            &{
                let mut p = Vec::new();
                packet(&codec12_data(0x06, b"getinfo:OK"), &mut p);
                p
            }[8..]
        );
    }

    #[test]
    fn the_accept_byte_then_record_counts_are_the_acks() {
        let mut dev = Teltonika::new("356307042441013");
        let mut out = Vec::new();
        assert_eq!(dev.login(&mut out), Some(IMEI));
        assert_eq!(out, b"\x00\x0f356307042441013");
        assert_eq!(
            dev.read(&[1, 0, 0], &mut out).unwrap(),
            Some((1, Reply::Ack(IMEI)))
        );
        assert_eq!(dev.read(&[0, 0, 0], &mut out).unwrap(), None);
        assert_eq!(
            dev.read(&[0, 0, 0, 1], &mut out).unwrap(),
            Some((4, Reply::Ack(RECORDS)))
        );
        assert!(dev.read(&[0, 0, 0, 0, 0, 0, 0, 1], &mut out).is_err());
    }
}
