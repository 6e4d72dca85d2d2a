//! Follows the registers' gateway lists and keeps one authenticated link to every gateway.
//!
//! The worker's set of gateways is the union of the lists of all its registers. A gateway
//! missing from that union for `DROP_GRACE` is dropped; the grace keeps links up while a
//! restarted register is still collecting re-announcements. A lost link is retried with capped,
//! jittered backoff for as long as its gateway is listed.

use super::api::{Api, GatewayLink};
use super::handler::Accept;
use super::inbox::Inbox;
use crate::client_id::GatewayKey;
use crate::gateway::router::WorkerSink;
use crate::gateway::GatewayState;
use crate::link;
use crate::net::{AbortOnDrop, Backoff};
use crate::proto::{FromGateway, FromRegister, LinkError, Role, ToGateway, ToRegister};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a gateway may be missing from every list before its link is dropped.
pub const DROP_GRACE: Duration = Duration::from_secs(10);

/// What a worker needs to find and link gateways.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// The worker's name, for gateways' logs.
    pub name: String,
    /// Register addresses; all are used.
    pub registers: Vec<String>,
    /// Shared secret.
    pub secret: Arc<Vec<u8>>,
    /// A gateway in this process, reached without a socket (`devgate start`).
    pub local: Option<Arc<GatewayState>>,
    /// `Worker` (receives events) or `Client` (API only).
    pub role: Role,
}

fn key_of(addr: &str) -> Option<GatewayKey> {
    match addr.parse::<SocketAddr>().ok()? {
        SocketAddr::V4(a) => Some(GatewayKey {
            ip: *a.ip(),
            port: a.port(),
        }),
        SocketAddr::V6(a) => match IpAddr::V6(*a.ip()).to_canonical() {
            IpAddr::V4(ip) => Some(GatewayKey { ip, port: a.port() }),
            IpAddr::V6(_) => None,
        },
    }
}

/// Runs the links until the task is dropped; events go to `inbox` (None for API clients).
pub async fn run(opts: LinkOptions, inbox: Option<Inbox>, api: Api) {
    let (list_tx, mut list_rx) = mpsc::channel::<(usize, Vec<String>)>(64);
    let mut register_tasks = Vec::new();
    for (i, addr) in opts.registers.iter().enumerate() {
        register_tasks.push(AbortOnDrop(tokio::spawn(follow_register(
            i,
            addr.clone(),
            opts.clone(),
            list_tx.clone(),
        ))));
    }
    let mut lists: Vec<Vec<String>> = vec![Vec::new(); opts.registers.len()];
    let mut running: HashMap<String, AbortOnDrop> = HashMap::new();
    let mut absent_since: HashMap<String, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            Some((i, addrs)) = list_rx.recv() => {
                if let Some(slot) = lists.get_mut(i) {
                    *slot = addrs;
                }
            }
            _ = tick.tick() => {}
        }
        let union: BTreeSet<&String> = lists.iter().flatten().collect();
        api.set_listed(union.iter().filter_map(|a| key_of(a)).collect());
        for addr in &union {
            absent_since.remove(*addr);
            if !running.contains_key(*addr) {
                let task = AbortOnDrop(tokio::spawn(gateway_link(
                    (*addr).clone(),
                    opts.clone(),
                    inbox.clone(),
                    api.clone(),
                )));
                running.insert((*addr).clone(), task);
            }
        }
        let now = Instant::now();
        let gone: Vec<String> = running
            .keys()
            .filter(|a| !union.contains(a))
            .filter(|a| {
                now.duration_since(*absent_since.entry((*a).clone()).or_insert(now)) >= DROP_GRACE
            })
            .cloned()
            .collect();
        for addr in gone {
            tracing::info!(gateway = %addr, "gateway left the register lists: dropping its link");
            running.remove(&addr);
            absent_since.remove(&addr);
        }
    }
}

async fn follow_register(
    index: usize,
    addr: String,
    opts: LinkOptions,
    lists: mpsc::Sender<(usize, Vec<String>)>,
) {
    let mut backoff = Backoff::default();
    loop {
        match link::connect::<FromRegister>(&addr, &opts.secret, opts.role, &opts.name).await {
            Ok((mut reader, wr)) => {
                backoff.reset();
                let (tx, writer) = link::spawn_writer::<ToRegister>(wr);
                tracing::info!(register = %addr, "linked to register");
                let why = loop {
                    match link::next(&mut reader, &tx).await {
                        Ok(FromRegister::GatewayList { addrs }) => {
                            if lists.send((index, addrs)).await.is_err() {
                                return;
                            }
                        }
                        Ok(other) => tracing::debug!("register sent {other:?}"),
                        Err(e) => break e,
                    }
                };
                tracing::warn!(register = %addr, "register link lost: {why}");
                writer.abort();
            }
            Err(LinkError::Handshake(reason)) => {
                tracing::error!(register = %addr, "register refused this {:?}: {reason}", opts.role)
            }
            Err(e) => tracing::warn!(register = %addr, "cannot reach register: {e}"),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Removes the API link when the gateway link task ends or is aborted.
struct LinkGuard {
    api: Api,
    key: GatewayKey,
}

impl Drop for LinkGuard {
    fn drop(&mut self) {
        self.api.remove_link(self.key);
    }
}

async fn gateway_link(addr: String, opts: LinkOptions, inbox: Option<Inbox>, api: Api) {
    let Some(key) = key_of(&addr) else {
        tracing::warn!(gateway = %addr, "not an ipv4 ip:port: ignored");
        return;
    };
    if let Some(state) = opts.local.as_ref().filter(|s| s.key == key) {
        api.set_link(key, GatewayLink::Local(state.clone()));
        let _guard = LinkGuard { api, key };
        if let Some(inbox) = inbox {
            state
                .router
                .add_worker(opts.name.clone(), WorkerSink::Local(inbox))
                .await;
        }
        tracing::info!(gateway = %addr, "linked to the in-process gateway");
        std::future::pending::<()>().await;
        return;
    }
    let mut backoff = Backoff::default();
    loop {
        match link::connect::<FromGateway>(&addr, &opts.secret, opts.role, &opts.name).await {
            Ok((mut reader, wr)) => {
                backoff.reset();
                let (tx, writer) = link::spawn_writer::<ToGateway>(wr);
                api.set_link(key, GatewayLink::Remote(tx.clone()));
                let guard = LinkGuard {
                    api: api.clone(),
                    key,
                };
                tracing::info!(gateway = %addr, "linked to gateway");
                let why = loop {
                    match link::next(&mut reader, &tx).await {
                        Ok(FromGateway::QueryReply { id, result }) => {
                            api.complete_query(id, result)
                        }
                        Ok(msg) => {
                            let Some(inbox) = &inbox else { continue };
                            if inbox.deliver(msg, Accept::inert()).await.is_err() {
                                break LinkError::Closed;
                            }
                        }
                        Err(e) => break e,
                    }
                };
                drop(guard);
                writer.abort();
                tracing::warn!(gateway = %addr, "gateway link lost: {why}");
            }
            Err(LinkError::Handshake(reason)) => {
                tracing::error!(gateway = %addr, "gateway refused this {:?}: {reason}", opts.role)
            }
            Err(e) => tracing::warn!(gateway = %addr, "cannot reach gateway: {e}"),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
