//! Typed reading of a codec's own settings from [`CodecOptions::extra`], shared by the device
//! family codecs so every family refuses bad values the same way and names the key.
//!
//! Values are strings from the listener's config; a reader trims them, matches words without
//! regard to case, and checks numbers against a range. A codec ends with
//! [`OptionsReader::finish`], which refuses any key it did not ask for: a misspelt key is an
//! error, not a setting silently left at its default.

use crate::{CodecError, CodecOptions};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// The key of the bad-frame policy every family codec reads.
pub const BAD_CHECKSUM_KEY: &str = "bad_checksum";

/// The key of a device clock's offset east of UTC, in hours (fractions allowed).
pub const TIMEZONE_OFFSET_HOURS_KEY: &str = "timezone_offset_hours";

/// What to do with a frame that fails its checksum or length check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadFramePolicy {
    /// Drop the frame, count it and keep reading (`CodecError::Skipped`).
    #[default]
    Skip,
    /// Treat it as a protocol error, which closes the connection.
    Close,
}

impl BadFramePolicy {
    /// The words accepted for [`BAD_CHECKSUM_KEY`].
    pub const CHOICES: &'static [(&'static str, BadFramePolicy)] = &[
        ("skip", BadFramePolicy::Skip),
        ("close", BadFramePolicy::Close),
    ];

    /// The error that refuses a bad frame under this policy.
    pub fn refuse(self, reason: String) -> CodecError {
        match self {
            BadFramePolicy::Skip => CodecError::Skipped(reason),
            BadFramePolicy::Close => CodecError::Protocol(reason),
        }
    }
}

/// Why an option value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionProblem {
    /// The value is none of the accepted words.
    #[error("expected {expected}, got `{value}`")]
    NotAChoice {
        /// The accepted words, quoted (`` `skip` or `close` ``).
        expected: String,
        /// The value as configured.
        value: String,
    },
    /// The value is not a number, or one outside the accepted range.
    #[error("expected {expected}, got `{value}`")]
    OutOfRange {
        /// What was accepted (`hours between -14 and 14`).
        expected: String,
        /// The value as configured.
        value: String,
    },
    /// The codec reads no option of that name.
    #[error("no such option; {}", known_keys(.known))]
    Unknown {
        /// The keys the codec reads.
        known: Vec<&'static str>,
    },
}

/// `` it reads `a` or `b` ``, or that it reads none.
fn known_keys(known: &[&'static str]) -> String {
    if known.is_empty() {
        "this codec reads none".to_string()
    } else {
        format!("it reads {}", either_of(known.iter().copied()))
    }
}

/// A setting in `CodecOptions.extra` that a codec cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{codec} option `{key}`: {problem}")]
pub struct OptionsError {
    /// The codec that refused it (`gt06`, ...).
    pub codec: &'static str,
    /// The offending key.
    pub key: String,
    /// Why its value was refused.
    pub problem: OptionProblem,
}

/// Reads one codec's settings from `CodecOptions.extra`, remembering which keys it asked for.
#[derive(Debug)]
pub struct OptionsReader<'a> {
    codec: &'static str,
    extra: &'a BTreeMap<String, String>,
    asked: Vec<&'static str>,
}

impl<'a> OptionsReader<'a> {
    /// A reader of `options.extra` for the codec called `codec` (named in errors).
    pub fn new(codec: &'static str, options: &'a CodecOptions) -> Self {
        OptionsReader {
            codec,
            extra: &options.extra,
            asked: Vec::new(),
        }
    }

    fn value(&mut self, key: &'static str) -> Option<&'a str> {
        self.asked.push(key);
        self.extra.get(key).map(String::as_str)
    }

    fn error(&self, key: &str, problem: OptionProblem) -> OptionsError {
        OptionsError {
            codec: self.codec,
            key: key.to_string(),
            problem,
        }
    }

    /// The value of `key` among `choices` (trimmed, any case), `None` when the key is absent.
    pub fn choice<T: Copy>(
        &mut self,
        key: &'static str,
        choices: &[(&str, T)],
    ) -> Result<Option<T>, OptionsError> {
        let Some(value) = self.value(key) else {
            return Ok(None);
        };
        let wanted = value.trim();
        if let Some(&(_, choice)) = choices
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(wanted))
        {
            return Ok(Some(choice));
        }
        let problem = OptionProblem::NotAChoice {
            expected: either_of(choices.iter().map(|(word, _)| *word)),
            value: value.to_string(),
        };
        Err(self.error(key, problem))
    }

    /// The number `key` holds (trimmed), if it lies in `range`; `what` names it in errors.
    /// `None` when the key is absent.
    pub fn number<T>(
        &mut self,
        key: &'static str,
        what: &'static str,
        range: RangeInclusive<T>,
    ) -> Result<Option<T>, OptionsError>
    where
        T: FromStr + PartialOrd + Display,
    {
        let Some(value) = self.value(key) else {
            return Ok(None);
        };
        match value.trim().parse::<T>() {
            Ok(number) if range.contains(&number) => Ok(Some(number)),
            _ => {
                let problem = OptionProblem::OutOfRange {
                    expected: format!("{what} between {} and {}", range.start(), range.end()),
                    value: value.to_string(),
                };
                Err(self.error(key, problem))
            }
        }
    }

    /// The bad-frame policy under [`BAD_CHECKSUM_KEY`], `Skip` when absent.
    pub fn bad_frame_policy(&mut self) -> Result<BadFramePolicy, OptionsError> {
        Ok(self
            .choice(BAD_CHECKSUM_KEY, BadFramePolicy::CHOICES)?
            .unwrap_or_default())
    }

    /// [`TIMEZONE_OFFSET_HOURS_KEY`] (-14 to 14 hours) in whole minutes, `None` when absent.
    pub fn timezone_offset_minutes(&mut self) -> Result<Option<i32>, OptionsError> {
        let hours: Option<f64> = self.number(TIMEZONE_OFFSET_HOURS_KEY, "hours", -14.0..=14.0)?;
        // At most 840 minutes: the cast cannot overflow.
        Ok(hours.map(|hours| (hours * 60.0).round() as i32))
    }

    /// Configured keys this reader has not asked for, sorted.
    pub fn unread_keys(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.extra
            .keys()
            .map(String::as_str)
            .filter(|key| !self.asked.contains(key))
    }

    /// Ends the reading: the first configured key nobody asked for is an error.
    pub fn finish(mut self) -> Result<(), OptionsError> {
        let Some(key) = self.unread_keys().next() else {
            return Ok(());
        };
        self.asked.sort_unstable();
        self.asked.dedup();
        let problem = OptionProblem::Unknown {
            known: self.asked.clone(),
        };
        Err(self.error(key, problem))
    }
}

/// `` `a` ``, `` `a` or `b` ``, `` `a`, `b` or `c` ``.
fn either_of<'w>(words: impl Iterator<Item = &'w str>) -> String {
    let quoted: Vec<String> = words.map(|word| format!("`{word}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "nothing".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> CodecOptions {
        let mut options = CodecOptions::default();
        for (key, value) in pairs {
            options.extra.insert(key.to_string(), value.to_string());
        }
        options
    }

    #[test]
    fn choices_ignore_case_and_spaces_and_absent_keys_are_none() {
        let options = with(&[("bad_checksum", " Close ")]);
        let mut reader = OptionsReader::new("test", &options);
        assert_eq!(reader.bad_frame_policy(), Ok(BadFramePolicy::Close));
        assert_eq!(reader.choice("mode", &[("a", 1)]), Ok(None));
        let empty = CodecOptions::default();
        let mut reader = OptionsReader::new("test", &empty);
        assert_eq!(reader.bad_frame_policy(), Ok(BadFramePolicy::Skip));
    }

    #[test]
    fn a_refused_choice_names_codec_key_and_the_accepted_words() {
        let options = with(&[("bad_checksum", "ignore")]);
        let err = OptionsReader::new("gt06", &options)
            .bad_frame_policy()
            .unwrap_err();
        assert_eq!(err.key, "bad_checksum");
        assert_eq!(
            err.to_string(),
            "gt06 option `bad_checksum`: expected `skip` or `close`, got `ignore`"
        );
        assert_eq!(either_of(["a", "b", "c"].into_iter()), "`a`, `b` or `c`");
    }

    #[test]
    fn numbers_are_read_in_their_type_and_range() {
        let options = with(&[("hours", "-3.5"), ("flag", "7"), ("big", "256")]);
        let mut reader = OptionsReader::new("jt808", &options);
        assert_eq!(
            reader.number("hours", "hours", -14.0..=14.0),
            Ok(Some(-3.5))
        );
        assert_eq!(
            reader.number::<u8>("flag", "a number", 0..=255),
            Ok(Some(7))
        );
        let err = reader.number::<u8>("big", "a number", 0..=255).unwrap_err();
        assert_eq!(
            err.to_string(),
            "jt808 option `big`: expected a number between 0 and 255, got `256`"
        );
        let err = reader.number("hours", "hours", 0.0..=1.0).unwrap_err();
        assert_eq!(err.key, "hours");
    }

    #[test]
    fn timezones_are_whole_minutes_within_fourteen_hours() {
        let options = with(&[("timezone_offset_hours", "5.75")]);
        let read = OptionsReader::new("t", &options).timezone_offset_minutes();
        assert_eq!(read, Ok(Some(345)));
        let options = with(&[("timezone_offset_hours", "-14.5")]);
        let err = OptionsReader::new("gt06", &options)
            .timezone_offset_minutes()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "gt06 option `timezone_offset_hours`: expected hours between -14 and 14, got `-14.5`"
        );
    }

    #[test]
    fn keys_not_asked_for_are_reported_as_unread() {
        let options = with(&[("bad_checksum", "skip"), ("other", "x")]);
        let mut reader = OptionsReader::new("test", &options);
        reader.bad_frame_policy().unwrap();
        assert_eq!(reader.unread_keys().collect::<Vec<_>>(), vec!["other"]);
    }

    #[test]
    fn finishing_refuses_a_key_no_reader_asked_for_and_names_the_known_ones() {
        let options = with(&[("bad_checksum", "skip"), ("colour", "red")]);
        let mut reader = OptionsReader::new("gt06", &options);
        reader.bad_frame_policy().unwrap();
        reader.timezone_offset_minutes().unwrap();
        let err = reader.finish().unwrap_err();
        assert_eq!(err.key, "colour");
        assert_eq!(
            err.to_string(),
            "gt06 option `colour`: no such option; it reads `bad_checksum` or `timezone_offset_hours`"
        );
        let err = OptionsReader::new("text", &options).finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "text option `bad_checksum`: no such option; this codec reads none"
        );
        let mut reader = OptionsReader::new("gt06", &options);
        reader.bad_frame_policy().unwrap();
        assert!(reader.finish().is_err());
        let empty = CodecOptions::default();
        assert_eq!(OptionsReader::new("raw", &empty).finish(), Ok(()));
    }

    #[test]
    fn policies_refuse_as_skip_or_as_a_protocol_error() {
        assert!(BadFramePolicy::Skip.refuse("x".into()).can_continue());
        assert!(!BadFramePolicy::Close.refuse("x".into()).can_continue());
    }
}
