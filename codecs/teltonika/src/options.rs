//! Listener settings read from `CodecOptions.extra`.
//!
//! | key | values | default |
//! |---|---|---|
//! | `bad_checksum` | `skip` (drop the frame, count it, keep the connection) or `close` | `skip` |
//!
//! Teltonika devices send Unix milliseconds, so there is no time zone to set.

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
#[error("teltonika option `{key}`: {reason}")]
pub struct OptionsError {
    /// The offending key.
    pub key: String,
    /// Why its value was refused.
    pub reason: String,
}

/// The Teltonika codec's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TeltonikaOptions {
    /// Policy for packets with a bad CRC or records that do not fill the packet.
    pub bad_checksum: BadFramePolicy,
}

impl TeltonikaOptions {
    /// Reads the settings, refusing unknown values (unknown keys are ignored: they may be
    /// meant for the gateway).
    pub fn from_codec_options(options: &CodecOptions) -> Result<Self, OptionsError> {
        let mut out = TeltonikaOptions::default();
        if let Some(value) = options.extra.get("bad_checksum") {
            out.bad_checksum = parse_policy(value).ok_or_else(|| OptionsError {
                key: "bad_checksum".into(),
                reason: format!("expected `skip` or `close`, got `{value}`"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with(key: &str, value: &str) -> CodecOptions {
        let mut options = CodecOptions::default();
        options.extra.insert(key.into(), value.into());
        options
    }

    #[test]
    fn defaults_skip_bad_frames() {
        let parsed = TeltonikaOptions::from_codec_options(&CodecOptions::default()).unwrap();
        assert_eq!(parsed.bad_checksum, BadFramePolicy::Skip);
    }

    #[test]
    fn the_close_policy_is_read() {
        let parsed = TeltonikaOptions::from_codec_options(&with("bad_checksum", "Close")).unwrap();
        assert_eq!(parsed.bad_checksum, BadFramePolicy::Close);
    }

    #[test]
    fn unknown_values_are_refused_with_the_key_named() {
        let err =
            TeltonikaOptions::from_codec_options(&with("bad_checksum", "ignore")).unwrap_err();
        assert_eq!(err.key, "bad_checksum");
    }
}
