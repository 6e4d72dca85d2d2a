//! A devgate binary of your own: every `devgate` subcommand (`start`, `check-config`,
//! `worker`, `send`, ...) with one more codec, `semi`, and one more handler, `shout`, defined
//! here. A real family crate exports a `register(&mut CodecRegistry)` instead; with no handler
//! of its own, `main` is `gateway::front::run(codecs)`.
//!
//! ```text
//! cargo run -p gateway --example own_binary -- check-config my.toml
//! cargo run -p gateway --example own_binary -- start --config my.toml   # semi://127.0.0.1:7373
//! ```
//!
//! `semi` is the smallest useful protocol: messages end with `;` (so `a;b;` is two messages),
//! and what the worker sends goes out with a `;` after it. It reads one listener option,
//! `trim = "true" | "false"` (strip spaces around each message; default `false`), so a config
//! shows how your own codec's options are checked with the rest of the file. `handler =
//! "shout"` in `[worker]` answers every message in upper case.

use bytes::{BufMut, BytesMut};
use codecs::options::OptionsReader;
use codecs::{Codec, CodecError, CodecOptions, CodecRegistry, Inbound, Outbound, PreparedCodec};
use gateway::worker::{Context, EventHandler, Incoming};
use std::sync::Arc;
use tokio_util::codec::{Decoder, Encoder};

fn main() -> std::process::ExitCode {
    let mut codecs = gateway::codec_registry(); // the stock codecs and families
    register(&mut codecs);
    gateway::front::Devgate::new(codecs)
        .handler("shout", || Shout)
        .run()
}

/// Answers every message in upper case.
struct Shout;

impl EventHandler for Shout {
    async fn on_message(&self, cx: &Context<'_>, msg: Incoming) {
        let _ = cx.reply(msg.data.to_ascii_uppercase()).await;
    }
}

/// Adds `semi` to a registry: what a family crate's `register` does.
fn register(codecs: &mut CodecRegistry) {
    codecs.register("semi", Arc::new(prepare));
}

/// Checks a listener's options once (a bad value or an unknown key is a config error naming
/// the key) and prepares the codec every connection gets.
fn prepare(options: &CodecOptions) -> Result<PreparedCodec, codecs::options::OptionsError> {
    let mut reader = OptionsReader::new("semi", options);
    let trim = reader
        .choice("trim", &[("false", false), ("true", true)])?
        .unwrap_or(false);
    reader.finish()?;
    let max = options.max_message_size;
    Ok(PreparedCodec::new(move || Semi { max, trim }))
}

/// `;`-terminated messages of at most `max` bytes.
struct Semi {
    max: usize,
    trim: bool,
}

impl Decoder for Semi {
    type Item = Inbound;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        let window = &src[..src.len().min(self.max.saturating_add(1))];
        let Some(end) = window.iter().position(|&b| b == b';') else {
            // No `;` within the limit: a longer message can never become valid.
            if src.len() > self.max {
                return Err(CodecError::TooLarge {
                    size: src.len(),
                    max: self.max,
                });
            }
            return Ok(None);
        };
        let mut message = src.split_to(end + 1);
        message.truncate(end);
        let data = if self.trim {
            let text = String::from_utf8_lossy(&message);
            bytes::Bytes::from(text.trim().to_string())
        } else {
            message.freeze()
        };
        Ok(Some(Inbound::Message { data, fields: None }))
    }
}

impl Encoder<Outbound> for Semi {
    type Error = CodecError;

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        if let Outbound::Data(data) | Outbound::Binary(data) = item {
            dst.reserve(data.len() + 1);
            dst.put_slice(&data);
            dst.put_u8(b';');
        }
        Ok(())
    }
}

impl Codec for Semi {
    fn name(&self) -> &'static str {
        "semi"
    }
}
