//! Bodies of checked JT/T 808 messages to typed [`Jt808Message`]s, one function per message.
//!
//! Layouts follow ../shared/vectors/README.md. A body too short for its type still becomes a
//! message: `details.decode_error` says why and `raw` keeps the bytes.

use crate::header::Header;
use crate::message::{Alarm, Jt808Details, Jt808Message, Kind, Position};
use codecs::family::{clock, hex_id};
use nom::bytes::complete::take;
use nom::number::complete::{be_i16, be_u16, be_u32, be_u8};
use nom::sequence::tuple;
use nom::IResult;

type Res<'a, T> = IResult<&'a [u8], T>;

/// Decodes the body of one message; a location batch yields one message per item.
pub(crate) fn decode(header: &Header, body: &[u8], timezone_minutes: i32) -> Vec<Jt808Message> {
    let mut msg = base(header, kind_of(header.msg_id));
    if header.encryption() != 0 || header.package.is_some() {
        msg.kind = Kind::Other;
        msg.raw = Some(hex::encode(body));
        return vec![msg];
    }
    let outcome = match header.msg_id {
        0x0100 => register(header, body, &mut msg),
        0x0102 => auth(header, body, &mut msg),
        0x0002 => Ok(()),
        0x0200 => location(body, timezone_minutes, &mut msg),
        0x0201 => skip_reply_serial(body).and_then(|b| location(b, timezone_minutes, &mut msg)),
        0x0704 => return batch(header, body, timezone_minutes),
        0x0107 => attributes(header, body, &mut msg),
        0x0001 => general_response(body, &mut msg),
        0x0900 => transparent(body, &mut msg),
        _ => {
            msg.raw = Some(hex::encode(body));
            Ok(())
        }
    };
    if let Err(reason) = outcome {
        fail(&mut msg, body, reason);
    }
    vec![msg]
}

fn kind_of(msg_id: u16) -> Kind {
    match msg_id {
        0x0100 => Kind::Register,
        0x0102 => Kind::Auth,
        0x0002 => Kind::Heartbeat,
        0x0200 | 0x0201 | 0x0704 => Kind::Location,
        0x0001 => Kind::CommandResponse,
        _ => Kind::Other,
    }
}

fn base(header: &Header, kind: Kind) -> Jt808Message {
    Jt808Message {
        protocol: crate::NAME.to_string(),
        kind,
        msg_type: hex_id(&header.msg_id.to_be_bytes()),
        serial: Some(header.serial),
        device_id: Some(header.phone_id()),
        position: None,
        alarm: None,
        text: None,
        raw: None,
        details: Jt808Details {
            protocol_version: header.version,
            encryption: Some(header.encryption()).filter(|&e| e != 0),
            package: header.package.map(|(total, index)| [total, index]),
            ..Jt808Details::default()
        },
    }
}

fn fail(msg: &mut Jt808Message, body: &[u8], reason: String) {
    msg.raw = Some(hex::encode(body));
    msg.details.decode_error = Some(reason);
}

fn short(what: &'static str) -> impl Fn(nom::Err<nom::error::Error<&[u8]>>) -> String {
    move |_| format!("body too short for {what}")
}

/// Text fields are NUL-padded; the padding is not part of the value.
fn text(bytes: &[u8]) -> String {
    let (decoded, _, _) = encoding_rs::GBK.decode(bytes);
    decoded.trim_matches('\0').to_string()
}

fn register(header: &Header, body: &[u8], msg: &mut Jt808Message) -> Result<(), String> {
    // 2019: 11/30/30-byte maker, model and id. Before, the model took 8 bytes (2011) or 20
    // (2013); the only difference on the wire is the body size, and a 2013 body without a plate
    // is already 37 bytes.
    let (maker, model, id) = if header.version.is_some() {
        (11usize, 30usize, 30usize)
    } else if body.len() >= 37 {
        (5, 20, 7)
    } else {
        (5, 8, 7)
    };
    let parsed: Res<'_, _> =
        tuple((be_u16, be_u16, take(maker), take(model), take(id), be_u8))(body);
    let (plate, (province, city, maker, model, id, color)) =
        parsed.map_err(short("a registration"))?;
    let d = &mut msg.details;
    d.province_id = Some(province);
    d.city_id = Some(city);
    d.manufacturer_id = Some(text(maker));
    d.terminal_model = Some(text(model));
    d.terminal_id = Some(text(id));
    d.plate_color = Some(color);
    d.plate = Some(text(plate));
    Ok(())
}

fn auth(header: &Header, body: &[u8], msg: &mut Jt808Message) -> Result<(), String> {
    if header.version.is_none() {
        msg.details.auth_code = Some(text(body));
        return Ok(());
    }
    let (rest, code_len) = be_u8(body).map_err(short("a 2019 authentication"))?;
    let parsed: Res<'_, _> = tuple((take(code_len), take(15usize), take(20usize)))(rest);
    let (_, (code, imei, firmware)) = parsed.map_err(short("a 2019 authentication"))?;
    msg.details.auth_code = Some(text(code));
    msg.details.imei = Some(text(imei));
    msg.details.firmware = Some(text(firmware));
    Ok(())
}

fn skip_reply_serial(body: &[u8]) -> Result<&[u8], String> {
    body.get(2..)
        .ok_or_else(|| "body too short for a location reply".to_string())
}

/// The 28-byte basic block, then the extra items (id, length, value) read leniently: a
/// vendor item that breaks the rule ends the list without losing the fix.
fn location(body: &[u8], timezone_minutes: i32, msg: &mut Jt808Message) -> Result<(), String> {
    let parsed: Res<'_, _> = tuple((
        be_u32,
        be_u32,
        be_u32,
        be_u32,
        be_i16,
        be_u16,
        be_u16,
        take(6usize),
    ))(body);
    let (mut rest, (alarm, status, lat, lon, altitude, speed, course, bcd)) =
        parsed.map_err(short("a location"))?;
    let timestamp = bcd_time(bcd, timezone_minutes);
    let mut latitude = f64::from(lat) / 1_000_000.0;
    let mut longitude = f64::from(lon) / 1_000_000.0;
    if status & 0x04 != 0 {
        latitude = -latitude;
    }
    if status & 0x08 != 0 {
        longitude = -longitude;
    }
    let mut position = Position {
        time: timestamp.and_then(clock::rfc3339),
        timestamp,
        latitude,
        longitude,
        speed: f64::from(speed) / 10.0,
        course,
        satellites: None,
        fix: status & 0x02 != 0,
        altitude: Some(i32::from(altitude)),
    };
    let d = &mut msg.details;
    d.alarm_flags = Some(alarm);
    d.status_flags = Some(status);
    d.acc = Some(status & 0x01 != 0);
    while let [id, len, tail @ ..] = rest {
        let Some(value) = tail.get(..usize::from(*len)) else {
            break;
        };
        d.tlv.insert(hex_id(&[*id]), hex::encode(value));
        match (*id, value) {
            (0x01, &[a, b, c, e]) => {
                d.mileage_km = Some(f64::from(u32::from_be_bytes([a, b, c, e])) / 10.0)
            }
            (0x02, &[a, b]) => d.fuel_l = Some(f64::from(u16::from_be_bytes([a, b])) / 10.0),
            (0x03, &[a, b]) => d.tacho_speed = Some(f64::from(u16::from_be_bytes([a, b])) / 10.0),
            (0x30, &[v]) => d.rssi = Some(v),
            (0x31, &[v]) => position.satellites = Some(v),
            _ => {}
        }
        rest = &tail[usize::from(*len)..];
    }
    msg.position = Some(position);
    if alarm != 0 {
        msg.kind = Kind::Alarm;
        msg.alarm = Some(Alarm {
            name: alarm_names(alarm),
            code: alarm,
        });
    }
    Ok(())
}

/// `YYMMDDhhmmss` as BCD, read `timezone_minutes` east of UTC.
fn bcd_time(bcd: &[u8], timezone_minutes: i32) -> Option<i64> {
    let mut fields = [0u8; 6];
    for (field, &byte) in fields.iter_mut().zip(bcd) {
        let (hi, lo) = (byte >> 4, byte & 0x0f);
        if hi > 9 || lo > 9 {
            return None;
        }
        *field = hi * 10 + lo;
    }
    let [year, month, day, hour, minute, second] = fields;
    clock::unix_seconds(
        2000 + i32::from(year),
        month,
        day,
        hour,
        minute,
        second,
        timezone_minutes,
    )
}

/// Alarm bits by the standard, named as Traccar names them (it also reads the often
/// vendor-defined bits 15-17 as vibration and tampering).
fn alarm_names(flags: u32) -> String {
    const NAMES: &[(&[u32], &str)] = &[
        (&[0], "sos"),
        (&[1], "overspeed"),
        (&[2], "fatigueDriving"),
        (&[4, 9, 10, 11], "fault"),
        (&[5, 6], "gpsAntennaCut"),
        (&[7, 18], "lowBattery"),
        (&[8], "powerOff"),
        (&[15], "vibration"),
        (&[16, 17], "tampering"),
        (&[19], "parking"),
        (&[20], "geofence"),
        (&[26], "general"),
        (&[28], "movement"),
        (&[29, 30], "accident"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(bits, _)| bits.iter().any(|bit| flags & (1 << bit) != 0))
        .map(|(_, name)| *name)
        .collect();
    if names.is_empty() {
        "general".to_string()
    } else {
        names.join(",")
    }
}

/// 0x0704: count, type, then `count` × (length u16 + location body). Items that parse become
/// messages; a broken item ends the batch.
fn batch(header: &Header, body: &[u8], timezone_minutes: i32) -> Vec<Jt808Message> {
    let mut out = Vec::new();
    let parsed: Res<'_, (u16, u8)> = tuple((be_u16, be_u8))(body);
    let Ok((mut rest, (count, batch_type))) = parsed else {
        let mut msg = base(header, Kind::Other);
        fail(&mut msg, body, "body too short for a location batch".into());
        return vec![msg];
    };
    for _ in 0..count {
        let item: Res<'_, &[u8]> = nom::multi::length_data(be_u16)(rest);
        let Ok((next, item)) = item else { break };
        rest = next;
        let mut msg = base(header, Kind::Location);
        msg.details.batch_type = Some(batch_type);
        if let Err(reason) = location(item, timezone_minutes, &mut msg) {
            fail(&mut msg, item, reason);
        }
        out.push(msg);
    }
    if out.is_empty() {
        let mut msg = base(header, Kind::Other);
        fail(
            &mut msg,
            body,
            "location batch without a readable item".into(),
        );
        out.push(msg);
    }
    out
}

fn attributes(header: &Header, body: &[u8], msg: &mut Jt808Message) -> Result<(), String> {
    let (model, id) = if header.version.is_some() {
        (30usize, 30usize)
    } else {
        (20, 7)
    };
    let parsed: Res<'_, _> =
        tuple((be_u16, take(5usize), take(model), take(id), take(10usize)))(body);
    let (_, (terminal_type, maker, model, id, iccid)) =
        parsed.map_err(short("terminal attributes"))?;
    let d = &mut msg.details;
    d.terminal_type = Some(terminal_type);
    d.manufacturer_id = Some(text(maker));
    d.terminal_model = Some(text(model));
    d.terminal_id = Some(text(id));
    d.iccid = Some(hex::encode(iccid));
    Ok(())
}

fn general_response(body: &[u8], msg: &mut Jt808Message) -> Result<(), String> {
    let parsed: Res<'_, _> = tuple((be_u16, be_u16, be_u8))(body);
    let (_, (serial, id, result)) = parsed.map_err(short("a general response"))?;
    msg.details.reply_serial = Some(serial);
    msg.details.reply_id = Some(id);
    msg.details.result = Some(result);
    Ok(())
}

fn transparent(body: &[u8], msg: &mut Jt808Message) -> Result<(), String> {
    let (&kind, _) = body.split_first().ok_or("empty transparent message")?;
    msg.details.transparent_type = Some(kind);
    msg.raw = Some(hex::encode(body));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_bits_are_named_and_joined_in_bit_order() {
        assert_eq!(alarm_names(0x0000_0080), "lowBattery");
        assert_eq!(alarm_names(0x0002_0001), "sos,tampering");
        assert_eq!(alarm_names(0x0000_0008), "general");
    }

    #[test]
    fn bcd_times_with_non_decimal_nibbles_have_no_instant() {
        assert_eq!(
            bcd_time(&[0x17, 0x01, 0x17, 0x10, 0x04, 0x42], 480),
            Some(1_484_618_682)
        );
        assert_eq!(bcd_time(&[0x1a, 0x01, 0x17, 0x10, 0x04, 0x42], 0), None);
    }
}
