//! Codec for JT/T 808 terminals (the Chinese national standard; "Huabao" in older Traccar),
//! built on the codecs crate's nom adapter.
//!
//! Parts: `frame` cuts `7E`-delimited frames from the stream (streaming nom, skipping garbage
//! before the first `7E`) and undoes the `7D` escaping, `header` reads and builds message
//! headers (2011/2013 and 2019 editions), `decode` reads bodies into the typed
//! [`Jt808Message`], `fields` turns that into the JSON `fields` value, `protocol` checks each
//! frame and turns it into events, `options` reads the listener settings.
//!
//! For each good frame the codec yields, in this order:
//! 1. `Inbound::Identity(phone)` once, from the first good frame of the connection: every
//!    header carries the terminal phone number (hex digits as sent, e.g. `013511221122`), so
//!    the gateway can bind the uid before registration or authentication;
//! 2. `Inbound::Reply(ack)`: `0x8100` (result 0, auth code = the phone digits) for a
//!    registration, nothing for a terminal general response `0x0001`, and the general response
//!    `0x8001` (result 0) for everything else; the gateway writes it at once;
//! 3. `Inbound::Message { data: the frame as received, fields: Some(Jt808Message as JSON) }`,
//!    one per location of a `0x0704` batch.
//!
//! **Bad frames.** A frame whose XOR checksum does not match is dropped and counted
//! ([`Jt808Protocol::bad_checksums`]); so is one with a broken escape, a header cut short or a
//! body length that disagrees with its header ([`Jt808Protocol::bad_frames`]). Decoding
//! returns `CodecError::Skipped` and the connection goes on: the delimiters keep the stream in
//! step. With the listener option `bad_checksum = "close"` they are protocol errors instead.
//!
//! **Time.** Location times are Beijing time (GMT+8) by the standard; the listener option
//! `timezone_offset_hours` changes that for devices that send UTC or local time.
//!
//! **Platform messages.** `Outbound::Data(text)` becomes a text message `0x8300` (flag byte
//! from the `text_flag` option, default 1; UTF-8 text converted to GBK);
//! `Outbound::Binary([id_hi, id_lo, body..])` sends any message id with that body. Both go to
//! the phone number and edition the terminal last used, with a per-connection serial that
//! starts at 0 (acks always carry serial 0, as Traccar's do).

mod decode;
mod fields;
pub mod frame;
pub mod header;
pub mod message;
pub mod options;
mod protocol;

pub use message::{Alarm, Jt808Details, Jt808Message, Kind, Position};
pub use options::{BadFramePolicy, Jt808Options, OptionsError};
pub use protocol::Jt808Protocol;

/// The registry name: listeners are written `jt808://ip:port`.
pub const NAME: &str = "jt808";

codecs::family_codec!(protocol: Jt808Protocol, settings: Jt808Options, max_frame: usize::MAX);
