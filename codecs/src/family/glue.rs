//! What every family crate would otherwise write again: its `codec`, `prepare` and `register`
//! functions ([`family_codec!`](crate::family_codec)) and the once-per-connection identity
//! ([`Identity`]).

use crate::Inbound;
use std::collections::VecDeque;

/// Defines a family crate's entry points from its protocol state, its settings and its largest
/// frame, for the `NAME` constant the crate defines beside it:
///
/// - `codec(options)`: one connection's codec, falling back to the default settings on bad
///   options (tests, benchmarks, fuzz targets);
/// - `prepare(options)`: the registry's factory, which refuses bad options and unknown keys;
/// - `register(registry)`: adds `prepare` under `NAME`.
///
/// The settings type needs `from_codec_options(&CodecOptions) -> Result<Self, OptionsError>`,
/// `Default` and `Clone`; the protocol `new(settings)`. The message limit is the listener's
/// `max_message_size`, capped at `max_frame` (`usize::MAX` for no cap of the family's own).
///
/// ```ignore
/// pub const NAME: &str = "gt06";
/// codecs::family_codec!(protocol: Gt06Protocol, settings: Gt06Options, max_frame: frame::MAX_FRAME);
/// ```
#[macro_export]
macro_rules! family_codec {
    (protocol: $protocol:ty, settings: $settings:ty, max_frame: $max_frame:expr $(,)?) => {
        /// A codec for one connection. Invalid option values fall back to the defaults (tests
        /// and benchmarks); the registry goes through [`prepare`], which refuses them.
        pub fn codec(options: &$crate::CodecOptions) -> $crate::NomCodec<$protocol> {
            let settings = <$settings>::from_codec_options(options).unwrap_or_default();
            let max = options.max_message_size.min($max_frame);
            $crate::NomCodec::new(<$protocol>::new(settings), max)
        }

        /// Checks a listener's options (bad values and unknown keys are errors) and prepares
        /// the codec its connections get.
        pub fn prepare(
            options: &$crate::CodecOptions,
        ) -> ::std::result::Result<$crate::PreparedCodec, $crate::options::OptionsError> {
            let settings = <$settings>::from_codec_options(options)?;
            let max = options.max_message_size.min($max_frame);
            Ok($crate::PreparedCodec::new(move || {
                $crate::NomCodec::new(<$protocol>::new(::std::clone::Clone::clone(&settings)), max)
            }))
        }

        /// Registers the codec under [`NAME`].
        pub fn register(registry: &mut $crate::CodecRegistry) {
            registry.register(NAME, ::std::sync::Arc::new(prepare));
        }
    };
}

/// The device's id, announced once per connection: the gateway binds the first
/// `Inbound::Identity` as the connection's uid, so later frames naming the device again (every
/// JT/T 808 header does) must not announce it again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity {
    sent: bool,
}

impl Identity {
    /// Pushes `Inbound::Identity(id())` unless this connection announced one already (`id`
    /// is called only then, so its allocation is paid once).
    pub fn announce(&mut self, out: &mut VecDeque<Inbound>, id: impl FnOnce() -> String) {
        if !self.sent {
            self.sent = true;
            out.push_back(Inbound::Identity(id()));
        }
    }

    /// True once the identity went out.
    pub fn sent(&self) -> bool {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_goes_out_once_and_its_text_is_built_once() {
        let (mut identity, mut out, mut built) = (Identity::default(), VecDeque::new(), 0);
        for id in ["860000000000001", "860000000000002"] {
            identity.announce(&mut out, || {
                built += 1;
                id.to_string()
            });
        }
        assert_eq!(out, [Inbound::Identity("860000000000001".into())]);
        assert_eq!(built, 1);
        assert!(identity.sent());
    }
}
