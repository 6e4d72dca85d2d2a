//! devgate's runtime: register, gateway, business worker, and the API.
//!
//! Devices connect to a **gateway** (`gateway`), which decodes their bytes with a codec from
//! the `codecs` crate and routes every event to a **business worker** (`worker`), where an
//! [`EventHandler`](worker::EventHandler) runs and answers through the [`Api`](worker::Api).
//! The **register** (`register`) tells workers where gateways are. Processes talk over the
//! internal protocol (`proto`, `link`), authenticated with a shared secret and, with `[tls]`,
//! encrypted with TLS against the cluster's own CA (`tls`; `certs` makes the CA and the
//! certificates, `devgate cert`); a gateway keeps
//! each event it sends a worker until the worker acknowledges it, and redelivers it to another
//! worker if that one dies (`gateway::worker_link`, `worker::completions`). `app` wires the
//! three roles from a [`Config`](config::Config), alone or all in one process (`devgate start`).
//! There, a gateway hands events straight to the worker's inbox (`delivery`, the contract both
//! sides share, so that `gateway` and `worker` never import each other both ways:
//! tests/module_graph.rs checks the crate has no module cycles).
//!
//! As in GatewayWorker, a **client** is a device's or browser's connection to a gateway, named
//! by its [`ClientId`]. A program that is not a worker uses the API as a [`StandaloneApi`]
//! (`standalone`; GatewayWorker's `GatewayClient`), and `cli` is the command line's `send`,
//! `query` and `status` built on it. `front` is the whole `devgate` command line as one call
//! taking a [`codecs::CodecRegistry`]: the `devgate` binary is that call with
//! [`codec_registry`], and a binary of your own adds its codecs first. `new_family` writes a
//! new device-family crate from the repository's template (`devgate new-family`). `net` binds
//! listeners; `fast_hash` is the hasher of the hot maps keyed by devgate's own ids. `budget`
//! bounds in bytes what waits for one internal peer (answers, gateway lists), so a peer that
//! stops reading is closed instead of grown for.

pub mod app;
pub mod budget;
pub mod certs;
pub mod cli;
pub mod client_id;
pub mod config;
pub mod counters;
pub mod delivery;
pub mod fast_hash;
pub mod front;
pub mod gateway;
pub mod link;
pub mod liveness;
pub mod net;
pub mod new_family;
pub mod proto;
pub mod reconnect;
pub mod register;
pub mod rules_handler;
pub mod standalone;
pub mod tls;
pub mod worker;

pub use client_id::ClientId;
pub use standalone::StandaloneApi;

/// Every codec this build of devgate serves: the stock ones and the device families.
pub fn codec_registry() -> codecs::CodecRegistry {
    let mut registry = codecs::CodecRegistry::with_stock();
    codec_gt06::register(&mut registry);
    codec_jt808::register(&mut registry);
    codec_teltonika::register(&mut registry);
    registry
}
