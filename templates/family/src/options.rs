//! Listener settings read from `CodecOptions.extra`.
//!
//! | key | values | default |
//! |---|---|---|
//! | `bad_checksum` | `skip` (drop the frame, count it, keep the connection) or `close` | `skip` |

use codecs::options::{BadFramePolicy, OptionsError, OptionsReader};
use codecs::CodecOptions;

/// The {{name}} codec's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct {{Name}}Options {
    /// Policy for frames with a bad checksum.
    pub bad_checksum: BadFramePolicy,
    /// The server's clock, for the heartbeat answer that carries the time.
    pub clock: codecs::family::Clock,
}

impl {{Name}}Options {
    /// Reads the settings, refusing bad values and keys this codec does not read.
    pub fn from_codec_options(options: &CodecOptions) -> Result<Self, OptionsError> {
        let mut read = OptionsReader::new(crate::NAME, options);
        let settings = {{Name}}Options {
            bad_checksum: read.bad_frame_policy()?,
            clock: options.clock,
        };
        read.finish()?;
        Ok(settings)
    }
}
