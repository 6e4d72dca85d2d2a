//! JT/T 808 (2013 edition), the device side.
//!
//! ```text
//! 7E | msg id(2) | attributes(2) = body length | phone BCD(6) | serial(2) | body | XOR | 7E
//! ```
//! with `7E` escaped as `7D 02` and `7D` as `7D 01` between the delimiters, checksum included.
//!
//! The login is two steps: registration 0x0100, answered by 0x8100 (reply serial, result, auth
//! code), then authentication 0x0102 with that auth code, answered by the general response
//! 0x8001 (reply serial, reply id, result) like heartbeats 0x0002 and locations 0x0200. A
//! platform message (text 0x8300 and any other) is answered with the terminal general
//! response 0x0001, which the server does not ack.

use super::motion::{civil, Fix};
use super::{Broken, Dialect, Key, Login, Reply};

const DELIMITER: u8 = 0x7e;
const ESCAPE: u8 = 0x7d;
const TERMINAL_RESPONSE: u16 = 0x0001;
const HEARTBEAT: u16 = 0x0002;
const REGISTER: u16 = 0x0100;
const AUTH: u16 = 0x0102;
const LOCATION: u16 = 0x0200;
const GENERAL_RESPONSE: u16 = 0x8001;
const REGISTER_RESPONSE: u16 = 0x8100;
/// Largest frame on the wire: every byte of the largest message escaped.
const MAX_WIRE: usize = 2 * (17 + 4 + 1023 + 1) + 2;
/// Locations are in Beijing time by the standard.
const BEIJING_SECS: i64 = 8 * 3600;

/// A JT/T 808 terminal.
#[derive(Debug, Clone)]
pub struct Jt808 {
    phone: Vec<u8>,
    digits: String,
    serial: u16,
    auth_code: Option<Vec<u8>>,
}

impl Jt808 {
    /// The terminal with this phone number (12 digits).
    pub fn new(phone: &str) -> Self {
        Jt808 {
            phone: super::gt06::bcd(phone),
            digits: phone.to_string(),
            serial: 0,
            auth_code: None,
        }
    }

    /// [`Jt808::new`], boxed as the dialect registry builds it.
    pub fn boxed(id: &str) -> Box<dyn Dialect> {
        Box::new(Jt808::new(id))
    }

    fn send(&mut self, msg_id: u16, body: &[u8], out: &mut Vec<u8>) -> Key {
        let serial = self.serial;
        self.serial = self.serial.wrapping_add(1);
        message(msg_id, &self.phone, serial, body, out);
        Key { id: msg_id, serial }
    }

    fn registration(&self) -> Vec<u8> {
        let digits = self.digits.as_bytes();
        let tail = |n: usize| &digits[digits.len().saturating_sub(n)..];
        let mut body = Vec::with_capacity(44);
        body.extend_from_slice(&44u16.to_be_bytes()); // province: Guangdong
        body.extend_from_slice(&300u16.to_be_bytes()); // city: Shenzhen
        body.extend_from_slice(b"DGSIM");
        let mut model = b"device-sim".to_vec();
        model.resize(20, 0);
        body.extend_from_slice(&model);
        let mut terminal = tail(7).to_vec();
        terminal.resize(7, b'0');
        body.extend_from_slice(&terminal);
        body.push(1); // plate colour: blue
        body.push(b'D');
        body.extend_from_slice(tail(6));
        body
    }
}

/// Appends a complete frame (`body` of at most 1023 bytes).
pub fn message(msg_id: u16, phone: &[u8], serial: u16, body: &[u8], out: &mut Vec<u8>) {
    let mut content = Vec::with_capacity(12 + body.len() + 1);
    content.extend_from_slice(&msg_id.to_be_bytes());
    content.extend_from_slice(&((body.len() & 0x03ff) as u16).to_be_bytes());
    content.extend_from_slice(phone);
    content.extend_from_slice(&serial.to_be_bytes());
    content.extend_from_slice(body);
    content.push(content.iter().fold(0, |acc, b| acc ^ b));
    out.push(DELIMITER);
    for &b in &content {
        match b {
            DELIMITER => out.extend_from_slice(&[ESCAPE, 0x02]),
            ESCAPE => out.extend_from_slice(&[ESCAPE, 0x01]),
            _ => out.push(b),
        }
    }
    out.push(DELIMITER);
}

/// The bytes between the delimiters un-escaped, or `None` for a `7D` not followed by 01 or 02.
pub fn unescape(escaped: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    while let Some(&b) = bytes.next() {
        if b != ESCAPE {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(0x01) => out.push(ESCAPE),
            Some(0x02) => out.push(DELIMITER),
            _ => return None,
        }
    }
    Some(out)
}

/// The body of a 0x0200 location: alarm and status flags, position, BCD Beijing time, then
/// mileage (0.1 km), signal strength and satellites as extra items.
pub fn location_body(fix: &Fix) -> Vec<u8> {
    let mut b = Vec::with_capacity(43);
    b.extend_from_slice(&0u32.to_be_bytes());
    // ACC on, fixed; bit 2 south, bit 3 west.
    let mut status: u32 = 0x03;
    if fix.latitude < 0.0 {
        status |= 0x04;
    }
    if fix.longitude < 0.0 {
        status |= 0x08;
    }
    b.extend_from_slice(&status.to_be_bytes());
    let scaled = |deg: f64| (deg.abs() * 1_000_000.0).round() as u32;
    b.extend_from_slice(&scaled(fix.latitude).to_be_bytes());
    b.extend_from_slice(&scaled(fix.longitude).to_be_bytes());
    b.extend_from_slice(&fix.altitude_m.to_be_bytes());
    let speed = (fix.speed_kmh * 10.0).round().clamp(0.0, 65535.0) as u16;
    b.extend_from_slice(&speed.to_be_bytes());
    b.extend_from_slice(&(fix.course % 360).to_be_bytes());
    let [year, month, day, hour, minute, second] =
        civil(fix.unix_ms.div_euclid(1000) + BEIJING_SECS);
    for field in [year - 2000, month, day, hour, minute, second] {
        let v = field.clamp(0, 99) as u8;
        b.push(((v / 10) << 4) | (v % 10));
    }
    b.extend_from_slice(&[0x01, 4]);
    b.extend_from_slice(&(fix.odometer_m / 100).to_be_bytes());
    b.extend_from_slice(&[0x30, 1, 25, 0x31, 1, fix.satellites]);
    b
}

impl Dialect for Jt808 {
    fn login(&mut self, out: &mut Vec<u8>) -> Option<Key> {
        self.auth_code = None;
        let body = self.registration();
        Some(self.send(REGISTER, &body, out))
    }

    fn login_acked(&mut self, acked: Key, out: &mut Vec<u8>) -> Login {
        match (acked.id, self.auth_code.take()) {
            (REGISTER, Some(code)) => Login::Next(self.send(AUTH, &code, out)),
            (AUTH, _) => Login::Done,
            _ => Login::Waiting,
        }
    }

    fn heartbeat(&mut self, out: &mut Vec<u8>) -> Option<Key> {
        Some(self.send(HEARTBEAT, &[], out))
    }

    fn location(&mut self, fix: &Fix, out: &mut Vec<u8>) -> Option<Key> {
        Some(self.send(LOCATION, &location_body(fix), out))
    }

    fn read(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Option<(usize, Reply)>, Broken> {
        match input.iter().position(|&b| b == DELIMITER) {
            None if input.is_empty() => return Ok(None),
            None => return Err(Broken("JT/T 808 bytes outside 7E delimiters".into())),
            Some(0) => {}
            Some(_) => return Err(Broken("JT/T 808 bytes before a 7E delimiter".into())),
        }
        let Some(end) = input[1..].iter().position(|&b| b == DELIMITER) else {
            if input.len() >= MAX_WIRE {
                return Err(Broken("JT/T 808 frame longer than any message".into()));
            }
            return Ok(None);
        };
        let used = end + 2;
        Ok(Some((used, self.frame(&input[1..=end], out))))
    }
}

impl Jt808 {
    /// Reads the escaped content of one frame.
    fn frame(&mut self, escaped: &[u8], out: &mut Vec<u8>) -> Reply {
        let Some(content) = unescape(escaped) else {
            return Reply::Wrong;
        };
        let Some((&checksum, signed)) = content.split_last() else {
            return Reply::Wrong;
        };
        if signed.iter().fold(0, |acc, b| acc ^ b) != checksum || signed.len() < 12 {
            return Reply::Wrong;
        }
        let msg_id = u16::from_be_bytes([signed[0], signed[1]]);
        let attributes = u16::from_be_bytes([signed[2], signed[3]]);
        // This terminal speaks the 2013 edition, unsplit: the server answers in kind.
        if attributes & 0x6000 != 0 || signed[4..10] != self.phone[..] {
            return Reply::Wrong;
        }
        let serial = u16::from_be_bytes([signed[10], signed[11]]);
        let body = &signed[12..];
        if body.len() != usize::from(attributes & 0x03ff) {
            return Reply::Wrong;
        }
        let word = |i: usize| u16::from_be_bytes([body[i], body[i + 1]]);
        match (msg_id, body.len()) {
            (GENERAL_RESPONSE, 5) => {
                let key = Key {
                    id: word(2),
                    serial: word(0),
                };
                if body[4] == 0 {
                    Reply::Ack(key)
                } else {
                    Reply::Refused(key)
                }
            }
            (REGISTER_RESPONSE, n) if n >= 3 => {
                let key = Key {
                    id: REGISTER,
                    serial: word(0),
                };
                match (body[2], &body[3..]) {
                    (0, code) if !code.is_empty() => {
                        self.auth_code = Some(code.to_vec());
                        Reply::Ack(key)
                    }
                    _ => Reply::Refused(key),
                }
            }
            (id, _) if id & 0x8000 != 0 => {
                // Text messages (0x8300) are shown and acknowledged; other platform messages
                // are acknowledged as unsupported (result 3), as a plain tracker does.
                let result = if id == 0x8300 { 0 } else { 3 };
                let mut answer = serial.to_be_bytes().to_vec();
                answer.extend_from_slice(&id.to_be_bytes());
                answer.push(result);
                self.send(TERMINAL_RESPONSE, &answer, out);
                Reply::Command { answer: None }
            }
            _ => Reply::Wrong,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn the_readme_heartbeat_and_its_reply_are_built_byte_for_byte() {
        let phone = unhex("043048325465");
        let mut out = Vec::new();
        message(HEARTBEAT, &phone, 0xb7, &[], &mut out);
        assert_eq!(out, unhex("7e0002000004304832546500b7ca7e"));
        let mut dev = Jt808::new("043048325465");
        let reply = unhex("7e80010005043048325465000000b70002004e7e");
        assert_eq!(
            dev.read(&reply, &mut out).unwrap(),
            Some((
                reply.len(),
                Reply::Ack(Key {
                    id: 2,
                    serial: 0xb7
                })
            ))
        );
    }

    #[test]
    fn escaping_round_trips_and_bytes_outside_frames_break_the_stream() {
        let mut out = Vec::new();
        message(0x7e7d, &[0x7e; 6], 0x7d7e, &[0x7e, 0x7d], &mut out);
        let inner = &out[1..out.len() - 1];
        assert!(!inner.contains(&DELIMITER));
        let content = unescape(inner).unwrap();
        assert_eq!(&content[..2], &[0x7e, 0x7d]);
        assert_eq!(unescape(&[0x7d, 0x03]), None);
        let mut dev = Jt808::new("013800000001");
        assert!(dev.read(b"garbage", &mut out).is_err());
        assert_eq!(dev.read(&[0x7e, 0x80], &mut out).unwrap(), None);
    }

    #[test]
    fn registration_then_authentication_with_the_servers_auth_code() {
        let mut dev = Jt808::new("013800000001");
        let mut out = Vec::new();
        let register = dev.login(&mut out).unwrap();
        assert_eq!(
            register,
            Key {
                id: REGISTER,
                serial: 0
            }
        );
        let mut answer = Vec::new();
        message(0x8100, &dev.phone, 0, b"\x00\x00\x00CODE42", &mut answer);
        assert_eq!(
            dev.read(&answer, &mut out).unwrap().unwrap().1,
            Reply::Ack(register)
        );
        out.clear();
        let auth = dev.login_acked(register, &mut out);
        assert_eq!(
            auth,
            Login::Next(Key {
                id: AUTH,
                serial: 1
            })
        );
        let content = unescape(&out[1..out.len() - 1]).unwrap();
        assert_eq!(&content[12..content.len() - 1], b"CODE42");
        assert_eq!(
            dev.login_acked(
                Key {
                    id: AUTH,
                    serial: 1
                },
                &mut out
            ),
            Login::Done
        );
    }
}
