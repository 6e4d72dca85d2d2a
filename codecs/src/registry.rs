//! Codecs found by name, so `frame://127.0.0.1:8283` resolves to the frame codec.

use crate::{Codec, DEFAULT_MAX_MESSAGE_SIZE};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Settings every codec instance is built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecOptions {
    /// Largest message accepted, in bytes.
    pub max_message_size: usize,
    /// Codec-specific settings from the listener's config (string values).
    pub extra: BTreeMap<String, String>,
}

impl Default for CodecOptions {
    fn default() -> Self {
        CodecOptions {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            extra: BTreeMap::new(),
        }
    }
}

/// Builds a fresh codec for each new connection.
pub type CodecFactory = Arc<dyn Fn(&CodecOptions) -> Box<dyn Codec> + Send + Sync>;

/// The codecs a gateway can serve, by name.
#[derive(Clone, Default)]
pub struct CodecRegistry {
    factories: BTreeMap<String, CodecFactory>,
}

impl CodecRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the codec called `name`.
    pub fn register(&mut self, name: &str, factory: CodecFactory) {
        self.factories.insert(name.to_ascii_lowercase(), factory);
    }

    /// A new codec instance for `name`, or `None` when no codec has that name.
    pub fn build(&self, name: &str, options: &CodecOptions) -> Option<Box<dyn Codec>> {
        self.factories
            .get(&name.to_ascii_lowercase())
            .map(|factory| factory(options))
    }

    /// True when a codec is registered under `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.factories.contains_key(&name.to_ascii_lowercase())
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.factories.keys().cloned().collect()
    }
}

impl std::fmt::Debug for CodecRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodecRegistry")
            .field("names", &self.names())
            .finish()
    }
}
