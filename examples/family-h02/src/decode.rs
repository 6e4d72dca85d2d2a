//! One H02 line (`*HQ,IMEI,TYPE,...#`) to the typed [`H02Message`]: comma-separated fields,
//! the type word third. A line of a known type that cannot be read is `other` with
//! `details.decode_error` and the line in `raw`, so nothing a device sent is lost.

use crate::message::{Alarm, Cell, H02Message, Kind, Position};
use codecs::family::clock;

/// Knots to km/h.
const KNOTS: f64 = 1.852;

/// Decodes a whole line, `*` through `#`; device clocks are read `tz_minutes` east of UTC.
pub fn decode(line: &[u8], tz_minutes: i32) -> H02Message {
    let text = String::from_utf8_lossy(line);
    let body = text.trim_start_matches('*').trim_end_matches('#');
    let fields: Vec<&str> = body.split(',').collect();
    let msg_type = fields.get(2).copied().unwrap_or_default();
    let mut msg = H02Message::new(crate::NAME, Kind::Other, msg_type.to_string());
    msg.details.maker = fields.first().map(|m| m.to_string());
    msg.device_id = fields
        .get(1)
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .map(|id| id.to_string());
    let rest = fields.get(3..).unwrap_or_default();
    let read = match msg_type {
        "HTBT" | "V0" => {
            msg.kind = Kind::Heartbeat;
            msg.details.battery = rest.first().and_then(|b| b.trim().parse().ok());
            Ok(())
        }
        "NBR" => cells(&mut msg, rest, tz_minutes),
        "V4" => {
            msg.kind = Kind::CommandResponse;
            // The answer is every field up to the report time that a validity letter follows.
            let at = (0..rest.len()).find(|&i| {
                is_digits(rest[i], 6) && matches!(rest.get(i + 1), Some(&("A" | "V" | "B")))
            });
            let (answer, report) = rest.split_at(at.unwrap_or(rest.len()));
            msg.text = Some(answer.join(","));
            if report.is_empty() {
                Ok(())
            } else {
                report_fields(&mut msg, report, tz_minutes)
            }
        }
        "V1" | "V2" | "V5" | "V6" | "V8" | "V19" | "VI1" => {
            msg.kind = Kind::Location;
            report_fields(&mut msg, rest, tz_minutes)
        }
        _ => Err(String::new()),
    };
    if let Err(reason) = read {
        msg.kind = Kind::Other;
        msg.position = None;
        msg.alarm = None;
        msg.raw = Some(text.into_owned());
        msg.details.decode_error = (!reason.is_empty()).then_some(reason);
    }
    msg
}

/// True when `s` is exactly `n` ASCII digits.
fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// True when `s` is a status word: eight hex digits.
fn is_status(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `HHMMSS` or `DDMMYY` as three numbers.
fn triple(s: &str) -> Option<[u8; 3]> {
    if !is_digits(s, 6) {
        return None;
    }
    let n = |i: usize| s.get(i..i + 2)?.parse().ok();
    Some([n(0)?, n(2)?, n(4)?])
}

/// The report after the type word: time, validity, latitude, N/S, longitude, E/W, speed
/// (knots), course, [battery,] date, [SIM info x3,] status, extra fields.
fn report_fields(msg: &mut H02Message, f: &[&str], tz_minutes: i32) -> Result<(), String> {
    if f.len() < 8 {
        return Err(format!("{} fields, a report has at least 8", f.len()));
    }
    let latitude = coordinate(f[2], f[3], ('N', 'S')).ok_or("no latitude")?;
    let longitude = coordinate(f[4], f[5], ('E', 'W')).ok_or("no longitude")?;
    let speed = f[6].trim().parse::<f64>().map_err(|_| "bad speed")? * KNOTS;
    let course = f[7].trim().parse::<f64>().unwrap_or(0.0);
    // Some firmware puts a battery level between course and date.
    let date_at = if !is_digits(f.get(8).copied().unwrap_or("x"), 6)
        && f.get(9).is_some_and(|d| is_digits(d, 6))
    {
        9
    } else {
        8
    };
    let timestamp = match (triple(f[0]), f.get(date_at).and_then(|d| triple(d))) {
        (Some([h, mi, s]), Some([d, mo, y])) => {
            clock::unix_seconds(2000 + i32::from(y), mo, d, h, mi, s, tz_minutes)
        }
        _ => None,
    };
    let mut after = f.get(date_at + 1..).unwrap_or_default().to_vec();
    // The status word comes right after the date, or after three SIM-info fields (V19).
    let status_at = [0, 3]
        .into_iter()
        .find(|&i| after.get(i).is_some_and(|s| is_status(s)));
    if let Some(i) = status_at {
        let status = u32::from_str_radix(after.remove(i), 16).unwrap_or(u32::MAX);
        msg.details.status = Some(status);
        msg.details.acc = Some(status & (1 << 10) != 0);
        msg.alarm = alarm(status);
    }
    if !after.is_empty() {
        msg.details.extra = Some(after.iter().map(|s| s.to_string()).collect());
    }
    msg.position = Some(Position {
        time: timestamp.and_then(clock::rfc3339),
        timestamp,
        latitude,
        longitude,
        speed,
        course: (course.round() as i64).rem_euclid(360) as u16,
        satellites: None,
        // `A` is a fix; a number there is the coding scheme of devices that send only fixes.
        fix: f[1] == "A" || (!f[1].is_empty() && f[1].bytes().all(|b| b.is_ascii_digit())),
        altitude: None,
    });
    Ok(())
}

/// A coordinate in `DDMM.MMMM` / `DDDMM.MMMM`, `DDMMMMMM` (four decimals of minutes, no dot)
/// or `-D-M.M`, signed by its hemisphere letter.
fn coordinate(value: &str, hemisphere: &str, (plus, minus): (char, char)) -> Option<f64> {
    let value = value.trim();
    let (degrees, minutes): (f64, f64) = if let Some(rest) = value.strip_prefix('-') {
        let (d, m) = rest.split_once('-')?;
        (d.parse().ok()?, m.parse().ok()?)
    } else if let Some(dot) = value.find('.') {
        let split = dot.checked_sub(2)?;
        (
            if split == 0 {
                0.0
            } else {
                value[..split].parse().ok()?
            },
            value[split..].parse().ok()?,
        )
    } else {
        let split = value.len().checked_sub(6)?;
        let d = if split == 0 {
            0.0
        } else {
            value[..split].parse().ok()?
        };
        let m: f64 = value[split..].parse().ok()?;
        (d, m / 10_000.0)
    };
    if !(0.0..60.0).contains(&minutes) {
        return None;
    }
    let unsigned = degrees + minutes / 60.0;
    match hemisphere.chars().next()? {
        c if c == plus => Some(unsigned),
        c if c == minus => Some(-unsigned),
        _ => None,
    }
}

/// The alarms of a status word (bits are active low), with Traccar's names.
fn alarm(status: u32) -> Option<Alarm> {
    let clear = |bit: u32| status & (1 << bit) == 0;
    let mut names = Vec::new();
    if clear(0) {
        names.push("vibration");
    }
    if clear(1) || clear(18) {
        names.push("sos");
    }
    if clear(2) {
        names.push("overspeed");
    }
    if clear(19) {
        names.push("powerCut");
    }
    (!names.is_empty()).then(|| Alarm {
        name: names.join(","),
        code: status,
    })
}

/// A cell report after `NBR`: time, MCC, MNC, delay, count, count x (LAC, cell, RSSI), date,
/// status. No fix, so `other` with the cells under `details`.
fn cells(msg: &mut H02Message, f: &[&str], tz_minutes: i32) -> Result<(), String> {
    let number = |i: usize| -> Option<u32> { f.get(i)?.trim().parse().ok() };
    let (mcc, mnc) = (number(1).ok_or("bad MCC")?, number(2).ok_or("bad MNC")?);
    let count = number(4).ok_or("bad cell count")? as usize;
    let mut cells = Vec::new();
    for i in 0..count {
        let at = 5 + i * 3;
        let field = |j: usize| f.get(at + j).map(|s| s.trim());
        let cell = (|| {
            Some(Cell {
                lac: field(0)?.parse().ok()?,
                cell_id: field(1)?.parse().ok()?,
                rssi: field(2)?.parse().ok()?,
            })
        })()
        .ok_or_else(|| format!("cell {i} unreadable"))?;
        cells.push(cell);
    }
    let date_at = 5 + count * 3;
    let timestamp = match (
        f.first().and_then(|t| triple(t)),
        f.get(date_at).and_then(|d| triple(d)),
    ) {
        (Some([h, mi, s]), Some([d, mo, y])) => {
            clock::unix_seconds(2000 + i32::from(y), mo, d, h, mi, s, tz_minutes)
        }
        _ => None,
    };
    if let Some(status) = f
        .get(date_at + 1)
        .filter(|s| is_status(s))
        .and_then(|s| u32::from_str_radix(s, 16).ok())
    {
        msg.details.status = Some(status);
        msg.alarm = alarm(status);
    }
    msg.details.mcc = Some(mcc);
    msg.details.mnc = Some(mnc);
    msg.details.cells = Some(cells);
    // The report time, without a fix: kept as text for the rules.
    msg.text = timestamp.and_then(clock::rfc3339);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_in_every_written_form() {
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-5);
        assert!(close(coordinate("0956.3869", "N", ('N', 'S')), 9.939_78));
        assert!(close(coordinate("08406.7068", "W", ('E', 'W')), -84.111_78));
        assert!(close(
            coordinate("-23-29.0095", "S", ('N', 'S')),
            -23.483_49
        ));
        assert!(close(coordinate("37573392", "S", ('N', 'S')), -37.955_65));
        assert!(close(coordinate("701.8915", "S", ('N', 'S')), -7.031_525));
        assert_eq!(coordinate("0.0000", "0", ('N', 'S')), None);
        assert_eq!(coordinate("", "N", ('N', 'S')), None);
        assert_eq!(coordinate("1261.0000", "N", ('N', 'S')), None);
    }

    #[test]
    fn status_bits_are_active_low_and_every_alarm_is_named() {
        assert_eq!(alarm(0xffff_ffff), None);
        assert_eq!(alarm(0xffff_fbff), None);
        let a = alarm(0xfff3_fffe).unwrap();
        assert_eq!(
            (a.name.as_str(), a.code),
            ("vibration,sos,powerCut", 0xfff3_fffe)
        );
    }
}
