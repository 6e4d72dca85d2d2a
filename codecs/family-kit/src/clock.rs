//! The fixed clock every check builds codecs with, so an answer that carries the server time
//! (`codecs::family::Clock`, read from `CodecOptions::clock`) is the same on every run and can
//! be written in a vector's `ack_hex`.

use codecs::family::Clock;
use codecs::CodecOptions;

/// The instant the fixed clock reads: 2025-01-01T00:00:00Z, in Unix milliseconds.
pub const FIXED_NOW_MS: i64 = 1_735_689_600_000;

/// A clock that always reads [`FIXED_NOW_MS`].
pub fn fixed_clock() -> Clock {
    Clock::Fixed(FIXED_NOW_MS)
}

/// `CodecOptions::default()` with the [`fixed_clock`]: the options every check of this crate
/// builds a codec with (start from it for options of your own: `CodecOptions { .., ..options() }`).
pub fn options() -> CodecOptions {
    CodecOptions {
        clock: fixed_clock(),
        ..CodecOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_clock_reads_new_years_day_2025() {
        let clock = options().clock;
        assert_eq!(clock.now_unix(), 1_735_689_600);
        let text = codecs::family::clock::rfc3339(clock.now_unix());
        assert_eq!(text.as_deref(), Some("2025-01-01T00:00:00Z"));
    }
}
