//! Codecs found by name, so `frame://127.0.0.1:8283` resolves to the frame codec.
//!
//! A listener's codec is set up in two steps, as Vector's config is: [`CodecRegistry::prepare`]
//! checks the listener's options once (a config check reports what it refuses), and the
//! [`PreparedCodec`] it returns builds a fresh codec for each connection and cannot fail.

use crate::family::clock::Clock;
use crate::options::OptionsError;
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
    /// The server's clock, for codecs whose answers carry the time (the system clock unless a
    /// test fixes it).
    pub clock: Clock,
}

impl Default for CodecOptions {
    fn default() -> Self {
        CodecOptions {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            extra: BTreeMap::new(),
            clock: Clock::System,
        }
    }
}

/// Checks one listener's options and prepares its codec: refuses bad values and keys the codec
/// does not read, so no connection ever runs on settings nobody asked for.
pub type CodecFactory =
    Arc<dyn Fn(&CodecOptions) -> Result<PreparedCodec, OptionsError> + Send + Sync>;

/// A codec whose options were checked: builds a fresh instance for each connection.
#[derive(Clone)]
pub struct PreparedCodec {
    name: String,
    build: Arc<dyn Fn() -> Box<dyn Codec> + Send + Sync>,
}

impl PreparedCodec {
    /// Wraps `build`, which makes one codec from settings already read.
    pub fn new<C, F>(build: F) -> Self
    where
        C: Codec + 'static,
        F: Fn() -> C + Send + Sync + 'static,
    {
        PreparedCodec {
            name: String::new(),
            build: Arc::new(move || -> Box<dyn Codec> { Box::new(build()) }),
        }
    }

    /// A new codec for one connection.
    pub fn build(&self) -> Box<dyn Codec> {
        (self.build)()
    }

    /// The registry name it was prepared under (empty when made outside a registry).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for PreparedCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCodec")
            .field("name", &self.name)
            .finish()
    }
}

/// Why a registry could not prepare a codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// No codec is registered under that name.
    #[error("no codec is called {name:?}; known: {known}")]
    UnknownCodec {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// The codec refused the listener's options.
    #[error(transparent)]
    Options(#[from] OptionsError),
}

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

    /// Checks `options` with the codec called `name` and prepares it for a listener.
    pub fn prepare(
        &self,
        name: &str,
        options: &CodecOptions,
    ) -> Result<PreparedCodec, PrepareError> {
        let name = name.to_ascii_lowercase();
        let factory = self
            .factories
            .get(&name)
            .ok_or_else(|| PrepareError::UnknownCodec {
                name: name.clone(),
                known: self.names().join(", "),
            })?;
        let mut prepared = factory(options)?;
        prepared.name = name;
        Ok(prepared)
    }

    /// One codec for `name` with `options` (prepared and built at once: tests, one-off uses).
    pub fn build(
        &self,
        name: &str,
        options: &CodecOptions,
    ) -> Result<Box<dyn Codec>, PrepareError> {
        Ok(self.prepare(name, options)?.build())
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
