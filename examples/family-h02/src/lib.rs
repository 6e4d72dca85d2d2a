//! H02, the text protocol of Sinotrack and many cheap GPS trackers, as a devgate device family
//! that lives outside devgate's workspace: the worked example of docs/CODEC_GUIDE.md.
//!
//! Parts: `frame` cuts `*...#` lines from the stream (streaming nom, bounded, resyncing at the
//! next `*`), `decode` reads a line into the typed [`H02Message`] (`message`), `fields` turns
//! H02's `details` into JSON for the shared message's `into_fields`, `options` reads the listener
//! settings, `protocol` is the per-connection state (identity, answers, commands). `dialect` is
//! the device side for device-sim, written on its own from the protocol description (it shares
//! no code with the codec, so a simulator run checks the codec). The binaries are devgate
//! (`devgate-h02`) and device-sim (`device-sim-h02`) with H02 added, every subcommand kept.
//!
//! For each line the codec yields, in this order:
//! 1. `Inbound::Identity(imei)` on the first line that names the device (every line does);
//! 2. `Inbound::Reply`: `*HQ,IMEI,HTBT#` for a heartbeat, `*HQ,IMEI,V4,V1,YYYYMMDDHHMMSS#`
//!    (server time, UTC) for a `V1` report unless `answer_locations = "false"`, and
//!    `*HQ,IMEI,V4,NBR,YYYYMMDDHHMMSS#` for a cell report, as Traccar answers;
//! 3. `Inbound::Message { data: the line, fields: Some(H02Message as JSON) }`.
//!
//! **Bad input.** There is no checksum. Bytes outside a `*...#` line are skipped; a line
//! without `#` within [`frame::MAX_LINE`] bytes is dropped (`CodecError::Skipped`) and the
//! stream goes on at the next `*`. The binary `$` reports some devices switch to are out of
//! scope: they are skipped as noise up to the next `*`.
//!
//! **Alarms.** An alarm bit in a report's status word sets `alarm` on a `location`; the line
//! stays a location, so location rules see it, and alarm rules match `alarm != null`.
//!
//! **Commands.** `Outbound::Data(text)` is sent as `*HQ,IMEI,<text>#` (a trailing `#` in the
//! text is not doubled; `#`, `*` and line breaks inside are refused), once the device has named
//! itself. `Outbound::Binary(bytes)` is written as given.
//!
//! **Time.** Device clocks are read as UTC unless the listener sets `timezone_offset_hours`.
//! Answers carry the server time, read from `CodecOptions::clock` (devgate's shared
//! `codecs::family::Clock`): the system clock in service, a fixed one in tests (the family
//! kit's `options()`).

mod decode;
pub mod dialect;
mod fields;
pub mod frame;
pub mod message;
pub mod options;
mod protocol;

pub use message::{Alarm, Cell, H02Details, H02Message, Kind, Position};
pub use options::H02Options;
pub use protocol::H02Protocol;

/// The registry name: listeners are written `h02://ip:port`.
pub const NAME: &str = "h02";

codecs::family_codec!(protocol: H02Protocol, settings: H02Options, max_frame: frame::MAX_LINE);
