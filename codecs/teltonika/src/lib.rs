//! Codec for Teltonika trackers (FMB/FMC/FMM…) over TCP, built on the codecs crate's nom adapter.
//!
//! Parts: `frame` cuts packets from the stream (streaming nom: the IMEI packet, AVL data
//! packets sized by their length field, the `FF` keep-alive) and checks the CRC, `avl` reads
//! records (codecs 8, 8 Extended, 16) and command envelopes (codecs 12, 13), `protocol` turns
//! packets into events, `message` is the typed [`TeltonikaMessage`] and `fields` its JSON
//! `fields` value, `options` the settings.
//!
//! For each good packet the codec yields, in this order:
//! 1. `Inbound::Identity(imei)` on the first IMEI packet of the connection: the gateway binds
//!    it as the connection's uid;
//! 2. `Inbound::Reply`: `01` to accept the IMEI, the number of records as a big-endian u32 for
//!    an AVL packet (the device resends unless the count matches); nothing for the keep-alive
//!    or codec 12/13 packets; the gateway writes it at once;
//! 3. `Inbound::Message { data: the packet bytes, fields: Some(TeltonikaMessage as JSON) }`,
//!    one per AVL record.
//!
//! **Bad packets.** A packet whose CRC-16/IBM (ARC) does not match is dropped and counted
//! ([`TeltonikaProtocol::bad_checksums`]); so is a checksum-valid packet whose records do not
//! fill it or whose N1 and N2 differ ([`TeltonikaProtocol::bad_frames`]). Decoding returns
//! `CodecError::Skipped` and the connection goes on, with no count sent, so the device sends
//! the data again. With the listener option `bad_checksum = "close"` they are protocol errors.
//! The length field is the only framing, so a wrong one cannot be told from the bytes: a
//! length below 3, a non-zero preamble or a non-digit IMEI is a protocol error (closing the
//! connection), a length too large waits for bytes (the next packet's, whose CRC then fails),
//! a length too small fails the CRC. An AVL codec this crate does not read is acknowledged
//! and passed on raw as `other`.
//!
//! **Commands.** `Outbound::Data(text)` and `Outbound::Binary(bytes)` both become a codec 12
//! command (type 0x05) carrying the bytes as its payload (`setdigout 11`).

mod avl;
mod fields;
pub mod frame;
pub mod message;
pub mod options;
mod protocol;

pub use avl::IoValue;
pub use message::{Kind, Position, TeltonikaDetails, TeltonikaMessage};
pub use options::{BadFramePolicy, OptionsError, TeltonikaOptions};
pub use protocol::TeltonikaProtocol;

/// The registry name: listeners are written `teltonika://ip:port`.
pub const NAME: &str = "teltonika";

codecs::family_codec!(protocol: TeltonikaProtocol, settings: TeltonikaOptions, max_frame: usize::MAX);
