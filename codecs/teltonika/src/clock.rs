//! Unix milliseconds to RFC 3339 text, with the `time` crate.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `2013-07-17T06:34:09.140Z`, or `…:09Z` on a whole second; `None` out of range.
pub(crate) fn rfc3339_ms(ms: i64) -> Option<String> {
    let seconds = ms.div_euclid(1000);
    let text = OffsetDateTime::from_unix_timestamp(seconds)
        .ok()?
        .format(&Rfc3339)
        .ok()?;
    match ms.rem_euclid(1000) {
        0 => Some(text),
        millis => Some(format!("{}.{millis:03}Z", text.strip_suffix('Z')?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
