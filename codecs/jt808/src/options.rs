//! Listener settings read from `CodecOptions.extra`.
//!
//! | key | values | default |
//! |---|---|---|
//! | `bad_checksum` | `skip` (drop the frame, count it, keep the connection) or `close` | `skip` |
//! | `timezone_offset_hours` | hours east of UTC of the device clock, e.g. `0`, `-3.5` | `8` (Beijing time, as the standard says) |
//! | `text_flag` | flag byte of 0x8300 text messages, 0-255 | `1` |

use codecs::CodecOptions;

/// What to do with a frame that fails its checksum or length check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadFramePolicy {
    /// Drop the frame, count it and keep reading (`CodecError::Skipped`).
    #[default]
    Skip,
    /// Treat it as a protocol error, which closes the connection.
    Close,
}

/// A setting in `CodecOptions.extra` that this codec cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("jt808 option `{key}`: {reason}")]
pub struct OptionsError {
    /// The offending key.
    pub key: String,
    /// Why its value was refused.
    pub reason: String,
}

/// The JT/T 808 codec's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jt808Options {
    /// Policy for frames with a bad CRC or a length that disagrees with the terminator.
    pub bad_checksum: BadFramePolicy,
    /// Device clock offset east of UTC, in minutes.
    pub timezone_offset_minutes: i32,
    /// Flag byte sent in front of 0x8300 text messages.
    pub text_flag: u8,
}

impl Default for Jt808Options {
    fn default() -> Self {
        Jt808Options {
            bad_checksum: BadFramePolicy::Skip,
            timezone_offset_minutes: 8 * 60,
            text_flag: 1,
        }
    }
}

impl Jt808Options {
    /// Reads the settings, refusing unknown values (unknown keys are ignored: they may be
    /// meant for the gateway).
    pub fn from_codec_options(options: &CodecOptions) -> Result<Self, OptionsError> {
        let mut out = Jt808Options::default();
        if let Some(value) = options.extra.get("bad_checksum") {
            out.bad_checksum = parse_policy(value).ok_or_else(|| OptionsError {
                key: "bad_checksum".into(),
                reason: format!("expected `skip` or `close`, got `{value}`"),
            })?;
        }
        if let Some(value) = options.extra.get("timezone_offset_hours") {
            out.timezone_offset_minutes = parse_hours(value).ok_or_else(|| OptionsError {
                key: "timezone_offset_hours".into(),
                reason: format!("expected hours between -14 and 14, got `{value}`"),
            })?;
        }
        if let Some(value) = options.extra.get("text_flag") {
            out.text_flag = value.trim().parse().map_err(|_| OptionsError {
                key: "text_flag".into(),
                reason: format!("expected a number 0-255, got `{value}`"),
            })?;
        }
        Ok(out)
    }
}

fn parse_policy(value: &str) -> Option<BadFramePolicy> {
    match value.trim().to_ascii_lowercase().as_str() {
        "skip" => Some(BadFramePolicy::Skip),
        "close" => Some(BadFramePolicy::Close),
        _ => None,
    }
}

fn parse_hours(value: &str) -> Option<i32> {
    let hours: f64 = value.trim().parse().ok()?;
    if !(-14.0..=14.0).contains(&hours) {
        return None;
    }
    Some((hours * 60.0).round() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(key: &str, value: &str) -> CodecOptions {
        let mut options = CodecOptions::default();
        options.extra.insert(key.into(), value.into());
        options
    }

    #[test]
    fn defaults_skip_bad_frames_and_read_clocks_as_beijing_time() {
        let parsed = Jt808Options::from_codec_options(&CodecOptions::default()).unwrap();
        assert_eq!(parsed.bad_checksum, BadFramePolicy::Skip);
        assert_eq!(parsed.timezone_offset_minutes, 480);
        assert_eq!(parsed.text_flag, 1);
    }

    #[test]
    fn close_policy_and_fractional_timezones_are_read() {
        let parsed = Jt808Options::from_codec_options(&with("bad_checksum", "Close")).unwrap();
        assert_eq!(parsed.bad_checksum, BadFramePolicy::Close);
        let parsed =
            Jt808Options::from_codec_options(&with("timezone_offset_hours", "-3.5")).unwrap();
        assert_eq!(parsed.timezone_offset_minutes, -210);
    }

    #[test]
    fn unknown_values_are_refused_with_the_key_named() {
        let err = Jt808Options::from_codec_options(&with("bad_checksum", "ignore")).unwrap_err();
        assert_eq!(err.key, "bad_checksum");
        let err =
            Jt808Options::from_codec_options(&with("timezone_offset_hours", "25")).unwrap_err();
        assert_eq!(err.key, "timezone_offset_hours");
    }
}
