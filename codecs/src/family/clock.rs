//! Device clock readings to UTC instants and RFC 3339 text (with the `time` crate, which also
//! refuses impossible dates such as month 0 that trackers send before their first fix), and the
//! server's [`Clock`], for answers that carry the server time.
//!
//! A codec never reads the system clock by itself: the server's time reaches it as the
//! [`Clock`] in `CodecOptions::clock` (the system clock in service, a fixed instant in tests),
//! which a family hands to its protocol state when it builds one, so an answer that carries the
//! time is as testable as any other answer.

use std::time::{SystemTime, UNIX_EPOCH};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Where a codec reads the server's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system clock (what the gateway runs on).
    #[default]
    System,
    /// Always this instant, in Unix milliseconds (tests: an answer with the time in it is then
    /// the same on every run).
    Fixed(i64),
}

impl Clock {
    /// The current time in Unix milliseconds (0 if the system clock is before 1970).
    pub fn now_unix_ms(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| {
                    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
                }),
            Clock::Fixed(ms) => *ms,
        }
    }

    /// The current time in Unix seconds.
    pub fn now_unix(&self) -> i64 {
        self.now_unix_ms().div_euclid(1000)
    }
}

/// Unix seconds of a calendar reading taken `offset_minutes` east of UTC, or `None` for an
/// impossible date or time.
pub fn unix_seconds(
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    offset_minutes: i32,
) -> Option<i64> {
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    let local = PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp();
    Some(local - i64::from(offset_minutes) * 60)
}

/// RFC 3339 text in UTC (`2015-10-20T14:21:11Z`) of Unix seconds, `None` out of range.
pub fn rfc3339(seconds: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

/// RFC 3339 text of Unix milliseconds: `2013-07-17T06:34:09.140Z`, or `…:09Z` on a whole
/// second; `None` out of range.
pub fn rfc3339_ms(ms: i64) -> Option<String> {
    let text = rfc3339(ms.div_euclid(1000))?;
    match ms.rem_euclid(1000) {
        0 => Some(text),
        millis => Some(format!("{}.{millis:03}Z", text.strip_suffix('Z')?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_east_of_utc_is_moved_back_to_utc() {
        let utc = unix_seconds(2017, 1, 17, 10, 4, 42, 8 * 60).unwrap();
        assert_eq!(rfc3339(utc).unwrap(), "2017-01-17T02:04:42Z");
    }

    #[test]
    fn impossible_dates_have_no_instant() {
        assert_eq!(unix_seconds(2000, 0, 0, 0, 0, 0, 0), None);
        assert_eq!(unix_seconds(2021, 2, 30, 0, 0, 0, 0), None);
        assert_eq!(unix_seconds(2021, 2, 3, 24, 0, 0, 0), None);
    }

    #[test]
    fn a_fixed_clock_reads_its_instant_and_the_system_clock_moves() {
        let fixed = Clock::Fixed(1_735_689_600_123);
        assert_eq!(
            (fixed.now_unix_ms(), fixed.now_unix()),
            (1_735_689_600_123, 1_735_689_600)
        );
        // 2024-01-01: any machine running this is past it.
        assert!(Clock::default().now_unix() > 1_704_067_200);
    }

    #[test]
    fn milliseconds_are_shown_only_when_present() {
        assert_eq!(
            rfc3339_ms(1_374_042_849_140).unwrap(),
            "2013-07-17T06:34:09.140Z"
        );
        assert_eq!(
            rfc3339_ms(1_546_604_839_000).unwrap(),
            "2019-01-04T12:27:19Z"
        );
        assert_eq!(rfc3339_ms(i64::MAX), None);
    }
}
