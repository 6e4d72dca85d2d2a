//! The gateway's internal listener: workers (and standalone APIs) link here, authenticated.
//! A worker link becomes a router slot; commands read from any link are executed.

use super::worker_slot::WorkerSink;
use super::GatewayState;
use crate::counters::Samples;
use crate::link;
use crate::proto::{FromGateway, Role, ToGateway};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Accepts internal links forever.
pub async fn run(state: Arc<GatewayState>, listener: TcpListener) {
    let gate = Arc::new(link::PreauthGate::new(
        "internal",
        "internal_handshakes_refused",
        link::MAX_UNAUTHENTICATED,
    ));
    let source: Arc<dyn Samples + Send + Sync> = gate.clone();
    state.counters.register(Arc::downgrade(&source));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("internal accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(permit) = gate.admit() else {
            drop(tcp);
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let accepted =
                link::accept::<ToGateway>(tcp, &state.secret, &[Role::Worker, Role::Api]).await;
            drop(permit);
            let (role, name, mut reader, wr) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(%peer, "internal link refused: {e}");
                    return;
                }
            };
            let (tx, writer) = link::spawn_writer::<FromGateway>(wr);
            let slot = if role == Role::Worker {
                let slot = state
                    .router
                    .add_worker(name.clone(), WorkerSink::Remote(tx.clone()))
                    .await;
                // Logged once routable: tests and operators read it as "events reach it now".
                tracing::info!(worker = %name, %peer, "worker linked");
                Some(slot)
            } else {
                None
            };
            let why = loop {
                match link::next(&mut reader, &tx).await {
                    Ok(msg) => {
                        if let Some(reply) = state.execute(msg) {
                            if tx.send(reply).await.is_err() {
                                break crate::proto::LinkError::Closed;
                            }
                        }
                    }
                    Err(e) => break e,
                }
            };
            if let Some(slot) = slot {
                state.router.remove_worker(slot.id);
                tracing::info!(worker = %name, "worker link closed: {why}");
            }
            drop(tx);
            writer.abort();
        });
    }
}
