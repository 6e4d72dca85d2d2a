//! The rule pipeline: devgate's default business logic, written as a TOML rules file.
//!
//! It knows neither gateways nor codecs. An [`Event`] comes in as plain data; a [`RuleSet`]
//! (loaded and fully checked by [`check_rules_file`]) turns it, with the device's
//! [`DeviceState`] and the current time, into [`Action`]s, doing no I/O. A [`Pipeline`] wraps a
//! rule set with a [`StateStore`] (sled by default, [`SledStore`]) and an optional MQTT
//! [`Outbox`]: it applies `set_state` and `publish` durably (flushed before it returns) and hands
//! the rest (reply, send_to_uid, ...) to the caller, the gateway's `rules` handler.
//! The MQTT [`Bridge`] publishes the outbox in order and delivers downlink commands through a
//! [`DownlinkSink`] that the gateway implements. [`run_rule_tests`] runs a rules file's tests.
//!
//! Parts: `event`/`action` (data in and out), `path`/`expr`/`template` (the rule language),
//! `load`/`ruleset` (file to rules, evaluation), `testing` (rule tests), `store` (state store),
//! `pipeline` (rules + store + outbox), `mqtt` (outbox, bridge, downlink), `counters` (what
//! each part counts, as samples the gateway's counter registry reads). See docs/RULES.md.

mod action;
pub mod batcher;
pub mod counters;
mod error;
mod event;
mod expr;
mod load;
mod path;
mod pipeline;
mod ruleset;
mod template;
mod testing;

pub mod mqtt;
pub mod store;

pub use action::Action;
pub use batcher::{BatchConfig, Outcome};
pub use counters::{Kind, Sample, SampleValue, Samples};
pub use error::{RuleError, StoreError};
pub use event::{DeviceState, Event, EventKind};
pub use load::{check_rules_file, parse_rules};
#[doc(hidden)]
pub use mqtt::read_outbox_segment;
pub use mqtt::{
    Bridge, BridgeError, BridgeHandle, BridgeStats, DownlinkConfig, DownlinkSink, MqttConfig,
    NoDownlink, OfflinePolicy, Outbox, OutboxConfig, OutboxEntry, OutboxError, SinkError, WhenFull,
};
pub use pipeline::{Pipeline, PipelineError, PipelineOptions, PipelineStats, Waiter};
pub use ruleset::RuleSet;
pub use store::{Batch, MemoryStore, SledStore, StateStore};
pub use testing::{default_tests_path, run_rule_tests, TestFailure, TestReport};

/// The current time as Unix milliseconds: the `now` to pass to [`Pipeline::handle`].
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
