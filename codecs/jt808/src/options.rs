//! Listener settings read from `CodecOptions.extra`.
//!
//! | key | values | default |
//! |---|---|---|
//! | `bad_checksum` | `skip` (drop the frame, count it, keep the connection) or `close` | `skip` |
//! | `timezone_offset_hours` | hours east of UTC of the device clock, e.g. `0`, `-3.5` | `8` (Beijing time, as the standard says) |
//! | `text_flag` | flag byte of 0x8300 text messages, 0-255 | `1` |

use codecs::options::OptionsReader;
pub use codecs::options::{BadFramePolicy, OptionsError};
use codecs::CodecOptions;

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
        let defaults = Jt808Options::default();
        let mut read = OptionsReader::new(crate::NAME, options);
        Ok(Jt808Options {
            bad_checksum: read.bad_frame_policy()?,
            timezone_offset_minutes: read
                .timezone_offset_minutes()?
                .unwrap_or(defaults.timezone_offset_minutes),
            text_flag: read
                .number("text_flag", "a number", u8::MIN..=u8::MAX)?
                .unwrap_or(defaults.text_flag),
        })
    }
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
        let err = Jt808Options::from_codec_options(&with("text_flag", "256")).unwrap_err();
        assert_eq!(err.key, "text_flag");
    }
}
