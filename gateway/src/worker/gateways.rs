//! Follows the registers' gateway lists and keeps one authenticated link to every gateway.
//!
//! The worker's set of gateways is the union of the lists of all its registers. A gateway
//! missing from that union for `DROP_GRACE` is dropped; the grace keeps links up while a
//! restarted register is still collecting re-announcements ([`Listed`] decides, given the lists
//! and `now`). A lost link is retried with [`keep_linked`]'s backoff for as long as its gateway
//! is listed.

use super::api::{Api, GatewayLink};
use super::completions::LinkCompletions;
use crate::client_id::GatewayKey;
use crate::delivery::{client_of, Accept, EventDone, Inbox};
use crate::gateway::worker_slot::WorkerSink;
use crate::gateway::GatewayState;
use crate::link::{self, LinkReader};
use crate::proto::{FromGateway, FromRegister, LinkError, Role, ToGateway, ToRegister};
use crate::reconnect::{keep_linked, LinkEnd, LinkTask, Peer};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timing::clock;
use tokio::sync::{mpsc, watch};

/// A spawned task that is aborted when this handle is dropped, so a register's or gateway's
/// task ends with the follower that started it.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long a gateway may be missing from every list before its link is dropped.
pub const DROP_GRACE: Duration = Duration::from_secs(10);

/// What a worker needs to find and link gateways.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// The worker's name, for gateways' logs.
    pub name: String,
    /// Register addresses; all are used.
    pub registers: Vec<String>,
    /// The shared secret and TLS of the links.
    pub credentials: link::Credentials,
    /// A gateway in this process, reached without a socket (`devgate start`).
    pub local: Option<Arc<GatewayState>>,
    /// `Worker` (receives events) or `Api` (API only, [`StandaloneApi`](crate::StandaloneApi)).
    pub role: Role,
    /// How the worker leaves its gateways when it stops.
    pub departure: Arc<Departure>,
}

/// A worker's graceful stop: every gateway link says `Leaving`, goes on handling and
/// acknowledging what it was sent, and ends when its gateway answers `Released` (everything
/// acknowledged, the worker's clients moved to other workers with nothing to redeliver).
#[derive(Debug)]
pub struct Departure {
    leaving: watch::Sender<bool>,
    links: watch::Sender<usize>,
}

impl Default for Departure {
    fn default() -> Self {
        Departure {
            leaving: watch::Sender::new(false),
            links: watch::Sender::new(0),
        }
    }
}

impl Departure {
    /// Asks every gateway link to leave and waits until all are released, or `within` passed;
    /// returns how many links were still open then.
    pub async fn leave(&self, within: Duration) -> usize {
        self.leaving.send_replace(true);
        let mut links = self.links.subscribe();
        let all_released = async {
            while *links.borrow_and_update() > 0 {
                if links.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(within, all_released).await;
        let open = *self.links.borrow();
        open
    }

    fn is_leaving(&self) -> bool {
        *self.leaving.borrow()
    }
}

/// Counts one open gateway link of a [`Departure`] while it lives.
struct OpenLink<'a>(&'a Departure);

impl<'a> OpenLink<'a> {
    fn new(d: &'a Departure) -> Self {
        d.links.send_modify(|n| *n += 1);
        OpenLink(d)
    }
}

impl Drop for OpenLink<'_> {
    fn drop(&mut self) {
        self.0.links.send_modify(|n| *n = n.saturating_sub(1));
    }
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

/// Runs the links until the task is dropped; events go to `inbox` (None for a [`StandaloneApi`](crate::StandaloneApi)).
pub async fn run(opts: LinkOptions, inbox: Option<Inbox>, api: Api) {
    let (list_tx, mut list_rx) = mpsc::channel::<(usize, Vec<String>)>(64);
    let mut register_tasks = Vec::new();
    for (index, addr) in opts.registers.iter().enumerate() {
        let (addr, opts) = (addr.clone(), opts.clone());
        let mut task = FollowRegister {
            index,
            addr: addr.clone(),
            lists: list_tx.clone(),
        };
        register_tasks.push(AbortOnDrop(tokio::spawn(async move {
            let LinkOptions {
                credentials,
                role,
                name,
                ..
            } = &opts;
            keep_linked(Peer::Register, &addr, credentials, *role, name, &mut task).await
        })));
    }
    let mut listed = Listed::new(opts.registers.len(), DROP_GRACE);
    let mut running: HashMap<String, AbortOnDrop> = HashMap::new();
    loop {
        let changes = listed.poll(clock::now());
        api.set_listed(listed.union().filter_map(|a| key_of(a)).collect());
        for addr in changes.start {
            let task = tokio::spawn(gateway_link(
                addr.clone(),
                opts.clone(),
                inbox.clone(),
                api.clone(),
            ));
            running.insert(addr, AbortOnDrop(task));
        }
        for addr in changes.drop {
            tracing::info!(gateway = %addr, "gateway left the register lists: dropping its link");
            running.remove(&addr);
        }
        let next_drop = listed.next_drop();
        tokio::select! {
            Some((index, addrs)) = list_rx.recv() => listed.set_list(index, addrs),
            () = clock::sleep_until(next_drop) => {}
        }
    }
}

/// The union of the registers' gateway lists, and which gateway links to start or drop as the
/// lists change and time passes: a gateway missing from every list is dropped once it has
/// been missing for the grace period.
#[derive(Debug)]
pub struct Listed {
    grace: Duration,
    lists: Vec<Vec<String>>,
    linked: BTreeSet<String>,
    absent_since: HashMap<String, Instant>,
}

/// Gateway links to start and to drop.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Newly listed gateways, to link.
    pub start: Vec<String>,
    /// Gateways missing from every list for the grace period, whose links to drop.
    pub drop: Vec<String>,
}

impl Listed {
    /// No lists yet from `registers` registers; links are dropped after `grace` unlisted.
    pub fn new(registers: usize, grace: Duration) -> Self {
        Listed {
            grace,
            lists: vec![Vec::new(); registers],
            linked: BTreeSet::new(),
            absent_since: HashMap::new(),
        }
    }

    /// Register `index` now lists `addrs` (replacing its previous list).
    pub fn set_list(&mut self, index: usize, addrs: Vec<String>) {
        if let Some(slot) = self.lists.get_mut(index) {
            *slot = addrs;
        }
    }

    /// Every gateway some register lists, each once, in order.
    pub fn union(&self) -> impl Iterator<Item = &String> {
        self.lists
            .iter()
            .flatten()
            .collect::<BTreeSet<_>>()
            .into_iter()
    }

    /// The links to start and drop at `now`: each listed gateway is started once; one missing
    /// from every list is dropped once it has been missing for the grace period.
    pub fn poll(&mut self, now: Instant) -> Changes {
        let union: BTreeSet<String> = self.union().cloned().collect();
        let mut changes = Changes::default();
        for addr in &union {
            self.absent_since.remove(addr);
            if self.linked.insert(addr.clone()) {
                changes.start.push(addr.clone());
            }
        }
        for addr in self.linked.difference(&union) {
            let since = *self.absent_since.entry(addr.clone()).or_insert(now);
            if now.duration_since(since) >= self.grace {
                changes.drop.push(addr.clone());
            }
        }
        for addr in &changes.drop {
            self.linked.remove(addr);
            self.absent_since.remove(addr);
        }
        changes
    }

    /// When the next unlisted gateway's grace ends, if any is waiting.
    pub fn next_drop(&self) -> Option<Instant> {
        self.absent_since
            .values()
            .min()
            .map(|since| *since + self.grace)
    }
}

/// A link to one register: passes each gateway list it sends on to [`run`].
struct FollowRegister {
    index: usize,
    addr: String,
    lists: mpsc::Sender<(usize, Vec<String>)>,
}

impl LinkTask for FollowRegister {
    type In = FromRegister;
    type Out = ToRegister;

    async fn run(
        &mut self,
        reader: &mut LinkReader<FromRegister>,
        tx: &mpsc::Sender<ToRegister>,
    ) -> LinkEnd {
        tracing::info!(register = %self.addr, "linked to register");
        loop {
            match link::next(reader, tx).await {
                Ok(FromRegister::GatewayList { addrs }) => {
                    if self.lists.send((self.index, addrs)).await.is_err() {
                        return LinkEnd::Stop;
                    }
                }
                Ok(other) => tracing::debug!("register sent {other:?}"),
                Err(e) => return LinkEnd::Lost(e),
            }
        }
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

/// A link to one gateway: events go to the inbox, query replies to the API; handled events
/// are acknowledged (see `completions`).
struct GatewayTask {
    addr: String,
    key: GatewayKey,
    inbox: Option<Inbox>,
    api: Api,
    departure: Arc<Departure>,
}

impl LinkTask for GatewayTask {
    type In = FromGateway;
    type Out = ToGateway;

    async fn run(
        &mut self,
        reader: &mut LinkReader<FromGateway>,
        tx: &mpsc::Sender<ToGateway>,
    ) -> LinkEnd {
        if self.departure.is_leaving() {
            return LinkEnd::Stop;
        }
        let _open = OpenLink::new(&self.departure);
        self.api.set_link(self.key, GatewayLink::Remote(tx.clone()));
        let _guard = LinkGuard {
            api: self.api.clone(),
            key: self.key,
        };
        tracing::info!(gateway = %self.addr, "linked to gateway");
        let done = Arc::new(LinkCompletions::default());
        let _acks = AbortOnDrop(tokio::spawn(acknowledge(done.clone(), tx.clone())));
        let mut leaving = self.departure.leaving.subscribe();
        let mut left = false;
        let mut redelivered = false;
        let mut received = 0u64;
        loop {
            let msg = tokio::select! {
                r = link::next(reader, tx) => match r {
                    Ok(m) => m,
                    Err(e) => return LinkEnd::Lost(e),
                },
                () = until_leaving(&mut leaving), if !left => {
                    left = true;
                    tracing::info!(gateway = %self.addr, "leaving the gateway");
                    if tx.send(ToGateway::Leaving).await.is_err() {
                        return LinkEnd::Lost(LinkError::Closed);
                    }
                    continue;
                }
            };
            match msg {
                FromGateway::QueryReply { id, more, result } => {
                    self.api.query_part(id, more != 0, result)
                }
                FromGateway::Redelivered => redelivered = true,
                FromGateway::Released => {
                    tracing::info!(gateway = %self.addr, "released by the gateway");
                    return LinkEnd::Stop;
                }
                msg if client_of(&msg).is_some() => {
                    received += 1;
                    let seq = received;
                    let redelivered = std::mem::take(&mut redelivered);
                    let Some(inbox) = &self.inbox else {
                        done.event_done(seq, true);
                        continue;
                    };
                    let accept = Accept::new(done.clone(), seq);
                    if inbox.deliver(msg, accept, redelivered).await.is_err() {
                        return LinkEnd::Lost(LinkError::Closed);
                    }
                }
                other => {
                    tracing::debug!("gateway sent {}", crate::proto::LinkMessage::name(&other))
                }
            }
        }
    }
}

/// Returns once the worker is leaving (never, if the departure is gone).
async fn until_leaving(rx: &mut watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Most one link's acknowledgements are sent: a quiet link's first finished event is
/// acknowledged at once; under load one `Ack` covers what finished in this time, so the gateway
/// handles a thousand acknowledgements a second, not one per event. (A device's held ack waits
/// for its event's acknowledgement: this adds at most this much to it.)
const ACK_EVERY: Duration = Duration::from_millis(1);

/// Sends a link's refusals and acknowledgements as its events finish, at most one batch per
/// [`ACK_EVERY`].
async fn acknowledge(done: Arc<LinkCompletions>, tx: mpsc::Sender<ToGateway>) {
    let mut sent = 0;
    loop {
        done.changed.notified().await;
        // Behind the tasks already runnable (the shards finishing more events).
        link::requeue().await;
        let (refused, upto) = done.take();
        for seq in refused {
            if tx.send(ToGateway::EventRefused { seq }).await.is_err() {
                return;
            }
        }
        if upto > sent {
            sent = upto;
            if tx.send(ToGateway::Ack { upto }).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(ACK_EVERY).await;
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
    let mut task = GatewayTask {
        addr: addr.clone(),
        key,
        inbox,
        api,
        departure: opts.departure.clone(),
    };
    let LinkOptions {
        credentials,
        role,
        name,
        ..
    } = &opts;
    keep_linked(Peer::Gateway, &addr, credentials, *role, name, &mut task).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(addrs: &[&str]) -> Vec<String> {
        addrs.iter().map(|a| a.to_string()).collect()
    }

    fn start(addrs: &[&str]) -> Changes {
        Changes {
            start: list(addrs),
            drop: Vec::new(),
        }
    }

    fn dropped(addrs: &[&str]) -> Changes {
        Changes {
            start: Vec::new(),
            drop: list(addrs),
        }
    }

    const GRACE: Duration = Duration::from_secs(10);

    /// One register that listed gateway `a:1`, then at `t0` no longer did.
    fn linked_then_unlisted(t0: Instant) -> Listed {
        let mut l = Listed::new(1, GRACE);
        l.set_list(0, list(&["a:1"]));
        assert_eq!(l.poll(t0), start(&["a:1"]));
        l.set_list(0, Vec::new());
        assert_eq!(l.poll(t0), Changes::default());
        l
    }

    #[test]
    fn each_gateway_of_the_union_is_linked_once() {
        let t0 = Instant::now();
        let mut l = Listed::new(2, GRACE);
        assert_eq!(l.poll(t0), Changes::default());
        l.set_list(0, list(&["a:1", "b:1"]));
        l.set_list(1, list(&["b:1", "c:1"]));
        assert_eq!(l.poll(t0), start(&["a:1", "b:1", "c:1"]));
        assert_eq!(l.union().collect::<Vec<_>>(), ["a:1", "b:1", "c:1"]);
        assert_eq!(l.poll(t0), Changes::default());
        assert_eq!(l.next_drop(), None);
    }

    #[test]
    fn a_gateway_missing_from_every_list_is_dropped_after_the_grace_and_not_before() {
        let t0 = Instant::now();
        let mut l = Listed::new(1, GRACE);
        l.set_list(0, list(&["a:1", "b:1"]));
        l.poll(t0);
        l.set_list(0, list(&["b:1"]));
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(l.poll(t1), Changes::default());
        assert_eq!(l.next_drop(), Some(t1 + GRACE));
        assert_eq!(
            l.poll(t1 + GRACE - Duration::from_millis(1)),
            Changes::default()
        );
        assert_eq!(l.poll(t1 + GRACE), dropped(&["a:1"]));
        assert_eq!(l.next_drop(), None);
        assert_eq!(l.poll(t1 + GRACE * 2), Changes::default());
    }

    #[test]
    fn a_gateway_another_register_still_lists_is_kept() {
        let t0 = Instant::now();
        let mut l = Listed::new(2, GRACE);
        l.set_list(0, list(&["a:1"]));
        l.set_list(1, list(&["a:1"]));
        l.poll(t0);
        l.set_list(0, Vec::new());
        assert_eq!(l.poll(t0 + GRACE * 5), Changes::default());
        assert_eq!(l.next_drop(), None);
    }

    #[test]
    fn a_gateway_listed_again_within_the_grace_keeps_its_link_and_a_fresh_grace() {
        let t0 = Instant::now();
        let mut l = linked_then_unlisted(t0);
        l.set_list(0, list(&["a:1"]));
        assert_eq!(l.poll(t0 + GRACE / 2), Changes::default());
        l.set_list(0, Vec::new());
        let t1 = t0 + GRACE;
        assert_eq!(l.poll(t1), Changes::default(), "the grace restarts");
        assert_eq!(l.poll(t1 + GRACE), dropped(&["a:1"]));
    }

    #[test]
    fn a_dropped_gateway_listed_again_is_linked_again() {
        let t0 = Instant::now();
        let mut l = linked_then_unlisted(t0);
        assert_eq!(l.poll(t0 + GRACE), dropped(&["a:1"]));
        l.set_list(0, list(&["a:1"]));
        assert_eq!(l.poll(t0 + GRACE), start(&["a:1"]));
    }

    #[test]
    fn a_list_from_an_unknown_register_is_ignored() {
        let mut l = Listed::new(1, GRACE);
        l.set_list(5, list(&["a:1"]));
        assert_eq!(l.poll(Instant::now()), Changes::default());
    }
}
