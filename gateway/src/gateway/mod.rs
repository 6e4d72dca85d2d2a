//! The gateway: owns device connections, hands their events to workers, executes workers'
//! commands.
//!
//! `listener` accepts clients (plain or TLS, within `admission`'s connection limits) and `conn`
//! runs one task per client, the I/O around
//! `policy`, the connection's policy as a state machine; `client` is the part of a client other
//! tasks touch (its output queue, the worker's completions). `acks` keeps a device-family ack
//! until the worker accepted the data it confirms. `router` picks a worker (`worker_slot`) per
//! client, holds events while none is up, and hands a dead or leaving worker's events over to
//! the others. `internal` accepts links; a worker's is served by `worker_link`, which keeps
//! every event sent until the worker acknowledges it (`retention`). `announce` keeps this
//! gateway listed in every register, and `heartbeat` closes silent clients. `metrics` serves
//! the optional Prometheus page.

pub mod acks;
pub mod admission;
pub mod announce;
pub mod client;
pub mod commands;
pub mod conn;
pub mod directory;
pub mod heartbeat;
pub mod internal;
pub mod listener;
pub mod metrics;
pub mod policy;
pub mod queries;
pub mod retention;
pub mod router;
pub mod worker_link;
pub mod worker_slot;

use crate::client_id::{ClientId, GatewayKey};
use crate::config::{GatewayConfig, OverflowPolicy};
use crate::counters::{Registry, Samples};
use crate::fast_hash::FastHash;
use bytes::Bytes;
use client::{ClientHandle, Out, PushResult, Unsent};
use codecs::Outbound;
use router::Router;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

/// Runtime settings of a gateway, from `[gateway]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Name for logs.
    pub name: String,
    /// Seconds between heartbeat checks; 0 = off.
    pub ping_interval: u64,
    /// Silent intervals tolerated; 0 = never close.
    pub ping_not_response_limit: u32,
    /// Ping payload; empty = codec ping only.
    pub ping_data: Bytes,
    /// Per-client output bound in bytes.
    pub send_buffer_max: usize,
    /// Full-buffer policy.
    pub send_buffer_overflow: OverflowPolicy,
    /// Largest inbound message.
    pub max_message_size: usize,
}

impl From<&GatewayConfig> for Settings {
    fn from(c: &GatewayConfig) -> Self {
        Settings {
            name: c.name.clone(),
            ping_interval: c.ping_interval,
            ping_not_response_limit: c.ping_not_response_limit,
            ping_data: Bytes::from(c.ping_data.clone().into_bytes()),
            send_buffer_max: c.send_buffer_max,
            send_buffer_overflow: c.send_buffer_overflow,
            max_message_size: c.max_message_size,
        }
    }
}

rules::counters! {
    /// The gateway's traffic counters, readable at any time (logged on stop, read by status,
    /// metrics and tests through the process's [`Registry`]).
    #[derive(Debug, Default)]
    pub struct Stats prefix "" {
        /// Client connections accepted.
        Counter accepted: AtomicU64,
        /// Messages decoded from clients.
        Counter messages_in: AtomicU64,
        /// Messages queued to clients.
        Counter messages_out: AtomicU64,
        /// Clients closed for bad input.
        Counter protocol_errors: AtomicU64,
        /// Bad messages skipped with the stream kept (bad checksums).
        Counter skipped: AtomicU64,
        /// Clients closed because their send buffer overflowed.
        Counter overflow_closes: AtomicU64,
        /// Messages dropped under the drop_oldest overflow policy.
        Counter dropped_oldest: AtomicU64,
        /// Clients closed by the heartbeat.
        Counter heartbeat_closes: AtomicU64,
        /// Clients closed because the worker refused one of their data events.
        Counter refused_events: AtomicU64,
        /// Connections closed at accept because a listener's connection limit was reached.
        Counter connections_refused: AtomicU64,
        /// Events sent to workers in other processes and not yet acknowledged.
        Gauge retained: AtomicU64,
        /// Bytes of those events.
        Gauge retained_bytes: AtomicU64,
        /// Times a worker link's retention window filled up (its clients then wait).
        Counter retention_full: AtomicU64,
        /// Worker and API links closed for reading nothing while events or answers waited.
        Counter slow_links_closed: AtomicU64,
    }
}

const TABLE_SHARDS: usize = 16;

/// The live state of one gateway process.
#[derive(Debug)]
pub struct GatewayState {
    /// This gateway's lan ip and internal port (prefix of its client ids).
    pub key: GatewayKey,
    /// Settings.
    pub settings: Settings,
    /// Worker choice and hold queue.
    pub router: Router,
    /// Traffic counters.
    pub stats: Stats,
    /// The process's counter registry, with this gateway registered in it; a worker in the
    /// same process registers its counters here too.
    pub counters: Arc<Registry>,
    clients: [RwLock<HashMap<u32, Arc<ClientHandle>, FastHash>>; TABLE_SHARDS],
    next_conn: AtomicU32,
    directory: std::sync::Mutex<directory::Directory>,
    /// Shared secret of internal links.
    pub secret: Vec<u8>,
    /// When this state was created, for the uptime in `status`.
    pub started: std::time::Instant,
    stopping: std::sync::atomic::AtomicBool,
}

impl GatewayState {
    /// A gateway named by `lan_ip` and its internal `port`.
    pub fn new(
        lan_ip: Ipv4Addr,
        port: u16,
        settings: Settings,
        held_max: usize,
        secret: Vec<u8>,
    ) -> Arc<Self> {
        // Connection numbers start at the current time in milliseconds, so a restarted gateway
        // starts past the ids its previous run handed out (unless that run averaged more than
        // 1000 new connections per second since it started).
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u32)
            .unwrap_or(1);
        let state = Arc::new(GatewayState {
            key: GatewayKey { ip: lan_ip, port },
            settings,
            router: Router::new(held_max),
            stats: Stats::default(),
            counters: Arc::new(Registry::default()),
            clients: Default::default(),
            next_conn: AtomicU32::new(start),
            directory: Default::default(),
            secret,
            started: std::time::Instant::now(),
            stopping: Default::default(),
        });
        state
            .counters
            .register(Arc::downgrade(&state) as Weak<dyn Samples + Send + Sync>);
        state
    }

    fn shard(&self, conn: u32) -> &RwLock<HashMap<u32, Arc<ClientHandle>, FastHash>> {
        &self.clients[conn as usize % TABLE_SHARDS]
    }

    /// Starts a graceful stop: every client is read no more, gets what its pending events
    /// release (held acks, once the workers accept), and is closed (see `End::Stopping`).
    pub fn stop_clients(&self) {
        self.stopping.store(true, Ordering::Release);
        for c in self.all_clients() {
            c.notify();
        }
    }

    /// Whether a graceful stop has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Whether nothing is left to hand off: no client, nothing a worker has not acknowledged,
    /// and no held event (unless no worker is linked to take it).
    pub fn is_drained(&self) -> bool {
        self.client_count() == 0
            && self.stats.retained.load(Ordering::Relaxed) == 0
            && (self.router.held_now() == Some(0) || self.router.worker_count() == 0)
    }

    /// Registers a new client and returns its handle.
    pub fn add_client(&self) -> Arc<ClientHandle> {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let id = ClientId {
            ip: self.key.ip,
            port: self.key.port,
            conn,
        };
        let handle = Arc::new(ClientHandle::new(id));
        self.shard(conn)
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(conn, handle.clone());
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        handle
    }

    /// Forgets a closed client.
    pub fn remove_client(&self, id: ClientId) {
        self.shard(id.conn)
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id.conn);
    }

    /// The handle of a live client of this gateway.
    pub fn client(&self, id: ClientId) -> Option<Arc<ClientHandle>> {
        if id.gateway() != self.key {
            return None;
        }
        self.shard(id.conn)
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id.conn)
            .cloned()
    }

    /// Number of live clients.
    pub fn client_count(&self) -> usize {
        self.clients
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Every live client handle (a snapshot).
    pub fn all_clients(&self) -> Vec<Arc<ClientHandle>> {
        let mut v = Vec::new();
        for s in &self.clients {
            v.extend(
                s.read()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .cloned(),
            );
        }
        v
    }

    /// Queues an output for one client, applying the overflow policy.
    pub fn push(&self, client: &ClientHandle, out: Out) {
        match client.push(
            out,
            self.settings.send_buffer_max,
            self.settings.send_buffer_overflow,
        ) {
            PushResult::Queued => {
                self.stats.messages_out.fetch_add(1, Ordering::Relaxed);
            }
            PushResult::DroppedOldest { dropped, queued } => {
                if queued {
                    self.stats.messages_out.fetch_add(1, Ordering::Relaxed);
                }
                self.stats
                    .dropped_oldest
                    .fetch_add(dropped, Ordering::Relaxed);
            }
            PushResult::Overflow => self.overflowed(client),
            PushResult::Closing => {}
        }
    }

    /// Records the bytes a connection task holds unwritten for `client` (see
    /// [`ClientHandle::set_unsent`]) and counts what the overflow policy did.
    pub fn hold(&self, client: &ClientHandle, unsent: usize) -> Unsent {
        let r = client.set_unsent(
            unsent,
            self.settings.send_buffer_max,
            self.settings.send_buffer_overflow,
        );
        match r {
            Unsent::Fits | Unsent::Full => {}
            Unsent::Overflow => self.overflowed(client),
            Unsent::Dropped(n) | Unsent::DroppedFull(n) => {
                self.stats.dropped_oldest.fetch_add(n, Ordering::Relaxed);
            }
        }
        r
    }

    fn overflowed(&self, client: &ClientHandle) {
        self.stats.overflow_closes.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(client = %client.id, "send buffer full: closing the slow client");
    }

    /// Sends `data` to a client of this gateway; false when it is not connected.
    pub fn send_to_client(&self, id: ClientId, data: Bytes) -> bool {
        match self.client(id) {
            Some(c) => {
                self.push(&c, Out::Send(Outbound::Data(data)));
                true
            }
            None => false,
        }
    }
}
