//! The built-in `rules` handler: the `rules` crate's pipeline (rules file, sled device state,
//! optional MQTT bridge) as an [`EventHandler`]. The rules crate knows neither gateways nor
//! codecs; this module turns worker events into its plain-data events and its actions into
//! API calls, and lets MQTT downlink commands reach devices through `send_to_uid`.
//!
//! Without `[worker.mqtt]` there is no bridge: `publish` actions are skipped (counted by the
//! pipeline, never queued), which is logged once at start.
//!
//! Each event is evaluated at once in the calling task (no thread hop, no disk I/O but for a
//! device state the cache does not hold). Its durable effects (state, outbox entries) join the
//! pipeline's open batch; its other actions (reply, send, bind, join) are carried out at once
//! when they depend on nothing unflushed, else by one releaser task after the batch is flushed,
//! in each client's order. Such an event's acceptance is deferred ([`Context::defer_accept`])
//! until then, so the gateway holds the device's ack; a batch that cannot be flushed refuses its
//! events (the gateway closes those clients, and the devices resend). At most
//! `[worker.commit] pending_max` events wait for batches; the next one waits for room.
//!
//! The listener protocol of a client comes with each of its events (a client whose connect went
//! to another worker, before that worker died, is known by its next event).

use crate::config::RulesConfig;
use crate::counters::{Registry, Sample, Samples};
use crate::fast_hash::FastHash;
use crate::worker::{Accept, Api, Context, EventHandler, Incoming};
use bytes::Bytes;
use rules::{
    Action, BatchConfig, Bridge, BridgeHandle, DownlinkSink, Event, EventKind, Outcome, Pipeline,
    PipelineOptions, SinkError, Waiter,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Why the rules handler could not start (its rules were checked with the config).
#[derive(Debug, thiserror::Error)]
pub enum RulesStartError {
    /// The state store could not be opened.
    #[error("state store: {0}")]
    Store(#[from] rules::StoreError),
    /// The MQTT bridge could not start.
    #[error("mqtt bridge: {0}")]
    Bridge(#[from] rules::mqtt::BridgeError),
}

/// Sends MQTT downlink commands to devices through the worker's API.
struct ApiSink {
    api: Arc<OnceLock<Api>>,
}

impl DownlinkSink for ApiSink {
    fn send_to_uid<'a>(
        &'a self,
        uid: &'a str,
        data: Bytes,
    ) -> rules::mqtt::BoxFuture<'a, Result<bool, SinkError>> {
        Box::pin(async move {
            let api = self
                .api
                .get()
                .ok_or_else(|| SinkError("the worker is not started yet".into()))?;
            if api.get_client_id_by_uid(uid).await.value.is_empty() {
                return Ok(false);
            }
            let failed = api.send_to_uid(&[uid], data).await;
            match failed.first() {
                Some(e) => Err(SinkError(e.to_string())),
                None => Ok(true),
            }
        })
    }
}

/// One client as the handler tracks it.
#[derive(Debug, Default)]
struct ClientState {
    /// The client id as text, formatted once (every event carries it).
    id: Option<Arc<str>>,
    /// The listener protocol, learnt from the connect event ("" until then).
    protocol: Arc<str>,
    /// Events whose actions are waiting for their batch or for the releaser.
    unapplied: u32,
    /// The close event was handled: forget the client once nothing is unapplied.
    closed: bool,
}

/// An event's actions released after its batch was flushed (or failed).
struct Released {
    client: crate::ClientId,
    actions: Vec<Action>,
    outcome: Outcome,
    accept: Accept,
    /// Room taken in the bound of waiting events (none when it was full: the bound is soft).
    _room: Option<OwnedSemaphorePermit>,
}

/// The `rules` handler.
pub struct RulesHandler {
    inner: Arc<Inner>,
}

struct Inner {
    pipeline: Arc<Pipeline>,
    bridge: Option<BridgeHandle>,
    /// The bridge's outbox, whose room new events wait for.
    outbox: Option<rules::Outbox>,
    api: Arc<OnceLock<Api>>,
    clients: Mutex<HashMap<crate::ClientId, ClientState, FastHash>>,
    released: mpsc::UnboundedSender<Released>,
    /// Bounds the events waiting for a batch (`[worker.commit] pending_max`).
    room: Arc<Semaphore>,
}

impl RulesHandler {
    /// Opens the state store and starts the MQTT bridge if configured, with the rules the
    /// config check read. Must run inside a tokio runtime.
    pub fn open(cfg: &RulesConfig) -> Result<RulesHandler, RulesStartError> {
        let ruleset = cfg.ruleset.clone();
        let store: Arc<dyn rules::StateStore> = Arc::new(rules::SledStore::open(&cfg.data_dir)?);
        let api = Arc::new(OnceLock::new());
        let bridge = match &cfg.mqtt {
            Some(mqtt) => Some(Bridge::start(
                mqtt.clone(),
                store.clone(),
                Arc::new(ApiSink { api: api.clone() }),
            )?),
            None => {
                // Stated behaviour: rules may publish, but with no bridge there is no outbox, so
                // the pipeline counts those publishes (`publish_without_bridge`) and drops them
                // at once; nothing is queued and the other actions run as usual.
                tracing::info!("no [worker.mqtt]: publish actions are skipped");
                None
            }
        };
        let outbox = bridge.as_ref().map(|b| b.outbox());
        let options = PipelineOptions {
            batch: BatchConfig {
                max_events: cfg.commit.max_events,
                max_delay: Duration::from_micros(cfg.commit.max_delay_us),
            },
            state_cache: cfg.commit.state_cache,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            pipeline: Arc::new(Pipeline::with_options(
                ruleset,
                store,
                outbox.clone(),
                options,
            )),
            bridge,
            outbox,
            api,
            clients: Mutex::new(HashMap::default()),
            released: tx,
            room: Arc::new(Semaphore::new(cfg.commit.pending_max)),
        });
        tokio::spawn(releaser(Arc::downgrade(&inner), rx));
        Ok(RulesHandler { inner })
    }

    /// The pipeline's counters (events, flushes, events per flush, ...).
    pub fn stats(&self) -> rules::PipelineStats {
        self.inner.pipeline.stats()
    }
}

/// The pipeline's samples, then the bridge's when one runs.
impl Samples for Inner {
    fn samples(&self, out: &mut Vec<Sample>) {
        self.pipeline.samples(out);
        if let Some(b) = &self.bridge {
            b.samples(out);
        }
    }
}

impl Inner {
    fn clients(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<crate::ClientId, ClientState, FastHash>> {
        // Entries are changed in single steps: a poisoned map is still consistent.
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(
        &self,
        cx: &Context<'_>,
        kind: EventKind,
        data: Bytes,
        fields: Option<serde_json::Value>,
    ) {
        let (client_id, protocol, unapplied) = {
            let mut c = self.clients();
            let s = c.entry(cx.client_id).or_default();
            if let Some(p) = &cx.protocol {
                if *s.protocol != **p {
                    s.protocol = p.clone();
                }
            }
            let id =
                s.id.get_or_insert_with(|| cx.client_id.to_string().into())
                    .clone();
            (id, s.protocol.clone(), s.unapplied)
        };
        let event = Event {
            kind,
            client_id,
            uid: cx.uid.clone(),
            listener: protocol.clone(),
            protocol,
            data,
            fields,
            session: cx.session(),
            redelivered: cx.redelivered,
        };
        // When too many events wait for the store, this event (and its connection, which
        // handles one event at a time) waits for room first.
        if self.room.available_permits() == 0 {
            if let Ok(p) = self.room.acquire().await {
                drop(p);
            }
        }
        // A broker slower than the devices: wait for the bridge rather than take publishes the
        // outbox would refuse (`when_full = "wait"`).
        if let Some(o) = &self.outbox {
            o.room().await;
        }
        let client = cx.client_id;
        let waiter = || -> Waiter {
            let accept = cx.defer_accept();
            let tx = self.released.clone();
            let room = self.room.clone().try_acquire_owned().ok();
            self.clients().entry(client).or_default().unapplied += 1;
            Box::new(move |actions, outcome| {
                let _ = tx.send(Released {
                    client,
                    actions,
                    outcome,
                    accept,
                    _room: room,
                });
            })
        };
        match self
            .pipeline
            .process(&event, rules::now_ms(), &event.client_id, waiter)
        {
            Ok(None) => {}
            Ok(Some(actions)) if unapplied == 0 => {
                for action in actions {
                    apply(self, cx.api, client, action).await;
                }
            }
            Ok(Some(actions)) => {
                // Earlier events of this client are still being released: go behind them.
                self.clients().entry(client).or_default().unapplied += 1;
                let _ = self.released.send(Released {
                    client,
                    actions,
                    outcome: Outcome::Durable,
                    accept: cx.defer_accept(),
                    _room: self.room.clone().try_acquire_owned().ok(),
                });
            }
            Err(e) => {
                tracing::error!(client = %cx.client_id, "rules pipeline failed: {e}");
                cx.defer_accept().refuse("the rules pipeline failed");
            }
        }
    }
}

/// Carries out released actions in the order their events were handled, then accepts the
/// events (a failed batch refuses them instead, and its actions are not carried out).
async fn releaser(inner: std::sync::Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Released>) {
    // Taken by the batch a flush released: one wake-up and one lock of the client table per
    // batch, not per event (with thousands of busy connections, a task woken per event would
    // wait its turn behind all of them each time).
    let mut batch = Vec::with_capacity(RELEASE_BATCH);
    while rx.recv_many(&mut batch, RELEASE_BATCH).await > 0 {
        let Some(inner) = inner.upgrade() else { return };
        let mut done = Vec::with_capacity(batch.len());
        for r in batch.drain(..) {
            match r.outcome {
                Outcome::Durable => {
                    if let Some(api) = inner.api.get() {
                        for action in r.actions {
                            apply(&inner, api, r.client, action).await;
                        }
                    }
                    r.accept.accept();
                }
                Outcome::Failed => {
                    tracing::warn!(client = %r.client, "state store failed: the event's actions are dropped and it is refused");
                    r.accept.refuse("its durable effects could not be flushed");
                }
            }
            done.push(r.client);
        }
        let mut clients = inner.clients();
        for client in done {
            if let Some(s) = clients.get_mut(&client) {
                s.unapplied = s.unapplied.saturating_sub(1);
                if s.unapplied == 0 && s.closed {
                    clients.remove(&client);
                }
            }
        }
    }
}

/// Released events carried out per wake-up of the releaser, at most.
const RELEASE_BATCH: usize = 1024;

async fn apply(inner: &Inner, api: &Api, client: crate::ClientId, action: Action) {
    let failed = match action {
        Action::Reply { data } => api.send_to_client(client, data).await.err(),
        Action::SendToUid { uid, data } => api.send_to_uid(&[&uid], data).await.pop(),
        Action::SendToGroup { group, data } => api.send_to_group(&[&group], data, &[]).await.pop(),
        Action::BindUid { uid } => {
            let r = api.bind_uid(client, &uid).await.err();
            if let Some(b) = &inner.bridge {
                b.on_uid_online(&uid).await;
            }
            r
        }
        Action::JoinGroup { group } => api.join_group(client, &group).await.err(),
        Action::Skipped {
            rule,
            action,
            reason,
        } => {
            tracing::info!(%client, "rule {rule:?} action {action} skipped: {reason}");
            None
        }
        Action::SetState { .. } | Action::Publish { .. } => None,
    };
    if let Some(e) = failed {
        tracing::warn!(%client, "rules action not delivered: {e}");
    }
}

impl EventHandler for RulesHandler {
    /// The pipeline's (`rules_*`) and the bridge's (`mqtt_*`) counters; they drop out of the
    /// registry when the handler is dropped.
    fn register_counters(&self, registry: &Registry) {
        registry.register(Arc::downgrade(&self.inner) as Weak<dyn Samples + Send + Sync>);
    }

    async fn on_worker_start(&self, api: &Api) {
        let _ = self.inner.api.set(api.clone());
    }

    async fn on_worker_stop(&self, _api: &Api) {
        let s = self.inner.pipeline.stats();
        tracing::info!(
            events = s.events,
            flushes = s.flushes,
            events_per_flush = s.flushed_events as f64 / s.flushes.max(1) as f64,
            flush_failures = s.flush_failures,
            published = s.published,
            "rules pipeline stopped"
        );
    }

    async fn on_connect(&self, cx: &Context<'_>) {
        self.inner
            .run(cx, EventKind::Connect, Bytes::new(), None)
            .await
    }

    async fn on_identity(&self, _cx: &Context<'_>, uid: &str) {
        if let Some(b) = &self.inner.bridge {
            b.on_uid_online(uid).await;
        }
    }

    async fn on_message(&self, cx: &Context<'_>, msg: Incoming) {
        self.inner
            .run(cx, EventKind::Message, msg.data, msg.fields)
            .await
    }

    async fn on_close(&self, cx: &Context<'_>) {
        self.inner
            .run(cx, EventKind::Close, Bytes::new(), None)
            .await;
        let mut clients = self.inner.clients();
        if let Some(s) = clients.get_mut(&cx.client_id) {
            if s.unapplied == 0 {
                clients.remove(&cx.client_id);
            } else {
                s.closed = true;
            }
        }
    }
}
