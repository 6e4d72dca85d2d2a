//! The business worker: links to every gateway the registers list, feeds their events to an
//! [`EventHandler`], and offers the [`Api`] to act on clients.
//!
//! `handler` is the trait and the built-in `echo`; `inbox` runs it on ordered shards;
//! `completions` tracks which linked events are handled, to acknowledge them; `api` is
//! the command side (also a [`StandaloneApi`](crate::StandaloneApi)'s); `gateways` follows the
//! registers' gateway lists and keeps one link (`crate::link`) per gateway.

pub mod api;
pub mod completions;
pub mod gateways;
pub mod handler;
pub mod inbox;

pub use crate::delivery::{Accept, Acceptance, Inbox};
pub use api::{Api, ApiError};
pub use handler::{Context, Echo, EventHandler, Incoming};
