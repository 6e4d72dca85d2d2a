//! Stock codecs by name, so `text://…`, `frame://…`, `raw://…` and `websocket://…` resolve.
//!
//! A binary starts from [`CodecRegistry::with_stock`] and registers its own codecs on top
//! (see [`crate::example`] for a nom-based one). Text, frame and raw read no option of their
//! own; websocket reads [`HANDSHAKE_MAX_BYTES_KEY`](crate::websocket::HANDSHAKE_MAX_BYTES_KEY).

use crate::frame::FrameCodec;
use crate::options::OptionsReader;
use crate::raw::RawCodec;
use crate::text::TextCodec;
use crate::websocket::WebSocketCodec;
use crate::{Codec, CodecFactory, CodecRegistry, PreparedCodec};
use std::sync::Arc;

impl CodecRegistry {
    /// A registry holding every stock codec: `text`, `frame`, `raw` and `websocket`.
    pub fn with_stock() -> Self {
        let mut registry = CodecRegistry::new();
        registry.register("text", without_options("text", TextCodec::new));
        registry.register("frame", without_options("frame", FrameCodec::new));
        registry.register("raw", without_options("raw", RawCodec::new));
        registry.register(
            "websocket",
            Arc::new(|options| {
                let checked = WebSocketCodec::from_options(options)?;
                let max = checked.max_message_size();
                let handshake_max = checked.handshake_max_bytes();
                Ok(PreparedCodec::new(move || {
                    WebSocketCodec::new(max).with_handshake_max_bytes(handshake_max)
                }))
            }),
        );
        registry
    }
}

/// The factory of a codec that reads only the message size limit (any other key is refused).
fn without_options<C>(name: &'static str, new: fn(usize) -> C) -> CodecFactory
where
    C: Codec + 'static,
{
    Arc::new(move |options| {
        OptionsReader::new(name, options).finish()?;
        let max = options.max_message_size;
        Ok(PreparedCodec::new(move || new(max)))
    })
}
