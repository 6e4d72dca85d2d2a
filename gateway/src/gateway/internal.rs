//! The gateway's internal listener: workers (and standalone APIs) link here, authenticated.
//! A worker link is served by `worker_link` (a router slot, acknowledged delivery); a standalone
//! API's link only carries commands and queries, executed here.

use super::GatewayState;
use crate::counters::Samples;
use crate::link;
use crate::proto::{FromGateway, Role, ToGateway};
use crate::tls::LinkTls;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Accepts internal links forever.
pub async fn run(state: Arc<GatewayState>, listener: TcpListener, tls: Option<Arc<LinkTls>>) {
    let credentials = link::Credentials {
        secret: Arc::new(state.secret.clone()),
        tls,
    };
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
        let credentials = credentials.clone();
        tokio::spawn(async move {
            let accepted =
                link::accept::<ToGateway>(tcp, &credentials, &[Role::Worker, Role::Api]).await;
            drop(permit);
            let (role, name, mut reader, wr) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(%peer, "internal link refused: {e}");
                    return;
                }
            };
            if role == Role::Worker {
                super::worker_link::serve(state, name, peer, reader, wr).await;
                return;
            }
            // A standalone API: commands and queries, no events.
            let (tx, writer) = link::spawn_writer::<FromGateway>(wr);
            while let Ok(msg) = link::next(&mut reader, &tx).await {
                if let Some(reply) = state.execute(msg) {
                    if tx.send(reply).await.is_err() {
                        break;
                    }
                }
            }
            drop(tx);
            writer.abort();
        });
    }
}
