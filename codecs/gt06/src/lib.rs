//! Codec for GT06 / Concox (Jimi IoT) trackers, built on the codecs crate's nom adapter.
//!
//! Parts: `frame` cuts `78 78` / `79 79` frames from the stream (streaming nom, trusting LEN
//! and falling back to the `0D 0A` terminator), `protocol` checks each frame and turns it into
//! events, `decode` reads packet contents into the typed [`Gt06Message`], `fields` turns that
//! into the JSON `fields` value, `options` reads the listener settings.
//!
//! For each good frame the codec yields, in this order:
//! 1. `Inbound::Identity(imei)` on the first login (0x01) of the connection: the gateway binds
//!    it as the connection's uid;
//! 2. `Inbound::Reply(ack)`, the echo frame the device waits for (`78 78 05 <proto> <serial>
//!    <crc> 0D 0A`), for login, location, status, alarm and command-response packets: the
//!    gateway writes it at once;
//! 3. `Inbound::Message { data: the frame bytes, fields: Some(Gt06Message as JSON) }`.
//!
//! **Bad frames.** A frame whose CRC-16/X-25 does not match, or whose LEN disagrees with its
//! `0D 0A` terminator, is dropped and counted ([`Gt06Protocol::bad_checksums`],
//! [`Gt06Protocol::bad_lengths`]): decoding returns `CodecError::Skipped` and the connection
//! goes on. With the listener option `bad_checksum = "close"` it is a protocol error instead,
//! which closes the connection. The one exception is the WiFi packet (0x69, 0x17) of some
//! firmware that puts an access-point count where LEN belongs and has no serial or CRC: it is
//! accepted unverified as an `other` message (`details.unverified = true`) with no reply.
//! Bytes that do not start with `78 78` / `79 79` are a protocol error (no resync).
//!
//! **Time.** Device clocks are read as UTC unless the listener sets `timezone_offset_hours`
//! or an extended login announces the device's timezone, which then applies to its connection.
//!
//! **Commands.** `Outbound::Data(text)` becomes an online command 0x80 (`Relay,1#`, server flag
//! 0); `Outbound::Binary([proto, content..])` sends any packet, framed with serial and CRC.
//! The serial of sent frames is a per-connection counter starting at 0.

mod decode;
mod fields;
pub mod frame;
pub mod message;
pub mod options;
mod protocol;

pub use message::{Alarm, Cell, Gt06Details, Gt06Message, Kind, Position};
pub use options::{BadFramePolicy, Gt06Options, OptionsError};
pub use protocol::Gt06Protocol;

/// The registry name: listeners are written `gt06://ip:port`.
pub const NAME: &str = "gt06";

codecs::family_codec!(protocol: Gt06Protocol, settings: Gt06Options, max_frame: frame::MAX_FRAME);
