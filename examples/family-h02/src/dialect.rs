//! H02 as device-sim plays it: the device side, written from the protocol description and
//! sharing no code with this crate's codec, so a simulator run checks the codec rather than
//! agreeing with it.
//!
//! An H02 tracker has no login: every line names it by IMEI. It sends `HTBT` heartbeats, which
//! the server echoes (`*HQ,IMEI,HTBT#`) and which device-sim therefore checks, and `V1`
//! reports, which it sends once and does not keep: the server's `V4,V1` answer confirms
//! nothing the device waits for, so device-sim's report counts them `without_ack`. A server
//! command (`*HQ,IMEI,<command>#`) is answered with `*HQ,IMEI,V4,<command>,<report>#`, the
//! device's confirmation with its last position.

use device_sim::behaviour::family::motion::{civil, Fix};
use device_sim::behaviour::family::{Broken, Dialect, Key, Login, Reply};
use device_sim::dialects::Family;

/// device-sim's H02 family: `--proto h02`, 15-digit IMEIs from 860000000000000.
pub const FAMILY: Family = Family::new(crate::NAME, 15, 860_000_000_000_000, H02Device::boxed);

/// What a heartbeat waits for: its echo (H02 has no serials, so every heartbeat has this key).
pub const HEARTBEAT: Key = Key {
    id: u16::from_be_bytes(*b"HT"),
    serial: 0,
};

/// Knots per km/h.
const KMH_TO_KNOTS: f64 = 1.0 / 1.852;
/// The longest server line the device reads before it gives the stream up.
const MAX_SERVER_LINE: usize = 1024;
/// The status word of an ordinary report: every alarm bit high (inactive), ignition on.
const STATUS: &str = "FFFFFFFF";

/// One simulated H02 tracker.
#[derive(Debug, Clone)]
pub struct H02Device {
    imei: String,
    /// The last reported fix: command confirmations carry it.
    last: Option<Fix>,
}

impl H02Device {
    /// The tracker with this IMEI.
    pub fn new(imei: &str) -> Self {
        H02Device {
            imei: imei.to_string(),
            last: None,
        }
    }

    /// [`H02Device::new`], boxed as device-sim's registry builds it.
    pub fn boxed(imei: &str) -> Box<dyn Dialect> {
        Box::new(H02Device::new(imei))
    }

    /// The report fields of the last fix (`HHMMSS,A,lat,N,lon,E,knots,course,DDMMYY,status`),
    /// or a void report before the first fix.
    fn report(&self) -> String {
        let Some(fix) = &self.last else {
            return format!("000000,V,0000.0000,N,00000.0000,E,0.00,0,000000,{STATUS}");
        };
        let [year, month, day, hour, minute, second] = civil(fix.unix_ms.div_euclid(1000));
        format!(
            "{hour:02}{minute:02}{second:02},A,{},{},{},{},{:.2},{},{day:02}{month:02}{:02},{STATUS}",
            degrees_minutes(fix.latitude.abs(), 2),
            if fix.latitude < 0.0 { 'S' } else { 'N' },
            degrees_minutes(fix.longitude.abs(), 3),
            if fix.longitude < 0.0 { 'W' } else { 'E' },
            fix.speed_kmh * KMH_TO_KNOTS,
            fix.course % 360,
            year.rem_euclid(100),
        )
    }
}

/// `DDMM.MMMM` (`DDDMM.MMMM` with 3 degree digits) of unsigned degrees.
fn degrees_minutes(value: f64, degree_digits: usize) -> String {
    // Rounded once, in ten-thousandths of a minute, so 59.99995' carries into the degrees.
    let total = (value * 60.0 * 10_000.0).round() as u64;
    let (degrees, minutes) = (total / 600_000, total % 600_000);
    format!(
        "{degrees:0degree_digits$}{:02}.{:04}",
        minutes / 10_000,
        minutes % 10_000
    )
}

impl Dialect for H02Device {
    fn login(&mut self, _out: &mut Vec<u8>) -> Option<Key> {
        None
    }

    fn login_acked(&mut self, _acked: Key, _out: &mut Vec<u8>) -> Login {
        Login::Waiting
    }

    fn heartbeat(&mut self, out: &mut Vec<u8>) -> Option<Key> {
        out.extend_from_slice(format!("*HQ,{},HTBT,100#", self.imei).as_bytes());
        Some(HEARTBEAT)
    }

    fn location(&mut self, fix: &Fix, out: &mut Vec<u8>) -> Option<Key> {
        self.last = Some(*fix);
        out.extend_from_slice(format!("*HQ,{},V1,{}#", self.imei, self.report()).as_bytes());
        None
    }

    fn read(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Option<(usize, Reply)>, Broken> {
        match input.first() {
            None => return Ok(None),
            Some(b'*') => {}
            Some(_) => return Err(Broken("H02 server line without `*`".into())),
        }
        let Some(end) = input.iter().position(|&b| b == b'#') else {
            if input.len() > MAX_SERVER_LINE {
                return Err(Broken("H02 server line without `#`".into()));
            }
            return Ok(None);
        };
        let used = end + 1;
        let line = String::from_utf8_lossy(&input[1..end]);
        let mut fields = line.splitn(3, ',');
        let (_maker, id, rest) = (fields.next(), fields.next(), fields.next());
        if id != Some(self.imei.as_str()) {
            return Ok(Some((used, Reply::Wrong)));
        }
        let reply = match rest {
            Some("HTBT") => Reply::Ack(HEARTBEAT),
            Some(rest) if rest.starts_with("V4,") => Reply::Notice,
            Some(command) if !command.is_empty() => {
                let answer = format!("*HQ,{},V4,{command},{}#", self.imei, self.report());
                out.extend_from_slice(answer.as_bytes());
                Reply::Command { answer: None }
            }
            _ => Reply::Wrong,
        };
        Ok(Some((used, reply)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_round_into_the_degrees_and_keep_their_digits() {
        assert_eq!(degrees_minutes(22.543_21, 2), "2232.5926");
        assert_eq!(degrees_minutes(114.058_76, 3), "11403.5256");
        assert_eq!(degrees_minutes(9.999_999_9, 2), "1000.0000");
    }

    #[test]
    fn heartbeat_echoes_ack_v4_answers_are_notices_and_commands_are_confirmed() {
        let mut dev = H02Device::new("860000000000001");
        let mut out = Vec::new();
        assert_eq!(dev.login(&mut out), None);
        assert_eq!(dev.heartbeat(&mut out), Some(HEARTBEAT));
        assert_eq!(out, b"*HQ,860000000000001,HTBT,100#");
        out.clear();
        let echo = b"*HQ,860000000000001,HTBT#*HQ";
        assert_eq!(
            dev.read(echo, &mut out),
            Ok(Some((25, Reply::Ack(HEARTBEAT))))
        );
        assert_eq!(dev.read(&echo[25..], &mut out), Ok(None));
        let v4 = b"*HQ,860000000000001,V4,V1,20261208034500#";
        assert_eq!(dev.read(v4, &mut out), Ok(Some((v4.len(), Reply::Notice))));
        let other = b"*HQ,860000000000002,HTBT#";
        assert_eq!(
            dev.read(other, &mut out),
            Ok(Some((other.len(), Reply::Wrong)))
        );
        assert!(out.is_empty());
        let command = b"*HQ,860000000000001,S20,130305,1,1#";
        let read = dev.read(command, &mut out);
        assert_eq!(
            read,
            Ok(Some((command.len(), Reply::Command { answer: None })))
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "*HQ,860000000000001,V4,S20,130305,1,1,000000,V,0000.0000,N,00000.0000,E,0.00,0,000000,FFFFFFFF#"
        );
        assert!(dev.read(b"HTTP/1.1", &mut Vec::new()).is_err());
    }
}
