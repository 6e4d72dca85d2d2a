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
    /// Reads the settings, refusing bad values and keys this codec does not read.
    pub fn from_codec_options(options: &CodecOptions) -> Result<Self, OptionsError> {
        let defaults = Jt808Options::default();
        let mut read = OptionsReader::new(crate::NAME, options);
        let settings = Jt808Options {
            bad_checksum: read.bad_frame_policy()?,
            timezone_offset_minutes: read
                .timezone_offset_minutes()?
                .unwrap_or(defaults.timezone_offset_minutes),
            text_flag: read
                .number("text_flag", "a number", u8::MIN..=u8::MAX)?
                .unwrap_or(defaults.text_flag),
        };
        read.finish()?;
        Ok(settings)
    }
}

// The shared keys' parsing is tested once, in codecs::options and tests/behaviour.rs.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_skip_bad_frames_and_read_clocks_as_beijing_time() {
        let parsed = Jt808Options::from_codec_options(&CodecOptions::default()).unwrap();
        assert_eq!(parsed.bad_checksum, BadFramePolicy::Skip);
        assert_eq!(parsed.timezone_offset_minutes, 480);
        assert_eq!(parsed.text_flag, 1);
    }

    #[test]
    fn the_text_flag_is_a_byte() {
        let mut options = CodecOptions::default();
        options.extra.insert("text_flag".into(), "7".into());
        let parsed = Jt808Options::from_codec_options(&options).unwrap();
        assert_eq!(parsed.text_flag, 7);
        options.extra.insert("text_flag".into(), "256".into());
        let err = Jt808Options::from_codec_options(&options).unwrap_err();
        assert_eq!(err.key, "text_flag");
    }
}
