//! Plausible movement for simulated trackers: each device drives from its own starting point
//! near Shenzhen (where most GT06 and JT/T 808 trackers come from), at city speeds, turning a
//! little between fixes. Deterministic per device index, so a run can be reproduced; the clock
//! is the wall clock, as a tracker's GPS time is.

use std::time::{SystemTime, UNIX_EPOCH};

const CENTRE: (f64, f64) = (22.543, 114.058);
/// Half the side of the square the devices start in, in degrees (about 20 km).
const SPREAD: f64 = 0.2;
const METRES_PER_DEGREE: f64 = 111_320.0;
/// Longest time a device is moved in one step: after a long silence it does not teleport.
const MAX_STEP_SECS: f64 = 600.0;

/// One GPS fix as a tracker reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    /// Unix milliseconds, UTC.
    pub unix_ms: i64,
    /// Signed degrees, north positive.
    pub latitude: f64,
    /// Signed degrees, east positive.
    pub longitude: f64,
    /// Metres above sea level.
    pub altitude_m: i16,
    /// Ground speed.
    pub speed_kmh: f64,
    /// Heading, 0-359, 0 = north, clockwise.
    pub course: u16,
    /// Satellites in use.
    pub satellites: u8,
    /// Distance driven since the device started, in metres.
    pub odometer_m: u32,
}

/// Where a device is and where it is heading.
#[derive(Debug, Clone)]
pub struct Motion {
    latitude: f64,
    longitude: f64,
    course: f64,
    speed_kmh: f64,
    odometer_m: f64,
    last_ms: Option<i64>,
    rng: u64,
}

impl Motion {
    /// The GPS time of the next fix at wall time `unix_ms`: one second past the last fix when
    /// the clock gives its second again (or goes back), so that a device's fixes have strictly
    /// increasing whole seconds and (id, GPS time) names one location, as GT06's 1 s resolution
    /// needs.
    fn gps_time(&self, unix_ms: i64) -> i64 {
        match self.last_ms {
            Some(last) if unix_ms.div_euclid(1000) <= last.div_euclid(1000) => {
                (last.div_euclid(1000) + 1) * 1000
            }
            _ => unix_ms,
        }
    }
}

impl Motion {
    /// The starting point and heading of device `device`.
    pub fn new(device: u64) -> Motion {
        let mut m = Motion {
            latitude: CENTRE.0,
            longitude: CENTRE.1,
            course: 0.0,
            speed_kmh: 0.0,
            odometer_m: 0.0,
            last_ms: None,
            rng: device ^ 0x6465_7667_6174_6521,
        };
        m.latitude += m.uniform(-SPREAD, SPREAD);
        m.longitude += m.uniform(-SPREAD, SPREAD);
        m.course = m.uniform(0.0, 360.0);
        m.speed_kmh = m.uniform(20.0, 80.0);
        m
    }

    /// Drives on to the time `unix_ms` and returns the fix there; its time is at least a whole
    /// second after the last fix's.
    pub fn fix_at(&mut self, unix_ms: i64) -> Fix {
        let unix_ms = self.gps_time(unix_ms);
        if let Some(last) = self.last_ms {
            let secs = ((unix_ms - last).max(0) as f64 / 1000.0).min(MAX_STEP_SECS);
            let metres = self.speed_kmh / 3.6 * secs;
            let heading = self.course.to_radians();
            self.latitude += metres * heading.cos() / METRES_PER_DEGREE;
            let cos_lat = self.latitude.to_radians().cos().max(0.01);
            self.longitude += metres * heading.sin() / (METRES_PER_DEGREE * cos_lat);
            if self.latitude.abs() > 85.0 {
                self.latitude = self.latitude.clamp(-85.0, 85.0);
                self.course += 180.0;
            }
            self.longitude = (self.longitude + 180.0).rem_euclid(360.0) - 180.0;
            self.odometer_m += metres;
            let turn = self.uniform(-15.0, 15.0);
            self.course = (self.course + turn).rem_euclid(360.0);
            let accelerate = self.uniform(-5.0, 5.0);
            self.speed_kmh = (self.speed_kmh + accelerate).clamp(10.0, 90.0);
        }
        self.last_ms = Some(unix_ms);
        Fix {
            unix_ms,
            latitude: self.latitude,
            longitude: self.longitude,
            altitude_m: 20 + (self.next() % 40) as i16,
            speed_kmh: self.speed_kmh,
            course: (self.course.round() as u16) % 360,
            satellites: 7 + (self.next() % 6) as u8,
            odometer_m: self.odometer_m as u32,
        }
    }

    /// splitmix64: good enough spread for positions, and no shared generator to lock.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The wall clock in Unix milliseconds.
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Calendar date and time of Unix seconds `secs` (UTC; add an offset first for local time):
/// `[year, month, day, hour, minute, second]`.
pub fn civil(secs: i64) -> [i64; 6] {
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, eras of 400 years).
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    [
        year,
        month,
        day,
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_time_matches_known_instants() {
        assert_eq!(civil(0), [1970, 1, 1, 0, 0, 0]);
        // 2017-01-17 10:04:42 in Beijing (the jt808 codec's own test instant).
        assert_eq!(civil(1_484_618_682 + 8 * 3600), [2017, 1, 17, 10, 4, 42]);
        // 2015-10-20 14:21:11 UTC (the GT06 vector with a full position).
        assert_eq!(civil(1_445_350_871), [2015, 10, 20, 14, 21, 11]);
        assert_eq!(civil(951_782_400), [2000, 2, 29, 0, 0, 0]);
    }

    #[test]
    fn a_device_moves_at_its_speed_and_stays_plausible() {
        let mut m = Motion::new(7);
        let first = m.fix_at(1_000_000);
        assert!((first.latitude - CENTRE.0).abs() <= SPREAD);
        assert!((first.longitude - CENTRE.1).abs() <= SPREAD);
        let second = m.fix_at(1_010_000);
        let moved_m = ((second.latitude - first.latitude).powi(2)
            + ((second.longitude - first.longitude) * first.latitude.to_radians().cos()).powi(2))
        .sqrt()
            * METRES_PER_DEGREE;
        // 10 s at 20-80 km/h is 55-223 m.
        assert!((50.0..230.0).contains(&moved_m), "{moved_m}");
        assert!((f64::from(second.odometer_m) - moved_m).abs() < 2.0);
        assert!(second.course < 360 && second.satellites >= 7);
        assert_ne!(Motion::new(8).fix_at(0), Motion::new(7).fix_at(0));
    }

    #[test]
    fn fix_times_step_by_at_least_a_second_even_when_the_clock_does_not() {
        let mut m = Motion::new(7);
        let times: Vec<i64> = [1_000_100, 1_000_900, 1_000_950, 999_000, 1_005_000]
            .into_iter()
            .map(|t| m.fix_at(t).unix_ms)
            .collect();
        assert_eq!(
            times,
            [1_000_100, 1_001_000, 1_002_000, 1_003_000, 1_005_000]
        );
    }
}
