//! The listener options of an H02 listener, read with the shared `codecs::options` reader.

use codecs::family::Clock;
use codecs::options::{OptionsError, OptionsReader};
use codecs::CodecOptions;

/// The key that turns the answer to `V1` reports on or off.
pub const ANSWER_LOCATIONS_KEY: &str = "answer_locations";

/// H02 settings of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H02Options {
    /// Device clock, minutes east of UTC (`timezone_offset_hours`, default 0: H02 devices
    /// report UTC).
    pub timezone_offset_minutes: i32,
    /// Answer each `V1` report with `*HQ,IMEI,V4,V1,<server time>#` as Traccar does
    /// (`answer_locations`, default `true`). Devices do not wait for it.
    pub answer_locations: bool,
    /// The longest line, in bytes: the listener's `max_message_size`, at most
    /// [`MAX_LINE`](crate::frame::MAX_LINE).
    pub max_line: usize,
    /// The server time answers carry (`CodecOptions::clock`: the system clock in service).
    pub clock: Clock,
}

impl Default for H02Options {
    fn default() -> Self {
        H02Options {
            timezone_offset_minutes: 0,
            answer_locations: true,
            max_line: crate::frame::MAX_LINE,
            clock: Clock::System,
        }
    }
}

impl H02Options {
    /// Reads a listener's options; a bad value or a key H02 does not read is an error.
    /// (`bad_checksum` is one: a text line has no checksum.)
    pub fn from_codec_options(options: &CodecOptions) -> Result<Self, OptionsError> {
        let mut read = OptionsReader::new(crate::NAME, options);
        let settings = H02Options {
            timezone_offset_minutes: read.timezone_offset_minutes()?.unwrap_or(0),
            answer_locations: read
                .choice(ANSWER_LOCATIONS_KEY, &[("true", true), ("false", false)])?
                .unwrap_or(true),
            max_line: options.max_message_size.min(crate::frame::MAX_LINE),
            clock: options.clock,
        };
        read.finish()?;
        Ok(settings)
    }
}
