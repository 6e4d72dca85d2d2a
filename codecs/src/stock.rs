//! Stock codecs by name, so `text://…`, `frame://…`, `raw://…` and `websocket://…` resolve.
//!
//! A binary starts from [`CodecRegistry::with_stock`] and registers its own codecs on top
//! (see [`crate::example`] for a nom-based one).

use crate::frame::FrameCodec;
use crate::raw::RawCodec;
use crate::text::TextCodec;
use crate::websocket::WebSocketCodec;
use crate::{Codec, CodecOptions, CodecRegistry};
use std::sync::Arc;

impl CodecRegistry {
    /// A registry holding every stock codec: `text`, `frame`, `raw` and `websocket`.
    pub fn with_stock() -> Self {
        let mut registry = CodecRegistry::new();
        registry.register("text", factory(TextCodec::from_options));
        registry.register("frame", factory(FrameCodec::from_options));
        registry.register("raw", factory(RawCodec::from_options));
        registry.register("websocket", factory(WebSocketCodec::from_options));
        registry
    }
}

/// Wraps a codec constructor into a boxed registry factory.
fn factory<C, F>(build: F) -> crate::CodecFactory
where
    C: Codec + 'static,
    F: Fn(&CodecOptions) -> C + Send + Sync + 'static,
{
    Arc::new(move |options: &CodecOptions| -> Box<dyn Codec> { Box::new(build(options)) })
}
