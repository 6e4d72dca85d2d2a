//! Listener settings read from `CodecOptions.extra`.
//!
//! | key | values | default |
//! |---|---|---|
//! | `bad_checksum` | `skip` (drop the frame, count it, keep the connection) or `close` | `skip` |
//!
//! Teltonika devices send Unix milliseconds, so there is no time zone to set.

use codecs::options::OptionsReader;
pub use codecs::options::{BadFramePolicy, OptionsError};
use codecs::CodecOptions;

/// The Teltonika codec's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TeltonikaOptions {
    /// Policy for packets with a bad CRC or records that do not fill the packet.
    pub bad_checksum: BadFramePolicy,
}

impl TeltonikaOptions {
    /// Reads the settings, refusing bad values and keys this codec does not read.
    pub fn from_codec_options(options: &CodecOptions) -> Result<Self, OptionsError> {
        let mut read = OptionsReader::new(crate::NAME, options);
        let settings = TeltonikaOptions {
            bad_checksum: read.bad_frame_policy()?,
        };
        read.finish()?;
        Ok(settings)
    }
}

// The shared key's parsing is tested once, in codecs::options and tests/behaviour.rs.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_skip_bad_frames() {
        let parsed = TeltonikaOptions::from_codec_options(&CodecOptions::default()).unwrap();
        assert_eq!(parsed.bad_checksum, BadFramePolicy::Skip);
    }
}
