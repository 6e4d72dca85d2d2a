//! GT06 / Concox, the device side.
//!
//! ```text
//! 78 78 | LEN | PROTO | CONTENT | SERIAL(2) | CRC-16/X-25(2) over LEN..SERIAL | 0D 0A
//! ```
//!
//! The device sends login 0x01 (IMEI as BCD), status 0x13 as its heartbeat and GPS+LBS 0x22
//! locations, each answered by the server's echo `78 78 05 <proto> <serial> <crc> 0D 0A`. A
//! server command 0x80 (length, server flag, text) is answered with a 0x15 command response
//! carrying the same server flag, which the server acks too.

use super::motion::{civil, Fix};
use super::{answer_text, Broken, Dialect, Key, Login, Reply};
use crc::{Crc, CRC_16_IBM_SDLC};

/// CRC-16/X-25 ("CRC-ITU" in Concox manuals).
pub const X25: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_SDLC);

const LOGIN: u8 = 0x01;
const STATUS: u8 = 0x13;
const LOCATION: u8 = 0x22;
const COMMAND_RESPONSE: u8 = 0x15;
const COMMAND: u8 = 0x80;
const END: [u8; 2] = [0x0d, 0x0a];
/// Longest answer text that keeps a 0x15 frame in the short form.
const MAX_ANSWER: usize = 245;

/// A GT06 tracker.
#[derive(Debug, Clone)]
pub struct Gt06 {
    imei: String,
    serial: u16,
}

impl Gt06 {
    /// The tracker with this IMEI (15 digits).
    pub fn new(imei: &str) -> Self {
        Gt06 {
            imei: imei.to_string(),
            serial: 1,
        }
    }

    /// [`Gt06::new`], boxed as the dialect registry builds it.
    pub fn boxed(id: &str) -> Box<dyn Dialect> {
        Box::new(Gt06::new(id))
    }

    fn send(&mut self, proto: u8, content: &[u8], out: &mut Vec<u8>) -> Key {
        let serial = self.serial;
        self.serial = self.serial.wrapping_add(1);
        frame(proto, content, serial, out);
        Key {
            id: u16::from(proto),
            serial,
        }
    }
}

/// Appends a short-form frame (`content` of at most 250 bytes).
pub fn frame(proto: u8, content: &[u8], serial: u16, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0x78, 0x78, (content.len() + 5) as u8, proto]);
    out.extend_from_slice(content);
    out.extend_from_slice(&serial.to_be_bytes());
    let crc = X25.checksum(&out[start + 2..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&END);
}

/// Digits as packed BCD, two to a byte (an odd count gets a leading 0 nibble).
pub fn bcd(digits: &str) -> Vec<u8> {
    let mut nibbles: Vec<u8> = digits
        .bytes()
        .map(|d| d.wrapping_sub(b'0') & 0x0f)
        .collect();
    if nibbles.len() % 2 == 1 {
        nibbles.insert(0, 0);
    }
    nibbles.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
}

/// The content of a 0x22 location: GPS block, LBS block, ACC, upload mode, re-upload, mileage.
pub fn location_content(fix: &Fix) -> Vec<u8> {
    let mut c = Vec::with_capacity(33);
    let [year, month, day, hour, minute, second] = civil(fix.unix_ms.div_euclid(1000));
    for field in [year - 2000, month, day, hour, minute, second] {
        c.push(field.clamp(0, 255) as u8);
    }
    c.push(0xc0 | fix.satellites.min(15));
    let scaled = |deg: f64| (deg.abs() * 1_800_000.0).round() as u32;
    c.extend_from_slice(&scaled(fix.latitude).to_be_bytes());
    c.extend_from_slice(&scaled(fix.longitude).to_be_bytes());
    c.push(fix.speed_kmh.round().clamp(0.0, 255.0) as u8);
    // Course in bits 0-9, 0x0400 north, 0x0800 west, 0x1000 fixed.
    let mut course_status = (fix.course % 360) | 0x1000;
    if fix.latitude >= 0.0 {
        course_status |= 0x0400;
    }
    if fix.longitude < 0.0 {
        course_status |= 0x0800;
    }
    c.extend_from_slice(&course_status.to_be_bytes());
    // MCC 460 (China), MNC 0, LAC, a 3-byte cell id.
    c.extend_from_slice(&[0x01, 0xcc, 0x00, 0x27, 0x95, 0x00, 0x0e, 0x23]);
    c.extend_from_slice(&[1, 0, 0]);
    c.extend_from_slice(&fix.odometer_m.to_be_bytes());
    c
}

impl Dialect for Gt06 {
    fn login(&mut self, out: &mut Vec<u8>) -> Option<Key> {
        let imei = bcd(&self.imei);
        Some(self.send(LOGIN, &imei, out))
    }

    fn login_acked(&mut self, acked: Key, _out: &mut Vec<u8>) -> Login {
        if acked.id == u16::from(LOGIN) {
            Login::Done
        } else {
            Login::Waiting
        }
    }

    fn heartbeat(&mut self, out: &mut Vec<u8>) -> Option<Key> {
        // GPS on, charging, ACC on; voltage level 6 of 6; GSM 4 of 4; no alarm; English.
        Some(self.send(STATUS, &[0x46, 0x06, 0x04, 0x00, 0x02], out))
    }

    fn location(&mut self, fix: &Fix, out: &mut Vec<u8>) -> Option<Key> {
        Some(self.send(LOCATION, &location_content(fix), out))
    }

    fn read(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Option<(usize, Reply)>, Broken> {
        let (header, len) = match input {
            [0x78, 0x78, len, ..] => (3, usize::from(*len) + 5),
            [0x79, 0x79, hi, lo, ..] => (4, usize::from(u16::from_be_bytes([*hi, *lo])) + 6),
            [0x78] | [0x78, 0x78] | [0x79] | [0x79, 0x79] | [0x79, 0x79, _] | [] => {
                return Ok(None)
            }
            _ => return Err(Broken("GT06 frame without 78 78 or 79 79".into())),
        };
        let Some(frame) = input.get(..len) else {
            return Ok(None);
        };
        if len < header + 7 || frame[len - 2..] != END {
            return Err(Broken("GT06 length field disagrees with 0D 0A".into()));
        }
        let stored = u16::from_be_bytes([frame[len - 4], frame[len - 3]]);
        if X25.checksum(&frame[2..len - 4]) != stored {
            return Ok(Some((len, Reply::Wrong)));
        }
        let proto = frame[header];
        let serial = u16::from_be_bytes([frame[len - 6], frame[len - 5]]);
        let content = &frame[header + 1..len - 6];
        let reply = match (proto, content) {
            (COMMAND, [length, f0, f1, f2, f3, rest @ ..]) => {
                let Some(text) = usize::from(*length)
                    .checked_sub(4)
                    .and_then(|n| rest.get(..n))
                else {
                    return Ok(Some((len, Reply::Wrong)));
                };
                let answer = answer_text(text, MAX_ANSWER);
                let mut content = vec![(answer.len() + 4) as u8, *f0, *f1, *f2, *f3];
                content.extend_from_slice(&answer);
                let key = self.send(COMMAND_RESPONSE, &content, out);
                Reply::Command { answer: Some(key) }
            }
            (_, []) => Reply::Ack(Key {
                id: u16::from(proto),
                serial,
            }),
            _ => Reply::Wrong,
        };
        Ok(Some((len, reply)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn the_manual_login_and_its_ack_are_built_byte_for_byte() {
        let mut dev = Gt06::new("123456789012345");
        let mut out = Vec::new();
        assert_eq!(dev.login(&mut out), Some(Key { id: 1, serial: 1 }));
        assert_eq!(out, unhex("78780d01012345678901234500018cdd0d0a"));
        let mut ack = Vec::new();
        frame(0x01, &[], 1, &mut ack);
        assert_eq!(ack, unhex("787805010001d9dc0d0a"));
        assert_eq!(X25.checksum(b"123456789"), 0x906e);
    }

    #[test]
    fn acks_commands_and_broken_frames_are_told_apart() {
        let mut dev = Gt06::new("123456789012345");
        let mut out = Vec::new();
        let ack = unhex("787805010001d9dc0d0a");
        let read = dev.read(&ack, &mut out).unwrap();
        assert_eq!(read, Some((10, Reply::Ack(Key { id: 1, serial: 1 }))));
        assert_eq!(dev.read(&ack[..9], &mut out).unwrap(), None);
        let mut bad = ack.clone();
        bad[5] ^= 1;
        assert_eq!(dev.read(&bad, &mut out).unwrap(), Some((10, Reply::Wrong)));
        assert!(dev.read(b"HTTP/1.1", &mut out).is_err());

        let mut command = Vec::new();
        frame(
            COMMAND,
            &[
                12, 0, 0, 0, 7, b'R', b'e', b'l', b'a', b'y', b',', b'1', b'#',
            ],
            0,
            &mut command,
        );
        let (used, reply) = dev.read(&command, &mut out).unwrap().unwrap();
        assert_eq!(used, command.len());
        assert_eq!(
            reply,
            Reply::Command {
                answer: Some(Key {
                    id: 0x15,
                    serial: 1
                })
            }
        );
        // 0x15: length 4 + 11, the server flag echoed, the text.
        assert_eq!(&out[3..9], &[0x15, 15, 0, 0, 0, 7]);
        assert_eq!(&out[9..20], b"Relay,1#:OK");
    }
}
