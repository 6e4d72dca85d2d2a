//! Content of a checked GT06 frame to a typed [`Gt06Message`], one function per packet family.
//!
//! Layouts follow ../shared/vectors/README.md (Concox manuals as Traccar reads them). A packet
//! whose content is too short for its type still becomes a message: `details.decode_error`
//! says why and `raw` keeps the bytes, so nothing a device sent is lost.

use crate::message::{Alarm, Cell, Gt06Message, Kind, Position};
use codecs::family::clock;
use nom::number::complete::{be_u16, be_u24, be_u32, be_u8};
use nom::IResult;

type Res<'a, T> = IResult<&'a [u8], T>;

/// The message kind of a protocol number.
pub(crate) fn kind_of(proto: u8) -> Kind {
    match proto {
        0x01 => Kind::Login,
        0x13 | 0x23 => Kind::Heartbeat,
        0x10 | 0x11 | 0x12 | 0x22 | 0x2d | 0x37 => Kind::Location,
        0x16 | 0x26 | 0x19 | 0x95 => Kind::Alarm,
        0x15 | 0x21 => Kind::CommandResponse,
        _ => Kind::Other,
    }
}

/// Decodes `content` (the bytes between protocol number and serial) of protocol `proto`;
/// device clock readings are `timezone_minutes` east of UTC.
pub(crate) fn decode(proto: u8, content: &[u8], timezone_minutes: i32) -> Gt06Message {
    let mut msg = crate::message::new_message(kind_of(proto), proto);
    let outcome = match proto {
        0x01 => login(content, &mut msg),
        0x13 => status(content, &mut msg),
        0x23 => heartbeat_gk310(content, &mut msg),
        0x10 | 0x11 | 0x12 | 0x22 | 0x2d | 0x37 => {
            location(proto, content, timezone_minutes, &mut msg)
        }
        0x16 | 0x26 => gps_lbs_status(content, true, timezone_minutes, &mut msg),
        0x19 => gps_lbs_status(content, false, timezone_minutes, &mut msg),
        0x95 => short_alarm(content, timezone_minutes, &mut msg),
        0x15 => command_response(content, &mut msg),
        0x21 => string_info(content, &mut msg),
        0x94 => info(content, &mut msg),
        _ => {
            msg.raw = Some(hex::encode(content));
            Ok(())
        }
    };
    if let Err(reason) = outcome {
        msg.raw = Some(hex::encode(content));
        msg.details.decode_error = Some(reason);
    }
    msg
}

fn short(proto: &str) -> impl Fn(nom::Err<nom::error::Error<&[u8]>>) -> String + '_ {
    move |_| format!("content too short for a {proto} packet")
}

fn login(content: &[u8], msg: &mut Gt06Message) -> Result<(), String> {
    let imei = content.get(..8).ok_or("content too short for a login")?;
    // 15 IMEI digits as BCD behind one leading 0 nibble.
    msg.device_id = Some(hex::encode(imei)[1..].to_string());
    if let Some(type_id) = content.get(8..10) {
        msg.details.type_id = Some(u16::from_be_bytes([type_id[0], type_id[1]]));
    }
    if let Some(word) = content.get(10..12) {
        msg.details.timezone_offset_minutes =
            Some(timezone_minutes(u16::from_be_bytes([word[0], word[1]])));
    }
    Ok(())
}

/// The login's timezone word: top 12 bits hhmm as a decimal number, bit 3 set = west of GMT.
pub(crate) fn timezone_minutes(word: u16) -> i32 {
    let hhmm = i32::from(word >> 4);
    let minutes = (hhmm / 100) * 60 + hhmm % 100;
    if word & 0x08 != 0 {
        -minutes
    } else {
        minutes
    }
}

fn status(content: &[u8], msg: &mut Gt06Message) -> Result<(), String> {
    let (_, (terminal, voltage, gsm, alarm, language)) =
        nom::sequence::tuple((be_u8, be_u8, be_u8, be_u8, be_u8))(content)
            .map_err(short("status"))?;
    set_status(msg, terminal, voltage, gsm, alarm, language);
    Ok(())
}

fn set_status(msg: &mut Gt06Message, terminal: u8, voltage: u8, gsm: u8, alarm: u8, language: u8) {
    msg.details.terminal_info = Some(terminal);
    msg.details.voltage_level = Some(voltage);
    msg.details.gsm_signal = Some(gsm);
    msg.details.language = Some(language);
    msg.alarm = pick_alarm(terminal, alarm);
}

fn heartbeat_gk310(content: &[u8], msg: &mut Gt06Message) -> Result<(), String> {
    let (_, (terminal, power, gsm)) =
        nom::sequence::tuple((be_u8, be_u16, be_u8))(content).map_err(short("0x23 heartbeat"))?;
    msg.details.terminal_info = Some(terminal);
    msg.details.power = Some(f64::from(power) / 100.0);
    msg.details.gsm_signal = Some(gsm);
    Ok(())
}

/// The 18-byte GPS block: date-time, GPS info + satellites, latitude, longitude, speed, course/status.
fn gps_block(timezone_minutes: i32) -> impl Fn(&[u8]) -> Res<'_, Position> {
    move |input| {
        let (input, date) = nom::bytes::complete::take(6usize)(input)?;
        let (input, info) = be_u8(input)?;
        let (input, lat_raw) = be_u32(input)?;
        let (input, lon_raw) = be_u32(input)?;
        let (input, speed) = be_u8(input)?;
        let (input, course_status) = be_u16(input)?;
        let mut position = position_from(date, lat_raw, lon_raw, course_status, timezone_minutes);
        position.satellites = Some(info & 0x0f);
        position.speed = f64::from(speed);
        Ok((input, position))
    }
}

fn position_from(date: &[u8], lat_raw: u32, lon_raw: u32, course_status: u16, tz: i32) -> Position {
    let timestamp = clock::unix_seconds(
        2000 + i32::from(date[0]),
        date[1],
        date[2],
        date[3],
        date[4],
        date[5],
        tz,
    );
    // Degrees × 1 800 000; bit 10 set = north, bit 11 set = west.
    let mut latitude = f64::from(lat_raw) / 1_800_000.0;
    let mut longitude = f64::from(lon_raw) / 1_800_000.0;
    if course_status & 0x0400 == 0 {
        latitude = -latitude;
    }
    if course_status & 0x0800 != 0 {
        longitude = -longitude;
    }
    Position {
        time: timestamp.and_then(clock::rfc3339),
        timestamp,
        latitude,
        longitude,
        speed: 0.0,
        course: course_status & 0x03ff,
        satellites: None,
        fix: course_status & 0x1000 != 0,
        altitude: None,
    }
}

/// MCC, MNC (2 bytes when MCC bit 15 is set), LAC and a 3- or 4-byte cell id.
fn lbs(wide_cell: bool) -> impl Fn(&[u8]) -> Res<'_, Cell> {
    move |input| {
        let (input, mcc) = be_u16(input)?;
        let (input, mnc) = if mcc & 0x8000 != 0 || wide_cell {
            be_u16(input)?
        } else {
            let (input, mnc) = be_u8(input)?;
            (input, u16::from(mnc))
        };
        let (input, lac) = be_u16(input)?;
        let (input, cell_id) = if wide_cell {
            be_u32(input)?
        } else {
            be_u24(input)?
        };
        Ok((
            input,
            Cell {
                mcc: mcc & 0x7fff,
                mnc,
                lac,
                cell_id,
            },
        ))
    }
}

fn location(proto: u8, content: &[u8], tz: i32, msg: &mut Gt06Message) -> Result<(), String> {
    let (rest, position) = gps_block(tz)(content).map_err(short("location"))?;
    msg.position = Some(position);
    if proto == 0x10 {
        return Ok(());
    }
    let Ok((rest, cell)) = lbs(proto == 0x11)(rest) else {
        return Ok(());
    };
    msg.details.lbs = Some(cell);
    if proto == 0x22 {
        if let [acc, mode, reupload, tail @ ..] = rest {
            msg.details.acc = Some(*acc != 0);
            msg.details.upload_mode = Some(*mode);
            msg.details.reupload = Some(*reupload != 0);
            if let [a, b, c, d, ..] = tail {
                msg.details.mileage = Some(u32::from_be_bytes([*a, *b, *c, *d]));
            }
        }
    }
    Ok(())
}

/// 0x16 / 0x26 (GPS, LBS with a length byte, status) and 0x19 (the same without GPS). The
/// status block is the last 5 bytes: the LBS-length byte is unreliable and one vendor widens
/// the cell id, so the LBS block is whatever sits between.
fn gps_lbs_status(
    content: &[u8],
    with_gps: bool,
    tz: i32,
    msg: &mut Gt06Message,
) -> Result<(), String> {
    let rest = if with_gps {
        let (rest, position) = gps_block(tz)(content).map_err(short("GPS alarm"))?;
        msg.position = Some(position);
        rest
    } else {
        content
    };
    let split = rest
        .len()
        .checked_sub(5)
        .ok_or("content too short for an alarm status block")?;
    let (middle, status) = rest.split_at(split);
    if middle.len() >= 10 {
        msg.details.lbs = lbs_wide_cell(&middle[1..]);
    } else if middle.len() == 9 {
        msg.details.lbs = lbs(false)(&middle[1..]).ok().map(|(_, cell)| cell);
    }
    set_status(msg, status[0], status[1], status[2], status[3], status[4]);
    Ok(())
}

/// The vendor variant whose cell id takes 4 bytes (MNC stays 1 byte).
fn lbs_wide_cell(input: &[u8]) -> Option<Cell> {
    let parsed: Res<'_, (u16, u8, u16, u32)> =
        nom::sequence::tuple((be_u16, be_u8, be_u16, be_u32))(input);
    let (_, (mcc, mnc, lac, cell_id)) = parsed.ok()?;
    Some(Cell {
        mcc: mcc & 0x7fff,
        mnc: u16::from(mnc),
        lac,
        cell_id,
    })
}

/// 0x95 (JC100/JC400 dash cams): date + event code, or a reduced GPS block + event code.
fn short_alarm(content: &[u8], tz: i32, msg: &mut Gt06Message) -> Result<(), String> {
    let code = if content.len() > 7 {
        let parsed: Res<'_, (&[u8], u32, u32, u16, u8)> = nom::sequence::tuple((
            nom::bytes::complete::take(6usize),
            be_u32,
            be_u32,
            be_u16,
            be_u8,
        ))(content);
        let (_, (date, lat, lon, course_status, code)) = parsed.map_err(short("0x95 alarm"))?;
        msg.position = Some(position_from(date, lat, lon, course_status, tz));
        code
    } else {
        *content.get(6).ok_or("content too short for a 0x95 alarm")?
    };
    let name = match code {
        0x01 if content.len() > 7 => "sos",
        0x80 => "vibration",
        0x87 => "overspeed",
        0x90 => "hardAcceleration",
        0x91 => "hardBraking",
        0x92 => "hardCornering",
        0x93 => "accident",
        _ => "general",
    };
    msg.alarm = Some(Alarm {
        name: name.to_string(),
        code: u32::from(code),
    });
    Ok(())
}

fn command_response(content: &[u8], msg: &mut Gt06Message) -> Result<(), String> {
    let (rest, (length, flag)) =
        nom::sequence::tuple((be_u8, be_u32))(content).map_err(short("command response"))?;
    let text_len = usize::from(length)
        .checked_sub(4)
        .ok_or("command length below 4")?;
    let text = rest
        .get(..text_len)
        .ok_or("command text longer than the packet")?;
    msg.details.server_flag = Some(flag);
    msg.text = Some(String::from_utf8_lossy(text).into_owned());
    Ok(())
}

fn string_info(content: &[u8], msg: &mut Gt06Message) -> Result<(), String> {
    let (text, (flag, encoding)) =
        nom::sequence::tuple((be_u32, be_u8))(content).map_err(short("0x21 response"))?;
    msg.details.server_flag = Some(flag);
    msg.text = Some(if encoding == 1 {
        String::from_utf8_lossy(text).into_owned()
    } else {
        let units: Vec<u16> = text
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    });
    Ok(())
}

fn info(content: &[u8], msg: &mut Gt06Message) -> Result<(), String> {
    let (&sub_type, rest) = content.split_first().ok_or("empty information packet")?;
    msg.details.info_type = Some(sub_type);
    match sub_type {
        0x00 => {
            let (_, power) = be_u16(rest).map_err(short("0x94/0x00"))?;
            msg.details.power = Some(f64::from(power) / 100.0);
        }
        0x0a => {
            let ids = rest.get(..26).ok_or("content too short for 0x94/0x0a")?;
            msg.details.imsi = Some(bcd_digits(&ids[8..16]));
            msg.details.iccid = Some(bcd_digits(&ids[16..26]));
        }
        _ => msg.raw = Some(hex::encode(content)),
    }
    Ok(())
}

/// BCD digits with the 0xF padding nibbles removed.
fn bcd_digits(bytes: &[u8]) -> String {
    hex::encode(bytes).replace('f', "")
}

/// Alarm from the alarm byte, else from the terminal-info alarm field (bits 3-5), else
/// `general` for an unknown non-zero alarm byte.
fn pick_alarm(terminal: u8, alarm: u8) -> Option<Alarm> {
    let from_byte = match alarm {
        0x01 => Some("sos"),
        0x02 => Some("powerCut"),
        0x03 | 0x09 => Some("vibration"),
        0x04 => Some("geofenceEnter"),
        0x05 => Some("geofenceExit"),
        0x06 => Some("overspeed"),
        0x0e | 0x0f => Some("lowBattery"),
        0x11 => Some("powerOff"),
        0x0c | 0x13 | 0x25 | 0x32 => Some("tampering"),
        0x14 => Some("door"),
        0x23 => Some("fallDown"),
        0x29 => Some("hardAcceleration"),
        0x30 => Some("hardBraking"),
        0x2a | 0x2b => Some("hardCornering"),
        0x2c => Some("accident"),
        _ => None,
    };
    if let Some(name) = from_byte {
        return Some(Alarm {
            name: name.to_string(),
            code: u32::from(alarm),
        });
    }
    let field = (terminal >> 3) & 0x07;
    let from_terminal = match field {
        1 => Some("vibration"),
        2 => Some("powerCut"),
        3 => Some("lowBattery"),
        4 => Some("sos"),
        6 => Some("geofence"),
        7 => Some("removing"),
        _ => None,
    };
    if let Some(name) = from_terminal {
        return Some(Alarm {
            name: name.to_string(),
            code: u32::from(field),
        });
    }
    (alarm != 0).then(|| Alarm {
        name: "general".to_string(),
        code: u32::from(alarm),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezone_word_reads_hhmm_and_the_west_bit() {
        assert_eq!(timezone_minutes(0x190a), -240);
        assert_eq!(timezone_minutes(0x3201), 480);
        assert_eq!(timezone_minutes(0x0550), 85);
    }

    #[test]
    fn alarm_byte_wins_over_terminal_bits_and_unknown_bytes_are_general() {
        assert_eq!(pick_alarm(0x7c, 0x01).unwrap().name, "sos");
        assert_eq!(pick_alarm(0x7c, 0x00).unwrap().name, "removing");
        assert_eq!(pick_alarm(0x00, 0x77).unwrap().name, "general");
        assert_eq!(pick_alarm(0x44, 0x00), None);
    }

    #[test]
    fn a_truncated_location_keeps_its_bytes_and_says_why() {
        let msg = decode(0x12, &[0x0f, 0x0a], 0);
        assert_eq!(msg.kind, Kind::Location);
        assert!(msg.position.is_none());
        assert_eq!(msg.raw.as_deref(), Some("0f0a"));
        assert!(msg.details.decode_error.is_some());
    }
}
