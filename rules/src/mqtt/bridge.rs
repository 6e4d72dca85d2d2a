//! The bridge task: one MQTT connection at a time, publishing the outbox in order and feeding
//! downlink messages to the [`Downlink`] side.
//!
//! Each connection is a fresh rumqttc client and event loop with a clean session: rumqttc's own
//! session state is thrown away with it (it drops unacknowledged QoS 1 publishes on a clean
//! reconnect anyway). Delivery comes from the outbox instead: after every (re)connect the
//! bridge resubscribes and sends from the oldest unacknowledged entry again.
//!
//! Ack tracking is the [`AckWindow`] state machine: which outbox entry a PubAck completes, and
//! how much room the window has. Acks read together are removed from the outbox in one call.
//! At most `inflight` publishes are on the wire and as many again wait in rumqttc's
//! request queue, so the broker, not this task, sets the pace.

use super::acks::AckWindow;
use super::config::MqttConfig;
use super::downlink::{Downlink, DownlinkSink};
use super::outbox::Outbox;
use super::stats::{BridgeStats, Counters};
use crate::error::StoreError;
use crate::store::StateStore;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS, SubscribeReasonCode};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use timing::{Backoff, Throttle};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The MQTT config has problems: (key, reason) pairs.
    #[error("mqtt config: {}", .0.iter().map(|(k, r)| format!("{k}: {r}")).collect::<Vec<_>>().join("; "))]
    Config(Vec<(String, String)>),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts MQTT bridges.
pub struct Bridge;

/// A running bridge: its outbox, its counters, the downlink hook. Dropping it stops the bridge.
pub struct BridgeHandle {
    outbox: Outbox,
    downlink: Downlink,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    /// Resolves when the bridge's thread has finished.
    done: tokio::sync::oneshot::Receiver<()>,
}

fn qos(q: u8) -> QoS {
    if q == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

impl Bridge {
    /// Opens the outbox and hold queue in `store` and starts the bridge on a thread with its own
    /// tokio runtime. Commands from the downlink topics go to `sink`.
    pub fn start(
        config: MqttConfig,
        store: Arc<dyn StateStore>,
        sink: Arc<dyn DownlinkSink>,
    ) -> Result<BridgeHandle, BridgeError> {
        let problems = config.check();
        if !problems.is_empty() {
            return Err(BridgeError::Config(problems));
        }
        let counters = Arc::new(Counters::default());
        let outbox = Outbox::open(store.clone(), &config)?;
        let downlink = Downlink::open(store, sink, config.downlink.clone(), counters.clone())
            .map_err(|e| BridgeError::Config(vec![("downlink".into(), e)]))?;
        let (stop, stop_rx) = watch::channel(false);
        // Its own thread and runtime: on a runtime shared with thousands of busy connection
        // tasks it would wait its turn behind all of them between two PubAcks, and the outbox
        // would fill while the broker idles.
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let task = run(
            config,
            outbox.clone(),
            downlink.clone(),
            counters.clone(),
            stop_rx,
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BridgeError::Config(vec![("runtime".into(), e.to_string())]))?;
        std::thread::Builder::new()
            .name("devgate-mqtt".into())
            .spawn(move || {
                rt.block_on(task);
                let _ = done_tx.send(());
            })
            .map_err(|e| BridgeError::Config(vec![("thread".into(), e.to_string())]))?;
        Ok(BridgeHandle {
            outbox,
            downlink,
            counters,
            stop,
            done,
        })
    }
}

impl BridgeHandle {
    /// The outbox the pipeline pushes into.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> BridgeStats {
        let mut s = self.counters.snapshot();
        let o = self.outbox.counters();
        s.outbox_len = self.outbox.len();
        s.outbox_accepted = o.accepted.load(Ordering::Relaxed);
        s.outbox_refused_full = o.refused_full.load(Ordering::Relaxed);
        s.outbox_refused_too_big = o.refused_too_big.load(Ordering::Relaxed);
        s.corrupt_dropped = self.outbox.damaged();
        s
    }

    /// Tells the bridge a uid came online (after bind_uid): held commands go out now.
    pub async fn on_uid_online(&self, uid: &str) {
        self.downlink.on_uid_online(uid).await
    }

    /// Stops the bridge and waits for it; what is not acknowledged stays in the outbox.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

/// How a connection ended.
enum End {
    Stopped,
    Lost {
        had_connack: bool,
    },
    /// No session: the connection or the MQTT handshake failed, for this reason.
    Unreachable(String),
}

/// How often a broker that stays unreachable is reported at warn level (the first failure
/// always is; the rest are counted and told with the next report).
const UNREACHABLE_REPORT_EVERY: Duration = Duration::from_secs(60);

async fn run(
    cfg: MqttConfig,
    outbox: Outbox,
    downlink: Downlink,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(
        Duration::from_millis(cfg.backoff_initial_ms),
        Duration::from_millis(cfg.backoff_max_ms),
    );
    let mut max_sent = None;
    let mut unreachable = Throttle::new(UNREACHABLE_REPORT_EVERY);
    loop {
        let end = session(
            &cfg,
            &outbox,
            &downlink,
            &counters,
            &mut max_sent,
            &mut stop,
        )
        .await;
        counters.connected.store(false, Ordering::Relaxed);
        match end {
            End::Stopped => return,
            End::Lost { had_connack } => {
                counters.connection_errors.fetch_add(1, Ordering::Relaxed);
                if had_connack {
                    backoff.reset();
                    unreachable.reset();
                }
            }
            End::Unreachable(why) => {
                counters.connection_errors.fetch_add(1, Ordering::Relaxed);
                if let Some(held) = unreachable.report(std::time::Instant::now()) {
                    tracing::warn!(
                        broker = %cfg.broker,
                        waiting = outbox.len(),
                        failed_since_last_report = held,
                        "cannot reach the MQTT broker: {why}; retrying, publishes wait in the outbox"
                    );
                }
            }
        }
        let delay = backoff.next_delay(&mut rand::thread_rng());
        tracing::debug!(?delay, "mqtt reconnect after backoff");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Aborts the connection task when the session ends, closing the socket.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn session(
    cfg: &MqttConfig,
    outbox: &Outbox,
    downlink: &Downlink,
    counters: &Counters,
    max_sent: &mut Option<u64>,
    stop: &mut watch::Receiver<bool>,
) -> End {
    if *stop.borrow() {
        return End::Stopped;
    }
    let Ok((host, port)) = cfg.host_port() else {
        return End::Stopped; // checked in Bridge::start
    };
    let mut opts = MqttOptions::new(cfg.client_id.clone(), host, port);
    opts.set_keep_alive(Duration::from_secs(cfg.keep_alive_secs))
        .set_clean_session(true)
        .set_inflight(cfg.inflight)
        .set_max_packet_size(cfg.max_packet_bytes, cfg.max_packet_bytes);
    if let Some(user) = &cfg.username {
        opts.set_credentials(user.clone(), cfg.password.clone().unwrap_or_default());
    }
    // Twice the broker's window: as many publishes wait in rumqttc's request queue as are on
    // the wire, so a PubAck frees a slot that rumqttc fills at once, without waiting for this
    // task to read the next entries from the outbox.
    let window = 2 * usize::from(cfg.inflight);
    let (client, mut eventloop) = AsyncClient::new(opts, window + 16);
    eventloop
        .network_options
        .set_connection_timeout(cfg.connect_timeout_secs);
    let (tx, mut rx) = mpsc::channel(256);
    let _conn = AbortOnDrop(tokio::spawn(async move {
        loop {
            let r = eventloop.poll().await;
            let failed = r.is_err();
            if tx.send(r).await.is_err() || failed {
                break;
            }
        }
    }));

    // Nothing is sent before the ConnAck, so a refused connection costs no outbox state.
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => return End::Unreachable(e.to_string()),
                None => return End::Unreachable("the connection task ended".into()),
            },
            _ = stop.changed() => return End::Stopped,
        }
    }
    counters.connects.fetch_add(1, Ordering::Relaxed);
    counters.connected.store(true, Ordering::Relaxed);
    tracing::info!(broker = %cfg.broker, backlog = outbox.len(), "mqtt connected");
    for f in downlink.filters() {
        if let Err(e) = client.try_subscribe(f, qos(cfg.downlink.qos)) {
            tracing::warn!(%e, "mqtt subscribe request failed");
            return End::Lost { had_connack: true };
        }
    }

    let mut acks = AckWindow::new(window);
    let mut cursor: Option<u64> = None;
    loop {
        // Top up the window from the outbox, oldest first.
        let top_up = acks.wants_top_up();
        while top_up && acks.free() > 0 {
            let (entries, read) = match outbox.read_after(cursor, acks.free()) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(%e, "outbox unreadable");
                    break;
                }
            };
            if read.is_none() {
                break;
            }
            cursor = read;
            for entry in entries {
                if let Err(e) =
                    client.try_publish(entry.topic, qos(entry.qos), entry.retain, entry.payload)
                {
                    tracing::warn!(%e, "mqtt publish request failed");
                    return End::Lost { had_connack: true };
                }
                acks.on_handed(entry.id, entry.qos);
                if max_sent.is_some_and(|m| entry.id <= m) {
                    counters.retried.fetch_add(1, Ordering::Relaxed);
                } else {
                    counters.published.fetch_add(1, Ordering::Relaxed);
                    *max_sent = Some(entry.id);
                }
            }
        }
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = outbox.pushed() => continue,
            _ = stop.changed() => {
                remove_acked(outbox, counters, &mut acks);
                let _ = client.try_disconnect();
                return End::Stopped;
            }
        };
        let mut ev = Some(ev);
        // Take every event already queued in the same round, so their acks are removed from
        // the outbox in one call.
        while let Some(next) = ev.take() {
            let Some(r) = next else {
                remove_acked(outbox, counters, &mut acks);
                return End::Lost { had_connack: true };
            };
            let lost = on_event(r, downlink, counters, &mut acks).await;
            if let Some(end) = lost {
                // An error event changes neither table: these are what was outstanding.
                tracing::warn!(unacked = acks.outstanding(), "mqtt connection lost");
                remove_acked(outbox, counters, &mut acks);
                return end;
            }
            if acks.acked().len() < ACK_BATCH {
                ev = rx.try_recv().ok().map(Some);
            }
        }
        remove_acked(outbox, counters, &mut acks);
    }
}

/// Acks removed from the outbox in one store batch, at most.
const ACK_BATCH: usize = 256;

/// Handles one event of the MQTT connection; `Some` when the connection is lost.
async fn on_event(
    ev: Result<Event, rumqttc::ConnectionError>,
    downlink: &Downlink,
    counters: &Counters,
    acks: &mut AckWindow,
) -> Option<End> {
    match ev {
        Ok(Event::Outgoing(Outgoing::Publish(pkid))) => acks.on_sent(pkid),
        Ok(Event::Incoming(Packet::PubAck(ack))) => acks.on_puback(ack.pkid),
        Ok(Event::Incoming(Packet::Publish(p))) => {
            downlink.deliver(&p.topic, p.payload).await;
        }
        Ok(Event::Incoming(Packet::SubAck(s))) => {
            let failed = s
                .return_codes
                .iter()
                .filter(|c| matches!(c, SubscribeReasonCode::Failure))
                .count();
            let granted = s.return_codes.len() - failed;
            counters
                .subscribe_acked
                .fetch_add(granted as u64, Ordering::Relaxed);
            if failed > 0 {
                counters
                    .subscribe_failed
                    .fetch_add(failed as u64, Ordering::Relaxed);
                tracing::warn!(failed, "broker refused downlink subscriptions");
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::debug!(%e, "mqtt connection error");
            return Some(End::Lost { had_connack: true });
        }
    }
    None
}

/// Removes acknowledged entries from the outbox in one batch and counts them.
fn remove_acked(outbox: &Outbox, counters: &Counters, acks: &mut AckWindow) {
    let acked = acks.acked();
    if acked.is_empty() {
        return;
    }
    match outbox.remove_acked(acked) {
        Ok(()) => {
            counters
                .acked
                .fetch_add(acked.len() as u64, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::error!(%e, n = acked.len(), "could not remove acknowledged outbox entries")
        }
    }
    acks.clear_acked();
}

/// A sink that drops everything as offline, for bridges without downlink topics.
pub struct NoDownlink;

impl DownlinkSink for NoDownlink {
    fn send_to_uid<'a>(
        &'a self,
        _uid: &'a str,
        _data: bytes::Bytes,
    ) -> super::downlink::BoxFuture<'a, Result<bool, super::downlink::SinkError>> {
        Box::pin(async { Ok(false) })
    }
}
