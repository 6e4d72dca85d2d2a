//! Listener settings read from `CodecOptions.extra`.
//!
//! | key | values | default |
//! |---|---|---|
//! | `bad_checksum` | `skip` (drop the frame, count it, keep the connection) or `close` | `skip` |
//! | `timezone_offset_hours` | hours east of UTC of the device clock, e.g. `8`, `-3.5` | `0` (UTC) |
//!
//! A login that carries a timezone word overrides `timezone_offset_hours` for its connection.

use codecs::options::OptionsReader;
pub use codecs::options::{BadFramePolicy, OptionsError};
use codecs::CodecOptions;

/// The GT06 codec's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gt06Options {
    /// Policy for frames with a bad CRC or a length that disagrees with the terminator.
    pub bad_checksum: BadFramePolicy,
    /// Device clock offset east of UTC, in minutes, until a login says otherwise.
    pub timezone_offset_minutes: i32,
}

impl Gt06Options {
    /// Reads the settings, refusing bad values and keys this codec does not read.
    pub fn from_codec_options(options: &CodecOptions) -> Result<Self, OptionsError> {
        let mut read = OptionsReader::new(crate::NAME, options);
        let settings = Gt06Options {
            bad_checksum: read.bad_frame_policy()?,
            timezone_offset_minutes: read.timezone_offset_minutes()?.unwrap_or(0),
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
    fn defaults_skip_bad_frames_and_read_clocks_as_utc() {
        let parsed = Gt06Options::from_codec_options(&CodecOptions::default()).unwrap();
        assert_eq!(parsed.bad_checksum, BadFramePolicy::Skip);
        assert_eq!(parsed.timezone_offset_minutes, 0);
    }
}
