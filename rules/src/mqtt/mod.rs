//! The MQTT bridge: a durable uplink [`Outbox`], the [`Bridge`] task that publishes it in order
//! and removes entries only on PubAck, and the downlink side that turns messages on configured
//! topics into `send_to_uid` calls on a [`DownlinkSink`], with a stated offline policy.
//!
//! Parts: `config` (the `[mqtt]` table), `outbox` (durable queue, ids) on `log` (its segment
//! files), `bridge` (connection, resend), `acks` (which publish a PubAck completes, the
//! window), `downlink` (topic templates, hold queue), `stats`; reconnect delays come from the
//! `timing` crate's Backoff.

mod acks;
mod bridge;
mod config;
mod downlink;
mod log;
mod outbox;
mod stats;

pub use bridge::{Bridge, BridgeError, BridgeHandle, NoDownlink};
pub use config::{DownlinkConfig, MqttConfig, OfflinePolicy, OutboxConfig, WhenFull};
pub use downlink::{BoxFuture, DownlinkSink, SinkError};
#[doc(hidden)]
pub use log::read_segment as read_outbox_segment;
pub use outbox::{Outbox, OutboxEntry, OutboxError, Prepared, StagedEntry};
pub use stats::BridgeStats;
