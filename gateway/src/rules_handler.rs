//! The built-in `rules` handler: the `rules` crate's pipeline (rules file, sled device state,
//! optional MQTT bridge) as an [`EventHandler`]. The rules crate knows neither gateways nor
//! codecs; this module turns worker events into its plain-data events and its actions into
//! API calls, and lets MQTT downlink commands reach devices through `send_to_uid`.
//!
//! Without `[worker.mqtt]` there is no bridge: `publish` actions are skipped (counted by the
//! pipeline, never queued), which is logged once at start.
//!
//! The pipeline does blocking disk I/O (it flushes state and the outbox before it returns), so
//! it runs on tokio's blocking pool. The listener protocol of a client is learnt from its
//! connect event; a client whose connect went to another worker (a worker restart) is seen
//! with protocol "" until it reconnects.

use crate::config::WorkerConfig;
use crate::worker::{Api, Context, EventHandler, Incoming};
use bytes::Bytes;
use rules::{Action, Bridge, BridgeHandle, DownlinkSink, Event, EventKind, Pipeline, SinkError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Why the rules handler could not start.
#[derive(Debug, thiserror::Error)]
pub enum RulesStartError {
    /// `[worker] rules` is missing.
    #[error("[worker] handler = \"rules\" needs `rules = \"path/to/rules.toml\"`")]
    NoRulesFile,
    /// The rules file has errors (every one listed).
    #[error("{0}")]
    Rules(String),
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

/// The `rules` handler.
pub struct RulesHandler {
    pipeline: Arc<Pipeline>,
    bridge: Option<BridgeHandle>,
    api: Arc<OnceLock<Api>>,
    protocols: Mutex<HashMap<crate::ClientId, String>>,
}

/// Checks `[worker]`'s rules file; every error as one line.
pub fn check(w: &WorkerConfig) -> Result<rules::RuleSet, RulesStartError> {
    let path = w.rules.as_ref().ok_or(RulesStartError::NoRulesFile)?;
    rules::check_rules_file(path).map_err(|errors| {
        RulesStartError::Rules(
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })
}

impl RulesHandler {
    /// Loads the rules, opens the state store and starts the MQTT bridge if configured.
    /// Must run inside a tokio runtime.
    pub fn open(w: &WorkerConfig) -> Result<RulesHandler, RulesStartError> {
        let ruleset = check(w)?;
        let store: Arc<dyn rules::StateStore> = Arc::new(rules::SledStore::open(&w.data_dir)?);
        let api = Arc::new(OnceLock::new());
        let bridge = match &w.mqtt {
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
        Ok(RulesHandler {
            pipeline: Arc::new(Pipeline::new(ruleset, store, outbox)),
            bridge,
            api,
            protocols: Mutex::new(HashMap::new()),
        })
    }

    fn protocol(&self, cx: &Context<'_>) -> String {
        let p = self.protocols.lock().unwrap_or_else(|p| p.into_inner());
        p.get(&cx.client_id).cloned().unwrap_or_default()
    }

    async fn run(
        &self,
        cx: &Context<'_>,
        kind: EventKind,
        data: Bytes,
        fields: Option<serde_json::Value>,
    ) {
        let protocol = self.protocol(cx);
        let event = Event {
            kind,
            client_id: cx.client_id.to_string(),
            uid: cx.uid.clone(),
            listener: protocol.clone(),
            protocol,
            data,
            fields,
            session: cx.session(),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let pipeline = self.pipeline.clone();
        let actions = match tokio::task::spawn_blocking(move || pipeline.handle(&event, now)).await
        {
            Ok(Ok(actions)) => actions,
            Ok(Err(e)) => {
                tracing::error!(client = %cx.client_id, "rules pipeline failed: {e}");
                return;
            }
            Err(e) => {
                tracing::error!(client = %cx.client_id, "rules pipeline panicked: {e}");
                return;
            }
        };
        for action in actions {
            self.apply(cx, action).await;
        }
    }

    async fn apply(&self, cx: &Context<'_>, action: Action) {
        let api = cx.api;
        let failed = match action {
            Action::Reply { data } => api.send_to_client(cx.client_id, data).await.err(),
            Action::SendToUid { uid, data } => api.send_to_uid(&[&uid], data).await.pop(),
            Action::SendToGroup { group, data } => {
                api.send_to_group(&[&group], data, &[]).await.pop()
            }
            Action::BindUid { uid } => {
                let r = api.bind_uid(cx.client_id, &uid).await.err();
                if let Some(b) = &self.bridge {
                    b.on_uid_online(&uid).await;
                }
                r
            }
            Action::JoinGroup { group } => api.join_group(cx.client_id, &group).await.err(),
            Action::Skipped {
                rule,
                action,
                reason,
            } => {
                tracing::info!(client = %cx.client_id, "rule {rule:?} action {action} skipped: {reason}");
                None
            }
            Action::SetState { .. } | Action::Publish { .. } => None,
        };
        if let Some(e) = failed {
            tracing::warn!(client = %cx.client_id, "rules action not delivered: {e}");
        }
    }
}

impl EventHandler for RulesHandler {
    async fn on_worker_start(&self, api: &Api) {
        let _ = self.api.set(api.clone());
    }

    async fn on_connect(&self, cx: &Context<'_>) {
        if let Some(p) = &cx.protocol {
            self.protocols
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(cx.client_id, p.clone());
        }
        self.run(cx, EventKind::Connect, Bytes::new(), None).await
    }

    async fn on_identity(&self, _cx: &Context<'_>, uid: &str) {
        if let Some(b) = &self.bridge {
            b.on_uid_online(uid).await;
        }
    }

    async fn on_message(&self, cx: &Context<'_>, msg: Incoming) {
        self.run(cx, EventKind::Message, msg.data, msg.fields).await
    }

    async fn on_close(&self, cx: &Context<'_>) {
        self.run(cx, EventKind::Close, Bytes::new(), None).await;
        self.protocols
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&cx.client_id);
    }
}
