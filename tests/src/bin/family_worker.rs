//! `family_worker`: a business worker whose handler reports every device event it sees to a
//! watcher, so the device-family tests observe the handler's view (uid, protocol, decoded
//! fields) over a real socket.
//!
//! Run it like `devgate worker`: `family_worker --config FILE` starts the `[worker]` of FILE
//! and prints `devgate: worker NAME` on stdout once started.
//!
//! A text client that sends `watch` joins the group `watch` and is answered `watching` (on the
//! same ordered link as the join, so once it reads that, it is in the group). From then on the
//! group gets one JSON line per event of every other client:
//!
//! - identity: `{"event":"identity","client":ID,"uid":U,"protocol":P}`
//! - message with typed fields: `{"event":"message","client":ID,"uid":U,"protocol":P,"fields":{..}}`
//!
//! `uid` is the event's `Context::uid` (null when none is bound) and `protocol` is the
//! listener's, as the connect event named it. Other text lines are ignored.

use anyhow::Result;
use gateway::worker::{Context, EventHandler, Incoming};
use gateway::ClientId;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// The group every report goes to.
const WATCH: &str = "watch";

/// The reporting handler.
#[derive(Default)]
struct Reporter {
    /// Each client's listener protocol: only its connect event carries it.
    protocols: Mutex<HashMap<ClientId, String>>,
}

impl Reporter {
    fn protocol(&self, client: ClientId) -> Option<String> {
        let map = self.protocols.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&client).cloned()
    }

    async fn report(&self, cx: &Context<'_>, event: &str, fields: Option<Value>) {
        let mut line = json!({
            "event": event,
            "client": cx.client_id.to_string(),
            "uid": cx.uid,
            "protocol": self.protocol(cx.client_id),
        });
        if let Some(fields) = fields {
            line["fields"] = fields;
        }
        let failed = cx
            .api
            .send_to_group(&[WATCH], line.to_string(), &[cx.client_id])
            .await;
        if let Some(e) = failed.first() {
            tracing::warn!(client = %cx.client_id, "report not sent: {e}");
        }
    }
}

impl EventHandler for Reporter {
    async fn on_connect(&self, cx: &Context<'_>) {
        if let Some(p) = &cx.protocol {
            let mut map = self.protocols.lock().unwrap_or_else(|p| p.into_inner());
            map.insert(cx.client_id, p.to_string());
        }
    }

    async fn on_identity(&self, cx: &Context<'_>, _uid: &str) {
        self.report(cx, "identity", None).await;
    }

    async fn on_message(&self, cx: &Context<'_>, msg: Incoming) {
        match msg.fields {
            Some(fields) => self.report(cx, "message", Some(fields)).await,
            None if msg.data.as_ref() == WATCH.as_bytes() => {
                if let Err(e) = cx.api.join_group(cx.client_id, WATCH).await {
                    tracing::warn!(client = %cx.client_id, "watcher not joined: {e}");
                    return;
                }
                let _ = cx.reply("watching").await;
            }
            None => {}
        }
    }

    async fn on_close(&self, cx: &Context<'_>) {
        let mut map = self.protocols.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&cx.client_id);
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tests::worker_main::run_worker("family_worker", Reporter::default()).await
}
